/**
 * The lease meter's rules: a lease's state changes in the event log (src/events) become GPU time
 * (`gpu.seconds`) and SLA losses. Pure: given the meter's state of a lease and one decoded event
 * (LeaseEvent, src/events/event-data.ts), it returns the new state and the usage to write;
 * LeaseMeter (billing-service.ts) reads the log through `consumeLog` and writes both with the
 * cursor in one transaction, so each event counts exactly once.
 *
 * - A lease runs from its `lease.started` to the first of released / expired / preempted /
 *   failed; what ran is billed, per millisecond (shown per second), split at month boundaries so
 *   each month's invoice takes its own part. A draft or a month's close meters running leases up
 *   to min(then, the end of the window the lease holds: its booked end, or its preemption
 *   deadline once notice is given) (`meterRunning`), and the stop meters the rest. So a draft
 *   refreshed after a lease's end but before the sweep logs it never bills past the end.
 * - A stop logged later whose time is before what was already metered (a release or failure
 *   stamped by another control plane's clock) writes a negative `gpu.seconds` correction for
 *   [stop, metered until), split by month like the span it takes back: the net is what ran.
 * - Downtime (`lease.downtime`: some of its GPUs on an unhealthy node over [from, to)) is not
 *   billed, for every class: a negative `gpu.seconds` correction of GPUs × (to − from), split by
 *   month, whether or not that time was metered yet (the run's span will include it).
 * - SLA rule (docs/decisions.md, "Billing (issue 11)" and "Issue 18: meter and events"): a
 *   non-preemptible lease (reserved, on-demand) that fails loses its GPUs for the rest of its
 *   window, counted up to 24 hours; one that is moved off a failed node loses 15 minutes per moved
 *   GPU (the restart); GPUs down inside its run lose that time (the downtime, GPU for GPU). Spot
 *   and internal leases are preemptible by contract and earn nothing, with or without notice.
 * - Usage ids are derived from the lease and the span (`lease_…@2026-12-01T00:00:00.000Z`), and
 *   corrections and credits from the log entry that caused them, so writing the same thing twice
 *   is a duplicate, not a second charge. Quantities are micro-GPU-seconds; only corrections are negative.
 */
import type { LeaseEvent } from '../events/index.js';
import { SLA_LOST_TYPE } from './billing-types.js';
import { monthEndMs, monthOf } from './money.js';

export const SLA_FAILURE_CAP_MS = 24 * 3_600_000;
export const SLA_MOVE_LOSS_MS = 15 * 60_000;

export interface MeterState {
  leaseId: string;
  tenantId: string;
  leaseClass: string;
  gpuModel: string;
  gpuCount: number;
  priceMicros: bigint;
  /** The end of the window the lease holds: its booked end, or earlier its held-until / preemption deadline. Running time is metered no further. */
  bookedEndMs: number;
  meteredUntilMs: number | null;
  stoppedAtMs: number | null;
}

export interface MeteredUsage {
  id: string;
  tenantId: string;
  type: 'gpu.seconds' | typeof SLA_LOST_TYPE;
  timeMs: number;
  /** micro-GPU-seconds; negative for a correction of `gpu.seconds` */
  quantity: bigint;
  model: string;
  leaseId: string;
  leaseClass: string;
  priceMicros: bigint;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** [fromMs, toMs) cut at calendar month boundaries (UTC). */
function monthPieces(fromMs: number, toMs: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = fromMs; a < toMs;) {
    const b = Math.min(toMs, monthEndMs(monthOf(a)));
    out.push([a, b]);
    a = b;
  }
  return out;
}

const usageOf = (s: MeterState, type: MeteredUsage['type'], id: string, atMs: number, gpus: number, ms: number): MeteredUsage => ({
  id, tenantId: s.tenantId, type, timeMs: atMs, quantity: BigInt(gpus) * BigInt(ms) * 1000n,
  model: s.gpuModel, leaseId: s.leaseId, leaseClass: s.leaseClass, priceMicros: s.priceMicros,
});

/** GPU time of [fromMs, toMs), one usage per calendar month it touches. */
export function meterSpan(s: MeterState, fromMs: number, toMs: number): MeteredUsage[] {
  return monthPieces(fromMs, toMs).map(([a, b]) => usageOf(s, 'gpu.seconds', `${s.leaseId}@${iso(a)}`, a, s.gpuCount, b - a));
}

/** Takes back GPU time of [fromMs, toMs) (`gpus` of them): negative usage per month, ids `${lease}@${tag}@${start}`. */
function unmeterSpan(s: MeterState, tag: string, gpus: number, fromMs: number, toMs: number): MeteredUsage[] {
  return monthPieces(fromMs, toMs).map(([a, b]) => usageOf(s, 'gpu.seconds', `${s.leaseId}@${tag}@${iso(a)}`, a, -gpus, b - a));
}

