/**
 * The scheduling engine's view of "now": which GPUs are free on which node, aggregated up the
 * topology (NVLink domain → fabric → hall → site) per GPU model, with power drawn per hall and
 * site. Placement is best fit on these aggregates — NVLink and fabric domains sit in bucket
 * indexes keyed by free GPUs and free whole nodes — so a decision touches a few domains, not the
 * fleet. Everything is integer-indexed typed arrays: a 1,000,000-GPU fleet is 125,000 nodes.
 *
 * Rules (same as the lease allocator in src/leasing, at fleet scale):
 * - Gang levels: one NVLink domain, one fabric, one site, or anywhere; `any` tries the tightest
 *   level that fits (NVLink, fabric, hall, site, fleet).
 * - Best fit: among domains that fit, the one with the fewest free (GPUs, or whole nodes) wins,
 *   keeping big domains whole for big gangs.
 * - Whole nodes when the count is a multiple of the node size.
 * - Power: a placement never pushes a hall or site over its cap (watts per GPU × GPUs).
 * - Nodes that are down or draining take nothing.
 * GPU-sharing tasks (a fraction of one GPU, Alibaba openb) are packed best-fit onto partly used
 * GPUs; a GPU with any share in use is not free for whole-GPU work.
 */
import type { FleetLayout, GangLevel } from './scheduler-types.js';
import { BucketIndex } from './bucket-index.js';

export const NV = 0;
export const FAB = 1;
export const HALL = 2;
export const SITE = 3;
const LEVELS = 4;
const ROOT = 4;

const POPCOUNT = new Uint8Array(256).map((_, i) => {
  let c = 0;
  for (let v = i; v; v &= v - 1) c++;
  return c;
});

/** A placement: nodes and, per node, the bitmask of its GPUs taken. */
export interface Placement {
  nodes: number[];
  masks: number[];
  /** GPU-sharing tasks: the global GPU index and thousandths taken. */
  sharedGpu?: number;
  milli?: number;
}

export interface FindOptions {
  /** Skip nodes for which this returns false (e.g. reserved for a future window). */
  nodeFilter?: ((node: number) => boolean) | undefined;
}

const NO_OPTIONS: FindOptions = Object.freeze({});

/** Topology, compacted: built once per fleet. */
export class EngineFleet {
  readonly models: string[] = [];
  readonly modelIndex = new Map<string, number>();
  readonly nodeIds: string[];
  readonly nodeIndex = new Map<string, number>();
  readonly nodeModel: Uint16Array;
  readonly nodeSize: Uint8Array;
  readonly nodeW: Float64Array;
  readonly nodeHall: Int32Array;
  readonly nodeSite: Int32Array;
  /** First global GPU index of each node (GPU g of node n is nodeGpuBase[n] + g). */
  readonly nodeGpuBase: Int32Array;
  readonly totalGpus: number;
  readonly siteIds: string[];
  readonly hallIds: string[];
  readonly siteCapW: Float64Array;
  readonly hallCapW: Float64Array;
  /** Model-domains per level: (physical domain, model). */
  readonly mdModel: Int32Array[] = [];
  readonly mdParent: Int32Array[] = [];
  readonly mdPhys: Int32Array[] = [];
  readonly mdName: string[][] = [];
  /** Children: for NV, node indexes; else model-domains of the level below. */
  readonly mdChildren: number[][][] = [];
  /** GPUs and nodes installed per model-domain. */
  readonly mdGpus: Int32Array[] = [];
  readonly mdNodes: Int32Array[] = [];
  readonly nodeMd: Int32Array; // node -> NV model-domain
  /** First node of each model-domain, per level. */
  readonly mdFirstNode: Int32Array[] = [];
  /** Per model: its hall- and site-level model-domains (for scans), its node size, installed GPUs. */
  readonly modelMds: number[][][] = [];
  readonly modelNodeSize: number[] = [];
  readonly modelGpus: number[] = [];

