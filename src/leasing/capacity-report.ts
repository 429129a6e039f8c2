/**
 * Free capacity over a window, per site and fabric domain, and what is leased right now.
 * "Free" = on a ready node and held by no lease at any instant of the window. "Available" also
 * respects power: at most what the hall's and site's remaining headroom can run.
 */
import { fleetCapacity, type GpuModelId, type SiteCapacity, type Topology } from '../fleet/index.js';
import type { BookingIndex } from './booking-index.js';

export interface FabricCapacity {
  fabricId: string;
  hallId: string;
  /** The GPU model of the fabric domain's nodes (a domain holds one model, as the scheduler status reports it). */
  gpuModel: GpuModelId;
  installedGpus: number;
  freeGpus: number;
  /** Whole nodes free for the window (gangs of whole servers). */
  freeNodes: number;
}

export interface SiteWindowCapacity {
  siteId: string;
  region: string;
  installedGpus: number;
  freeGpus: number;
  /** Free GPUs the power headroom can actually run over the window. */
  availableGpus: number;
  /** Free GPUs for the window per GPU model. */
  freeByModel: Partial<Record<GpuModelId, number>>;
  powerCapW: number;
  peakLeasedW: number;
  fabrics: FabricCapacity[];
}

export interface CapacityReport {
  gpuModel: GpuModelId | null;
  region: string | null;
  start: string;
  end: string;
  installedGpus: number;
  freeGpus: number;
  availableGpus: number;
  sites: SiteWindowCapacity[];
}

export function capacityReport(
  topo: Topology, bookings: BookingIndex,
  q: { gpuModel: GpuModelId | null; region: string | null; startMs: number; endMs: number },
): CapacityReport {
  const sites = new Map<string, SiteWindowCapacity>();
  const fabrics = new Map<string, FabricCapacity>();
  // Free GPUs per hall and per model, and the watts each model draws there, for the power bound.
  const hallFree = new Map<string, Map<number, number>>(); // hall -> wattsPerGpu -> free count
  for (const n of topo.nodes.values()) {
    if (q.gpuModel !== null && n.node.gpuModel !== q.gpuModel) continue;
    if (q.region !== null && n.region !== q.region) continue;
    let site = sites.get(n.node.siteId);
    if (!site) {
      const s = topo.sites.get(n.node.siteId)!;
      site = {
        siteId: s.id, region: s.region, installedGpus: 0, freeGpus: 0, availableGpus: 0, freeByModel: {}, powerCapW: s.powerCapW,
        peakLeasedW: bookings.peakWatts(s.id, q.startMs, q.endMs), fabrics: [],
      };
      sites.set(s.id, site);
    }
    let fab = fabrics.get(n.node.fabricId);
    if (!fab) {
      fab = { fabricId: n.node.fabricId, hallId: n.node.hallId, gpuModel: n.node.gpuModel, installedGpus: 0, freeGpus: 0, freeNodes: 0 };
      fabrics.set(n.node.fabricId, fab);
      site.fabrics.push(fab);
    }
    const size = n.gpuUuids.length;
    site.installedGpus += size;
    fab.installedGpus += size;
    if (n.node.state !== 'ready') continue;
    let free = 0;
    for (const uuid of n.gpuUuids) if (bookings.isFree(uuid, q.startMs, q.endMs)) free++;
    site.freeGpus += free;
    site.freeByModel[n.node.gpuModel] = (site.freeByModel[n.node.gpuModel] ?? 0) + free;
    fab.freeGpus += free;
    if (free === size) fab.freeNodes++;
    let byW = hallFree.get(n.node.hallId);
    if (!byW) hallFree.set(n.node.hallId, (byW = new Map()));
    byW.set(n.wattsPerGpu, (byW.get(n.wattsPerGpu) ?? 0) + free);
  }
  // Power bound: spend each hall's headroom, then the site's, on its free GPUs.
  for (const site of sites.values()) {
    let siteHeadroomW = Math.max(0, site.powerCapW - site.peakLeasedW);
    const hallIds = [...new Set(site.fabrics.map((f) => f.hallId))];
    for (const hallId of hallIds) {
      const hall = topo.halls.get(hallId)!;
      let hallHeadroomW = Math.max(0, hall.powerCapW - bookings.admissionWatts(hallId, q.startMs, q.endMs));
      for (const [w, free] of hallFree.get(hallId) ?? []) {
        const runnable = Math.min(free, Math.floor(Math.min(hallHeadroomW, siteHeadroomW) / w));
        site.availableGpus += runnable;
        hallHeadroomW -= runnable * w;
        siteHeadroomW -= runnable * w;
      }
    }
  }
  const list = [...sites.values()];
  return {
    gpuModel: q.gpuModel,
    region: q.region,
    start: new Date(q.startMs).toISOString(),
    end: new Date(q.endMs).toISOString(),
    installedGpus: list.reduce((a, s) => a + s.installedGpus, 0),
    freeGpus: list.reduce((a, s) => a + s.freeGpus, 0),
    availableGpus: list.reduce((a, s) => a + s.availableGpus, 0),
    sites: list,
  };
}

