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

/** Deterministic JSON (sorted keys) for request fingerprints. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
