/**
 * The rate card through the API (issue 18, finding 1): a JPY tenant is quoted and leased in yen and
 * refused, naming the model, where it has no yen price; a tenant's currency cannot change under
 * leases that are not yet invoiced; preemption weighs victims by what they really pay (their
 * contract price), not by the list. On PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const H = 3_600_000;

describe.each(STORE_KINDS)('rate card over the API (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: smallFleet() }); }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('a JPY tenant is quoted, leased and shown in yen; without a yen price it is refused naming gpuModel', async () => {
    const t = await createTenant(s, 'yen-co');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', currency: 'JPY', start: iso(T0 - H), terms: { pricesMicrosPerGpuHour: { 'H100-SXM': '375500000' } } } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const body = { gpuModel: 'H100-SXM', gpuCount: 8, class: 'on-demand', placement: 'any', durationHours: 1.5 };
    const q = await s.call('POST', '/v1/leases/quote', { key: t.key, body });
    // 8 × 1.5 h × ¥375.5 = ¥4,506 (never the USD list's $29.88)
    expect(q.body).toMatchObject({ currency: 'JPY', priceMicrosPerGpuHour: '375500000', totalMicros: '4506000000', priceBasis: 'negotiated' });
    const l = await s.call('POST', '/v1/leases', { key: t.key, body });
    expect(l.body).toMatchObject({ currency: 'JPY', priceMicrosPerGpuHour: '375500000', totalMicros: '4506000000' });
    const spot = await s.call('POST', '/v1/leases/quote', { key: t.key, body: { ...body, class: 'spot' } });
    expect(spot.status).toBe(409);
    expect(spot.body.field).toBe('gpuModel');
    expect(spot.body.detail).toMatch(/JPY.*spot.*H100-SXM/);
    await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: t.key, body: {} });
  });

  it('a contract in another currency is refused while the tenant has leases in its old one not yet invoiced', async () => {
    const t = await createTenant(s, 'usd-co');
    const l = await s.call('POST', '/v1/leases', { key: t.key, body: { gpuModel: 'H100-SXM', gpuCount: 1, class: 'on-demand', placement: 'any', durationHours: 1 } });
    expect(l.body.currency).toBe('USD');
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', currency: 'JPY', start: iso(T0), terms: { pricesMicrosPerGpuHour: { 'H100-SXM': '375500000' } } } });
    expect(c.status).toBe(409);
    expect(c.body.field).toBe('currency');
    await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: t.key, body: {} });
  });

  it('preemption cuts the spot lease that pays less, as its contract prices it (not the list)', async () => {
    // Two spot tenants fill the 64 GPUs, 32 each: one at a negotiated $0.50, one at a negotiated
    // $3.00 (the list is $1.35 for both). An on-demand request for 8 GPUs must cut one of them.
    for (const cheapFirst of [true, false]) {
      const a = await createTenant(s, `spot-a-${cheapFirst}`);
      const b = await createTenant(s, `spot-b-${cheapFirst}`);
      const price = (cheap: boolean): string => (cheap ? '500000' : '3000000');
      for (const [t, cheap] of [[a, cheapFirst], [b, !cheapFirst]] as const) {
        const r = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'spot', start: iso(T0 - H), terms: { pricesMicrosPerGpuHour: { 'H100-SXM': price(cheap) } } } });
        expect(r.status).toBe(201);
      }
      const spotBody = { gpuModel: 'H100-SXM', gpuCount: 32, class: 'spot', placement: 'any', durationHours: 4 };
      const la = await s.call('POST', '/v1/leases', { key: a.key, body: spotBody });
      const lb = await s.call('POST', '/v1/leases', { key: b.key, body: spotBody });
      expect([la.status, lb.status], JSON.stringify([la.body, lb.body])).toEqual([201, 201]);
      expect([la.body.priceMicrosPerGpuHour, lb.body.priceMicrosPerGpuHour]).toEqual([price(cheapFirst), price(!cheapFirst)]);
      const buyer = await createTenant(s, `buyer-${cheapFirst}`);
      const od = await s.call('POST', '/v1/leases', { key: buyer.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, class: 'on-demand', placement: 'any', durationHours: 1 } });
      expect(od.status, JSON.stringify(od.body)).toBe(201);
      const after = async (id: string, key: string) => (await s.call('GET', `/v1/leases/${id}`, { key })).body;
      const [va, vb] = [await after(la.body.id, a.key), await after(lb.body.id, b.key)];
      const cheapView = cheapFirst ? va : vb;
      const dearView = cheapFirst ? vb : va;
      expect(cheapView.preemptedAt, 'the cheaper spot lease is cut').not.toBeNull();
      expect(dearView.preemptedAt, 'the dearer one is spared').toBeNull();
      // Clean up: everything released so the next round starts from an empty fleet.
      for (const [id, key] of [[la.body.id, a.key], [lb.body.id, b.key], [od.body.id, buyer.key]] as const) await s.call('POST', `/v1/leases/${id}/release`, { key, body: {} });
      s.clock.advanceMs(10 * H);
      await s.cp.leases.sweep();
    }
  });
});
