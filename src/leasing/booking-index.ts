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
   * Per hall or site: power intervals sorted by start, and the longest interval ever added, so a
   * window only scans intervals starting in [start − longest, end).
   */
  private readonly powerByScope = new Map<string, { list: PowerInterval[]; longestMs: number }>();
  private readonly holds = new Map<string, { hold: Hold; scopes: string[] }>();

  constructor(private readonly topo: Topology) {
    this.byGpu = new Array<Interval[] | undefined>(topo.gpuUuidAt.length);
  }

  get size(): number {
    return this.holds.size;
  }

  add(hold: Hold): void {
    if (hold.endMs <= hold.startMs) return; // an empty hold blocks nothing
    if (this.holds.has(hold.leaseId)) this.remove(hold.leaseId);
    const wattsByScope = new Map<string, number>();
    for (const uuid of hold.gpuUuids) {
      const gi = this.topo.gpuIndex.get(uuid);
      if (gi === undefined) continue;
      let list = this.byGpu[gi];
      if (!list) this.byGpu[gi] = list = [];
      const iv = { startMs: hold.startMs, endMs: hold.endMs, leaseId: hold.leaseId };
      list.splice(upperBoundByStart(list, iv.startMs), 0, iv);
      const node = this.topo.gpuNodeAt[gi]!;
      for (const scope of [node.node.hallId, node.node.siteId]) {
        wattsByScope.set(scope, (wattsByScope.get(scope) ?? 0) + node.wattsPerGpu);
      }
    }
    for (const [scope, watts] of wattsByScope) {
      let entry = this.powerByScope.get(scope);
      if (!entry) this.powerByScope.set(scope, (entry = { list: [], longestMs: 0 }));
      const iv = { startMs: hold.startMs, endMs: hold.endMs, watts, leaseId: hold.leaseId };
      entry.list.splice(upperBoundByStart(entry.list, iv.startMs), 0, iv);
      entry.longestMs = Math.max(entry.longestMs, iv.endMs - iv.startMs);
    }
    this.holds.set(hold.leaseId, { hold, scopes: [...wattsByScope.keys()] });
  }

  remove(leaseId: string): void {
    const entry = this.holds.get(leaseId);
    if (!entry) return;
    for (const uuid of entry.hold.gpuUuids) {
      const gi = this.topo.gpuIndex.get(uuid);
      const list = gi === undefined ? undefined : this.byGpu[gi];
      if (!list) continue;
      const i = list.findIndex((iv) => iv.leaseId === leaseId);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byGpu[gi!] = undefined;
    }
    for (const scope of entry.scopes) {
      const list = this.powerByScope.get(scope)?.list;
      if (!list) continue;
      // Same start as the hold: binary search to the first such, then scan the few ties.
      let i = lowerBoundByStart(list, entry.hold.startMs);
      while (i < list.length && list[i]!.leaseId !== leaseId) i++;
      if (i < list.length) list.splice(i, 1);
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
  allHolds(): Iterable<Hold> {
    return [...this.holds.values()].map((e) => e.hold);
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
    const list = this.byGpu[gpuIdx];
    if (!list) return true;
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

  /** Highest facility draw, in watts, that held GPUs put on a hall or site at any instant of the window. */
  peakWatts(scopeId: string, startMs: number, endMs: number): number {
    const entry = this.powerByScope.get(scopeId);
    if (!entry || entry.list.length === 0) return 0;
    const list = entry.list;
    const events: [number, number][] = [];
    const stop = lowerBoundByStart(list, endMs);
    for (let i = lowerBoundByStart(list, startMs - entry.longestMs); i < stop; i++) {
      const iv = list[i]!;
      if (iv.endMs > startMs) {
        events.push([Math.max(iv.startMs, startMs), iv.watts], [Math.min(iv.endMs, endMs), -iv.watts]);
      }
    }
    if (events.length === 0) return 0;
    // Ends sort before starts at the same instant: [a,b) and [b,c) do not overlap.
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let cur = 0;
    let peak = 0;
    for (const [, d] of events) {
      cur += d;
      if (cur > peak) peak = cur;
    }
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
