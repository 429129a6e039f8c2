/**
 * The event log over HTTP, on every store: every lease change is in it exactly once, in order,
 * with a gap-free sequence; a tenant reads only its own; the lifecycle each lease's events tell
 * matches the state the API reports (rebuilt here by an independent state machine, not by the
 * code that writes the events).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const H = 3_600_000;

interface Ev { sequence: string; type: string; subject: string; tenantid: string | null; time: string; data: Record<string, any> }

/** Which event may follow which, per lease: the lifecycle as the issue states it. */
const NEXT: Record<string, string[]> = {
  start: ['requested'],
  requested: ['placed', 'queued'],
  queued: ['placed', 'released', 'expired'],
  placed: ['started', 'preempting', 'released', 'failed', 'moved', 'expired', 'preempted'],
  started: ['preempting', 'released', 'failed', 'moved', 'expired', 'preempted'],
  moved: ['started', 'preempting', 'released', 'failed', 'moved', 'expired', 'preempted'],
  preempting: ['started', 'preempted', 'released', 'failed', 'moved'],
  preempted: [], released: [], expired: [], failed: [],
};
/** The API state a lease's last event implies (when no later time-driven event is pending). */
const FINAL: Record<string, string[]> = {
  queued: ['queued'], placed: ['scheduled', 'active'], started: ['active'], moved: ['scheduled', 'active'], preempting: ['preempting', 'scheduled'],
  preempted: ['preempted'], released: ['released'], expired: ['expired'], failed: ['failed'],
};

async function readAll(s: TestServer, key?: string): Promise<Ev[]> {
  const out: Ev[] = [];
  let after = '0';
  for (;;) {
    const r = await s.call('GET', `/v1/events?after=${after}&limit=7`, key ? { key } : {});
    expect(r.status).toBe(200);
    out.push(...r.body.events);
    if (r.body.events.length === 0) return out;
    after = r.body.next;
  }
}