const NON_PREEMPTIBLE = new Set(['reserved', 'on-demand']);

/** When a stop event says the lease stopped running, ms. */
function stopAtMs(e: LeaseEvent): number | null {
  switch (e.type) {
    case 'lease.released': return Date.parse(e.data.releasedAt);
    case 'lease.expired': return e.timeMs;
    case 'lease.preempted': return Date.parse(e.data.preemptedAt);
    case 'lease.failed': return e.timeMs;
    default: return null;
  }
}

/** One event of the log applied to a lease's meter state: the new state (null: nothing to keep) and usage to write. */
export function applyLeaseEvent(s: MeterState | null, e: LeaseEvent): { state: MeterState | null; usage: MeteredUsage[] } {
  if (e.type === 'lease.placed') {
    const d = e.data;
    const endMs = Date.parse(d.end);
    const placed: MeterState = {
      leaseId: e.leaseId, tenantId: d.tenantId, leaseClass: d.class, gpuModel: d.gpuModel, gpuCount: d.gpuCount, priceMicros: BigInt(d.priceMicrosPerGpuHour),
      bookedEndMs: d.heldUntil === undefined ? endMs : Math.min(endMs, Date.parse(d.heldUntil)),
      meteredUntilMs: s?.meteredUntilMs ?? null, stoppedAtMs: s?.stoppedAtMs ?? null,
    };
    return { state: placed, usage: [] };
  }
  if (!s || s.stoppedAtMs !== null) return { state: s, usage: [] };
  switch (e.type) {
    case 'lease.started':
      if (s.meteredUntilMs !== null) return { state: s, usage: [] };
      return { state: { ...s, meteredUntilMs: Date.parse(e.data.start) }, usage: [] };
    case 'lease.preempting':
      // Its GPUs go at the deadline: running time is metered no further (the preempted event then stops it there).
      return { state: { ...s, bookedEndMs: Math.min(s.bookedEndMs, Date.parse(e.data.deadline)) }, usage: [] };
    case 'lease.moved': {
      if (!NON_PREEMPTIBLE.has(s.leaseClass) || s.meteredUntilMs === null) return { state: s, usage: [] };
      const moved = e.data.fromGpus.length;
      return { state: s, usage: moved > 0 ? [usageOf(s, SLA_LOST_TYPE, `${s.leaseId}@sla-moved@${e.id}`, e.timeMs, moved, SLA_MOVE_LOSS_MS)] : [] };
    }
    case 'lease.downtime': {
      // Inside the lease's window only (the producer starts it no earlier than the lease's start).
      const fromMs = Date.parse(e.data.from);
      const toMs = Math.min(Date.parse(e.data.to), s.bookedEndMs);
      const gpus = Math.min(e.data.gpuCount, s.gpuCount);
      if (toMs <= fromMs || gpus <= 0) return { state: s, usage: [] };
      const usage = unmeterSpan(s, `downtime@${e.id}`, gpus, fromMs, toMs);
      if (NON_PREEMPTIBLE.has(s.leaseClass)) {
        for (const [a, b] of monthPieces(fromMs, toMs)) usage.push(usageOf(s, SLA_LOST_TYPE, `${s.leaseId}@sla-downtime@${e.id}@${iso(a)}`, a, gpus, b - a));
      }
      return { state: s, usage };
    }
    default:
      break;
  }
  const at = stopAtMs(e);
  if (at === null) return { state: s, usage: [] };
  const m = s.meteredUntilMs;
  const usage = m === null ? [] : at > m ? meterSpan(s, m, at) : unmeterSpan(s, 'stop-correction', s.gpuCount, at, m);
  if (e.type === 'lease.failed' && NON_PREEMPTIBLE.has(s.leaseClass) && m !== null) {
    const ms = Math.min(SLA_FAILURE_CAP_MS, Math.max(0, s.bookedEndMs - at));
    if (ms > 0) usage.push(usageOf(s, SLA_LOST_TYPE, `${s.leaseId}@sla-failed`, at, s.gpuCount, ms));
  }
  return { state: { ...s, meteredUntilMs: m === null ? null : at, stoppedAtMs: at }, usage };
}

/** A running lease's GPU time up to min(`untilMs`, the end of its window) (a draft, a month's close): the usage, and the state metered to there. */
export function meterRunning(s: MeterState, untilMs: number): { state: MeterState; usage: MeteredUsage[] } {
  const to = Math.min(untilMs, s.bookedEndMs);
  if (s.stoppedAtMs !== null || s.meteredUntilMs === null || s.meteredUntilMs >= to) return { state: s, usage: [] };
  return { state: { ...s, meteredUntilMs: to }, usage: meterSpan(s, s.meteredUntilMs, to) };
}
