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
