/**
 * One leader per cell and role among the control planes of one database, with fencing.
 *
 * The pattern is the NATS relay's lock (src/events/nats-relay.ts): a row per (cell, role) holding
 * `owner` and `lease_until`, claimed or renewed by one upsert that succeeds only when the row is
 * free, already ours, or its lease ran out; a leader that stops gives it up at once (`release`).
 * Two additions:
 * - **Fencing.** `epoch` grows by one each time the owner changes. A leader remembers the epoch
 *   it claimed and checks it inside the transaction of each decision it writes (`fence`), under
 *   the row's lock: a leader that lost the lease without knowing it (a long pause, a slow tick)
 *   finds another epoch and writes nothing. A lapsed lease that nobody took keeps its epoch, so
 *   its owner renews and goes on.
 * - **The injected clock.** `lease_until` is the caller's clock, not the database's, so tests
 *   move time by hand (ManualClock) instead of sleeping. Control planes' clocks agree to NTP's
 *   milliseconds against a lease of seconds; a skewed clock can only move a takeover earlier or
 *   later, never let two leaders write, because writes are fenced by the epoch, not by time.
 *
 * The relay keeps its own row (its lease is also its cursor, on the database clock); new roles
 * use this.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { and, eq, sql } from 'drizzle-orm';
import { bigint, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import type { Clock } from '../shared/clock.js';
import { ts } from './columns.js';
import type { Db } from './db.js';

/** Migration 0021. */
export const cellLeaders = pgTable('cell_leaders', {
  cell: text('cell').notNull(),
  role: text('role').notNull(),
  owner: text('owner'),
  epoch: bigint('epoch', { mode: 'number' }).notNull().default(0),
  leaseUntil: ts('lease_until'),
  updatedAt: ts('updated_at').notNull().default(sql`now()`),
}, (t) => [primaryKey({ columns: [t.cell, t.role] })]);

/** Thrown by `fence` inside a leader's write: another control plane leads now; the write is rolled back. */
export class LostLeadership extends Error {
  constructor(readonly cell: string, readonly role: string) {
    super(`cell ${cell}: this control plane no longer leads ${role}`);
  }
}

export class CellLeader {
  /** This control plane's name in the row (host, process, random). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  /** The epoch this process holds (null: it does not lead). */
  private epoch: number | null = null;
  /** When it became leader (its clock, ms; null: it does not lead). */
  private sinceMs: number | null = null;

  /** `leaseMs`: how long a claim holds without renewal (a leader renews at every `claim`, well within it). */
  constructor(private readonly db: Db, readonly cell: string, readonly role: string, private readonly clock: Clock, readonly leaseMs: number) {}

  /** Whether this process led at its last claim. */
  get leading(): boolean {
    return this.epoch !== null;
  }

  /** Since when this process leads without a break (its clock, ms), or null. */
  get leaderSinceMs(): number | null {
    return this.sinceMs;
  }

  /**
   * Claims the role if it is free, ours, or lapsed, or renews it; returns whether this process
   * leads now. Call at least a few times per lease (every health tick).
   */
  async claim(): Promise<boolean> {
    const c = cellLeaders;
    const nowMs = this.clock.nowMs();
    const until = new Date(nowMs + this.leaseMs);
    const rows = await this.db.insert(c)
      .values({ cell: this.cell, role: this.role, owner: this.owner, epoch: 1, leaseUntil: until })
      .onConflictDoUpdate({
        target: [c.cell, c.role],
        set: {
          owner: this.owner, leaseUntil: until, updatedAt: sql`now()`,
          epoch: sql`CASE WHEN ${c.owner} IS NOT DISTINCT FROM ${this.owner} THEN ${c.epoch} ELSE ${c.epoch} + 1 END`,
        },
        setWhere: sql`${c.owner} IS NULL OR ${c.owner} = ${this.owner} OR ${c.leaseUntil} < ${new Date(nowMs).toISOString()}::timestamptz`,
      })
      .returning({ epoch: c.epoch });
    const epoch = rows[0]?.epoch ?? null;
    if (epoch === null) {
      this.epoch = null;
      this.sinceMs = null;
      return false;
    }
    if (epoch !== this.epoch) this.sinceMs = nowMs; // a new term (or the first): counts from now
    this.epoch = epoch;
    return true;
  }

  /**
   * Inside a transaction that writes a leader's decision: locks the row and throws LostLeadership
   * unless this process still holds the epoch it claimed. The lock holds a concurrent claim back
   * until the decision commits, so a decision and a change of leader never interleave.
   */
  async fence(tx: Db): Promise<void> {
    const epoch = this.epoch;
    const c = cellLeaders;
    const rows = epoch === null ? [] : await tx.select({ epoch: c.epoch }).from(c)
      .where(and(eq(c.cell, this.cell), eq(c.role, this.role), eq(c.owner, this.owner), eq(c.epoch, epoch)))
      .for('update');
    if (rows.length === 0) {
      this.epoch = null;
      this.sinceMs = null;
      throw new LostLeadership(this.cell, this.role);
    }
  }

  /** Gives the role up now (shutdown), so another control plane takes it at its next claim rather than after the lease. */
  async release(): Promise<void> {
    const c = cellLeaders;
    this.epoch = null;
    this.sinceMs = null;
    await this.db.update(c).set({ owner: null, leaseUntil: null, updatedAt: sql`now()` })
      .where(and(eq(c.cell, this.cell), eq(c.role, this.role), eq(c.owner, this.owner)));
  }
}
