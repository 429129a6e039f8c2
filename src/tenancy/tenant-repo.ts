/**
 * Tenants and API keys (hashes only): rows to domain values and back.
 */
import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import { iso, type Db } from '../store/index.js';
import * as t from './tenancy-schema.js';
import { IdempotencyRepo, type IdempotencyRecord } from './idempotency-repo.js';

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

function keyInfo(r: typeof t.apiKeys.$inferSelect): ApiKeyInfo {
  return {
    id: r.id, role: r.role as ApiKeyRecord['role'], tenantId: r.tenantId, prefix: r.prefix, createdAtMs: r.createdAt.getTime(),
    lastUsedAtMs: r.lastUsedAt ? r.lastUsedAt.getTime() : null, revokedAtMs: r.revokedAt ? r.revokedAt.getTime() : null,
  };
}

export class TenantRepo {
  constructor(readonly db: Db) {}

  tx<T>(fn: (r: TenantRepo) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new TenantRepo(tx as unknown as Db)));
  }

  /** Stores the response of an idempotent request in this repository's transaction. */
  saveIdempotent(principal: string, key: string, rec: IdempotencyRecord, nowMs: number): Promise<void> {
    return new IdempotencyRepo(this.db).save(principal, key, rec, nowMs);
  }

  async insertTenant(tenant: TenantRecord): Promise<void> {
    await this.db.insert(t.tenants).values({ id: tenant.id, name: tenant.name, createdAt: new Date(tenant.createdAtMs) });
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const [r] = await this.db.select().from(t.tenants).where(eq(t.tenants.id, id));
    return r ? { id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() } : undefined;
  }

  async getTenantByName(name: string): Promise<TenantRecord | undefined> {
    // Case-insensitive, as the unique index on lower(name) is.
    const [r] = await this.db.select().from(t.tenants).where(sql`lower(${t.tenants.name}) = lower(${name})`);
    return r ? { id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() } : undefined;
  }

  /**
   * Tenants in creation order (then id), after `after` (the last row of the previous page: its
   * creation time in ms and id), at most `limit`, leaving out `except` (the owner's account).
   */
  async listTenants(o: { after?: readonly [number, string] | undefined; limit: number; except?: string }): Promise<TenantRecord[]> {
    const rows = await this.db.select().from(t.tenants).where(and(
      o.except === undefined ? undefined : ne(t.tenants.id, o.except),
      o.after === undefined ? undefined : sql`(${t.tenants.createdAt}, ${t.tenants.id}) > (${iso(o.after[0])}::timestamptz, ${o.after[1]})`,
    )).orderBy(t.tenants.createdAt, t.tenants.id).limit(o.limit);
    return rows.map((r) => ({ id: r.id, name: r.name, createdAtMs: r.createdAt.getTime() }));
  }

  /** Locks a tenant's row until the transaction ends (serialises key issuance per tenant); false if there is no such tenant. */
  async lockTenant(id: string): Promise<boolean> {
    const rows = await this.db.select({ id: t.tenants.id }).from(t.tenants).where(eq(t.tenants.id, id)).for('update');
    return rows.length > 0;
  }

  /** A tenant's keys that still work. */
  async countLiveKeys(tenantId: string): Promise<number> {
    const [r] = await this.db.select({ n: sql<number>`count(*)::int` }).from(t.apiKeys).where(and(eq(t.apiKeys.tenantId, tenantId), isNull(t.apiKeys.revokedAt)));
    return r?.n ?? 0;
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

  /**
   * Keys of one tenant (`tenantId`), or the admin keys (`null`), oldest first (then by id), after
   * `after` (the previous page's last key: creation time in ms and id), at most `limit`.
   */
  async listApiKeys(tenantId: string | null, o: { after?: readonly [number, string] | undefined; limit: number }): Promise<ApiKeyInfo[]> {
    const rows = await this.db.select().from(t.apiKeys)
      .where(and(
        tenantId === null ? and(eq(t.apiKeys.role, 'admin'), isNull(t.apiKeys.tenantId)) : and(eq(t.apiKeys.role, 'tenant'), eq(t.apiKeys.tenantId, tenantId)),
        o.after === undefined ? undefined : sql`(${t.apiKeys.createdAt}, ${t.apiKeys.id}) > (${iso(o.after[0])}::timestamptz, ${o.after[1]})`,
      ))
      .orderBy(t.apiKeys.createdAt, t.apiKeys.id).limit(o.limit);
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
}