/**
 * What a tenant may see of a capacity report: what it can buy (free and power-runnable GPUs per
 * site, region and model), never fleet internals (halls, fabric domains, installed counts, power).
 */
export interface TenantCapacityView {
  gpuModel: GpuModelId | null;
  region: string | null;
  start: string;
  end: string;
  freeGpus: number;
  availableGpus: number;
  sites: { siteId: string; region: string; freeGpus: number; availableGpus: number; freeByModel: Partial<Record<GpuModelId, number>> }[];
}

export function tenantCapacityView(r: CapacityReport): TenantCapacityView {
  return {
    gpuModel: r.gpuModel, region: r.region, start: r.start, end: r.end, freeGpus: r.freeGpus, availableGpus: r.availableGpus,
    sites: r.sites.map((s) => ({ siteId: s.siteId, region: s.region, freeGpus: s.freeGpus, availableGpus: s.availableGpus, freeByModel: { ...s.freeByModel } })),
  };
}

export interface UsageNow {
  siteId: string;
  leasedGpus: number;
  leasedW: number;
  byModel: Partial<Record<GpuModelId, { installed: number; leased: number }>>;
  halls: { hallId: string; leasedGpus: number; leasedW: number }[];
}

/** GPUs held at `nowMs` and the facility power they may draw, per site and hall. */
export function usageNow(topo: Topology, bookings: BookingIndex, nowMs: number): UsageNow[] {
  const sites = new Map<string, UsageNow>();
  const halls = new Map<string, { hallId: string; leasedGpus: number; leasedW: number }>();
  for (const s of topo.sites.values()) sites.set(s.id, { siteId: s.id, leasedGpus: 0, leasedW: 0, byModel: {}, halls: [] });
  for (const h of topo.halls.values()) {
    const entry = { hallId: h.id, leasedGpus: 0, leasedW: 0 };
    halls.set(h.id, entry);
    sites.get(h.siteId)?.halls.push(entry);
  }
  for (const n of topo.nodes.values()) {
    const site = sites.get(n.node.siteId)!;
    const hall = halls.get(n.node.hallId)!;
    const m = (site.byModel[n.node.gpuModel] ??= { installed: 0, leased: 0 });
    m.installed += n.gpuUuids.length;
    let leased = 0;
    for (const uuid of n.gpuUuids) if (!bookings.isFree(uuid, nowMs, nowMs + 1)) leased++;
    m.leased += leased;
    site.leasedGpus += leased;
    site.leasedW += leased * n.wattsPerGpu;
    hall.leasedGpus += leased;
    hall.leasedW += leased * n.wattsPerGpu;
  }
  return [...sites.values()];
}

