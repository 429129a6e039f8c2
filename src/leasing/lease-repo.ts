/**
 * Leases and their GPU holds: rows to domain values and back, the one-statement writes of the
 * lease path (data-modifying CTEs carrying the lease's events and capacity fence), and the reads
 * the booking index, the sweep and the API need. Tenant-facing reads and writes take a
 * TenantScope that goes into the SQL WHERE.
 */
import type { Currency } from '../pricing/index.js';
import { and, desc, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import type { GpuModelId } from '../fleet/index.js';
import { appendCtes, EventLog, type CapacityFence, type NewEvent } from '../events/index.js';
import { IdempotencyRepo, idempotencyInsert, type IdempotencyRecord, type IdempotentWrite, type TenantScope } from '../tenancy/index.js';
import { CHUNK, iso, pgTextArray, rangeLiteral, type Db } from '../store/index.js';
import { heldUntilMs, type Lease, type LeaseClass, type LeaseGpu, type Placement } from './lease-types.js';
import * as t from './lease-schema.js';

export interface LeaseListFilter {
  tenantId: TenantScope;
  limit: number;
  /** Return leases created strictly before this lease (keyset pagination, newest first). */
  beforeId?: string | undefined;
}

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

type LeaseRow = typeof t.leases.$inferSelect;

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
    currency: r.currency as Currency,
    createdAtMs: r.createdAt.getTime(),
    queuedUntilMs: r.queuedUntil ? r.queuedUntil.getTime() : null,
    gpus,
  };
}

export class LeaseRepo {
  /** `cell`: whose event log the writes append to (one control-plane cell; see docs/architecture.md). */
  constructor(readonly db: Db, readonly cell: string) {}

