/**
 * Runs the cases of every operation against a live server, one request at a time: send, check the
 * answer, digest the database (a rejected request must have written nothing; a successful one is
 * undone and the digest taken afresh), and fold findings into groups with their smallest example.
 */
import fc from 'fast-check';
import { caseArb, PRINCIPALS, systematicCases, type CaseContext, type FuzzCase, type PrincipalKind } from './cases.js';
import { changedTables, type Digest } from './db-digest.js';
import type { Operation } from './openapi.js';
import { checkAnswer, parseAnswer } from './oracle.js';
import { send, type RawResponse } from './raw-http.js';

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'none';
export const CLASSES: StatusClass[] = ['2xx', '3xx', '4xx', '5xx', 'none'];

export interface Example {
  c: FuzzCase;
  res: RawResponse;
  serverError?: string | undefined;
  note?: string | undefined;
}

export interface Group {
  check: string;
  about: string;
  ops: Set<string>;
  count: number;
  example: Example;
}

export interface Report {
  requests: number;
  skipped: number;
  undone: number;
  /** Requests sent while shrinking examples (not in the counts by class). */
  shrinkRequests: number;
  ms: number;
  /** Of `ms`: waiting for answers, digesting the database, undoing successes. */
  genMs: number;
  /** The slowest answer and the longest event-loop stall, milliseconds. */
  worstMs: number;
  worstBlockedMs: number;
  sendMs: number;
  digestMs: number;
  undoMs: number;
  byClass: Record<StatusClass, number>;
  byPrincipal: Record<PrincipalKind, Record<StatusClass, number>>;
  byOp: Record<string, Record<StatusClass, number>>;
  groups: Group[];
}

export interface CampaignOptions {
  port: number;
  ops: Operation[];
  ctx: CaseContext;
  seed: number;
  runsPerOp: number;
  timeoutMs: number;
  slowMs: number;
  blockMs: number;
  digest: () => Promise<Digest>;
  /** Undoes what a successful request changed that later cases rely on (see fixture.ts). */
  afterSuccess: (op: string, method: string, res: RawResponse) => Promise<void>;
  /** The error the server logged while answering the last request, if any; clears it. */
  takeServerError: () => string | undefined;
  /** Print one line per request (FUZZ_TRACE=1). */
  trace?: boolean | undefined;
}

