/**
 * Picks concrete GPUs for a gang request over a window, or says how large a request could be met.
 *
 * The domain tree is site → hall → fabric → NVLink domain → node. A domain's capacity is the
 * sum of its children's, and for halls and sites also at most the GPUs their power headroom can
 * run over the window (cap − peak draw of existing holds, ÷ facility watts per GPU).
 *
 * - Whole nodes: when the count is a multiple of the node size, only fully free nodes count, so
 *   a 16-GPU job gets two whole HGX servers rather than scraps of five.
 * - Placement `same-X`: the gang must fit inside one domain of level X; among those that fit, the
 *   one with the least capacity wins (best fit), keeping large domains whole for large gangs. With
 *   a gang-size population (`GangSizes`, policy `placement: 'fgd'`) the NVLink domain is chosen by
 *   fragmentation gradient descent instead (see GangSizes); other levels stay best fit.
 * - `any` tries one NVLink domain, then one fabric, then one hall, then one site, then spreads —
 *   the tightest domain that fits.
 * - Inside the chosen domain the same rule recurses: a child that fits alone (smallest first),
 *   else the largest children first so the gang spans as few domains as possible.
 * Deterministic: ties break on the topology's stable order.
 */
import type { GpuModelId, ModelTree, Topology } from '../fleet/index.js';
import { FABRIC, HALL, NODE, NVLINK, SITE } from '../fleet/index.js';
import type { BookingIndex } from './booking-index.js';
import type { LeaseGpu, Placement } from './lease-types.js';

export interface PlacementQuery {
  gpuModel: GpuModelId;
  gpuCount: number;
  region: string | null;
  startMs: number;
  endMs: number;
  placement: Placement;
}

/**
 * The gang sizes requests ask for, as a population (weights sum to 1), for fragmentation-aware
 * placement (Weng et al., ATC'23: FGD) of whole-GPU gangs: with it, the NVLink domain is chosen by
 * the least growth of F(f) = f × P(gang > f) — the expected free GPUs of the domain that an
 * arriving gang cannot use — instead of by least capacity; ties still go to best fit.
 */
export interface GangSizes {
  sizes: readonly number[];
  weights: readonly number[];
}

/**
 * One domain of a model's tree (ModelTree level SITE…NODE and index at that level): a placement
 * limited to it considers only its nodes, and only its hall's and site's power.
 */
export interface DomainRef {
  level: number;
  index: number;
}

/**
 * A domain's index range at every level of its tree (SITE…NODE) into `lo`/`hi` (half-open):
 * domains are contiguous in the tree's order, so its ancestors are one index each and its
 * descendants run from the first child of its first to the last child of its last.
 */
export function domainRanges(t: ModelTree, d: DomainRef, lo: Int32Array, hi: Int32Array): void {
  lo[d.level] = d.index;
  hi[d.level] = d.index + 1;
  for (let l = d.level; l > SITE; l--) {
    const p = t.parent[l]![lo[l]!]!;
    lo[l - 1] = p;
    hi[l - 1] = p + 1;
  }
  for (let l = d.level; l < NODE; l++) {
    const first = t.children[l]![lo[l]!]!;
    const last = t.children[l]![hi[l]! - 1]!;
    lo[l + 1] = first[0]!;
    hi[l + 1] = last[last.length - 1]! + 1;
  }
}

export type PlacementResult =
  | { ok: true; gpus: LeaseGpu[] }
  | { ok: false; largestSatisfiable: number; freeGpus: number };

const ROOT = -1;
const LEVEL_OF: Record<Exclude<Placement, 'any'>, number> = { 'same-nvlink': NVLINK, 'same-fabric': FABRIC, 'same-site': SITE };
/** `any` tries one NVLink domain, one fabric, one hall, one site, then the whole fleet. */
const ANY_LEVELS = [NVLINK, FABRIC, HALL, SITE, ROOT];

const SCRATCH = new WeakMap<ModelTree, { cap: Int32Array[]; sitePow: Int32Array; hallPow: Int32Array; free: Int32Array }>();

