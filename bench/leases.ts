/**
 * The lease path on a loaded 100,000-GPU fleet (issue 8). The fleet: 5 sites × 2 halls × 5
 * InfiniBand fabrics × 250 HGX H100 nodes; every hall's power cap runs 95% of its GPUs, so power
 * binds before GPUs run out. Before measuring, it is booked to ≥ 90% of its GPUs through the
 * lease service itself (half spot, half on-demand, 1–16 GPUs, 6–72 h from now). Then, per store:
 *
 * 1. **Decisions in-process (no HTTP, no write)**: `LeaseService.quote()` — the same validation
 *    and `decide()` as a create, on the same view — for a mix of on-demand (preempts spot when
 *    full), spot (backfills or is refused), reserved blocks ahead and queued requests. Latency per
 *    decision, p50/p99, separately for those that preempt. Target: ≥ 20,000/s, p99 ≤ 1 ms.
 * 2. **Through HTTP**: `POST /v1/leases` with the same mix, closed loop (16 clients) and open loop
 *    at a steady 500/s, with the HTTP floor (`GET /healthz`, same load) measured in the same run.
 *    Targets on PostgreSQL: ≥ 1,000 leases/s closed loop, p99 ≤ 20 ms at 500/s.
 *
 *   npm run bench -- leases [--requests N] [--decisions N] [--prefill SHARE] [--concurrency C] [--stores pglite,postgres] [--mix loaded|calendar] [--decisions-only]
 * `--decisions-only` skips the HTTP part (for profiling the engine).
 * PostgreSQL: BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { facilityWattsPerGpu, type FleetSpec } from '../src/fleet/index.js';
import type { LeaseCreateBody } from '../src/leasing/index.js';
import type { Principal } from '../src/tenancy/index.js';
import { mulberry32 } from '../src/scheduler/workload.js';

const ADMIN = `nc_adm_bench_${randomBytes(16).toString('hex')}`;
const TARGET_DECISIONS_PER_S = 20_000;
const TARGET_DECISION_P99_MS = 1;
const TARGET_LEASES_PER_S = 1_000;
const PACED_RATE = 500;
const TARGET_P99_MS = 20;
const PUE = 1.2;
const NODES_PER_FABRIC = 250;
const HALL_GPUS = 5 * NODES_PER_FABRIC * 8;
/** Share of a hall's GPUs its power cap runs. */
const POWER_SHARE = 0.95;
/**
 * Booked share of installed GPUs before measuring (`--prefill`). Above POWER_SHARE, so power binds:
 * the prefill's own on-demand work starts preempting spot work near the end, and the measured
 * on-demand requests must preempt.
 */
let PREFILL_SHARE = 0.97;

