/**
 * The meter's rules on hand-made log entries (no database): GPU time is billed to min(until,
 * booked end), a stop logged after the meter ran past it takes the extra time back, and downtime
 * inside a lease is not billed and is credited per the SLA (non-preemptible classes only).
 * Figures are worked out in the comments, not by the code under test.
 */
import { describe, expect, it } from 'vitest';
import { decodeLeaseEvent, type LeaseEvent } from '../events/index.js';
import { SLA_LOST_TYPE } from './billing-types.js';
import { applyLeaseEvent, meterRunning, type MeterState, type MeteredUsage } from './meter.js';

const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const M = 60_000;
const H = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();
let seq = 0;

/** A log entry as the event log hands it to consumers, decoded as the meter's caller decodes it. */
function ce(type: string, leaseId: string, timeMs: number, data: Record<string, unknown>): LeaseEvent {
  seq++;
  return decodeLeaseEvent({
    specversion: '1.0', id: `evt_${seq}`, source: '/cells/default', type: `dev.neocloud.${type}`, subject: leaseId, time: iso(timeMs),
    datacontenttype: 'application/json', sequence: String(seq), tenantid: 'ten_a', data: { leaseId, ...data },
  })!;
}

const placed = (leaseId: string, o: { cls?: string; gpus?: number; start: number; end: number }): LeaseEvent => ce('lease.placed', leaseId, o.start, {
  tenantId: 'ten_a', class: o.cls ?? 'on-demand', gpuModel: 'H100-SXM', gpuCount: o.gpus ?? 8, placement: 'any', start: iso(o.start), end: iso(o.end),
  heldUntil: iso(o.end), priceMicrosPerGpuHour: '2490000', totalMicros: '0', gpus: [], nodes: [],
});
const started = (leaseId: string, at: number): LeaseEvent => ce('lease.started', leaseId, at, { start: iso(at), gpus: [] });

/** Applies events in order from no state; returns the state and every usage written. */
function run(events: LeaseEvent[], from: MeterState | null = null): { state: MeterState | null; usage: MeteredUsage[] } {
  let state = from;
  const usage: MeteredUsage[] = [];
  for (const e of events) {
    const r = applyLeaseEvent(state, e);
    state = r.state;
    usage.push(...r.usage);
  }
  return { state, usage };
}

/** Net micro-GPU-seconds of a type, as rating sums them. */
const net = (usage: readonly MeteredUsage[], type: MeteredUsage['type'] = 'gpu.seconds'): bigint =>
  usage.filter((u) => u.type === type).reduce((a, u) => a + u.quantity, 0n);

describe('the meter bills to min(until, booked end)', () => {
  it('a draft refreshed after the end, before the sweep logs it, bills exactly the booked minute', () => {
    // 8 GPUs × 1 min = 480 GPU-s = 480,000,000 µGPU-s.
    const a = run([placed('l1', { start: T0, end: T0 + M }), started('l1', T0)]);
    // The draft is refreshed 779 ms after the end (the finding: 486,232,000 = 8 × 60.779 s).
    const draft = meterRunning(a.state!, T0 + M + 779);
    expect(net(draft.usage)).toBe(480_000_000n);
    expect(draft.state.meteredUntilMs).toBe(T0 + M);
    // The sweep then logs the end at the booked end: nothing more, nothing less.
    const end = run([ce('lease.expired', 'l1', T0 + M, { reason: 'ended', end: iso(T0 + M) })], draft.state);
    expect(net([...draft.usage, ...end.usage])).toBe(480_000_000n);
    // A second refresh after the end writes nothing either.
    expect(meterRunning(draft.state, T0 + 2 * M).usage).toEqual([]);
  });

  it('a stop logged later with an earlier time takes back what was metered past it, once', () => {
    // Spot 4 GPUs booked 2 h; metered to T0+30 min by a draft; preempted at T0+20 min (its
    // deadline), logged afterwards by the sweep. Billed: 4 × 20 min = 4,800 GPU-s.
    const a = run([placed('l2', { cls: 'spot', gpus: 4, start: T0, end: T0 + 2 * H }), started('l2', T0)]);
    const draft = meterRunning(a.state!, T0 + 30 * M);
    expect(net(draft.usage)).toBe(4n * 30n * 60n * 1_000_000n);
    const stop = ce('lease.preempted', 'l2', T0 + 20 * M, { preemptedAt: iso(T0 + 20 * M), by: 'l9' });
    const r = applyLeaseEvent(draft.state, stop);
    expect(net([...draft.usage, ...r.usage])).toBe(4_800_000_000n);
    // The correction is a negative row with an id of its own, derived from the lease and span.
    expect(r.usage.map((u) => [u.id, u.quantity])).toEqual([[`l2@stop-correction@${iso(T0 + 20 * M)}`, -(4n * 10n * 60n * 1_000_000n)]]);
    // Applied again (a replay of the same log entry on the stored state): nothing more.
    expect(applyLeaseEvent(r.state, stop).usage).toEqual([]);
    // A later refresh of the stopped lease bills nothing.
    expect(meterRunning(r.state!, T0 + H).usage).toEqual([]);
  });

  it('a correction spanning a month boundary is split like the span it takes back', () => {
    const end = Date.parse('2027-01-01T00:00:00.000Z');
    const a = run([placed('l3', { gpus: 1, start: end - H, end: end + 5 * H }), started('l3', end - H)]);
    const m1 = meterRunning(a.state!, end);
    const m2 = meterRunning(m1.state, end + H);
    const r = applyLeaseEvent(m2.state, ce('lease.released', 'l3', end - 30 * M, { releasedAt: iso(end - 30 * M), heldUntil: iso(end - 30 * M), wasQueued: false }));
    expect(r.usage.map((u) => [iso(u.timeMs), u.quantity])).toEqual([[iso(end - 30 * M), -1_800_000_000n], [iso(end), -3_600_000_000n]]);
    expect(net([...m1.usage, ...m2.usage, ...r.usage])).toBe(1_800_000_000n);
  });
});