/** Per-request state over a ModelTree: free GPUs per node and capacities per domain. */
class Search {
  readonly free: Int32Array;
  /** Power headroom in GPUs per site and per hall over the window (-1 = excluded). */
  readonly sitePow: Int32Array;
  readonly hallPow: Int32Array;
  readonly cap: Int32Array[];
  freeGpus = 0;
  /** Per level (SITE…NODE): the half-open index range searched (the whole tree, or one domain's subtree). */
  readonly lo = new Int32Array(NODE + 1);
  readonly hi = new Int32Array(NODE + 1);

  constructor(readonly t: ModelTree, private readonly bookings: BookingIndex, private readonly q: PlacementQuery, within?: DomainRef) {
    if (!within) {
      for (let l = SITE; l <= NODE; l++) this.hi[l] = t.ids[l]!.length;
    } else {
      domainRanges(t, within, this.lo, this.hi);
    }
    // Scratch arrays are reused per tree: place() is synchronous and one Search is live at a time.
    let sc = SCRATCH.get(t);
    if (!sc) {
      sc = {
        cap: t.ids.map((ids) => new Int32Array(ids.length)), sitePow: new Int32Array(t.ids[SITE]!.length),
        hallPow: new Int32Array(t.ids[HALL]!.length), free: new Int32Array(t.nodes.length),
      };
      SCRATCH.set(t, sc);
    }
    this.cap = sc.cap;
    this.sitePow = sc.sitePow.fill(0);
    this.hallPow = sc.hallPow.fill(0);
    for (let si = this.lo[SITE]!; si < this.hi[SITE]!; si++) {
      if (q.region !== null && t.siteRegion[si] !== q.region) {
        this.sitePow[si] = -1;
        continue;
      }
      const w = t.siteWattsPerGpu[si]!;
      const headroomW = t.sitePowerCapW[si]! - bookings.admissionWatts(t.ids[SITE]![si]!, q.startMs, q.endMs);
      this.sitePow[si] = gpusUnder(headroomW, w);
      for (const hi of t.children[SITE]![si]!) {
        if (hi < this.lo[HALL]! || hi >= this.hi[HALL]!) continue;
        const hw = t.hallPowerCapW[hi]! - bookings.admissionWatts(t.ids[HALL]![hi]!, q.startMs, q.endMs);
        this.hallPow[hi] = gpusUnder(hw, w);
      }
    }
    this.free = sc.free.fill(0);
    const { nodeReady, nodeSite, nodeSize, nodeFirstGpu } = t;
    for (let ni = this.lo[NODE]!, end = this.hi[NODE]!; ni < end; ni++) {
      if (nodeReady[ni] === 0 || this.sitePow[nodeSite[ni]!] === -1) continue;
      const f = bookings.countFree(nodeFirstGpu[ni]!, nodeSize[ni]!, q.startMs, q.endMs);
      this.free[ni] = f;
      this.freeGpus += f;
    }
  }

  /**
   * Capacities bottom-up. In whole-node mode only fully free nodes count and power bounds round
   * down to whole nodes, so every capacity is a multiple of the node size.
   */
  computeCaps(wholeNodes: boolean): void {
    const { t, cap } = this;
    const size = t.nodeGpus;
    for (const c of cap) c.fill(0);
    const { lo, hi } = this;
    for (let ni = lo[NODE]!, end = hi[NODE]!; ni < end; ni++) {
      const f = this.free[ni]!;
      const c = wholeNodes ? (f === t.nodes[ni]!.size ? f : 0) : f;
      cap[NODE]![ni] = c;
      cap[NVLINK]![t.parent[NODE]![ni]!]! += c;
    }
    for (let lvl = NVLINK; lvl > SITE; lvl--) {
      const up = cap[lvl - 1]!;
      const par = t.parent[lvl]!;
      const here = cap[lvl]!;
      for (let i = lo[lvl]!, end = hi[lvl]!; i < end; i++) up[par[i]!]! += here[i]!;
      if (lvl - 1 === HALL) {
        for (let h = lo[HALL]!, end = hi[HALL]!; h < end; h++) up[h] = Math.min(up[h]!, roundDown(this.hallPow[h]!, wholeNodes, size));
      }
    }
    const sites = cap[SITE]!;
    for (let si = lo[SITE]!, end = hi[SITE]!; si < end; si++) {
      sites[si] = this.sitePow[si] === -1 ? 0 : Math.min(sites[si]!, roundDown(this.sitePow[si]!, wholeNodes, size));
    }
  }

