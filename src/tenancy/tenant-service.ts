/**
 * Tenants and API keys. Keys are shown once and stored only as SHA-256 hashes; nothing here logs
 * them. The operator's admin key is created on first start (or taken from NEOCLOUD_ADMIN_KEY).
 */
import type { Clock } from '../shared/clock.js';
import { DomainError, invalid } from '../shared/errors.js';
import { hashApiKey, newApiKey, newId } from '../shared/ids.js';
import type { Store, TenantRecord } from '../store/index.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../store/index.js';
import type { IdempotencyContext, Principal } from './principal.js';

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
}

export interface CreatedTenant {
  tenant: TenantView;
  /** The tenant's API key, in clear: returned once, never stored. Null on an idempotent replay. */
  apiKey: string | null;
}

export const tenantView = (t: TenantRecord): TenantView => ({ id: t.id, name: t.name, createdAt: new Date(t.createdAtMs).toISOString() });

/** How long a verified key is trusted without asking the store again (a revocation waits this long). */
export const AUTH_CACHE_TTL_MS = 30_000;
const AUTH_CACHE_MAX = 10_000;

export class TenantService {
  /** Verified key hashes → principal; only successes are cached. */
  private readonly authCache = new Map<string, { principal: Principal; untilMs: number }>();

  constructor(private readonly store: Store, private readonly clock: Clock) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new DomainError('unauthorized', 'Authorization: a bearer API key is required');
    const hash = hashApiKey(m[1]!);
    const now = this.clock.nowMs();
    const hit = this.authCache.get(hash);
    if (hit && hit.untilMs > now) return hit.principal;
    const rec = await this.store.findApiKey(hash);
    if (!rec) throw new DomainError('unauthorized', 'Authorization: the API key is not valid');
    const principal: Principal = rec.role === 'admin' || rec.tenantId === null
      ? { kind: 'admin', keyId: rec.id }
      : { kind: 'tenant', tenantId: rec.tenantId, keyId: rec.id };
    if (this.authCache.size >= AUTH_CACHE_MAX) this.authCache.clear();
    this.authCache.set(hash, { principal, untilMs: now + AUTH_CACHE_TTL_MS });
    return principal;
  }

  /**
   * Makes sure an admin key exists. Returns the new key in clear when one was created (the caller
   * prints it once), or null when one already existed. A key given by the environment is
   * registered if it is not yet known, so operators can pin it.
   */
  async ensureAdminKey(pinned?: string): Promise<string | null> {
    if (pinned) {
      const hash = hashApiKey(pinned);
      if (!(await this.store.findApiKey(hash))) {
        await this.store.insertApiKey({ id: newId('key'), keyHash: hash, role: 'admin', tenantId: null, createdAtMs: this.clock.nowMs() });
      }
      return null;
    }
    if ((await this.store.countAdminKeys()) > 0) return null;
    const key = newApiKey('admin');
    await this.store.insertApiKey({ id: newId('key'), keyHash: hashApiKey(key), role: 'admin', tenantId: null, createdAtMs: this.clock.nowMs() });
    return key;
  }

  async create(principal: Principal, name: string, idem?: IdempotencyContext): Promise<CreatedTenant> {
    requireAdmin(principal);
    const trimmed = name.trim();
    if (trimmed.length === 0) throw invalid('name', 'must not be blank');
    const now = this.clock.nowMs();
    const tenant: TenantRecord = { id: newId('ten'), name: trimmed, createdAtMs: now };
    const apiKey = newApiKey('tenant');
    try {
      await this.store.tx(async (s) => {
        if (await s.getTenantByName(trimmed)) throw new DomainError('conflict', `name: a tenant named "${trimmed}" already exists`, { field: 'name' });
        await s.insertTenant(tenant);
        await s.insertApiKey({ id: newId('key'), keyHash: hashApiKey(apiKey), role: 'tenant', tenantId: tenant.id, createdAtMs: now });
        // The stored replay omits the secret: keys are never persisted in clear.
        if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { tenant: tenantView(tenant), apiKey: null } }, now);
      });
    } catch (err) {
      if (pgErrorCode(err) === PG_UNIQUE_VIOLATION && !(err instanceof DomainError)) {
        throw new DomainError('conflict', `name: a tenant named "${trimmed}" already exists`, { field: 'name' });
      }
      throw err;
    }
    return { tenant: tenantView(tenant), apiKey };
  }

  /** Issues an extra key for a tenant (e.g. after a lost one). */
  async issueKey(principal: Principal, tenantId: string, idem?: IdempotencyContext): Promise<{ tenantId: string; apiKey: string }> {
    requireAdmin(principal);
    const now = this.clock.nowMs();
    const apiKey = newApiKey('tenant');
    await this.store.tx(async (s) => {
      if (!(await s.getTenant(tenantId))) throw new DomainError('not_found', `tenant ${tenantId} not found`);
      await s.insertApiKey({ id: newId('key'), keyHash: hashApiKey(apiKey), role: 'tenant', tenantId, createdAtMs: now });
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { tenantId, apiKey: null } }, now);
    });
    return { tenantId, apiKey };
  }

  async list(principal: Principal): Promise<TenantView[]> {
    if (principal.kind === 'tenant') {
      const t = await this.store.getTenant(principal.tenantId);
      return t ? [tenantView(t)] : [];
    }
    return (await this.store.listTenants()).map(tenantView);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.store.getTenant(id)) !== undefined;
  }
}

export function requireAdmin(p: Principal): void {
  if (p.kind !== 'admin') throw new DomainError('forbidden', 'this operation needs the operator admin key');
}
