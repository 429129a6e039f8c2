/**
 * In-memory calendar of who holds which GPU when, and how much facility power that draws per
 * hall and site over time. Rebuilt from the store on start; updated only after a write commits.
 * All windows are half-open [startMs, endMs).
 */
import type { Topology } from '../fleet/index.js';

interface Interval {
  startMs: number;
  endMs: number;
  leaseId: string;
}

interface PowerInterval {
  startMs: number;
  endMs: number;
  watts: number;
  leaseId: string;
}

export interface Hold {
  leaseId: string;
  startMs: number;
  endMs: number;
  gpuUuids: readonly string[];
}

/**
 * Bound to one Topology (GPUs are addressed by its dense indexes); build a new index when the
 * fleet changes. Holds on GPUs the topology does not know are kept but block and draw nothing.
 */
export class BookingIndex {
  private readonly byGpu: (Interval[] | undefined)[];
  /**
   * The placement hot path asks "is GPU g free over [s, e)?" for every GPU of a model: most GPUs
   * have no live interval or exactly one, so those answer from typed arrays without touching the
   * interval objects. `gpuN`: live intervals on the GPU (saturating); `gpuS`/`gpuE`: the only
   * interval when gpuN = 1.
   */
  private readonly gpuN: Uint16Array;
  private readonly gpuS: Float64Array;
  private readonly gpuE: Float64Array;
  /**
   * Per node, at its first GPU's dense index: a span [busyS, busyE) over which every GPU of the node
   * is held (each has exactly one interval, and the span is their intersection), so a saturated
   * node answers "how many free" for a window touching the span without reading its GPUs. Empty
   * (S = +∞, E = −∞) when some GPU is idle or has several intervals; unused at other indexes.
   */
  private readonly nodeBusyS: Float64Array;
  private readonly nodeBusyE: Float64Array;
  /**
   * Per hall or site: power intervals sorted by start and by end, and the facility draw over time
   * as a step function (built from the two by one merge, and dropped when an interval is added or
   * removed), so a window's peak is a binary search and a scan of the steps inside it.
   */
  private readonly powerByScope = new Map<string, PowerScope>();
  private readonly holds = new Map<string, { hold: Hold; scopes: string[] }>();

  constructor(private readonly topo: Topology) {
    this.byGpu = new Array<Interval[] | undefined>(topo.gpuUuidAt.length);
    this.gpuN = new Uint16Array(topo.gpuUuidAt.length);
    this.gpuS = new Float64Array(topo.gpuUuidAt.length);
    this.gpuE = new Float64Array(topo.gpuUuidAt.length);
    this.nodeBusyS = new Float64Array(topo.gpuUuidAt.length).fill(Infinity);
    this.nodeBusyE = new Float64Array(topo.gpuUuidAt.length).fill(-Infinity);
  }

  /** Refreshes the typed summary of GPU `gi` after its interval list changed. */
  private syncGpu(gi: number): void {
    const list = this.byGpu[gi];
    const n = list ? list.length : 0;
    this.gpuN[gi] = Math.min(n, 0xffff);
    if (n === 1) {
      this.gpuS[gi] = list![0]!.startMs;
      this.gpuE[gi] = list![0]!.endMs;
    }
  }

  /** Refreshes the busy span of the nodes of `gpus` (dense indexes) after their GPUs' summaries changed; once per node. */
  private syncNodes(gpus: readonly number[]): void {
    let last = -1;
    for (const gi of gpus) {
      const idx = this.topo.gpuNodeAt[gi]!.gpuIdx;
      const first = idx[0]!;
      // A hold's GPUs come node by node, so a repeat is the node just refreshed (a stray repeat only refreshes again).
      if (first === last) continue;
      last = first;
      this.syncNode(first, idx.length);
    }
  }

  private syncNode(first: number, size: number): void {
    let a = -Infinity;
    let b = Infinity;
    for (let g = first, end = first + size; g < end; g++) {
      if (this.gpuN[g] !== 1) {
        a = Infinity;
        b = -Infinity;
        break;
      }
      a = Math.max(a, this.gpuS[g]!);
      b = Math.min(b, this.gpuE[g]!);
    }
    this.nodeBusyS[first] = a;
    this.nodeBusyE[first] = b;
  }

  get size(): number {
    return this.holds.size;
  }

