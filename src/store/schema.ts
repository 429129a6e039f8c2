/**
 * Drizzle schema: the single description of the tables, used by both PGlite and PostgreSQL.
 * Migrations in `migrations/` are generated from it by drizzle-kit; the exclusion constraint that
 * makes double-booking impossible (btree_gist) is a hand-written migration beside them.
 * Watts and micro-dollars are integers (bigint where a sum could pass 2^31).
 */
import { sql } from 'drizzle-orm';
import {
  bigint, boolean, customType, doublePrecision, index, integer, jsonb, pgTable, primaryKey, text, timestamp,
} from 'drizzle-orm/pg-core';

/** PostgreSQL tstzrange, written as a range literal such as `[2026-01-01T00:00:00.000Z,2026-01-02T00:00:00.000Z)`. */
export const tstzrange = customType<{ data: string; driverData: string }>({
  dataType: () => 'tstzrange',
});

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const sites = pgTable('sites', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  region: text('region').notNull(),
  powerCapW: bigint('power_cap_w', { mode: 'number' }).notNull(),
  pue: doublePrecision('pue').notNull(),
});

export const powerSources = pgTable('power_sources', {
  id: text('id').primaryKey(),
  siteId: text('site_id').notNull().references(() => sites.id),
  kind: text('kind').notNull(),
  capacityW: bigint('capacity_w', { mode: 'number' }).notNull(),
  priceMicrosPerMwh: bigint('price_micros_per_mwh', { mode: 'number' }).notNull(),
});

export const halls = pgTable('halls', {
  id: text('id').primaryKey(),
  siteId: text('site_id').notNull().references(() => sites.id),
  powerCapW: bigint('power_cap_w', { mode: 'number' }).notNull(),
});

export const fabrics = pgTable('fabric_domains', {
  id: text('id').primaryKey(),
  hallId: text('hall_id').notNull().references(() => halls.id),
  siteId: text('site_id').notNull().references(() => sites.id),
  kind: text('kind').notNull(),
});

export const nvlinks = pgTable('nvlink_domains', {
  id: text('id').primaryKey(),
  fabricId: text('fabric_id').notNull().references(() => fabrics.id),
  kind: text('kind').notNull(),
  gpuCount: integer('gpu_count').notNull(),
});

export const nodes = pgTable('nodes', {
  id: text('id').primaryKey(),
  siteId: text('site_id').notNull().references(() => sites.id),
  hallId: text('hall_id').notNull().references(() => halls.id),
  fabricId: text('fabric_id').notNull().references(() => fabrics.id),
  nvlinkId: text('nvlink_id').notNull().references(() => nvlinks.id),
  gpuModel: text('gpu_model').notNull(),
  state: text('state').notNull(),
});

/**
 * Every GPU that was ever in the fleet, by UUID: rows are added by fleet applies and never
 * removed, so a lease's GPU rows reference a real GPU even after its node left the fleet.
 */
export const gpuRegistry = pgTable('gpu_registry', {
  uuid: text('uuid').primaryKey(),
  model: text('model').notNull(),
  firstSeenAt: ts('first_seen_at').notNull().default(sql`now()`),
});

export const gpus = pgTable('gpus', {
  uuid: text('uuid').primaryKey().references(() => gpuRegistry.uuid),
  nodeId: text('node_id').notNull().references(() => nodes.id),
  index: integer('idx').notNull(),
  model: text('model').notNull(),
}, (t) => [index('gpus_node_idx').on(t.nodeId)]);

export const prices = pgTable('prices', {
  gpuModel: text('gpu_model').notNull(),
  leaseClass: text('lease_class').notNull(),
  priceMicrosPerGpuHour: bigint('price_micros_per_gpu_hour', { mode: 'number' }).notNull(),
}, (t) => [primaryKey({ columns: [t.gpuModel, t.leaseClass] })]);

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  createdAt: ts('created_at').notNull(),
});

