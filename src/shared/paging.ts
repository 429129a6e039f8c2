/**
 * Keyset paging for every list the API serves (tenants, keys, contracts, invoices): `limit` rows
 * per page (default PAGE_DEFAULT, at most PAGE_MAX) and an opaque `cursor` that continues after
 * the last row of the previous page. The answer keeps its list where it was and adds `nextCursor`
 * beside it: a string while more rows may follow, `null` on the last page, so a client written
 * before paging still reads the first page.
 *
 * A cursor is the sort key of the last row served (base64url of a JSON array); the next page is
 * `WHERE (sort key) > (cursor)` in SQL, so a page costs the same however deep it is (no OFFSET)
 * and rows added or removed meanwhile neither repeat nor vanish. A cursor grants nothing: the
 * query that reads it keeps the caller's tenant in its WHERE, so a forged one only moves the
 * starting point inside what the caller may see.
 */
import { Type } from 'typebox';
import { invalid } from './errors.js';

/** Rows per page when `limit` is not given. */
export const PAGE_DEFAULT = 100;
/** The most rows one page may hold (a larger `limit` is a 400 naming it). */
export const PAGE_MAX = 1000;

/** Query-string members of a paged list. */
export const PageQueryProps = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: PAGE_DEFAULT, description: `rows per page (default ${PAGE_DEFAULT}, at most ${PAGE_MAX})` })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9_-]+$', description: 'continue after the previous page: its `nextCursor`' })),
};

/** The answer's `nextCursor`. */
export const NextCursor = Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null: this was the last page' });

/** A time in a cursor (`ms`): epoch milliseconds up to 9999-12-31, so it always reads back as a timestamptz. */
const MAX_CURSOR_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export type CursorKey = (string | number)[];

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * The sort key a cursor carries, checked against the list's key `shape` (`string`: text; `ms`:
 * a time in epoch milliseconds), so a query never meets a value it cannot cast; undefined when no cursor
 * was given. A cursor this list did not give out is a 400 naming `cursor`.
 */
export function decodeCursor(cursor: string | undefined, shape: readonly ('string' | 'ms')[]): CursorKey | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const ok = Array.isArray(key) && key.length === shape.length &&
    key.every((v, i) => (shape[i] === 'ms'
      ? Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_CURSOR_MS
      : typeof v === 'string' && v.length <= 200 && !/[\u0000\ud800-\udfff]/.test(v)));
  if (!ok) throw invalid('cursor', 'is not a cursor this list gave out (pass the `nextCursor` of the previous page unchanged)');
  return key as CursorKey;
}

/**
 * A page from `rows` read with `LIMIT limit + 1`: the extra row only tells that more follow; the
 * cursor is the key of the last row kept.
 */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1]!)) };
}
