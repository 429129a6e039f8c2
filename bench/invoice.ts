/**
 * Rating and invoicing a month at scale (issue 11): L leases of T tenants in December 2026,
 * written to the event log as the lease service writes them (placed, started, then released or
 * expired; some still running at the month's end), and one reserved term with a prepayment for
 * every tenth tenant. Timed separately: the lease meter reading the whole log into GPU time, and
 * `closePeriod` — running leases metered to the month's end, every tenant's invoice rated,
 * finalised and posted to the ledger, revenue recognised. Then the ledger is checked to balance.
 *
 *   npm run bench -- invoice [--leases 100000] [--tenants 10000] [--stores postgres,pglite]
 * PostgreSQL: BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { ControlPlane } from '../src/app/control-plane.js';
import { BillingRepo, termsJson, type Contract } from '../src/billing/index.js';
import type { NewEvent, NewLeaseEvent } from '../src/events/index.js';
import { ManualClock } from '../src/shared/clock.js';
import { mulberry32 } from '../src/scheduler/workload.js';
import { dropBenchSchema } from './pg-schema.js';

const ADMIN = `nc_adm_bench_${randomBytes(16).toString('hex')}`;
const DEC = Date.parse('2026-12-01T00:00:00Z');
const JAN = Date.parse('2027-01-01T00:00:00Z');
const H = 3_600_000;
const arg = (args: string[], name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};

async function runStore(store: 'postgres' | 'pglite', leases: number, tenants: number, pgUrl: string): Promise<void> {
  const schema = `bench_invoice_${randomBytes(4).toString('hex')}`;
  const clock = new ManualClock(DEC - H);
  const cp = await ControlPlane.open({ databaseUrl: store === 'postgres' ? pgUrl : undefined, pgSchema: store === 'postgres' ? schema : undefined, adminKey: ADMIN, initialFleet: false, clock });
  try {
    const db = cp.handle.db;
    await db.execute(sql`INSERT INTO tenants (id, name, created_at) SELECT 'ten_b' || g, 'bench ' || g, now() FROM generate_series(1, ${tenants}) g`);
    const repo = new BillingRepo(db);
    for (let t = 1; t <= tenants; t += 10) {
      const c: Contract = { id: `ctr_b${t}`, version: 1, tenantId: `ten_b${t}`, currency: 'USD', startMs: DEC, endMs: DEC + 365 * 24 * H, createdAtMs: DEC, kind: 'reserved', terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: 1_890_000n, prepaymentBps: 2000 } };
      await repo.insertContract(c, termsJson(c));
    }
    const rnd = mulberry32(11);
    const events: NewEvent[] = [];
    for (let i = 0; i < leases; i++) {
      const tenant = `ten_b${1 + Math.floor(rnd() * tenants)}`;
      const id = `lease_b${i}`;
      const cls = rnd() < 0.55 ? 'on-demand' : rnd() < 0.85 ? 'spot' : 'reserved';
      const start = DEC + Math.floor(rnd() * 30 * 24) * H + Math.floor(rnd() * H);
      const end = start + (1 + Math.floor(rnd() * 48)) * H;
      const count = [1, 2, 4, 8][Math.floor(rnd() * 4)]!;
      const price = cls === 'spot' ? 1_350_000 : cls === 'reserved' ? 1_890_000 : 2_490_000;
      const base = { subject: id, tenantId: tenant };
      // Payloads as declared in src/events/event-data.ts (the meter decodes them against it).
      const placed: NewLeaseEvent<'lease.placed'> = { ...base, type: 'lease.placed', timeMs: start, data: {
        leaseId: id, tenantId: tenant, class: cls, gpuModel: 'H100-SXM', gpuCount: count, placement: 'any', start: new Date(start).toISOString(), end: new Date(end).toISOString(),
        priceMicrosPerGpuHour: String(price), totalMicros: String(BigInt(price) * BigInt(count) * BigInt(end - start) / BigInt(H)), gpus: [], nodes: [],
      } };
      const started: NewLeaseEvent<'lease.started'> = { ...base, type: 'lease.started', timeMs: start, data: { leaseId: id, start: new Date(start).toISOString(), gpus: [] } };
      events.push(placed, started);
      if (end < JAN) {
        const released = rnd() < 0.3;
        const stop = released ? start + Math.floor(rnd() * (end - start)) : end;
        const stopped: NewLeaseEvent<'lease.released'> | NewLeaseEvent<'lease.expired'> = released
          ? { ...base, type: 'lease.released', timeMs: stop, data: { leaseId: id, releasedAt: new Date(stop).toISOString(), heldUntil: new Date(stop).toISOString(), wasQueued: false } }
          : { ...base, type: 'lease.expired', timeMs: stop, data: { leaseId: id, reason: 'ended', end: new Date(end).toISOString() } };
        events.push(stopped);
      }
    }
    events.sort((a, b) => a.timeMs - b.timeMs);
    const w0 = performance.now();
    for (let i = 0; i < events.length; i += 5_000) await db.transaction((tx) => cp.eventLog.append(tx as never, events.slice(i, i + 5_000)));
    const writeS = (performance.now() - w0) / 1000;

    clock.set(JAN + H);
    const m0 = performance.now();
    const read = await cp.billing.meterCatchUp();
    const meterS = (performance.now() - m0) / 1000;
    const c0 = performance.now();
    const closed = await cp.billing.closePeriod({ kind: 'admin', keyId: 'bench' }, '2026-12');
    const closeS = (performance.now() - c0) / 1000;
    const usage = Number((await db.execute(sql`SELECT count(*)::int AS n FROM billing_usage_events`) as unknown as { rows: { n: number }[] }).rows[0]!.n);
    const sums = (await db.execute(sql`SELECT e.currency, sum(l.amount_micros)::text AS s, count(DISTINCT e.id)::int AS n FROM billing_journal_lines l JOIN billing_journal_entries e ON e.id = l.entry_id GROUP BY 1`) as unknown as { rows: { currency: string; s: string; n: number }[] }).rows;
    const total = closed.invoices.reduce((a, i) => a + BigInt(String(i['totalMicros'])), 0n);
    console.log(`${store.padEnd(8)} ${leases.toLocaleString('en-US')} leases (${events.length.toLocaleString('en-US')} log events, written in ${writeS.toFixed(1)} s), ${tenants.toLocaleString('en-US')} tenants, ${Math.ceil(tenants / 10)} reserved terms`);
    console.log(`${store.padEnd(8)}   meter: ${read.toLocaleString('en-US')} events → ${usage.toLocaleString('en-US')} usage rows in ${meterS.toFixed(1)} s (${Math.round(read / meterS).toLocaleString('en-US')} events/s)`);
    console.log(`${store.padEnd(8)}   close 2026-12: ${closed.invoices.length.toLocaleString('en-US')} final invoices, total $${(total / 1_000_000n).toLocaleString('en-US')}, in ${closeS.toFixed(1)} s (${(1000 * closeS / closed.invoices.length).toFixed(1)} ms per invoice); ` +
      `ledger: ${sums.map((r) => `${r.n.toLocaleString('en-US')} entries, ${r.currency} lines sum ${r.s}`).join('; ')}`);
  } finally {
    await cp.close();
    if (store === 'postgres') {
      await dropBenchSchema(pgUrl, schema);
    }
  }
}

export async function main(args: string[]): Promise<void> {
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const stores = arg(args, 'stores', 'postgres').split(',') as ('postgres' | 'pglite')[];
  console.log(`invoice bench: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString()}`);
  for (const s of stores) await runStore(s, Number(arg(args, 'leases', '100000')), Number(arg(args, 'tenants', '10000')), pgUrl);
}
