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
 *   one with the least capacity wins (best fit), keeping large domains whole for large gangs.
 * - `any` tries one NVLink domain, then one fabric, then one hall, then one site, then spreads —
 *   the tightest domain that fits.
 * - Inside the chosen domain the same rule recurses: a child that fits alone (smallest first),
 *   else the largest children first so the gang spans as few domains as possible.
 * Deterministic: ties break on the topology's stable order.
 */
import type { GpuModelId, Topology, TopoNode } from '../fleet/index.js';
import { GPU_CATALOG } from '../fleet/index.js';
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

export type PlacementResult =
  | { ok: true; gpus: LeaseGpu[] }
  | { ok: false; largestSatisfiable: number; freeGpus: number };

type Level = 'root' | 'site' | 'hall' | 'fabric' | 'nvlink' | 'node';

interface Domain {
  id: string;
  level: Level;
  children: Domain[];
  /** Only on nodes: free GPU uuids in the window. */
  free?: string[];
  node?: TopoNode;
  /** Power headroom in GPUs (halls and sites only). */
  powerGpus?: number;
  cap: number;
}

function keyFor(level: Level, n: TopoNode): string {
  switch (level) {
    case 'site': return n.node.siteId;
    case 'hall': return n.node.hallId;
    case 'fabric': return n.node.fabricId;
    case 'nvlink': return n.node.nvlinkId;
    default: return n.node.id;
  }
}

/** Free GPUs per node in the window, as a tree; only nodes with a free GPU appear. */
function buildTree(topo: Topology, bookings: BookingIndex, q: PlacementQuery): { root: Domain; freeGpus: number } {
  const root: Domain = { id: 'root', level: 'root', children: [], cap: 0 };
  const index = new Map<string, Domain>();
  let freeGpus = 0;
  for (const n of topo.nodesByModel.get(q.gpuModel) ?? []) {
    if (n.node.state !== 'ready') continue;
    if (q.region !== null && n.region !== q.region) continue;
    const free: string[] = [];
    for (const uuid of n.gpuUuids) if (bookings.isFree(uuid, q.startMs, q.endMs)) free.push(uuid);
    if (free.length === 0) continue;
    freeGpus += free.length;
    let parent = root;
    for (const level of ['site', 'hall', 'fabric', 'nvlink'] as const) {
      const id = `${level}:${keyFor(level, n)}`;
      let d = index.get(id);
      if (!d) {
        d = { id: keyFor(level, n), level, children: [], cap: 0 };
        if (level === 'site' || level === 'hall') {
          const capW = level === 'site' ? topo.sites.get(d.id)!.powerCapW : topo.halls.get(d.id)!.powerCapW;
          const headroomW = capW - bookings.peakWatts(d.id, q.startMs, q.endMs);
          d.powerGpus = Math.max(0, Math.floor(headroomW / n.wattsPerGpu));
        }
        index.set(id, d);
        parent.children.push(d);
      }
      parent = d;
    }
    parent.children.push({ id: n.node.id, level: 'node', children: [], free, node: n, cap: 0 });
  }
  return { root, freeGpus };
}

/**
 * Fills `cap` bottom-up; returns the root's capacity. In whole-node mode every cap is a multiple
 * of the node size (power bounds round down to whole nodes), so any split of a multiple fits.
 */
function computeCaps(d: Domain, wholeNodes: boolean, nodeSize: number): number {
  if (d.level === 'node') {
    const free = d.free!.length;
    d.cap = wholeNodes ? (free === d.node!.size ? free : 0) : free;
    return d.cap;
  }
  let sum = 0;
  for (const c of d.children) sum += computeCaps(c, wholeNodes, nodeSize);
  if (d.powerGpus === undefined) d.cap = sum;
  else d.cap = Math.min(sum, wholeNodes ? d.powerGpus - (d.powerGpus % nodeSize) : d.powerGpus);
  return d.cap;
}

/** Every domain of `level` with its effective capacity (its own, bounded by ancestors' power). */
function domainsAt(root: Domain, level: Level): { d: Domain; eff: number }[] {
  const out: { d: Domain; eff: number }[] = [];
  const walk = (d: Domain, bound: number): void => {
    const eff = Math.min(d.cap, bound);
    if (d.level === level) {
      out.push({ d, eff });
      return;
    }
    for (const c of d.children) walk(c, eff);
  };
  walk(root, Number.POSITIVE_INFINITY);
  return out;
}

function bestFit(cands: { d: Domain; eff: number }[], count: number): Domain | undefined {
  let best: { d: Domain; eff: number } | undefined;
  for (const c of cands) if (c.eff >= count && (!best || c.eff < best.eff)) best = c;
  return best?.d;
}

/** Takes `count` GPUs from `d`, which must have cap ≥ count. */
function fill(d: Domain, count: number, out: LeaseGpu[]): void {
  if (count <= 0) return;
  if (d.level === 'node') {
    for (const uuid of d.free!.slice(0, count)) out.push({ uuid, nodeId: d.id });
    return;
  }
  // One child that fits alone (the smallest such); otherwise the largest child whole, and again.
  const unused = d.children.filter((c) => c.cap > 0).sort((a, b) => b.cap - a.cap);
  let left = count;
  while (left > 0 && unused.length > 0) {
    const single = bestFit(unused.map((k) => ({ d: k, eff: k.cap })), left);
    if (single) {
      fill(single, left, out);
      return;
    }
    const largest = unused.shift()!;
    fill(largest, largest.cap, out);
    left -= largest.cap;
  }
}

const LEVEL_OF: Record<Exclude<Placement, 'any'>, Level> = {
  'same-nvlink': 'nvlink', 'same-fabric': 'fabric', 'same-site': 'site',
};

function tryPlace(root: Domain, q: PlacementQuery): LeaseGpu[] | null {
  const levels: Level[] = q.placement === 'any' ? ['nvlink', 'fabric', 'hall', 'site', 'root'] : [LEVEL_OF[q.placement]];
  for (const level of levels) {
    const target = bestFit(domainsAt(root, level), q.gpuCount);
    if (target) {
      const out: LeaseGpu[] = [];
      fill(target, q.gpuCount, out);
      return out;
    }
  }
  return null;
}

function largestAt(root: Domain, q: PlacementQuery): number {
  const level: Level = q.placement === 'any' ? 'root' : LEVEL_OF[q.placement];
  return domainsAt(root, level).reduce((m, c) => Math.max(m, c.eff), 0);
}

export function place(topo: Topology, bookings: BookingIndex, q: PlacementQuery): PlacementResult {
  const { root, freeGpus } = buildTree(topo, bookings, q);
  const nodeSize = GPU_CATALOG[q.gpuModel].nodeGpus;
  const wholeNodes = q.gpuCount % nodeSize === 0;
  computeCaps(root, wholeNodes, nodeSize);
  const gpus = tryPlace(root, q);
  if (gpus) return { ok: true, gpus };

  // Largest request that would succeed with the same model, region, window and placement.
  computeCaps(root, true, nodeSize);
  const whole = largestAt(root, q);
  computeCaps(root, false, nodeSize);
  const partial = largestAt(root, q);
  const partialOk = partial % nodeSize !== 0 ? partial : Math.max(0, partial - 1);
  return { ok: false, largestSatisfiable: Math.max(whole, partialOk), freeGpus };
}