const classOf = (status: number): StatusClass => status === 0 ? 'none' : (`${Math.floor(status / 100)}xx` as StatusClass);
const zero = (): Record<StatusClass, number> => ({ '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, none: 0 });
export const sizeOf = (c: FuzzCase): number => c.request.target.length + (c.request.body?.length ?? 0) + c.request.headers.reduce((a, [k, v]) => a + k.length + v.length, 0);

/** FNV-1a: a per-operation seed, so adding an operation leaves the others' cases alone. */
export function opSeed(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h | 0;
}

export async function runCampaign(o: CampaignOptions): Promise<Report> {
  const started = performance.now();
  const report: Report = {
    requests: 0, skipped: 0, undone: 0, shrinkRequests: 0, ms: 0, genMs: 0, worstMs: 0, worstBlockedMs: 0, sendMs: 0, digestMs: 0, undoMs: 0, byClass: zero(),
    byPrincipal: Object.fromEntries(PRINCIPALS.map((p) => [p, zero()])) as Report['byPrincipal'], byOp: {}, groups: [],
  };
  const groups = new Map<string, Group>();
  const note = (check: string, about: string, op: string, ex: Example): void => {
    const key = `${check}|${about}`;
    const g = groups.get(key);
    if (!g) { groups.set(key, { check, about, ops: new Set([op]), count: 1, example: ex }); return; }
    g.count++;
    g.ops.add(op);
    if (sizeOf(ex.c) < sizeOf(g.example.c)) g.example = ex;
  };
  /** type URI → status → first example: a stable type has one status. */
  const typeStatus = new Map<string, Map<number, Example>>();
  const slowKinds = new Set<string>();
  let base = await o.digest();

  for (const op of o.ops) {
    const byOp = (report.byOp[op.key] = zero());
    const g0 = performance.now();
    const seed = opSeed(o.seed, op.key);
    const cases = [...systematicCases(op, o.ctx, seed), ...fc.sample(caseArb(op, o.ctx), { seed, numRuns: o.runsPerOp })];
    report.genMs += performance.now() - g0;
    for (const c of cases) {
      const kind = `${op.key}|${c.bodyKind}|${c.tags.join(',')}`;
      if (slowKinds.has(kind)) { report.skipped++; continue; }
      resolvePlaceholders(c, o.ctx);
      const watch = watchEventLoop();
      const res = await send(o.port, c.request, o.timeoutMs);
      const blockedMs = watch();
      report.sendMs += res.ms;
      report.worstMs = Math.max(report.worstMs, res.ms);
      report.worstBlockedMs = Math.max(report.worstBlockedMs, blockedMs);
      const serverError = o.takeServerError();
      const cls = classOf(res.status);
      report.requests++;
      report.byClass[cls]++;
      report.byPrincipal[c.principal][cls]++;
      byOp[cls]++;
      const a = parseAnswer(res);
      if (o.trace) console.log(`${res.status} ${Math.round(res.ms)}ms ${c.principal} ${c.request.method} ${c.request.target.slice(0, 100)} [${c.bodyKind}; ${c.tags.join(',')}] ${c.request.body?.subarray(0, 100).toString('utf8') ?? ''} → ${res.body.subarray(0, 160).toString('utf8')}`);
      const findings = checkAnswer(c, res, a, { slowMs: o.slowMs, blockMs: o.blockMs, blockedMs, serverError });
      const ex: Example = { c, res, serverError };

      if (res.status >= 200 && res.status < 300) {
        const key = c.request.headers.find(([k]) => k === 'Idempotency-Key')?.[1];
        if (key) (o.ctx.usedIdemKeys[c.principal] ??= []).push(key);
        const t0 = performance.now();
        await o.afterSuccess(op.key, op.method, res);
        report.undone++;
        const t1 = performance.now();
        base = await o.digest();
        report.undoMs += t1 - t0;
        report.digestMs += performance.now() - t1;
      } else {
        const t0 = performance.now();
        const now = await o.digest();
        report.digestMs += performance.now() - t0;
        const changed = changedTables(base, now);
        if (changed.length > 0) note('db-changed', `${op.key}: ${changed.join(', ')}`, op.key, { ...ex, note: `changed: ${changed.join(', ')}` });
        base = now;
      }
      const type = a.problem?.type;
      if (res.status >= 400 && typeof type === 'string') {
        const m = typeStatus.get(type) ?? new Map<number, Example>();
        if (!m.has(res.status)) m.set(res.status, ex);
        typeStatus.set(type, m);
      }
      for (const f of findings) {
        note(f.check, f.about, op.key, ex);
        if (f.check === 'slow' || f.check === 'timeout' || f.check === 'blocked') slowKinds.add(kind);
      }
    }
  }
  // Shrink each group's example to what still shows the same finding; the database is digested afresh after.
  for (const g of groups.values()) {
    if (SHRINKABLE.has(g.check)) g.example = await shrink(g, o, report);
  }
  for (const [type, m] of typeStatus) {
    if (m.size < 2) continue;
    const statuses = [...m.keys()].sort();
    for (const st of statuses.slice(1)) {
      const ex = m.get(st)!;
      note('unstable-type', `${type} comes with statuses ${statuses.join(', ')}`, ex.c.op, { ...ex, note: `first seen with ${statuses[0]} on ${m.get(statuses[0]!)!.c.op}` });
    }
  }
  report.groups = [...groups.values()].sort((a, b) => a.check.localeCompare(b.check) || b.count - a.count);
  report.ms = performance.now() - started;
  return report;
}

/** Findings a single request reproduces cheaply (not a slow answer, not a cross-request one). */
const SHRINKABLE = new Set(['5xx', 'auth-bypass', 'not-problem-json', 'bad-problem', '400-without-field', 'bodiless-post-accepted']);
const SHRINK_TRIES = 40;

/** Smaller variants of a request: one query parameter, one header, one body member or element fewer. */
function* smaller(c: FuzzCase): Generator<FuzzCase> {
  const r = c.request;
  const [path, query] = [r.target.split('?')[0]!, r.target.includes('?') ? r.target.slice(r.target.indexOf('?') + 1) : undefined];
  const withReq = (req: Partial<FuzzCase['request']>): FuzzCase => ({ ...c, request: { ...r, ...req } });
  if (query !== undefined) {
    const parts = query.split('&');
    for (let i = 0; i < parts.length; i++) {
      const rest = parts.filter((_, j) => j !== i);
      yield withReq({ target: rest.length > 0 ? `${path}?${rest.join('&')}` : path });
    }
  }
  for (let i = 0; i < r.headers.length; i++) {
    if (r.headers[i]![0] === 'Authorization' && (c.principal === 'operator' || c.principal === 'tenant')) continue;
    yield withReq({ headers: r.headers.filter((_, j) => j !== i) });
  }
  if (r.body !== undefined && r.body.length < 100_000) {
    let v: unknown;
    try { v = JSON.parse(r.body.toString('utf8')); } catch { return; }
    const bodyOf = (x: unknown) => withReq({ body: Buffer.from(JSON.stringify(x), 'utf8') });
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) yield bodyOf(v.filter((_, j) => j !== i));
    } else if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) yield bodyOf(Object.fromEntries(Object.entries(v).filter(([j]) => j !== k)));
      for (const [k, x] of Object.entries(v)) {
        if (Array.isArray(x) && x.length > 1) yield bodyOf({ ...v, [k]: [x[0]] });
      }
    }
  }
}

