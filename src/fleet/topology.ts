/**
 * An indexed, read-only view of a Fleet for placement: the domain tree
 * site → hall → fabric → NVLink domain → node → GPU, with each node's facility watts per GPU.
 * GPUs get dense integer indexes and each GPU model a flat, array-based tree, so the hot path
 * (placement) walks arrays instead of maps. Rebuilt whenever the fleet changes.
 */
import { GPU_CATALOG, facilityWattsPerGpu, type GpuModelId } from './gpu-catalog.js';
import type { Fleet, FleetNode, Hall, Site } from './fleet-types.js';

export interface TopoNode {
  readonly node: FleetNode;
  readonly region: string;
  readonly gpuUuids: readonly string[];
  /** Dense GPU indexes (Topology.gpuUuidAt), aligned with gpuUuids. */
  readonly gpuIdx: readonly number[];
  /** Facility watts one running GPU on this node draws (TDP × overhead × site PUE). */
  readonly wattsPerGpu: number;
  readonly size: number;
}

/**
 * The nodes of one GPU model as parallel arrays per level. `parent` indexes the level above;
 * `children` the level below. Levels: 0 site, 1 hall, 2 fabric, 3 NVLink domain, 4 node.
 */
export interface ModelTree {
  readonly model: GpuModelId;
  readonly nodeGpus: number;
  readonly ids: readonly (readonly string[])[];
  readonly parent: readonly (readonly number[])[];
  readonly children: readonly (readonly (readonly number[])[])[];
  readonly nodes: readonly TopoNode[];
  /** Per site of this tree: region, facility power cap (W), watts per GPU of this model there. */
  readonly siteRegion: readonly string[];
  readonly sitePowerCapW: readonly number[];
  readonly siteWattsPerGpu: readonly number[];
  readonly hallPowerCapW: readonly number[];
  /**
   * Per node of this tree, as typed arrays for the placement hot path: whether it is ready, its
   * site's index, its GPU count, and its first dense GPU index (a node's GPUs are consecutive).
   */
  readonly nodeReady: Uint8Array;
  readonly nodeSite: Int32Array;
  readonly nodeSize: Int32Array;
  readonly nodeFirstGpu: Int32Array;
}

/**
 * How big a node is and what one running GPU on it draws, for fleets whose models are not in the
 * catalog (a trace's node list): GPUs on the node, and facility watts per GPU (0: power not modelled).
 */
export type NodeShape = (n: FleetNode) => { size: number; wattsPerGpu: number };

const catalogShape = (pueOf: (siteId: string) => number): NodeShape => (n) => ({
  size: GPU_CATALOG[n.gpuModel].nodeGpus,
  wattsPerGpu: facilityWattsPerGpu(n.gpuModel, pueOf(n.siteId)),
});

export const SITE = 0;
export const HALL = 1;
export const FABRIC = 2;
export const NVLINK = 3;
export const NODE = 4;

export class Topology {
  readonly sites = new Map<string, Site>();
  readonly halls = new Map<string, Hall>();
  readonly nodes = new Map<string, TopoNode>();
  /** Nodes grouped by GPU model, in a stable order (site, hall, fabric, nvlink, node id). */
  readonly nodesByModel = new Map<GpuModelId, TopoNode[]>();
  readonly gpuToNode = new Map<string, string>();
  readonly gpuIndex = new Map<string, number>();
  readonly gpuUuidAt: string[] = [];
  /** Per dense GPU index: the node it sits in. */
  readonly gpuNodeAt: TopoNode[] = [];
  private readonly trees = new Map<GpuModelId, ModelTree>();

  private readonly shape: NodeShape;