/** 100,000 H100s: 5 sites × 2 halls × 5 fabrics × 250 nodes × 8 GPUs; power runs 95% of each hall. */
export function benchFleet(): FleetSpec {
  const hallMw = (HALL_GPUS * facilityWattsPerGpu('H100-SXM', PUE) * POWER_SHARE) / 1e6;
  return {
    sites: Array.from({ length: 5 }, (_, si) => {
      const id = `bench-${si + 1}`;
      return {
        id, region: `region-${si % 3}`, powerCapMw: 2 * hallMw, pue: PUE,
        halls: [1, 2].map((h) => ({
          id: `${id}-h${h}`, powerCapMw: hallMw,
          fabrics: Array.from({ length: 5 }, (_, f) => ({ id: `${id}-h${h}-f${f + 1}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: NODES_PER_FABRIC }] })),
        })),
      };
    }),
  };
}

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

interface LoadFigures { requests: number; ok: number; rejected: number; errors: number; seconds: number; perS: number; answeredPerS: number; p50ms: number; p99ms: number; maxms: number }
interface Result extends LoadFigures { store: string; what: string }

/** Runs the load in a worker thread (its own event loop and core), returns its figures. */
function load(job: { url: string; n: number; concurrency: number; kind: 'lease' | 'health'; auth: string; tag: string; rate?: number; mix: string }): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./load-worker.mjs', import.meta.url), { workerData: { ...job, seed: 42 } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function pgReachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The request mix of the load worker's `loaded` mode, for in-process decisions. */
export function loadedBody(rnd: () => number, nowMs: number): LeaseCreateBody {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const r = rnd();
  if (r < 0.45) return { gpuModel: 'H100-SXM', gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rnd() * 4) };
  if (r < 0.75) return { gpuModel: 'H100-SXM', gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rnd() * 8), class: 'spot' };
  if (r < 0.9) {
    return {
      gpuModel: 'H100-SXM', gpuCount: pick([8, 16]), durationHours: 24, class: 'reserved', placement: 'same-fabric',
      start: new Date(nowMs + (1 + Math.floor(rnd() * 30 * 24)) * 3_600_000).toISOString(),
    };
  }
  return { gpuModel: 'H100-SXM', gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rnd() * 2), queue: true, maxWaitHours: 1 };
}

interface DecisionFigures { n: number; perS: number; groups: { what: string; n: number; p50ms: number; p99ms: number; maxms: number }[] }

/** Books the fleet to PREFILL_SHARE through the lease service (writes overlapped, 32 at a time). */
async function prefill(cp: ControlPlane, principal: Principal, installed: number): Promise<{ leases: number; gpus: number; seconds: number; refused: number }> {
  const rnd = mulberry32(7);
  const goal = Math.ceil(installed * PREFILL_SHARE);
  let gpus = 0;
  let leases = 0;
  let refused = 0;
  const t0 = performance.now();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (gpus < goal && refused < 200) {
      const body: LeaseCreateBody = {
        gpuModel: 'H100-SXM', gpuCount: pick([1, 2, 4, 8, 8, 8, 16]), durationHours: 6 + Math.floor(rnd() * 67), class: rnd() < 0.5 ? 'spot' : 'on-demand',
      };
      try {
        const v = await cp.leases.create(principal, body);
        gpus += v.gpuCount;
        leases++;
      } catch {
        refused++;
      }
    }
  }));
  return { leases, gpus, seconds: (performance.now() - t0) / 1000, refused };
}

/** In-process decisions: quote() for the loaded mix, timed one by one. */
async function decisions(cp: ControlPlane, principal: Principal, n: number): Promise<DecisionFigures> {
  const rnd = mulberry32(11);
  const mk = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 6e7, numberOfSignificantValueDigits: 3 });
  const all = mk();
  const byKind = new Map<string, hdr.Histogram>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const body = loadedBody(rnd, cp.clock.nowMs());
    const s = performance.now();
    const q = await cp.leases.quote(principal, body);
    const us = Math.max(1, Math.round((performance.now() - s) * 1000));
    all.recordValue(us);
    const kind = q.preempts > 0 ? 'placed by preempting' : q.outcome === 'placed' ? (q.preemptedAt ? 'placed as backfill' : 'placed') : q.outcome;
    const key = `${body.class ?? 'on-demand'}${body.queue ? ' (queue)' : ''} → ${kind}`;
    if (!byKind.has(key)) byKind.set(key, mk());
    byKind.get(key)!.recordValue(us);
    if (!byKind.has(kind === 'placed by preempting' ? '*preempting' : '*not preempting')) byKind.set(kind === 'placed by preempting' ? '*preempting' : '*not preempting', mk());
    byKind.get(kind === 'placed by preempting' ? '*preempting' : '*not preempting')!.recordValue(us);
  }
  const seconds = (performance.now() - t0) / 1000;
  const fig = (what: string, h: hdr.Histogram) => ({ what, n: h.totalCount, p50ms: h.getValueAtPercentile(50) / 1e3, p99ms: h.getValueAtPercentile(99) / 1e3, maxms: h.maxValue / 1e3 });
  return {
    n, perS: n / seconds,
    groups: [fig('all decisions', all), ...[...byKind.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, h]) => fig(k.replace(/^\*/, 'all '), h))],
  };
}

async function runStore(store: 'pglite' | 'postgres', pgUrl: string, o: { n: number; decisions: number; concurrency: number; mix: string; skipHttp: boolean }): Promise<{ results: Result[]; decided: DecisionFigures; setup: string }> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const t0 = performance.now();
  const cp = await ControlPlane.open(store === 'postgres'
    ? { databaseUrl: pgUrl, pgSchema: schema, adminKey: ADMIN, initialFleet: benchFleet(), poolSize: 10 }
    : { adminKey: ADMIN, initialFleet: benchFleet() });
  const openS = (performance.now() - t0) / 1000;
  const app = await buildServer(cp);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const installed = cp.fleet.current().gpus.length;
  const tenant = await fetch(`${url}/v1/tenants`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': 'bench-tenant' },
    body: JSON.stringify({ name: 'bench' }),
  }).then((r) => r.json()) as { apiKey: string; tenant: { id: string } };
  const principal: Principal = { kind: 'tenant', tenantId: tenant.tenant.id, keyId: 'bench' };
  const filled = await prefill(cp, principal, installed);
  const setup = `${installed.toLocaleString('en-US')} GPUs (fleet loaded in ${openS.toFixed(1)} s); prefilled ${filled.leases.toLocaleString('en-US')} leases, ` +
    `${filled.gpus.toLocaleString('en-US')} GPUs = ${((100 * filled.gpus) / installed).toFixed(1)}% booked, in ${filled.seconds.toFixed(1)} s (${(filled.leases / filled.seconds).toFixed(0)} leases/s in-process)`;
  process.stderr.write(`  ${store}: ${setup}\n`);
  const decided = await decisions(cp, principal, o.decisions);
  if (o.skipHttp) {
    await app.close();
    if (store === 'postgres') await cp.handle.db.execute(`DROP SCHEMA "${schema}" CASCADE`);
    await cp.close();
    return { setup, decided, results: [] };
  }
  const auth = `Bearer ${tenant.apiKey}`;
  const base = { url, concurrency: o.concurrency, auth, mix: o.mix };
  await load({ ...base, n: 300, kind: 'lease', tag: 'warm' });
  const paceN = Math.min(o.n, 10 * PACED_RATE);
  const pacedFloor = await load({ ...base, n: paceN, kind: 'health', tag: 'paced-floor', rate: PACED_RATE });
  const paced = await load({ ...base, n: paceN, kind: 'lease', tag: 'paced', rate: PACED_RATE });
  const floor = await load({ ...base, n: o.n, kind: 'health', tag: 'floor' });
  const leases = await load({ ...base, n: o.n, kind: 'lease', tag: 'run' });
  await app.close();
  if (store === 'postgres') await cp.handle.db.execute(`DROP SCHEMA "${schema}" CASCADE`);
  await cp.close();
  return {
    setup, decided,
    results: [
      { store, what: 'GET /healthz (HTTP floor)', ...floor },
      { store, what: 'POST /v1/leases', ...leases },
      { store, what: `GET /healthz @${PACED_RATE}/s`, ...pacedFloor },
      { store, what: `POST /v1/leases @${PACED_RATE}/s`, ...paced },
    ],
  };
}

export async function main(args: string[]): Promise<void> {
  const n = Number(arg(args, 'requests', '2000'));
  const nDecisions = Number(arg(args, 'decisions', '2000'));
  const concurrency = Number(arg(args, 'concurrency', '16'));
  const mix = arg(args, 'mix', 'loaded');
  const stores = arg(args, 'stores', 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];
  PREFILL_SHARE = Number(arg(args, 'prefill', String(PREFILL_SHARE)));
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const out = (s: string) => process.stdout.write(s);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const runs: { store: string; setup: string; decided: DecisionFigures; results: Result[] }[] = [];
  for (const store of stores) {
    if (store === 'postgres' && !(await pgReachable(pgUrl))) {
      process.stderr.write(`  postgres: not reachable at ${pgUrl}; skipped\n`);
      continue;
    }
    runs.push({ store, ...await runStore(store, pgUrl, { n, decisions: nDecisions, concurrency, mix, skipHttp: args.includes('--decisions-only') }) });
    await new Promise((r) => setTimeout(r, 500)); // let the previous server's sockets close
  }
  out(`\nlease path on a loaded 100,000-GPU fleet (power caps run ${POWER_SHARE * 100}% of each hall; booked to ≥${PREFILL_SHARE * 100}% first)\n`);
  out(`machine: ${cpus().length} × ${cpu}, node ${process.version}, ${new Date().toISOString()}\n`);
  for (const r of runs) {
    out(`\n== ${r.store}: ${r.setup}\n`);
    out(`in-process decisions (quote: validation + decide on the served view, no write): ${r.decided.n} in a row, ${r.decided.perS.toFixed(0)}/s\n`);
    out(`  ${'kind'.padEnd(44)} ${'n'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}\n`);
    for (const g of r.decided.groups) out(`  ${g.what.padEnd(44)} ${String(g.n).padStart(6)} ${g.p50ms.toFixed(3).padStart(8)} ${g.p99ms.toFixed(3).padStart(8)} ${g.maxms.toFixed(2).padStart(8)}\n`);
    const all = r.decided.groups[0]!;
    const pre = r.decided.groups.find((g) => g.what === 'all preempting');
    out(`  target ≥${TARGET_DECISIONS_PER_S.toLocaleString('en-US')}/s and p99 ≤${TARGET_DECISION_P99_MS} ms including preemptions: ` +
      `${r.decided.perS >= TARGET_DECISIONS_PER_S && all.p99ms <= TARGET_DECISION_P99_MS ? 'meets' : 'misses'} (${r.decided.perS.toFixed(0)}/s, p99 ${all.p99ms.toFixed(3)} ms; preempting p99 ${pre ? pre.p99ms.toFixed(3) : 'n/a'} ms)\n`);
    if (r.results.length === 0) continue;
    out(`HTTP, ${concurrency} clients closed loop and ${PACED_RATE}/s open loop, mix ${mix}:\n`);
    out(`  ${'request'.padEnd(27)} ${'ok/s'.padStart(8)} ${'answered/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'409'.padStart(6)} ${'errors'.padStart(6)}\n`);
    for (const x of r.results) {
      out(`  ${x.what.padEnd(27)} ${x.perS.toFixed(0).padStart(8)} ${x.answeredPerS.toFixed(0).padStart(10)} ${x.p50ms.toFixed(2).padStart(8)} ${x.p99ms.toFixed(2).padStart(8)} ${x.maxms.toFixed(2).padStart(8)} ${String(x.rejected).padStart(6)} ${String(x.errors).padStart(6)}\n`);
    }
    const max = r.results[1]!;
    const paced = r.results[3]!;
    out(`  target (PostgreSQL) ≥${TARGET_LEASES_PER_S}/s closed loop and p99 ≤${TARGET_P99_MS} ms at ${PACED_RATE}/s: ` +
      `${max.answeredPerS >= TARGET_LEASES_PER_S && paced.p99ms <= TARGET_P99_MS && paced.errors === 0 ? 'meets' : 'misses'} ` +
      `(${max.answeredPerS.toFixed(0)} answered/s, ${max.perS.toFixed(0)} leases/s; p99 ${paced.p99ms.toFixed(2)} ms)\n`);
  }
  out(`${JSON.stringify({ bench: 'leases', n, nDecisions, concurrency, mix, runs })}\n`);
}