  constructor(layout: FleetLayout) {
    const n = layout.nodes.length;
    this.nodeIds = new Array<string>(n);
    this.nodeModel = new Uint16Array(n);
    this.nodeSize = new Uint8Array(n);
    this.nodeW = new Float64Array(n);
    this.nodeHall = new Int32Array(n);
    this.nodeSite = new Int32Array(n);
    this.nodeGpuBase = new Int32Array(n);
    this.nodeMd = new Int32Array(n);
    const siteIdx = new Map(layout.sites.map((s, i) => [s.id, i]));
    const hallIdx = new Map(layout.halls.map((h, i) => [h.id, i]));
    this.siteIds = layout.sites.map((s) => s.id);
    this.hallIds = layout.halls.map((h) => h.id);
    this.siteCapW = Float64Array.from(layout.sites.map((s) => s.powerCapW));
    this.hallCapW = Float64Array.from(layout.halls.map((h) => h.powerCapW));

    // Model-domain keys per level: "model|physical id".
    const mdKey: Map<string, number>[] = Array.from({ length: LEVELS }, () => new Map());
    const model: number[][] = Array.from({ length: LEVELS }, () => []);
    const parent: number[][] = Array.from({ length: LEVELS }, () => []);
    const phys: number[][] = Array.from({ length: LEVELS }, () => []);
    const gpus: number[][] = Array.from({ length: LEVELS }, () => []);
    const nodes: number[][] = Array.from({ length: LEVELS }, () => []);
    for (let l = 0; l < LEVELS; l++) {
      this.mdChildren.push([]);
      this.mdName.push([]);
    }
    let gpuBase = 0;
    for (let i = 0; i < n; i++) {
      const node = layout.nodes[i]!;
      if (node.gpus < 1 || node.gpus > 8) throw new RangeError(`node ${node.id}: ${node.gpus} GPUs (1..8 supported)`);
      let m = this.modelIndex.get(node.model);
      if (m === undefined) {
        m = this.models.length;
        this.models.push(node.model);
        this.modelIndex.set(node.model, m);
        this.modelMds.push([[], [], [], []]);
        this.modelNodeSize.push(node.gpus);
        this.modelGpus.push(0);
      }
      this.modelNodeSize[m] = Math.max(this.modelNodeSize[m]!, node.gpus);
      this.modelGpus[m]! += node.gpus;
      this.nodeIds[i] = node.id;
      this.nodeIndex.set(node.id, i);
      this.nodeModel[i] = m;
      this.nodeSize[i] = node.gpus;
      this.nodeW[i] = node.wattsPerGpu;
      const h = hallIdx.get(node.hallId);
      const s = siteIdx.get(node.siteId);
      if (h === undefined || s === undefined) throw new RangeError(`node ${node.id}: unknown hall or site`);
      this.nodeHall[i] = h;
      this.nodeSite[i] = s;
      this.nodeGpuBase[i] = gpuBase;
      gpuBase += node.gpus;
      const physIds = [node.nvlinkId, node.fabricId, node.hallId, node.siteId];
      const physIdx = [-1, -1, h, s];
      let below = -1;
      for (let l = 0; l < LEVELS; l++) {
        const key = `${m}|${physIds[l]}`;
        let md = mdKey[l]!.get(key);
        if (md === undefined) {
          md = model[l]!.length;
          mdKey[l]!.set(key, md);
          model[l]!.push(m);
          parent[l]!.push(-1);
          phys[l]!.push(physIdx[l]!);
          gpus[l]!.push(0);
          nodes[l]!.push(0);
          this.mdChildren[l]!.push([]);
          this.mdName[l]!.push(physIds[l]!);
          if (l >= HALL) this.modelMds[m]![l]!.push(md);
          if (l === NV) this.mdChildren[NV]![md]!.push(i);
          else this.mdChildren[l]![md]!.push(below);
        } else if (l === NV) {
          this.mdChildren[NV]![md]!.push(i);
        } else if (parent[l - 1]![below] === -1) {
          this.mdChildren[l]![md]!.push(below);
        }
        if (l > NV && parent[l - 1]![below] === -1) parent[l - 1]![below] = md;
        gpus[l]![md]! += node.gpus;
        nodes[l]![md]! += 1;
        if (l === NV) this.nodeMd[i] = md;
        below = md;
        // Fabric, NVLink ids are only unique within their parents in some layouts: the key
        // includes the physical id string, which the layouts keep globally unique.
      }
    }
    this.totalGpus = gpuBase;
    for (let l = 0; l < LEVELS; l++) {
      const first = new Int32Array(model[l]!.length).fill(-1);
      for (let i = 0; i < n; i++) {
        let md = this.nodeMd[i]!;
        for (let up = NV; up < l; up++) md = parent[up]![md]!;
        if (first[md] === -1) first[md] = i;
      }
      this.mdFirstNode.push(first);
      this.mdModel.push(Int32Array.from(model[l]!));
      this.mdParent.push(Int32Array.from(parent[l]!));
      this.mdPhys.push(Int32Array.from(phys[l]!));
      this.mdGpus.push(Int32Array.from(gpus[l]!));
      this.mdNodes.push(Int32Array.from(nodes[l]!));
    }
  }

