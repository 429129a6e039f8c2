/**
 * Issue 18, findings 8 and 9 (bills a person can read; the README's usage file), over HTTP on
 * PGlite and PostgreSQL: a draft follows the event log with no operator refresh and is not
 * re-rated when nothing changed; the Billing page's headline and its invoice row are one field;
 * lines carry display quantities in the unit their price is per; the billing profile is
 * validated and idempotent; the Revenue page's accrued money comes from the drafts; a reserved
 * contract carries its value; examples/usage.json is accepted. Time is the injected clock.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BillingRepo } from '../src/billing/index.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, type TestServer } from './helpers.js';

const MIN = 60_000;
/** num/den rounded half-even to the cent, in micros: what an invoice line holds (computed here independently). */
const toCent = (num: bigint, den: bigint): bigint => {
  const d = den * 10_000n;
  let q = num / d;
  const r2 = (num % d) * 2n;
  if (r2 > d || (r2 === d && q % 2n === 1n)) q += 1n;
  return q * 10_000n;
};

describe.each(STORE_KINDS)('bills a person can read (%s)', (store) => {
  let s: TestServer;
  let acme: { id: string; key: string };
  let beta: { id: string; key: string };
  const patch = (path: string, body: unknown, o: { key?: string; idem?: string | null } = {}) =>
    s.call('PATCH', path, { body, ...(o.key ? { key: o.key } : {}), headers: o.idem === null ? {} : { 'idempotency-key': o.idem ?? `p-${Math.random()}` } });

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() });
    acme = await createTenant(s, 'acme');
    beta = await createTenant(s, 'beta');
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('the draft follows the log: spend to date is the running lease\'s money up to now, with no operator refresh; headline and row are one field', async () => {
    const lease = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 4 } });
    expect(lease.status).toBe(201);
    await s.cp.leases.sweep();
    const price = BigInt(lease.body.priceMicrosPerGpuHour);
    // An operator refresh 10 minutes in (what `serve` did every 10 minutes), then 30 more minutes pass.
    s.clock.advanceMs(10 * MIN);
    await s.call('POST', '/v1/invoices/refresh', { body: {} });
    s.clock.advanceMs(30 * MIN);
    const expected = toCent(8n * price * BigInt(40 * MIN), 3_600_000n);
    // The tenant's listing brings its draft to now too (it stood at 10 minutes).
    const list = await s.call('GET', '/v1/invoices?status=draft', { key: acme.key });
    const draftId = list.body.invoices[0].id as string;
    expect(list.body.invoices[0].totalMicros).toBe(expected.toString());
    // Reading the draft brings it to now (it stood at 10 minutes before).
    const draft = await s.call('GET', `/v1/invoices/${draftId}`, { key: acme.key });
    expect(draft.body.totalMicros).toBe(expected.toString());
    // The Billing page's one answer: the headline and the invoice row are the same number.
    s.clock.advanceMs(MIN);
    const sum = await s.call('GET', '/v1/billing/summary', { key: acme.key });
    expect(sum.status).toBe(200);
    const at41 = toCent(8n * price * BigInt(41 * MIN), 3_600_000n);
    expect(sum.body.spendToDateMicros).toBe(at41.toString());
    expect(sum.body.draft.totalMicros).toBe(at41.toString());
    expect(sum.body.invoices.find((i: { id: string }) => i.id === draftId).totalMicros).toBe(sum.body.spendToDateMicros);
    expect(sum.body.usageMicros).toBe(at41.toString());
    // Quantities in the unit the price is per: 8 GPUs × 41 min = 5.4667 GPU-h at $x per GPU-h.
    const line = sum.body.draft.lines.find((l: { kind: string }) => l.kind === 'usage');
    expect(line).toMatchObject({ quantity: (8n * 41n * 60n * 1_000_000n).toString(), unit: 'GPU-s', displayQuantity: '5.4667', displayUnit: 'GPU-h', priceUnit: 'per GPU-h', unitPriceMicros: price.toString() });
    // Nothing was written for the running time: the meter writes it when the lease stops.
    expect((await s.call('GET', '/v1/usage', { key: acme.key })).body.usage).toEqual([]);
    // A tenant cannot read another's summary; the operator names the tenant.
    expect((await s.call('GET', `/v1/billing/summary?tenantId=${acme.id}`, { key: beta.key })).body.tenantId).toBe(beta.id);
    expect((await s.call('GET', '/v1/billing/summary')).status).toBe(400);
    expect((await s.call('GET', `/v1/billing/summary?tenantId=${acme.id}`)).body.spendToDateMicros).toBe(at41.toString());
    // The Revenue page's accrued money: the drafts' on-demand lines, per account.
    const accrued = await s.call('GET', '/v1/billing/accrued');
    expect(accrued.status).toBe(200);
    const usd = accrued.body.currencies.find((c: { currency: string }) => c.currency === 'USD');
    expect(usd.accounts).toContainEqual({ account: 'revenue:on-demand:H100-SXM', class: 'on-demand', model: 'H100-SXM', amountMicros: at41.toString(), tenants: 1 });
    expect((await s.call('GET', '/v1/billing/accrued', { key: acme.key })).status).toBe(403);
    await s.call('POST', `/v1/leases/${lease.body.id}/release`, { key: acme.key, body: {} });
  });

  it('a draft with nothing new is not rated again; new usage is', async () => {
    await s.call('POST', '/v1/contracts', { body: { tenantId: beta.id, kind: 'tokens', start: new Date(s.clock.nowMs() - MIN).toISOString(), terms: { prices: { m1: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } } } });
    const send = (id: string) => s.call('POST', '/v1/usage', { key: beta.key, body: { events: [{ id, source: '/gw', type: 'tokens.input', subject: beta.id, time: new Date(s.clock.nowMs()).toISOString(), data: { quantity: '1000000', unit: 'tokens', model: 'm1' } }] } });
    expect((await send('r-1')).status).toBe(200);
    const period = new Date(s.clock.nowMs()).toISOString().slice(0, 7);
    const writes = vi.spyOn(BillingRepo.prototype, 'writeLines');
    try {
      const first = await s.cp.billing.refreshDraft(beta.id, period);
      expect(first?.totalMicros).toBe(500_000n);
      expect(writes).toHaveBeenCalledTimes(1);
      s.clock.advanceMs(5 * MIN);
      expect((await s.cp.billing.refreshDraft(beta.id, period))?.totalMicros).toBe(500_000n);
      expect(writes).toHaveBeenCalledTimes(1);
      expect((await send('r-2')).status).toBe(200);
      expect((await s.cp.billing.refreshDraft(beta.id, period))?.totalMicros).toBe(1_000_000n);
      expect(writes).toHaveBeenCalledTimes(2);
    } finally {
      writes.mockRestore();
    }
  });

  it('billing profile: operator sets it (validated, idempotent), the tenant reads its own, the invoice is addressed from it', async () => {
    const path = `/v1/tenants/${acme.id}/billing-profile`;
    const bad = await patch(path, { country: 'usa' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.stringify(bad.body)).toContain('country');
    const badTerms = await patch(path, { paymentTermsDays: 400 });
    expect(badTerms.status).toBe(400);
    expect(JSON.stringify(badTerms.body)).toContain('paymentTermsDays');
    expect((await patch(path, { legalName: 'x\u0000y' })).status).toBe(400);
    expect((await patch(path, { city: 'Osaka' }, { idem: null })).status).toBe(400);
    expect((await patch(path, { city: 'Osaka' }, { key: acme.key })).status).toBe(403);
    expect((await patch(`/v1/tenants/ten_nope/billing-profile`, { city: 'Osaka' })).status).toBe(404);
    const set = await patch(path, { legalName: 'Acme KK', addressLines: ['1-1 Umeda'], city: 'Osaka', postalCode: '530-0001', country: 'JP', taxId: 'T1234567890123' }, { idem: 'prof-1' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ tenantId: acme.id, tenantName: 'acme', legalName: 'Acme KK', country: 'JP', paymentTermsDays: 30 });
    const replay = await patch(path, { legalName: 'Acme KK', addressLines: ['1-1 Umeda'], city: 'Osaka', postalCode: '530-0001', country: 'JP', taxId: 'T1234567890123' }, { idem: 'prof-1' });
    expect(replay.body).toEqual(set.body);
    // PATCH: only the fields given change; null clears one.
    const cleared = await patch(path, { taxId: null, paymentTermsDays: 14 });
    expect(cleared.body).toMatchObject({ legalName: 'Acme KK', taxId: null, paymentTermsDays: 14 });
    expect((await s.call('GET', path, { key: acme.key })).body.legalName).toBe('Acme KK');
    expect((await s.call('GET', path, { key: beta.key })).status).toBe(404);
    const inv = (await s.call('GET', '/v1/invoices', { key: acme.key })).body.invoices[0];
    const detail = await s.call('GET', `/v1/invoices/${inv.id}`, { key: acme.key });
    expect(detail.body).toMatchObject({ customer: { tenantId: acme.id, name: 'Acme KK', city: 'Osaka', country: 'JP' }, seller: { name: 'neocloud' }, paymentTermsDays: 14, issuedAt: null, dueAt: null });
    const html = await s.call('GET', `/v1/invoices/${inv.id}/html`, { key: acme.key });
    expect(html.body).toContain('Acme KK');
    expect(html.body).toContain('530-0001 Osaka');
    expect(html.body).toContain('not issued (draft)');
  });

  it('a reserved contract carries its whole value, rounded as its invoices round', async () => {
    const start = Date.parse('2027-02-01T00:00:00Z');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'reserved', start: new Date(start).toISOString(), end: '2027-03-01T00:00:00Z', terms: { gpuModel: 'H100-SXM', gpuCount: 3, priceMicrosPerGpuHour: '2333333' } } });
    expect(c.status).toBe(201);
    // 3 × $2.333333 × 672 h = $4,703.999328 → $4,704.00
    expect(c.body.valueMicros).toBe('4704000000');
    expect((await s.call('GET', '/v1/contracts', { key: acme.key })).body.contracts.find((x: { id: string }) => x.id === c.body.id).valueMicros).toBe('4704000000');
  });

  it('examples/usage.json (the README\'s file) is accepted for a tenant by `usage send`\'s rules', async () => {
    const file = JSON.parse(readFileSync(new URL('../examples/usage.json', import.meta.url), 'utf8')) as { events: Record<string, unknown>[] };
    // The README prices the file's model first (a tokens contract), as here.
    expect((await s.call('POST', '/v1/contracts', { body: { tenantId: beta.id, kind: 'tokens', start: new Date(s.clock.nowMs() - MIN).toISOString(), terms: { prices: { 'llama-3.1-70b': { inputMicrosPerMillion: '600000', outputMicrosPerMillion: '800000' } } } } })).status).toBe(201);
    // What the CLI sends: each event's subject is the caller's tenant and a missing time is now.
    const events = file.events.map((e) => ({ ...e, subject: e['subject'] ?? beta.id, time: e['time'] ?? new Date(s.clock.nowMs()).toISOString() }));
    const r = await s.call('POST', '/v1/usage', { key: beta.key, body: { events } });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(events.length);
  });
});
