/**
 * The lease meter's rules: a lease's state changes in the event log (src/events) become GPU time
 * (`gpu.seconds`) and SLA losses. Pure: given the meter's state of a lease and one event, it
 * returns the new state and the usage to write; LeaseMeter (billing-service.ts) reads the log by
 * cursor and writes both with the cursor in one transaction, so each event counts exactly once.
 *
 * - A lease runs from its `lease.started` to the first of released / expired / preempted /
 *   failed; what ran is billed, per millisecond (shown per second), split at month boundaries so
 *   each month's invoice takes its own part. A month's close meters running leases up to its end
 *   (`meterRunning`), and the stop meters the rest.
 * - SLA rule (docs/decisions.md): a non-preemptible lease (reserved, on-demand) that fails loses
 *   its GPUs for the rest of its booked window, counted up to 24 hours; one that is moved off a
 *   failed node loses 15 minutes per moved GPU (the restart). Spot and internal leases are
 *   preemptible by contract and earn nothing, with or without notice.
 * - Usage ids are derived from the lease and the span (`lease_…@2026-12-01T00:00:00.000Z`), so
 *   writing the same span twice is a duplicate, not a second charge.
 */
import type { CloudEvent } from '../events/index.js';
import { SLA_LOST_TYPE } from './billing-types.js';
import { monthEndMs, monthOf } from './money.js';

export const SLA_FAILURE_CAP_MS = 24 * 3_600_000;
export const SLA_MOVE_LOSS_MS = 15 * 60_000;
const NON_PREEMPTIBLE = new Set(['reserved', 'on-demand']);

export interface MeterState {
  leaseId: string;
  tenantId: string;
  leaseClass: string;
  gpuModel: string;
  gpuCount: number;
  priceMicros: bigint;
  bookedEndMs: number;
  meteredUntilMs: number | null;
  stoppedAtMs: number | null;
}

export interface MeteredUsage {
  id: string;
  tenantId: string;
  type: 'gpu.seconds' | typeof SLA_LOST_TYPE;
  timeMs: number;
  /** micro-GPU-seconds */
  quantity: bigint;
  model: string;
  leaseId: string;
  leaseClass: string;
  priceMicros: bigint;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** GPU time of [fromMs, toMs), one usage per calendar month it touches. */
export function meterSpan(s: MeterState, fromMs: number, toMs: number): MeteredUsage[] {
  const out: MeteredUsage[] = [];
  let a = fromMs;
  while (a < toMs) {
    const b = Math.min(toMs, monthEndMs(monthOf(a)));
    out.push({
      id: `${s.leaseId}@${iso(a)}`, tenantId: s.tenantId, type: 'gpu.seconds', timeMs: a, quantity: BigInt(s.gpuCount) * BigInt(b - a) * 1000n,
      model: s.gpuModel, leaseId: s.leaseId, leaseClass: s.leaseClass, priceMicros: s.priceMicros,
    });
    a = b;
  }
  return out;
}

const lost = (s: MeterState, id: string, atMs: number, gpus: number, ms: number): MeteredUsage => ({
  id, tenantId: s.tenantId, type: SLA_LOST_TYPE, timeMs: atMs, quantity: BigInt(gpus) * BigInt(ms) * 1000n,
  model: s.gpuModel, leaseId: s.leaseId, leaseClass: s.leaseClass, priceMicros: s.priceMicros,
});

const STOPS: Record<string, (e: CloudEvent) => number> = {
  'dev.neocloud.lease.released': (e) => Date.parse(String(e.data['releasedAt'] ?? e.time)),
  'dev.neocloud.lease.expired': (e) => Date.parse(e.time),
  'dev.neocloud.lease.preempted': (e) => Date.parse(String(e.data['preemptedAt'] ?? e.time)),
  'dev.neocloud.lease.failed': (e) => Date.parse(e.time),
};

/** One event of the log applied to a lease's meter state: the new state (null: nothing to keep) and usage to write. */
export function applyLeaseEvent(s: MeterState | null, e: CloudEvent): { state: MeterState | null; usage: MeteredUsage[] } {
  const d = e.data;
  if (e.type === 'dev.neocloud.lease.placed') {
    const placed: MeterState = {
      leaseId: e.subject, tenantId: String(d['tenantId'] ?? e.tenantid), leaseClass: String(d['class']), gpuModel: String(d['gpuModel']),
      gpuCount: Number(d['gpuCount']), priceMicros: BigInt(String(d['priceMicrosPerGpuHour'])), bookedEndMs: Date.parse(String(d['end'])),
      meteredUntilMs: s?.meteredUntilMs ?? null, stoppedAtMs: s?.stoppedAtMs ?? null,
    };
    return { state: placed, usage: [] };
  }
  if (!s || s.stoppedAtMs !== null) return { state: s, usage: [] };
  if (e.type === 'dev.neocloud.lease.started') {
    if (s.meteredUntilMs !== null) return { state: s, usage: [] };
    return { state: { ...s, meteredUntilMs: Date.parse(String(d['start'] ?? e.time)) }, usage: [] };
  }
  if (e.type === 'dev.neocloud.lease.moved') {
    if (!NON_PREEMPTIBLE.has(s.leaseClass) || s.meteredUntilMs === null) return { state: s, usage: [] };
    const moved = Array.isArray(d['fromGpus']) ? d['fromGpus'].length : 0;
    return { state: s, usage: moved > 0 ? [lost(s, `${s.leaseId}@sla-moved@${e.id}`, Date.parse(e.time), moved, SLA_MOVE_LOSS_MS)] : [] };
  }
  const stop = STOPS[e.type];
  if (!stop) return { state: s, usage: [] };
  const at = stop(e);
  const usage = s.meteredUntilMs !== null && at > s.meteredUntilMs ? meterSpan(s, s.meteredUntilMs, at) : [];
  if (e.type === 'dev.neocloud.lease.failed' && NON_PREEMPTIBLE.has(s.leaseClass) && s.meteredUntilMs !== null) {
    const ms = Math.min(SLA_FAILURE_CAP_MS, Math.max(0, s.bookedEndMs - at));
    if (ms > 0) usage.push(lost(s, `${s.leaseId}@sla-failed`, at, s.gpuCount, ms));
  }
  return { state: { ...s, meteredUntilMs: s.meteredUntilMs === null ? null : Math.max(at, s.meteredUntilMs), stoppedAtMs: at }, usage };
}

/** A running lease's GPU time up to `untilMs` (a month's close): the usage, and the state metered to there. */
export function meterRunning(s: MeterState, untilMs: number): { state: MeterState; usage: MeteredUsage[] } {
  if (s.stoppedAtMs !== null || s.meteredUntilMs === null || s.meteredUntilMs >= untilMs) return { state: s, usage: [] };
  return { state: { ...s, meteredUntilMs: untilMs }, usage: meterSpan(s, s.meteredUntilMs, untilMs) };
}

