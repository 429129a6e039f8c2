/**
 * Lease creation through HTTP on a 10,000-GPU fleet: the most leases/s with 16 clients (closed loop),
 * and p50/p99 latency at a steady 500 requests/s (open loop, latency from when each was due), on PGlite
 * and on PostgreSQL, with the HTTP floor (GET /healthz on the same server, same concurrency)
 * measured in the same run. Target (issue #2): ≥500 leases/s and p99 ≤20 ms on PostgreSQL —
 * Slurm's sustained ~500 jobs/s is the anchor.
 *
 *   npm run bench -- leases [--requests N] [--concurrency C] [--stores pglite,postgres]
 * PostgreSQL: BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import type { FleetSpec } from '../src/fleet/index.js';

const ADMIN = `nc_adm_bench_${randomBytes(16).toString('hex')}`;
const TARGET_LEASES_PER_S = 500;
const TARGET_P99_MS = 20;

/** 10,000 H100s: 2 sites × 1 hall × 5 fabrics × 125 HGX nodes × 8 GPUs. */
function benchFleet(): FleetSpec {
  return {
    sites: ['bench-a', 'bench-b'].map((id, i) => ({
      id, region: `region-${i}`, powerCapMw: 20, pue: 1.2,
      halls: [{
        id: `${id}-h1`, powerCapMw: 20,
        fabrics: Array.from({ length: 5 }, (_, f) => ({ id: `${id}-f${f + 1}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: 125 }] })),
      }],
    })),
  };
}

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

interface Result { store: string; what: string; requests: number; ok: number; rejected: number; errors: number; seconds: number; perS: number; p50ms: number; p99ms: number; maxms: number }

/** Runs the load in a worker thread (its own event loop and core), returns its figures. */
function load(job: { url: string; n: number; concurrency: number; kind: 'lease' | 'health'; auth: string; tag: string; rate?: number }): Promise<Omit<Result, 'store' | 'what'>> {
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

async function runStore(store: 'pglite' | 'postgres', pgUrl: string, n: number, concurrency: number): Promise<Result[]> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const cp = await ControlPlane.open(store === 'postgres'
    ? { databaseUrl: pgUrl, pgSchema: schema, adminKey: ADMIN, initialFleet: benchFleet(), poolSize: 10 }
    : { adminKey: ADMIN, initialFleet: benchFleet() });
  const app = await buildServer(cp);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const gpus = cp.fleet.current().gpus.length;
  const tenant = await fetch(`${url}/v1/tenants`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': 'bench-tenant' },
    body: JSON.stringify({ name: 'bench' }),
  }).then((r) => r.json()) as { apiKey: string };
  const auth = `Bearer ${tenant.apiKey}`;
  const base = { url, concurrency, auth };
  await load({ ...base, n: 300, kind: 'lease', tag: 'warm' });
  // Steady rate first (latency), then as fast as 16 clients can go (throughput).
  const paceN = Math.min(n, 10 * TARGET_LEASES_PER_S);
  const pacedFloor = await load({ ...base, n: paceN, kind: 'health', tag: 'paced-floor', rate: TARGET_LEASES_PER_S });
  const paced = await load({ ...base, n: paceN, kind: 'lease', tag: 'paced', rate: TARGET_LEASES_PER_S });
  const floor = await load({ ...base, n, kind: 'health', tag: 'floor' });
  const leases = await load({ ...base, n, kind: 'lease', tag: 'run' });
  await app.close();
  if (store === 'postgres') {
    await cp.store.db.execute(`DROP SCHEMA "${schema}" CASCADE`);
  }
  await cp.close();
  process.stderr.write(`  ${store}: fleet ${gpus} GPUs\n`);
  return [
    { store, what: 'GET /healthz (HTTP floor)', ...floor },
    { store, what: 'POST /v1/leases', ...leases },
    { store, what: `GET /healthz @${TARGET_LEASES_PER_S}/s`, ...pacedFloor },
    { store, what: `POST /v1/leases @${TARGET_LEASES_PER_S}/s`, ...paced },
  ];
}

export async function main(args: string[]): Promise<void> {
  const n = Number(arg(args, 'requests', '5000'));
  const concurrency = Number(arg(args, 'concurrency', '16'));
  const stores = arg(args, 'stores', 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const results: Result[] = [];
  for (const store of stores) {
    if (store === 'postgres' && !(await pgReachable(pgUrl))) {
      process.stderr.write(`  postgres: not reachable at ${pgUrl}; skipped\n`);
      continue;
    }
    results.push(...await runStore(store, pgUrl, n, concurrency));
    await new Promise((r) => setTimeout(r, 500)); // let the previous server's sockets close
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`\nlease creation over HTTP, 10,000-GPU fleet, ${n} requests, ${concurrency} concurrent clients\n`);
  process.stdout.write(`machine: ${cpus().length} × ${cpu}, node ${process.version}, ${new Date().toISOString()}\n\n`);
  process.stdout.write(`${'store'.padEnd(9)} ${'request'.padEnd(27)} ${'ok/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'409'.padStart(6)} ${'errors'.padStart(6)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.store.padEnd(9)} ${r.what.padEnd(27)} ${r.perS.toFixed(0).padStart(8)} ${r.p50ms.toFixed(2).padStart(8)} ${r.p99ms.toFixed(2).padStart(8)} ${r.maxms.toFixed(2).padStart(8)} ${String(r.rejected).padStart(6)} ${String(r.errors).padStart(6)}\n`);
  }
  for (const store of stores) {
    const max = results.find((x) => x.store === store && x.what === 'POST /v1/leases');
    const paced = results.find((x) => x.store === store && x.what.startsWith('POST /v1/leases @'));
    if (!max || !paced) continue;
    const pass = max.perS >= TARGET_LEASES_PER_S && paced.p99ms <= TARGET_P99_MS && paced.errors === 0;
    process.stdout.write(`\n${store}: ${max.perS.toFixed(0)} leases/s at most = ${(max.perS / TARGET_LEASES_PER_S).toFixed(2)}× the 500/s anchor (Slurm); ` +
      `at a steady ${TARGET_LEASES_PER_S}/s, p99 ${paced.p99ms.toFixed(2)} ms vs the ${TARGET_P99_MS} ms target: ${pass ? 'meets' : 'misses'} the target`);
  }
  process.stdout.write('\n');
  process.stdout.write(`${JSON.stringify({ bench: 'leases', n, concurrency, results })}\n`);
}
