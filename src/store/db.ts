/**
 * Connecting to storage. PGlite (embedded PostgreSQL in WebAssembly) by default; node-postgres
 * when a URL is given. Both run the same Drizzle migrations and the same queries — the two
 * adapters differ only in how they connect.
 */
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
/**
 * A connection or transaction. Each domain owns its tables (src/fleet/fleet-schema.ts, …) and
 * queries them through its repository; relational queries (`db.query.*`) are not used, so the
 * handle carries no schema.
 */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;

/**
 * A subscription to a NOTIFY channel. `onState(true)` means notifications are flowing (and
 * some may have been missed before: caches should start afresh); `onState(false)` means they are
 * not (the connection dropped): a cache that relies on them must stop trusting itself until
 * the next `true`.
 */
export interface ChannelListener {
  onMessage(payload: string): void;
  onState(live: boolean): void;
}

export interface DbHandle {
  readonly db: Db;
  readonly kind: 'pglite' | 'postgres';
  /** Subscribes to NOTIFYs on `channel`, from this process and every other sharing the database. */
  listen(channel: string, listener: ChannelListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Delay before a dropped PostgreSQL listener connects again. */
const RELISTEN_MS = 1_000;

/**
 * A dedicated PostgreSQL connection that LISTENs (a pooled connection cannot: LISTEN belongs to
 * its session). It reconnects after a drop, telling the listener when it is down and up.
 */
function pgListen(connectionString: string, channel: string, l: ChannelListener): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let established = false;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString });
    client = c;
    c.on('notification', (m) => { if (m.channel === channel) l.onMessage(m.payload ?? ''); });
    c.on('error', () => undefined); // 'end' follows; handled there
    c.on('end', () => {
      if (stopped || client !== c) return;
      l.onState(false);
      retry = setTimeout(() => void connect().catch(() => undefined), RELISTEN_MS);
      retry.unref();
    });
    try {
      await c.connect();
      await c.query(`LISTEN "${channel}"`);
      l.onState(true);
    } catch (err) {
      client = undefined;
      await c.end().catch(() => undefined);
      // The first connection's failure is the caller's (start-up fails loudly); later ones retry.
      if (!stopped && established) {
        l.onState(false);
        retry = setTimeout(() => void connect().catch(() => undefined), RELISTEN_MS);
        retry.unref();
      }
      throw err;
    }
    established = true;
  };
  return connect().then(() => async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  });
}

export interface OpenOptions {
  /** postgres://… — use real PostgreSQL. */
  databaseUrl?: string | undefined;
  /** PGlite data folder; omitted = in memory. */
  dataDir?: string | undefined;
  /** PostgreSQL schema to use (tests isolate themselves in one); default `public`. */
  pgSchema?: string | undefined;
  /** Pool size for PostgreSQL. */
  poolSize?: number | undefined;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function openDb(opts: OpenOptions): Promise<DbHandle> {
  if (opts.databaseUrl) {
    const schemaName = opts.pgSchema ?? 'public';
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      // The extension lives in public; a test schema goes first so its tables shadow nothing else.
      options: `-c search_path=${schemaName},public`,
    });
    if (schemaName !== 'public') await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schemaName}"`);
    const db = drizzlePg(pool) as unknown as Db;
    await migratePg(db as never, { migrationsFolder: MIGRATIONS_DIR, migrationsSchema: schemaName === 'public' ? 'drizzle' : schemaName });
    const url = opts.databaseUrl;
    const listeners: (() => Promise<void>)[] = [];
    return {
      db, kind: 'postgres',
      listen: async (channel, l) => {
        const stop = await pgListen(url, channel, l);
        listeners.push(stop);
        return stop;
      },
      close: async () => {
        for (const stop of listeners) await stop();
        await pool.end();
      },
    };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  // PGlite reads options from the first argument when no data folder is given. shared_buffers: initdb
  // writes PostgreSQL's 128MB, which PGlite touches in full inside its WebAssembly memory (~120 MB of
  // RSS); 16MB holds the demo fleet's hot pages, and a miss re-reads the data file (from the OS page
  // cache, or MEMFS in memory) with no measurable cost to lease creation (docs/decisions.md, "Idle
  // memory on PGlite").
  const pgliteOptions = { extensions: { btree_gist }, startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] };
  const client = opts.dataDir ? new PGlite(opts.dataDir, pgliteOptions) : new PGlite(pgliteOptions);
  const db = drizzlePglite(client) as unknown as Db;
  await migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR });
  return {
    db, kind: 'pglite',
    // One process owns an embedded database, so its own NOTIFYs are all there is to hear.
    listen: async (channel, l) => {
      const unsub = await client.listen(channel, (payload) => l.onMessage(payload));
      l.onState(true);
      return () => unsub();
    },
    close: () => client.close(),
  };
}
