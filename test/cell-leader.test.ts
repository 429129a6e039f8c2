/**
 * CellLeader (src/store/cell-leader.ts) on every store: one leader per cell and role, taken over
 * when its lease runs out or at once when it releases, with fencing — a leader that lost the role
 * without knowing it cannot write a decision (its epoch no longer matches, inside the decision's
 * own transaction). Time is the ManualClock's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CellLeader, LostLeadership, type Db } from '../src/store/index.js';
import { STORE_KINDS, startServer, type TestServer } from './helpers.js';

describe.each(STORE_KINDS)('CellLeader (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store }); });
  afterAll(async () => { await s?.close(); });

  const decide = (l: CellLeader): Promise<void> => s.cp.handle.db.transaction(async (tx) => l.fence(tx as unknown as Db));

  it('one leader; a lapsed lease passes to another, whose epoch fences the old one off; a release hands over at once', async () => {
    const db = s.cp.handle.db;
    const a = new CellLeader(db, 'cell-x', 'test', s.clock, 15_000);
    const b = new CellLeader(db, 'cell-x', 'test', s.clock, 15_000);
    const other = new CellLeader(db, 'cell-y', 'test', s.clock, 15_000);
    expect(await a.claim()).toBe(true);
    const since = a.leaderSinceMs;
    expect(await b.claim()).toBe(false);
    expect(await other.claim()).toBe(true); // another cell has its own leader
    await decide(a);

    s.clock.advanceMs(10_000);
    expect(await a.claim()).toBe(true); // renewed: same term
    expect(a.leaderSinceMs).toBe(since);
    s.clock.advanceMs(15_000);
    expect(await b.claim()).toBe(false); // renewed 15 s ago: not lapsed yet
    s.clock.advanceMs(1);
    // A paused past its lease: B takes over; A, not knowing, tries to write a decision.
    expect(await b.claim()).toBe(true);
    expect(a.leading).toBe(true);
    await expect(decide(a)).rejects.toBeInstanceOf(LostLeadership);
    expect(a.leading).toBe(false);
    await decide(b);
    expect(await a.claim()).toBe(false);

    await b.release();
    expect(b.leading).toBe(false);
    expect(await a.claim()).toBe(true); // at once, no lease to wait out
    expect(a.leaderSinceMs).toBe(s.clock.nowMs());
    await expect(decide(b)).rejects.toBeInstanceOf(LostLeadership);
    await decide(a);
  });
});