  mdCount(level: number): number {
    return this.mdModel[level]!.length;
  }
}

/** Mutable "now" state over an EngineFleet. */
export class PlacementIndex {
  /** Free (whole) GPUs per node as a bitmask; bit g = GPU g. */
  readonly nodeFree: Uint8Array;
  /** 1 = node is down or draining. */
  readonly nodeOff: Uint8Array;
  /** Per level and model-domain: free GPUs, and GPUs on fully free nodes (off nodes excluded). */
  readonly freeGpus: Int32Array[] = [];
  readonly freeWhole: Int32Array[] = [];
  readonly hallUsedW: Float64Array;
  readonly siteUsedW: Float64Array;
  /** Free thousandths per GPU, for GPU sharing; 1000 = untouched. */
  private readonly gpuMilli: Uint16Array;
  /** Per model: GPUs with a share in use (global GPU indexes). */
  private readonly sharedGpus: Set<number>[];
  /**
   * NV and FAB levels: per hall model-domain, its domains (by local index) bucketed by free GPUs
   * and by GPUs on fully free nodes. Per hall so that best fit can skip a hall (or site) whose
   * power is spent without walking its domains.
   */
  private readonly byFree: BucketIndex[][] = [];
  private readonly byWhole: BucketIndex[][] = [];
  /** [level][md] → its hall model-domain, and its index within that hall's buckets. */
  private readonly hallOf: Int32Array[] = [];
  private readonly localOf: Int32Array[] = [];
  /** [level][hall md] → model-domain of each local index. */
  private readonly localToMd: Int32Array[][] = [];

  constructor(readonly fleet: EngineFleet) {
    const n = fleet.nodeIds.length;
    this.nodeFree = new Uint8Array(n);
    this.nodeOff = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.nodeFree[i] = (1 << fleet.nodeSize[i]!) - 1;
    for (let l = 0; l < LEVELS; l++) {
      this.freeGpus.push(Int32Array.from(fleet.mdGpus[l]!));
      this.freeWhole.push(Int32Array.from(fleet.mdGpus[l]!));
    }
    this.hallUsedW = new Float64Array(fleet.hallIds.length);
    this.siteUsedW = new Float64Array(fleet.siteIds.length);
    this.gpuMilli = new Uint16Array(fleet.totalGpus).fill(1000);
    this.sharedGpus = fleet.models.map(() => new Set<number>());
    for (const l of [NV, FAB]) {
      const count = fleet.mdCount(l);
      const hallOf = new Int32Array(count);
      const localOf = new Int32Array(count);
      const members: number[][] = Array.from({ length: fleet.mdCount(HALL) }, () => []);
      for (let d = 0; d < count; d++) {
        let h = d;
        for (let up = l; up < HALL; up++) h = fleet.mdParent[up]![h]!;
        hallOf[d] = h;
        localOf[d] = members[h]!.length;
        members[h]!.push(d);
      }
      this.hallOf[l] = hallOf;
      this.localOf[l] = localOf;
      this.localToMd[l] = members.map((list) => Int32Array.from(list));
      this.byFree[l] = members.map((list) => {
        const b = new BucketIndex(list.length, list.reduce((mx, d) => Math.max(mx, fleet.mdGpus[l]![d]!), 0));
        list.forEach((d, i) => b.set(i, this.freeGpus[l]![d]!));
        return b;
      });
      this.byWhole[l] = members.map((list) => {
        const b = new BucketIndex(list.length, list.reduce((mx, d) => Math.max(mx, fleet.mdGpus[l]![d]!), 0));
        list.forEach((d, i) => b.set(i, this.freeWhole[l]![d]!));
        return b;
      });
    }
  }

