/**
 * Two control planes on one PostgreSQL database (the same schema), each with its own connection
 * pool and in-memory view, as two processes would have (the SIGKILL takeover with real processes
 * is in crash.test.ts). What one does, the other must respect and see:
 * - power caps hold across them: interleaved concurrent requests never draw more than the hall's
 *   cap, and never more GPUs than one control plane alone would admit (the oracle, measured in the
 *   same test);
 * - a release on one is seen by the other (no false "0 GPUs fit");
 * - a fleet change on one is seen by the other, through the event log.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { facilityWattsPerGpu } from '../src/fleet/gpu-catalog.js';
import type { FleetSpec } from '../src/fleet/index.js';
import { ADMIN_KEY, TEST_DATABASE_URL, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

interface Pair {
  a: TestServer;
  cpB: ControlPlane;
  viaB: (method: string, path: string, body?: unknown, key?: string) => Promise<{ status: number; body: any }>;
  close: () => Promise<void>;
}

/** Control plane A (with its fleet) and B, opened on A's schema after it, sharing A's clock. */
async function pair(fleet: FleetSpec): Promise<Pair> {
  const a = await startServer({ store: 'postgres', fleet });
  const cpB = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: a.schema, clock: a.clock, adminKey: ADMIN_KEY, initialFleet: false });
  const appB = await buildServer(cpB);
  await appB.listen({ port: 0, host: '127.0.0.1' });
  const urlB = `http://127.0.0.1:${(appB.server.address() as AddressInfo).port}`;
  let seq = 0;
  return {
    a, cpB,
    viaB: async (method, path, body, key = ADMIN_KEY) => {
      const r = await fetch(urlB + path, {
        method, body: body === undefined ? null : JSON.stringify(body),
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(method === 'POST' ? { 'idempotency-key': `b-${seq++}` } : {}) },
      });
      return { status: r.status, body: await r.json() as any };
    },
    close: async () => { await appB.close(); await cpB.close(); await a.close(); },
  };
}

const lease = (gpuCount: number) => ({ gpuModel: 'H100-SXM', gpuCount, durationHours: 2 });

describe.skipIf(!TEST_DATABASE_URL)('two control planes on one database (PostgreSQL: set TEST_DATABASE_URL)', () => {
  let p: Pair;
  let t: { id: string; key: string };
  beforeAll(async () => {
    p = await pair(smallFleet()); // 64 H100s
    t = await createTenant(p.a, 'acme');
  });
  afterAll(async () => { await p?.close(); });

  it('a release on one is seen by the other: no false "0 GPUs fit"', async () => {
    const { a, viaB } = p;
    const all = await viaB('POST', '/v1/leases', lease(64), t.key);
    expect(all.status).toBe(201);
    a.clock.advanceMs(2_000);
    // A had not loaded B's lease: its refusal re-reads the store and agrees there is no room.
    const refused = await a.call('POST', '/v1/leases', { key: t.key, body: lease(8) });
    expect(refused.status).toBe(409);
    expect(refused.body.largestSatisfiable).toBe(0);
    // B releases everything; A's next request must not be refused on its old view.
    expect((await viaB('POST', `/v1/leases/${all.body.id}/release`, {}, t.key)).status).toBe(200);
    a.clock.advanceMs(2_000);
    const ok = await a.call('POST', '/v1/leases', { key: t.key, body: lease(64) });
    expect(ok.status).toBe(201);
    expect((await a.call('POST', `/v1/leases/${ok.body.id}/release`, { key: t.key, body: {} })).status).toBe(200);
    expect(await a.cp.leaseRepo.findOverlaps()).toEqual([]);
  });

  it('a fleet change on one is seen by the other through the event log', async () => {
    const { a, cpB, viaB } = p;
    // A doubles the fleet (128 H100s); B still has 64 in memory.
    expect((await a.call('PUT', '/v1/fleet', { body: smallFleet({ h100PerFabric: 8 }) })).status).toBe(200);
    a.clock.advanceMs(2_000);
    const big = await viaB('POST', '/v1/leases', lease(128), t.key);
    expect(big.status).toBe(201);
    expect(big.body.gpus).toHaveLength(128);
    // The timer's cheap check also picks it up: nothing new now.
    expect(await cpB.leases.refreshIfChangedElsewhere()).toBe(false);
    expect((await viaB('POST', `/v1/leases/${big.body.id}/release`, {}, t.key)).status).toBe(200);
  });
});

