/**
 * The lease's entries in the event log: one builder per transition, so every writer describes a
 * change the same way. Money is a decimal string; times are RFC 3339; GPUs are listed where
 * they change (placed, moved). `tenantId` is the lease's tenant, so a tenant's feed carries its
 * own leases and nothing else.
 */
import type { LeaseEventData, LeaseEventType, NewLeaseEvent } from '../events/index.js';
import type { Lease, LeaseGpu } from './lease-types.js';
import { heldUntilMs } from './lease-types.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const nodesOf = (gpus: readonly LeaseGpu[]): string[] => [...new Set(gpus.map((g) => g.nodeId))].sort();

type LeaseRef = Pick<Lease, 'id' | 'tenantId'>;

/** One entry: its payload is the type declared for it in LeaseEventData (src/events/event-data.ts), which consumers decode. */
const ev = <K extends LeaseEventType>(lease: LeaseRef, type: K, atMs: number, data: Omit<LeaseEventData[K], 'leaseId'>): NewLeaseEvent<K> =>
  ({ type, subject: lease.id, tenantId: lease.tenantId, timeMs: atMs, data: { leaseId: lease.id, ...data } as LeaseEventData[K] });

/** What was asked for: the request as validated (class, model, count, placement, region, window). */
export function leaseRequested(lease: Lease, atMs: number): NewLeaseEvent<'lease.requested'> {
  return ev(lease, 'lease.requested', atMs, {
    tenantId: lease.tenantId, class: lease.leaseClass, gpuModel: lease.gpuModel, gpuCount: lease.gpuCount, placement: lease.placement,
    region: lease.region, start: iso(lease.startMs), end: iso(lease.endMs),
  });
}

/** Waiting for capacity until `queuedUntil`. */
export function leaseQueued(lease: Lease, atMs: number): NewLeaseEvent<'lease.queued'> {
  return ev(lease, 'lease.queued', atMs, { queuedUntil: iso(lease.queuedUntilMs ?? atMs), durationMs: lease.endMs - lease.startMs });
}

/** GPUs held for a window at a price: what billing rates and the market sells against. */
export function leasePlaced(lease: Lease, atMs: number, extra: Pick<LeaseEventData['lease.placed'], 'waitedSeconds'> = {}): NewLeaseEvent<'lease.placed'> {
  return ev(lease, 'lease.placed', atMs, {
    tenantId: lease.tenantId, class: lease.leaseClass, gpuModel: lease.gpuModel, gpuCount: lease.gpuCount, placement: lease.placement,
    start: iso(lease.startMs), end: iso(lease.endMs), heldUntil: iso(heldUntilMs(lease)),
    priceMicrosPerGpuHour: lease.priceMicrosPerGpuHour.toString(), totalMicros: lease.totalMicros.toString(),
    gpus: lease.gpus.map((g) => g.uuid), nodes: nodesOf(lease.gpus), ...extra,
  });
}

/** Notice given: the GPUs go at `deadline`, to `by` (`cause`: preemption by a higher class, or the booking a backfill runs in front of). */
export function leasePreempting(lease: LeaseRef, atMs: number, deadlineMs: number, by: string | null, cause: 'preemption' | 'backfill'): NewLeaseEvent<'lease.preempting'> {
  return ev(lease, 'lease.preempting', atMs, { deadline: iso(deadlineMs), by, cause, ...(cause === 'backfill' ? { backfill: true } : {}) });
}

export function leaseReleased(lease: Lease, atMs: number): NewLeaseEvent<'lease.released'> {
  return ev(lease, 'lease.released', atMs, { releasedAt: iso(atMs), heldUntil: iso(heldUntilMs({ ...lease, releasedAtMs: atMs })), wasQueued: lease.queuedUntilMs !== null });
}

/** Its node went down and it moved: the GPUs it left and the ones it took, from `atMs`. */
export function leaseMoved(lease: Lease, atMs: number, from: readonly LeaseGpu[], to: readonly LeaseGpu[], downNodes: string[]): NewLeaseEvent<'lease.moved'> {
  return ev(lease, 'lease.moved', atMs, {
    fromNodes: nodesOf(from), toNodes: nodesOf(to), downNodes, fromGpus: from.map((g) => g.uuid), toGpus: to.map((g) => g.uuid),
  });
}

/**
 * Some of its GPUs were on a node that was unhealthy over [from, to): billable GPU time stops
 * there (billing turns it into a credit). `gpus`: the lease's GPUs on those nodes.
 */
export function leaseDowntime(lease: Lease, fromMs: number, toMs: number, nodes: string[], gpus: string[]): NewLeaseEvent<'lease.downtime'> {
  return ev(lease, 'lease.downtime', toMs, { from: iso(fromMs), to: iso(toMs), durationMs: toMs - fromMs, nodes, gpus, gpuCount: gpus.length });
}

export function leaseFailed(lease: Lease, atMs: number, reason: string, nodes: string[]): NewLeaseEvent<'lease.failed'> {
  return ev(lease, 'lease.failed', atMs, { reason, nodes });
}

/** Time-driven transitions, written by the sweeper when the clock passes them. */
export function leaseStarted(lease: Lease, atMs: number): NewLeaseEvent<'lease.started'> {
  return ev(lease, 'lease.started', atMs, { start: iso(lease.startMs), gpus: lease.gpus.map((g) => g.uuid) });
}

export function leasePreempted(lease: Lease, atMs: number): NewLeaseEvent<'lease.preempted'> {
  return ev(lease, 'lease.preempted', atMs, { preemptedAt: iso(lease.preemptedAtMs ?? atMs), by: lease.preemptedBy });
}

/** The booked window ended (`reason: 'ended'`) or a queued request's wait ran out (`'queue-timeout'`). */
export function leaseExpired(lease: Lease, atMs: number, reason: 'ended' | 'queue-timeout'): NewLeaseEvent<'lease.expired'> {
  return ev(lease, 'lease.expired', atMs, { reason, end: iso(reason === 'ended' ? lease.endMs : (lease.queuedUntilMs ?? atMs)) });
}
