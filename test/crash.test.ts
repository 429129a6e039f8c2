/**
 * Crash safety (issue 7, item 11): a real `neocloud serve` process takes concurrent lease
 * requests and is killed with SIGKILL mid-load, then restarted on the same data. Every lease
 * acknowledged with a 201 must be there with the GPUs it was acknowledged with, no GPU may sit in
 * two overlapping leases, the server must serve again, and a request cut off by the kill, retried
 * with its Idempotency-Key, takes effect once (its committed response replayed, or created now).
 *
 * Runs on PGlite (a temporary data folder) always and on PostgreSQL (a database of its own: the
 * server process uses the public schema) when TEST_DATABASE_URL is set. Overlaps are computed
 * here from the leases' windows, read through the API and, after a graceful stop, straight from
 * the stored rows, not from the exclusion constraint that is meant to prevent them.
 *
 * The event log (issue 8: every lease change in it exactly once, in order, across a SIGKILL) is
 * read back by cursor as the operator, right after the restart and again at the end: sequences
 * 1..N, ids unique; the leases that exist and the leases the log names are the same set, at
 * restart (a write the kill cut left neither) and at the end; each lease has exactly requested →
 * placed (→ started: in the same statement when it starts at once, by the sweep when it started
 * since), the placed event carrying the GPUs and total it was acknowledged with; retries and
 * replays add nothing; the tenant's feed, and each lease's own events, are the operator's log
 * filtered to them; and, after a graceful stop, the stored log agrees (head = N, no event
 * without its lease, no lease without its events).
 *
 * On PostgreSQL a second control plane (a peer process on the same database) serves half of the
 * load from the start and takes over when the first is killed, with no restart: everything above
 * is checked through the peer (issue 8: several control planes, one killed with SIGKILL, another
 * carrying on with nothing lost), and the two processes' sweeps run side by side, so "each start
 * logged once" holds across processes. On PGlite (one process per data folder) the killed server
 * is restarted instead.
 *
 * The request mix is random; the seed is printed, and CRASH_SEED=<n> replays it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import pg from 'pg';
import { mulberry32 } from '../src/scheduler/workload.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { LeaseView } from '../src/leasing/index.js';
import { FLEET, LEASE, bySubject, expectGapFree, leaseEventFaults, readFeed, waitForSweptStarts, type FeedEvent } from './crash-events.js';
import { killSurvivors, spawnServer } from './server-process.js';

// Not imported from ./helpers.js, which loads the in-process server this test does not need.
const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] || undefined;
const STORE_KINDS = TEST_DATABASE_URL ? ['pglite', 'postgres'] as const : ['pglite'] as const;
const ADMIN_KEY = 'nc_adm_crash-test-admin-key-0123456789abcdefghijklmnopq';
/** Requests in flight at once. */
const WORKERS = 12;
/** The kill comes after this many 201s, drawn per run from [MIN, MAX]. */
const KILL_AFTER_MIN = 40;
const KILL_AFTER_MAX = 90;
/** Upper bound on requests sent before the kill, should capacity answers 409 more than expected. */
const MAX_SENT = 600;
const REQUEST_TIMEOUT_MS = 20_000;
const HOUR_MS = 3_600_000;

const SEED = process.env['CRASH_SEED'] ? Number(process.env['CRASH_SEED']) : randomBytes(4).readUInt32LE(0);


interface Sent { idem: string; body: Record<string, unknown>; toPeer: boolean }
interface Answer { status: number; body: any; replayed: boolean }

/**
 * Small H100/H200 gangs, mixed placements and classes. One in ten starts a second or so ahead:
 * its `started` event is the sweep's to write, across the kill (mostly the restarted server's
 * sweep at start-up, else its 5-second one). Three in ten book a window hours ahead; the rest
 * start at once.
 */