  /** A domain's capacity bounded by its hall's and site's (power may bind above it). */
  effective(lvl: number, i: number): number {
    const { t, cap } = this;
    let c = cap[lvl]![i]!;
    let l = lvl;
    let idx = i;
    while (l > SITE) {
      idx = t.parent[l]![idx]!;
      l--;
      if (l === HALL || l === SITE) c = Math.min(c, cap[l]![idx]!);
    }
    return c;
  }

  /** The domain of `lvl` with the least effective capacity ≥ count (first in stable order on ties). */
  bestFitAt(lvl: number, count: number): number {
    let best = -1;
    let bestCap = Infinity;
    for (let i = this.lo[lvl]!, n = this.hi[lvl]!; i < n; i++) {
      if (this.cap[lvl]![i]! < count) continue;
      const e = this.effective(lvl, i);
      if (e >= count && e < bestCap) {
        best = i;
        bestCap = e;
      }
    }
    return best;
  }

  /**
   * FGD at one level: the domain (effective capacity e ≥ count) where F(e − count) − F(e) is least,
   * F(f) = f × P(gang > f); ties to the least capacity (best fit), then stable order.
   */
  fgdAt(lvl: number, count: number, gangs: GangSizes): number {
    const frag = (f: number): number => {
      let p = 0;
      for (let k = 0; k < gangs.sizes.length; k++) if (gangs.sizes[k]! > f) p += gangs.weights[k]!;
      return f * p;
    };
    let best = -1;
    let bestDelta = Infinity;
    let bestCap = Infinity;
    for (let i = this.lo[lvl]!, n = this.hi[lvl]!; i < n; i++) {
      if (this.cap[lvl]![i]! < count) continue;
      const e = this.effective(lvl, i);
      if (e < count) continue;
      const delta = Math.round((frag(e - count) - frag(e)) * 1e9) / 1e9;
      if (delta < bestDelta || (delta === bestDelta && e < bestCap)) {
        best = i;
        bestDelta = delta;
        bestCap = e;
      }
    }
    return best;
  }

  largestAt(lvl: number): number {
    if (lvl === ROOT) {
      let sum = 0;
      for (const c of this.cap[SITE]!) sum += c;
      return sum;
    }
    let m = 0;
    for (let i = this.lo[lvl]!, n = this.hi[lvl]!; i < n; i++) m = Math.max(m, this.effective(lvl, i));
    return m;
  }

  /** Takes `count` GPUs from domain (lvl, i) whose capacity is ≥ count. */
  fill(lvl: number, i: number, count: number, out: LeaseGpu[]): void {
    if (count <= 0) return;
    const { t } = this;
    if (lvl === NODE) {
      const n = t.nodes[i]!;
      let taken = 0;
      for (let k = 0; k < n.gpuIdx.length && taken < count; k++) {
        if (this.bookings.isFreeAt(n.gpuIdx[k]!, this.q.startMs, this.q.endMs)) {
          out.push({ uuid: n.gpuUuids[k]!, nodeId: n.node.id });
          taken++;
        }
      }
      return;
    }
    const childLvl = lvl === ROOT ? SITE : lvl + 1;
    const kids = (lvl === ROOT ? this.t.ids[SITE]!.map((_, k) => k) : t.children[lvl]![i]!).filter((k) => this.cap[childLvl]![k]! > 0);
    // One child that fits alone (the smallest such), else the largest child whole, and again.
    kids.sort((a, b) => this.cap[childLvl]![b]! - this.cap[childLvl]![a]!);
    let left = count;
    while (left > 0 && kids.length > 0) {
      let single = -1;
      for (const k of kids) {
        const c = this.cap[childLvl]![k]!;
        if (c >= left && (single === -1 || c < this.cap[childLvl]![single]!)) single = k;
      }
      if (single !== -1) {
        this.fill(childLvl, single, left, out);
        return;
      }
      const largest = kids.shift()!;
      const c = this.cap[childLvl]![largest]!;
      this.fill(childLvl, largest, c, out);
      left -= c;
    }
  }
}