  // ---------------------------------------------------------------- queries

  /** Power headroom in GPUs of this node's kind at its hall and site. */
  private powerGpus(node: number): number {
    const w = this.fleet.nodeW[node]!;
    if (w <= 0) return UNBOUNDED;
    const h = this.fleet.nodeHall[node]!;
    const s = this.fleet.nodeSite[node]!;
    const hw = this.fleet.hallCapW[h]! - this.hallUsedW[h]!;
    const sw = this.fleet.siteCapW[s]! - this.siteUsedW[s]!;
    return wattsToGpus(Math.min(hw, sw), w);
  }

  /** Whether taking these (free) GPUs now keeps every hall and site within its power cap. */
  fitsPower(p: Placement): boolean {
    if (p.sharedGpu !== undefined) return true;
    const hall = new Map<number, number>();
    const site = new Map<number, number>();
    for (let i = 0; i < p.nodes.length; i++) {
      const n = p.nodes[i]!;
      const w = this.fleet.nodeW[n]! * POPCOUNT[p.masks[i]! & this.nodeFree[n]!]!;
      hall.set(this.fleet.nodeHall[n]!, (hall.get(this.fleet.nodeHall[n]!) ?? 0) + w);
      site.set(this.fleet.nodeSite[n]!, (site.get(this.fleet.nodeSite[n]!) ?? 0) + w);
    }
    for (const [h, w] of hall) if (this.hallUsedW[h]! + w > this.fleet.hallCapW[h]! + 1e-6) return false;
    for (const [st, w] of site) if (this.siteUsedW[st]! + w > this.fleet.siteCapW[st]! + 1e-6) return false;
    return true;
  }

  private nodeCap(node: number, whole: boolean, filter: FindOptions['nodeFilter']): number {
    if (this.nodeOff[node]) return 0;
    if (filter && !filter(node)) return 0;
    const free = this.nodeFree[node]!;
    const size = this.fleet.nodeSize[node]!;
    if (whole) return free === (1 << size) - 1 ? size : 0;
    return POPCOUNT[free]!;
  }

  /** A representative node of a model-domain (for its watts per GPU, hall and site). */
  private firstNode(level: number, md: number): number {
    return this.fleet.mdFirstNode[level]![md]!;
  }

  /**
   * Capacity of a model-domain for this request: free GPUs (or whole-node GPUs), bounded by the
   * power headroom of the hall/site it sits in. Exact for NV/FAB/HALL; for SITE it also bounds
   * each hall. With a node filter the aggregates are not trusted and nodes are counted.
   */
  capacity(level: number, md: number, whole: boolean, filter?: FindOptions['nodeFilter']): number {
    const f = this.fleet;
    if (level === SITE) {
      let sum = 0;
      for (const h of f.mdChildren[SITE]![md]!) sum += this.capacity(HALL, h, whole, filter);
      const node = this.firstNode(SITE, md);
      const w = f.nodeW[node]!;
      if (w > 0) {
        const s = f.nodeSite[node]!;
        sum = Math.min(sum, roundDown(wattsToGpus(f.siteCapW[s]! - this.siteUsedW[s]!, w), whole, f.modelNodeSize[f.mdModel[SITE]![md]!]!));
      }
      return sum;
    }
    // (No closure here: a captured local makes V8 allocate a context on every call.)
    const free = filter ? this.countFiltered(level, md, whole, filter) : whole ? this.freeWhole[level]![md]! : this.freeGpus[level]![md]!;
    if (free === 0) return 0;
    const pg = this.powerGpus(this.firstNode(level, md));
    return Math.min(free, roundDown(pg, whole, f.modelNodeSize[f.mdModel[level]![md]!]!));
  }

