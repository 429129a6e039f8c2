/**
 * The one way a consumer inside the database reads the event log: `consumeLog` locks the
 * consumer's cursor row (`event_log_cursors`, `FOR UPDATE`), reads the batch of the cell's log
 * after it, runs the handler in the same transaction and moves the cursor past the batch before
 * commit. So what the handler writes and the cursor commit or roll back together: each event is
 * handled exactly once, whichever control plane runs the consumer and however often (another
 * plane's copy waits on the row lock, then reads from the moved cursor). A handler that throws
 * leaves everything as it was; the next call retries the same batch.
 *
 * Not for consumers whose effect is outside the database (the NATS relay publishes to JetStream:
 * holding this transaction open across publishes would stall every other query of a PGlite
 * process; see nats-relay.ts and docs/decisions.md, "Issue 18: meter and events").
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../store/db.js';
import { EventLog, type CloudEvent } from './event-log.js';
import { eventLogCursors } from './event-schema.js';

export interface LogConsumer {
  /** The consumer's name (one cursor per name and cell), e.g. `lease-meter`. */
  consumer: string;
  cell: string;
  /** Events read per call, at most. */
  batch: number;
}

export interface ConsumedBatch<T> {
  /** Events read (every type: the cursor passes the ones the handler ignores too). */
  read: number;
  /** The cursor after this call. */
  cursor: number;
  /** Whether more of the log may be waiting (the batch was full). */
  more: boolean;
  result: T;
}

/**
 * Runs `handler` over the next batch of `cell`'s log after `consumer`'s cursor, in one
 * transaction with the cursor's move (see the top of this file). `handler` gets the transaction's
 * Db (write with it, not with the outer one) and the events in sequence order; it also runs when
 * the batch is empty, with `more` false, so a consumer can do its caught-up work (the meter's
 * running leases) under the same lock. The cursor row is created on first use at 0 (the whole log).
 */
export async function consumeLog<T>(db: Db, c: LogConsumer, handler: (tx: Db, events: CloudEvent[], more: boolean) => Promise<T>): Promise<ConsumedBatch<T>> {
  return db.transaction(async (txx) => {
    const tx = txx as unknown as Db;
    const last = await lockCursor(tx, c);
    const events = await new EventLog(tx, c.cell).read(last, c.batch, null);
    const more = events.length === c.batch;
    const result = await handler(tx, events, more);
    const cursor = events.length ? Number(events[events.length - 1]!.sequence) : last;
    if (cursor !== last) {
      await tx.update(eventLogCursors).set({ lastSeq: cursor }).where(and(eq(eventLogCursors.consumer, c.consumer), eq(eventLogCursors.cell, c.cell)));
    }
    return { read: events.length, cursor, more, result };
  });
}

/** Locks the consumer's cursor row until the transaction ends and returns it; creates it (at 0) if missing. */
async function lockCursor(tx: Db, c: Pick<LogConsumer, 'consumer' | 'cell'>): Promise<number> {
  const select = async (): Promise<number | null> => {
    const r = await tx.execute(sql`SELECT last_seq FROM event_log_cursors WHERE consumer = ${c.consumer} AND cell = ${c.cell} FOR UPDATE`);
    const row = (r as unknown as { rows: { last_seq: unknown }[] }).rows[0];
    return row ? Number(row.last_seq) : null;
  };
  const found = await select();
  if (found !== null) return found;
  // First use: two planes may insert at once; the loser's insert waits for the winner's commit and does nothing.
  await tx.insert(eventLogCursors).values({ consumer: c.consumer, cell: c.cell, lastSeq: 0 }).onConflictDoNothing();
  const made = await select();
  if (made === null) throw new Error(`event log: could not create the cursor of ${c.consumer}/${c.cell}`);
  return made;
}

/** Creates the consumer's cursor (at 0: the whole log) if it is missing. Optional: consumeLog does it on first use. */
export async function ensureConsumer(db: Db, c: Pick<LogConsumer, 'consumer' | 'cell'>): Promise<void> {
  await db.insert(eventLogCursors).values({ consumer: c.consumer, cell: c.cell, lastSeq: 0 }).onConflictDoNothing();
}

/** Where the consumer's cursor is now (0: not started), without a lock. */
export async function consumerCursor(db: Db, c: Pick<LogConsumer, 'consumer' | 'cell'>): Promise<number> {
  const [r] = await db.select({ lastSeq: eventLogCursors.lastSeq }).from(eventLogCursors)
    .where(and(eq(eventLogCursors.consumer, c.consumer), eq(eventLogCursors.cell, c.cell)));
  return r?.lastSeq ?? 0;
}