const INT32_MAX = 2 ** 31 - 1;

/** GPUs drawing `w` watts each that fit in `headroomW` (an Int32Array holds it: no cap or no draw is "unbounded", not 0). */
function gpusUnder(headroomW: number, w: number): number {
  if (w <= 0) return INT32_MAX;
  return Math.max(0, Math.min(INT32_MAX, Math.floor(headroomW / w)));
}

function roundDown(gpus: number, wholeNodes: boolean, size: number): number {
  return wholeNodes ? gpus - (gpus % size) : gpus;
}

/** How one placement searches: FGD over a gang-size population (absent: best fit), and/or only inside one domain. */
export interface PlaceOptions {
  /** Place the NVLink-domain choice by FGD over this population (EnginePolicy `placement: 'fgd'`). */
  gangs?: GangSizes | undefined;
  /** Only inside this domain of the model's tree (preemption's candidate domain). */
  within?: DomainRef | undefined;
}

/** The search of one placement; `tree` absent: no such model installed. */
function search(topo: Topology, bookings: BookingIndex, q: PlacementQuery, o: PlaceOptions): { s: Search; gpus: LeaseGpu[] | null } | null {
  const tree = topo.treeFor(q.gpuModel);
  if (!tree) return null;
  const s = new Search(tree, bookings, q, o.within);
  s.computeCaps(q.gpuCount % tree.nodeGpus === 0);
  const levels = q.placement === 'any' ? ANY_LEVELS : [LEVEL_OF[q.placement]];
  for (const lvl of levels) {
    if (lvl === ROOT) {
      if (s.largestAt(ROOT) >= q.gpuCount) {
        const out: LeaseGpu[] = [];
        s.fill(ROOT, 0, q.gpuCount, out);
        return { s, gpus: out };
      }
      continue;
    }
    const target = o.gangs && lvl === NVLINK ? s.fgdAt(lvl, q.gpuCount, o.gangs) : s.bestFitAt(lvl, q.gpuCount);
    if (target !== -1) {
      const out: LeaseGpu[] = [];
      s.fill(lvl, target, q.gpuCount, out);
      return { s, gpus: out };
    }
  }
  return { s, gpus: null };
}

/**
 * The GPUs a placement takes, or null when it does not fit — without working out how large a
 * request would fit (a probe: preemption's and backfill's tries, where only "does it fit" matters).
 */
export function tryPlace(topo: Topology, bookings: BookingIndex, q: PlacementQuery, o: PlaceOptions = {}): LeaseGpu[] | null {
  return search(topo, bookings, q, o)?.gpus ?? null;
}

/**
 * A placement, or on failure the largest request of the same model, region, window and placement
 * that would succeed (limited to `o.within` when given) and the GPUs free over the window.
 */
export function place(topo: Topology, bookings: BookingIndex, q: PlacementQuery, o: PlaceOptions = {}): PlacementResult {
  const r = search(topo, bookings, q, o);
  if (!r) return { ok: false, largestSatisfiable: 0, freeGpus: 0 };
  if (r.gpus) return { ok: true, gpus: r.gpus };
  const { s } = r;
  const size = s.t.nodeGpus;
  const lvl = q.placement === 'any' ? ROOT : LEVEL_OF[q.placement];
  s.computeCaps(true);
  const whole = s.largestAt(lvl);
  s.computeCaps(false);
  const partial = s.largestAt(lvl);
  const partialOk = partial % size !== 0 ? partial : Math.max(0, partial - 1);
  return { ok: false, largestSatisfiable: Math.max(whole, partialOk), freeGpus: s.freeGpus };
}
