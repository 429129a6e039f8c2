/**
 * Tenancy's tables (owned by src/tenancy): tenants, API keys (hashed) and the stored responses of
 * idempotent requests.
 */
import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { ts } from '../store/columns.js';

/**
 * Names are unique regardless of case (`lower(name)`): "Acme" and "acme" would be told apart by no
 * one reading an invoice or a lease list.
 */
export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  createdAt: ts('created_at').notNull(),
}, (t) => [uniqueIndex('tenants_name_lower_unique').on(sql`lower(${t.name})`)]);

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

/** Stored responses of mutating POSTs, per principal and Idempotency-Key. */
export const idempotencyKeys = pgTable('idempotency_keys', {
  principal: text('principal').notNull(),
  key: text('key').notNull(),
  requestHash: text('request_hash').notNull(),
  statusCode: integer('status_code').notNull(),
  body: jsonb('body').notNull(),
  createdAt: ts('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.principal, t.key] })]);
