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

export function problem(code: ErrorCode | 'internal' | 'unsupported_media_type' | 'payload_too_large' | 'route_not_found', detail: string, extensions: Record<string, unknown> = {}): Problem {
  const status = code === 'internal' ? 500 : code === 'unsupported_media_type' ? 415 : code === 'payload_too_large' ? 413 : code === 'route_not_found' ? 404 : STATUS_OF[code];
  const title = code === 'internal' ? 'Internal error' : code === 'unsupported_media_type' ? 'Unsupported media type'
    : code === 'payload_too_large' ? 'Payload too large' : code === 'route_not_found' ? 'Not found' : TITLE_OF[code];
  return { type: `${PROBLEM_BASE}${code.replace(/_/g, '-')}`, title, status, detail, ...extensions };
}