  /** Free (or whole-node) GPUs of a domain counted node by node, skipping what the filter refuses. */
  private countFiltered(level: number, md: number, whole: boolean, filter: NonNullable<FindOptions['nodeFilter']>): number {
    const f = this.fleet;
    let free = 0;
    if (level === NV) {
      for (const node of f.mdChildren[NV]![md]!) free += this.nodeCap(node, whole, filter);
    } else {
      for (const c of f.mdChildren[level]![md]!) free += this.countFiltered(level - 1, c, whole, filter);
    }
    return free;
  }

  /**
   * Finds GPUs for a gang of `k` GPUs of model `m` at `level`, or null. Does not change state.
   */
  find(m: number, k: number, level: GangLevel, opts: FindOptions = NO_OPTIONS): Placement | null {
    const size = this.fleet.modelNodeSize[m];
    if (size === undefined || k <= 0) return null;
    const whole = k % size === 0;
    const levels = level === 'nvlink' ? [NV] : level === 'fabric' ? [FAB] : level === 'site' ? [SITE] : [NV, FAB, HALL, SITE, ROOT];
    for (const l of levels) {
      const md = this.bestFit(m, l, k, whole, opts.nodeFilter);
      if (md === -2) continue;
      if (md === -1 && l !== ROOT) continue;
      const out: Placement = { nodes: [], masks: [] };
      this.fill(l, md, k, whole, opts.nodeFilter, m, out);
      return out;
    }
    return null;
  }

  /**
   * Finds k GPUs of model m inside one given model-domain (level NV, FAB, HALL or SITE), best fit
   * within it; null when it lacks the capacity. Preemption uses this after handing victims' GPUs
   * back, so the aggregates already count them.
   */
  findWithin(m: number, k: number, level: number, md: number): Placement | null {
    const size = this.fleet.modelNodeSize[m]!;
    const whole = k % size === 0;
    if (this.capacity(level, md, whole) < k) return null;
    const out: Placement = { nodes: [], masks: [] };
    this.fill(level, md, k, whole, undefined, m, out);
    return out;
  }

  /** Largest gang of model m that `find` could place at `level` right now (for 409 answers, metrics). */
  largest(m: number, level: GangLevel, whole: boolean): number {
    const f = this.fleet;
    const lv = level === 'nvlink' ? NV : level === 'fabric' ? FAB : level === 'site' ? SITE : ROOT;
    if (lv === ROOT) {
      let sum = 0;
      for (const md of f.modelMds[m]![SITE]!) sum += this.capacity(SITE, md, whole);
      return sum;
    }
    if (lv === NV || lv === FAB) {
      // The largest free domain that power allows: walk buckets from the top is not supported;
      // the aggregates make a scan over the model's domains cheap enough for a metric.
      let best = 0;
      for (let md = 0; md < f.mdCount(lv); md++) if (f.mdModel[lv]![md] === m) best = Math.max(best, this.capacity(lv, md, whole));
      return best;
    }
    let best = 0;
    for (const md of f.modelMds[m]![lv]!) best = Math.max(best, this.capacity(lv, md, whole));
    return best;
  }

