/**
 * Billing over HTTP and in the database, on PGlite and PostgreSQL: usage deduplication (twice,
 * 100 concurrent), bad events refused whole with the field named, the database refusing any
 * change to a final invoice or a posted journal entry, and the lease meter counting each event
 * once with two control planes reading the same log.
 */
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/app/control-plane.js';
import { pgErrorCode } from '../src/store/index.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, TEST_DATABASE_URL, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const rows = (r: unknown): any[] => (r as { rows: any[] }).rows;

describe.each(STORE_KINDS)('billing (%s)', (store) => {
  let s: TestServer;
  let acme: { id: string; key: string };
  let beta: { id: string; key: string };
  const count = async (): Promise<number> => Number(rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n FROM billing_usage_events`))[0].n);
  const ev = (over: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
    specversion: '1.0', id: `e-${Math.random().toString(36).slice(2)}`, source: '/gw', type: 'tokens.input', subject: acme.id, time: iso(s.clock.nowMs()),
    data: { quantity: '1000', unit: 'tokens', model: 'm1', ...data }, ...over,
  });

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() });
    acme = await createTenant(s, 'acme');
    beta = await createTenant(s, 'beta');
    // Usage is accepted only where the tenant has a price for it.
    const tok = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'tokens', start: iso(T0 - 40 * 86_400_000), terms: { prices: { m1: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } } } });
    if (tok.status !== 201) throw new Error(JSON.stringify(tok.body));
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('counts the same event once: sent twice, and sent 100 times concurrently', async () => {
    const before = await count();
    const e = ev({ id: 'dup-1' });
    expect((await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [e] } })).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [e] } })).body).toEqual({ accepted: 0, duplicates: 1 });
    // Twice in one batch: once.
    const f = ev({ id: 'dup-2' });
    expect((await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [f, f] } })).body).toEqual({ accepted: 1, duplicates: 1 });
    // 100 concurrent requests (different Idempotency-Keys) carrying the same event.
    const g = ev({ id: 'dup-3' });
    const answers = await Promise.all(Array.from({ length: 100 }, () => s.call('POST', '/v1/usage', { key: acme.key, body: { events: [g] } })));
    expect(answers.map((a) => a.status).every((st) => st === 200)).toBe(true);
    expect(answers.reduce((a, r) => a + r.body.accepted, 0)).toBe(1);
    // The same source and id from another source is another event.
    expect((await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [{ ...g, source: '/gw-2' }] } })).body.accepted).toBe(1);
    expect(await count()).toBe(before + 4);
    // A retry with the same Idempotency-Key replays the first answer.
    const h = ev({ id: 'dup-4' });
    const first = await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [h] }, idem: 'batch-77' });
    const replay = await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [h] }, idem: 'batch-77' });
    expect(first.body).toEqual({ accepted: 1, duplicates: 0 });
    expect(replay.body).toEqual({ accepted: 1, duplicates: 0 });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('refuses bad events with a 4xx naming the field, and writes nothing of the batch', async () => {
    const now = s.clock.nowMs();
    const cases: [string, unknown, number, string][] = [
      ['missing id', (() => { const e: Record<string, unknown> = ev(); delete e['id']; return e; })(), 400, 'events[1].id'],
      ['unknown type', ev({ type: 'tokens.sideways' }), 400, 'events[1].type'],
      ['gpu.seconds from outside', ev({ type: 'gpu.seconds' }, { unit: 'GPU-s' }), 400, 'events[1].type'],
      ['wrong units', ev({ type: 'egress.gb' }, { unit: 'tokens' }), 400, 'events[1].data.unit'],
      ['far-future time', ev({ time: iso(now + 6 * 60_000) }), 400, 'events[1].time'],
      ['older than the window', ev({ time: iso(now - 36 * 86_400_000) }), 400, 'events[1].time'],
      ['another tenant\'s subject', ev({ subject: beta.id }), 403, 'events[1].subject'],
      ['negative quantity', ev({}, { quantity: '-5' }), 400, 'events[1].data.quantity'],
      ['negative integer quantity', ev({}, { quantity: -5 }), 400, 'events[1].data.quantity'],
      ['fractional beyond micros', ev({}, { quantity: '1.0000001' }), 400, 'events[1].data.quantity'],
      ['tokens without a model', (() => { const e = ev(); delete (e.data as Record<string, unknown>)['model']; return e; })(), 400, 'events[1].data.model'],
      ['unknown field', ev({ colour: 'red' }), 400, 'events[1].colour'],
    ];
    const before = await count();
    for (const [name, bad, status, field] of cases) {
      const r = await s.call('POST', '/v1/usage', { key: acme.key, body: { events: [ev(), bad] } });
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.headers.get('content-type')).toMatch(/problem\+json/);
      expect(r.body.field, name).toBe(field);
      expect(r.body.detail, name).toContain(field);
    }
    // The operator may not invent a tenant either.
    const op = await s.call('POST', '/v1/usage', { body: { events: [ev({ subject: 'ten_nobody' })] } });
    expect([op.status, op.body.field]).toEqual([400, 'events[0].subject']);
    expect(await count()).toBe(before);
  });

  it('a final invoice, its lines and posted journal entries cannot be changed in SQL', async () => {
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: beta.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '500000000', expiresAt: '2027-12-01T00:00:00Z' } } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const invId = c.body.prepaymentInvoiceId as string;
    const db = s.cp.handle.db;
    const refused = async (...qs: ReturnType<typeof sql>[]): Promise<string | undefined> => {
      try {
        await db.transaction(async (tx) => { for (const q of qs) await tx.execute(q); });
        return undefined;
      } catch (err) {
        return pgErrorCode(err);
      }
    };
    const snapshot = async () => JSON.stringify(rows(await db.execute(sql`SELECT i.*, (SELECT json_agg(l ORDER BY line_no) FROM billing_invoice_lines l WHERE l.invoice_id = i.id) AS lines FROM billing_invoices i WHERE id = ${invId}`)));
    const before = await snapshot();
    // Any column of the invoice, any value: refused (fast-check picks them).
    const cols = ['total_micros', 'tenant_id', 'period', 'currency', 'number', 'kind', 'created_at', 'finalized_at'] as const;
    await fc.assert(fc.asyncProperty(fc.constantFrom(...cols), fc.integer({ min: 0, max: 1_000_000 }), async (col, v) => {
      const value = col === 'total_micros' ? sql`${v}::bigint` : col.endsWith('_at') ? sql`now()` : col === 'currency' ? sql`'JPY'` : col === 'kind' ? sql`'monthly'` : sql`${`x${v}`}`;
      expect(await refused(sql`UPDATE billing_invoices SET ${sql.raw(col)} = ${value} WHERE id = ${invId}`)).toBe('NC103');
    }), { numRuns: 16, seed: 11 });
    expect(await refused(sql`UPDATE billing_invoices SET status = 'draft' WHERE id = ${invId}`)).toBe('NC103');
    expect(await refused(sql`DELETE FROM billing_invoices WHERE id = ${invId}`)).toBe('NC103');
    expect(await refused(sql`UPDATE billing_invoice_lines SET amount_micros = 1 WHERE invoice_id = ${invId}`)).toBe('NC103');
    expect(await refused(sql`DELETE FROM billing_invoice_lines WHERE invoice_id = ${invId}`)).toBe('NC103');
    expect(await refused(sql`INSERT INTO billing_invoice_lines (invoice_id, line_no, kind, description, quantity, unit, unit_price_micros, amount_micros, account, service_start, service_end, lease_ids)
      VALUES (${invId}, 99, 'usage', 'x', 0, '', 0, 5, 'cash', now(), now(), '[]'::jsonb)`)).toBe('NC103');
    expect(await snapshot()).toBe(before);
    // Journal: append-only, and an entry that does not balance is refused at commit.
    expect(await refused(sql`UPDATE billing_journal_lines SET amount_micros = amount_micros + 1`)).toBe('NC102');
    expect(await refused(sql`DELETE FROM billing_journal_entries`)).toBe('NC102');
    expect(await refused(sql`INSERT INTO billing_journal_entries (id, kind, ref, currency, effective_at, memo, created_at) VALUES ('je_bad', 'payment', 'x', 'USD', now(), 'x', now())`,
      sql`INSERT INTO billing_journal_lines (entry_id, line_no, account, amount_micros) VALUES ('je_bad', 1, 'cash', 10), ('je_bad', 2, 'receivables', -9)`)).toBe('NC101');
    expect(await refused(sql`INSERT INTO billing_journal_entries (id, kind, ref, currency, effective_at, memo, created_at) VALUES ('je_bad2', 'payment', 'y', 'USD', now(), 'x', now())`)).toBe('NC101');
    // The only change allowed: final → paid by a payment, through the API.
    const paid = await s.call('POST', `/v1/invoices/${invId}/payments`, { body: { amountMicros: '500000000' } });
    expect(paid.body.status).toBe('paid');
    expect(await refused(sql`UPDATE billing_invoices SET paid_micros = 0 WHERE id = ${invId}`)).toBe('NC103');
  });

  it('tenants see only their own contracts, invoices and backlog; the ledger is the operator\'s', async () => {
    const mine = await s.call('GET', '/v1/contracts', { key: acme.key });
    expect(mine.body.contracts.every((c: any) => c.tenantId === acme.id)).toBe(true);
    const inv = await s.call('GET', '/v1/invoices', { key: acme.key });
    expect(inv.body.invoices.every((i: any) => i.tenantId === acme.id)).toBe(true);
    const theirs = (await s.call('GET', '/v1/invoices', { key: beta.key })).body.invoices[0];
    expect((await s.call('GET', `/v1/invoices/${theirs.id}`, { key: acme.key })).status).toBe(404);
    expect((await s.call('GET', '/v1/ledger/trial-balance', { key: acme.key })).status).toBe(403);
    expect((await s.call('POST', '/v1/contracts', { key: acme.key, body: { tenantId: acme.id, kind: 'on-demand', start: iso(T0), terms: {} } })).status).toBe(403);
  });
});

describe.skipIf(!TEST_DATABASE_URL)('the lease meter with two control planes on one PostgreSQL database (PostgreSQL: set TEST_DATABASE_URL)', () => {
  it('meters each lease exactly once, whichever process reads the log, and resumes from its cursor after a restart', async () => {
    const s = await startServer({ store: 'postgres', fleet: smallFleet() });
    let other: ControlPlane | undefined;
    try {
      const acme = await createTenant(s, 'acme');
      // 12 on-demand leases of 1–8 GPUs, released after 1–12 minutes.
      const expected: bigint[] = [];
      for (let i = 0; i < 12; i++) {
        const n = (i % 8) + 1;
        const r = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: n, durationHours: 2 } });
        expect(r.status).toBe(201);
        s.clock.advanceMs((i + 1) * 60_000);
        await s.call('POST', `/v1/leases/${r.body.id}/release`, { key: acme.key, body: {} });
        expected.push(BigInt(n) * BigInt((i + 1) * 60) * 1_000_000n);
      }
      other = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: s.schema, clock: s.clock, adminKey: s.adminKey, initialFleet: false });
      // Both meters at once, several times over.
      await Promise.all([s.cp.billing.meterCatchUp(), other.billing.meterCatchUp(), s.cp.billing.meterCatchUp(), other.billing.meterCatchUp()]);
      const sum = async () => rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n, coalesce(sum(quantity), 0)::text AS q FROM billing_usage_events WHERE type = 'gpu.seconds'`))[0];
      const total = expected.reduce((a, b) => a + b, 0n);
      expect(await sum()).toEqual({ n: 12, q: total.toString() });
      // More events after a "restart" (a new process from the stored cursor): still once.
      await other.close();
      const r = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 2, durationHours: 2 } });
      s.clock.advanceMs(30_000);
      await s.call('POST', `/v1/leases/${r.body.id}/release`, { key: acme.key, body: {} });
      other = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: s.schema, clock: s.clock, adminKey: s.adminKey, initialFleet: false });
      await Promise.all([other.billing.meterCatchUp(), s.cp.billing.meterCatchUp()]);
      expect(await sum()).toEqual({ n: 13, q: (total + 2n * 30n * 1_000_000n).toString() });
      expect(await other.billing.meterCursor()).toBe(await s.cp.eventLog.head());
    } finally {
      await other?.close();
      await s.close();
    }
  }, 60_000);
});
