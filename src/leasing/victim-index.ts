/**
 * The victim index: live preemptible leases (spot, internal) by id and by node, kept as holds
 * change, so a preempting decision reads the victims of the nodes it looks at instead of scanning
 * every victim of the fleet and grouping them again.
 *
 * Bound to one Topology (nodes are addressed by their first dense GPU index, which is unique per
 * node); build a new index when the fleet changes. Each entry records the window of the lease's
 * hold when it was indexed: the engine re-indexes a victim whenever its hold changes (moved,
 * reloaded) and drops it when its hold is cut, so the window is the hold's.
 */
import type { Topology } from '../fleet/index.js';
import type { Hold } from './booking-index.js';
import type { LeaseClass } from './lease-types.js';

/** A preemption candidate: a live spot or internal lease. */
export interface VictimMeta {
  leaseClass: LeaseClass;
  /** Integer micro-dollars per GPU-hour. */
  priceMicrosPerGpuHour: bigint;
  gpuCount: number;
}

/** One victim as seen from one of its nodes. */
export interface VictimOnNode {
  readonly id: string;
  readonly meta: VictimMeta;
  /** Its hold's window when indexed, epoch ms, half-open. */
  readonly startMs: number;
  readonly endMs: number;
  /** GPUs of its hold on this node, and on all its nodes. */
  readonly onNode: number;
  readonly gpus: number;
  /** Lost revenue if cut, $/h in micros: price × all its GPUs. */
  readonly cost: bigint;
  /** Its price per GPU-hour in micros as a number, for ordering bounds (exact: prices are far below 2^53). */
  readonly price: number;
  /** Its hold (the GPUs it frees when cut). */
  readonly hold: Hold;
}

interface Indexed {
  meta: VictimMeta;
  /** First dense GPU index of each node it is on (empty: no hold). */
  nodes: number[];
}

export class VictimIndex {
  private readonly byId = new Map<string, Indexed>();
  private readonly byNode: (VictimOnNode[] | undefined)[];

  constructor(private readonly topo: Topology) {
    this.byNode = new Array<VictimOnNode[] | undefined>(topo.gpuUuidAt.length);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): VictimMeta | undefined {
    return this.byId.get(id)?.meta;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  *entries(): Iterable<[string, VictimMeta]> {
    for (const [id, e] of this.byId) yield [id, e.meta];
  }

  /** Adds or replaces a victim, indexed on the nodes of `hold` (none when it holds nothing). */
  set(id: string, meta: VictimMeta, hold: Hold | undefined): void {
    this.delete(id);
    const nodes: number[] = [];
    this.byId.set(id, { meta, nodes });
    if (!hold || hold.endMs <= hold.startMs) return;
    const perNode = new Map<number, number>();
    for (const u of hold.gpuUuids) {
      const gi = this.topo.gpuIndex.get(u);
      if (gi === undefined) continue;
      const first = this.topo.gpuNodeAt[gi]!.gpuIdx[0]!;
      perNode.set(first, (perNode.get(first) ?? 0) + 1);
    }
    const gpus = hold.gpuUuids.length;
    const cost = meta.priceMicrosPerGpuHour * BigInt(gpus);
    for (const [first, onNode] of perNode) {
      nodes.push(first);
      let list = this.byNode[first];
      if (!list) this.byNode[first] = list = [];
      list.push({ id, meta, startMs: hold.startMs, endMs: hold.endMs, onNode, gpus, cost, price: Number(meta.priceMicrosPerGpuHour), hold });
    }
  }

  /** Re-indexes a victim on its current hold (moved or reloaded); no-op for a lease that is not one. */
  reindex(id: string, hold: Hold | undefined): void {
    const e = this.byId.get(id);
    if (e) this.set(id, e.meta, hold);
  }

  delete(id: string): void {
    const e = this.byId.get(id);
    if (!e) return;
    for (const first of e.nodes) {
      const list = this.byNode[first];
      if (!list) continue;
      const i = list.findIndex((v) => v.id === id);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byNode[first] = undefined;
    }
    this.byId.delete(id);
  }

  /** The victims on the node whose first dense GPU index is `firstGpu` (callers must not change them). */
  onNode(firstGpu: number): readonly VictimOnNode[] | undefined {
    return this.byNode[firstGpu];
  }
}
