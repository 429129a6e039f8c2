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
  | 'idempotency_key_required';

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
