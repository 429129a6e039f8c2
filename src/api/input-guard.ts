/**
 * Boundary checks that hold for every request, whatever its route's schema says:
 *
 * - No NUL (U+0000): PostgreSQL `text` cannot store it ("invalid byte sequence for encoding
 *   UTF8: 0x00"), so it must never reach a query.
 * - No lone UTF-16 surrogate (U+D800–U+DFFF unpaired): it has no UTF-8 encoding; PostgreSQL
 *   rejects it and JSON round trips mangle it.
 * - Bounded nesting (MAX_DEPTH) and size (MAX_NODES): recursive code downstream (canonical JSON
 *   for idempotency fingerprints, Ajv, the fleet diff) must never meet an input that overflows
 *   the stack or runs for seconds.
 *
 * The walk is iterative (an explicit stack), so a 100,000-deep array is refused, not recursed.
 * The first offending value is reported with its path (`sites[0].halls[1].id`, or `id` for a
 * path parameter), as a DomainError that the server maps to a 400 problem document.
 */
import { DomainError } from '../shared/errors.js';

/** Deepest nesting a request may have (a fleet spec is ~8 deep). */
export const MAX_DEPTH = 32;
/** Values (objects, arrays, scalars) in one request; a 200,000-GPU spec with explicit uuids stays below. */
export const MAX_NODES = 2_000_000;

/** A NUL, or a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
// No `u` flag: the string is matched as UTF-16 code units, which is what finds a lone surrogate.
const FORBIDDEN_RE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string may not enter the system, or null if it may. */
export function badString(s: string): string | null {
  const m = FORBIDDEN_RE.exec(s);
  if (!m) return null;
  return m[0] === '\u0000' ? 'must not contain the NUL character (U+0000)' : 'must not contain an unpaired UTF-16 surrogate';
}

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/**
 * Throws a validation error naming the first field that breaks a rule above. `root` names the
 * part of the request (`''` for the body, whose fields are named bare; `query`; params bare).
 */
export function guardInput(value: unknown, root: string, fallbackField: string): void {
  if (value === null || value === undefined) return;
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: root, depth: 0 }];
  let nodes = 0;
  const fail = (path: string, message: string): never => {
    const field = path === '' ? fallbackField : path;
    throw new DomainError('validation', `${field}: ${message}`, { field });
  };
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (++nodes > MAX_NODES) fail(root, `has more than ${MAX_NODES} values`);
    if (typeof v === 'string') {
      const why = badString(v);
      if (why) fail(path, why);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    // Named by its top-level field (the full path would be MAX_DEPTH segments long).
    if (depth >= MAX_DEPTH) fail(/^[^.[]+/.exec(path)?.[0] ?? '', `is nested more than ${MAX_DEPTH} levels deep`);
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: join(path, i), depth: depth + 1 });
    } else {
      const keys = Object.keys(v as object);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        const why = badString(k);
        if (why) fail(path, `field names ${why}`);
        // Prototype pollution: never let such a field reach code that merges objects.
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') fail(join(path, k), 'is not an allowed field name');
        stack.push({ v: (v as Record<string, unknown>)[k], path: join(path, k), depth: depth + 1 });
      }
    }
  }
}
