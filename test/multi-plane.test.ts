/**
 * Two control planes on one PostgreSQL database (the same schema), in one process: a refusal made
 * on a stale view is corrected from the store, and a fleet change made by one is seen by the other
 * through the event log. (Power caps across processes are not yet enforced: see docs/decisions.md.)
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { ADMIN_KEY, TEST_DATABASE_URL, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

describe.skipIf(!TEST_DATABASE_URL)('two control planes on one database (PostgreSQL: set TEST_DATABASE_URL)', () => {
  let a: TestServer;
  let cpB: ControlPlane;
  let closeB: () => Promise<void>;
  let urlB: string;
  let t: { id: string; key: string };
  beforeAll(async () => {
    a = await startServer({ store: 'postgres', fleet: smallFleet() }); // 64 H100s
    cpB = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: a.schema, clock: a.clock, adminKey: ADMIN_KEY, initialFleet: false });
    const appB = await buildServer(cpB);
    await appB.listen({ port: 0, host: '127.0.0.1' });
    urlB = `http://127.0.0.1:${(appB.server.address() as AddressInfo).port}`;
    closeB = async () => { await appB.close(); await cpB.close(); };
    t = await createTenant(a, 'acme');
  });
  afterAll(async () => {
    await closeB?.();
    await a?.close();
  });

  const viaB = async (method: string, path: string, body?: unknown, key = t.key) => {
    const r = await fetch(urlB + path, {
      method, body: body === undefined ? null : JSON.stringify(body),
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(method === 'POST' ? { 'idempotency-key': `b-${Math.random()}` } : {}) },
    });
    return { status: r.status, body: await r.json() as any };
  };
  const lease = (gpuCount: number) => ({ gpuModel: 'H100-SXM', gpuCount, durationHours: 2 });

  it('a release on one is seen by the other: no false "0 GPUs fit"', async () => {
    const all = await viaB('POST', '/v1/leases', lease(64));
    expect(all.status).toBe(201);
    a.clock.advanceMs(2_000);
    // A had not loaded B's lease: its refusal re-reads the store and agrees there is no room.
    const refused = await a.call('POST', '/v1/leases', { key: t.key, body: lease(8) });
    expect(refused.status).toBe(409);
    expect(refused.body.largestSatisfiable).toBe(0);
    // B releases everything; A's next request must not be refused on its old view.
    expect((await viaB('POST', `/v1/leases/${all.body.id}/release`, {})).status).toBe(200);
    a.clock.advanceMs(2_000);
    const ok = await a.call('POST', '/v1/leases', { key: t.key, body: lease(64) });
    expect(ok.status).toBe(201);
    expect((await a.call('POST', `/v1/leases/${ok.body.id}/release`, { key: t.key, body: {} })).status).toBe(200);
    expect(await a.cp.store.findOverlaps()).toEqual([]);
  });

  it('a fleet change on one is seen by the other through the event log', async () => {
    // A doubles the fleet (128 H100s); B still has 64 in memory.
    expect((await a.call('PUT', '/v1/fleet', { body: smallFleet({ h100PerFabric: 8 }) })).status).toBe(200);
    a.clock.advanceMs(2_000);
    const big = await viaB('POST', '/v1/leases', lease(128));
    expect(big.status).toBe(201);
    expect(big.body.gpus).toHaveLength(128);
    // The timer's cheap check also picks it up: nothing new now.
    expect(await cpB.leases.refreshFleetIfChanged()).toBe(false);
    expect((await viaB('POST', `/v1/leases/${big.body.id}/release`, {})).status).toBe(200);
  });
});
