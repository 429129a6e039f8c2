/**
 * `neocloud simulate`: resolve inputs, run the simulator with a progress bar, print the report.
 * `--mode replay` (default) replays the trace's times through the lease engine; `--mode fill` or
 * `--compare P1,P2,…` runs the inflation protocol of ATC'23 (scheduler/inflation.ts) with the
 * named placement policies side by side, printing the table and writing the allocation-vs-load
 * chart as HTML (`--html`) and as a standalone SVG (`--svg`, or next to the HTML).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DomainError } from '../shared/errors.js';
import {
  POLICIES, SHARE_POLICIES, compareInflation, comparisonHtml, comparisonSvg, formatComparison, formatReport, htmlReport, isSharePolicy,
  resolveFleet, resolveShareNodes, resolveShareTasks, resolveWorkload, simulate, type SharePolicyName,
} from '../scheduler/index.js';

/**
 * Where `--html` reports go: a relative path resolves under the project's `.neocloud/reports/`
 * (ignored by git, next to the PGlite data), whatever the working directory; an absolute path is
 * used as given. This file runs from src/cli/ (tsx) or dist/cli/ (built): the project is two up.
 */
const REPORTS_DIR = fileURLToPath(new URL('../../.neocloud/reports/', import.meta.url));
const reportPath = (file: string): string => (isAbsolute(file) ? file : resolve(REPORTS_DIR, file));
/** `path` relative to the working directory when it lies below it, else absolute. */
const shownPath = (path: string): string => {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
};

export interface SimulateCommandOptions {
  fleet: string;
  workload: string;
  policy: string;
  mode: string;
  compare?: string;
  seeds: string;
  maxLoad: string;
  html?: string;
  svg?: string;
  progress: boolean;
  json: boolean;
}

/** Comma-separated list parsed by `one`, with the option named in errors. */
function list<T>(raw: string, field: string, one: (s: string) => T | null, expected: string): T[] {
  const out = raw.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const v = one(s);
    if (v === null) throw new DomainError('validation', `--${field}: "${s}" is not ${expected}`, { field });
    return v;
  });
  if (out.length === 0) throw new DomainError('validation', `--${field}: give at least one of ${expected}`, { field });
  return out;
}

export async function runSimulateCommand(o: SimulateCommandOptions): Promise<void> {
  if (o.mode !== 'replay' && o.mode !== 'fill') throw new DomainError('validation', '--mode: replay or fill', { field: 'mode' });
  if (o.mode === 'fill' || o.compare !== undefined) return runInflation(o);
  const policy = POLICIES[o.policy];
  if (!policy) throw new DomainError('validation', `--policy: one of ${Object.keys(POLICIES).join(', ')}`, { field: 'policy' });
  const layout = resolveFleet(o.fleet);
  const gpus = layout.nodes.reduce((a, n) => a + n.gpus, 0);
  const jobs = resolveWorkload(o.workload, gpus);
  const bar = o.progress && process.stderr.isTTY;
  const report = simulate({
    layout, jobs, policy,
    onProgress: bar ? (done, total) => {
      const width = 30;
      const filled = Math.round((done / Math.max(1, total)) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} jobs`);
      if (done === total) process.stderr.write('\n');
    } : undefined,
  });
  const html = o.html ? reportPath(o.html) : undefined;
  if (html) {
    mkdirSync(dirname(html), { recursive: true });
    writeFileSync(html, htmlReport(report));
  }
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${formatReport(report)}${html ? `\nhtml report      ${shownPath(html)}` : ''}\n`);
}

/** The inflation protocol with placement policies side by side (fill mode). */
async function runInflation(o: SimulateCommandOptions): Promise<void> {
  const policies = list<SharePolicyName>(o.compare ?? 'neocloud', 'compare', (s) => (isSharePolicy(s) ? s : null), `one of ${SHARE_POLICIES.join(', ')}`);
  const seeds = list(o.seeds, 'seeds', (s) => (/^\d{1,9}$/.test(s) ? Number(s) : null), 'a non-negative integer');
  const maxLoad = Number(o.maxLoad);
  if (!(maxLoad > 0 && maxLoad <= 5)) throw new DomainError('validation', '--max-load: a number in (0, 5] (× GPU capacity)', { field: 'maxLoad' });
  const nodes = resolveShareNodes(o.fleet);
  const tasks = resolveShareTasks(o.workload);
  const c = compareInflation({ nodes, tasks, policies, seeds, maxLoad });
  const title = `${o.workload} on ${o.fleet}: GPU allocation vs arrival load`;
  const written: string[] = [];
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(shownPath(path));
  };
  if (o.html) {
    const html = reportPath(o.html);
    write(html, comparisonHtml(c, title));
    if (!o.svg) write(html.replace(/(\.html?)?$/, '.svg'), comparisonSvg(c, title));
  }
  if (o.svg) write(reportPath(o.svg), comparisonSvg(c, title));
  if (o.json) process.stdout.write(`${JSON.stringify(c)}\n`);
  else process.stdout.write(`${formatComparison(c, title)}${written.map((w) => `\nwrote ${w}`).join('')}\n`);
}