/** Greedy shrinking: keep any smaller request that reproduces the group's finding, until none does. */
async function shrink(g: Group, o: CampaignOptions, report: Report): Promise<Example> {
  let best = g.example;
  let tries = 0;
  for (let progress = true; progress && tries < SHRINK_TRIES;) {
    progress = false;
    for (const c of smaller(best.c)) {
      if (++tries > SHRINK_TRIES) break;
      report.shrinkRequests++;
      const res = await send(o.port, c.request, o.timeoutMs);
      const serverError = o.takeServerError();
      if (res.status >= 200 && res.status < 300) await o.afterSuccess(c.op, c.request.method, res);
      const found = checkAnswer(c, res, parseAnswer(res), { slowMs: o.slowMs, blockMs: o.blockMs, blockedMs: 0, serverError });
      if (found.some((f) => f.check === g.check && f.about === g.about)) {
        best = { c, res, serverError, note: best.note };
        progress = true;
        break;
      }
    }
  }
  return best;
}

/**
 * The server runs in this process: the longest stretch its event loop went without running a 10 ms
 * timer while the request was in flight is how long the request blocked every other request.
 */
function watchEventLoop(): () => number {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return () => {
    clearInterval(timer);
    return Math.max(worst, performance.now() - last);
  };
}

/** Fills `{{operator}}`, `{{tenant}}` and `<reuse:n>` in the headers with the current keys. */
function resolvePlaceholders(c: FuzzCase, ctx: CaseContext): void {
  for (const h of c.request.headers) {
    h[1] = h[1].replace('{{operator-chop}}', ctx.keys.operator.slice(0, -1)).replace('{{operator}}', ctx.keys.operator).replace('{{tenant}}', ctx.keys.tenant);
    const m = /^<reuse:(\d+)>$/.exec(h[1]);
    if (h[0] !== 'Idempotency-Key' || !m) continue;
    const used = ctx.usedIdemKeys[c.principal] ?? [];
    h[1] = used.length > 0 ? used[Number(m[1]) % used.length]! : `fuzz-unused-${m[1]}`;
  }
}

// ---- reporting ----

const excerpt = (b: Buffer | undefined, n: number): string => {
  if (b === undefined) return '(none)';
  const s = b.subarray(0, n).toString('utf8');
  return `${JSON.stringify(s)}${b.length > n ? ` … (${b.length} bytes)` : ''}`;
};

/** A reproduction a person can rerun: method, target, headers, body excerpt, and what came back. */
export function formatExample(ex: Example, keys: Record<string, string>): string {
  const named = new Map(Object.entries(keys).map(([name, k]) => [k, `<${name} key>`]));
  const redact = (v: string): string => v.replace(/nc_(adm|live)_[A-Za-z0-9_-]{20,}/g, (k, kind: string) => named.get(k) ?? `<${kind === 'adm' ? 'an operator' : 'a tenant'} key>`);
  const target = ex.c.request.target.length > 160 ? `${JSON.stringify(ex.c.request.target.slice(0, 160))} … (${ex.c.request.target.length} chars)` : JSON.stringify(ex.c.request.target);
  const headers = ex.c.request.headers.map(([k, v]) => `${k}: ${redact(v.length > 80 ? `${v.slice(0, 80)}… (${v.length} chars)` : v)}`);
  return [
    `    ${ex.c.request.method} ${target}  [as ${ex.c.principal}; ${ex.c.tags.join(', ') || 'valid'}]`,
    `      headers: ${headers.length > 0 ? JSON.stringify(headers) : '(none)'}`,
    `      body: ${excerpt(ex.c.request.body, 160)}`,
    `    → ${ex.res.status || 'no answer'} ${ex.res.headers['content-type'] ?? ''} in ${Math.round(ex.res.ms)} ms: ${excerpt(ex.res.body, 240)}`,
    ...(ex.serverError ? [`      server logged: ${ex.serverError.slice(0, 200)}`] : []),
    ...(ex.note ? [`      ${ex.note}`] : []),
  ].join('\n');
}

export function formatReport(r: Report, label: string, keys: Record<string, string>): string {
  const row = (c: Record<StatusClass, number>): string => CLASSES.map((k) => `${k} ${c[k]}`).join(', ');
  const lines = [
    `fuzz ${label}: ${r.requests} requests in ${(r.ms / 1000).toFixed(1)} s (${row(r.byClass)}); ${r.undone} successes undone, ${r.skipped} skipped after a slow answer, ${r.shrinkRequests} more to shrink examples`,
    `  time: ${(r.genMs / 1000).toFixed(1)} s generating, ${(r.sendMs / 1000).toFixed(1)} s answering, ${(r.digestMs / 1000).toFixed(1)} s digesting the database, ${(r.undoMs / 1000).toFixed(1)} s undoing successes; slowest answer ${Math.round(r.worstMs)} ms, longest event-loop stall ${Math.round(r.worstBlockedMs)} ms`,
    ...PRINCIPALS.map((p) => `  as ${p.padEnd(8)} ${row(r.byPrincipal[p])}`),
    ...Object.entries(r.byOp).map(([op, c]) => `  ${op.padEnd(30)} ${row(c)}`),
  ];
  if (r.groups.length > 0) {
    lines.push(`${r.groups.length} distinct failures:`);
    for (const g of r.groups) {
      lines.push(`  [${g.check}] ${g.about} — ${g.count} request(s) on ${[...g.ops].join(', ')}`);
      lines.push(formatExample(g.example, keys));
    }
  }
  return lines.join('\n');
}
