/**
 * Random create / release / expire sequences through the lease service and a real store:
 * the database never holds two overlapping bookings of a GPU, no instant ever has more GPUs
 * held than installed, and the in-memory view always agrees with the store (a fresh reload
 * places the next request exactly as the running view does).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseService, type LeaseCreateBody } from '../src/leasing/index.js';
import { DomainError } from '../src/shared/errors.js';
import { TenantRepo, type Principal } from '../src/tenancy/index.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, type TestServer } from './helpers.js';

const H = 3_600_000;
const YEAR = 366 * 24 * H;

type Op =
  | { kind: 'create'; body: LeaseCreateBody; startH: number }
  | { kind: 'release'; pick: number }
  | { kind: 'advance'; hours: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    kind: fc.constant('create' as const),
    startH: fc.integer({ min: 0, max: 48 }),
    body: fc.record({
      gpuModel: fc.constantFrom('H100-SXM' as const, 'GB200' as const),
      gpuCount: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(8, 16, 32, 64, 72)),
      durationHours: fc.integer({ min: 1, max: 24 }),
      placement: fc.constantFrom('same-nvlink' as const, 'same-fabric' as const, 'same-site' as const, 'any' as const),
    }),
  }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 12 }) }) },
);

for (const kind of STORE_KINDS) {
  describe(`lease service properties on ${kind}`, () => {
    let s: TestServer;
    let principal: Principal;
    beforeAll(async () => {
      s = await startServer({ store: kind, fleet: smallFleet() });
      const t = await createTenant(s, 'prop');
      principal = { kind: 'tenant', tenantId: t.id, keyId: 'k' };
    });
    afterAll(async () => s?.close());

    it('never overlaps, never exceeds what is installed, and memory matches the store', async () => {
      const installed = s.cp.fleet.current().gpus.length;
      await fc.assert(fc.asyncProperty(fc.array(arbOp, { minLength: 1, maxLength: 25 }), async (ops) => {
        // Each run starts years after the last one ended, so earlier runs' leases are history.
        s.clock.advanceMs(4 * YEAR);
        s.cp.leases.prune();
        const mine: string[] = [];
        for (const op of ops) {
          if (op.kind === 'advance') {
            s.clock.advanceMs(op.hours * H);
          } else if (op.kind === 'release') {
            if (mine.length === 0) continue;
            const id = mine[op.pick % mine.length]!;
            try {
              await s.cp.leases.release(principal, id);
            } catch (e) {
              if (!(e instanceof DomainError && e.code === 'conflict')) throw e; // already ended
            }
          } else {
            const body = { ...op.body, start: new Date(s.clock.nowMs() + op.startH * H).toISOString() };
            try {
              const v = await s.cp.leases.create(principal, body);
              expect(v.gpus).toHaveLength(op.body.gpuCount);
              mine.push(v.id);
            } catch (e) {
              if (!(e instanceof DomainError && e.code === 'insufficient_capacity')) throw e;
            }
          }
        }
        expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
        const holds = await s.cp.leaseRepo.loadLiveHolds(s.clock.nowMs());
        for (const t of new Set(holds.map((h) => Math.max(h.startMs, s.clock.nowMs())))) {
          const held = holds.filter((h) => h.startMs <= t && t < h.endMs).reduce((a, h) => a + h.gpuUuids.length, 0);
          expect(held).toBeLessThanOrEqual(installed);
        }
        // A service rebuilt from the store decides exactly as the live one.
        const fresh = new LeaseService(s.cp.leaseRepo, new TenantRepo(s.cp.handle.db), s.clock, s.cp.fleet.current());
        await fresh.reload();
        const probe = { gpuModel: 'H100-SXM' as const, gpuCount: 1, durationHours: 1 };
        const a = await s.cp.leases.create(principal, probe).catch((e: unknown) => e);
        if (!(a instanceof DomainError)) {
          await s.cp.leases.release(principal, (a as { id: string }).id);
          // The release freed the probe's GPU from now: an empty hold.
        }
        const b = await fresh.create(principal, probe).catch((e: unknown) => e);
        if (a instanceof DomainError || b instanceof DomainError) {
          expect(a instanceof DomainError).toBe(b instanceof DomainError);
        } else {
          expect((b as { gpus: unknown }).gpus).toEqual((a as { gpus: unknown }).gpus);
          await fresh.release(principal, (b as { id: string }).id);
        }
        await s.cp.leases.reload();
      }), { numRuns: kind === 'pglite' ? 25 : 15 });
    });
  });
}
