/**
 * The event log's consumer side, on PGlite and on PostgreSQL when TEST_DATABASE_URL is set:
 * every lease event a real workload writes decodes against the one payload declaration
 * (src/events/event-data.ts), a malformed one is refused naming its field; `consumeLog` hands each
 * event to exactly one handler run, even with calls racing, and a handler that throws leaves the
 * cursor and its own writes as they were; migration 0018 moves billing's cursor without losing
 * its position.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeLog, consumerCursor, decodeLeaseEvent, EventPayloadError, LEASE_EVENT_TYPES, type CloudEvent } from '../src/events/index.js';
import { MIGRATIONS_DIR } from '../src/store/db.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, type TestServer } from './helpers.js';

const H = 3_600_000;

describe.each(STORE_KINDS)('consuming the event log (%s)', (store) => {
  let s: TestServer;
  let log: CloudEvent[];

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() });
    const acme = await createTenant(s, 'acme');
    const beta = await createTenant(s, 'beta');
    const lease = (key: string, body: Record<string, unknown>) => s.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', durationHours: 1, ...body } });
    // Every lease event type the API can produce: placed and started, preempting and preempted,
    // queued, released, expired (ended and queue-timeout), moved (a node taken down) and failed.
    const spot = await lease(beta.key, { gpuCount: 32, class: 'spot', durationHours: 8, placement: 'same-fabric' });
    const od = await lease(acme.key, { gpuCount: 32, placement: 'same-fabric', durationHours: 2 });
    const od2 = await lease(acme.key, { gpuCount: 16, durationHours: 3 });
    expect([spot.status, od.status, od2.status]).toEqual([201, 201, 201]);
    expect((await lease(beta.key, { gpuCount: 16, queue: true, durationHours: 1 })).status).toBe(202);
    s.clock.advanceMs(10 * 60_000);
    await s.cp.leases.sweep();
    const node = od2.body.nodes[0];
    expect((await s.call('PUT', '/v1/fleet', { body: { ...smallFleet(), nodeStates: { [node]: 'down' } } })).status).toBe(200);
    expect((await s.call('POST', `/v1/leases/${od2.body.id}/release`, { key: acme.key, body: {} })).status).toBe(200);
    s.clock.advanceMs(11 * H);
    await s.cp.leases.sweep();
    log = await s.cp.eventLog.read(0, 10_000, null);
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('every lease event written decodes against its declared payload; a malformed one names its field', () => {
    const lease = log.filter((e) => e.type.startsWith('dev.neocloud.lease.'));
    const types = new Set(lease.map((e) => e.type.slice('dev.neocloud.'.length)));
    for (const t of ['lease.requested', 'lease.queued', 'lease.placed', 'lease.started', 'lease.preempting', 'lease.preempted', 'lease.released', 'lease.expired', 'lease.moved']) expect(types).toContain(t);
    for (const t of types) expect(LEASE_EVENT_TYPES).toContain(t);
    for (const e of lease) {
      const d = decodeLeaseEvent(e);
      expect(d, e.type).not.toBeNull();
      expect([d!.leaseId, d!.id, d!.sequence]).toEqual([e.subject, e.id, Number(e.sequence)]);
    }
    // Not a lease event: null, not an error.
    expect(decodeLeaseEvent(log.find((e) => e.type === 'dev.neocloud.fleet.applied')!)).toBeNull();
    const placed = lease.find((e) => e.type === 'dev.neocloud.lease.placed')!;
    const bad = (data: Record<string, unknown>) => () => decodeLeaseEvent({ ...placed, data: { ...placed.data, ...data } });
    expect(bad({ gpuCount: '8' })).toThrow(EventPayloadError);
    expect(bad({ gpuCount: '8' })).toThrow(/data\.gpuCount must be a finite number/);
    expect(bad({ priceMicrosPerGpuHour: '2.49' })).toThrow(/data\.priceMicrosPerGpuHour must be a decimal string/);
    expect(bad({ end: 'tomorrow' })).toThrow(/data\.end must be an RFC 3339 time/);
    expect(bad({ class: undefined })).toThrow(/data\.class is missing/);
    // Entries migration 0007 moved in from lease_events: what the envelope states is filled from it.
    const legacy = (type: string, data: Record<string, unknown>) => decodeLeaseEvent({ ...placed, type: `dev.neocloud.${type}`, data });
    expect(legacy('lease.moved', { fromNodes: ['n1'], toNodes: ['n2'], downNodes: ['n1'] })).toMatchObject({ type: 'lease.moved', data: { leaseId: placed.subject, fromGpus: [], toGpus: [] } });
    expect(legacy('lease.preempting', { by: 'l2', deadline: placed.time, backfill: true })).toMatchObject({ data: { cause: 'backfill' } });
    expect(legacy('lease.released', {})).toMatchObject({ data: { releasedAt: placed.time } });
    // …but a placement with no price is not guessed.
    expect(() => legacy('lease.placed', { waitedSeconds: 3, nodes: ['n1'] })).toThrow(/data\.class is missing/);
  });

  it('hands each event to one handler run, with calls racing; the cursor ends at the head', async () => {
    const db = s.cp.handle.db;
    const c = { consumer: `test-${store}`, cell: s.cp.eventLog.cell, batch: 7 };
    const seen: number[] = [];
    const drain = async (): Promise<void> => {
      for (;;) {
        const r = await consumeLog(db, c, async (_tx, events) => { seen.push(...events.map((e) => Number(e.sequence))); });
        if (!r.more) return;
      }
    };
    await Promise.all([drain(), drain(), drain(), drain()]);
    const head = await s.cp.eventLog.head();
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    expect(await consumerCursor(db, c)).toBe(head);
  });

  it('a handler that throws leaves the cursor and its own writes as they were; the retry reads the same batch', async () => {
    const db = s.cp.handle.db;
    const c = { consumer: `test-throw-${store}`, cell: s.cp.eventLog.cell, batch: 5 };
    await expect(consumeLog(db, c, async (tx) => {
      await tx.execute(sql`INSERT INTO event_log_cursors (consumer, cell, last_seq) VALUES ('written-by-handler', 'x', 1)`);
      throw new Error('handler failed');
    })).rejects.toThrow('handler failed');
    expect(await consumerCursor(db, c)).toBe(0);
    expect((await db.execute(sql`SELECT count(*)::int AS n FROM event_log_cursors WHERE consumer = 'written-by-handler'`) as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(0);
    const r = await consumeLog(db, c, async (_tx, events) => events.map((e) => Number(e.sequence)));
    expect(r.result).toEqual([1, 2, 3, 4, 5]);
    expect(r.cursor).toBe(5);
  });
});

describe('migration 0018: one cursor table for the log\'s consumers', () => {
  it('moves billing\'s cursor rows with their position, drops the old table, and lets only lease GPU time be negative', async () => {
    const db = new PGlite();
    await db.exec(`CREATE TABLE "billing_log_cursors" ("consumer" text NOT NULL, "cell" text NOT NULL, "last_seq" bigint DEFAULT 0 NOT NULL, PRIMARY KEY ("consumer", "cell"))`);
    await db.exec(`INSERT INTO billing_log_cursors VALUES ('lease-meter', 'default', 4711), ('lease-meter', 'eu-1', 12)`);
    await db.exec(`CREATE TABLE "billing_usage_events" ("source" text NOT NULL, "id" text NOT NULL, "type" text NOT NULL, "quantity" bigint NOT NULL, "lease_id" text,
      CONSTRAINT "billing_usage_quantity_ck" CHECK (quantity >= 0))`);
    const text = readFileSync(join(MIGRATIONS_DIR, '0018_event_log_cursors.sql'), 'utf8');
    for (const stmt of text.split('--> statement-breakpoint')) await db.exec(stmt);
    expect((await db.query(`SELECT consumer, cell, last_seq::int AS last_seq FROM event_log_cursors ORDER BY cell`)).rows)
      .toEqual([{ consumer: 'lease-meter', cell: 'default', last_seq: 4711 }, { consumer: 'lease-meter', cell: 'eu-1', last_seq: 12 }]);
    await expect(db.query(`SELECT 1 FROM billing_log_cursors`)).rejects.toThrow(/does not exist/);
    await db.exec(`INSERT INTO billing_usage_events VALUES ('/cells/default/meter', 'l@x', 'gpu.seconds', -5, 'lease_1')`);
    await expect(db.exec(`INSERT INTO billing_usage_events VALUES ('/gw', 'e1', 'tokens.input', -5, NULL)`)).rejects.toThrow(/billing_usage_quantity_ck/);
    await expect(db.exec(`INSERT INTO billing_usage_events VALUES ('/gw', 'e2', 'gpu.seconds', -5, NULL)`)).rejects.toThrow(/billing_usage_quantity_ck/);
    await db.close();
  });
});
