/**
 * Repository over the Drizzle schema: translates rows to domain values (epoch ms, integers) and
 * back. The same code runs on PGlite and PostgreSQL. `tx()` gives a Store bound to a transaction.
 */
import { and, desc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Fleet, GpuModelId, NodeState, FleetPlan } from '../fleet/index.js';
import { heldUntilMs, type Lease, type LeaseClass, type LeaseGpu, type Placement } from '../leasing/lease-types.js';
import { appendCtes, EventLog, type CapacityFence, type NewEvent } from '../events/index.js';
import type { Db } from './db.js';
import { pgTextArray } from './pg-array.js';

/** The cell a store writes events for when none is named. */
export const DEFAULT_CELL = 'default';
import * as t from './schema.js';

const CHUNK = 1000;

export interface ApiKeyRecord {
  id: string;
  role: 'admin' | 'tenant';
  tenantId: string | null;
}

/** A key as listed: never its secret or hash. */
export interface ApiKeyInfo extends ApiKeyRecord {
  prefix: string | null;
  createdAtMs: number;
  lastUsedAtMs: number | null;
  revokedAtMs: number | null;
}

/** The channel on which a revocation is announced to every control plane sharing the database. */
export const KEY_REVOKED_CHANNEL = 'neocloud_key_revoked';

export interface TenantRecord {
  id: string;
  name: string;
  createdAtMs: number;
}

export interface IdempotencyRecord {
  requestHash: string;
  statusCode: number;
  body: unknown;
}

export interface IdempotentWrite {
  principal: string;
  key: string;
  requestHash: string;
  statusCode: number;
  body: unknown;
  nowMs: number;
}


/**
 * Whose rows a read or write may touch: a tenant id, or `null` for the operator (every tenant).
 * Tenant-facing queries put it in the SQL WHERE, so a foreign id finds nothing even if a
 * service-level check were missed.
 */
export type TenantScope = string | null;

export interface LeaseListFilter {
  tenantId: TenantScope;
  limit: number;
  /** Return leases created strictly before this lease (keyset pagination, newest first). */
  beforeId?: string | undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();
export const rangeLiteral = (startMs: number, endMs: number): string => `[${iso(startMs)},${iso(endMs)})`;

/**
 * Rows a truncation may touch: not empty (lower() of an empty range is NULL, which would make an
 * unbounded range) and not already moved away.
 */
const live = sql`NOT isempty(${t.leaseGpus.during}) AND ${t.leaseGpus.movedAt} IS NULL`;

/** A hold's range ended at `atMs` (empty if it had not started): releases, failures, preemptions, moves. */
const cutAt = (atMs: number) =>
  sql`tstzrange(lower(${t.leaseGpus.during}), greatest(lower(${t.leaseGpus.during}), least(upper(${t.leaseGpus.during}), ${iso(atMs)}::timestamptz)), '[)')`;

/**
 * The lease's GPU holds, for a statement whose CTE `l` returns the lease row's id (none written
 * if `l` wrote nothing). A backfilled lease holds its GPUs only until its known preemption.
 */
const holdsFrom = (lease: Lease) => sql`INSERT INTO lease_gpus (lease_id, gpu_uuid, node_id, during)
  SELECT l.id, u, n, ${rangeLiteral(lease.startMs, heldUntilMs(lease))}::tstzrange
  FROM l, unnest(${pgTextArray(lease.gpus.map((g) => g.uuid))}::text[], ${pgTextArray(lease.gpus.map((g) => g.nodeId))}::text[]) AS x(u, n)`;

/** SQLSTATE codes the services react to. */
export const PG_EXCLUSION_VIOLATION = '23P01';
/**
 * Two writers inserting overlapping GPU holds each wait on the other's uncommitted rows for the
 * exclusion check; PostgreSQL breaks the cycle by aborting one with deadlock_detected.
 */
export const PG_DEADLOCK = '40P01';
export const PG_UNIQUE_VIOLATION = '23505';

export function pgErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

type LeaseRow = typeof t.leases.$inferSelect;

function keyInfo(r: typeof t.apiKeys.$inferSelect): ApiKeyInfo {
  return {
    id: r.id, role: r.role as ApiKeyRecord['role'], tenantId: r.tenantId, prefix: r.prefix, createdAtMs: r.createdAt.getTime(),
    lastUsedAtMs: r.lastUsedAt ? r.lastUsedAt.getTime() : null, revokedAtMs: r.revokedAt ? r.revokedAt.getTime() : null,
  };
}

/** The WHERE term that limits leases to a tenant (none for the operator's scope). */
const scopeOf = (scope: TenantScope) => (scope === null ? undefined : eq(t.leases.tenantId, scope));

function leaseFromRow(r: LeaseRow, gpus: LeaseGpu[]): Lease {
  return {
    id: r.id,
    tenantId: r.tenantId,
    gpuModel: r.gpuModel as GpuModelId,
    gpuCount: r.gpuCount,
    leaseClass: r.leaseClass as LeaseClass,
    placement: r.placement as Placement,
    region: r.region,
    startMs: r.startAt.getTime(),
    endMs: r.endAt.getTime(),
    releasedAtMs: r.releasedAt ? r.releasedAt.getTime() : null,
    failedAtMs: r.failedAt ? r.failedAt.getTime() : null,
    stateReason: r.stateReason,
    preemptedAtMs: r.preemptedAt ? r.preemptedAt.getTime() : null,
    preemptedBy: r.preemptedBy,
    priceMicrosPerGpuHour: r.priceMicrosPerGpuHour,
    totalMicros: r.totalMicros,
    createdAtMs: r.createdAt.getTime(),
    queuedUntilMs: r.queuedUntil ? r.queuedUntil.getTime() : null,
    gpus,
  };
}

export class Store {
  /** `cell`: whose event log the writes append to (one control-plane cell; see docs/architecture.md). */
  constructor(readonly db: Db, readonly cell: string = DEFAULT_CELL) {}

