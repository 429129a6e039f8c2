/**
 * Time-driven lease transitions, as events. A lease starts, ends, is preempted at its deadline or
 * times out in the queue because the clock passes a time, not because anyone writes. So a sweep
 * finds leases whose start or end has passed but is not yet in the log (`start_logged`,
 * `end_logged`), appends the events, each stamped with the time it happened, and marks them, in
 * one transaction over row-locked leases. Each transition is written exactly once, whichever
 * control plane sweeps and however often; a change that writes its own event (placement at once,
 * release, failure) marks the flags itself.
 */
import type { NewEvent } from '../events/index.js';
import type { LeaseRepo } from './lease-repo.js';
import { leaseExpired, leasePreempted, leaseStarted } from './lease-events.js';
import { heldUntilMs, type Lease } from './lease-types.js';

/** Leases one sweep transaction handles; a backlog is worked off over consecutive sweeps. */
const SWEEP_BATCH = 5_000;

export interface DueTransitions {
  events: NewEvent[];
  /** The start is now accounted for (with an event, or without one: it never ran). */
  startDone: boolean;
  endDone: boolean;
}

/** What to log for one lease at `nowMs`, given what is logged already. Pure: tested without a database. */
export function dueTransitions(lease: Lease, logged: { startLogged: boolean; endLogged: boolean }, nowMs: number): DueTransitions {
  const out: DueTransitions = { events: [], startDone: false, endDone: false };
  if (lease.queuedUntilMs !== null) {
    // Still a request: placement clears queued_until; otherwise its wait runs out.
    if (!logged.endLogged && lease.queuedUntilMs <= nowMs && lease.releasedAtMs === null) {
      out.events.push(leaseExpired(lease, lease.queuedUntilMs, 'queue-timeout'));
      out.endDone = true;
    }
    return out;
  }
  const held = heldUntilMs(lease);
  if (!logged.startLogged && lease.startMs <= nowMs) {
    if (held > lease.startMs) out.events.push(leaseStarted(lease, lease.startMs));
    out.startDone = true;
  }
  if (!logged.endLogged) {
    if (lease.preemptedAtMs !== null && lease.preemptedAtMs <= lease.endMs) {
      if (lease.preemptedAtMs <= nowMs) {
        out.events.push(leasePreempted(lease, lease.preemptedAtMs));
        out.endDone = true;
      }
    } else if (lease.endMs <= nowMs) {
      out.events.push(leaseExpired(lease, lease.endMs, 'ended'));
      out.endDone = true;
    }
  }
  return out;
}

/** Appends what happened by `nowMs` and is not yet logged. Returns how many events were written. */
export async function sweepTransitions(store: LeaseRepo, nowMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { written, more } = await store.tx(async (s) => {
      const due = await s.leasesDueTransition(nowMs, SWEEP_BATCH);
      const events: NewEvent[] = [];
      const started: string[] = [];
      const ended: string[] = [];
      for (const l of due) {
        const d = dueTransitions(l, l, nowMs);
        events.push(...d.events);
        if (d.startDone) started.push(l.id);
        if (d.endDone) ended.push(l.id);
      }
      events.sort((a, b) => a.timeMs - b.timeMs || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
      await s.markTransitionsLogged(started, ended);
      await s.appendEvents(events);
      // Every lease returned is due something, so each batch marks rows; the guard keeps a bug from looping.
      return { written: events.length, more: due.length === SWEEP_BATCH && started.length + ended.length > 0 };
    });
    total += written;
    if (!more) return total;
  }
}