  /** Best-fit model-domain at level l with capacity ≥ k: its index, -1 for ROOT when it fits, -2 when none. */
  private bestFit(m: number, l: number, k: number, whole: boolean, filter: FindOptions['nodeFilter']): number {
    const f = this.fleet;
    if (l === ROOT) {
      let sum = 0;
      for (const md of f.modelMds[m]![SITE]!) {
        sum += this.capacity(SITE, md, whole, filter);
        if (sum >= k) return -1;
      }
      return -2;
    }
    if (l === NV || l === FAB) {
      // Per hall whose power allows k GPUs: the least-free domain that fits; then the least of those.
      let best = -2;
      let bestKey = Infinity;
      const hallFree = whole ? this.freeWhole[HALL]! : this.freeGpus[HALL]!;
      for (const h of f.modelMds[m]![HALL]!) {
        if (!filter && hallFree[h]! < k) continue; // cheap: not enough free GPUs, whatever the power
        if (this.capacity(HALL, h, whole, filter) < k) continue;
        const index = whole ? this.byWhole[l]![h]! : this.byFree[l]![h]!;
        const local = this.localToMd[l]![h]!;
        if (!filter) {
          const key = index.nextKey(k);
          if (key === -1 || key >= bestKey) continue;
          best = local[index.firstAt(key)]!;
          bestKey = key;
        } else {
          const found = index.findFrom(k, (i, key) => key < bestKey && this.capacity(l, local[i]!, whole, filter) >= k);
          if (found === -1) continue;
          best = local[found]!;
          bestKey = index.key(found);
        }
      }
      return best;
    }
    let best = -2;
    let bestCap = Infinity;
    for (const md of f.modelMds[m]![l]!) {
      const c = this.capacity(l, md, whole, filter);
      if (c >= k && c < bestCap) {
        best = md;
        bestCap = c;
      }
    }
    return best;
  }

