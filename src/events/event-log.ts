/**
 * The event log: every state change, appended in the same transaction as the change (the
 * transactional outbox), read by cursor. CloudEvents-shaped (`specversion` 1.0: `id`, `source`,
 * `type`, `subject`, `time`, `data`), with the gap-free per-cell sequence as the `sequence`
 * extension attribute. Billing, the market and finance read only this; a relay publishes it to
 * NATS JetStream (src/events/nats-relay.ts).
 *
 * Appends never run alone: a writer passes its transaction's `Db` (or embeds `appendCtes` in its
 * own statement), so the change and its events commit or roll back together.
 */
import { and, asc, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import { newId } from '../shared/ids.js';
import type { Db } from '../store/db.js';
import { pgTextArray } from '../store/pg-array.js';
import { eventLogHeads, events } from './event-schema.js';

/** Every event type. Lease ones describe one lease (subject: its id); fleet ones the fleet. */
export const EVENT_TYPES = [
  'lease.requested', 'lease.queued', 'lease.placed', 'lease.started', 'lease.preempting', 'lease.preempted',
  'lease.released', 'lease.expired', 'lease.failed', 'lease.moved', 'lease.downtime', 'fleet.applied',
  'node.state_changed', 'agent.enrolled', 'agent.revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The CloudEvents `type` prefix (reverse-DNS of the project). */
export const TYPE_PREFIX = 'dev.neocloud.';

export interface NewEvent {
  type: EventType;
  subject: string;
  /** The tenant concerned (null: operator-only, e.g. fleet changes and internal leases). */
  tenantId: string | null;
  timeMs: number;
  data: Record<string, unknown>;
}

/** An event as consumers see it (JSON over HTTP, the NATS payload). */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /** Extension: the gap-free position in the cell's log (a decimal string, per the CloudEvents sequence extension). */
  sequence: string;
  /** Extension: the tenant concerned, or null. */
  tenantid: string | null;
  data: Record<string, unknown>;
}


/** The cell a control plane writes events for when none is named. */
export const DEFAULT_CELL = 'default';

export const sourceOf = (cell: string): string => `/cells/${cell}`;

/**
 * A capacity write's fence (docs/decisions.md, "Several control planes"). Every write that
 * changes what a cell's GPUs and power can take carries one; its append bumps the cell's capacity
 * version. `viewVersion` is the version the writer's in-memory view was loaded at: the write is
 * refused (SQLSTATE NC001, nothing kept) if another writer has bumped the version since. Null:
 * bump without the check, for writes that only free capacity or are themselves the truth (a
 * release, a failure, a fleet change).
 */
export interface CapacityFence {
  writer: string;
  viewVersion: number | null;
}

/** SQLSTATE raised by a fenced write whose view is stale (migration 0010). */
export const PG_STALE_VIEW = 'NC001';

function fenceSet(fence: CapacityFence): SQL {
  const ok = fence.viewVersion === null
    ? sql`TRUE`
    // No other writer since the view: the version has not moved, or every write since is this writer's run.
    : sql`(cap_version <= ${fence.viewVersion} OR (cap_writer = ${fence.writer} AND cap_run_start - 1 <= ${fence.viewVersion}))`;
  return sql`,
      cap_version = CASE WHEN ${ok} THEN cap_version + 1 ELSE neocloud_capacity_stale(cell, cap_version) END,
      cap_writer = ${fence.writer},
      cap_run_start = CASE WHEN cap_writer IS NOT DISTINCT FROM ${fence.writer} THEN cap_run_start ELSE cap_version + 1 END`;
}

/**
 * CTEs `eh` (the head update) and `ev` (the insert) that append `list` to `cell`'s log, for a
 * writer's own statement: `WITH l AS (…), ${appendCtes(…)} SELECT …`. `guard`, if given, is a
 * boolean SQL expression (e.g. `EXISTS (SELECT 1 FROM l)`): when false, nothing is appended and
 * no sequence number is taken. `fence`, if given, makes it a capacity write (see CapacityFence).
 */
export function appendCtes(cell: string, list: readonly NewEvent[], guard?: SQL, fence?: CapacityFence): SQL {
  const n = list.length;
  const ids = list.map(() => newId('evt'));
  return sql`eh AS (
      UPDATE event_log_heads SET last_seq = last_seq + ${n}${fence ? fenceSet(fence) : sql``} WHERE cell = ${cell} ${guard ? sql`AND ${guard}` : sql``}
      RETURNING last_seq - ${n} AS base),
    ev AS (
      INSERT INTO events (cell, seq, id, type, source, subject, tenant_id, time, data)
      SELECT ${cell}, eh.base + x.ord, x.id, x.type, ${sourceOf(cell)}, x.subject, x.tenant, x.t::timestamptz, x.d::jsonb
      FROM eh, unnest(${pgTextArray(ids)}::text[], ${pgTextArray(list.map((e) => TYPE_PREFIX + e.type))}::text[],
        ${pgTextArray(list.map((e) => e.subject))}::text[], ${pgTextArray(list.map((e) => e.tenantId))}::text[],
        ${pgTextArray(list.map((e) => new Date(e.timeMs).toISOString()))}::text[], ${pgTextArray(list.map((e) => JSON.stringify(e.data)))}::text[])
        WITH ORDINALITY AS x(id, type, subject, tenant, t, d, ord)
      RETURNING seq)`;
}

type EventRow = typeof events.$inferSelect;

export function cloudEvent(r: EventRow): CloudEvent {
  return {
    specversion: '1.0', id: r.id, source: r.source, type: r.type, subject: r.subject, time: r.time.toISOString(),
    datacontenttype: 'application/json', sequence: String(r.seq), tenantid: r.tenantId, data: r.data as Record<string, unknown>,
  };
}

export class EventLog {
  constructor(private readonly db: Db, readonly cell: string) {}

  /** Creates the cell's head row if it is missing (idempotent; call at start). */
  async init(): Promise<void> {
    await this.db.insert(eventLogHeads).values({ cell: this.cell, lastSeq: 0 }).onConflictDoNothing();
  }

  /**
   * Appends `list` in order, inside the caller's transaction `tx` (pass the Store's transaction
   * Db). Throws if the cell has no head (init() not run), rather than dropping events.
   */
  async append(tx: Db, list: readonly NewEvent[], fence?: CapacityFence): Promise<void> {
    if (list.length === 0) return;
    const r = await tx.execute(sql`WITH ${appendCtes(this.cell, list, undefined, fence)} SELECT count(*)::int AS n FROM ev`);
    const n = (r as unknown as { rows: { n: number }[] }).rows[0]?.n ?? 0;
    if (n !== list.length) throw new Error(`event log: cell "${this.cell}" has no head row; ${list.length} event(s) not appended`);
  }

  /** Events after `afterSeq` in sequence order, at most `limit`; only `tenantId`'s when given. */
  async read(afterSeq: number, limit: number, tenantId: string | null): Promise<CloudEvent[]> {
    const rows = await this.db.select().from(events)
      .where(and(eq(events.cell, this.cell), gt(events.seq, afterSeq), tenantId === null ? undefined : eq(events.tenantId, tenantId)))
      .orderBy(asc(events.seq))
      .limit(limit);
    return rows.map(cloudEvent);
  }

  /** One subject's events in order (a lease's history), only if it concerns `tenantId` when given. */
  async forSubject(subject: string, tenantId: string | null): Promise<CloudEvent[]> {
    const rows = await this.db.select().from(events)
      .where(and(eq(events.subject, subject), tenantId === null ? undefined : eq(events.tenantId, tenantId)))
      .orderBy(asc(events.seq));
    return rows.map(cloudEvent);
  }

  /** The sequence of the last event about `subject` in this cell (0: none); an index read. */
  async lastSeqOf(subject: string): Promise<number> {
    const [r] = await this.db.select({ seq: events.seq }).from(events)
      .where(and(eq(events.subject, subject), eq(events.cell, this.cell)))
      .orderBy(desc(events.seq)).limit(1);
    return r?.seq ?? 0;
  }

  /**
   * Locks the cell's head row until the caller's transaction `tx` ends: capacity writes of every
   * control plane wait behind it (a fleet change uses this so no booking slips in between its
   * checks and its commit). Returns the capacity version.
   */
  async lockCapacity(tx: Db): Promise<number> {
    const r = await tx.execute(sql`SELECT cap_version FROM event_log_heads WHERE cell = ${this.cell} FOR UPDATE`);
    const row = (r as unknown as { rows: { cap_version: number | string }[] }).rows[0];
    if (!row) throw new Error(`event log: cell "${this.cell}" has no head row`);
    return Number(row.cap_version);
  }

  /** The cell's capacity version, its last writer and the start of that writer's run (see CapacityFence). */
  async capacity(): Promise<{ version: number; writer: string | null; runStart: number }> {
    const [r] = await this.db.select({ version: eventLogHeads.capVersion, writer: eventLogHeads.capWriter, runStart: eventLogHeads.capRunStart })
      .from(eventLogHeads).where(eq(eventLogHeads.cell, this.cell));
    return r ?? { version: 0, writer: null, runStart: 0 };
  }

  /** The last sequence number appended in this cell (0: none). */
  async head(): Promise<number> {
    const [r] = await this.db.select({ lastSeq: eventLogHeads.lastSeq }).from(eventLogHeads).where(eq(eventLogHeads.cell, this.cell));
    return r?.lastSeq ?? 0;
  }
}
