/**
 * An indexed, read-only view of a Fleet for placement: the domain tree
 * site → hall → fabric → NVLink domain → node → GPU, with each node's facility watts per GPU.
 * Rebuilt whenever the fleet changes (fleet applies are rare; placements are hot).
 */
import { GPU_CATALOG, facilityWattsPerGpu, type GpuModelId } from './gpu-catalog.js';
import type { Fleet, FleetNode, Hall, Site } from './fleet-types.js';

export interface TopoNode {
  readonly node: FleetNode;
  readonly region: string;
  readonly gpuUuids: readonly string[];
  /** Facility watts one running GPU on this node draws (TDP × overhead × site PUE). */
  readonly wattsPerGpu: number;
  readonly size: number;
}

export class Topology {
  readonly sites = new Map<string, Site>();
  readonly halls = new Map<string, Hall>();
  readonly nodes = new Map<string, TopoNode>();
  /** Nodes grouped by GPU model, in a stable order (site, hall, fabric, nvlink, node id). */
  readonly nodesByModel = new Map<GpuModelId, TopoNode[]>();
  readonly gpuToNode = new Map<string, string>();

  constructor(readonly fleet: Fleet) {
    for (const s of fleet.sites) this.sites.set(s.id, s);
    for (const h of fleet.halls) this.halls.set(h.id, h);
    const uuidsByNode = new Map<string, string[]>();
    const gpus = [...fleet.gpus].sort((a, b) => a.index - b.index);
    for (const g of gpus) {
      let list = uuidsByNode.get(g.nodeId);
      if (!list) uuidsByNode.set(g.nodeId, (list = []));
      list.push(g.uuid);
      this.gpuToNode.set(g.uuid, g.nodeId);
    }
    const sorted = [...fleet.nodes].sort((a, b) =>
      cmp(a.siteId, b.siteId) || cmp(a.hallId, b.hallId) || cmp(a.fabricId, b.fabricId) || cmp(a.nvlinkId, b.nvlinkId) || cmp(a.id, b.id));
    for (const n of sorted) {
      const site = this.sites.get(n.siteId)!;
      const t: TopoNode = {
        node: n,
        region: site.region,
        gpuUuids: uuidsByNode.get(n.id) ?? [],
        wattsPerGpu: facilityWattsPerGpu(n.gpuModel, site.pue),
        size: GPU_CATALOG[n.gpuModel].nodeGpus,
      };
      this.nodes.set(n.id, t);
      let list = this.nodesByModel.get(n.gpuModel);
      if (!list) this.nodesByModel.set(n.gpuModel, (list = []));
      list.push(t);
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
