/**
 * Tenants and API keys. Keys are shown once and stored only as SHA-256 hashes; nothing here logs
 * them. The operator's admin key is created on first start (or taken from NEOCLOUD_ADMIN_KEY).
 */
import type { Clock } from '../shared/clock.js';
import { DomainError, invalid, notFound } from '../shared/errors.js';
import { hashApiKey, newApiKey, newId } from '../shared/ids.js';
import { decodeCursor, pageOf, type Page } from '../shared/paging.js';
import type { DbHandle } from '../store/index.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../store/index.js';
import { KEY_REVOKED_CHANNEL, type ApiKeyInfo, type TenantRecord, TenantRepo } from './tenant-repo.js';
import { OWNER_TENANT_ID, OWNER_TENANT_NAME, type IdempotencyContext, type Principal } from './principal.js';

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
}

/**
 * Characters a tenant name may not hold: control characters (C0, DEL, C1) and invisible formatting
 * (zero-width characters, bidirectional marks, embeddings, overrides and isolates, word joiners,
 * the BOM), which make two names look alike or reorder the text shown around them.
 */
const FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

/** Which page of a list: `limit` rows after `cursor` (the previous page's `nextCursor`). */
export interface PageParams { limit: number; cursor?: string | undefined }

export interface CreatedTenant {
  tenant: TenantView;
  /** The tenant's API key, in clear: returned once, never stored. Null on an idempotent replay. */
  apiKey: string | null;
}

export const tenantView = (t: TenantRecord): TenantView => ({ id: t.id, name: t.name, createdAt: new Date(t.createdAtMs).toISOString() });

/**
 * How long a verified key is trusted without asking the store again. A revocation does not wait
 * for it: it is announced on a NOTIFY channel that every control plane sharing the database
 * listens to, and evicted at once; while that channel is down, nothing is cached.
 */
export const AUTH_CACHE_TTL_MS = 30_000;
const AUTH_CACHE_MAX = 10_000;
/** `last_used_at` is written at most this often per key. */
export const KEY_TOUCH_EVERY_MS = 60_000;
/**
 * Keys a tenant may hold at once (not revoked), unless configured (NEOCLOUD_MAX_KEYS_PER_TENANT):
 * enough for a key per service and a rotation in flight; a tenant that minted 2,000 in 19 s
 * (issue 24) was filling the table and every authentication cache with keys nobody uses.
 */
export const DEFAULT_MAX_KEYS_PER_TENANT = 100;
/** Characters of a secret kept to tell keys apart (`nc_live_AbCd`: 4 of its 43 random ones). */
const PREFIX_CHARS = 12;

export interface KeyView {
  id: string;
  tenantId: string | null;
  role: 'admin' | 'tenant';
  prefix: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** GET /v1/whoami. */
export interface WhoAmI { kind: 'admin' | 'tenant'; tenantId: string | null; keyId: string }
/**
 * GET /v1/me: who the caller is, for a client deciding what to show (the console never probes an
 * operator route to learn its role). `role` is the console's word for `kind`.
 */
export interface Me { role: 'operator' | 'tenant'; tenantId: string | null; tenantName: string | null; keyId: string }
/** An issued key: `apiKey` is the secret, in clear once (null on an idempotent replay). */
export interface IssuedKey { tenantId: string; key: KeyView; apiKey: string | null }
/** A rotated admin key: the key that made the call is revoked. */
export interface RotatedAdminKey { key: KeyView; apiKey: string | null; revokedKeyId: string }

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
export const keyView = (k: ApiKeyInfo): KeyView => ({
  id: k.id, tenantId: k.tenantId, role: k.role, prefix: k.prefix, createdAt: iso(k.createdAtMs)!, lastUsedAt: iso(k.lastUsedAtMs), revokedAt: iso(k.revokedAtMs),
});

interface CachedKey {
  principal: Principal;
  untilMs: number;
  touchedAtMs: number;
}

export class TenantService {
  /** Verified key hashes → principal; only successes are cached. */
  private readonly authCache = new Map<string, CachedKey>();
  /** Whether revocations reach this process (the NOTIFY channel is up); nothing is cached otherwise. */
  private cacheTrusted = false;

  /** Live keys a tenant may hold (see DEFAULT_MAX_KEYS_PER_TENANT). */
  readonly maxKeysPerTenant: number;