  tx<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new Store(tx as unknown as Db, this.cell)));
  }

  // ---- fleet ----

  async loadFleet(): Promise<Fleet> {
    // Sequential: inside a transaction all queries share one connection.
    const sites = await this.db.select().from(t.sites).orderBy(t.sites.id);
    const powerSources = await this.db.select().from(t.powerSources).orderBy(t.powerSources.id);
    const halls = await this.db.select().from(t.halls).orderBy(t.halls.id);
    const fabrics = await this.db.select().from(t.fabrics).orderBy(t.fabrics.id);
    const nvlinks = await this.db.select().from(t.nvlinks).orderBy(t.nvlinks.id);
    const nodes = await this.db.select().from(t.nodes).orderBy(t.nodes.id);
    const gpus = await this.db.select().from(t.gpus).orderBy(t.gpus.nodeId, t.gpus.index);
    const prices = await this.db.select().from(t.prices).orderBy(t.prices.gpuModel, t.prices.leaseClass);
    return {
      sites,
      powerSources: powerSources.map((p) => ({ ...p, kind: p.kind as Fleet['powerSources'][number]['kind'] })),
      halls,
      fabrics: fabrics.map((f) => ({ ...f, kind: f.kind as Fleet['fabrics'][number]['kind'] })),
      nvlinks: nvlinks.map((n) => ({ ...n, kind: n.kind as Fleet['nvlinks'][number]['kind'] })),
      nodes: nodes.map((n) => ({ ...n, gpuModel: n.gpuModel as GpuModelId, state: n.state as NodeState })),
      gpus: gpus.map((g) => ({ ...g, model: g.model as GpuModelId })),
      prices: prices.map((p) => ({ ...p, gpuModel: p.gpuModel as GpuModelId, leaseClass: p.leaseClass as LeaseClass })),
    };
  }

  /** Writes a plan; call inside tx(). Deletes children first, inserts parents first. */
  async applyFleetPlan(plan: FleetPlan, progress: (shareDone: number) => void = () => undefined): Promise<void> {
    const db = this.db;
    const total = Object.values(plan).reduce((a, p) => a + p.create.length + p.update.length + p.delete.length, 0) || 1;
    let written = 0;
    // Chunked, with a macrotask turn between chunks so a large apply never holds the event
    // loop (an embedded PGlite runs each statement on the main thread).
    const chunked = async <T>(rows: T[], go: (chunk: T[]) => Promise<unknown>): Promise<void> => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await go(rows.slice(i, i + CHUNK));
        written += Math.min(CHUNK, rows.length - i);
        progress(written / total);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    const del = chunked;
    const ins = chunked;
    for (const p of plan.prices.delete) {
      await db.delete(t.prices).where(and(eq(t.prices.gpuModel, p.gpuModel), eq(t.prices.leaseClass, p.leaseClass)));
    }
    await del(plan.gpus.delete, (r) => db.delete(t.gpus).where(inArray(t.gpus.uuid, r.map((g) => g.uuid))));
    await del(plan.nodes.delete, (r) => db.delete(t.nodes).where(inArray(t.nodes.id, r.map((x) => x.id))));
    await del(plan.nvlinks.delete, (r) => db.delete(t.nvlinks).where(inArray(t.nvlinks.id, r.map((x) => x.id))));
    await del(plan.fabrics.delete, (r) => db.delete(t.fabrics).where(inArray(t.fabrics.id, r.map((x) => x.id))));
    await del(plan.halls.delete, (r) => db.delete(t.halls).where(inArray(t.halls.id, r.map((x) => x.id))));
    await del(plan.powerSources.delete, (r) => db.delete(t.powerSources).where(inArray(t.powerSources.id, r.map((x) => x.id))));
    await del(plan.sites.delete, (r) => db.delete(t.sites).where(inArray(t.sites.id, r.map((x) => x.id))));

    await ins(plan.sites.create, (r) => db.insert(t.sites).values(r));
    for (const s of plan.sites.update) await db.update(t.sites).set(s).where(eq(t.sites.id, s.id));
    await ins(plan.powerSources.create, (r) => db.insert(t.powerSources).values(r));
    for (const p of plan.powerSources.update) await db.update(t.powerSources).set(p).where(eq(t.powerSources.id, p.id));
    await ins(plan.halls.create, (r) => db.insert(t.halls).values(r));
    for (const h of plan.halls.update) await db.update(t.halls).set(h).where(eq(t.halls.id, h.id));
    await ins(plan.fabrics.create, (r) => db.insert(t.fabrics).values(r));
    for (const f of plan.fabrics.update) await db.update(t.fabrics).set(f).where(eq(t.fabrics.id, f.id));
    await ins(plan.nvlinks.create, (r) => db.insert(t.nvlinks).values(r));
    for (const n of plan.nvlinks.update) await db.update(t.nvlinks).set(n).where(eq(t.nvlinks.id, n.id));
    await ins(plan.nodes.create, (r) => db.insert(t.nodes).values(r));
    for (const n of plan.nodes.update) await db.update(t.nodes).set(n).where(eq(t.nodes.id, n.id));
    // A GPU enters the registry with its first install and stays there (leases' rows reference it).
    await ins(plan.gpus.create, async (r) => {
      await db.insert(t.gpuRegistry).values(r.map((g) => ({ uuid: g.uuid, model: g.model }))).onConflictDoNothing();
      await db.insert(t.gpus).values(r);
    });
    for (const g of plan.gpus.update) await db.update(t.gpus).set(g).where(eq(t.gpus.uuid, g.uuid));
    await ins(plan.prices.create, (r) => db.insert(t.prices).values(r));
    for (const p of plan.prices.update) {
      await db.update(t.prices).set(p).where(and(eq(t.prices.gpuModel, p.gpuModel), eq(t.prices.leaseClass, p.leaseClass)));
    }
  }

  /** Leases holding any of these GPUs at some instant after `afterMs` (not released earlier). */
  async leasesHoldingGpusAfter(gpuUuids: string[], afterMs: number): Promise<{ leaseId: string; gpuUuid: string }[]> {
    const out: { leaseId: string; gpuUuid: string }[] = [];
    for (let i = 0; i < gpuUuids.length; i += CHUNK) {
      const rows = await this.db
        .select({ leaseId: t.leaseGpus.leaseId, gpuUuid: t.leaseGpus.gpuUuid })
        .from(t.leaseGpus)
        .where(and(inArray(t.leaseGpus.gpuUuid, gpuUuids.slice(i, i + CHUNK)), sql`upper(${t.leaseGpus.during}) > ${iso(afterMs)}::timestamptz`));
      out.push(...rows);
    }
    return out;
  }

  // ---- tenants and keys ----

  async insertTenant(tenant: TenantRecord): Promise<void> {
    await this.db.insert(t.tenants).values({ id: tenant.id, name: tenant.name, createdAt: new Date(tenant.createdAtMs) });
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const [r] = await this.db.select().from(t.tenants).where(eq(t.tenants.id, id));
    return r ? { id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() } : undefined;
  }

  async getTenantByName(name: string): Promise<TenantRecord | undefined> {
    const [r] = await this.db.select().from(t.tenants).where(eq(t.tenants.name, name));
    return r ? { id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() } : undefined;
  }

  async listTenants(): Promise<TenantRecord[]> {
    const rows = await this.db.select().from(t.tenants).orderBy(t.tenants.createdAt, t.tenants.id);
    return rows.map((r) => ({ id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() }));
  }

  async insertApiKey(k: ApiKeyRecord & { keyHash: string; prefix: string | null; createdAtMs: number }): Promise<void> {
    await this.db.insert(t.apiKeys).values({
      id: k.id, keyHash: k.keyHash, role: k.role, tenantId: k.tenantId, prefix: k.prefix, createdAt: new Date(k.createdAtMs),
    });
  }

  /** The live (not revoked) key with this hash: one indexed read (key_hash is unique). */
  async findApiKey(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const [r] = await this.db.select().from(t.apiKeys).where(and(eq(t.apiKeys.keyHash, keyHash), isNull(t.apiKeys.revokedAt)));
    return r ? { id: r.id, role: r.role as ApiKeyRecord['role'], tenantId: r.tenantId } : undefined;
  }

  /** Whether a key with this hash was ever registered, revoked or not. */
  async apiKeyKnown(keyHash: string): Promise<{ revoked: boolean } | undefined> {
    const [r] = await this.db.select({ revokedAt: t.apiKeys.revokedAt }).from(t.apiKeys).where(eq(t.apiKeys.keyHash, keyHash));
    return r ? { revoked: r.revokedAt !== null } : undefined;
  }

  /** Admin keys that still work. */
  async countAdminKeys(): Promise<number> {
    const [r] = await this.db.select({ n: sql<number>`count(*)::int` }).from(t.apiKeys).where(and(eq(t.apiKeys.role, 'admin'), isNull(t.apiKeys.revokedAt)));
    return r?.n ?? 0;
  }

  /** Keys of one tenant (`tenantId`), or the admin keys (`null`), oldest first. */
  async listApiKeys(tenantId: string | null): Promise<ApiKeyInfo[]> {
    const rows = await this.db.select().from(t.apiKeys)
      .where(tenantId === null ? and(eq(t.apiKeys.role, 'admin'), isNull(t.apiKeys.tenantId)) : and(eq(t.apiKeys.role, 'tenant'), eq(t.apiKeys.tenantId, tenantId)))
      .orderBy(t.apiKeys.createdAt, t.apiKeys.id);
    return rows.map(keyInfo);
  }

  /** One key of `tenantId` (null: an admin key), or undefined. */
  async getApiKey(tenantId: string | null, keyId: string): Promise<ApiKeyInfo | undefined> {
    const [r] = await this.db.select().from(t.apiKeys)
      .where(and(eq(t.apiKeys.id, keyId), tenantId === null ? and(eq(t.apiKeys.role, 'admin'), isNull(t.apiKeys.tenantId)) : eq(t.apiKeys.tenantId, tenantId)));
    return r ? keyInfo(r) : undefined;
  }

  /**
   * Revokes key `keyId` of `tenantId` (null: an admin key) at `atMs`, unless already revoked, and
   * announces it on KEY_REVOKED_CHANNEL (delivered at commit) so every control plane drops it
   * from its authentication cache. Returns the key as it now is, or undefined if not found.
   */
  async revokeApiKey(tenantId: string | null, keyId: string, atMs: number): Promise<ApiKeyInfo | undefined> {
    await this.db.update(t.apiKeys).set({ revokedAt: new Date(atMs) })
      .where(and(eq(t.apiKeys.id, keyId), isNull(t.apiKeys.revokedAt),
        tenantId === null ? and(eq(t.apiKeys.role, 'admin'), isNull(t.apiKeys.tenantId)) : eq(t.apiKeys.tenantId, tenantId)));
    const key = await this.getApiKey(tenantId, keyId);
    if (key) await this.db.execute(sql`SELECT pg_notify(${KEY_REVOKED_CHANNEL}, ${keyId})`);
    return key;
  }

  /** Records that a key was used at `atMs` (skipped when it was recorded less than `minGapMs` before). */
  async touchApiKey(keyId: string, atMs: number, minGapMs: number): Promise<void> {
    await this.db.update(t.apiKeys).set({ lastUsedAt: new Date(atMs) })
      .where(and(eq(t.apiKeys.id, keyId), sql`(${t.apiKeys.lastUsedAt} IS NULL OR ${t.apiKeys.lastUsedAt} < ${iso(atMs - minGapMs)}::timestamptz)`));
  }

  // ---- leases ----

  /**
   * Writes a lease, its GPU holds and (optionally) the idempotent response as ONE statement
   * (data-modifying CTEs): atomic without an explicit transaction, and one round trip. The
   * exclusion constraint or a duplicate idempotency key fails the whole statement.
   */
  async insertLease(lease: Lease, idem?: IdempotentWrite, events: readonly NewEvent[] = [], fence?: CapacityFence): Promise<void> {
    // A lease placed to start at once has its `started` event written with it (see startLogged).
    const startLogged = lease.queuedUntilMs === null && lease.startMs <= lease.createdAtMs;
    const leaseCte = sql`INSERT INTO leases (id, tenant_id, gpu_model, gpu_count, lease_class, placement, region,
        start_at, end_at, released_at, preempted_at, preempted_by, price_micros_per_gpu_hour, total_micros, created_at, queued_until, start_logged)
      VALUES (${lease.id}, ${lease.tenantId}, ${lease.gpuModel}, ${lease.gpuCount}, ${lease.leaseClass}, ${lease.placement}, ${lease.region},
        ${iso(lease.startMs)}::timestamptz, ${iso(lease.endMs)}::timestamptz,
        ${lease.releasedAtMs === null ? null : iso(lease.releasedAtMs)}::timestamptz,
        ${lease.preemptedAtMs === null ? null : iso(lease.preemptedAtMs)}::timestamptz, ${lease.preemptedBy},
        ${lease.priceMicrosPerGpuHour.toString()}::bigint, ${lease.totalMicros.toString()}::bigint, ${iso(lease.createdAtMs)}::timestamptz,
        ${lease.queuedUntilMs === null ? null : iso(lease.queuedUntilMs)}::timestamptz, ${startLogged})
      RETURNING id`;
    const gpusCte = holdsFrom(lease);
    const last = idem
      ? sql`INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)
          VALUES (${idem.principal}, ${idem.key}, ${idem.requestHash}, ${idem.statusCode}, ${JSON.stringify(idem.body)}::jsonb, ${iso(idem.nowMs)}::timestamptz)`
      : sql`SELECT 1`;
    const ev = events.length ? sql`, ${appendCtes(this.cell, events, undefined, fence)}` : sql``;
    await this.db.execute(sql`WITH l AS (${leaseCte}), g AS (${gpusCte})${ev} ${last}`);
  }

  /**
   * Places a queued request: its new window and GPU holds, in one statement, only if it is
   * still queued (not released, not placed by another control plane, its wait not over at
   * `nowMs`). Returns false, writing nothing, otherwise. The exclusion constraint still guards
   * the holds.
   */
  async placeQueuedLease(lease: Lease, nowMs: number, events: readonly NewEvent[] = [], fence?: CapacityFence): Promise<boolean> {
    const rows = await this.db.execute(sql`WITH l AS (
        UPDATE leases SET start_at = ${iso(lease.startMs)}::timestamptz, end_at = ${iso(lease.endMs)}::timestamptz,
          preempted_at = ${lease.preemptedAtMs === null ? null : iso(lease.preemptedAtMs)}::timestamptz, preempted_by = ${lease.preemptedBy},
          total_micros = ${lease.totalMicros.toString()}::bigint, queued_until = NULL, start_logged = ${lease.startMs <= nowMs}
        WHERE id = ${lease.id} AND queued_until > ${iso(nowMs)}::timestamptz AND released_at IS NULL
        RETURNING id),
      g AS (${holdsFrom(lease)})${events.length ? sql`, ${appendCtes(this.cell, events, sql`EXISTS (SELECT 1 FROM l)`, fence)}` : sql``}
      SELECT id FROM l`);
    return (rows as unknown as { rows: unknown[] }).rows.length === 1;
  }

  /** Queued requests still waiting at `nowMs`, oldest first (all tenants). */
  async queuedLeases(nowMs: number): Promise<Lease[]> {
    const rows = await this.db
      .select()
      .from(t.leases)
      .where(and(gt(t.leases.queuedUntil, new Date(nowMs)), isNull(t.leases.releasedAt)))
      .orderBy(t.leases.createdAt, t.leases.id);
    return rows.map((r) => leaseFromRow(r, []));
  }

  /**
   * Ends the hold at `atMs` (or makes it empty if the lease had not started). Returns false,
   * writing nothing, when no lease `id` exists in `scope`.
   */
  async releaseLease(id: string, atMs: number, scope: TenantScope): Promise<{ startPending: boolean } | undefined> {
    return this.endLeaseLogged(id, atMs, { releasedAt: new Date(atMs) }, scope);
  }

  /**
   * Marks why a lease stops holding GPUs (`set`) and cuts its live holds at `atMs`; only a lease
   * of `scope` (null: any tenant's). Returns the lease's tenant, or undefined if it was not found.
   */
  private async stopLease(id: string, atMs: number, set: Partial<typeof t.leases.$inferInsert>, scope: TenantScope): Promise<string | undefined> {
    const hit = await this.db.update(t.leases).set(set).where(and(eq(t.leases.id, id), scopeOf(scope))).returning({ tenantId: t.leases.tenantId });
    if (hit.length === 0) return undefined;
    await this.cutHolds(id, atMs);
    return hit[0]!.tenantId;
  }

  /**
   * Ends a lease now by a change that writes its own event (release, failure): its end, and its
   * start if not yet written, are marked logged. Returns whether its start still had to be
   * announced (it began before this change but no `started` event was written yet), or undefined
   * when no lease `id` exists in `scope`.
   */
  async endLeaseLogged(id: string, atMs: number, set: { releasedAt?: Date; failedAt?: Date; stateReason?: string }, scope: TenantScope): Promise<{ tenantId: string; startPending: boolean } | undefined> {
    const [prev] = await this.db.select({ startLogged: t.leases.startLogged, startAt: t.leases.startAt, queuedUntil: t.leases.queuedUntil }).from(t.leases)
      .where(and(eq(t.leases.id, id), scopeOf(scope))).for('update');
    if (!prev) return undefined;
    const tenantId = await this.stopLease(id, atMs, { ...set, startLogged: true, endLogged: true }, scope);
    if (tenantId === undefined) return undefined;
    return { tenantId, startPending: !prev.startLogged && prev.queuedUntil === null && prev.startAt.getTime() <= atMs };
  }

  /**
   * Leases with a time-driven transition not yet in the event log at `nowMs` (a start, an end, a
   * preemption deadline, a queue timeout), locked for this transaction; rows another sweep holds
   * are skipped. With GPUs (the `started` event lists them). Call inside tx().
   */
  async leasesDueTransition(nowMs: number, limit: number): Promise<(Lease & { startLogged: boolean; endLogged: boolean })[]> {
    const now = sql`${iso(nowMs)}::timestamptz`;
    const rows = await this.db.select().from(t.leases)
      .where(sql`(NOT ${t.leases.startLogged} AND ${t.leases.queuedUntil} IS NULL AND ${t.leases.startAt} <= ${now})
        OR (NOT ${t.leases.endLogged} AND (${t.leases.endAt} <= ${now} OR ${t.leases.preemptedAt} <= ${now} OR ${t.leases.queuedUntil} <= ${now}))`)
      .orderBy(t.leases.id).limit(limit).for('update', { skipLocked: true });
    const gpus = await this.gpusOf(rows.map((r) => r.id));
    return rows.map((r) => ({ ...leaseFromRow(r, gpus.get(r.id) ?? []), startLogged: r.startLogged, endLogged: r.endLogged }));
  }

  /** Marks the start and/or end of these leases as written to the event log (call inside the sweep's tx). */
  async markTransitionsLogged(started: string[], ended: string[]): Promise<void> {
    if (started.length) await this.db.update(t.leases).set({ startLogged: true }).where(inArray(t.leases.id, started));
    if (ended.length) await this.db.update(t.leases).set({ endLogged: true }).where(inArray(t.leases.id, ended));
  }

  /** Current GPUs of each lease, by lease id, in one query. */
  private async gpusOf(ids: string[]): Promise<Map<string, LeaseGpu[]>> {
    const gpus = new Map<string, LeaseGpu[]>();
    if (ids.length === 0) return gpus;
    const held = await this.db
      .select({ leaseId: t.leaseGpus.leaseId, uuid: t.leaseGpus.gpuUuid, nodeId: t.leaseGpus.nodeId })
      .from(t.leaseGpus)
      .where(and(inArray(t.leaseGpus.leaseId, ids), isNull(t.leaseGpus.movedAt)))
      .orderBy(t.leaseGpus.leaseId, t.leaseGpus.nodeId, t.leaseGpus.gpuUuid);
    for (const g of held) {
      let list = gpus.get(g.leaseId);
      if (!list) gpus.set(g.leaseId, (list = []));
      list.push({ uuid: g.uuid, nodeId: g.nodeId });
    }
    return gpus;
  }

  /** Cuts a lease's live holds at `atMs`. */
  private async cutHolds(id: string, atMs: number): Promise<void> {
    await this.db
      .update(t.leaseGpus)
      .set({ during: cutAt(atMs) })
      .where(and(eq(t.leaseGpus.leaseId, id), live));
  }

  /**
   * Moves a lease to other GPUs from `nowMs` on (its node failed): dropped GPUs' holds end now,
   * added GPUs are held from max(now, start) until its hold ends (its preemption deadline if it
   * has one, else its end); GPUs kept stay as they are.
   */
  async moveLeaseGpus(lease: Lease, drop: string[], add: LeaseGpu[], nowMs: number): Promise<void> {
    if (drop.length) {
      await this.db
        .update(t.leaseGpus)
        .set({
          during: cutAt(nowMs),
          movedAt: new Date(nowMs),
        })
        .where(and(eq(t.leaseGpus.leaseId, lease.id), inArray(t.leaseGpus.gpuUuid, drop), live));
    }
    if (add.length) {
      const during = rangeLiteral(Math.max(nowMs, lease.startMs), heldUntilMs(lease));
      await this.db.insert(t.leaseGpus).values(add.map((g) => ({ leaseId: lease.id, gpuUuid: g.uuid, nodeId: g.nodeId, during })));
    }
  }

  /**
   * Preempts leases in two statements whatever their number: their GPUs go to `byId` at `atMs`
   * (the end of the notice). Returns each preempted lease's tenant, by id.
   */
  async preemptLeases(ids: string[], atMs: number, byId: string): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const hit = await this.db.update(t.leases).set({ preemptedAt: new Date(atMs), preemptedBy: byId })
      .where(inArray(t.leases.id, ids)).returning({ id: t.leases.id, tenantId: t.leases.tenantId });
    await this.db.update(t.leaseGpus).set({ during: cutAt(atMs) }).where(and(inArray(t.leaseGpus.leaseId, ids), live));
    return new Map(hit.map((h) => [h.id, h.tenantId]));
  }


  /** Live preemptible leases (spot, internal; not released, failed or preempted), for victim selection. */
  async livePreemptibleLeases(nowMs: number): Promise<{ id: string; leaseClass: string; priceMicrosPerGpuHour: bigint; gpuCount: number }[]> {
    return this.db
      .select({ id: t.leases.id, leaseClass: t.leases.leaseClass, priceMicrosPerGpuHour: t.leases.priceMicrosPerGpuHour, gpuCount: t.leases.gpuCount })
      .from(t.leases)
      .where(and(inArray(t.leases.leaseClass, ['spot', 'internal']), isNull(t.leases.releasedAt), isNull(t.leases.failedAt), isNull(t.leases.preemptedAt), sql`${t.leases.endAt} > ${iso(nowMs)}::timestamptz`));
  }

  /** Marks a lease failed at `nowMs`; its GPUs are free from then. */
  /** Marks a lease failed at `nowMs`; returns whether its start still had to be announced (see endLeaseLogged). */
  async failLease(id: string, nowMs: number, reason: string): Promise<boolean> {
    return (await this.endLeaseLogged(id, nowMs, { failedAt: new Date(nowMs), stateReason: reason }, null))?.startPending ?? false;
  }

  /**
   * Appends events to this cell's log; call inside tx() with the change they describe (the
   * transactional outbox). See src/events/event-log.ts.
   */
  /** Locks the cell's capacity until this transaction ends (call inside tx()); returns its version. */
  lockCapacity(): Promise<number> {
    return new EventLog(this.db, this.cell).lockCapacity(this.db);
  }

  /** The cell's capacity version and who wrote it last (see CapacityFence). */
  capacityState(): Promise<{ version: number; writer: string | null; runStart: number }> {
    return new EventLog(this.db, this.cell).capacity();
  }

  async appendEvents(list: readonly NewEvent[], fence?: CapacityFence): Promise<void> {
    await new EventLog(this.db, this.cell).append(this.db, list, fence);
  }

  /** Whether lease `id` exists in `scope`: one indexed read, no GPUs. */
  async leaseExists(id: string, scope: TenantScope): Promise<boolean> {
    const [r] = await this.db.select({ id: t.leases.id }).from(t.leases).where(and(eq(t.leases.id, id), scopeOf(scope)));
    return r !== undefined;
  }

  /** One lease with its current GPUs, if it exists in `scope` (null: any tenant's). */
  async getLease(id: string, scope: TenantScope): Promise<Lease | undefined> {
    const [r] = await this.db.select().from(t.leases).where(and(eq(t.leases.id, id), scopeOf(scope)));
    if (!r) return undefined;
    const gpus = await this.db
      .select({ uuid: t.leaseGpus.gpuUuid, nodeId: t.leaseGpus.nodeId })
      .from(t.leaseGpus)
      .where(and(eq(t.leaseGpus.leaseId, id), isNull(t.leaseGpus.movedAt)))
      .orderBy(t.leaseGpus.nodeId, t.leaseGpus.gpuUuid);
    return leaseFromRow(r, gpus);
  }

  /** Newest first, each with its current GPUs (one more query for the whole page). */
  async listLeases(f: LeaseListFilter): Promise<Lease[]> {
    const conds = [];
    if (f.tenantId !== null) conds.push(eq(t.leases.tenantId, f.tenantId));
    if (f.beforeId !== undefined) {
      const [cursor] = await this.db.select({ createdAt: t.leases.createdAt }).from(t.leases).where(and(eq(t.leases.id, f.beforeId), scopeOf(f.tenantId)));
      if (cursor) {
        conds.push(sql`(${t.leases.createdAt}, ${t.leases.id}) < (${cursor.createdAt.toISOString()}::timestamptz, ${f.beforeId})`);
      }
    }
    const rows = await this.db
      .select()
      .from(t.leases)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(t.leases.createdAt), desc(t.leases.id))
      .limit(f.limit);
    const gpus = await this.gpusOf(rows.map((r) => r.id));
    return rows.map((r) => leaseFromRow(r, gpus.get(r.id) ?? []));
  }

  /** Every lease whose hold reaches past `nowMs`, with its GPUs: what the booking index needs. */
  async loadLiveHolds(nowMs: number): Promise<{ leaseId: string; startMs: number; endMs: number; gpuUuids: string[] }[]> {
    const rows = await this.db
      .select({
        leaseId: t.leaseGpus.leaseId,
        gpuUuid: t.leaseGpus.gpuUuid,
        lo: sql<string>`lower(${t.leaseGpus.during})`,
        hi: sql<string>`upper(${t.leaseGpus.during})`,
      })
      .from(t.leaseGpus)
      .where(sql`upper(${t.leaseGpus.during}) > ${iso(nowMs)}::timestamptz AND NOT isempty(${t.leaseGpus.during})`);
    const byLease = new Map<string, { leaseId: string; startMs: number; endMs: number; gpuUuids: string[] }>();
    for (const r of rows) {
      let h = byLease.get(r.leaseId);
      if (!h) {
        h = { leaseId: r.leaseId, startMs: new Date(r.lo).getTime(), endMs: new Date(r.hi).getTime(), gpuUuids: [] };
        byLease.set(r.leaseId, h);
      }
      h.gpuUuids.push(r.gpuUuid);
    }
    return [...byLease.values()];
  }

  /** Pairs of rows that overlap on one GPU. Always empty while the exclusion constraint holds. */
  async findOverlaps(): Promise<{ gpuUuid: string; a: string; b: string }[]> {
    const r = await this.db.execute(sql`
      SELECT x.gpu_uuid AS "gpuUuid", x.lease_id AS a, y.lease_id AS b
      FROM lease_gpus x JOIN lease_gpus y
        ON x.gpu_uuid = y.gpu_uuid AND x.lease_id < y.lease_id AND x.during && y.during`);
    return ((r as unknown as { rows: { gpuUuid: string; a: string; b: string }[] }).rows);
  }

  // ---- idempotency ----

  async getIdempotent(principal: string, key: string): Promise<IdempotencyRecord | undefined> {
    const [r] = await this.db
      .select()
      .from(t.idempotencyKeys)
      .where(and(eq(t.idempotencyKeys.principal, principal), eq(t.idempotencyKeys.key, key)));
    return r ? { requestHash: r.requestHash, statusCode: r.statusCode, body: r.body } : undefined;
  }

  async saveIdempotent(principal: string, key: string, rec: IdempotencyRecord, nowMs: number): Promise<void> {
    await this.db.insert(t.idempotencyKeys).values({
      principal, key, requestHash: rec.requestHash, statusCode: rec.statusCode, body: rec.body, createdAt: new Date(nowMs),
    });
  }

  /** Forgets idempotency records older than the retention window. */
  async pruneIdempotency(beforeMs: number): Promise<void> {
    await this.db.delete(t.idempotencyKeys).where(lt(t.idempotencyKeys.createdAt, new Date(beforeMs)));
  }

  // ---- settings ----

  async getSetting<T>(key: string): Promise<T | undefined> {
    const [r] = await this.db.select().from(t.settings).where(eq(t.settings.key, key));
    return r ? (r.value as T) : undefined;
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    await this.db
      .insert(t.settings)
      .values({ key, value, updatedAt: new Date() })
      .onConflictDoUpdate({ target: t.settings.key, set: { value, updatedAt: new Date() } });
  }
}