  /**
   * Takes k GPUs from a domain with capacity ≥ k: the child whose capacity fits what is left
   * alone (the smallest such, lowest index on ties), else the largest (lowest index on ties),
   * repeated, recursively. One sort per domain instead of a scan per pick (gangs of thousands of
   * GPUs span hundreds of children), over per-level scratch arrays (no allocation per call).
   */
  private fill(l: number, md: number, k: number, whole: boolean, filter: FindOptions['nodeFilter'], m: number, out: Placement): void {
    const f = this.fleet;
    if (k <= 0) return;
    const kids = l === NV ? f.mdChildren[NV]![md]! : l === ROOT ? f.modelMds[m]![SITE]! : f.mdChildren[l]![md]!;
    const childLevel = l === ROOT ? SITE : l - 1;
    const caps = grow(this.capsScratch, l, kids.length, Int32Array);
    const keys = grow(this.keysScratch, l, kids.length, Float64Array);
    let n = 0;
    for (let i = 0; i < kids.length; i++) {
      const c = l === NV ? this.nodeCap(kids[i]!, whole, filter) : this.capacity(childLevel, kids[i]!, whole, filter);
      caps[i] = c;
      // One number per child orders it by (capacity desc, index asc) under a plain ascending sort.
      if (c > 0) keys[n++] = (UNBOUNDED - c) * KEY_SPAN + i;
    }
    sortPrefix(keys, n);
    const sorted = grow(this.orderScratch, l, n, Int32Array);
    for (let j = 0; j < n; j++) sorted[j] = keys[j]! % KEY_SPAN;
    // The largest are taken from the front until one child fits the rest.
    let left = k;
    let p = 0;
    while (left > 0) {
      if (p >= n) throw new Error('fill: capacity accounting is inconsistent');
      let i = sorted[p]!;
      let take = caps[i]!;
      if (take >= left) {
        // The last position whose capacity still fits `left`, then the first with that capacity.
        let lo = p;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (caps[sorted[mid]!]! >= left) lo = mid;
          else hi = mid - 1;
        }
        const c = caps[sorted[lo]!]!;
        let first = p;
        let h2 = lo;
        while (first < h2) {
          const mid = (first + h2) >>> 1;
          if (caps[sorted[mid]!]! > c) first = mid + 1;
          else h2 = mid;
        }
        i = sorted[first]!;
        take = left;
      }
      p++;
      left -= take;
      if (l === NV) {
        const node = kids[i]!;
        out.nodes.push(node);
        out.masks.push(lowestBits(this.nodeFree[node]!, take));
      } else {
        this.fill(childLevel, kids[i]!, take, whole, filter, m, out);
      }
    }
  }

  /** Per-level scratch arrays for fill (levels recurse strictly downwards, so one per level suffices). */
  private readonly capsScratch: Int32Array[] = [];
  private readonly orderScratch: Int32Array[] = [];
  private readonly keysScratch: Float64Array[] = [];

  // ---------------------------------------------------------------- updates

  /** Marks a placement's GPUs used. The caller guarantees they were free. */
  take(p: Placement): void {
    if (p.sharedGpu !== undefined) {
      this.takeShare(p.sharedGpu, p.milli!);
      return;
    }
    for (let i = 0; i < p.nodes.length; i++) this.changeNode(p.nodes[i]!, this.nodeFree[p.nodes[i]!]! & ~p.masks[i]!);
  }

  /** Frees a placement's GPUs. */
  give(p: Placement): void {
    if (p.sharedGpu !== undefined) {
      this.giveShare(p.sharedGpu, p.milli!);
      return;
    }
    for (let i = 0; i < p.nodes.length; i++) this.changeNode(p.nodes[i]!, this.nodeFree[p.nodes[i]!]! | p.masks[i]!);
  }

  /** Takes a node out of (or back into) service. Its running GPUs stay accounted to their jobs. */
  setNodeOff(node: number, off: boolean): void {
    if (Boolean(this.nodeOff[node]) === off) return;
    const free = this.nodeFree[node]!;
    // Remove from aggregates as if its free GPUs were taken, then flip, then add back if on.
    this.applyDelta(node, free, 0, false);
    this.nodeOff[node] = off ? 1 : 0;
    this.applyDelta(node, 0, free, false);
  }

  private changeNode(node: number, newFree: number): void {
    const old = this.nodeFree[node]!;
    if (old === newFree) return;
    this.applyDelta(node, old, newFree, true);
    this.nodeFree[node] = newFree;
  }

  /** Aggregates and power for a node going from free mask a to b. */
  private applyDelta(node: number, a: number, b: number, power: boolean): void {
    const f = this.fleet;
    const size = f.nodeSize[node]!;
    const full = (1 << size) - 1;
    const off = this.nodeOff[node] === 1;
    const dGpus = off ? 0 : POPCOUNT[b]! - POPCOUNT[a]!;
    const dWhole = off ? 0 : (b === full ? size : 0) - (a === full ? size : 0);
    if (power) {
      const w = f.nodeW[node]! * (POPCOUNT[a]! - POPCOUNT[b]!);
      this.hallUsedW[f.nodeHall[node]!]! += w;
      this.siteUsedW[f.nodeSite[node]!]! += w;
    }
    if (dGpus === 0 && dWhole === 0) return;
    let md = f.nodeMd[node]!;
    for (let l = 0; l < LEVELS; l++) {
      this.freeGpus[l]![md]! += dGpus;
      this.freeWhole[l]![md]! += dWhole;
      if (l === NV || l === FAB) {
        const h = this.hallOf[l]![md]!;
        const i = this.localOf[l]![md]!;
        this.byFree[l]![h]!.set(i, this.freeGpus[l]![md]!);
        this.byWhole[l]![h]!.set(i, this.freeWhole[l]![md]!);
      }
      md = f.mdParent[l]![md]!;
      if (md === -1) break;
    }
  }

  // ---------------------------------------------------------------- GPU sharing

  /** Best-fit GPU for a share of `milli` thousandths of one GPU of model m, or null. */
  findShare(m: number, milli: number, opts: FindOptions = NO_OPTIONS): Placement | null {
    let best = -1;
    let bestLeft = Infinity;
    for (const g of this.sharedGpus[m]!) {
      const left = this.gpuMilli[g]!;
      if (left >= milli && left < bestLeft) {
        const node = this.nodeOfGpu(g);
        if (this.nodeOff[node] || (opts.nodeFilter && !opts.nodeFilter(node))) continue;
        best = g;
        bestLeft = left;
      }
    }
    if (best === -1) {
      // Open a new GPU: one whole GPU, best fit (the fullest node that still has one).
      const p = this.find(m, 1, 'any', opts);
      if (!p) return null;
      const node = p.nodes[0]!;
      best = this.fleet.nodeGpuBase[node]! + (31 - Math.clz32(p.masks[0]!));
    }
    return { nodes: [], masks: [], sharedGpu: best, milli };
  }

  /** The node a global GPU index belongs to. */
  nodeOfGpu(g: number): number {
    const base = this.fleet.nodeGpuBase;
    let lo = 0;
    let hi = base.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (base[mid]! <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private takeShare(g: number, milli: number): void {
    const node = this.nodeOfGpu(g);
    const bit = 1 << (g - this.fleet.nodeGpuBase[node]!);
    if (this.gpuMilli[g] === 1000) {
      this.changeNode(node, this.nodeFree[node]! & ~bit);
      this.sharedGpus[this.fleet.nodeModel[node]!]!.add(g);
    }
    this.gpuMilli[g]! -= milli;
  }

  private giveShare(g: number, milli: number): void {
    this.gpuMilli[g]! += milli;
    if (this.gpuMilli[g] === 1000) {
      const node = this.nodeOfGpu(g);
      this.sharedGpus[this.fleet.nodeModel[node]!]!.delete(g);
      this.changeNode(node, this.nodeFree[node]! | (1 << (g - this.fleet.nodeGpuBase[node]!)));
    }
  }

  // ---------------------------------------------------------------- metrics

  /** Free GPUs of a model (or all) on nodes in service. */
  freeOf(m?: number): number {
    let sum = 0;
    const f = this.fleet;
    for (let md = 0; md < f.mdCount(SITE); md++) if (m === undefined || f.mdModel[SITE]![md] === m) sum += this.freeGpus[SITE]![md]!;
    return sum;
  }

  /** Share of free GPUs that sit on partly used nodes (unusable for whole-node gangs). */
  fragmentation(): number {
    const f = this.fleet;
    let free = 0;
    let wholeFree = 0;
    for (let md = 0; md < f.mdCount(SITE); md++) {
      free += this.freeGpus[SITE]![md]!;
      wholeFree += this.freeWhole[SITE]![md]!;
    }
    return free === 0 ? 0 : 1 - wholeFree / free;
  }
}

function roundDown(gpus: number, whole: boolean, size: number): number {
  if (gpus >= UNBOUNDED) return gpus;
  return whole ? gpus - (gpus % size) : gpus;
}

/**
 * "No power limit" as a GPU count: the largest small integer, so capacities stay small integers
 * (V8 keeps them unboxed; a float or Infinity here cost a heap number per call on the hot path).
 */
const UNBOUNDED = 0x3fffffff;
/** Children per domain stay below this (sort keys pack capacity and index into one double). */
const KEY_SPAN = 1 << 21;

/** The scratch array of level l, grown (doubling) to hold at least `size` items. */
function grow<T extends Int32Array | Float64Array>(pool: T[], l: number, size: number, make: new (n: number) => T): T {
  let a = pool[l];
  if (!a || a.length < size) pool[l] = a = new make(Math.max(size, 2 * (a?.length ?? 8)));
  return a;
}

/** Sorts a[0..n) ascending without allocating (insertion sort when short, else a typed-array view). */
function sortPrefix(a: Float64Array, n: number): void {
  if (n > 24) {
    a.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > x) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
}

/** GPUs of `w` watts each that `watts` of headroom runs (0 when over, UNBOUNDED when uncapped). */
function wattsToGpus(watts: number, w: number): number {
  const g = watts / w + 1e-9;
  if (!(g > 0)) return 0;
  return g >= UNBOUNDED ? UNBOUNDED : Math.floor(g) | 0;
}

/** The lowest `count` set bits of mask. */
function lowestBits(mask: number, count: number): number {
  let out = 0;
  let m = mask;
  for (let i = 0; i < count; i++) {
    const bit = m & -m;
    out |= bit;
    m &= m - 1;
  }
  return out;
}
