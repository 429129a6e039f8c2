/**
 * Breaks an outside tester found in issue 18's first build, each fixed with this test failing
 * before: a reserved term covered any number of leases at once; a contract price with no bound let
 * one tenant's month pass what the books hold and fail billing for everyone; a credit note on a
 * paid invoice left a negative, unsettleable "due" of sub-cent precision; small usage totals kept
 * in memory are written once they pass the threshold (carried, never lost). PGlite and PostgreSQL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const H = 3_600_000;
const rows = (r: unknown): any[] => (r as { rows: any[] }).rows;

describe.each(STORE_KINDS)('billing: the outside test\'s breaks (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: smallFleet() }); }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('a reserved term of 8 GPUs covers 8 at a time, not 8 per lease', async () => {
    const t = await createTenant(s, 'res8');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'reserved', start: iso(T0), end: iso(T0 + 90 * 24 * H), terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: '2000000' } } });
    expect(c.status).toBe(201);
    const body = { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1, placement: 'any', class: 'reserved' };
    const a = await s.call('POST', '/v1/leases', { key: t.key, body });
    const b = await s.call('POST', '/v1/leases', { key: t.key, body });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.priceMicrosPerGpuHour).toBe('0');
    expect(b.body.priceMicrosPerGpuHour).not.toBe('0'); // the term's 8 GPUs are in use: list price
    const q = await s.call('POST', '/v1/leases/quote', { key: t.key, body: { ...body, gpuCount: 1 } });
    expect(q.body.priceBasis).toBe('list');
    // Released: the term's GPUs are free again from then on.
    await s.call('POST', `/v1/leases/${a.body.id}/release`, { key: t.key, body: {} });
    s.clock.advanceMs(60_000);
    const later = await s.call('POST', '/v1/leases/quote', { key: t.key, body: { ...body, gpuCount: 8 } });
    expect(later.body.priceBasis).toBe('reserved-term');
    await s.call('POST', `/v1/leases/${b.body.id}/release`, { key: t.key, body: {} });
  });

  it('contract prices are bounded, naming the field (a month past the books would fail its invoice)', async () => {
    const t = await createTenant(s, 'whale');
    const od = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', start: iso(T0), terms: { pricesMicrosPerGpuHour: { H200: '9000000000000000000' } } } });
    expect([od.status, od.body.field]).toEqual([400, 'terms.pricesMicrosPerGpuHour.H200']);
    const res = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'reserved', start: iso(T0), end: iso(T0 + 24 * H), terms: { gpuModel: 'H100-SXM', gpuCount: 1, priceMicrosPerGpuHour: '12000000000000000' } } });
    expect([res.status, res.body.field]).toEqual([400, 'terms.priceMicrosPerGpuHour']);
    const tok = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'tokens', start: iso(T0), terms: { prices: { m1: { inputMicrosPerMillion: '1', outputMicrosPerMillion: '10000000000000' } } } } });
    expect([tok.status, tok.body.field]).toEqual([400, 'terms.prices.m1.outputMicrosPerMillion']);
    // $1,000 per GPU-hour, the list's own bound, is accepted.
    const ok = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', start: iso(T0), terms: { pricesMicrosPerGpuHour: { H200: '1000000000' } } } });
    expect(ok.status).toBe(201);
  });

  it('a credit note past what a paid invoice asked for goes to the credit balance: due is 0, never negative; credit notes and payments are whole cents', async () => {
    const t = await createTenant(s, 'paidup');
    // Credits bought: a final invoice at signing, paid in full.
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '1200000000', expiresAt: iso(T0 + 365 * 24 * H) } } });
    expect(c.status).toBe(201);
    const inv = c.body.prepaymentInvoiceId as string;
    expect((await s.call('POST', `/v1/invoices/${inv}/payments`, { body: { amountMicros: '1' } })).body.field).toBe('amountMicros');
    expect((await s.call('POST', `/v1/invoices/${inv}/payments`, { body: { amountMicros: '1200000000' } })).body.status).toBe('paid');
    expect((await s.call('POST', `/v1/invoices/${inv}/credit-notes`, { body: { amountMicros: '1', reason: 'sub-cent' } })).body.field).toBe('amountMicros');
    const cn = await s.call('POST', `/v1/invoices/${inv}/credit-notes`, { body: { amountMicros: '500000000', reason: 'goodwill' } });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    const after = await s.call('GET', `/v1/invoices/${inv}`);
    expect(after.body.dueMicros).toBe('0');
    // The $500 is owed to the customer: its credit balance account, and the books balance.
    const tb = (await s.call('GET', `/v1/ledger/trial-balance?tenantId=${t.id}`)).body;
    const acct = tb.currencies.flatMap((x: any) => x.accounts).find((a: any) => a.account === 'customer_credit_balance');
    expect(acct?.creditMicros).toBe('500000000');
    expect(tb.currencies.every((x: any) => x.balanced)).toBe(true);
    expect(await s.cp.billing['repo'].creditBalance(t.id)).toBe(500_000_000n);
  });

  it('usage below the sync threshold is carried in memory and written, whole, once it passes it', async () => {
    const t = await createTenant(s, 'tokens-co');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'tokens', start: iso(T0), terms: { prices: { m1: { inputMicrosPerMillion: '1', outputMicrosPerMillion: '1' } } } } });
    expect(c.status).toBe(201);
    let n = 0;
    const send = (tokens: string) => s.call('POST', '/v1/usage', { key: t.key, body: { events: [{ specversion: '1.0', id: `sync-${n++}`, source: '/gw', type: 'tokens.input', subject: t.id, time: iso(s.clock.nowMs()), data: { quantity: tokens, unit: 'tokens', model: 'm1' } }] } });
    const stored = async (): Promise<string | null> => rows(await s.cp.handle.db.execute(sql`SELECT quantity::text AS q FROM billing_usage_totals WHERE tenant_id = ${t.id} AND type = 'tokens.input'`))[0]?.q ?? null;
    // 4 × 10^8 tokens = 4 × 10^14 micro-tokens each: the threshold is 10^15.
    expect((await send('400000000')).status).toBe(200);
    expect((await send('400000000')).status).toBe(200);
    expect(await stored()).toBeNull();
    expect((await send('400000000')).status).toBe(200);
    expect(await stored()).toBe('1200000000000000');
  });
});

describe.each(STORE_KINDS)('billing contracts are append-only in SQL (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: smallFleet() }); }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('a contract version cannot be updated, deleted or truncated; amending adds a version', async () => {
    const t = await createTenant(s, 'ctr-guard');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', start: iso(T0), terms: { discountBps: 1000 } } });
    expect(c.status).toBe(201);
    for (const stmt of [
      sql`UPDATE billing_contracts SET terms = '{"discountBps":9000}'::jsonb WHERE id = ${c.body.id}`,
      sql`DELETE FROM billing_contracts WHERE id = ${c.body.id}`,
      sql`TRUNCATE billing_contracts CASCADE`,
    ]) await expect(s.cp.handle.db.execute(stmt)).rejects.toThrow();
    const v2 = await s.call('POST', `/v1/contracts/${c.body.id}/versions`, { body: { terms: { discountBps: 500 } } });
    expect(v2.status, JSON.stringify(v2.body)).toBe(201);
    expect(rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n FROM billing_contracts WHERE id = ${c.body.id}`))[0].n).toBe(2);
  });
});

describe.each(STORE_KINDS)('an issued invoice keeps its addressee and terms (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: smallFleet() }); }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('a billing profile changed after an invoice is final does not rewrite it; SQL cannot either', async () => {
    const t = await createTenant(s, 'addressed');
    const p1 = await s.call('PATCH', `/v1/tenants/${t.id}/billing-profile`, { body: { legalName: 'First Corp', paymentTermsDays: 30 }, headers: { 'idempotency-key': 'bp-1' } });
    expect(p1.status, JSON.stringify(p1.body)).toBe(200);
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '1000000', expiresAt: iso(T0 + 365 * 24 * H) } } });
    const inv = c.body.prepaymentInvoiceId as string;
    const before = (await s.call('GET', `/v1/invoices/${inv}`)).body;
    expect([before.customer.name, before.paymentTermsDays]).toEqual(['First Corp', 30]);
    const p2 = await s.call('PATCH', `/v1/tenants/${t.id}/billing-profile`, { body: { legalName: 'Renamed Corp', paymentTermsDays: 90 }, headers: { 'idempotency-key': 'bp-2' } });
    expect(p2.status).toBe(200);
    const after = (await s.call('GET', `/v1/invoices/${inv}`)).body;
    expect([after.customer.name, after.paymentTermsDays, after.dueAt]).toEqual(['First Corp', 30, before.dueAt]);
    await expect(s.cp.handle.db.execute(sql`UPDATE billing_invoices SET bill_to = '{}'::jsonb WHERE id = ${inv}`)).rejects.toThrow();
  });
});

describe.each(STORE_KINDS)('accepted usage stays billable (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: smallFleet() }); }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('an amendment that would take away the price of usage not yet invoiced is refused, naming the price; keeping it is accepted', async () => {
    const t = await createTenant(s, 'amender');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'tokens', start: iso(T0), terms: { prices: { m1: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } } } });
    expect(c.status).toBe(201);
    const u = await s.call('POST', '/v1/usage', { key: t.key, body: { events: [{ specversion: '1.0', id: 'a-1', source: '/gw', type: 'tokens.input', subject: t.id, time: iso(s.clock.nowMs()), data: { quantity: '1000', unit: 'tokens', model: 'm1' } }] } });
    expect(u.status).toBe(200);
    const drop = await s.call('POST', `/v1/contracts/${c.body.id}/versions`, { body: { terms: { prices: { m2: { inputMicrosPerMillion: '1', outputMicrosPerMillion: '1' } } } } });
    expect([drop.status, drop.body.field]).toEqual([409, 'terms.prices.m1']);
    const keep = await s.call('POST', `/v1/contracts/${c.body.id}/versions`, { body: { terms: { prices: { m1: { inputMicrosPerMillion: '400000', outputMicrosPerMillion: '1500000' }, m2: { inputMicrosPerMillion: '1', outputMicrosPerMillion: '1' } } } } });
    expect(keep.status, JSON.stringify(keep.body)).toBe(201);
  });
});