  constructor(private readonly store: TenantRepo, private readonly clock: Clock, o: { maxKeysPerTenant?: number | undefined } = {}) {
    this.maxKeysPerTenant = o.maxKeysPerTenant ?? DEFAULT_MAX_KEYS_PER_TENANT;
  }

  /**
   * Starts hearing revocations from every control plane on the database; until this is called
   * (and whenever the channel is down) every request checks its key in the store.
   */
  async watchRevocations(handle: Pick<DbHandle, 'listen'>): Promise<() => Promise<void>> {
    return handle.listen(KEY_REVOKED_CHANNEL, {
      onMessage: (keyId) => this.evict(keyId),
      onState: (live) => {
        this.authCache.clear();
        this.cacheTrusted = live;
      },
    });
  }

  /** Forgets a key id's cached verification (it was revoked here or elsewhere). */
  private evict(keyId: string): void {
    for (const [hash, c] of this.authCache) if (c.principal.keyId === keyId) this.authCache.delete(hash);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new DomainError('unauthorized', 'Authorization: a bearer API key is required');
    const hash = hashApiKey(m[1]!);
    const now = this.clock.nowMs();
    const hit = this.authCache.get(hash);
    if (hit && hit.untilMs > now && this.cacheTrusted) {
      this.touch(hit, now);
      return hit.principal;
    }
    const rec = await this.store.findApiKey(hash);
    if (!rec) {
      // A revoked key says so (a retried rotation uses the key it revoked): the secret of a rotated
      // key is never stored in clear, so a lost answer is recovered by the break-glass.
      if ((await this.store.apiKeyKnown(hash))?.revoked) {
        throw new DomainError('unauthorized', 'Authorization: this API key was revoked (rotated or revoked by its owner). ' +
          'An operator who lost a rotated admin key restarts the control plane with NEOCLOUD_ADMIN_KEY set to a new key (break-glass)');
      }
      throw new DomainError('unauthorized', 'Authorization: the API key is not valid');
    }
    const principal: Principal = rec.role === 'admin' || rec.tenantId === null
      ? { kind: 'admin', keyId: rec.id }
      : { kind: 'tenant', tenantId: rec.tenantId, keyId: rec.id };
    const entry: CachedKey = { principal, untilMs: now + AUTH_CACHE_TTL_MS, touchedAtMs: -Infinity };
    this.touch(entry, now);
    if (this.cacheTrusted) {
      if (this.authCache.size >= AUTH_CACHE_MAX) this.authCache.clear();
      this.authCache.set(hash, entry);
    }
    return principal;
  }

  /** Records the key's use, at most once a minute, off the request's path (a failure only loses a timestamp). */
  private touch(entry: CachedKey, now: number): void {
    if (now - entry.touchedAtMs < KEY_TOUCH_EVERY_MS) return;
    entry.touchedAtMs = now;
    void this.store.touchApiKey(entry.principal.keyId, now, KEY_TOUCH_EVERY_MS).catch(() => undefined);
  }

  async me(p: Principal): Promise<Me> {
    if (p.kind === 'admin') return { role: 'operator', tenantId: null, tenantName: null, keyId: p.keyId };
    const t = await this.store.getTenant(p.tenantId);
    return { role: 'tenant', tenantId: p.tenantId, tenantName: t?.name ?? null, keyId: p.keyId };
  }

  whoami(p: Principal): WhoAmI {
    return { kind: p.kind, tenantId: p.kind === 'tenant' ? p.tenantId : null, keyId: p.keyId };
  }

  /**
   * Makes sure an admin key works. Returns the new key in clear when one was created (the caller
   * prints it once), or null when a live one already existed. A key given by the environment is
   * registered if it is not yet known, so operators can pin it; a pinned key that was revoked
   * stays revoked (rotating it must not be undone by a restart) — then, as when every admin key
   * has been revoked, a new one is generated: restarting the control plane is the break-glass.
   */
  async ensureAdminKey(pinned?: string): Promise<string | null> {
    const now = this.clock.nowMs();
    if (pinned) {
      const hash = hashApiKey(pinned);
      if (!(await this.store.apiKeyKnown(hash))) {
        await this.store.insertApiKey({ id: newId('key'), keyHash: hash, role: 'admin', tenantId: null, prefix: pinned.slice(0, PREFIX_CHARS), createdAtMs: now });
      }
    }
    if ((await this.store.countAdminKeys()) > 0) return null;
    const key = newApiKey('admin');
    await this.store.insertApiKey({ id: newId('key'), keyHash: hashApiKey(key), role: 'admin', tenantId: null, prefix: key.slice(0, PREFIX_CHARS), createdAtMs: now });
    return key;
  }