describe.skipIf(!TEST_DATABASE_URL)('power caps across two control planes (PostgreSQL: set TEST_DATABASE_URL)', () => {
  // Hall 1: 64 H100s (8 nodes of 8) on a 65 kW cap. H100 SXM facility draw at PUE 1.25 is
  // computed from the catalog here, not taken from the placement code.
  const HALL_CAP_W = 65_000;
  let p: Pair;
  let t: { id: string; key: string };
  beforeAll(async () => {
    p = await pair(smallFleet({ hallCapMw: HALL_CAP_W / 1e6 }));
    t = await createTenant(p.a, 'acme');
  });
  afterAll(async () => { await p?.close(); });

  /** GPUs held now by the tenant's live leases, counted from each lease as the API shows it. */
  async function heldNow(): Promise<{ gpus: number; leases: string[] }> {
    const list = await p.a.call('GET', '/v1/leases?limit=500', { key: t.key });
    const live = (list.body.leases as { id: string; state: string; gpuCount: number }[]).filter((l) => l.state === 'active' || l.state === 'scheduled');
    return { gpus: live.reduce((n, l) => n + l.gpuCount, 0), leases: live.map((l) => l.id) };
  }
  async function releaseAll(): Promise<void> {
    for (const id of (await heldNow()).leases) expect((await p.a.call('POST', `/v1/leases/${id}/release`, { key: t.key, body: {} })).status).toBe(200);
  }

  it('a booking decided on a view that misses the other\'s change is refused by the fence, not admitted past the cap', async () => {
    const { a, cpB, viaB } = p;
    const wattsPerGpu = facilityWattsPerGpu('H100-SXM', 1.25);
    // A books 8 GPUs on one node; B loads that; A releases them (B's view is now stale).
    const first = await a.call('POST', '/v1/leases', { key: t.key, body: lease(8) });
    expect(first.status).toBe(201);
    expect(await cpB.leases.refreshIfChangedElsewhere()).toBe(true);
    expect((await a.call('POST', `/v1/leases/${first.body.id}/release`, { key: t.key, body: {} })).status).toBe(200);
    // B, on its stale view (one node taken), would put a 32-GPU same-fabric gang in the other
    // fabric; A, on its own view, in the first. Disjoint GPUs, so no exclusion constraint stops
    // the second: 64 GPUs would draw 64 × ${wattsPerGpu} W on a 65 kW hall. The fence must.
    const gang = { gpuModel: 'H100-SXM', gpuCount: 32, placement: 'same-fabric', durationHours: 2 };
    const byB = await viaB('POST', '/v1/leases', gang, t.key);
    expect(byB.status).toBe(201);
    const byA = await a.call('POST', '/v1/leases', { key: t.key, body: gang });
    const held = await heldNow();
    await releaseAll();
    expect(held.gpus * wattsPerGpu, `${held.gpus} GPUs held`).toBeLessThanOrEqual(HALL_CAP_W);
    expect(byA.status, JSON.stringify(byA.body)).toBe(409);
  });

  it('interleaved requests on both never draw more than the hall cap, nor more than one control plane admits alone', async () => {
    const wattsPerGpu = facilityWattsPerGpu('H100-SXM', 1.25);
    const byCap = Math.floor(HALL_CAP_W / wattsPerGpu);
    // The oracle: one control plane alone, 8 GPUs at a time until refused.
    let alone = 0;
    for (let i = 0; i < 8; i++) {
      const r = await p.a.call('POST', '/v1/leases', { key: t.key, body: lease(8) });
      if (r.status !== 201) { expect(r.status).toBe(409); break; }
      alone += 8;
    }
    expect(alone).toBeGreaterThan(0);
    expect(alone * wattsPerGpu).toBeLessThanOrEqual(HALL_CAP_W);
    expect(alone).toBeLessThan(64); // the cap binds before the GPUs run out
    await releaseAll();

    // Rounds of concurrent requests, alternating between the two control planes, each round
    // after both have loaded what the other did (so every decision is made on a fresh view and
    // only the fence can stop an over-admission made concurrently).
    for (let round = 0; round < 4; round++) {
      p.a.clock.advanceMs(2_000);
      const sizes = [8, 8, 8, 8, 8, 8, 4, 4, 2, 2];
      const answers = await Promise.all(sizes.map((n, i) => (i % 2 === 0
        ? p.a.call('POST', '/v1/leases', { key: t.key, body: lease(n) })
        : p.viaB('POST', '/v1/leases', lease(n), t.key))));
      for (const r of answers) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
      const acked = answers.filter((r) => r.status === 201).reduce((n, r) => n + (r.body.gpuCount as number), 0);
      const held = await heldNow();
      expect(held.gpus).toBe(acked);
      expect(held.gpus * wattsPerGpu, `round ${round}: ${held.gpus} GPUs`).toBeLessThanOrEqual(HALL_CAP_W);
      expect(held.gpus).toBeLessThanOrEqual(byCap);
      expect(acked, 'both together admit what one admits alone').toBeGreaterThanOrEqual(alone - 8);
      await releaseAll();
    }
  });
});
