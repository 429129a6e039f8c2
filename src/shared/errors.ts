/**
 * Typed domain errors. Every code maps to exactly one HTTP status in `src/api/problem.ts`
 * (a Record<ErrorCode, number>, so the compiler forces a status for each new code).
 */
export type ErrorCode =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'insufficient_capacity'
  | 'conflict'
  | 'idempotency_mismatch'
  | 'idempotency_key_required'
  /** A configured limit (keys per tenant) would be exceeded: retrying does not help until something is removed. */
  | 'limit_reached'
  /** Too many attempts in a window: retry after `retryAfterS` (the problem's extension, sent as Retry-After). */
  | 'rate_limited';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra members for the problem document (e.g. `field`, `largestSatisfiable`). */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** Bad input: `field` is a JSON-pointer-ish path such as `gpuCount` or `sites[0].halls[1].powerCapKw`. */
export function invalid(field: string, message: string): DomainError {
  return new DomainError('validation', `${field}: ${message}`, { field });
}

export function notFound(what: string, id: string): DomainError {
  return new DomainError('not_found', `${what} ${id} not found`);
}

/**
 * An RFC 3339 time that passed the schema's `date-time` format, as epoch milliseconds; a time the
 * format allows but a Date cannot hold (a leap second, `23:59:60`) is a 400 naming the field.
 */
export function parseTime(field: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw invalid(field, `"${value.slice(0, 40)}" is not a time this API can represent (leap seconds are not)`);
  return ms;
}
