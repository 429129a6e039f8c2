/**
 * POST /v1/leases/quote: what POST /v1/leases would do now, without doing it. The quote is
 * checked against the create that follows it (same window, price, node count and preemptions)
 * and against the state around it (the lease list, free capacity and the event log unchanged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

let s: TestServer;
let acme: { id: string; key: string };
beforeAll(async () => {
  s = await startServer({ fleet: smallFleet() }); // 64 H100 GPUs: 2 fabrics × 4 nodes × 8
  acme = await createTenant(s, 'acme');
});
afterAll(async () => s?.close());

const body = (over: Record<string, unknown>) => ({ gpuModel: 'H100-SXM', durationHours: 2, ...over });
const quote = (over: Record<string, unknown>, key = acme.key) => s.call('POST', '/v1/leases/quote', { key, body: body(over), idem: null });
const create = (over: Record<string, unknown>, key = acme.key) => s.call('POST', '/v1/leases', { key, body: body(over) });
/** Everything a quote must leave as it was. */
const snapshot = async () => ({
  leases: (await s.call('GET', '/v1/leases?limit=500')).body.leases.map((l: { id: string; state: string }) => [l.id, l.state]),
  capacity: (await s.call('GET', '/v1/capacity?gpuModel=H100-SXM')).body,
  events: (await s.call('GET', '/v1/events?limit=1000')).body.events.length,
});

describe('lease quotes', () => {
  it('says what a create would do, and changes nothing', async () => {
    const before = await snapshot();
    const q = await quote({ gpuCount: 16, placement: 'same-fabric' });
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    expect(await snapshot()).toEqual(before);
    const c = await create({ gpuCount: 16, placement: 'same-fabric' });
    expect(c.status).toBe(201);
    expect(q.body).toMatchObject({
      outcome: 'placed', gpuCount: 16, start: c.body.start, end: c.body.end, preemptedAt: null,
      priceMicrosPerGpuHour: c.body.priceMicrosPerGpuHour, totalMicros: c.body.totalMicros, nodes: c.body.nodes.length, preempts: 0, largestSatisfiable: null,
    });
  });

  it('a request that does not fit: refused, with the largest that fits, as the create\'s 409 says', async () => {
    const q = await quote({ gpuCount: 64 });
    const c = await create({ gpuCount: 64 });
    expect(c.status).toBe(409);
    expect(q.body).toMatchObject({ outcome: 'refused', largestSatisfiable: c.body.largestSatisfiable, totalMicros: '0' });
    expect(q.body.detail).toContain('largest request that fits');
    // Queued instead, when asked.
    expect((await quote({ gpuCount: 64, queue: true })).body.outcome).toBe('queued');
  });

  it('an on-demand request on a fleet full of spot work: the quote names the preemptions the create then makes', async () => {
    const spot = await create({ gpuCount: 48, class: 'spot' });
    expect(spot.status).toBe(201);
    const before = await snapshot();
    const q = await quote({ gpuCount: 8 });
    expect(await snapshot()).toEqual(before);
    expect(q.body).toMatchObject({ outcome: 'placed', preempts: 1 });
    const c = await create({ gpuCount: 8 });
    expect(c.status).toBe(201);
    expect(q.body).toMatchObject({ start: c.body.start, end: c.body.end, totalMicros: c.body.totalMicros });
    expect((await s.call('GET', `/v1/leases/${spot.body.id}`, { key: acme.key })).body.state).toBe('preempting');
  });

  it('is the caller\'s: a tenant cannot quote for another tenant; bad input is a 400 naming the field', async () => {
    const other = await createTenant(s, 'other');
    const q = await quote({ gpuCount: 1, tenantId: other.id });
    expect([400, 403]).toContain(q.status);
    const bad = await quote({ gpuCount: 0 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('gpuCount');
    expect((await s.call('POST', '/v1/leases/quote', { key: null, body: body({ gpuCount: 1 }), idem: null })).status).toBe(401);
  });
});