  tx<T>(fn: (r: LeaseRepo) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new LeaseRepo(tx as unknown as Db, this.cell)));
  }

  /** Stores the response of an idempotent request in this repository's transaction. */
  saveIdempotent(principal: string, key: string, rec: IdempotencyRecord, nowMs: number): Promise<void> {
    return new IdempotencyRepo(this.db).save(principal, key, rec, nowMs);
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

  /**
   * Writes a lease, its GPU holds and (optionally) the idempotent response as ONE statement
   * (data-modifying CTEs): atomic without an explicit transaction, and one round trip. The
   * exclusion constraint or a duplicate idempotency key fails the whole statement.
   */
  async insertLease(lease: Lease, idem?: IdempotentWrite, events: readonly NewEvent[] = [], fence?: CapacityFence): Promise<void> {
    // A lease placed to start at once has its `started` event written with it (see startLogged).
    const startLogged = lease.queuedUntilMs === null && lease.startMs <= lease.createdAtMs;
    const leaseCte = sql`INSERT INTO leases (id, tenant_id, gpu_model, gpu_count, lease_class, placement, region,
        start_at, end_at, released_at, preempted_at, preempted_by, price_micros_per_gpu_hour, total_micros, currency, created_at, queued_until, start_logged)
      VALUES (${lease.id}, ${lease.tenantId}, ${lease.gpuModel}, ${lease.gpuCount}, ${lease.leaseClass}, ${lease.placement}, ${lease.region},
        ${iso(lease.startMs)}::timestamptz, ${iso(lease.endMs)}::timestamptz,
        ${lease.releasedAtMs === null ? null : iso(lease.releasedAtMs)}::timestamptz,
        ${lease.preemptedAtMs === null ? null : iso(lease.preemptedAtMs)}::timestamptz, ${lease.preemptedBy},
        ${lease.priceMicrosPerGpuHour.toString()}::bigint, ${lease.totalMicros.toString()}::bigint, ${lease.currency}, ${iso(lease.createdAtMs)}::timestamptz,
        ${lease.queuedUntilMs === null ? null : iso(lease.queuedUntilMs)}::timestamptz, ${startLogged})
      RETURNING id`;
    const gpusCte = holdsFrom(lease);
    const last = idem ? idempotencyInsert(idem) : sql`SELECT 1`;
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
  async livePreemptibleLeases(nowMs: number): Promise<{ id: string; leaseClass: string; priceMicrosPerGpuHour: bigint; currency: string; gpuCount: number }[]> {
    return this.db
      .select({ id: t.leases.id, leaseClass: t.leases.leaseClass, priceMicrosPerGpuHour: t.leases.priceMicrosPerGpuHour, currency: t.leases.currency, gpuCount: t.leases.gpuCount })
      .from(t.leases)
      .where(and(inArray(t.leases.leaseClass, ['spot', 'internal']), isNull(t.leases.releasedAt), isNull(t.leases.failedAt), isNull(t.leases.preemptedAt), sql`${t.leases.endAt} > ${iso(nowMs)}::timestamptz`));
  }

  /** Marks a lease failed at `nowMs`; returns whether its start still had to be announced (see endLeaseLogged). */
  async failLease(id: string, nowMs: number, reason: string): Promise<boolean> {
    return (await this.endLeaseLogged(id, nowMs, { failedAt: new Date(nowMs), stateReason: reason }, null))?.startPending ?? false;
  }

  /** Locks the cell's capacity until this transaction ends (call inside tx()); returns its version. */
  lockCapacity(): Promise<number> {
    return new EventLog(this.db, this.cell).lockCapacity(this.db);
  }

  /** The cell's capacity version and who wrote it last (see CapacityFence). */
  capacityState(): Promise<{ version: number; writer: string | null; runStart: number }> {
    return new EventLog(this.db, this.cell).capacity();
  }

  /**
   * Appends events to this cell's log; call inside tx() with the change they describe (the
   * transactional outbox). See src/events/event-log.ts.
   */
  async appendEvents(list: readonly NewEvent[], fence?: CapacityFence): Promise<void> {
    await new EventLog(this.db, this.cell).append(this.db, list, fence);
  }

  /** Whether lease `id` exists in `scope`: one indexed read, no GPUs. */
  async leaseExists(id: string, scope: TenantScope): Promise<boolean> {
    const [r] = await this.db.select({ id: t.leases.id }).from(t.leases).where(and(eq(t.leases.id, id), scopeOf(scope)));
    return r !== undefined;
  }

  /** One lease with its current GPUs, if it exists in `scope` (null: any tenant's). */
  /**
   * The currencies of a tenant's leases that may still bill: not queued-and-cancelled, and held at
   * some instant at or after `sinceMs` (the rate card priced each in the tenant's currency then).
   */
  async billingCurrencies(tenantId: string, sinceMs: number): Promise<string[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT currency FROM leases
      WHERE tenant_id = ${tenantId} AND end_at > ${iso(sinceMs)}::timestamptz AND coalesce(released_at, end_at) > ${iso(sinceMs)}::timestamptz`);
    return (r as unknown as { rows: { currency: string }[] }).rows.map((x) => x.currency);
  }

  /**
   * GPUs of a tenant's reserved leases on `model` that a reserved term covers (booked at price 0),
   * held at some instant of [startMs, endMs): what the rate card counts as the terms' GPUs in use.
   */
  async coveredReservedGpus(tenantId: string, model: string, startMs: number, endMs: number): Promise<number> {
    const r = await this.db.execute(sql`SELECT coalesce(sum(gpu_count), 0)::int AS n FROM leases
      WHERE tenant_id = ${tenantId} AND gpu_model = ${model} AND lease_class = 'reserved' AND price_micros_per_gpu_hour = 0
        AND queued_until IS NULL AND start_at < ${iso(endMs)}::timestamptz
        AND least(coalesce(released_at, end_at), coalesce(preempted_at, end_at), coalesce(failed_at, end_at), end_at) > ${iso(startMs)}::timestamptz`);
    return Number((r as unknown as { rows: { n: number }[] }).rows[0]?.n ?? 0);
  }

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
}
