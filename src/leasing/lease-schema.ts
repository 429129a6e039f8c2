/**
 * Leasing's tables (owned by src/leasing): leases and their GPU holds. The exclusion constraint
 * that makes double-booking impossible (btree_gist) is a hand-written migration (0001).
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { gpuRegistry } from '../fleet/fleet-schema.js';
import { tenants } from '../tenancy/tenancy-schema.js';
import { ts, tstzrange } from '../store/columns.js';

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
  /** ISO 4217 code of the price and total (the tenant's billing currency when booked). */
  currency: text('currency').notNull().default('USD'),
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
  /**
   * A lease may hold one GPU in several disjoint spans (moved off when its node failed, moved back
   * later), and spans cut before they started are empty ranges that compare equal: each row has its
   * own key.
   */
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  leaseId: text('lease_id').notNull().references(() => leases.id),
  gpuUuid: text('gpu_uuid').notNull().references(() => gpuRegistry.uuid),
  nodeId: text('node_id').notNull(),
  during: tstzrange('during').notNull(),
  /** Set when the lease moved off this GPU (its node failed): the row stays as history. */
  movedAt: ts('moved_at'),
}, (t) => [index('lease_gpus_lease_idx').on(t.leaseId), index('lease_gpus_gpu_idx').on(t.gpuUuid)]);