  async create(principal: Principal, name: string, idem?: IdempotencyContext): Promise<CreatedTenant> {
    requireAdmin(principal);
    // NFC, so the same name typed two ways is one name (and collides as one).
    const trimmed = name.normalize('NFC').trim();
    if (trimmed.length === 0) throw invalid('name', 'must not be blank');
    const bad = FORBIDDEN_IN_NAME.exec(trimmed);
    if (bad) {
      throw invalid('name', `must not contain control or invisible formatting characters (found U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`);
    }
    const now = this.clock.nowMs();
    const tenant: TenantRecord = { id: newId('ten'), name: trimmed, createdAtMs: now };
    const apiKey = newApiKey('tenant');
    try {
      await this.store.tx(async (s) => {
        const taken = await s.getTenantByName(trimmed);
        if (taken) throw new DomainError('conflict', `name: a tenant named "${taken.name}" already exists (names are unique regardless of case)`, { field: 'name' });
        await s.insertTenant(tenant);
        await s.insertApiKey({ id: newId('key'), keyHash: hashApiKey(apiKey), role: 'tenant', tenantId: tenant.id, prefix: apiKey.slice(0, PREFIX_CHARS), createdAtMs: now });
        // The stored replay omits the secret: keys are never persisted in clear.
        if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { tenant: tenantView(tenant), apiKey: null } }, now);
      });
    } catch (err) {
      if (pgErrorCode(err) === PG_UNIQUE_VIOLATION && !(err instanceof DomainError)) {
        throw new DomainError('conflict', `name: a tenant named "${trimmed}" already exists (names are unique regardless of case)`, { field: 'name' });
      }
      throw err;
    }
    return { tenant: tenantView(tenant), apiKey };
  }

  /**
   * Creates the owner's account if it is missing (at start, so it exists before any customer could
   * take its name). Internal leases belong to it.
   */
  async ensureOwnerAccount(): Promise<void> {
    if (await this.store.getTenant(OWNER_TENANT_ID)) return;
    const taken = await this.store.getTenantByName(OWNER_TENANT_NAME);
    await this.store.insertTenant({ id: OWNER_TENANT_ID, name: taken ? `${OWNER_TENANT_NAME} ${OWNER_TENANT_ID}` : OWNER_TENANT_NAME, createdAtMs: this.clock.nowMs() });
  }

  /** The tenant `tenantId` if the principal may manage it: the operator, or the tenant itself. Foreign and missing look alike. */
  private async ownTenant(principal: Principal, tenantId: string, s: TenantRepo = this.store): Promise<void> {
    if (tenantId === OWNER_TENANT_ID) throw notFound('tenant', tenantId); // no keys: the operator acts for it
    if (principal.kind === 'tenant' && principal.tenantId !== tenantId) throw notFound('tenant', tenantId);
    if (!(await s.getTenant(tenantId))) throw notFound('tenant', tenantId);
  }

  /**
   * Issues another key for a tenant (e.g. to rotate: issue, switch, revoke the old one), unless it
   * already holds `maxKeysPerTenant` live keys (409 limit-reached, naming the limit). The tenant's
   * row is locked while its keys are counted, so concurrent requests cannot pass the limit together.
   */
  async issueKey(principal: Principal, tenantId: string, idem?: IdempotencyContext): Promise<IssuedKey> {
    const now = this.clock.nowMs();
    const apiKey = newApiKey('tenant');
    const info: ApiKeyInfo = { id: newId('key'), role: 'tenant', tenantId, prefix: apiKey.slice(0, PREFIX_CHARS), createdAtMs: now, lastUsedAtMs: null, revokedAtMs: null };
    await this.store.tx(async (s) => {
      await this.ownTenant(principal, tenantId, s);
      if (!(await s.lockTenant(tenantId))) throw notFound('tenant', tenantId);
      const live = await s.countLiveKeys(tenantId);
      if (live >= this.maxKeysPerTenant) {
        throw new DomainError('limit_reached',
          `keys: tenant ${tenantId} already holds ${live} live API keys, the most a tenant may hold (keys per tenant: ${this.maxKeysPerTenant}, NEOCLOUD_MAX_KEYS_PER_TENANT); revoke one first`,
          { field: 'keys', limit: 'keysPerTenant', max: this.maxKeysPerTenant });
      }
      await s.insertApiKey({ ...info, keyHash: hashApiKey(apiKey) });
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { tenantId, key: keyView(info), apiKey: null } }, now);
    });
    return { tenantId, key: keyView(info), apiKey };
  }

  /** A page of a tenant's keys, oldest first (src/shared/paging.ts). */
  async listKeys(principal: Principal, tenantId: string, page: PageParams): Promise<Page<KeyView>> {
    await this.ownTenant(principal, tenantId);
    return this.keyPage(tenantId, page);
  }

  private async keyPage(tenantId: string | null, page: PageParams): Promise<Page<KeyView>> {
    const after = decodeCursor(page.cursor, ['ms', 'string']) as [number, string] | undefined;
    const rows = await this.store.listApiKeys(tenantId, { after, limit: page.limit + 1 });
    const p = pageOf(rows, page.limit, (k) => [k.createdAtMs, k.id]);
    return { items: p.items.map(keyView), nextCursor: p.nextCursor };
  }

  /** Revokes a tenant's key at once, here and on every control plane sharing the database. Revoking twice is a no-op. */
  async revokeKey(principal: Principal, tenantId: string, keyId: string, idem?: IdempotencyContext): Promise<KeyView> {
    const now = this.clock.nowMs();
    const view = await this.store.tx(async (s) => {
      await this.ownTenant(principal, tenantId, s);
      const key = await s.revokeApiKey(tenantId, keyId, now);
      if (!key) throw notFound('key', keyId);
      const v = keyView(key);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 200, body: v }, now);
      return v;
    });
    this.evict(keyId);
    return view;
  }

  async listAdminKeys(principal: Principal, page: PageParams): Promise<Page<KeyView>> {
    requireAdmin(principal);
    return this.keyPage(null, page);
  }

  /**
   * A new admin key, returned once; the key used for this call is revoked in the same
   * transaction (at once, everywhere). A retry with the same Idempotency-Key is refused (401: its
   * key is revoked, and the new secret is never stored in clear to be replayed). If the answer is
   * lost, restart the control plane with NEOCLOUD_ADMIN_KEY set to a new key: a pinned key that is
   * not yet known is registered (see ensureAdminKey).
   */
  async rotateAdminKey(principal: Principal, idem?: IdempotencyContext): Promise<RotatedAdminKey> {
    requireAdmin(principal);
    const now = this.clock.nowMs();
    const apiKey = newApiKey('admin');
    const info: ApiKeyInfo = { id: newId('key'), role: 'admin', tenantId: null, prefix: apiKey.slice(0, PREFIX_CHARS), createdAtMs: now, lastUsedAtMs: null, revokedAtMs: null };
    await this.store.tx(async (s) => {
      await s.insertApiKey({ ...info, keyHash: hashApiKey(apiKey) });
      await s.revokeApiKey(null, principal.keyId, now);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { key: keyView(info), apiKey: null, revokedKeyId: principal.keyId } }, now);
    });
    this.evict(principal.keyId);
    return { key: keyView(info), apiKey, revokedKeyId: principal.keyId };
  }

  /** A page of tenants in creation order (the operator's); a tenant sees itself, on one page. */
  async list(principal: Principal, page: PageParams): Promise<Page<TenantView>> {
    const after = decodeCursor(page.cursor, ['ms', 'string']) as [number, string] | undefined;
    if (principal.kind === 'tenant') {
      const t = after === undefined ? await this.store.getTenant(principal.tenantId) : undefined;
      return { items: t ? [tenantView(t)] : [], nextCursor: null };
    }
    const rows = await this.store.listTenants({ after, limit: page.limit + 1, except: OWNER_TENANT_ID });
    const p = pageOf(rows, page.limit, (t) => [t.createdAtMs, t.id]);
    return { items: p.items.map(tenantView), nextCursor: p.nextCursor };
  }

  async exists(id: string): Promise<boolean> {
    return (await this.store.getTenant(id)) !== undefined;
  }
}

export function requireAdmin(p: Principal): void {
  if (p.kind !== 'admin') throw new DomainError('forbidden', 'this operation needs the operator admin key');
}
