/**
 * Installed GPUs versus the GPUs the power caps can actually run at full load.
 * A GPU at full load draws TDP × server overhead × PUE at the meter (see gpu-catalog.ts). When a
 * hall's or site's full-load draw exceeds its cap, only the fraction cap / draw can run at once.
 */
import { GPU_CATALOG, type GpuModelId } from './gpu-catalog.js';
import type { Fleet } from './fleet-types.js';
import type { Topology } from './topology.js';

export interface PowerCapacity {
  id: string;
  powerCapW: number;
  installedGpus: number;
  /** Facility draw with every installed GPU at full load, watts. */
  fullLoadW: number;
  /** GPUs that can run at once under the cap (all of them when the cap is not binding). */
  runnableGpus: number;
  gpusByModel: Partial<Record<GpuModelId, number>>;
  nodesByState: { ready: number; draining: number; down: number };
}

export interface SiteCapacity extends PowerCapacity {
  region: string;
  name: string;
  pue: number;
  powerSourcesW: number;
  halls: PowerCapacity[];
}

function runnable(installed: number, fullLoadW: number, capW: number): number {
  if (fullLoadW <= capW) return installed;
  return Math.floor((installed * capW) / fullLoadW);
}

export function fleetCapacity(fleet: Fleet, topo: Topology): SiteCapacity[] {
  const hallAcc = new Map<string, PowerCapacity>();
  for (const h of fleet.halls) {
    hallAcc.set(h.id, {
      id: h.id, powerCapW: h.powerCapW, installedGpus: 0, fullLoadW: 0, runnableGpus: 0, gpusByModel: {},
      nodesByState: { ready: 0, draining: 0, down: 0 },
    });
  }
  for (const t of topo.nodes.values()) {
    const h = hallAcc.get(t.node.hallId)!;
    const n = t.gpuUuids.length;
    h.installedGpus += n;
    h.fullLoadW += n * t.wattsPerGpu;
    h.gpusByModel[t.node.gpuModel] = (h.gpusByModel[t.node.gpuModel] ?? 0) + n;
    h.nodesByState[t.node.state]++;
  }
  return fleet.sites.map((s) => {
    const halls = fleet.halls.filter((h) => h.siteId === s.id).map((h) => {
      const acc = hallAcc.get(h.id)!;
      acc.runnableGpus = runnable(acc.installedGpus, acc.fullLoadW, acc.powerCapW);
      return acc;
    });
    const site: SiteCapacity = {
      id: s.id, name: s.name, region: s.region, pue: s.pue, powerCapW: s.powerCapW,
      powerSourcesW: fleet.powerSources.filter((p) => p.siteId === s.id).reduce((a, p) => a + p.capacityW, 0),
      installedGpus: 0, fullLoadW: 0, runnableGpus: 0, gpusByModel: {}, nodesByState: { ready: 0, draining: 0, down: 0 }, halls,
    };
    let hallRunnableW = 0;
    for (const h of halls) {
      site.installedGpus += h.installedGpus;
      site.fullLoadW += h.fullLoadW;
      hallRunnableW += h.installedGpus === 0 ? 0 : (h.fullLoadW * h.runnableGpus) / h.installedGpus;
      for (const [m, n] of Object.entries(h.gpusByModel)) {
        site.gpusByModel[m as GpuModelId] = (site.gpusByModel[m as GpuModelId] ?? 0) + n;
      }
      for (const st of ['ready', 'draining', 'down'] as const) site.nodesByState[st] += h.nodesByState[st];
    }
    const hallBound = halls.reduce((a, h) => a + h.runnableGpus, 0);
    site.runnableGpus = Math.min(hallBound, runnable(site.installedGpus, hallRunnableW, s.powerCapW));
    return site;
  });
}

export function gpuModelSummary(): { id: GpuModelId; name: string; memoryGb: number; tdpW: number; nodeGpus: number; nvlink: string }[] {
  return Object.values(GPU_CATALOG).map((g) => ({
    id: g.id, name: g.name, memoryGb: g.memoryGb, tdpW: g.tdpW, nodeGpus: g.nodeGpus, nvlink: g.nvlink,
  }));
}