export interface FleetOverview {
  asOf: string;
  totals: {
    sites: number; nodes: number; installedGpus: number; runnableGpus: number; leasedGpus: number; leasedShare: number;
    powerCapW: number; leasedW: number;
  };
  sites: (SiteCapacity & { usage: UsageNow | undefined })[];
  /** The fleet's price list; money as decimal strings of integer micro-dollars. */
  prices: { gpuModel: GpuModelId; leaseClass: string; priceMicrosPerGpuHour: string }[];
}

/** The operator's overview of the fleet at `nowMs`: capacity under the power caps and what is leased. */
export function fleetOverview(topo: Topology, bookings: BookingIndex, nowMs: number): FleetOverview {
  const fleet = topo.fleet;
  const usage = new Map(usageNow(topo, bookings, nowMs).map((u) => [u.siteId, u]));
  const sites = fleetCapacity(fleet, topo).map((s) => ({ ...s, usage: usage.get(s.id) }));
  const installed = sites.reduce((a, s) => a + s.installedGpus, 0);
  const leased = sites.reduce((a, s) => a + (s.usage?.leasedGpus ?? 0), 0);
  return {
    asOf: new Date(nowMs).toISOString(),
    totals: {
      sites: sites.length, nodes: fleet.nodes.length, installedGpus: installed, runnableGpus: sites.reduce((a, s) => a + s.runnableGpus, 0),
      leasedGpus: leased, leasedShare: installed === 0 ? 0 : leased / installed,
      powerCapW: sites.reduce((a, s) => a + s.powerCapW, 0), leasedW: sites.reduce((a, s) => a + (s.usage?.leasedW ?? 0), 0),
    },
    sites,
    prices: fleet.prices.map((p) => ({ gpuModel: p.gpuModel, leaseClass: p.leaseClass, priceMicrosPerGpuHour: String(p.priceMicrosPerGpuHour) })),
  };
}

/** One node now, for the operator's drill-down: GPUs leased and the facility power they may draw. */
export interface NodeNow {
  id: string; siteId: string; hallId: string; fabricId: string; gpuModel: GpuModelId; state: string;
  gpus: number; leasedGpus: number; leasedW: number;
}

export interface FleetNodesNow {
  asOf: string;
  halls: { hallId: string; siteId: string; powerCapW: number; leasedW: number }[];
  nodes: NodeNow[];
}

/**
 * The fleet down to the node at `nowMs` (optionally one site), with each hall's power cap and the
 * power its leases may draw now, counted as usageNow does (GPUs held × facility watts per GPU).
 */
export function fleetNodesNow(topo: Topology, bookings: BookingIndex, nowMs: number, siteId: string | null): FleetNodesNow {
  const halls = new Map<string, { hallId: string; siteId: string; powerCapW: number; leasedW: number }>();
  for (const h of topo.halls.values()) {
    if (siteId !== null && h.siteId !== siteId) continue;
    halls.set(h.id, { hallId: h.id, siteId: h.siteId, powerCapW: h.powerCapW, leasedW: 0 });
  }
  const nodes: NodeNow[] = [];
  for (const n of topo.nodes.values()) {
    if (siteId !== null && n.node.siteId !== siteId) continue;
    let leased = 0;
    for (const uuid of n.gpuUuids) if (!bookings.isFree(uuid, nowMs, nowMs + 1)) leased++;
    const leasedW = leased * n.wattsPerGpu;
    const hall = halls.get(n.node.hallId);
    if (hall) hall.leasedW += leasedW;
    nodes.push({
      id: n.node.id, siteId: n.node.siteId, hallId: n.node.hallId, fabricId: n.node.fabricId, gpuModel: n.node.gpuModel,
      state: n.node.state, gpus: n.gpuUuids.length, leasedGpus: leased, leasedW,
    });
  }
  return { asOf: new Date(nowMs).toISOString(), halls: [...halls.values()], nodes };
}
