/**
 * Usage ingestion over HTTP (issue 11): batches of CloudEvents posted to `POST /v1/usage`,
 * deduplicated by (tenant, source, id), durable before the answer (a committed INSERT; PostgreSQL's
 * `synchronous_commit` is printed), on PostgreSQL and on PGlite. Target: ≥ 50,000 events/s on
 * PostgreSQL on this 2-core machine (Lago states 10,000/s over REST batches).
 *
 * The batches are generated before the clock starts (a share of events repeat earlier ones, so
 * deduplication is exercised); C clients post them over keep-alive connections. Reported: events
 * per second, the duplicate share seen by the server, batch latency p50/p99 (hdr-histogram). The
 * baseline in the same run: the same batches written straight through the repository (no HTTP,
 * no validation), the database's own ceiling for this statement.
 *
 *   npm run bench -- ingest [--events N] [--batch B] [--concurrency C] [--dup-share 0.05] [--stores postgres,pglite]
 * PostgreSQL: BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test
 * (a schema of its own, dropped after).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { sql } from 'drizzle-orm';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { BillingRepo, type UsageRow } from '../src/billing/index.js';
import { mulberry32 } from '../src/scheduler/workload.js';
import { dropBenchSchema } from './pg-schema.js';

const ADMIN = `nc_adm_bench_${randomBytes(16).toString('hex')}`;
const TARGET_PER_S = 50_000;
const arg = (args: string[], name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};

function batches(n: number, size: number, dupShare: number, tenants: string[], nowMs: number, seed: number): { bodies: string[]; rows: UsageRow[][] } {
  const rnd = mulberry32(seed);
  const bodies: string[] = [];
  const rows: UsageRow[][] = [];
  let next = 0;
  // The tenant of each id: a duplicate repeats an earlier event whole (tenant too), since the
  // deduplication key is per tenant (issue 18).
  const tenantOf: string[] = [];
  for (let b = 0; b * size < n; b++) {
    const events = [];
    const r: UsageRow[] = [];
    for (let i = 0; i < size && b * size + i < n; i++) {
      // A duplicate repeats an id sent before (an earlier batch, or this one).
      const k = next > 0 && rnd() < dupShare ? Math.floor(rnd() * next) : next++;
      const id = `ev-${k}`;
      const drawn = tenants[Math.floor(rnd() * tenants.length)]!;
      const tenant = tenantOf[k] ?? drawn;
      tenantOf[k] = tenant;
      const type = rnd() < 0.5 ? 'tokens.input' : 'tokens.output';
      const q = String(1 + Math.floor(rnd() * 100_000));
      const t = new Date(nowMs - Math.floor(rnd() * 86_400_000)).toISOString();
      events.push({ specversion: '1.0', id, source: '/gateway/bench', type, subject: tenant, time: t, data: { quantity: q, unit: 'tokens', model: 'llama-70b' } });
      r.push({ source: '/gateway/bench', id, tenantId: tenant, type, timeMs: Date.parse(t), quantity: BigInt(q) * 1_000_000n, model: 'llama-70b', leaseId: null, leaseClass: null, priceMicros: null });
    }
    bodies.push(JSON.stringify({ events }));
    rows.push(r);
  }
  return { bodies, rows };
}

function post(agent: http.Agent, url: URL, body: string, key: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: '/v1/usage', method: 'POST', headers: {
      'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${key}`, 'idempotency-key': randomBytes(12).toString('hex'),
    } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function runStore(store: 'postgres' | 'pglite', o: { events: number; batch: number; concurrency: number; dupShare: number; pgUrl: string }): Promise<void> {
  const schema = `bench_ingest_${randomBytes(4).toString('hex')}`;
  const dir = store === 'pglite' ? mkdtempSync(join(tmpdir(), 'nc-ingest-')) : undefined;
  const cp = await ControlPlane.open({ databaseUrl: store === 'postgres' ? o.pgUrl : undefined, pgSchema: store === 'postgres' ? schema : undefined, dataDir: dir, adminKey: ADMIN, initialFleet: false, poolSize: o.concurrency + 2 });
  const app = await buildServer(cp);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = new URL(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  try {
    const tenants: string[] = [];
    for (let i = 0; i < 20; i++) tenants.push((await cp.tenants.create({ kind: 'admin', keyId: 'bench' }, `bench-${i}`)).tenant.id);
    // Usage is accepted only where the tenant has a price for it (issue 18): a token contract each.
    for (const t of tenants) {
      await cp.billing.createContract({ kind: 'admin', keyId: 'bench' }, {
        tenantId: t, kind: 'tokens', start: new Date(Date.now() - 40 * 86_400_000).toISOString(),
        terms: { prices: { 'llama-70b': { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } },
      });
    }
    const sync = store === 'postgres' ? String((await cp.handle.db.execute(sql`SHOW synchronous_commit`) as unknown as { rows: { synchronous_commit: string }[] }).rows[0]?.synchronous_commit) : 'n/a (PGlite, file-backed)';
    const now = Date.now();
    const { bodies, rows } = batches(o.events, o.batch, o.dupShare, tenants, now, 7);
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
    // Warm-up: a few batches of other ids (JIT, connections), not counted.
    const warm = batches(o.batch * 4, o.batch, 0, tenants, now, 99).bodies.map((b) => b.replace(/"ev-/g, '"warm-'));
    for (const b of warm) await post(agent, url, b, ADMIN);

    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
    let accepted = 0;
    let dups = 0;
    let i = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.concurrency }, async () => {
      while (i < bodies.length) {
        const b = bodies[i++]!;
        const s = performance.now();
        const r = await post(agent, url, b, ADMIN);
        h.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
        if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${r.text.slice(0, 300)}`);
        const j = JSON.parse(r.text) as { accepted: number; duplicates: number };
        accepted += j.accepted;
        dups += j.duplicates;
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    agent.destroy();
    const stored = await new BillingRepo(cp.handle.db).countUsage();
    const perS = o.events / secs;
    console.log(`${store.padEnd(8)} HTTP  ${o.events} events in ${bodies.length} batches of ${o.batch}, ${o.concurrency} clients: ${Math.round(perS).toLocaleString('en-US')} events/s ` +
      `(${secs.toFixed(2)} s); batch latency p50 ${(h.getValueAtPercentile(50) / 1000).toFixed(1)} ms, p99 ${(h.getValueAtPercentile(99) / 1000).toFixed(1)} ms, max ${(h.maxValue / 1000).toFixed(1)} ms; ` +
      `duplicates ${(100 * dups / o.events).toFixed(2)}% (${dups}); stored ${stored - o.batch * 4} new = accepted ${accepted}; synchronous_commit ${sync}` +
      (store === 'postgres' ? ` — target ≥ ${TARGET_PER_S.toLocaleString('en-US')}/s ${perS >= TARGET_PER_S ? 'MET' : 'NOT met'}` : ''));

    // Baseline: the same rows through the repository, same concurrency, no HTTP and no validation (new ids).
    const repo = new BillingRepo(cp.handle.db);
    const shifted = rows.map((r) => r.map((u) => ({ ...u, source: '/gateway/baseline' })));
    let j = 0;
    const b0 = performance.now();
    await Promise.all(Array.from({ length: store === 'pglite' ? 1 : o.concurrency }, async () => {
      while (j < shifted.length) await repo.insertUsage(shifted[j++]!, now);
    }));
    const bs = (performance.now() - b0) / 1000;
    console.log(`${store.padEnd(8)} floor ${o.events} events straight into the repository: ${Math.round(o.events / bs).toLocaleString('en-US')} events/s (${bs.toFixed(2)} s); HTTP reaches ${(100 * (o.events / secs) / (o.events / bs)).toFixed(0)}% of it`);
  } finally {
    await app.close();
    await cp.close();
    if (store === 'postgres') {
      await dropBenchSchema(o.pgUrl, schema);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<void> {
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const stores = arg(args, 'stores', 'postgres,pglite').split(',') as ('postgres' | 'pglite')[];
  const o = { events: Number(arg(args, 'events', '200000')), batch: Number(arg(args, 'batch', '2000')), concurrency: Number(arg(args, 'concurrency', '4')), dupShare: Number(arg(args, 'dup-share', '0.05')), pgUrl };
  console.log(`ingest bench: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString()}`);
  for (const s of stores) await runStore(s, s === 'pglite' ? { ...o, events: Math.min(o.events, Number(arg(args, 'pglite-events', '50000'))) } : o);
}