for (const kind of STORE_KINDS) {
  describe(`event log on ${kind}`, () => {
    let s: TestServer;
    let acme: { id: string; key: string };
    let beta: { id: string; key: string };
    beforeAll(async () => {
      s = await startServer({ store: kind, fleet: smallFleet() });
      acme = await createTenant(s, 'acme');
      beta = await createTenant(s, 'beta');
    });
    afterAll(async () => s?.close());

    const lease = (key: string, body: Record<string, unknown>) => s.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', durationHours: 1, ...body } });

    it('records every change exactly once, in order, and a tenant sees only its own', async () => {
      const now = s.clock.nowMs();
      const ids: string[] = [];
      // Spot work that will be preempted, an on-demand lease that preempts it, a future block,
      // a queued request that is placed after a release, one released, and one that just ends.
      const spot = await lease(beta.key, { gpuCount: 32, class: 'spot', durationHours: 8, placement: 'same-fabric' });
      const od = await lease(acme.key, { gpuCount: 32, placement: 'same-fabric', durationHours: 2 });
      const od2 = await lease(acme.key, { gpuCount: 32, placement: 'same-fabric', durationHours: 3 });
      expect([spot.status, od.status, od2.status]).toEqual([201, 201, 201]);
      const q = await lease(beta.key, { gpuCount: 8, queue: true, durationHours: 1 });
      expect(q.status).toBe(202);
      const block = await lease(acme.key, { gpuCount: 8, class: 'reserved', start: new Date(now + 10 * H).toISOString(), durationHours: 1 });
      expect(block.status).toBe(201);
      ids.push(spot.body.id, od.body.id, od2.body.id, q.body.id, block.body.id);
      // Time passes: the spot lease's notice ends, the on-demand leases start; a sweep writes it.
      s.clock.advanceMs(10 * 60_000);
      await s.cp.leases.sweep();
      expect((await s.call('POST', `/v1/leases/${od2.body.id}/release`, { key: acme.key, body: {} })).status).toBe(200);
      s.clock.advanceMs(11 * H);
      await s.cp.leases.sweep();
      await s.cp.leases.sweep(); // a second sweep over the same time writes nothing twice

      const all = await readAll(s);
      // Gap-free, strictly increasing, starting after whatever came before (tenants created no events).
      const seqs = all.map((e) => Number(e.sequence));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      expect(new Set(all.map((e) => (e as unknown as { id: string }).id)).size).toBe(all.length);
      // Per lease: a valid lifecycle, and its last event agrees with the state the API reports now.
      for (const id of ids) {
        const mine = all.filter((e) => e.subject === id).map((e) => e.type.replace('dev.neocloud.lease.', ''));
        let prev = 'start';
        for (const t of mine) {
          expect(NEXT[prev], `${id}: ${mine.join(' → ')}`).toContain(t);
          prev = t;
        }
        const state = (await s.call('GET', `/v1/leases/${id}`)).body.state as string;
        expect(FINAL[prev], `${id}: ${mine.join(' → ')} but state ${state}`).toContain(state);
      }
      const typesOf = (id: string) => all.filter((e) => e.subject === id).map((e) => e.type.replace('dev.neocloud.lease.', ''));
      expect(typesOf(spot.body.id)).toEqual(['requested', 'placed', 'started', 'preempting', 'preempted']);
      expect(typesOf(od.body.id)).toEqual(['requested', 'placed', 'started', 'expired']);
      expect(typesOf(od2.body.id)).toEqual(['requested', 'placed', 'started', 'released']);
      expect(typesOf(q.body.id).slice(0, 3)).toEqual(['requested', 'queued', 'placed']);
      expect(typesOf(block.body.id)).toEqual(['requested', 'placed', 'started', 'expired']);
      // Money in events is a decimal string; placed carries GPUs; times are when it happened.
      const placed = all.find((e) => e.subject === od.body.id && e.type.endsWith('.placed'))!;
      expect(placed.data).toMatchObject({ totalMicros: od.body.totalMicros, priceMicrosPerGpuHour: od.body.priceMicrosPerGpuHour, gpus: expect.any(Array) });
      expect(placed.data.gpus).toHaveLength(32);
      const ended = all.find((e) => e.subject === od.body.id && e.type.endsWith('.expired'))!;
      expect(ended.time).toBe(od.body.end);

      // Tenants: only their own, and the lease view is the same log.
      const betaFeed = await readAll(s, beta.key);
      expect(betaFeed.length).toBeGreaterThan(0);
      expect(betaFeed.every((e) => e.tenantid === beta.id)).toBe(true);
      expect(betaFeed.map((e) => e.sequence)).toEqual(all.filter((e) => e.tenantid === beta.id).map((e) => e.sequence));
      expect((await readAll(s, acme.key)).some((e) => e.tenantid !== acme.id)).toBe(false);
      const view = await s.call('GET', `/v1/leases/${spot.body.id}/events`, { key: beta.key });
      expect(view.body.events.map((e: { sequence: string }) => e.sequence)).toEqual(all.filter((e) => e.subject === spot.body.id).map((e) => e.sequence));
    });

    it('records a fleet change and the leases it moves', async () => {
      const l = await lease(acme.key, { gpuCount: 8, durationHours: 4 });
      expect(l.status).toBe(201);
      const node = l.body.nodes[0];
      const before = (await readAll(s)).length;
      const spec = { ...smallFleet(), nodeStates: { [node]: 'down' } };
      expect((await s.call('PUT', '/v1/fleet', { body: spec })).status).toBe(200);
      const after = (await readAll(s)).slice(before);
      expect(after.map((e) => e.type)).toEqual(['dev.neocloud.fleet.applied', 'dev.neocloud.node.state_changed', 'dev.neocloud.lease.moved']);
      expect(after[0]!.tenantid).toBeNull();
      expect(after[0]!.data).toMatchObject({ nodesDown: [node], cause: 'spec' });
      expect(after[1]).toMatchObject({ subject: node, tenantid: null, data: { nodeId: node, from: 'ready', to: 'down', cause: 'spec' } });
      expect(after[2]).toMatchObject({ subject: l.body.id, data: { downNodes: [node] } });
      // A tenant never sees fleet or node events.
      expect((await readAll(s, acme.key)).some((e) => e.type.startsWith('dev.neocloud.fleet') || e.type.startsWith('dev.neocloud.node'))).toBe(false);
    });
  });
}
