/** Queued lease requests over the HTTP API: wait for capacity instead of a 409. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
let s: TestServer;
let acme: { id: string; key: string };
let beta: { id: string; key: string };

beforeAll(async () => {
  s = await startServer({ fleet: smallFleet() }); // 64 H100 GPUs: 2 fabrics × 4 nodes × 8
  acme = await createTenant(s, 'acme');
  beta = await createTenant(s, 'beta');
});
afterAll(async () => s?.close());

const lease = (key: string, body: Record<string, unknown>, idem?: string) =>
  s.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', durationHours: 1, ...body }, ...(idem ? { idem } : {}) });
const get = (key: string, id: string) => s.call('GET', `/v1/leases/${id}`, { key });
const release = (key: string, id: string) => s.call('POST', `/v1/leases/${id}/release`, { key, body: {} });

describe('queued requests', () => {
  it('wait for capacity (202, queued) and take the GPUs a release frees; the window starts then', async () => {
    const all = await lease(acme.key, { gpuCount: 64, durationHours: 10 });
    expect(all.status).toBe(201);
    expect((await lease(beta.key, { gpuCount: 16 })).status).toBe(409);
    const q = await lease(beta.key, { gpuCount: 16, durationHours: 2, queue: true }, 'q-1');
    expect(q.status).toBe(202);
    expect(q.body).toMatchObject({ state: 'queued', gpus: [], nodes: [], queuedUntil: iso(s.clock.nowMs() + 24 * H) });
    // The retry replays the same request; nobody else sees it.
    const again = await lease(beta.key, { gpuCount: 16, durationHours: 2, queue: true }, 'q-1');
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(q.body.id);
    expect((await get(acme.key, q.body.id)).status).toBe(404);
    const st = await s.call('GET', '/v1/scheduler/status');
    expect(st.body.queue).toMatchObject({ queuedRequests: 1, queuedGpus: 16, oldestQueuedSince: q.body.createdAt });

    s.clock.advanceMs(H);
    // Nothing freed: a queue pass places nothing.
    expect(await s.cp.leases.runQueue()).toEqual([]);
    expect((await release(acme.key, all.body.id)).status).toBe(200);
    const placed = await get(beta.key, q.body.id);
    expect(placed.body).toMatchObject({ state: 'active', start: iso(s.clock.nowMs()), end: iso(s.clock.nowMs() + 2 * H), queuedUntil: null, createdAt: q.body.createdAt });
    expect(placed.body.gpus).toHaveLength(16);
    const ev = await s.call('GET', `/v1/leases/${q.body.id}/events`, { key: beta.key });
    // The request's history in the event log: asked, waited, placed after an hour.
    expect(ev.body.events.map((e: { type: string }) => e.type)).toEqual(['requested', 'queued', 'placed', 'started']);
    expect(ev.body.events[2]).toEqual(expect.objectContaining({ type: 'placed', detail: expect.objectContaining({ waitedSeconds: 3600 }) }));
    expect((await s.call('GET', '/v1/scheduler/status')).body.queue).toMatchObject({ queuedRequests: 0, queuedGpus: 0, oldestQueuedSince: null });
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    await release(beta.key, q.body.id);
  });

  it('keeps order: a gang that does not fit holds back later on-demand requests, not spot ones it can preempt', async () => {
    const a = await lease(acme.key, { gpuCount: 48, durationHours: 10 });
    const b = await lease(acme.key, { gpuCount: 16, durationHours: 10 });
    expect([a.status, b.status]).toEqual([201, 201]);
    // Requests in one millisecond rank equal; these are a millisecond apart.
    const big = await lease(beta.key, { gpuCount: 64, queue: true });
    s.clock.advanceMs(1);
    const small = await lease(acme.key, { gpuCount: 8, queue: true });
    s.clock.advanceMs(1);
    const spot = await lease(acme.key, { gpuCount: 8, class: 'spot', queue: true });
    expect([big.status, small.status, spot.status]).toEqual([202, 202, 202]);
    await release(acme.key, b.body.id); // 16 free: not enough for the 64-GPU gang
    expect((await get(beta.key, big.body.id)).body.state).toBe('queued');
    expect((await get(acme.key, small.body.id)).body.state).toBe('queued'); // would delay the gang
    expect((await get(acme.key, spot.body.id)).body.state).toBe('active'); // the gang can take it back
    await release(acme.key, a.body.id); // 56 free + 8 spot: the gang preempts the spot lease
    const g = await get(beta.key, big.body.id);
    expect(g.body.state).toBe('scheduled'); // starts when the spot lease's notice ends
    expect((await get(acme.key, spot.body.id)).body).toMatchObject({ state: 'preempting', preemptedBy: big.body.id, preemptedAt: g.body.start });
    expect((await get(acme.key, small.body.id)).body.state).toBe('queued');
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    for (const [k, id] of [[beta.key, big.body.id], [acme.key, small.body.id], [acme.key, spot.body.id]] as const) await release(k, id);
  });

  it('expires when its wait runs out, and a released request is never placed', async () => {
    const all = await lease(acme.key, { gpuCount: 64, durationHours: 10 });
    const short = await lease(beta.key, { gpuCount: 8, queue: true, maxWaitHours: 1 });
    const gone = await lease(beta.key, { gpuCount: 8, queue: true });
    expect([all.status, short.status, gone.status]).toEqual([201, 202, 202]);
    expect((await release(beta.key, gone.body.id)).body.state).toBe('released');
    s.clock.advanceMs(2 * H);
    expect((await get(beta.key, short.body.id)).body).toMatchObject({ state: 'expired', stateReason: 'no capacity freed up within the queue wait', gpus: [] });
    expect((await release(beta.key, short.body.id)).status).toBe(409);
    await release(acme.key, all.body.id);
    expect(await s.cp.leases.runQueue()).toEqual([]);
    expect((await get(beta.key, short.body.id)).body.state).toBe('expired');
    expect((await get(beta.key, gone.body.id)).body).toMatchObject({ state: 'released', gpus: [] });
  });

  it('refuses what a queue cannot mean, naming the field', async () => {
    const bad = async (body: Record<string, unknown>, field: string) => {
      const r = await lease(acme.key, { gpuCount: 8, ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ type: 'https://neocloud.dev/problems/validation', field });
      expect(r.body.detail).toContain(field);
    };
    await bad({ queue: true, class: 'reserved', start: iso(s.clock.nowMs() + 2 * H) }, 'queue');
    await bad({ queue: true, start: iso(s.clock.nowMs() + 2 * H) }, 'start');
    await bad({ queue: true, durationHours: undefined, end: iso(s.clock.nowMs() + 2 * H) }, 'end');
    await bad({ maxWaitHours: 2 }, 'maxWaitHours');
    await bad({ queue: true, maxWaitHours: 1000 }, 'maxWaitHours');
    // More than the fleet could ever hold is refused, not queued forever.
    const never = await lease(acme.key, { gpuCount: 65, queue: true });
    expect(never.status).toBe(409);
    expect(never.body).toMatchObject({ type: 'https://neocloud.dev/problems/insufficient-capacity', largestSatisfiable: 64 });
    expect((await s.call('GET', '/v1/scheduler/status')).body.queue.queuedRequests).toBe(0); // nothing written
  });
});