describe('downtime is not billed, and is credited per the SLA', () => {
  const downtime = (leaseId: string, from: number, to: number, gpus: number): LeaseEvent => ce('lease.downtime', leaseId, to, {
    from: iso(from), to: iso(to), durationMs: to - from, nodes: ['n1'], gpus: Array.from({ length: gpus }, (_, i) => `GPU-${i}`), gpuCount: gpus,
  });

  it('on-demand: 8 GPUs run 1 h, 8 of them down for 10 min → billed 50 min, credited 10 min × 8 GPUs', () => {
    const r = run([
      placed('d1', { start: T0, end: T0 + 2 * H }), started('d1', T0),
      downtime('d1', T0 + 20 * M, T0 + 30 * M, 8),
      ce('lease.moved', 'd1', T0 + 30 * M, { fromNodes: ['n1'], toNodes: ['n2'], downNodes: ['n1'], fromGpus: [], toGpus: [] }),
      ce('lease.released', 'd1', T0 + H, { releasedAt: iso(T0 + H), heldUntil: iso(T0 + H), wasQueued: false }),
    ]);
    // Billed: 8 × 60 min − 8 × 10 min = 8 × 50 × 60 GPU-s = 24,000 GPU-s.
    expect(net(r.usage)).toBe(24_000n * 1_000_000n);
    // SLA: 8 × 10 min = 4,800 GPU-s lost (the move itself moved no GPUs in this entry).
    expect(net(r.usage, SLA_LOST_TYPE)).toBe(4_800n * 1_000_000n);
  });

  it('spot: not billed for the downtime, and no SLA credit', () => {
    const r = run([
      placed('d2', { cls: 'spot', gpus: 4, start: T0, end: T0 + 2 * H }), started('d2', T0),
      downtime('d2', T0 + 10 * M, T0 + 40 * M, 2),
      ce('lease.released', 'd2', T0 + H, { releasedAt: iso(T0 + H), heldUntil: iso(T0 + H), wasQueued: false }),
    ]);
    // 4 × 60 min − 2 × 30 min = 180 GPU-min = 10,800 GPU-s.
    expect(net(r.usage)).toBe(10_800n * 1_000_000n);
    expect(net(r.usage, SLA_LOST_TYPE)).toBe(0n);
  });

  it('downtime already metered by a draft is taken back; downtime before the meter ran nets the same', () => {
    const events = [placed('d3', { gpus: 2, start: T0, end: T0 + 2 * H }), started('d3', T0)];
    const a = run(events);
    const draft = meterRunning(a.state!, T0 + 50 * M);
    const later = run([downtime('d3', T0 + 5 * M, T0 + 45 * M, 2), ce('lease.expired', 'd3', T0 + 2 * H, { reason: 'ended', end: iso(T0 + 2 * H) })], draft.state);
    // 2 × 120 min − 2 × 40 min = 160 GPU-min = 9,600 GPU-s.
    expect(net([...draft.usage, ...later.usage])).toBe(9_600n * 1_000_000n);
    expect(net(later.usage, SLA_LOST_TYPE)).toBe(2n * 40n * 60n * 1_000_000n);
    // Ids are derived from the log entry: the same entry applied twice would write the same rows.
    const d = downtime('d3', T0 + 5 * M, T0 + 45 * M, 2);
    expect(applyLeaseEvent(draft.state, d).usage.map((u) => u.id)).toEqual(applyLeaseEvent(draft.state, d).usage.map((u) => u.id));
  });

  it('downtime across a month boundary is split at it, credit and correction alike', () => {
    const end = Date.parse('2027-01-01T00:00:00.000Z');
    const r = run([placed('d4', { gpus: 1, start: end - 2 * H, end: end + 2 * H }), started('d4', end - 2 * H), downtime('d4', end - 30 * M, end + 30 * M, 1)]);
    expect(r.usage.filter((u) => u.type === 'gpu.seconds').map((u) => [iso(u.timeMs), u.quantity])).toEqual([[iso(end - 30 * M), -1_800_000_000n], [iso(end), -1_800_000_000n]]);
    expect(r.usage.filter((u) => u.type === SLA_LOST_TYPE).map((u) => [iso(u.timeMs), u.quantity])).toEqual([[iso(end - 30 * M), 1_800_000_000n], [iso(end), 1_800_000_000n]]);
  });
});
