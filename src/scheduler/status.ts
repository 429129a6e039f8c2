/**
 * The scheduler's view of the live fleet: what is leased now, how fragmented the free GPUs are,
 * the largest gang each level can still take per model, and the calendar ahead. Built from the
 * fleet and the leases' holds (the store is the source of truth; this is a snapshot).
 */
import { Topology, type Fleet } from '../fleet/index.js';
import { layoutFromFleet } from './fleet-layout.js';
import { EngineFleet, FAB, HALL, PlacementIndex, SITE } from './placement-index.js';

export interface SchedulerStatus {
  asOf: string;
  installedGpus: number;
  inServiceGpus: number;
  leasedGpus: number;
  utilization: number;
  /** Share of free GPUs on partly used nodes (unusable for whole-node gangs). */
  fragmentation: number;
  sites: { siteId: string; inServiceGpus: number; leasedGpus: number; utilization: number; powerUsedW: number; powerCapW: number }[];
  halls: { hallId: string; siteId: string; inServiceGpus: number; leasedGpus: number; powerUsedW: number; powerCapW: number }[];
  /** Per GPU model: the largest gang each level can take now (whole nodes and any GPUs). */
  largestGang: { gpuModel: string; freeGpus: number; nvlink: number; fabric: number; site: number; any: number }[];
  fabrics: { fabricId: string; gpuModel: string; freeGpus: number; wholeNodeGpus: number; installedGpus: number }[];
  /**
   * Leases booked to start later (the calendar ahead), and requests waiting for capacity
   * (`queued`: count, GPUs, and since when the oldest has waited).
   */
  queue: {
    scheduledLeases: number; scheduledGpus: number; startingWithin24h: number;
    queuedRequests: number; queuedGpus: number; oldestQueuedSince: string | null;
  };
}

/** A request waiting for capacity, as the status needs it. */
export interface QueuedRequest {
  gpuCount: number;
  createdAtMs: number;
}

/** GPUs held over a window (a lease's hold, as the lease service's booking index keeps it). */
export interface HeldGpus {
  startMs: number;
  endMs: number;
  gpuUuids: readonly string[];
}

export function schedulerStatus(fleet: Fleet, holds: Iterable<HeldGpus>, nowMs: number, queued: readonly QueuedRequest[] = []): SchedulerStatus {
  const topo = new Topology(fleet);
  const layout = layoutFromFleet(fleet);
  const ef = new EngineFleet(layout);
  const ix = new PlacementIndex(ef);
  let scheduledLeases = 0;
  let scheduledGpus = 0;
  let soon = 0;
  // GPUs held now, as bit masks per node.
  const masks = new Map<number, number>();
  for (const h of holds) {
    if (h.endMs <= nowMs) continue;
    if (h.startMs > nowMs) {
      scheduledLeases++;
      scheduledGpus += h.gpuUuids.length;
      if (h.startMs <= nowMs + 86_400_000) soon++;
      continue;
    }
    for (const uuid of h.gpuUuids) {
      const nodeId = topo.gpuToNode.get(uuid);
      const node = nodeId === undefined ? undefined : ef.nodeIndex.get(nodeId);
      if (node === undefined) continue; // node not in service
      const bit = topo.nodes.get(nodeId!)!.gpuUuids.indexOf(uuid);
      masks.set(node, (masks.get(node) ?? 0) | (1 << bit));
    }
  }
  for (const [node, mask] of masks) ix.take({ nodes: [node], masks: [mask] });

  const installed = fleet.gpus.length;
  const inService = ef.totalGpus;
  const leased = inService - ix.freeOf();
  /** In-service and free GPUs of one physical site or hall, summed over its GPU models. */
  const tally = (level: number, phys: number): { g: number; free: number } => {
    let g = 0;
    let free = 0;
    for (let md = 0; md < ef.mdCount(level); md++) {
      if (ef.mdPhys[level]![md] !== phys) continue;
      g += ef.mdGpus[level]![md]!;
      free += ix.freeGpus[level]![md]!;
    }
    return { g, free };
  };
  const siteStats = fleet.sites.map((s, si) => {
    const { g, free } = tally(SITE, si);
    return { siteId: s.id, inServiceGpus: g, leasedGpus: g - free, utilization: g ? (g - free) / g : 0, powerUsedW: ix.siteUsedW[si]!, powerCapW: s.powerCapW };
  });
  const hallStats = fleet.halls.map((h, hi) => {
    const { g, free } = tally(HALL, hi);
    return { hallId: h.id, siteId: h.siteId, inServiceGpus: g, leasedGpus: g - free, powerUsedW: ix.hallUsedW[hi]!, powerCapW: h.powerCapW };
  });
  const largestGang = ef.models.map((model, m) => ({
    gpuModel: model,
    freeGpus: ix.freeOf(m),
    nvlink: Math.max(ix.largest(m, 'nvlink', true), ix.largest(m, 'nvlink', false)),
    fabric: Math.max(ix.largest(m, 'fabric', true), ix.largest(m, 'fabric', false)),
    site: Math.max(ix.largest(m, 'site', true), ix.largest(m, 'site', false)),
    any: Math.max(ix.largest(m, 'any', true), ix.largest(m, 'any', false)),
  }));
  const fabrics = [];
  for (let md = 0; md < ef.mdCount(FAB); md++) {
    fabrics.push({
      fabricId: ef.mdName[FAB]![md]!, gpuModel: ef.models[ef.mdModel[FAB]![md]!]!,
      freeGpus: ix.freeGpus[FAB]![md]!, wholeNodeGpus: ix.freeWhole[FAB]![md]!, installedGpus: ef.mdGpus[FAB]![md]!,
    });
  }
  return {
    asOf: new Date(nowMs).toISOString(),
    installedGpus: installed, inServiceGpus: inService, leasedGpus: leased,
    utilization: inService ? leased / inService : 0,
    fragmentation: ix.fragmentation(),
    sites: siteStats, halls: hallStats, largestGang, fabrics,
    queue: {
      scheduledLeases, scheduledGpus, startingWithin24h: soon,
      queuedRequests: queued.length,
      queuedGpus: queued.reduce((a, q) => a + q.gpuCount, 0),
      oldestQueuedSince: queued.length ? new Date(Math.min(...queued.map((q) => q.createdAtMs))).toISOString() : null,
    },
  };
}
