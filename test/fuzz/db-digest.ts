/**
 * Whether a request changed the database. A digest covers every row of every table in the server's
 * schema, in one SQL statement: per table, the row count and a hash of its rows' text (a sum of
 * 64-bit row hashes, so no sort is needed). Two equal digests mean the request in between wrote
 * nothing; a write that rolled back leaves no trace, which is what "rejected" must mean.
 *
 * Most rejected requests never try to write, so a cheap mark goes first: the next transaction id
 * (`pg_snapshot_xmax`). Any write, even one rolled back, takes a transaction id; while the mark has
 * not moved, the last digest still holds and the full one is skipped. (On a shared PostgreSQL other
 * tests move the mark too; then every request gets the full digest, which is only slower.)
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/store/index.js';

/**
 * Columns that may change on a read and so are left out: `api_keys.last_used_at` records when a
 * key authenticated, which every request does, accepted or not.
 */
export const VOLATILE_COLUMNS = new Set(['api_keys.last_used_at']);

export type Digest = Map<string, string>;

type Rows = { rows: Record<string, unknown>[] };
const run = async (db: Db, text: string): Promise<Record<string, unknown>[]> => ((await db.execute(sql.raw(text))) as unknown as Rows).rows;
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export interface Digester {
  /** The digest now; skips the full scan when no transaction id was taken since the last one. */
  (): Promise<Digest>;
  /** Full digests computed (the rest were answered by the mark). */
  full: number;
}

/** Reads the table list once and returns a function that digests the database. */
export async function digester(db: Db): Promise<Digester> {
  const cols = await run(db, `
    SELECT c.table_name AS t, c.column_name AS c
    FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name, c.ordinal_position`);
  const byTable = new Map<string, string[]>();
  for (const r of cols) {
    const t = String(r['t']);
    const c = String(r['c']);
    if (!VOLATILE_COLUMNS.has(`${t}.${c}`)) byTable.set(t, [...(byTable.get(t) ?? []), c]);
  }
  if (byTable.size === 0) throw new Error('digest: no tables in the current schema');
  const statement = [...byTable].map(([t, cs]) =>
    `SELECT '${t.replace(/'/g, "''")}' AS t, count(*)::int AS n, coalesce(sum(hashtextextended(ROW(${cs.map(q).join(', ')})::text, 7)), 0)::text AS h FROM ${q(t)}`,
  ).join('\nUNION ALL\n');
  const markOf = async (): Promise<string> => String((await run(db, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x'))[0]?.['x']);
  let mark = '';
  let last: Digest = new Map();
  const digest = (async () => {
    const now = await markOf();
    if (now === mark) return last;
    last = new Map((await run(db, statement)).map((r) => [String(r['t']), `${r['n']}:${r['h']}`]));
    digest.full++;
    mark = now;
    return last;
  }) as Digester;
  digest.full = 0;
  return digest;
}

/** The tables whose digest differs, with row counts before → after. */
export function changedTables(before: Digest, after: Digest): string[] {
  const out: string[] = [];
  for (const [t, h] of after) {
    const b = before.get(t);
    if (b !== h) out.push(`${t} (rows ${b?.split(':')[0] ?? '?'} → ${h.split(':')[0]})`);
  }
  return out;
}
