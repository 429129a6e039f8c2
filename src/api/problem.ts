/**
 * RFC 9457 problem documents. Each ErrorCode maps to one status here and nowhere else; the
 * `type` URI is stable so clients can branch on it.
 */
import type { ErrorCode } from '../shared/errors.js';

export const STATUS_OF: Record<ErrorCode, number> = {
  validation: 400,
  idempotency_key_required: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  insufficient_capacity: 409,
  idempotency_mismatch: 422,
  limit_reached: 409,
  rate_limited: 429,
};

const TITLE_OF: Record<ErrorCode, string> = {
  validation: 'Invalid request',
  idempotency_key_required: 'Idempotency-Key required',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  conflict: 'Conflict',
  insufficient_capacity: 'Insufficient capacity',
  idempotency_mismatch: 'Idempotency-Key reused with a different request',
  limit_reached: 'Limit reached',
  rate_limited: 'Too many requests',
};

export const PROBLEM_BASE = 'https://neocloud.dev/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

/** Problems only the HTTP layer raises (no domain code maps to them). */
const HTTP_ONLY = {
  internal: [500, 'Internal error'],
  unsupported_media_type: [415, 'Unsupported media type'],
  payload_too_large: [413, 'Payload too large'],
  uri_too_long: [414, 'URI too long'],
  bad_request: [400, 'Bad request'],
  request_timeout: [408, 'Request timeout'],
  headers_too_large: [431, 'Request header fields too large'],
  route_not_found: [404, 'Not found'],
} as const satisfies Record<string, readonly [number, string]>;

/** A problem document; each code has one status and one stable `type`. */
export function problem(code: ErrorCode | keyof typeof HTTP_ONLY, detail: string, extensions: Record<string, unknown> = {}): Problem {
  const http = code in HTTP_ONLY ? HTTP_ONLY[code as keyof typeof HTTP_ONLY] : undefined;
  const status = http ? http[0] : STATUS_OF[code as ErrorCode];
  const title = http ? http[1] : TITLE_OF[code as ErrorCode];
  return { type: `${PROBLEM_BASE}${code.replace(/_/g, '-')}`, title, status, detail, ...extensions };
}