  /** `shape` defaults to the GPU catalog's node size and TDP × overhead × the site's PUE. */
  constructor(readonly fleet: Fleet, shape?: NodeShape) {
    this.shape = shape ?? catalogShape((id) => this.sites.get(id)!.pue);
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
      const uuids = uuidsByNode.get(n.id) ?? [];
      const gpuIdx = uuids.map((u) => {
        const i = this.gpuUuidAt.length;
        this.gpuUuidAt.push(u);
        this.gpuIndex.set(u, i);
        return i;
      });
      const sh = this.shape(n);
      const t: TopoNode = { node: n, region: site.region, gpuUuids: uuids, gpuIdx, wattsPerGpu: sh.wattsPerGpu, size: sh.size };
      for (let k = 0; k < gpuIdx.length; k++) this.gpuNodeAt.push(t);
      this.nodes.set(n.id, t);
      let list = this.nodesByModel.get(n.gpuModel);
      if (!list) this.nodesByModel.set(n.gpuModel, (list = []));
      list.push(t);
    }
  }

  /** The flat tree of one model's nodes (built on first use). Undefined when none are installed. */
  treeFor(model: GpuModelId): ModelTree | undefined {
    const cached = this.trees.get(model);
    if (cached) return cached;
    const nodes = this.nodesByModel.get(model);
    if (!nodes || nodes.length === 0) return undefined;
    const ids: string[][] = [[], [], [], [], []];
    const parent: number[][] = [[], [], [], [], []];
    const children: number[][][] = [[], [], [], [], []];
    const last = [-1, -1, -1, -1];
    const keyOf = (n: TopoNode): string[] => [n.node.siteId, n.node.hallId, n.node.fabricId, n.node.nvlinkId];
    const siteRegion: string[] = [];
    const sitePowerCapW: number[] = [];
    const siteWattsPerGpu: number[] = [];
    const hallPowerCapW: number[] = [];
    for (const n of nodes) {
      // Nodes are sorted by (site, hall, fabric, nvlink), so a new key at a level starts a new domain.
      const keys = keyOf(n);
      let changed = false;
      for (let lvl = 0; lvl < 4; lvl++) {
        if (changed || last[lvl] === -1 || ids[lvl]![last[lvl]!] !== keys[lvl]) {
          changed = true;
          const idx = ids[lvl]!.length;
          ids[lvl]!.push(keys[lvl]!);
          parent[lvl]!.push(lvl === 0 ? -1 : last[lvl - 1]!);
          children[lvl]!.push([]);
          if (lvl > 0) children[lvl - 1]![last[lvl - 1]!]!.push(idx);
          last[lvl] = idx;
          if (lvl === 0) {
            const s = this.sites.get(keys[0]!)!;
            siteRegion.push(s.region);
            sitePowerCapW.push(s.powerCapW);
            siteWattsPerGpu.push(n.wattsPerGpu);
          } else if (lvl === 1) {
            hallPowerCapW.push(this.halls.get(keys[1]!)!.powerCapW);
          }
        }
      }
      const ni = ids[NODE]!.length;
      ids[NODE]!.push(n.node.id);
      parent[NODE]!.push(last[NVLINK]!);
      children[NVLINK]![last[NVLINK]!]!.push(ni);
    }
    const nodeReady = new Uint8Array(nodes.length);
    const nodeSite = new Int32Array(nodes.length);
    const nodeSize = new Int32Array(nodes.length);
    const nodeFirstGpu = new Int32Array(nodes.length);
    for (let ni = 0; ni < nodes.length; ni++) {
      const n = nodes[ni]!;
      nodeReady[ni] = n.node.state === 'ready' ? 1 : 0;
      nodeSite[ni] = parent[HALL]![parent[FABRIC]![parent[NVLINK]![parent[NODE]![ni]!]!]!]!;
      nodeSize[ni] = n.gpuIdx.length;
      // Dense GPU indexes are handed out node by node, so they are consecutive within a node.
      nodeFirstGpu[ni] = n.gpuIdx.length ? n.gpuIdx[0]! : 0;
      for (let k = 1; k < n.gpuIdx.length; k++) if (n.gpuIdx[k] !== n.gpuIdx[0]! + k) throw new Error(`topology: GPUs of node ${n.node.id} are not consecutive`);
    }
    const tree: ModelTree = {
      model, nodeGpus: nodes[0]!.size, ids, parent, children, nodes,
      siteRegion, sitePowerCapW, siteWattsPerGpu, hallPowerCapW, nodeReady, nodeSite, nodeSize, nodeFirstGpu,
    };
    this.trees.set(model, tree);
    return tree;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
