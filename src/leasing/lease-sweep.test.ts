import { describe, expect, it } from 'vitest';
import type { Lease } from './lease-types.js';
import { dueTransitions } from './lease-sweep.js';

const H = 3_600_000;
const T = Date.parse('2026-12-01T00:00:00Z');
const base: Lease = {
  id: 'lease_1', tenantId: 'ten_a', gpuModel: 'H100-SXM', gpuCount: 8, leaseClass: 'spot', placement: 'any', region: null,
  startMs: T + H, endMs: T + 3 * H, releasedAtMs: null, failedAtMs: null, stateReason: null, preemptedAtMs: null, preemptedBy: null,
  priceMicrosPerGpuHour: 1n, totalMicros: 1n, currency: 'USD', createdAtMs: T, queuedUntilMs: null, gpus: [{ uuid: 'g1', nodeId: 'n1' }],
};
const none = { startLogged: false, endLogged: false };
const types = (d: ReturnType<typeof dueTransitions>) => d.events.map((e) => `${e.type}@${(e.timeMs - T) / H}h`);

describe('time-driven lease transitions', () => {
  it('logs a start, then an end, each once, at the time it happened', () => {
    expect(types(dueTransitions(base, none, T))).toEqual([]);
    const started = dueTransitions(base, none, T + 2 * H);
    expect(types(started)).toEqual(['lease.started@1h']);
    expect([started.startDone, started.endDone]).toEqual([true, false]);
    expect(types(dueTransitions(base, { startLogged: true, endLogged: false }, T + 4 * H))).toEqual(['lease.expired@3h']);
    // Both at once after a long gap, start first.
    expect(types(dueTransitions(base, none, T + 5 * H))).toEqual(['lease.started@1h', 'lease.expired@3h']);
    expect(types(dueTransitions(base, { startLogged: true, endLogged: true }, T + 5 * H))).toEqual([]);
  });
  it('ends a preempted lease at its deadline, not its booked end; one preempted before it began never starts', () => {
    const pre = { ...base, preemptedAtMs: T + 2 * H, preemptedBy: 'lease_2' };
    expect(types(dueTransitions(pre, none, T + 5 * H))).toEqual(['lease.started@1h', 'lease.preempted@2h']);
    const before = { ...base, preemptedAtMs: T + H / 2 };
    const d = dueTransitions(before, none, T + 5 * H);
    expect(types(d)).toEqual(['lease.preempted@0.5h']);
    expect([d.startDone, d.endDone]).toEqual([true, true]);
  });
  it('times out a queued request that was never placed, and leaves a released one alone', () => {
    const q = { ...base, queuedUntilMs: T + 2 * H, gpus: [] };
    expect(types(dueTransitions(q, none, T + H))).toEqual([]);
    expect(types(dueTransitions(q, none, T + 2 * H))).toEqual(['lease.expired@2h']);
    expect(types(dueTransitions({ ...q, releasedAtMs: T + H }, none, T + 3 * H))).toEqual([]);
  });
});
