/**
 * The store contract: every storage implementation must pass these. Run by store.test.ts
 * against PGlite always and PostgreSQL when TEST_DATABASE_URL is set.
 */
import { sql } from 'drizzle-orm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffFleet, emptyFleet, expandFleetSpec } from '../src/fleet/index.js';
import type { Lease } from '../src/leasing/index.js';
import { EventLog, PG_STALE_VIEW } from '../src/events/index.js';
import { openDb, PG_EXCLUSION_VIOLATION, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, pgErrorCode, type DbHandle } from '../src/store/index.js';
import { FleetRepo } from '../src/fleet/index.js';
import { LeaseRepo } from '../src/leasing/index.js';
import { IdempotencyRepo, TenantRepo } from '../src/tenancy/index.js';
import { Settings } from '../src/app/settings.js';
import { DEFAULT_CELL } from '../src/events/index.js';
import { dropSchema, smallFleet, T0, TEST_DATABASE_URL, type StoreKind } from './helpers.js';

const H = 3_600_000;

export function storeContract(kind: StoreKind): void {
  describe(`store contract on ${kind}`, () => {
    let handle: DbHandle;
    // Each domain's repository over one connection (or transaction), as the services use them.
    let fleetRepo: FleetRepo;
    let tenants: TenantRepo;
    let store: LeaseRepo;
    let idem: IdempotencyRepo;
    let settings: Settings;
    let dir: string | undefined;
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const open = () => openDb(kind === 'postgres' ? { databaseUrl: TEST_DATABASE_URL, pgSchema: schema } : { dataDir: dir });
    const fleet = expandFleetSpec(smallFleet());
    const gpu = (i: number) => fleet.gpus[i]!;

    beforeAll(async () => {
      if (kind === 'pglite') dir = mkdtempSync(join(tmpdir(), 'nc-store-'));
      handle = await open();
      fleetRepo = new FleetRepo(handle.db);
      tenants = new TenantRepo(handle.db);
      store = new LeaseRepo(handle.db, DEFAULT_CELL);
      idem = new IdempotencyRepo(handle.db);
      settings = new Settings(handle.db);
      await fleetRepo.tx((s) => s.applyFleetPlan(diffFleet(emptyFleet(), fleet)));
      await tenants.insertTenant({ id: 'ten_a', name: 'a', createdAtMs: T0 });
      await tenants.insertTenant({ id: 'ten_b', name: 'b', createdAtMs: T0 });
    });
    afterAll(async () => {
      await handle?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') await dropSchema(schema);
    });

    const mkLease = (id: string, tenantId: string, startMs: number, endMs: number, gpuIdx: number[], createdAtMs = T0): Lease => ({
      id, tenantId, gpuModel: 'H100-SXM', gpuCount: gpuIdx.length, leaseClass: 'on-demand', placement: 'any', region: null,
      startMs, endMs, releasedAtMs: null, failedAtMs: null, stateReason: null, preemptedAtMs: null, preemptedBy: null, priceMicrosPerGpuHour: 2_490_000n, totalMicros: 1n, currency: 'USD', createdAtMs, queuedUntilMs: null,
      gpus: gpuIdx.map((i) => ({ uuid: gpu(i).uuid, nodeId: gpu(i).nodeId })),
    });

    it('round-trips the fleet exactly', async () => {
      const loaded = await fleetRepo.loadFleet();
      const plan = diffFleet(loaded, fleet);
      for (const k of Object.keys(plan) as (keyof typeof plan)[]) {
        expect({ k, ...plan[k] }).toEqual({ k, create: [], update: [], delete: [] });
      }
    });

    it('stores leases with their GPUs and lists per tenant, newest first', async () => {
      await store.insertLease(mkLease('lease_1', 'ten_a', T0, T0 + H, [0, 1], T0));
      await store.insertLease(mkLease('lease_2', 'ten_b', T0, T0 + H, [2], T0 + 1));
      await store.insertLease(mkLease('lease_3', 'ten_a', T0, T0 + H, [3], T0 + 2));
      const l1 = await store.getLease('lease_1', null);
      expect(l1).toMatchObject({ id: 'lease_1', tenantId: 'ten_a', startMs: T0, endMs: T0 + H, releasedAtMs: null, gpuCount: 2 });
      expect(l1!.gpus.map((g) => g.uuid).sort()).toEqual([gpu(0).uuid, gpu(1).uuid].sort());
      expect((await store.listLeases({ tenantId: 'ten_a', limit: 10 })).map((l) => l.id)).toEqual(['lease_3', 'lease_1']);
      // The list carries each lease's GPUs, as a single read does.
      const listed = (await store.listLeases({ tenantId: 'ten_a', limit: 10 })).find((l) => l.id === 'lease_1')!;
      expect(listed.gpus.map((g) => g.uuid).sort()).toEqual([gpu(0).uuid, gpu(1).uuid].sort());
      expect((await store.listLeases({ tenantId: null, limit: 2 })).map((l) => l.id)).toEqual(['lease_3', 'lease_2']);
      expect((await store.listLeases({ tenantId: null, limit: 5, beforeId: 'lease_2' })).map((l) => l.id)).toEqual(['lease_1']);
      expect(await store.getLease('lease_nope', null)).toBeUndefined();
    });

    it('refuses overlapping holds on one GPU in the database itself', async () => {
      let err: unknown;
      try {
        await store.tx((s) => s.insertLease(mkLease('lease_x', 'ten_b', T0 + H / 2, T0 + 2 * H, [4, 1])));
      } catch (e) {
        err = e;
      }
      expect(pgErrorCode(err)).toBe(PG_EXCLUSION_VIOLATION);
      expect(await store.getLease('lease_x', null)).toBeUndefined(); // the whole transaction rolled back
      // Back-to-back windows do not overlap: [T0, T0+H) and [T0+H, …).
      await store.insertLease(mkLease('lease_4', 'ten_b', T0 + H, T0 + 2 * H, [1]));
      expect(await store.findOverlaps()).toEqual([]);
    });

    it('a release shortens the hold so the GPU can be booked again', async () => {
      await store.insertLease(mkLease('lease_5', 'ten_a', T0 + 10 * H, T0 + 20 * H, [5]));
      await store.releaseLease('lease_5', T0 + 12 * H, null);
      expect((await store.getLease('lease_5', null))!.releasedAtMs).toBe(T0 + 12 * H);
      await store.insertLease(mkLease('lease_6', 'ten_b', T0 + 12 * H, T0 + 20 * H, [5]));
      // Released before it started: the hold is empty and blocks nothing.
      await store.insertLease(mkLease('lease_7', 'ten_a', T0 + 30 * H, T0 + 40 * H, [6]));
      await store.releaseLease('lease_7', T0, null);
      await store.insertLease(mkLease('lease_8', 'ten_b', T0 + 30 * H, T0 + 40 * H, [6]));
      const holds = await store.loadLiveHolds(T0 + 11 * H);
      const ids = holds.map((h) => h.leaseId).sort();
      expect(ids).toEqual(['lease_5', 'lease_6', 'lease_8']); // lease_4 ended at T0+2h
      expect(holds.find((h) => h.leaseId === 'lease_5')).toMatchObject({ startMs: T0 + 10 * H, endMs: T0 + 12 * H });
      const held = await store.leasesHoldingGpusAfter([gpu(5).uuid, gpu(6).uuid, gpu(0).uuid], T0 + 11 * H);
      expect(held.map((h) => h.leaseId).sort()).toEqual(['lease_5', 'lease_6', 'lease_8']);
    });

    it('places a queued request once: only while it is still queued, with its holds in the same statement', async () => {
      const q: Lease = { ...mkLease('lease_q1', 'ten_a', T0 + 50 * H, T0 + 52 * H, []), queuedUntilMs: T0 + 60 * H, createdAtMs: T0 + 50 * H };
      await store.insertLease(q);
      await store.insertLease({ ...mkLease('lease_q2', 'ten_b', T0 + 50 * H, T0 + 52 * H, []), queuedUntilMs: T0 + 51 * H, createdAtMs: T0 + 50 * H + 1 });
      expect((await store.queuedLeases(T0 + 50 * H)).map((l) => l.id)).toEqual(['lease_q1', 'lease_q2']);
      expect((await store.queuedLeases(T0 + 51 * H)).map((l) => l.id)).toEqual(['lease_q1']); // q2's wait is over
      const placed: Lease = { ...q, startMs: T0 + 55 * H, endMs: T0 + 57 * H, queuedUntilMs: null, gpus: [{ uuid: gpu(7).uuid, nodeId: gpu(7).nodeId }] };
      // Its wait over at the write's time: nothing is written.
      expect(await store.placeQueuedLease(placed, T0 + 60 * H)).toBe(false);
      expect(await store.placeQueuedLease(placed, T0 + 55 * H)).toBe(true);
      // A second control plane placing it again (on other GPUs) writes nothing either.
      expect(await store.placeQueuedLease({ ...placed, gpus: [{ uuid: gpu(8).uuid, nodeId: gpu(8).nodeId }] }, T0 + 55 * H)).toBe(false);
      const got = await store.getLease('lease_q1', null);
      expect(got).toMatchObject({ startMs: T0 + 55 * H, endMs: T0 + 57 * H, queuedUntilMs: null });
      expect(got!.gpus.map((g) => g.uuid)).toEqual([gpu(7).uuid]);
      expect((await store.queuedLeases(T0 + 50 * H)).map((l) => l.id)).toEqual(['lease_q2']);
      // A released queued request is not placed.
      await store.releaseLease('lease_q2', T0 + 50 * H + 5, null);
      expect(await store.placeQueuedLease({ ...placed, id: 'lease_q2', gpus: [{ uuid: gpu(9).uuid, nodeId: gpu(9).nodeId }] }, T0 + 50 * H + 10)).toBe(false);
      expect((await store.getLease('lease_q2', null))!.gpus).toEqual([]);
    });

    it('stores idempotent responses once per principal and key', async () => {
      await idem.save('tenant:a', 'k1', { requestHash: 'h', statusCode: 201, body: { id: 'x', n: 1 } }, T0);
      expect(await idem.get('tenant:a', 'k1')).toEqual({ requestHash: 'h', statusCode: 201, body: { id: 'x', n: 1 } });
      expect(await idem.get('tenant:b', 'k1')).toBeUndefined();
      let err: unknown;
      try {
        await idem.save('tenant:a', 'k1', { requestHash: 'h2', statusCode: 201, body: {} }, T0);
      } catch (e) {
        err = e;
      }
      expect(pgErrorCode(err)).toBe(PG_UNIQUE_VIOLATION);
      await idem.prune(T0 + 1);
      expect(await idem.get('tenant:a', 'k1')).toBeUndefined();
    });

    it('authenticates only live keys', async () => {
      await tenants.insertApiKey({ id: 'key_1', keyHash: 'abc', role: 'tenant', tenantId: 'ten_a', prefix: 'nc_live_abcd', createdAtMs: T0 });
      expect(await tenants.findApiKey('abc')).toEqual({ id: 'key_1', role: 'tenant', tenantId: 'ten_a' });
      expect(await tenants.findApiKey('nope')).toBeUndefined();
    });

    it('scopes lease reads and writes to a tenant in SQL: a foreign tenant finds and changes nothing', async () => {
      await store.insertLease(mkLease('lease_s1', 'ten_a', T0 + 100 * H, T0 + 101 * H, [10]));
      await store.tx((s) => s.appendEvents([{ type: 'lease.placed', subject: 'lease_s1', tenantId: 'ten_a', timeMs: T0, data: {} }]));
      const log = new EventLog(handle.db, store.cell);
      // The store itself answers for the scope (no service check in between).
      expect(await store.getLease('lease_s1', 'ten_b')).toBeUndefined();
      expect(await log.forSubject('lease_s1', 'ten_b')).toEqual([]);
      expect((await log.read(0, 1000, 'ten_b')).some((e) => e.subject === 'lease_s1')).toBe(false);
      expect(await store.releaseLease('lease_s1', T0, 'ten_b')).toBeUndefined();
      expect((await store.listLeases({ tenantId: 'ten_b', limit: 500 })).some((l) => l.id === 'lease_s1')).toBe(false);
      // A foreign lease id as the paging cursor is ignored, not used to reveal its position.
      const viaForeignCursor = await store.listLeases({ tenantId: 'ten_b', limit: 500, beforeId: 'lease_s1' });
      expect(viaForeignCursor.map((l) => l.id)).toEqual((await store.listLeases({ tenantId: 'ten_b', limit: 500 })).map((l) => l.id));
      // Read back with plain SQL, independent of the store's mapping: unchanged.
      const raw = await handle.db.execute(sql`SELECT released_at FROM leases WHERE id = 'lease_s1'`);
      expect((raw as unknown as { rows: { released_at: unknown }[] }).rows[0]!.released_at).toBeNull();
      // Its own tenant and the operator see it.
      expect((await store.getLease('lease_s1', 'ten_a'))!.id).toBe('lease_s1');
      expect(await log.forSubject('lease_s1', null)).toHaveLength(1);
      expect(await log.forSubject('lease_s1', 'ten_a')).toHaveLength(1);
      expect(await store.releaseLease('lease_s1', T0, 'ten_a')).toEqual({ tenantId: 'ten_a', startPending: false });
    });

    it('keeps money exact past 2^53 (bigint columns read as bigint)', async () => {
      const big = 10_521_600_000_000_000n; // $1,000/GPU-h × 400 GPUs × 26,304 h
      await store.insertLease({ ...mkLease('lease_big', 'ten_a', T0 + 200 * H, T0 + 201 * H, [11]), priceMicrosPerGpuHour: 1_000_000_000n, totalMicros: big + 1n });
      const got = await store.getLease('lease_big', null);
      expect(got!.totalMicros).toBe(big + 1n);
      const raw = await handle.db.execute(sql`SELECT total_micros::text AS t FROM leases WHERE id = 'lease_big'`);
      expect((raw as unknown as { rows: { t: string }[] }).rows[0]!.t).toBe('10521600000000001');
    });

    it('lists, revokes and touches API keys within their owner, never exposing the hash', async () => {
      await tenants.insertApiKey({ id: 'key_a1', keyHash: 'h-a1', role: 'tenant', tenantId: 'ten_a', prefix: 'nc_live_a1a1', createdAtMs: T0 });
      await tenants.insertApiKey({ id: 'key_b1', keyHash: 'h-b1', role: 'tenant', tenantId: 'ten_b', prefix: 'nc_live_b1b1', createdAtMs: T0 + 1 });
      const listed = await tenants.listApiKeys('ten_a', { limit: 1000 });
      expect(listed.map((k) => k.id)).toContain('key_a1');
      expect(listed.map((k) => k.id)).not.toContain('key_b1');
      expect(JSON.stringify(listed)).not.toContain('h-a1');
      // Another tenant cannot revoke it: the tenant is in the WHERE.
      expect(await tenants.revokeApiKey('ten_b', 'key_a1', T0 + 5)).toBeUndefined();
      expect(await tenants.findApiKey('h-a1')).toMatchObject({ id: 'key_a1' });
      const revoked = await tenants.revokeApiKey('ten_a', 'key_a1', T0 + 5);
      expect(revoked).toMatchObject({ id: 'key_a1', revokedAtMs: T0 + 5 });
      expect(await tenants.findApiKey('h-a1')).toBeUndefined();
      expect(await tenants.apiKeyKnown('h-a1')).toEqual({ revoked: true });
      // Revoking again keeps the first time.
      expect((await tenants.revokeApiKey('ten_a', 'key_a1', T0 + 9))!.revokedAtMs).toBe(T0 + 5);
      // last_used_at: written at most once per gap.
      await tenants.touchApiKey('key_b1', T0 + 1_000, 60_000);
      await tenants.touchApiKey('key_b1', T0 + 2_000, 60_000);
      expect((await tenants.getApiKey('ten_b', 'key_b1'))!.lastUsedAtMs).toBe(T0 + 1_000);
      await tenants.touchApiKey('key_b1', T0 + 70_000, 60_000);
      expect((await tenants.getApiKey('ten_b', 'key_b1'))!.lastUsedAtMs).toBe(T0 + 70_000);
    });

    it('appends events with a gap-free sequence in commit order; a rolled-back append leaves no gap', async () => {
      const log = new EventLog(handle.db, store.cell);
      const start = await log.head();
      const e = (subject: string) => ({ type: 'lease.placed' as const, subject, tenantId: 'ten_a', timeMs: T0, data: { n: subject } });
      await store.tx((s) => s.appendEvents([e('a1'), e('a2')]));
      await store.tx(async (s) => {
        await s.appendEvents([e('rolled-back')]);
        throw new Error('roll back');
      }).catch(() => undefined);
      // Concurrent appenders (PostgreSQL runs them on separate connections).
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.tx((s) => s.appendEvents([e(`c${i}`)]))));
      const got = await log.read(start, 1000, null);
      // Independent of the mechanism: read the raw rows back and check the numbering ourselves.
      const raw = await handle.db.execute(sql`SELECT seq::text AS seq, subject FROM events WHERE cell = ${store.cell} AND seq > ${start} ORDER BY events.seq`);
      const rows = (raw as unknown as { rows: { seq: string; subject: string }[] }).rows;
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 10 }, (_, i) => start + 1 + i));
      expect(rows.map((r) => r.subject)).not.toContain('rolled-back');
      expect(rows.slice(0, 2).map((r) => r.subject)).toEqual(['a1', 'a2']);
      expect(got.map((x) => x.sequence)).toEqual(rows.map((r) => r.seq));
      expect(got[0]).toMatchObject({ specversion: '1.0', type: 'dev.neocloud.lease.placed', source: `/cells/${store.cell}`, subject: 'a1', tenantid: 'ten_a', data: { n: 'a1' } });
      expect(await log.head()).toBe(start + 10);
    });

    it('fences capacity writes: one decided on a view older than another writer\'s change is refused whole', async () => {
      const ev = (subject: string) => [{ type: 'lease.placed' as const, subject, tenantId: 'ten_a', timeMs: T0, data: {} }];
      const lease = (id: string, gpuIdx: number) => mkLease(id, 'ten_a', T0 + 100 * H, T0 + 101 * H, [gpuIdx]);
      const version = async () => (await store.capacityState()).version;
      const refused = async (p: Promise<unknown>) => pgErrorCode(await p.then(() => undefined, (e: unknown) => e));
      const v0 = await version();
      // w1 loaded its view at v0 and writes twice (its own run: both pass).
      await store.insertLease(lease('lease_f1', 20), undefined, ev('lease_f1'), { writer: 'w1', viewVersion: v0 });
      await store.insertLease(lease('lease_f2', 21), undefined, ev('lease_f2'), { writer: 'w1', viewVersion: v0 });
      expect(await store.capacityState()).toEqual({ version: v0 + 2, writer: 'w1', runStart: v0 + 1 });
      // w2 also loaded at v0: it missed w1's writes, so its write is refused and leaves nothing.
      const head = await new EventLog(handle.db, store.cell).head();
      expect(await refused(store.insertLease(lease('lease_f3', 22), undefined, ev('lease_f3'), { writer: 'w2', viewVersion: v0 }))).toBe(PG_STALE_VIEW);
      expect(await store.getLease('lease_f3', null)).toBeUndefined();
      expect(await new EventLog(handle.db, store.cell).head()).toBe(head);
      // Reloaded at v0 + 2, w2 writes; now w1 (view v0) has missed w2's write, even though it wrote last before.
      await store.insertLease(lease('lease_f3', 22), undefined, ev('lease_f3'), { writer: 'w2', viewVersion: v0 + 2 });
      expect(await refused(store.insertLease(lease('lease_f4', 23), undefined, ev('lease_f4'), { writer: 'w1', viewVersion: v0 }))).toBe(PG_STALE_VIEW);
      // A write that only frees capacity passes unchecked, and still counts as a change for the others.
      await store.tx((s) => s.appendEvents(ev('lease_f3'), { writer: 'w2', viewVersion: null }));
      expect(await refused(store.insertLease(lease('lease_f4', 23), undefined, ev('lease_f4'), { writer: 'w1', viewVersion: v0 + 3 }))).toBe(PG_STALE_VIEW);
      await store.insertLease(lease('lease_f4', 23), undefined, ev('lease_f4'), { writer: 'w1', viewVersion: v0 + 4 });
      // A fleet change holds the cell's lock: a capacity write issued meanwhile cannot commit in
      // between; it waits, then finds the change and is refused (PostgreSQL: separate connections).
      if (kind === 'postgres') {
        let locked!: (pid: number) => void;
        let open!: () => void;
        const isLocked = new Promise<number>((r) => { locked = r; });
        const gate = new Promise<void>((r) => { open = r; });
        const fleetTx = store.tx(async (s) => {
          expect(await s.lockCapacity()).toBe(v0 + 5);
          const pid = await s.db.execute(sql`SELECT pg_backend_pid() AS pid`);
          locked((pid as unknown as { rows: { pid: number }[] }).rows[0]!.pid);
          await gate;
          await s.appendEvents([{ type: 'fleet.applied', subject: 'fleet', tenantId: null, timeMs: T0, data: {} }], { writer: 'fleet', viewVersion: null });
        });
        const holder = await isLocked;
        const write = refused(store.insertLease(lease('lease_f5', 24), undefined, ev('lease_f5'), { writer: 'w1', viewVersion: v0 + 5 }));
        // Wait (by polling the server, not by time) until the write is queued behind the lock.
        for (;;) {
          const r = await handle.db.execute(sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${holder}::int = ANY (pg_blocking_pids(pid))`);
          if ((r as unknown as { rows: { n: number }[] }).rows[0]!.n > 0) break;
          await new Promise((res) => setImmediate(res));
        }
        open();
        await fleetTx;
        expect(await write).toBe(PG_STALE_VIEW);
        expect(await store.getLease('lease_f5', null)).toBeUndefined();
      }
    });

    it('a lease\'s GPU rows reference GPUs the fleet has had: an unknown UUID is refused', async () => {
      const bad: Lease = { ...mkLease('lease_ghost', 'ten_a', T0 + 200 * H, T0 + 201 * H, [0]), gpus: [{ uuid: 'GPU-not-in-any-fleet', nodeId: gpu(0).nodeId }] };
      expect(pgErrorCode(await store.insertLease(bad).then(() => undefined, (e: unknown) => e))).toBe(PG_FOREIGN_KEY_VIOLATION);
      expect(await store.getLease('lease_ghost', null)).toBeUndefined();
    });

    it('keeps everything across a restart', async () => {
      await settings.set('probe', { v: 1 });
      await handle.close();
      handle = await open();
      fleetRepo = new FleetRepo(handle.db);
      tenants = new TenantRepo(handle.db);
      store = new LeaseRepo(handle.db, DEFAULT_CELL);
      idem = new IdempotencyRepo(handle.db);
      settings = new Settings(handle.db);
      expect(await settings.get('probe')).toEqual({ v: 1 });
      expect((await store.getLease('lease_1', null))!.gpus).toHaveLength(2);
      expect((await fleetRepo.loadFleet()).gpus).toHaveLength(fleet.gpus.length);
    });
  });
}