  add(hold: Hold): void {
    if (hold.endMs <= hold.startMs) return; // an empty hold blocks nothing
    if (this.holds.has(hold.leaseId)) this.remove(hold.leaseId);
    const wattsByScope = new Map<string, number>();
    const touched: number[] = [];
    for (const uuid of hold.gpuUuids) {
      const gi = this.topo.gpuIndex.get(uuid);
      if (gi === undefined) continue;
      touched.push(gi);
      let list = this.byGpu[gi];
      if (!list) this.byGpu[gi] = list = [];
      const iv = { startMs: hold.startMs, endMs: hold.endMs, leaseId: hold.leaseId };
      list.splice(upperBoundByStart(list, iv.startMs), 0, iv);
      this.syncGpu(gi);
      const node = this.topo.gpuNodeAt[gi]!;
      for (const scope of [node.node.hallId, node.node.siteId]) {
        wattsByScope.set(scope, (wattsByScope.get(scope) ?? 0) + node.wattsPerGpu);
      }
    }
    this.syncNodes(touched);
    for (const [scope, watts] of wattsByScope) {
      let entry = this.powerByScope.get(scope);
      if (!entry) this.powerByScope.set(scope, (entry = { list: [], byEnd: [], step: null }));
      const iv = { startMs: hold.startMs, endMs: hold.endMs, watts, leaseId: hold.leaseId };
      entry.list.splice(upperBoundByStart(entry.list, iv.startMs), 0, iv);
      entry.byEnd.splice(upperBoundByEnd(entry.byEnd, iv.endMs), 0, iv);
      entry.step = null;
    }
    this.holds.set(hold.leaseId, { hold, scopes: [...wattsByScope.keys()] });
  }

  remove(leaseId: string): void {
    const entry = this.holds.get(leaseId);
    if (!entry) return;
    const touched: number[] = [];
    for (const uuid of entry.hold.gpuUuids) {
      const gi = this.topo.gpuIndex.get(uuid);
      const list = gi === undefined ? undefined : this.byGpu[gi];
      if (!list) continue;
      const i = list.findIndex((iv) => iv.leaseId === leaseId);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byGpu[gi!] = undefined;
      this.syncGpu(gi!);
      touched.push(gi!);
    }
    this.syncNodes(touched);
    for (const scope of entry.scopes) {
      const power = this.powerByScope.get(scope);
      if (!power) continue;
      // Same start (end) as the hold: binary search to the first such, then scan the few ties.
      const list = power.list;
      let i = lowerBoundByStart(list, entry.hold.startMs);
      while (i < list.length && list[i]!.leaseId !== leaseId) i++;
      if (i < list.length) list.splice(i, 1);
      const byEnd = power.byEnd;
      let j = lowerBoundByEnd(byEnd, entry.hold.endMs);
      while (j < byEnd.length && byEnd[j]!.leaseId !== leaseId) j++;
      if (j < byEnd.length) byEnd.splice(j, 1);
      power.step = null;
    }
    this.holds.delete(leaseId);
  }

  /** Shortens a hold (a release): the GPUs are free from `endMs` on. */
  truncate(leaseId: string, endMs: number): void {
    const entry = this.holds.get(leaseId);
    if (!entry) return;
    const hold = entry.hold;
    this.remove(leaseId);
    this.add({ ...hold, endMs: Math.max(hold.startMs, Math.min(hold.endMs, endMs)) });
  }

  /** Every hold in the index (callers must not change them). */
  *allHolds(): Iterable<Hold> {
    for (const e of this.holds.values()) yield e.hold;
  }

  /** One lease's hold, if it has one (callers must not change it). */
  holdOf(leaseId: string): Hold | undefined {
    return this.holds.get(leaseId)?.hold;
  }

  /** Drops holds that ended at or before `nowMs`; they cannot affect any window from now on. */
  prune(nowMs: number): number {
    let n = 0;
    for (const [id, { hold }] of this.holds) {
      if (hold.endMs <= nowMs) {
        this.remove(id);
        n++;
      }
    }
    return n;
  }

  isFree(gpuUuid: string, startMs: number, endMs: number): boolean {
    const gi = this.topo.gpuIndex.get(gpuUuid);
    return gi === undefined || this.isFreeAt(gi, startMs, endMs);
  }

