import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** Opaque resource ids: a readable prefix and a random UUID (`lease_5f0c…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

/** A secret API key: 32 random bytes, base64url, with a prefix that says what it is. */
export function newApiKey(kind: 'admin' | 'tenant'): string {
  return `nc_${kind === 'admin' ? 'adm' : 'live'}_${randomBytes(32).toString('base64url')}`;
}

/**
 * API keys carry 256 bits of entropy, so a fast unsalted SHA-256 is enough to make a leaked
 * table useless (password hashing like scrypt is for low-entropy secrets).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Nesting canonicalJson accepts. Request bodies are refused at 32 levels before they get here
 * (src/api/input-guard.ts); this bound keeps the recursion safe for any other caller.
 */
export const CANONICAL_JSON_MAX_DEPTH = 64;

/**
 * Deterministic JSON (sorted keys) for request fingerprints. Throws a RangeError past
 * CANONICAL_JSON_MAX_DEPTH levels (also for cyclic values) instead of overflowing the stack.
 */
export function canonicalJson(value: unknown, depth = 0): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (depth >= CANONICAL_JSON_MAX_DEPTH) throw new RangeError(`canonicalJson: nested deeper than ${CANONICAL_JSON_MAX_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`).join(',')}}`;
}
