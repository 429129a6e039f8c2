/**
 * Crash safety of billing (issue 11): a real `neocloud serve` process on PostgreSQL is killed
 * with SIGKILL while batches of usage are being ingested, restarted, and killed again while a
 * month is being closed; then the month is closed again. Checked from the stored rows, not from
 * the mechanisms meant to ensure them:
 * - every event of every acknowledged batch is stored, once; batches cut off by the kill, retried
 *   with their Idempotency-Key, add each event once;
 * - after the interrupted close and the second close, every tenant has exactly one final invoice
 *   for the month, every event of the month is on its tenant's invoice, the invoice equals its
 *   lines and the lines equal the events priced by hand, each invoice posted exactly one journal
 *   entry, and every entry balances.
 * PostgreSQL only (a database of its own, created and dropped here: the server process uses that
 * database's public schema, never the shared test database's). Skipped without TEST_DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { killSurvivors, spawnServer, type ServerProcess } from './server-process.js';

const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] || undefined;
const ADMIN_KEY = 'nc_adm_billing-crash-admin-key-0123456789abcdefghijklmn';
const TENANTS = 120;
const BATCH = 400;
const WORKERS = 6;
const DAY = 86_400_000;

interface Answer { status: number; body: any }
async function call(url: string, method: string, path: string, o: { body?: unknown; idem?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  if (o.idem !== undefined) headers['idempotency-key'] = o.idem;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: o.body === undefined ? null : JSON.stringify(o.body), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe.skipIf(!TEST_DATABASE_URL)(`billing: SIGKILL mid-ingestion and mid-close (PostgreSQL${TEST_DATABASE_URL ? '' : ': skipped, set TEST_DATABASE_URL'})`, () => {
  let dbName: string | null = null;
  const admin = (): pg.Client => new pg.Client({ connectionString: TEST_DATABASE_URL });
  afterAll(async () => {
    await killSurvivors();
    if (dbName) {
      const c = admin();
      await c.connect();
      try { await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`); } finally { await c.end(); }
    }
  });

  it('loses no acknowledged event and posts nothing twice', { timeout: 240_000 }, async () => {
    dbName = `nc_billing_crash_${randomBytes(6).toString('hex')}`;
    const c0 = admin();
    await c0.connect();
    try { await c0.query(`CREATE DATABASE "${dbName}"`); } finally { await c0.end(); }
    const u = new URL(TEST_DATABASE_URL!);
    u.pathname = `/${dbName}`;
    const env = { NEOCLOUD_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'warn', DATABASE_URL: u.toString() };
    const q = async <T = any>(text: string, params?: unknown[]): Promise<T[]> => {
      const db = new pg.Client({ connectionString: u.toString() });
      await db.connect();
      try { return (await db.query(text, params)).rows as T[]; } finally { await db.end(); }
    };

    let server: ServerProcess = await spawnServer({ env });
    // Tenants, each with token prices: input $0.50/M, output $1.50/M.
    const tenants: string[] = [];
    for (let i = 0; i < TENANTS; i++) {
      const t = await call(server.url, 'POST', '/v1/tenants', { body: { name: `crash-${i}` }, idem: `t-${i}` });
      expect(t.status).toBe(201);
      tenants.push(t.body.tenant.id);
      const k = await call(server.url, 'POST', '/v1/contracts', { idem: `c-${i}`, body: {
        tenantId: t.body.tenant.id, kind: 'tokens', start: '2026-01-01T00:00:00Z', terms: { prices: { m: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } },
      } });
      expect(k.status).toBe(201);
    }

    // The month to close: the last one that ended (its events are within the 35-day window only near its end).
    const now = new Date();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
    const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const period = new Date(monthStart).toISOString().slice(0, 7);
    const oldest = Math.max(monthStart, Date.now() - 34 * DAY);
    let n = 0;
    const batch = (k: number) => Array.from({ length: BATCH }, (_, j) => {
      const i = n++;
      const t = oldest + ((i * 7_919) % Math.max(1, Date.now() - oldest - 60_000));
      return {
        id: `e-${i}`, source: '/crash', type: i % 3 === 0 ? 'tokens.output' : 'tokens.input', subject: tenants[(k + j) % TENANTS],
        time: new Date(t).toISOString(), data: { quantity: String(1_000 + (i % 997)), unit: 'tokens', model: 'm' },
      };
    });

    // ---- first life: ingestion until the kill
    const acked: { events: any[] }[] = [];
    const cut: { idem: string; events: any[] }[] = [];
    let sent = 0;
    let killing = false;
    const killAt = 12 + Math.floor(Math.random() * 10);
    await Promise.all(Array.from({ length: WORKERS }, async () => {
      while (!killing && sent < 200) {
        const k = sent++;
        const events = batch(k);
        // Every fifth batch repeats 20 events of an acknowledged one.
        if (k % 5 === 4 && acked.length) events.splice(0, 20, ...acked[acked.length - 1]!.events.slice(0, 20));
        const idem = `b-${k}`;
        try {
          const r = await call(server.url, 'POST', '/v1/usage', { body: { events }, idem });
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          expect(r.body.accepted + r.body.duplicates).toBe(events.length);
          acked.push({ events });
          if (acked.length === killAt && !killing) { killing = true; await server.kill9(); }
        } catch (err) {
          if (!killing) throw err;
          cut.push({ idem, events });
        }
      }
    }));
    expect(killing).toBe(true);

    // ---- second life: everything acknowledged is there, once; cut-off batches retried take effect once
    server = await spawnServer({ env });
    const stored = new Set((await q<{ id: string }>(`SELECT id FROM billing_usage_events WHERE source = '/crash'`)).map((r) => r.id));
    const missing = acked.flatMap((b) => b.events.map((e) => e.id)).filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    for (const b of cut) {
      const r = await call(server.url, 'POST', '/v1/usage', { body: { events: b.events }, idem: b.idem });
      expect(r.status).toBe(200);
    }
    const all = [...acked, ...cut].flatMap((b) => b.events);
    const distinct = new Map(all.map((e) => [e.id, e]));
    const rows = await q<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM billing_usage_events WHERE source = '/crash'`);
    expect(rows[0]).toEqual({ n: distinct.size, d: distinct.size });

    // ---- the close, killed once invoices start to be final
    const closing = call(server.url, 'POST', '/v1/invoices/close', { body: { period }, idem: 'close-1' }).catch(() => null);
    for (let i = 0; i < 2_000; i++) {
      const [r] = await q<{ f: number }>(`SELECT count(*)::int AS f FROM billing_invoices WHERE kind = 'monthly' AND status = 'final'`);
      if ((r?.f ?? 0) > 0) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    await server.kill9();
    const before = (await q<{ f: number }>(`SELECT count(*)::int AS f FROM billing_invoices WHERE kind = 'monthly' AND status = 'final'`))[0]!.f;
    await closing;
    server = await spawnServer({ env });
    const again = await call(server.url, 'POST', '/v1/invoices/close', { body: { period }, idem: 'close-2' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await server.stop();

    // ---- the books, from the rows
    const inMonth = [...distinct.values()].filter((e) => Date.parse(e.time) < monthEnd);
    const byTenant = new Map<string, any[]>();
    for (const e of inMonth) byTenant.set(e.subject, [...(byTenant.get(e.subject) ?? []), e]);
    const invs = await q<{ id: string; tenant_id: string; status: string; total_micros: string }>(`SELECT id, tenant_id, status, total_micros::text FROM billing_invoices WHERE kind = 'monthly' AND period = $1`, [period]);
    expect(invs.length).toBe(byTenant.size);
    expect(new Set(invs.map((i) => i.tenant_id)).size).toBe(invs.length);
    expect(invs.every((i) => i.status === 'final')).toBe(true);
    const attached = await q<{ id: string; tenant_id: string; invoice_id: string | null }>(`SELECT id, tenant_id, invoice_id FROM billing_usage_events WHERE source = '/crash' AND time < $1`, [new Date(monthEnd).toISOString()]);
    const invOf = new Map(invs.map((i) => [i.tenant_id, i.id]));
    expect(attached.filter((r) => r.invoice_id !== invOf.get(r.tenant_id))).toEqual([]);
    for (const inv of invs) {
      // Priced by hand: input $0.50 and output $1.50 per million, each line rounded half-even to the cent.
      const evs = byTenant.get(inv.tenant_id)!;
      const line = (type: string, price: bigint): bigint => {
        const tokens = evs.filter((e) => e.type === type).reduce((a, e) => a + BigInt(e.data.quantity), 0n);
        const exact = tokens * price; // micro-dollars × 10^6
        const cents = exact / 10_000_000_000n;
        const rest = exact % 10_000_000_000n;
        return (rest * 2n > 10_000_000_000n || (rest * 2n === 10_000_000_000n && cents % 2n === 1n) ? cents + 1n : cents) * 10_000n;
      };
      expect(BigInt(inv.total_micros)).toBe(line('tokens.input', 500_000n) + line('tokens.output', 1_500_000n));
    }
    const lineSums = await q<{ id: string; t: string; s: string }>(`SELECT i.id, i.total_micros::text AS t, coalesce(sum(l.amount_micros), 0)::text AS s FROM billing_invoices i LEFT JOIN billing_invoice_lines l ON l.invoice_id = i.id GROUP BY i.id`);
    expect(lineSums.filter((r) => r.t !== r.s)).toEqual([]);
    const posted = await q<{ ref: string; n: number }>(`SELECT ref, count(*)::int AS n FROM billing_journal_entries WHERE kind = 'invoice' GROUP BY ref`);
    const allInvoices = await q<{ id: string }>(`SELECT id FROM billing_invoices WHERE status <> 'draft'`);
    expect(posted.length).toBe(allInvoices.length);
    expect(posted.every((p) => p.n === 1)).toBe(true);
    const unbalanced = await q(`SELECT entry_id FROM billing_journal_lines GROUP BY entry_id HAVING sum(amount_micros) <> 0`);
    expect(unbalanced).toEqual([]);
    console.log(`billing crash: ${acked.length} batches acknowledged before the kill, ${cut.length} cut off and retried, ${distinct.size} distinct events; ` +
      `close killed with ${before} of ${invs.length} invoices final, finished by the second close`);
  });
});
