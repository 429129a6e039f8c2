/** Who is calling: the operator (admin key) or one tenant. */
export type Principal = { kind: 'admin'; keyId: string } | { kind: 'tenant'; tenantId: string; keyId: string };

/** The namespace for idempotency keys and ownership checks. */
export function principalId(p: Principal): string {
  return p.kind === 'admin' ? 'admin' : `tenant:${p.tenantId}`;
}

/** Context a mutating call carries so its stored response commits with its effects. */
export interface IdempotencyContext {
  principal: string;
  key: string;
  requestHash: string;
}

/**
 * The owner's account: the operator's own work (class `internal`) belongs to it, never to a
 * customer. It has no API keys and is not listed among tenants; the operator acts for it.
 */
export const OWNER_TENANT_ID = 'ten_owner';
export const OWNER_TENANT_NAME = '(owner: internal work)';

/**
 * Whose rows a read or write may touch: a tenant id, or `null` for the operator (every tenant).
 * Tenant-facing queries put it in the SQL WHERE, so a foreign id finds nothing even if a
 * service-level check were missed.
 */
export type TenantScope = string | null;