/** API keys, stored as SHA-256 hashes. `tenant_id` null = operator (admin) key. */
export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  keyHash: text('key_hash').notNull().unique(),
  role: text('role').notNull(),
  tenantId: text('tenant_id').references(() => tenants.id),
  /** The first characters of the secret (`nc_live_AbCd`), to tell keys apart; null for keys made before it was kept. */
  prefix: text('prefix'),
  createdAt: ts('created_at').notNull(),
  /** Recorded at most once a minute per key (a write per request would cost more than the request). */
  lastUsedAt: ts('last_used_at'),
  revokedAt: ts('revoked_at'),
}, (t) => [index('api_keys_tenant_idx').on(t.tenantId, t.createdAt)]);

export const leases = pgTable('leases', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  gpuModel: text('gpu_model').notNull(),
  gpuCount: integer('gpu_count').notNull(),
  leaseClass: text('lease_class').notNull(),
  placement: text('placement').notNull(),
  region: text('region'),
  startAt: ts('start_at').notNull(),
  endAt: ts('end_at').notNull(),
  releasedAt: ts('released_at'),
  /** Set when the lease could not be kept (its node failed and nothing else fitted). */
  failedAt: ts('failed_at'),
  stateReason: text('state_reason'),
  /** Spot leases only: when the GPUs go to `preempted_by` (the end of the notice period). */
  preemptedAt: ts('preempted_at'),
  preemptedBy: text('preempted_by'),
  priceMicrosPerGpuHour: bigint('price_micros_per_gpu_hour', { mode: 'bigint' }).notNull(),
  totalMicros: bigint('total_micros', { mode: 'bigint' }).notNull(),
  createdAt: ts('created_at').notNull(),
  /** Queued requests only: waiting for capacity until then (no GPUs); cleared when placed. */
  queuedUntil: ts('queued_until'),
  /**
   * Whether the event log has the lease's start (`lease.started`), and its end (`expired`,
   * `preempted`, `released`, `failed`): the sweep of time-driven events writes each exactly once
   * and sets these in the same transaction. Set at once where the writer itself logs the change.
   */
  startLogged: boolean('start_logged').notNull().default(false),
  endLogged: boolean('end_logged').notNull().default(false),
}, (t) => [
  index('leases_start_unlogged_idx').on(t.startAt).where(sql`NOT start_logged`),
  index('leases_end_unlogged_idx').on(t.endAt).where(sql`NOT end_logged`),
  index('leases_tenant_idx').on(t.tenantId, t.createdAt),
  index('leases_queued_idx').on(t.createdAt).where(sql`queued_until IS NOT NULL`),
]);

/**
 * One row per GPU per lease. `during` is the half-open window the GPU is held; a release
 * shortens it. The exclusion constraint (migration 0001) forbids two overlapping rows per GPU.
 */
export const leaseGpus = pgTable('lease_gpus', {
  leaseId: text('lease_id').notNull().references(() => leases.id),
  gpuUuid: text('gpu_uuid').notNull().references(() => gpuRegistry.uuid),
  nodeId: text('node_id').notNull(),
  during: tstzrange('during').notNull(),
  /** Set when the lease moved off this GPU (its node failed): the row stays as history. */
  movedAt: ts('moved_at'),
}, (t) => [primaryKey({ columns: [t.leaseId, t.gpuUuid] }), index('lease_gpus_gpu_idx').on(t.gpuUuid)]);

/** Stored responses of mutating POSTs, per principal and Idempotency-Key. */
export const idempotencyKeys = pgTable('idempotency_keys', {
  principal: text('principal').notNull(),
  key: text('key').notNull(),
  requestHash: text('request_hash').notNull(),
  statusCode: integer('status_code').notNull(),
  body: jsonb('body').notNull(),
  createdAt: ts('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.principal, t.key] })]);

/** Small key/value settings (e.g. whether the demo fleet was loaded). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: ts('updated_at').notNull().default(sql`now()`),
});
