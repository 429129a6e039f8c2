/** `neocloud simulate`: resolve inputs, run the simulator with a progress bar, print the report. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DomainError } from '../shared/errors.js';
import { POLICIES, formatReport, htmlReport, inflateWorkload, resolveFleet, resolveWorkload, simulate } from '../scheduler/index.js';

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

export async function runSimulateCommand(o: { fleet: string; workload: string; policy: string; mode: string; html?: string; progress: boolean; json: boolean }): Promise<void> {
  const policy = POLICIES[o.policy];
  if (!policy) throw new DomainError('validation', `--policy: one of ${Object.keys(POLICIES).join(', ')}`, { field: 'policy' });
  if (o.mode !== 'replay' && o.mode !== 'fill') throw new DomainError('validation', '--mode: replay or fill', { field: 'mode' });
  const layout = resolveFleet(o.fleet);
  const gpus = layout.nodes.reduce((a, n) => a + n.gpus, 0);
  let jobs = resolveWorkload(o.workload, gpus);
  if (o.mode === 'fill') jobs = inflateWorkload(jobs, gpus);
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
  else process.stdout.write(`${formatReport(report)}${o.mode === 'fill' ? `\nallocation rate  ${(report.allocationRateAtEnd * 100).toFixed(1)}% of GPUs when demand reached the fleet` : ''}${html ? `\nhtml report      ${shownPath(html)}` : ''}\n`);
}