  /** isFree by dense GPU index (Topology.gpuIndex): the placement hot path. */
  isFreeAt(gpuIdx: number, startMs: number, endMs: number): boolean {
    const n = this.gpuN[gpuIdx]!;
    if (n === 0) return true;
    if (n === 1) return this.gpuE[gpuIdx]! <= startMs || this.gpuS[gpuIdx]! >= endMs;
    const list = this.byGpu[gpuIdx]!;
    // Intervals on one GPU never overlap, so sorted by start they are sorted by end too.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.endMs <= startMs) lo = mid + 1;
      else hi = mid;
    }
    return lo === list.length || list[lo]!.startMs >= endMs;
  }

  /**
   * How many of the GPUs with dense indexes [first, first + count) are free over the window: `first`
   * is a node's first GPU and the range lies in that node (placement counts a node at a time).
   */
  countFree(first: number, count: number, startMs: number, endMs: number): number {
    // A node whose every GPU is held across part of the window: none free (see nodeBusyS).
    if (startMs < this.nodeBusyE[first]! && endMs > this.nodeBusyS[first]!) return 0;
    const N = this.gpuN;
    const S = this.gpuS;
    const E = this.gpuE;
    let f = 0;
    for (let gi = first, end = first + count; gi < end; gi++) {
      const n = N[gi]!;
      if (n === 0 || (n === 1 ? E[gi]! <= startMs || S[gi]! >= endMs : this.isFreeAt(gi, startMs, endMs))) f++;
    }
    return f;
  }

  /**
   * Watts by which admission may count a hall's or site's held draw lower than its holds' TDP
   * (measured-draw admission, off unless the operator turns it on: see LeaseService.setPowerCredit).
   * Null or absent: none — the cap is never exceeded by leased TDP.
   */
  powerCreditW: ReadonlyMap<string, number> | null = null;

  /** The draw admission counts against a cap: peakWatts less the scope's power credit (never below 0). */
  admissionWatts(scopeId: string, startMs: number, endMs: number): number {
    const raw = this.peakWatts(scopeId, startMs, endMs);
    const credit = this.powerCreditW?.get(scopeId);
    return credit ? Math.max(0, raw - credit) : raw;
  }

  /** Highest facility draw, in watts, that held GPUs put on a hall or site at any instant of the window. */
  peakWatts(scopeId: string, startMs: number, endMs: number): number {
    const entry = this.powerByScope.get(scopeId);
    if (!entry || entry.list.length === 0) return 0;
    const step = entry.step ?? (entry.step = buildStep(entry));
    const { times, levels, n } = step;
    // The level at startMs: after the last step at or before it (none: nothing held yet).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! <= startMs) lo = mid + 1;
      else hi = mid;
    }
    let peak = lo > 0 ? levels[lo - 1]! : 0;
    for (let k = lo; k < n && times[k]! < endMs; k++) if (levels[k]! > peak) peak = levels[k]!;
    return peak;
  }

  /** Leases holding any GPU of `gpuUuids` at some instant after `fromMs`. */
  leasesHoldingAfter(gpuUuids: Iterable<string>, fromMs: number): Set<string> {
    const out = new Set<string>();
    for (const uuid of gpuUuids) {
      const gi = this.topo.gpuIndex.get(uuid);
      for (const iv of (gi === undefined ? undefined : this.byGpu[gi]) ?? []) if (iv.endMs > fromMs) out.add(iv.leaseId);
    }
    return out;
  }
}

interface PowerScope {
  /** Intervals sorted by start, and the same sorted by end. */
  list: PowerInterval[];
  byEnd: PowerInterval[];
  /** The draw over time, or null when an interval changed since it was built. */
  step: { times: Float64Array; levels: Float64Array; n: number } | null;
}

/**
 * The draw of a scope over time: `levels[k]` watts from `times[k]` until `times[k + 1]`. Merges
 * starts (+) and ends (−); at one instant ends apply first, so [a, b) and [b, c) never add up.
 */
function buildStep(scope: PowerScope): { times: Float64Array; levels: Float64Array; n: number } {
  const { list, byEnd } = scope;
  const times = new Float64Array(list.length + byEnd.length);
  const levels = new Float64Array(list.length + byEnd.length);
  let i = 0;
  let j = 0;
  let cur = 0;
  let n = 0;
  while (i < list.length || j < byEnd.length) {
    const t = Math.min(i < list.length ? list[i]!.startMs : Infinity, j < byEnd.length ? byEnd[j]!.endMs : Infinity);
    for (; j < byEnd.length && byEnd[j]!.endMs === t; j++) cur -= byEnd[j]!.watts;
    for (; i < list.length && list[i]!.startMs === t; i++) cur += list[i]!.watts;
    times[n] = t;
    levels[n] = cur;
    n++;
  }
  return { times, levels, n };
}

/** First index whose end is ≥ endMs. */
function lowerBoundByEnd(list: readonly { endMs: number }[], endMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.endMs < endMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose end is > endMs. */
function upperBoundByEnd(list: readonly { endMs: number }[], endMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.endMs <= endMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose start is ≥ startMs. */
function lowerBoundByStart(list: readonly { startMs: number }[], startMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.startMs < startMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose start is > startMs. */
function upperBoundByStart(list: { startMs: number }[], startMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.startMs <= startMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
