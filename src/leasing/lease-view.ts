import type { LeaseView } from './lease-schemas.js';
import { leaseState, type Lease } from './lease-types.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The API representation of a lease at `nowMs`. */
export function leaseView(l: Lease, nowMs: number): LeaseView {
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
    totalMicros: l.totalMicros.toString(),
    createdAt: iso(l.createdAtMs),
    queuedUntil: l.queuedUntilMs === null ? null : iso(l.queuedUntilMs),
    nodes: [...new Set(l.gpus.map((g) => g.nodeId))].sort(),
    gpus: l.gpus,
  };
}
