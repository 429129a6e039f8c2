/**
 * Concurrency: many clients racing for the last GPUs. Runs on every store. On PostgreSQL a second
 * control plane shares the database with its own (stale) in-memory view, so only the exclusion
 * constraint and the reload-and-retry path stand between them and a double booking.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { ManualClock } from '../src/shared/clock.js';
import { ADMIN_KEY, createTenant, smallFleet, startServer, STORE_KINDS, T0, TEST_DATABASE_URL, type TestServer } from './helpers.js';

const CLIENTS = 50;
const LAST = 8;

for (const kind of STORE_KINDS) {
  describe(`race for the last ${LAST} GPUs on ${kind}`, () => {
    const servers: TestServer[] = [];
    afterAll(async () => {
      for (const s of servers.reverse()) await s.close();
    });

    it(`${CLIENTS} concurrent clients: exactly ${LAST} GPUs leased, the rest 409, no overlap`, async () => {
      const s = await startServer({ store: kind, fleet: smallFleet() });
      servers.push(s);
      const t = await createTenant(s, 'racer');
      // Fill all but the last LAST H100s (64 in the fleet).
      const fill = await s.call('POST', '/v1/leases', { key: t.key, body: { gpuModel: 'H100-SXM', gpuCount: 64 - LAST, durationHours: 2 } });
      expect(fill.status).toBe(201);
      const results = await Promise.all(Array.from({ length: CLIENTS }, () =>
        s.call('POST', '/v1/leases', { key: t.key, body: { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1 } })));
      const won = results.filter((r) => r.status === 201);
      const lost = results.filter((r) => r.status === 409);
      expect(won).toHaveLength(LAST);
      expect(lost).toHaveLength(CLIENTS - LAST);
      expect(lost.every((r) => r.body.largestSatisfiable === 0)).toBe(true);
      const uuids = won.flatMap((r) => r.body.gpus.map((g: { uuid: string }) => g.uuid));
      expect(new Set(uuids).size).toBe(LAST);
      expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    });

    it('gang requests for the last node: exactly one wins', async () => {
      const s = await startServer({ store: kind, fleet: smallFleet() });
      servers.push(s);
      const t = await createTenant(s, 'gang');
      await s.call('POST', '/v1/leases', { key: t.key, body: { gpuModel: 'H100-SXM', gpuCount: 56, durationHours: 2 } });
      const results = await Promise.all(Array.from({ length: CLIENTS }, () =>
        s.call('POST', '/v1/leases', { key: t.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, placement: 'same-nvlink', durationHours: 1 } })));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(CLIENTS - 1);
      expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    });

    if (kind === 'postgres') {
      it('two control planes on one database never double-book', async () => {
        const clock = new ManualClock(T0);
        const a = await startServer({ store: 'postgres', fleet: smallFleet(), clock });
        servers.push(a);
        // A second process on the same schema: open a ControlPlane against a's schema.
        const cpB = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: a.schema, clock, adminKey: ADMIN_KEY, initialFleet: false });
        const appB = await buildServer(cpB);
        await appB.listen({ port: 0, host: '127.0.0.1' });
        const urlB = `http://127.0.0.1:${(appB.server.address() as { port: number }).port}`;
        try {
          const t = await createTenant(a, 'two');
          let n = 0;
          const post = (url: string) => fetch(`${url}/v1/leases`, {
            method: 'POST',
            headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json', 'idempotency-key': `two-${n++}` },
            body: JSON.stringify({ gpuModel: 'H100-SXM', gpuCount: 4, durationHours: 1 }),
          }).then(async (r) => ({ status: r.status, body: await r.json() as { gpus?: { uuid: string }[] } }));
          const results = await Promise.all(Array.from({ length: 40 }, (_, i) => post(i % 2 === 0 ? a.url : urlB)));
          const won = results.filter((r) => r.status === 201);
          expect(results.filter((r) => r.status !== 201 && r.status !== 409)).toEqual([]);
          expect(won).toHaveLength(16); // 64 GPUs / 4
          expect(new Set(won.flatMap((r) => r.body.gpus!.map((g) => g.uuid))).size).toBe(64);
          expect(await a.cp.leaseRepo.findOverlaps()).toEqual([]);
        } finally {
          await appB.close();
          await cpB.close();
        }
      });
    }
  });
}