function leaseBody(rnd: () => number, nowMs: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const body: Record<string, unknown> = {
    gpuModel: pick(['H100-SXM', 'H200'] as const),
    gpuCount: 1 + Math.floor(rnd() * 8),
    placement: pick(['any', 'same-nvlink', 'same-fabric', 'same-site'] as const),
    class: pick(['on-demand', 'reserved'] as const),
  };
  const when = rnd();
  if (when < 0.1) {
    body['start'] = new Date(nowMs + 200 + Math.floor(rnd() * 1000)).toISOString();
    body['durationHours'] = 1 + Math.floor(rnd() * 2);
  } else if (when < 0.4) {
    const startMs = nowMs + (1 + Math.floor(rnd() * 48)) * HOUR_MS;
    body['start'] = new Date(startMs).toISOString();
    if (rnd() < 0.5) body['end'] = new Date(startMs + (1 + Math.floor(rnd() * 6)) * HOUR_MS).toISOString();
    else body['durationHours'] = 1 + Math.floor(rnd() * 6);
  } else {
    body['durationHours'] = 1 + Math.floor(rnd() * 4);
  }
  return body;
}

async function call(url: string, key: string, method: string, path: string, o: { body?: unknown; idem?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (o.idem !== undefined) headers['idempotency-key'] = o.idem;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, {
    method, headers, body: o.body === undefined ? null : JSON.stringify(o.body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, replayed: res.headers.get('idempotent-replayed') === 'true' };
}

/** What must survive the crash unchanged: the lease as acknowledged, GPUs in a stable order. */
function essence(v: LeaseView): Record<string, unknown> {
  return {
    id: v.id, tenantId: v.tenantId, gpuModel: v.gpuModel, gpuCount: v.gpuCount, class: v.class, placement: v.placement,
    start: v.start, end: v.end, priceMicrosPerGpuHour: v.priceMicrosPerGpuHour, totalMicros: v.totalMicros,
    gpus: [...v.gpus].sort((a, b) => a.uuid.localeCompare(b.uuid)),
  };
}

interface Hold { leaseId: string; gpuUuid: string; startMs: number; endMs: number }

/** Pairs of leases holding one GPU in overlapping half-open windows, from the windows alone. */
function overlaps(holds: Hold[]): { gpuUuid: string; a: string; b: string }[] {
  const byGpu = new Map<string, Hold[]>();
  for (const h of holds) {
    if (h.endMs <= h.startMs) continue;
    const list = byGpu.get(h.gpuUuid) ?? [];
    list.push(h);
    byGpu.set(h.gpuUuid, list);
  }
  const found: { gpuUuid: string; a: string; b: string }[] = [];
  for (const [gpuUuid, list] of byGpu) {
    list.sort((x, y) => x.startMs - y.startMs);
    let reach: Hold | undefined;
    for (const h of list) {
      if (reach && h.startMs < reach.endMs) found.push({ gpuUuid, a: reach.leaseId, b: h.leaseId });
      if (!reach || h.endMs > reach.endMs) reach = h;
    }
  }
  return found;
}

/** A lease holds its GPUs from start until the earliest of end, release, failure and preemption. */
function holdsOf(v: LeaseView): Hold[] {
  const cut = [v.end, v.releasedAt, v.failedAt, v.preemptedAt].filter((t): t is string => t !== null).map((t) => Date.parse(t));
  const startMs = Date.parse(v.start);
  const endMs = Math.min(...cut);
  return v.gpus.map((g) => ({ leaseId: v.id, gpuUuid: g.uuid, startMs, endMs }));
}

async function listAll(url: string, key: string): Promise<LeaseView[]> {
  const all: LeaseView[] = [];
  let before: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r = await call(url, key, 'GET', `/v1/leases?limit=500${before ? `&before=${encodeURIComponent(before)}` : ''}`);
    expect(r.status).toBe(200);
    all.push(...(r.body.leases as LeaseView[]));
    before = r.body.nextCursor;
    if (before === null) return all;
  }
  throw new Error('lease list did not end within 100 pages');
}

/** How long the sweep (every 5 s in the server) may take to log starts that have passed. */
const SWEEP_WAIT_MS = 15_000;
/** Event-feed page sizes: small enough that the cursor is followed over several pages. */
const OPERATOR_PAGE = 50;
const TENANT_PAGE = 37;

/** The stored rows, read with SQL after the server stopped: lease windows and their GPUs. */
const ROWS_SQL = `
  SELECT l.id AS "leaseId", g.gpu_uuid AS "gpuUuid", g.node_id AS "nodeId", g.moved_at IS NOT NULL AS moved,
         (extract(epoch FROM l.start_at) * 1000)::float8 AS "startMs",
         (extract(epoch FROM least(l.end_at, coalesce(l.released_at, l.end_at), coalesce(l.failed_at, l.end_at), coalesce(l.preempted_at, l.end_at))) * 1000)::float8 AS "endMs"
  FROM leases l JOIN lease_gpus g ON g.lease_id = l.id
  WHERE l.tenant_id = $1`;
interface Row extends Hold { nodeId: string; moved: boolean }

/** The stored event log, read with SQL after the server stopped (all tenants, every cell). */
const LOG_SQL = {
  heads: `SELECT cell, last_seq::text AS "lastSeq" FROM event_log_heads ORDER BY cell`,
  events: `SELECT e.cell, e.seq::text AS seq, e.id, e.type, e.subject, e.tenant_id AS "tenantId" FROM events e ORDER BY e.cell, e.seq`,
  /** Lease events naming no lease. */
  orphans: `SELECT e.seq::text AS seq, e.type, e.subject FROM events e
    WHERE e.type LIKE '${LEASE}%' AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.id = e.subject) ORDER BY e.seq`,
  /** Leases without their request and its outcome (placed or queued) in the log. */
  bare: `SELECT l.id FROM leases l WHERE
    (SELECT count(*) FROM events e WHERE e.subject = l.id AND e.type = '${LEASE}requested') <> 1
    OR (SELECT count(*) FROM events e WHERE e.subject = l.id AND e.type IN ('${LEASE}placed', '${LEASE}queued')) < 1 ORDER BY l.id`,
};
interface StoredLog {
  heads: { cell: string; lastSeq: string }[];
  events: { cell: string; seq: string; id: string; type: string; subject: string; tenantId: string | null }[];
  orphans: { seq: string; type: string; subject: string }[];
  bare: { id: string }[];
}
type Query = <T>(text: string, params?: unknown[]) => Promise<T[]>;

async function readStoredLog(q: Query): Promise<StoredLog> {
  return {
    heads: await q(LOG_SQL.heads), events: await q(LOG_SQL.events), orphans: await q(LOG_SQL.orphans), bare: await q(LOG_SQL.bare),
  };
}

for (const kind of STORE_KINDS) {
  describe(`SIGKILL under load on ${kind}`, () => {
    const tmp = mkdtempSync(join(tmpdir(), 'nc-crash-'));
    const dataDir = join(tmp, 'data');
    let dbName: string | null = null;
    const admin = (): pg.Client => new pg.Client({ connectionString: TEST_DATABASE_URL });

    afterAll(async () => {
      await killSurvivors();
      rmSync(tmp, { recursive: true, force: true });
      if (dbName) {
        const c = admin();
        await c.connect();
        try { await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`); } finally { await c.end(); }
      }
    });

    // ~10 s on PGlite (first start loads the demo fleet), ~5 s on PostgreSQL on an idle 2-core
    // machine; the limit leaves room for a loaded one.
    it('every acknowledged lease survives with its GPUs and its events, none overlap, cut-off requests take effect once', { timeout: 120_000 }, async () => {
      const wallStart = performance.now();
      const env: Record<string, string> = { NEOCLOUD_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' };
      let withDb: <T>(fn: (q: Query) => Promise<T>) => Promise<T>;
      if (kind === 'postgres') {
        dbName = `nc_crash_${randomBytes(6).toString('hex')}`;
        const c = admin();
        await c.connect();
        try { await c.query(`CREATE DATABASE "${dbName}"`); } finally { await c.end(); }
        const u = new URL(TEST_DATABASE_URL!);
        u.pathname = `/${dbName}`;
        env['DATABASE_URL'] = u.toString();
        withDb = async (fn) => {
          const db = new pg.Client({ connectionString: u.toString() });
          await db.connect();
          try { return await fn(async (text, params) => (await db.query(text, params)).rows); } finally { await db.end(); }
        };
      } else {
        env['NEOCLOUD_DATA_DIR'] = dataDir;
        withDb = async (fn) => {
          const db = new PGlite(dataDir, { extensions: { btree_gist } });
          try { return await fn(async <T>(text: string, params?: unknown[]) => (await db.query<T>(text, params)).rows); } finally { await db.close(); }
        };
      }

      // ---- first life: the demo fleet, a tenant, then load until the kill ----
      const first = await spawnServer({ env });
      const tenantRes = await call(first.url, ADMIN_KEY, 'POST', '/v1/tenants', { body: { name: 'crash' }, idem: 'crash-tenant' });
      expect(tenantRes.status).toBe(201);
      const tenantId: string = tenantRes.body.tenant.id;
      const tenantKey: string = tenantRes.body.apiKey;
      // PostgreSQL: a peer control plane on the same database, serving every other request.
      const peer = kind === 'postgres' ? await spawnServer({ env }) : null;

      const rnd = mulberry32(SEED);
      const killAfter = KILL_AFTER_MIN + Math.floor(rnd() * (KILL_AFTER_MAX - KILL_AFTER_MIN + 1));
      const acked = new Map<string, LeaseView>();
      const ackedKeys = new Map<string, string>(); // Idempotency-Key → lease id
      const ackedSent: Sent[] = [];
      const cutOff: Sent[] = [];
      const unexpected: { sent: Sent; status?: number; body?: unknown; error?: string }[] = [];
      const pending = new Set<Sent>();
      let rejected = 0;
      let sent = 0;
      let killedAt: number | null = null;
      let inFlightAtKill = 0;
      const loadStart = performance.now();

      const worker = async (): Promise<void> => {
        while (killedAt === null && sent < MAX_SENT) {
          const n = sent++;
          const s: Sent = { idem: `crash-${SEED}-${n}`, body: leaseBody(rnd, Date.now()), toPeer: peer !== null && n % 2 === 1 };
          pending.add(s);
          let r: Answer | undefined;
          let error: string | undefined;
          try {
            r = await call(s.toPeer ? peer!.url : first.url, tenantKey, 'POST', '/v1/leases', { body: s.body, idem: s.idem });
          } catch (err) {
            error = String(err);
          }
          pending.delete(s);
          if (!r) {
            // No answer: cut off by the kill (or, before it or from the peer, a failure the test reports).
            cutOff.push(s);
            if (killedAt === null || s.toPeer) unexpected.push({ sent: s, error: error! });
            continue;
          }
          if (r.status === 201) {
            acked.set(r.body.id, r.body as LeaseView);
            ackedKeys.set(s.idem, r.body.id);
            ackedSent.push(s);
            // The kill lands at the first answer past `killAfter` at which the first process has
            // requests in flight: with a peer taking every other request, a fast first process can
            // momentarily have none (all eleven others waiting on the peer), and a kill then would
            // cut nothing off.
            const toFirst = [...pending].filter((x) => !x.toPeer).length;
            if (acked.size >= killAfter && killedAt === null && toFirst > 0) {
              inFlightAtKill = toFirst;
              killedAt = performance.now();
              process.kill(first.pid, 'SIGKILL');
            }
          } else if (r.status === 409) {
            rejected++;
          } else {
            unexpected.push({ sent: s, status: r.status, body: r.body });
          }
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, worker));
      await first.kill9();
      const loadMs = (killedAt ?? performance.now()) - loadStart;

      expect(unexpected, first.output()).toEqual([]);
      expect(acked.size).toBeGreaterThanOrEqual(killAfter);
      expect(killedAt, `no kill before ${MAX_SENT} requests (CRASH_SEED=${SEED})`).not.toBeNull();
      expect(inFlightAtKill, `the kill must land while requests to the killed process are in flight (CRASH_SEED=${SEED})`).toBeGreaterThan(0);

      // ---- second life: the peer carries on (PostgreSQL), or a restart on the same data ----
      const goneAt = performance.now();
      let second: typeof first;
      let restart: string;
      if (peer) {
        second = peer;
        const probe = await call(peer.url, tenantKey, 'GET', '/v1/leases?limit=1');
        expect(probe.status).toBe(200);
        restart = `takeover by the peer process (SIGKILL → peer answers) ${(performance.now() - killedAt!).toFixed(0)} ms, no restart; ` +
          `${ackedSent.filter((x) => x.toPeer).length} of the acknowledged leases came from the peer`;
      } else {
        second = await spawnServer({ env });
        const restartMs = second.readyAt - killedAt!;
        restart = `restart (SIGKILL → /readyz ok) ${(restartMs / 1000).toFixed(2)} s: process gone ${(goneAt - killedAt!).toFixed(0)} ms, ` +
          `spawn → listening ${((second.listeningAt - second.spawnedAt) / 1000).toFixed(2)} s, listening → ready ${(second.readyAt - second.listeningAt).toFixed(0)} ms`;
      }

      // The event log as the restart found it: gap-free, and naming exactly the leases that exist
      // (a write the kill cut off left neither the lease nor any of its events).
      const operatorGet = (path: string): Promise<Answer> => call(second.url, ADMIN_KEY, 'GET', path);
      const eventsStart = performance.now();
      const atRestart = await readFeed(operatorGet, OPERATOR_PAGE);
      expectGapFree(atRestart);
      const subjectsAtRestart = new Set(bySubject(atRestart).keys());
      const leasesAtRestart = new Set((await listAll(second.url, ADMIN_KEY)).map((l) => l.id));
      expect(subjectsAtRestart, 'leases named by the log at restart = leases that exist').toEqual(leasesAtRestart);
      expect([...acked.keys()].filter((id) => !subjectsAtRestart.has(id)), 'acknowledged leases missing from the log at restart').toEqual([]);
      let eventChecksMs = performance.now() - eventsStart;

      // Every acknowledged lease, exactly as acknowledged.
      for (const [id, view] of acked) {
        const r = await call(second.url, tenantKey, 'GET', `/v1/leases/${id}`);
        expect(r.status, `lease ${id} acknowledged before the kill`).toBe(200);
        expect(essence(r.body as LeaseView)).toEqual(essence(view));
      }

      // Requests the kill cut off: a retry with the same key replays the committed response or
      // creates the lease now; a second retry replays whichever it was.
      const retried = new Map<string, string>(); // Idempotency-Key → lease id
      const retriedViews: LeaseView[] = [];
      const replayedIds = new Set<string>();
      let replayedFromBeforeKill = 0;
      for (const s of cutOff) {
        const r1 = await call(second.url, tenantKey, 'POST', '/v1/leases', { body: s.body, idem: s.idem });
        expect([201, 409], JSON.stringify(r1.body)).toContain(r1.status);
        if (r1.status !== 201) continue;
        if (r1.replayed) { replayedFromBeforeKill++; replayedIds.add(r1.body.id); }
        retried.set(s.idem, r1.body.id);
        retriedViews.push(r1.body as LeaseView);
        const r2 = await call(second.url, tenantKey, 'POST', '/v1/leases', { body: s.body, idem: s.idem });
        expect(r2.status).toBe(201);
        expect(r2.replayed).toBe(true);
        expect(r2.body.id).toBe(r1.body.id);
        const stored = await call(second.url, tenantKey, 'GET', `/v1/leases/${r1.body.id}`);
        expect(essence(stored.body as LeaseView)).toEqual(essence(r1.body as LeaseView));
      }
      // Acknowledged requests retried after the crash (a client that missed the answer) replay.
      for (const s of ackedSent.slice(0, 5)) {
        const r = await call(second.url, tenantKey, 'POST', '/v1/leases', { body: s.body, idem: s.idem });
        expect(r.status).toBe(201);
        expect(r.replayed).toBe(true);
        expect(r.body.id).toBe(ackedKeys.get(s.idem));
      }

      // Serving again: a new lease.
      const fresh = await call(second.url, tenantKey, 'POST', '/v1/leases', {
        body: { gpuModel: 'H100-SXM', gpuCount: 8, placement: 'same-nvlink', durationHours: 1 }, idem: `crash-${SEED}-after-restart`,
      });
      expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);

      // The tenant's leases are exactly the acknowledged ones, the retried ones and the new one:
      // nothing committed twice, nothing committed without its stored response.
      // The list answers without GPUs (`gpus: []`), so each lease is read on its own.
      const listed = await listAll(second.url, tenantKey);
      const expectedIds = new Set([...acked.keys(), ...retried.values(), fresh.body.id as string]);
      expect(new Set(listed.map((l) => l.id))).toEqual(expectedIds);
      expect(listed).toHaveLength(expectedIds.size);
      const all: LeaseView[] = [];
      for (const { id } of listed) {
        const r = await call(second.url, tenantKey, 'GET', `/v1/leases/${id}`);
        expect(r.status).toBe(200);
        all.push(r.body as LeaseView);
      }
      for (const l of all) {
        expect(['active', 'scheduled'], `lease ${l.id}`).toContain(l.state);
        expect(new Set(l.gpus.map((g) => g.uuid)).size, `lease ${l.id}`).toBe(l.gpuCount);
      }
      expect(overlaps(all.flatMap(holdsOf))).toEqual([]);

      // ---- the event log at the end, read as the operator ----
      // Those the kill cut off are in the log from before the restart exactly when their retry
      // replayed a committed response; those created now are not.
      expect(subjectsAtRestart).toEqual(new Set([...acked.keys(), ...replayedIds]));
      const views = new Map<string, LeaseView>([...acked, ...retriedViews.map((v) => [v.id, v] as const), [fresh.body.id, fresh.body as LeaseView]]);
      expect(new Set(views.keys())).toEqual(expectedIds);
      // Starts booked seconds ahead have passed by now, or will within a sweep: wait for it.
      const sweptStarts = [...views.values()].filter((v) => Date.parse(v.start) > Date.parse(v.createdAt) && Date.parse(v.start) < Date.parse(v.createdAt) + HOUR_MS / 2);
      const sweepWaitMs = await waitForSweptStarts(operatorGet, sweptStarts, SWEEP_WAIT_MS);
      const sweptToMs = Date.now();
      const eventsEnd = performance.now();
      const log = await readFeed(operatorGet, OPERATOR_PAGE);
      expectGapFree(log);
      // Nothing before the restart was rewritten or lost; retries and replays since added only
      // the events of the leases created now.
      expect(log.slice(0, atRestart.length), 'the log at restart is a prefix of the log now').toEqual(atRestart);
      const perLease = bySubject(log);
      expect(new Set(perLease.keys()), 'leases named by the log = the tenant\'s leases').toEqual(expectedIds);
      // Each lease the log names exists (as the operator sees it).
      const named = await Promise.all([...perLease.keys()].map(async (id) => ({ id, status: (await operatorGet(`/v1/leases/${id}`)).status })));
      expect(named.filter((n) => n.status !== 200), 'leases named by the log that cannot be read').toEqual([]);
      // Each lease: requested → placed (→ started), once each, matching its acknowledgement.
      const faults = [...views.values()].flatMap((v) => leaseEventFaults(v, perLease.get(v.id), sweptToMs));
      expect(faults, `seed ${SEED}`).toEqual([]);
      // Besides the leases' events, only the fleet's (the demo fleet loaded at first start), for no tenant.
      const other = log.filter((e) => !e.type.startsWith(LEASE));
      expect(other.every((e) => e.type.startsWith(FLEET) && e.tenantid === null), JSON.stringify(other)).toBe(true);
      expect(log.filter((e) => e.type.startsWith(LEASE) && e.tenantid !== tenantId)).toEqual([]);
      const started = [...views.values()].filter((v) => Date.parse(v.start) <= sweptToMs).length;
      expect(log.length).toBe(other.length + 2 * views.size + started);

      // The tenant's own feed is the operator's, filtered to the tenant; so is a lease's history
      // (GET /v1/leases/{id}/events), read for those written across the restart and a few more.
      const tenantFeed = await readFeed((path) => call(second.url, tenantKey, 'GET', path), TENANT_PAGE);
      expect(tenantFeed).toEqual(log.filter((e: FeedEvent) => e.tenantid === tenantId));
      const sampled = [...new Set([...retriedViews.map((v) => v.id), fresh.body.id as string, ...sweptStarts.map((v) => v.id), ...[...acked.keys()].slice(0, 8)])];
      const histories = await Promise.all(sampled.map((id) => call(second.url, tenantKey, 'GET', `/v1/leases/${id}/events`)));
      for (const [i, id] of sampled.entries()) {
        const mine = perLease.get(id) ?? [];
        expect(histories[i]!.status).toBe(200);
        expect(histories[i]!.body.events, `events of ${id}`).toEqual(mine.map((e) => ({
          id: e.id, leaseId: id, type: e.type.slice(LEASE.length), at: e.time, sequence: e.sequence, detail: e.data,
        })));
      }
      eventChecksMs += performance.now() - eventsEnd;

      // ---- after a graceful stop: the stored rows, read with SQL ----
      expect(await second.stop(), second.output()).toBe(0);
      const { rows: rawRows, stored } = await withDb(async (q) => ({ rows: await q<Row>(ROWS_SQL, [tenantId]), stored: await readStoredLog(q) }));
      const rows = rawRows.map((r) => ({ ...r, startMs: Number(r.startMs), endMs: Number(r.endMs) }));
      expect(rows.filter((r) => r.moved)).toEqual([]);
      expect(new Set(rows.map((r) => r.leaseId))).toEqual(expectedIds);
      for (const [id, view] of acked) {
        const stored = rows.filter((r) => r.leaseId === id).map((r) => ({ uuid: r.gpuUuid, nodeId: r.nodeId })).sort((a, b) => a.uuid.localeCompare(b.uuid));
        expect(stored, `stored GPUs of ${id}`).toEqual(essence(view)['gpus']);
      }
      expect(overlaps(rows)).toEqual([]);
      // The stored log: one cell, its head at N (no sequence taken and left unused), the rows the
      // API served, no event without its lease and no lease without its events.
      expect(stored.heads).toEqual([{ cell: 'default', lastSeq: String(log.length) }]);
      expect(stored.events).toEqual(log.map((e) => ({ cell: 'default', seq: e.sequence, id: e.id, type: e.type, subject: e.subject, tenantId: e.tenantid })));
      expect(stored.orphans).toEqual([]);
      expect(stored.bare).toEqual([]);

      const totalS = (performance.now() - wallStart) / 1000;
      console.log(`[crash ${kind}] seed ${SEED}: ${sent} requests in ${(loadMs / 1000).toFixed(1)} s, ${acked.size} acknowledged, ${rejected} refused (409); ` +
        `SIGKILL with ${inFlightAtKill} in flight; ${restart}; ` +
        `${cutOff.length} cut off, retried: ${replayedFromBeforeKill} replayed (committed before the kill), ${retried.size - replayedFromBeforeKill} created now, ` +
        `${cutOff.length - retried.size} refused; ${all.length} leases, no overlap; ` +
        `event log: ${log.length} events (${atRestart.length} at restart), ${tenantFeed.length} the tenant's, checked over HTTP in ${eventChecksMs.toFixed(0)} ms, ` +
        `${sweptStarts.length} starts logged by the sweep (waited ${sweepWaitMs} ms); test ${totalS.toFixed(1)} s`);
    });
  });
}
