/**
 * PostgreSQL helpers every domain's repository shares: the SQLSTATE codes services react to,
 * timestamps and ranges as literals, the batch size for long IN lists.
 */

/** SQLSTATE codes the services react to. */
export const PG_EXCLUSION_VIOLATION = '23P01';
/**
 * Two writers inserting overlapping GPU holds each wait on the other's uncommitted rows for the
 * exclusion check; PostgreSQL breaks the cycle by aborting one with deadlock_detected.
 */
export const PG_DEADLOCK = '40P01';
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

export function pgErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An epoch-ms instant as an ISO-8601 literal (cast with ::timestamptz). */
export const iso = (ms: number): string => new Date(ms).toISOString();
/** A half-open tstzrange literal. */
export const rangeLiteral = (startMs: number, endMs: number): string => `[${iso(startMs)},${iso(endMs)})`;

/** Rows per statement for long lists (IN lists, multi-row inserts). */
export const CHUNK = 1000;
