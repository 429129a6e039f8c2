/**
 * The telemetry domain's tables: one-time enrolment tokens, agents (each with its own credential),
 * and the downsampled power history. Latest readings live in memory (TelemetryState); what
 * changes a node's state is written by the fleet (node_conditions) with its events.
 */
import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { ts } from '../store/columns.js';

/** A token the operator created for one node id; used once (`used_at`), valid until `expires_at`. Stored as SHA-256. */
export const agentTokens = pgTable('agent_tokens', {
  id: text('id').primaryKey(),
  nodeId: text('node_id').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: ts('created_at').notNull().default(sql`now()`),
  expiresAt: ts('expires_at').notNull(),
  usedAt: ts('used_at'),
});

/**
 * An enrolled agent: its credential's SHA-256 (HTTP bearer) and the key that verifies its NATS
 * heartbeats (SHA-256 of `nats:` + credential). Enrolling a node again revokes its previous agent.
 */
export const agents = pgTable('agents', {
  id: text('id').primaryKey(),
  nodeId: text('node_id').notNull(),
  credentialHash: text('credential_hash').notNull().unique(),
  natsKey: text('nats_key').notNull(),
  createdAt: ts('created_at').notNull().default(sql`now()`),
  revokedAt: ts('revoked_at'),
}, (t) => [index('agents_node_idx').on(t.nodeId)]);

/** Measured power per minute and scope (`site`, `hall`): mean and peak of the GPUs' board power, watts. */
export const powerHistory = pgTable('power_history', {
  scope: text('scope').notNull(),
  scopeId: text('scope_id').notNull(),
  minute: ts('minute').notNull(),
  meanW: bigint('mean_w', { mode: 'number' }).notNull(),
  peakW: bigint('peak_w', { mode: 'number' }).notNull(),
  samples: integer('samples').notNull(),
}, (t) => [primaryKey({ columns: [t.scope, t.scopeId, t.minute] })]);

/**
 * When any control plane of the cell last heard each node's agent, and the agent's interval, ms
 * (migration 0021). Written behind and throttled per node by the plane that took the heartbeat
 * (TelemetryService.flushLastSeen: one statement per tick), read by the cell's health leader, so
 * a heartbeat to any plane keeps its node alive. Also moved forward to "now" by an operator's
 * recover (missed heartbeats count from then).
 */
export const nodeLastSeen = pgTable('node_last_seen', {
  nodeId: text('node_id').primaryKey(),
  lastSeenAt: ts('last_seen_at').notNull(),
  intervalMs: integer('interval_ms').notNull(),
});
