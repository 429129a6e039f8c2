/**
 * The fleet's tables (owned by src/fleet): sites, power, halls, fabrics, NVLink domains, nodes,
 * GPUs (and the registry of every GPU ever installed) and prices. Watts and micro-dollars are
 * integers (bigint where a sum could pass 2^31). Generated into migrations by drizzle-kit.
 */
import { sql } from 'drizzle-orm';
import { bigint, doublePrecision, index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { ts } from '../store/columns.js';

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

/**
 * The node states the last applied spec asked for (only nodes not `ready`): a node's stored state
 * is the worst of this and its conditions, so a condition cleared (a recovery, an undrain)
 * returns the node to what the spec says.
 */
export const fleetSpecStates = pgTable('fleet_spec_states', {
  nodeId: text('node_id').primaryKey(),
  state: text('state').notNull(),
});

/**
 * What the operator and the node's health say about a node besides the spec: `admin` (drain:
 * no new leases; cordon: out of service now) and `health_reason` (why its agent's reports took it
 * down, since `health_since`). Survives spec applies: a spec cannot bring a sick node back.
 */
export const nodeConditions = pgTable('node_conditions', {
  nodeId: text('node_id').primaryKey(),
  admin: text('admin'),
  healthReason: text('health_reason'),
  healthSince: ts('health_since'),
  updatedAt: ts('updated_at').notNull().default(sql`now()`),
});

/**
 * The GPUs a node's agent discovered at enrolment (index → real UUID, serial, PCI bus id). A node
 * whose spec gives no UUIDs gets these instead of the synthetic ones, at enrolment and at every
 * later apply.
 */
export const discoveredGpus = pgTable('discovered_gpus', {
  nodeId: text('node_id').notNull(),
  index: integer('idx').notNull(),
  uuid: text('uuid').notNull(),
  serial: text('serial'),
  pciBusId: text('pci_bus_id'),
  discoveredAt: ts('discovered_at').notNull().default(sql`now()`),
}, (t) => [primaryKey({ columns: [t.nodeId, t.index] })]);
