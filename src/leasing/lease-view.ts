import type { LeaseView } from './lease-schemas.js';
import { heldUntilMs, leaseState, type Lease } from './lease-types.js';
import { gpuTimeCharge } from '../pricing/index.js';

/**
 * What a lease has actually run by `nowMs`, beside what it booked: the milliseconds its GPUs have
 * been held ([start, min(now, held until)), 0 for a request that never left the queue), the money
 * that time comes to at the lease's price — the rate card's charge rule (`gpuTimeCharge`: per
 * calendar month, rounded to the minor unit), which is what its invoices bill — and the time its
 * hold actually stopped (release, preemption, failure or its end) once that has passed.
 */
export function leaseUsage(l: Lease, nowMs: number): { actualEnd: number | null; usedMs: number; accruedMicros: bigint } {
  if (l.queuedUntilMs !== null) return { actualEnd: null, usedMs: 0, accruedMicros: 0n };
  const stop = heldUntilMs(l);
  const usedMs = Math.max(0, Math.min(nowMs, stop) - l.startMs);
  return {
    actualEnd: stop <= nowMs ? stop : null,
    usedMs,
    accruedMicros: usedMs === 0 ? 0n : gpuTimeCharge(l.priceMicrosPerGpuHour, l.gpuCount, l.startMs, l.startMs + usedMs, l.currency),
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The API representation of a lease at `nowMs`. */
export function leaseView(l: Lease, nowMs: number): LeaseView {
  const used = leaseUsage(l, nowMs);
  return {
    id: l.id,
    tenantId: l.tenantId,
    state: leaseState(l, nowMs),
    gpuModel: l.gpuModel,
    gpuCount: l.gpuCount,
    class: l.leaseClass,
    placement: l.placement,
    region: l.region,
    start: iso(l.startMs),
    end: iso(l.endMs),
    releasedAt: l.releasedAtMs === null ? null : iso(l.releasedAtMs),
    failedAt: l.failedAtMs === null ? null : iso(l.failedAtMs),
    stateReason: l.stateReason ?? (l.queuedUntilMs !== null && nowMs >= l.queuedUntilMs && l.releasedAtMs === null ? 'no capacity freed up within the queue wait' : null),
    preemptedAt: l.preemptedAtMs === null ? null : iso(l.preemptedAtMs),
    preemptedBy: l.preemptedBy,
    priceMicrosPerGpuHour: l.priceMicrosPerGpuHour.toString(),
    currency: l.currency,
    totalMicros: l.totalMicros.toString(),
    actualEnd: used.actualEnd === null ? null : iso(used.actualEnd),
    usedMs: used.usedMs,
    accruedMicros: used.accruedMicros.toString(),
    createdAt: iso(l.createdAtMs),
    queuedUntil: l.queuedUntilMs === null ? null : iso(l.queuedUntilMs),
    nodes: [...new Set(l.gpus.map((g) => g.nodeId))].sort(),
    gpus: l.gpus,
  };
}
