/**
 * The event log's tables (the transactional outbox). Owned by the events domain; generated into
 * migrations by drizzle-kit with the rest of the schema.
 *
 * `events` holds every state change, with a gap-free sequence per cell: `event_log_heads` keeps
 * each cell's last sequence number, and an append takes the next numbers by updating that row in
 * the writer's own transaction. The row lock serializes appends of one cell until commit, so
 * sequence order is commit order and a rolled-back transaction leaves no gap — a consumer that
 * has read up to N never misses an N' < N committed later.
 */
import { bigint, index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

export const eventLogHeads = pgTable('event_log_heads', {
  cell: text('cell').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  /**
   * The capacity fence (docs/decisions.md, "Several control planes"): bumped by every write that
   * changes what the cell's GPUs and power can take (a booking, a release, a move, a fleet change).
   * `cap_writer` is the control plane that wrote last and `cap_run_start` the first version of its
   * current run of writes, so `cap_run_start − 1` is the last version another process wrote.
   */
  capVersion: bigint('cap_version', { mode: 'number' }).notNull().default(0),
  capWriter: text('cap_writer'),
  capRunStart: bigint('cap_run_start', { mode: 'number' }).notNull().default(0),
});

export const events = pgTable('events', {
  cell: text('cell').notNull(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  /** CloudEvents `id`: unique across cells; consumers deduplicate on it. */
  id: text('id').notNull().unique(),
  /** CloudEvents `type`, e.g. `dev.neocloud.lease.placed`. */
  type: text('type').notNull(),
  /** CloudEvents `source`: `/cells/{cell}`. */
  source: text('source').notNull(),
  /** CloudEvents `subject`: the resource the event is about (a lease id, a node id). */
  subject: text('subject').notNull(),
  /** The tenant the event concerns, if any: what a tenant's feed is filtered on. */
  tenantId: text('tenant_id'),
  time: timestamp('time', { withTimezone: true, mode: 'date' }).notNull(),
  data: jsonb('data').notNull(),
}, (t) => [
  primaryKey({ columns: [t.cell, t.seq] }),
  index('events_subject_idx').on(t.subject, t.seq),
  index('events_tenant_idx').on(t.tenantId, t.seq),
]);

/**
 * How far each relay has published a cell's log (src/events/nats-relay.ts), one row per cell and
 * JetStream stream. `last_seq` only moves forward, after the publish acks. The row is also the
 * relay's lock: `owner` publishes until `lease_until` (renewed every pass, database clock); a
 * relay that finds another owner with time left idles.
 */
export const natsRelayCursors = pgTable('nats_relay_cursors', {
  cell: text('cell').notNull(),
  stream: text('stream').notNull(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
  owner: text('owner'),
  leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.cell, t.stream] })]);

/**
 * How far each transactional consumer (billing's `lease-meter`, and later the market, finance,
 * webhooks) has read a cell's log. Written only by `consumeLog` (src/events/log-consumer.ts), in
 * the transaction that writes what the consumer made of the events it read; the row lock is what
 * makes two control planes' copies of one consumer take turns. Replaced `billing_log_cursors`
 * (migration 0018 moved its rows here).
 */
export const eventLogCursors = pgTable('event_log_cursors', {
  consumer: text('consumer').notNull(),
  cell: text('cell').notNull(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
}, (t) => [primaryKey({ columns: [t.consumer, t.cell] })]);
