/**
 * The scheduler status page's data: a snapshot of the engine's view of the live fleet (the store
 * is the source of truth; the engine's index mirrors it).
 */
import { place } from './allocator.js';
import type { LeaseEngine } from './engine.js';
import type { Placement } from './lease-types.js';

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

/**
 * The engine's view now: what is leased, how fragmented the free GPUs are, the largest gang each
 * level can still take per model (by the engine's own placement: whole nodes, power caps), the
 * calendar ahead and the queue. In-service means on a `ready` node; power is the facility draw
 * of holds now against each cap.
 */
export function schedulerStatus(engine: LeaseEngine, nowMs: number, queued: readonly QueuedRequest[] = []): SchedulerStatus {
  const topo = engine.topology;
  const ix = engine.index;
  const fleet = topo.fleet;
  const until = nowMs + 1;
  let scheduledLeases = 0;
  let scheduledGpus = 0;
  let soon = 0;
  for (const h of ix.allHolds()) {
    if (h.endMs <= nowMs || h.startMs <= nowMs) continue;
    scheduledLeases++;
    scheduledGpus += h.gpuUuids.length;
    if (h.startMs <= nowMs + 86_400_000) soon++;
  }
  const site = new Map<string, { g: number; free: number }>();
  const hall = new Map<string, { g: number; free: number }>();
  const fab = new Map<string, { gpuModel: string; g: number; free: number; whole: number }>();
  let inService = 0;
  let free = 0;
  let partial = 0;
  for (const models of topo.nodesByModel.values()) {
    for (const n of models) {
      if (n.node.state !== 'ready' || n.gpuIdx.length === 0) continue;
      const f = ix.countFree(n.gpuIdx[0]!, n.gpuIdx.length, nowMs, until);
      inService += n.size;
      free += f;
      if (f < n.size) partial += f;
      for (const [map, key] of [[site, n.node.siteId], [hall, n.node.hallId]] as const) {
        const e = map.get(key) ?? { g: 0, free: 0 };
        e.g += n.size;
        e.free += f;
        map.set(key, e);
      }
      const e = fab.get(n.node.fabricId) ?? { gpuModel: n.node.gpuModel, g: 0, free: 0, whole: 0 };
      e.g += n.size;
      e.free += f;
      if (f === n.size) e.whole += f;
      fab.set(n.node.fabricId, e);
    }
  }
  const leased = inService - free;
  const siteStats = fleet.sites.map((s) => {
    const { g, free: fr } = site.get(s.id) ?? { g: 0, free: 0 };
    return { siteId: s.id, inServiceGpus: g, leasedGpus: g - fr, utilization: g ? (g - fr) / g : 0, powerUsedW: ix.peakWatts(s.id, nowMs, until), powerCapW: s.powerCapW };
  });
  const hallStats = fleet.halls.map((h) => {
    const { g, free: fr } = hall.get(h.id) ?? { g: 0, free: 0 };
    return { hallId: h.id, siteId: h.siteId, inServiceGpus: g, leasedGpus: g - fr, powerUsedW: ix.peakWatts(h.id, nowMs, until), powerCapW: h.powerCapW };
  });
  const largestGang = [...topo.nodesByModel.keys()].map((gpuModel) => {
    const largest = (placement: Placement): number => {
      const r = place(topo, ix, { gpuModel, gpuCount: 2 ** 30, region: null, startMs: nowMs, endMs: until, placement });
      return r.ok ? 0 : r.largestSatisfiable;
    };
    const freeOf = [...fab.values()].filter((f) => f.gpuModel === gpuModel).reduce((a, f) => a + f.free, 0);
    return { gpuModel: gpuModel as string, freeGpus: freeOf, nvlink: largest('same-nvlink'), fabric: largest('same-fabric'), site: largest('same-site'), any: largest('any') };
  });
  const fabrics = [...fab.entries()].map(([fabricId, f]) => ({ fabricId, gpuModel: f.gpuModel, freeGpus: f.free, wholeNodeGpus: f.whole, installedGpus: f.g }));
  return {
    asOf: new Date(nowMs).toISOString(),
    installedGpus: fleet.gpus.length, inServiceGpus: inService, leasedGpus: leased,
    utilization: inService ? leased / inService : 0,
    fragmentation: free === 0 ? 0 : partial / free,
    sites: siteStats, halls: hallStats, largestGang, fabrics,
    queue: {
      scheduledLeases, scheduledGpus, startingWithin24h: soon,
      queuedRequests: queued.length,
      queuedGpus: queued.reduce((a, q) => a + q.gpuCount, 0),
      oldestQueuedSince: queued.length ? new Date(Math.min(...queued.map((q) => q.createdAtMs))).toISOString() : null,
    },
  };
}

/** Share of free GPUs (now, on ready nodes) that sit on partly used nodes: unusable for whole-node gangs. */
export function fragmentation(engine: LeaseEngine, nowMs: number): number {
  let free = 0;
  let partial = 0;
  const ix = engine.index;
  for (const n of engine.topology.nodes.values()) {
    if (n.node.state !== 'ready' || n.gpuIdx.length === 0) continue;
    const f = ix.countFree(n.gpuIdx[0]!, n.gpuIdx.length, nowMs, nowMs + 1);
    free += f;
    if (f < n.size) partial += f;
  }
  return free === 0 ? 0 : partial / free;
}
