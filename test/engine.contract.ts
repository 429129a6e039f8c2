/**
 * The engine contract: the scheduling rules, stated once as tests, run against every way of
 * reaching the engine (in the style of Hono's `runTest({ newRouter })`). engine.test.ts runs it
 * over LeaseEngine driven directly in memory, over LeaseService on PGlite and over LeaseService on
 * PostgreSQL.
 *
 * Every case works on ONE small fixed fleet (CONTRACT_FLEET, below) through a small harness
 * (EngineHarness). Expectations are computed here, independently of the engine: free GPUs per
 * node, domain capacities, power draw per hall and site (from the topology's watts per GPU), the
 * largest gang that fits and the cheapest set of victims are counted from the leases' holds as the
 * harness reports them, with brute force where that is simplest. After every case the world is
 * checked as a whole: no GPU held twice at once, no hall or site ever over its power cap, every
 * gang inside its domain, nothing held on a node after it went down.
 */
import { describe, expect, it } from 'vitest';
import type { FleetNode, FleetSpec, GpuModelId, Topology } from '../src/fleet/index.js';
import type { LeaseClass, LeaseCreateBody, LeaseGpu, LeaseState, Placement } from '../src/leasing/index.js';

const H = 3_600_000;
const DEFAULT_NOTICE_MS = 300_000;

/**
 * The contract's fleet.
 * - site-a (us-east): hall-a1 with two InfiniBand fabrics of 8-GPU H100 HGX servers, fab-a1 (4
 *   servers, 32 GPUs) and fab-a2 (2 servers, 16 GPUs); hall-a2 with one GB200 NVL72 rack (18
 *   trays × 4 GPUs, one 72-GPU NVLink domain).
 * - site-b (us-west): hall-b1, capped at 50 kW, with 4 H200 servers (fab-b1) and one B200 server
 *   (fab-b2): 40 GPUs installed, but the cap runs about 31 H200s.
 */
export const CONTRACT_FLEET: FleetSpec = {
  sites: [
    {
      id: 'site-a', region: 'us-east', powerCapMw: 10, pue: 1.25,
      halls: [
        {
          id: 'hall-a1', powerCapMw: 5,
          fabrics: [
            { id: 'fab-a1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 4 }] },
            { id: 'fab-a2', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 2 }] },
          ],
        },
        { id: 'hall-a2', powerCapMw: 5, fabrics: [{ id: 'fab-nvl', kind: 'infiniband', nodeGroups: [{ gpuModel: 'GB200', count: 1 }] }] },
      ],
    },
    {
      id: 'site-b', region: 'us-west', powerCapMw: 10, pue: 1.25,
      halls: [
        {
          id: 'hall-b1', powerCapMw: 0.05,
          fabrics: [
            { id: 'fab-b1', kind: 'roce', nodeGroups: [{ gpuModel: 'H200', count: 4 }] },
            { id: 'fab-b2', kind: 'roce', nodeGroups: [{ gpuModel: 'B200', count: 1 }] },
          ],
        },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// The harness: what a way of reaching the engine must offer.
// ---------------------------------------------------------------------------------------------

/** A lease request. Times are relative to the harness's clock. */
export interface ContractRequest {
  gpuModel: GpuModelId;
  gpuCount: number;
  /** Default on-demand. `internal` is the operator's own work. */
  class?: LeaseClass;
  /** Default any. */
  placement?: Placement;
  /** Start this long after now (default now). */
  startInMs?: number;
  durationMs: number;
  /** Wait for capacity instead of being refused. */
  queue?: boolean;
  /** A customer name (default `acme`); ignored for internal work. */
  tenant?: string;
}

export interface PlacedOrQueued {
  outcome: 'placed' | 'queued';
  id: string;
  startMs: number;
  endMs: number;
  heldUntilMs: number;
  preemptedAtMs: number | null;
  preemptedBy: string | null;
  priceMicrosPerGpuHour: string;
  totalMicros: string;
  gpus: LeaseGpu[];
}
export interface Refused {
  outcome: 'refused';
  largestSatisfiable: number;
}
export type CreateResult = PlacedOrQueued | Refused;

export interface QuoteResult {
  outcome: 'placed' | 'queued' | 'refused';
  startMs: number;
  endMs: number;
  preemptedAtMs: number | null;
  priceMicrosPerGpuHour: string;
  totalMicros: string;
  /** Nodes the gang would span. */
  nodes: number;
  /** Leases it would preempt. */
  preempts: number;
  largestSatisfiable: number | null;
}

/** One GPU a lease holds now, and the window it holds it for. */
export interface GpuHold {
  uuid: string;
  fromMs: number;
  untilMs: number;
}

export interface LeaseSnapshot {
  id: string;
  leaseClass: LeaseClass;
  gpuModel: GpuModelId;
  gpuCount: number;
  placement: Placement;
  state: LeaseState;
  startMs: number;
  endMs: number;
  heldUntilMs: number;
  preemptedAtMs: number | null;
  preemptedBy: string | null;
  releasedAtMs: number | null;
  failedAtMs: number | null;
  priceMicrosPerGpuHour: string;
  totalMicros: string;
  gpus: LeaseGpu[];
  /** Non-empty holds of its current GPUs. */
  holds: GpuHold[];
}

export interface EngineHarness {
  /** The fleet as the engine sees it now (node states included). */
  topology(): Topology;
  nowMs(): number;
  create(req: ContractRequest): Promise<CreateResult>;
  /** What create would do now; changes nothing. */
  quote(req: ContractRequest): Promise<QuoteResult>;
  /** Releases a lease (waiting requests may then be placed, as after any release). */
  release(id: string): Promise<void>;
  /** A queue pass now; the ids it placed. */
  runQueue(): Promise<string[]>;
  /** These nodes went down (on top of any that already are): leases on them moved or failed. */
  nodesDown(nodeIds: string[]): Promise<{ replaced: string[]; failed: string[] }>;
  lease(id: string): Promise<LeaseSnapshot>;
  /** Moves the injected clock. */
  advance(ms: number): void;
  setPolicy(p: { internalFirst?: boolean; noticeMs?: number }): void;
  close(): Promise<void>;
}

/**
 * The API body for a request (both harnesses validate it the way the API does) and whether the
 * operator makes it (internal work) rather than the tenant.
 */
export function requestBody(req: ContractRequest, nowMs: number): { body: LeaseCreateBody; operator: boolean } {
  const body: LeaseCreateBody = {
    gpuModel: req.gpuModel,
    gpuCount: req.gpuCount,
    durationHours: req.durationMs / H,
    class: req.class ?? 'on-demand',
    placement: req.placement ?? 'any',
  };
  if (req.startInMs) body.start = new Date(nowMs + req.startInMs).toISOString();
  if (req.queue) body.queue = true;
  return { body, operator: req.class === 'internal' };
}

// ---------------------------------------------------------------------------------------------
// Independent bookkeeping: everything below counts from holds, not from the engine's index.
// ---------------------------------------------------------------------------------------------

type Level = 'nvlink' | 'fabric' | 'hall' | 'site' | 'root';
const ANY_LEVELS: Level[] = ['nvlink', 'fabric', 'hall', 'site', 'root'];
const LEVEL_OF: Record<Placement, Level> = { 'same-nvlink': 'nvlink', 'same-fabric': 'fabric', 'same-site': 'site', any: 'root' };

interface FlatHold { leaseId: string; uuid: string; fromMs: number; untilMs: number }

function domainOf(n: FleetNode, l: Level): string {
  return l === 'nvlink' ? n.nvlinkId : l === 'fabric' ? n.fabricId : l === 'hall' ? n.hallId : l === 'site' ? n.siteId : '*';
}

function flatHolds(snaps: readonly LeaseSnapshot[]): FlatHold[] {
  return snaps.flatMap((s) => s.holds.filter((h) => h.untilMs > h.fromMs).map((h) => ({ leaseId: s.id, ...h })));
}

function nodeOfGpu(topo: Topology, uuid: string): FleetNode {
  const id = topo.gpuToNode.get(uuid);
  const n = id === undefined ? undefined : topo.nodes.get(id);
  if (!n) throw new Error(`GPU ${uuid} is not in the fleet`);
  return n.node;
}

/** Highest facility draw (W) that holds put on a hall or site at any instant of [s, e), summed GPU by GPU. */
function peakDraw(topo: Topology, holds: readonly FlatHold[], scope: string, s: number, e: number): number {
  const inScope = holds.filter((h) => {
    const n = nodeOfGpu(topo, h.uuid);
    return n.hallId === scope || n.siteId === scope;
  });
  const instants = [s, ...inScope.map((h) => h.fromMs).filter((t) => t > s && t < e)];
  let peak = 0;
  for (const t of instants) {
    let w = 0;
    for (const h of inScope) if (h.fromMs <= t && t < h.untilMs) w += topo.nodes.get(nodeOfGpu(topo, h.uuid).id)!.wattsPerGpu;
    peak = Math.max(peak, w);
  }
  return peak;
}

/** GPUs of each ready node of `model` free over [s, e). */
function freeByNode(topo: Topology, holds: readonly FlatHold[], model: GpuModelId, s: number, e: number): Map<string, number> {
  const busy = new Set(holds.filter((h) => h.fromMs < e && s < h.untilMs).map((h) => h.uuid));
  const out = new Map<string, number>();
  for (const t of topo.nodesByModel.get(model) ?? []) {
    if (t.node.state !== 'ready') continue;
    out.set(t.node.id, t.gpuUuids.filter((u) => !busy.has(u)).length);
  }
  return out;
}

function nodeSize(topo: Topology, model: GpuModelId): number {
  return topo.nodesByModel.get(model)?.[0]?.size ?? 0;
}

/**
 * How many GPUs of `model` a gang of `n` could get in each domain of each level over [s, e): free
 * GPUs (only whole free nodes when n is a multiple of the node size), bounded by the power
 * headroom of the domain's hall and site (cap − peak draw, ÷ watts per GPU; whole nodes again).
 */
function capacities(topo: Topology, holds: readonly FlatHold[], model: GpuModelId, n: number, s: number, e: number): Record<Level, Map<string, number>> {
  const size = nodeSize(topo, model);
  const whole = size > 0 && n % size === 0;
  const free = freeByNode(topo, holds, model, s, e);
  const watts = new Map<string, number>(); // per site: W per GPU of this model
  for (const t of topo.nodesByModel.get(model) ?? []) watts.set(t.node.siteId, t.wattsPerGpu);
  const pow = (scope: string, capW: number, w: number): number => {
    const g = Math.max(0, Math.floor((capW - peakDraw(topo, holds, scope, s, e)) / w));
    return whole ? g - (g % size) : g;
  };
  const hallPow = new Map<string, number>();
  const sitePow = new Map<string, number>();
  const sum: Record<Level, Map<string, number>> = { nvlink: new Map(), fabric: new Map(), hall: new Map(), site: new Map(), root: new Map() };
  for (const [id, f] of free) {
    const node = topo.nodes.get(id)!;
    const c = whole ? (f === node.size ? f : 0) : f;
    for (const l of ['nvlink', 'fabric', 'hall'] as Level[]) {
      const k = domainOf(node.node, l);
      sum[l].set(k, (sum[l].get(k) ?? 0) + c);
    }
    const w = watts.get(node.node.siteId)!;
    if (!hallPow.has(node.node.hallId)) hallPow.set(node.node.hallId, pow(node.node.hallId, topo.halls.get(node.node.hallId)!.powerCapW, w));
    if (!sitePow.has(node.node.siteId)) sitePow.set(node.node.siteId, pow(node.node.siteId, topo.sites.get(node.node.siteId)!.powerCapW, w));
  }
  const out: Record<Level, Map<string, number>> = { nvlink: new Map(), fabric: new Map(), hall: new Map(), site: new Map(), root: new Map() };
  const some = (l: Level, k: string) => [...free.keys()].map((id) => topo.nodes.get(id)!.node).find((nd) => domainOf(nd, l) === k)!;
  for (const l of ['nvlink', 'fabric', 'hall'] as Level[]) {
    for (const [k, c] of sum[l]) {
      const nd = some(l, k);
      out[l].set(k, Math.min(c, hallPow.get(nd.hallId)!, sitePow.get(nd.siteId)!));
    }
  }
  const siteSum = new Map<string, number>();
  for (const [hall, c] of sum.hall) {
    const siteId = topo.halls.get(hall)!.siteId;
    siteSum.set(siteId, (siteSum.get(siteId) ?? 0) + Math.min(c, hallPow.get(hall)!));
  }
  let root = 0;
  for (const [siteId, c] of siteSum) {
    const v = Math.min(c, sitePow.get(siteId)!);
    out.site.set(siteId, v);
    root += v;
  }
  out.root.set('*', root);
  return out;
}

/** The largest gang of this model and placement that fits over [s, e): brute force over every size. */
function largestThatFits(topo: Topology, holds: readonly FlatHold[], model: GpuModelId, placement: Placement, s: number, e: number): number {
  const level = LEVEL_OF[placement];
  const total = (topo.nodesByModel.get(model) ?? []).reduce((a, t) => a + t.size, 0);
  for (let n = total; n >= 1; n--) {
    if (Math.max(0, ...capacities(topo, holds, model, n, s, e)[level].values()) >= n) return n;
  }
  return 0;
}

function mayPreempt(by: LeaseClass, victim: LeaseClass, internalFirst: boolean): boolean {
  const preempts = by === 'reserved' || by === 'on-demand' || (by === 'internal' && internalFirst);
  if (!preempts) return false;
  if (victim === 'spot') return true;
  return victim === 'internal' && (by === 'reserved' || by === 'on-demand') && !internalFirst;
}

/**
 * The least revenue ($/h: price × GPUs of each lease preempted) an immediate request of `req` must
 * preempt to fit, by brute force over every subset of the preemptible leases in each domain of
 * the gang's level (the site for same-site and any), their holds cut at the deadline. Null: none.
 */
function cheapestPreemption(topo: Topology, snaps: readonly LeaseSnapshot[], req: ContractRequest, nowMs: number, noticeMs: number, internalFirst: boolean): bigint | null {
  const deadline = nowMs + noticeMs;
  const s = deadline;
  const e = s + req.durationMs;
  const level: Level = req.placement === 'same-nvlink' ? 'nvlink' : req.placement === 'same-fabric' ? 'fabric' : 'site';
  const holds = flatHolds(snaps);
  const victims = snaps.filter((l) => l.preemptedAtMs === null && l.releasedAtMs === null && l.failedAtMs === null && l.gpuModel === req.gpuModel
    && mayPreempt(req.class ?? 'on-demand', l.leaseClass, internalFirst) && l.holds.some((h) => h.fromMs < e && s < h.untilMs));
  const domains = new Set((topo.nodesByModel.get(req.gpuModel) ?? []).filter((t) => t.node.state === 'ready').map((t) => domainOf(t.node, level)));
  let best: bigint | null = null;
  for (const d of domains) {
    const vs = victims.filter((v) => v.gpus.some((g) => domainOf(topo.nodes.get(g.nodeId)!.node, level) === d));
    expect(vs.length, 'brute force stays small').toBeLessThanOrEqual(12);
    for (let mask = 1; mask < 1 << vs.length; mask++) {
      const cut = vs.filter((_, i) => mask & (1 << i));
      const ids = new Set(cut.map((c) => c.id));
      const cost = cut.reduce((a, c) => a + BigInt(c.priceMicrosPerGpuHour) * BigInt(c.gpuCount), 0n);
      if (best !== null && cost >= best) continue;
      const after = holds.map((h) => (ids.has(h.leaseId) ? { ...h, untilMs: Math.min(h.untilMs, deadline) } : h));
      if ((capacities(topo, after, req.gpuModel, req.gpuCount, s, e)[level].get(d) ?? 0) >= req.gpuCount) best = cost;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The world of one case: the harness plus what the case created.
// ---------------------------------------------------------------------------------------------

class World {
  readonly ids: string[] = [];
  /** When each node went down. */
  readonly downAt = new Map<string, number>();
  internalFirst = false;
  noticeMs = DEFAULT_NOTICE_MS;

  constructor(readonly h: EngineHarness) {}

  get topo(): Topology {
    return this.h.topology();
  }

  get now(): number {
    return this.h.nowMs();
  }

  async create(req: ContractRequest): Promise<CreateResult> {
    const r = await this.h.create(req);
    if (r.outcome === 'refused') return r;
    this.ids.push(r.id);
    return { ...r, gpus: sortGpus(r.gpus) };
  }

  async placed(req: ContractRequest): Promise<PlacedOrQueued> {
    const r = await this.create(req);
    expect(r.outcome, `${JSON.stringify(req)} → ${JSON.stringify(r)}`).toBe('placed');
    return r as PlacedOrQueued;
  }

  async queued(req: ContractRequest): Promise<PlacedOrQueued> {
    const r = await this.create(req);
    expect(r.outcome, `${JSON.stringify(req)} → ${JSON.stringify(r)}`).toBe('queued');
    return r as PlacedOrQueued;
  }

  async refused(req: ContractRequest): Promise<number> {
    const r = await this.create(req);
    expect(r.outcome, `${JSON.stringify(req)} → ${JSON.stringify(r)}`).toBe('refused');
    return (r as Refused).largestSatisfiable;
  }

  /** A request refused with the largest gang of its shape that fits, as counted here. */
  async refusedWithLargest(req: ContractRequest): Promise<number> {
    const before = await this.all();
    const s = this.now + (req.startInMs ?? 0);
    const expected = largestThatFits(this.topo, flatHolds(before), req.gpuModel, req.placement ?? 'any', s, s + req.durationMs);
    const largest = await this.refused(req);
    expect(largest, `largestSatisfiable of ${JSON.stringify(req)}`).toBe(expected);
    return largest;
  }

  /**
   * A request placed as the allocator's rules say, checked against capacities counted from the
   * holds before it: the tightest domain that fits (`any` trying NVLink domain, fabric, hall, site,
   * fleet in turn), only free GPUs, whole free nodes for multiples of the node size, as few nodes
   * as the domain allows, and the node with the fewest free GPUs when one node can take it all.
   */
  async bestFit(req: ContractRequest): Promise<PlacedOrQueued> {
    const before = await this.all();
    const holds = flatHolds(before);
    const s = this.now + (req.startInMs ?? 0);
    const e = s + req.durationMs;
    const r = await this.placed(req);
    expect([r.startMs, r.endMs]).toEqual([s, e]);
    expect(r.preemptedAtMs).toBeNull();
    const topo = this.topo;
    const n = req.gpuCount;
    const caps = capacities(topo, holds, req.gpuModel, n, s, e);
    const levels = (req.placement ?? 'any') === 'any' ? ANY_LEVELS : [LEVEL_OF[req.placement!]];
    const level = levels.find((l) => [...caps[l].values()].some((c) => c >= n));
    expect(level, 'a level where it fits').toBeDefined();
    const tightest = Math.min(...[...caps[level!].values()].filter((c) => c >= n));
    const nodes = r.gpus.map((g) => topo.nodes.get(g.nodeId)!.node);
    const domains = new Set(nodes.map((nd) => domainOf(nd, level!)));
    expect(domains.size, `one ${level} domain`).toBe(1);
    const domain = [...domains][0]!;
    expect(caps[level!].get(domain), `the tightest ${level} domain that fits (${JSON.stringify([...caps[level!]])})`).toBe(tightest);
    // Only GPUs free over the window, of the model, each once.
    const busy = new Set(holds.filter((h) => h.fromMs < e && s < h.untilMs).map((h) => h.uuid));
    expect(r.gpus.filter((g) => busy.has(g.uuid))).toEqual([]);
    expect(new Set(r.gpus.map((g) => g.uuid)).size).toBe(n);
    expect(nodes.every((nd) => nd.gpuModel === req.gpuModel && nd.state === 'ready')).toBe(true);
    const free = freeByNode(topo, holds, req.gpuModel, s, e);
    const perNode = countBy(r.gpus.map((g) => g.nodeId));
    const size = nodeSize(topo, req.gpuModel);
    if (n % size === 0) {
      for (const [id, k] of perNode) expect([id, k, free.get(id)]).toEqual([id, size, size]);
    }
    // As few nodes as the domain allows; a gang one node can take goes to the fittest such node.
    const inDomain = [...free].filter(([id]) => domainOf(topo.nodes.get(id)!.node, level!) === domain)
      .map(([id, f]) => [id, n % size === 0 ? (f === size ? f : 0) : f] as const);
    const desc = inDomain.map(([, f]) => f).sort((a, b) => b - a);
    let fewest = 0;
    for (let got = 0; got < n; fewest++) got += desc[fewest] ?? Infinity;
    expect(perNode.size, `nodes spanned (free per node in ${domain}: ${JSON.stringify(inDomain)})`).toBe(fewest);
    if (fewest === 1) {
      const fittest = Math.min(...inDomain.map(([, f]) => f).filter((f) => f >= n));
      expect(free.get([...perNode.keys()][0]!), 'best fit: the node with the fewest free GPUs that fit').toBe(fittest);
    }
    return r;
  }

  async all(): Promise<LeaseSnapshot[]> {
    const out: LeaseSnapshot[] = [];
    for (const id of this.ids) out.push(await this.lease(id));
    return out;
  }

  /** A lease as the harness reports it, its GPUs and holds in a stable order. */
  async lease(id: string): Promise<LeaseSnapshot> {
    const l = await this.h.lease(id);
    return { ...l, gpus: sortGpus(l.gpus), holds: [...l.holds].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0)) };
  }

  async nodesDown(ids: string[]): Promise<{ replaced: string[]; failed: string[] }> {
    for (const id of ids) if (!this.downAt.has(id)) this.downAt.set(id, this.now);
    const r = await this.h.nodesDown(ids);
    return { replaced: [...r.replaced].sort(), failed: [...r.failed].sort() };
  }

  setPolicy(p: { internalFirst?: boolean; noticeMs?: number }): void {
    if (p.internalFirst !== undefined) this.internalFirst = p.internalFirst;
    if (p.noticeMs !== undefined) this.noticeMs = p.noticeMs;
    this.h.setPolicy(p);
  }

  /** Leases a lease preempted (their preemptedBy names it). */
  async victimsOf(id: string): Promise<LeaseSnapshot[]> {
    return (await this.all()).filter((l) => l.preemptedBy === id);
  }

  /** The world as a whole, counted GPU by GPU and watt by watt. */
  async expectInvariants(): Promise<void> {
    const topo = this.topo;
    const snaps = await this.all();
    const holds = flatHolds(snaps);
    // No GPU held by two leases at once.
    const byGpu = new Map<string, FlatHold[]>();
    for (const h of holds) byGpu.set(h.uuid, [...(byGpu.get(h.uuid) ?? []), h]);
    for (const [uuid, list] of byGpu) {
      list.sort((a, b) => a.fromMs - b.fromMs);
      for (let i = 1; i < list.length; i++) {
        expect(list[i]!.fromMs >= list[i - 1]!.untilMs, `GPU ${uuid} held by ${list[i - 1]!.leaseId} and ${list[i]!.leaseId} at once`).toBe(true);
      }
    }
    // No hall or site ever draws more than its cap (summed here from each GPU's facility watts).
    const times = [...new Set(holds.map((h) => h.fromMs))];
    for (const [id, hall] of topo.halls) {
      for (const t of times) expect(peakDraw(topo, holds, id, t, t + 1), `hall ${id} at ${new Date(t).toISOString()}`).toBeLessThanOrEqual(hall.powerCapW);
    }
    for (const [id, site] of topo.sites) {
      for (const t of times) expect(peakDraw(topo, holds, id, t, t + 1), `site ${id} at ${new Date(t).toISOString()}`).toBeLessThanOrEqual(site.powerCapW);
    }
    for (const l of snaps) {
      if (l.gpus.length === 0) {
        // Never placed: still waiting, or its wait ran out, or it was withdrawn.
        expect(['queued', 'expired', 'released'], `${l.id} has no GPUs`).toContain(l.state);
        continue;
      }
      // The gang: its count, its model, its domain.
      expect(l.gpus.length, `${l.id} GPUs`).toBe(l.gpuCount);
      expect(new Set(l.gpus.map((g) => g.uuid)).size).toBe(l.gpuCount);
      const nodes = l.gpus.map((g) => topo.nodes.get(g.nodeId)!.node);
      expect(nodes.every((n) => n.gpuModel === l.gpuModel)).toBe(true);
      if (l.placement !== 'any') expect(new Set(nodes.map((n) => domainOf(n, LEVEL_OF[l.placement]))).size, `${l.id} in one ${l.placement} domain`).toBe(1);
      for (const h of l.holds) expect(h.untilMs, `${l.id} holds past its end`).toBeLessThanOrEqual(l.heldUntilMs);
    }
    // Nothing held on a node after it went down.
    for (const h of holds) {
      const down = this.downAt.get(nodeOfGpu(topo, h.uuid).id);
      if (down !== undefined) expect(h.untilMs, `${h.leaseId} holds ${h.uuid} on a node that went down`).toBeLessThanOrEqual(down);
    }
  }
}

function sortGpus(gpus: readonly LeaseGpu[]): LeaseGpu[] {
  return [...gpus].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
}

function countBy(xs: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

const nodesOf = (l: { gpus: LeaseGpu[] }): string[] => [...new Set(l.gpus.map((g) => g.nodeId))].sort();
const uuidsOf = (l: { gpus: LeaseGpu[] }): Set<string> => new Set(l.gpus.map((g) => g.uuid));

// ---------------------------------------------------------------------------------------------
// The contract.
// ---------------------------------------------------------------------------------------------

export function runEngineContract(name: string, newHarness: () => Promise<EngineHarness>): void {
  describe(name, () => {
    /** One case on a fresh harness; the world is checked as a whole at its end. */
    const rule = (title: string, fn: (w: World) => Promise<void>): void => {
      it(title, async () => {
        const w = new World(await newHarness());
        try {
          await fn(w);
          await w.expectInvariants();
        } finally {
          await w.h.close();
        }
      });
    };
    const H100 = 'H100-SXM' as const;

    rule('best fit: a small job goes to the partly used node with the fewest free GPUs that fit', async (w) => {
      const a = await w.bestFit({ gpuModel: H100, gpuCount: 6, durationMs: H }); // a node with 2 free
      const b = await w.bestFit({ gpuModel: H100, gpuCount: 4, durationMs: H }); // 2 free is too few: another node, 4 free
      expect(nodesOf(b)).not.toEqual(nodesOf(a));
      const c = await w.bestFit({ gpuModel: H100, gpuCount: 3, durationMs: H });
      expect(nodesOf(c)).toEqual(nodesOf(b)); // 4 free beats 2 (too few) and 8 (looser)
      const d = await w.bestFit({ gpuModel: H100, gpuCount: 2, durationMs: H });
      expect(nodesOf(d)).toEqual(nodesOf(a)); // exactly 2 free there
      // Inside one NVLink domain (a GB200 rack of 4-GPU trays) the same rule picks the tray.
      await w.bestFit({ gpuModel: 'GB200', gpuCount: 6, placement: 'same-nvlink', durationMs: H }); // a whole tray and 2 of another
      const g = await w.bestFit({ gpuModel: 'GB200', gpuCount: 2, placement: 'same-nvlink', durationMs: H });
      const free = freeByNode(w.topo, flatHolds((await w.all()).filter((l) => l.id !== g.id)), 'GB200', w.now, w.now + H);
      expect(free.get(nodesOf(g)[0]!)).toBe(2);
    });

    rule('whole nodes: a multiple of the node size gets whole free servers, never scraps', async (w) => {
      // Scraps: 2, 5 and 1 GPUs free on three servers of fab-a1 (8 in all), besides three whole free servers.
      const a = await w.bestFit({ gpuModel: H100, gpuCount: 6, durationMs: H });
      const b = await w.bestFit({ gpuModel: H100, gpuCount: 3, durationMs: H });
      const c = await w.bestFit({ gpuModel: H100, gpuCount: 7, durationMs: H });
      const broken = [a, b, c].flatMap(nodesOf);
      expect(new Set(broken).size).toBe(3);
      // 32 GPUs are free, but 32 needs four whole servers: the largest that fits is 31 (24 whole would, too).
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 33, durationMs: H })).toBe(31);
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 32, durationMs: H })).toBe(31);
      // 24 = three whole servers, across both fabrics, not the scraps of fab-a1.
      const r = await w.bestFit({ gpuModel: H100, gpuCount: 24, durationMs: H });
      expect(nodesOf(r)).toHaveLength(3);
      for (const n of broken) expect(nodesOf(r)).not.toContain(n);
      // 8 scraps left, no whole server: 8 is refused, 7 fits.
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 8, durationMs: H })).toBe(7);
      // GB200 trays hold 4: 8 GPUs are two whole trays, even next to a broken one.
      await w.bestFit({ gpuModel: 'GB200', gpuCount: 6, placement: 'same-nvlink', durationMs: H });
      const t = await w.bestFit({ gpuModel: 'GB200', gpuCount: 8, placement: 'same-nvlink', durationMs: H });
      expect([...countBy(t.gpus.map((x) => x.nodeId)).values()]).toEqual([4, 4]);
    });

    rule('same-nvlink and same-fabric gangs stay in one domain, else are refused with the largest that fits', async (w) => {
      const g1 = await w.bestFit({ gpuModel: H100, gpuCount: 24, placement: 'same-fabric', durationMs: H });
      expect(new Set(g1.gpus.map((g) => w.topo.nodes.get(g.nodeId)!.node.fabricId))).toEqual(new Set(['fab-a1'])); // the only fabric of 24+
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 24, placement: 'same-fabric', durationMs: H })).toBe(16);
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 9, placement: 'same-nvlink', durationMs: H })).toBe(8);
      const g2 = await w.bestFit({ gpuModel: H100, gpuCount: 16, placement: 'same-fabric', durationMs: H });
      expect(new Set(g2.gpus.map((g) => w.topo.nodes.get(g.nodeId)!.node.fabricId))).toEqual(new Set(['fab-a2']));
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 12, placement: 'same-fabric', durationMs: H })).toBe(8);
      // A later window is another matter: everything here ends in an hour.
      await w.bestFit({ gpuModel: H100, gpuCount: 24, placement: 'same-fabric', startInMs: H, durationMs: H });
      // The NVL72 rack is one NVLink domain of 72.
      await w.bestFit({ gpuModel: 'GB200', gpuCount: 40, placement: 'same-nvlink', durationMs: H });
      expect(await w.refusedWithLargest({ gpuModel: 'GB200', gpuCount: 40, placement: 'same-nvlink', durationMs: H })).toBe(32);
      expect(await w.refusedWithLargest({ gpuModel: 'GB200', gpuCount: 33, placement: 'same-nvlink', durationMs: H })).toBe(32);
      await w.bestFit({ gpuModel: 'GB200', gpuCount: 32, placement: 'same-nvlink', durationMs: H });
    });

    rule('`any` packs a gang into the tightest domain that fits', async (w) => {
      const a1 = await w.bestFit({ gpuModel: H100, gpuCount: 16, durationMs: H });
      expect(new Set(a1.gpus.map((g) => w.topo.nodes.get(g.nodeId)!.node.fabricId))).toEqual(new Set(['fab-a2'])); // 16 of 16, not 16 of 32
      const a2 = await w.bestFit({ gpuModel: H100, gpuCount: 20, durationMs: H }); // 2 whole servers and half of a third
      expect(nodesOf(a2)).toHaveLength(3);
      const a3 = await w.bestFit({ gpuModel: H100, gpuCount: 4, durationMs: H });
      const half = [...countBy(a2.gpus.map((g) => g.nodeId))].find(([, k]) => k === 4)![0];
      expect(nodesOf(a3)).toEqual([half]);
      await w.bestFit({ gpuModel: 'GB200', gpuCount: 10, durationMs: H });
      expect(await w.refusedWithLargest({ gpuModel: H100, gpuCount: 9, durationMs: H })).toBe(8);
    });

    rule('a hall\'s power cap is never exceeded over the window, whatever the models', async (w) => {
      const topo = w.topo;
      const capW = topo.halls.get('hall-b1')!.powerCapW;
      const wH200 = topo.nodes.get(topo.nodesByModel.get('H200')![0]!.node.id)!.wattsPerGpu;
      const wB200 = topo.nodes.get(topo.nodesByModel.get('B200')![0]!.node.id)!.wattsPerGpu;
      expect(topo.nodesByModel.get('H200')!.length * 8 * wH200).toBeGreaterThan(capW); // the cap binds before the GPUs run out
      await w.bestFit({ gpuModel: 'H200', gpuCount: 24, durationMs: 2 * H });
      // 8 GPUs are free (a whole server) but the hall has power for fewer.
      expect(await w.refusedWithLargest({ gpuModel: 'H200', gpuCount: 8, durationMs: 2 * H })).toBe(Math.floor((capW - 24 * wH200) / wH200));
      // After the 24 end, the same 8 fit; overlapping their last hour, they do not.
      await w.bestFit({ gpuModel: 'H200', gpuCount: 8, startInMs: 2 * H, durationMs: H });
      await w.refusedWithLargest({ gpuModel: 'H200', gpuCount: 8, startInMs: H, durationMs: 2 * H });
      // Another model in the same hall draws from the same cap.
      await w.bestFit({ gpuModel: 'B200', gpuCount: 4, durationMs: 2 * H });
      const left = capW - 24 * wH200 - 4 * wB200;
      expect(await w.refusedWithLargest({ gpuModel: 'H200', gpuCount: 2, durationMs: 2 * H })).toBe(Math.floor(left / wH200));
      await w.bestFit({ gpuModel: 'H200', gpuCount: 1, durationMs: 2 * H });
      expect(await w.refusedWithLargest({ gpuModel: 'B200', gpuCount: 1, durationMs: 2 * H })).toBe(Math.max(0, Math.floor((left - wH200) / wB200)));
      const draw = peakDraw(topo, flatHolds(await w.all()), 'hall-b1', w.now, w.now + 3 * H);
      expect(draw).toBe(25 * wH200 + 4 * wB200);
      expect(draw).toBeLessThanOrEqual(capW);
    });

    rule('preemption: on-demand on a fleet full of spot takes the cheapest victims in one domain, after their notice', async (w) => {
      for (let i = 0; i < 5; i++) await w.placed({ gpuModel: H100, gpuCount: 8, class: 'spot', placement: 'same-nvlink', durationMs: 10 * H });
      for (let i = 0; i < 2; i++) await w.placed({ gpuModel: H100, gpuCount: 4, class: 'spot', placement: 'same-nvlink', durationMs: 10 * H });
      expect([...freeByNode(w.topo, flatHolds(await w.all()), H100, w.now, w.now + H).values()].every((f) => f === 0)).toBe(true);
      expect(await w.refused({ gpuModel: H100, gpuCount: 1, class: 'spot', durationMs: H })).toBe(0); // spot never preempts spot

      const t0 = w.now;
      const deadline = t0 + DEFAULT_NOTICE_MS;
      const before = await w.all();
      const req1: ContractRequest = { gpuModel: H100, gpuCount: 4, durationMs: 2 * H };
      const cost1 = cheapestPreemption(w.topo, before, req1, t0, w.noticeMs, w.internalFirst);
      const o1 = await w.placed(req1);
      // It starts when the notice ends and keeps its length.
      expect([o1.startMs, o1.endMs]).toEqual([deadline, deadline + 2 * H]);
      const v1 = await w.victimsOf(o1.id);
      expect(v1.reduce((a, v) => a + BigInt(v.priceMicrosPerGpuHour) * BigInt(v.gpuCount), 0n)).toBe(cost1);
      expect(v1.map((v) => v.gpuCount)).toEqual([4]); // one 4-GPU lease, not an 8
      for (const v of v1) {
        expect(v).toMatchObject({ state: 'preempting', preemptedAtMs: deadline, heldUntilMs: deadline });
        expect(v.holds.every((h) => h.untilMs === deadline)).toBe(true);
      }
      const taken = new Set(v1.flatMap((v) => v.gpus.map((g) => g.uuid)));
      expect(o1.gpus.every((g) => taken.has(g.uuid))).toBe(true);
      // Everyone else keeps what they had.
      for (const l of before.filter((b) => !v1.some((v) => v.id === b.id))) expect(await w.lease(l.id)).toEqual(l);

      // A 16-GPU same-fabric gang: two victims of one fabric.
      const req2: ContractRequest = { gpuModel: H100, gpuCount: 16, class: 'reserved', placement: 'same-fabric', durationMs: H };
      const cost2 = cheapestPreemption(w.topo, await w.all(), req2, t0, w.noticeMs, w.internalFirst);
      const o2 = await w.placed(req2);
      expect([o2.startMs, o2.endMs]).toEqual([deadline, deadline + H]);
      const v2 = await w.victimsOf(o2.id);
      expect(v2.reduce((a, v) => a + BigInt(v.priceMicrosPerGpuHour) * BigInt(v.gpuCount), 0n)).toBe(cost2);
      const fabric = (g: LeaseGpu) => w.topo.nodes.get(g.nodeId)!.node.fabricId;
      expect(new Set([...o2.gpus, ...v2.flatMap((v) => v.gpus)].map(fabric)).size).toBe(1);
      for (const v of v2) expect(v.gpus.some((g) => uuidsOf(o2).has(g.uuid)), `${v.id} preempted for nothing`).toBe(true);

      w.h.advance(DEFAULT_NOTICE_MS);
      for (const v of [...v1, ...v2]) expect((await w.lease(v.id)).state).toBe('preempted');
      for (const o of [o1, o2]) expect((await w.lease(o.id)).state).toBe('active');
    });

    rule('reserved and on-demand leases are never preempted', async (w) => {
      const firm: PlacedOrQueued[] = [];
      for (let i = 0; i < 4; i++) firm.push(await w.placed({ gpuModel: H100, gpuCount: 8, placement: 'same-nvlink', durationMs: 10 * H }));
      for (let i = 0; i < 2; i++) firm.push(await w.placed({ gpuModel: H100, gpuCount: 8, class: 'reserved', placement: 'same-nvlink', durationMs: 10 * H }));
      for (const cls of ['on-demand', 'reserved', 'internal', 'spot'] as const) {
        expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: cls, durationMs: H }), cls).toBe(0);
      }
      const waiting = await w.queued({ gpuModel: H100, gpuCount: 4, durationMs: H, queue: true });
      // One server frees: the waiting request takes half of it, spot work the other half.
      await w.h.release(firm[0]!.id);
      await w.h.runQueue();
      const placed = await w.lease(waiting.id);
      expect(placed.state).toBe('active');
      const spot = await w.placed({ gpuModel: H100, gpuCount: 4, class: 'spot', durationMs: 10 * H });
      expect(nodesOf(spot)).toEqual(nodesOf(placed));
      // A whole server for a reserved gang would need the on-demand half too: refused.
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: 'reserved', placement: 'same-nvlink', durationMs: H })).toBe(0);
      expect((await w.lease(spot.id)).preemptedAtMs).toBeNull();
      // Four GPUs: the spot half is enough.
      const o = await w.placed({ gpuModel: H100, gpuCount: 4, class: 'reserved', durationMs: H });
      expect((await w.victimsOf(o.id)).map((v) => v.id)).toEqual([spot.id]);
      for (const l of [...firm.slice(1), placed]) {
        const now = await w.lease(l.id);
        expect([now.preemptedAtMs, now.preemptedBy, now.heldUntilMs]).toEqual([null, null, now.endMs]);
      }
    });

    rule('internal work yields to on-demand under the default policy, and not under internalFirst', async (w) => {
      const internal: PlacedOrQueued[] = [];
      for (let i = 0; i < 6; i++) internal.push(await w.placed({ gpuModel: H100, gpuCount: 8, class: 'internal', placement: 'same-nvlink', durationMs: 10 * H }));
      expect(internal.every((l) => l.totalMicros === '0')).toBe(true);
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: 'spot', durationMs: H })).toBe(0);
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: 'internal', durationMs: H })).toBe(0);
      const od = await w.placed({ gpuModel: H100, gpuCount: 8, placement: 'same-nvlink', durationMs: H });
      expect(od.startMs).toBe(w.now + DEFAULT_NOTICE_MS);
      const v = await w.victimsOf(od.id);
      expect(v.map((x) => [x.leaseClass, x.state, x.preemptedAtMs])).toEqual([['internal', 'preempting', od.startMs]]);
      expect(nodesOf(v[0]!)).toEqual(nodesOf(od));

      w.setPolicy({ internalFirst: true });
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, durationMs: H })).toBe(0);
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: 'reserved', durationMs: H })).toBe(0);
      for (const l of internal) if (l.id !== v[0]!.id) expect((await w.lease(l.id)).preemptedAtMs).toBeNull();

      // Spot work on the NVL72 rack: internal work preempts it only when it comes first.
      const spot = [];
      for (let i = 0; i < 2; i++) spot.push(await w.placed({ gpuModel: 'GB200', gpuCount: 36, class: 'spot', placement: 'same-nvlink', durationMs: 10 * H }));
      w.setPolicy({ internalFirst: false });
      expect(await w.refused({ gpuModel: 'GB200', gpuCount: 4, class: 'internal', durationMs: H })).toBe(0);
      w.setPolicy({ internalFirst: true, noticeMs: 60_000 });
      const mine = await w.placed({ gpuModel: 'GB200', gpuCount: 8, class: 'internal', durationMs: 2 * H });
      expect([mine.startMs, mine.endMs]).toEqual([w.now + 60_000, w.now + 60_000 + 2 * H]);
      const cut = await w.victimsOf(mine.id);
      expect(cut.map((x) => [x.leaseClass, x.preemptedAtMs])).toEqual([['spot', w.now + 60_000]]);
    });

    rule('spot backfill in front of a future reservation ends when it starts; the reservation starts on time', async (w) => {
      const t0 = w.now;
      const soon = await w.bestFit({ gpuModel: H100, gpuCount: 16, class: 'reserved', placement: 'same-fabric', startInMs: 2 * H, durationMs: 2 * H });
      const later = await w.bestFit({ gpuModel: H100, gpuCount: 32, class: 'reserved', placement: 'same-fabric', startInMs: 4 * H, durationMs: 2 * H });
      // Work that cannot be cut short is not backfilled: 10 hours are not to be had anywhere.
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, durationMs: 10 * H })).toBe(0);
      expect(await w.refused({ gpuModel: H100, gpuCount: 8, class: 'reserved', durationMs: 10 * H })).toBe(0);
      // Spot work may have the 4 idle hours in front of `later` (the longest window).
      const s1 = await w.placed({ gpuModel: H100, gpuCount: 8, class: 'spot', placement: 'same-nvlink', durationMs: 10 * H });
      expect(s1).toMatchObject({ startMs: t0, endMs: t0 + 10 * H, preemptedAtMs: t0 + 4 * H, preemptedBy: later.id, heldUntilMs: t0 + 4 * H });
      expect(s1.totalMicros).toBe((BigInt(s1.priceMicrosPerGpuHour) * 8n * 4n).toString()); // billed for the hours it can run
      expect(s1.gpus.every((g) => uuidsOf(later).has(g.uuid))).toBe(true);
      const s2 = await w.placed({ gpuModel: H100, gpuCount: 24, class: 'spot', durationMs: 10 * H });
      expect(s2).toMatchObject({ preemptedAtMs: t0 + 4 * H, preemptedBy: later.id });
      // Only the 2 hours in front of `soon` are left.
      const s3 = await w.placed({ gpuModel: H100, gpuCount: 16, class: 'spot', durationMs: 10 * H });
      expect(s3).toMatchObject({ preemptedAtMs: t0 + 2 * H, preemptedBy: soon.id, heldUntilMs: t0 + 2 * H });
      expect((await w.lease(s3.id)).state).toBe('preempting');
      w.h.advance(2 * H);
      expect(await w.lease(soon.id)).toMatchObject({ state: 'active', startMs: t0 + 2 * H, gpus: soon.gpus });
      expect((await w.lease(s3.id)).state).toBe('preempted');
      expect((await w.lease(s1.id)).state).toBe('preempting');
      w.h.advance(2 * H);
      expect(await w.lease(later.id)).toMatchObject({ state: 'active', startMs: t0 + 4 * H, gpus: later.gpus });
      for (const s of [s1, s2]) expect((await w.lease(s.id)).state).toBe('preempted');
    });

    rule('queued requests are placed by runQueue when capacity frees; a large gang is not starved by smaller later ones', async (w) => {
      const a = await w.placed({ gpuModel: H100, gpuCount: 32, durationMs: 10 * H });
      await w.placed({ gpuModel: H100, gpuCount: 16, durationMs: H });
      const q1 = await w.queued({ gpuModel: H100, gpuCount: 8, durationMs: 2 * H, queue: true });
      expect(q1.gpus).toEqual([]);
      expect(await w.h.runQueue()).toEqual([]); // nothing freed
      w.h.advance(H); // the 16 end
      expect(await w.h.runQueue()).toEqual([q1.id]);
      expect(await w.lease(q1.id)).toMatchObject({ state: 'active', startMs: w.now, endMs: w.now + 2 * H });
      const c = await w.placed({ gpuModel: H100, gpuCount: 8, durationMs: H }); // full again

      const big = await w.queued({ gpuModel: H100, gpuCount: 16, durationMs: 3 * H, queue: true });
      w.h.advance(1);
      const small = await w.queued({ gpuModel: H100, gpuCount: 8, durationMs: H, queue: true, tenant: 'beta' });
      w.h.advance(1);
      const spot = await w.queued({ gpuModel: H100, gpuCount: 8, class: 'spot', durationMs: 5 * H, queue: true, tenant: 'beta' });

      await w.h.release(q1.id); // 8 free: not enough for the gang
      await w.h.runQueue();
      expect((await w.lease(big.id)).state).toBe('queued');
      expect((await w.lease(small.id)).state, 'a smaller later request would delay the gang').toBe('queued');
      expect((await w.lease(spot.id)).state, 'preemptible work may run: the gang can take it back').toBe('active');

      await w.h.release(c.id); // 8 free + the spot work: enough for the gang
      await w.h.runQueue();
      const g = await w.lease(big.id);
      expect(g).toMatchObject({ state: 'scheduled', startMs: w.now + w.noticeMs, endMs: w.now + w.noticeMs + 3 * H });
      expect(await w.lease(spot.id)).toMatchObject({ state: 'preempting', preemptedBy: big.id, preemptedAtMs: g.startMs });
      expect((await w.lease(small.id)).state).toBe('queued');

      await w.h.release(a.id);
      await w.h.runQueue();
      expect(await w.lease(small.id)).toMatchObject({ state: 'active', startMs: w.now, endMs: w.now + H });
    });

    rule('a lease on a node that goes down moves to the same shape, from now until its hold ends, or fails', async (w) => {
      const t0 = w.now;
      const l8 = await w.placed({ gpuModel: H100, gpuCount: 8, placement: 'same-nvlink', durationMs: 2 * H });
      const l16 = await w.bestFit({ gpuModel: H100, gpuCount: 16, placement: 'same-fabric', durationMs: 2 * H });
      w.h.advance(30 * 60_000);
      const y = nodesOf(l16)[0]!;
      expect(await w.nodesDown([y])).toEqual({ replaced: [l16.id], failed: [] });
      const m16 = await w.lease(l16.id);
      expect(m16).toMatchObject({ state: 'active', startMs: t0, endMs: t0 + 2 * H, heldUntilMs: t0 + 2 * H });
      expect(nodesOf(m16)).not.toContain(y);
      expect([...countBy(m16.gpus.map((g) => g.nodeId)).values()]).toEqual([8, 8]); // whole servers, as before
      const moved = m16.holds.filter((h) => !uuidsOf(l16).has(h.uuid));
      expect(moved.length).toBeGreaterThan(0);
      for (const h of moved) expect([h.fromMs, h.untilMs]).toEqual([w.now, t0 + 2 * H]);
      for (const h of m16.holds) expect(h.untilMs).toBe(t0 + 2 * H);
      expect(await w.lease(l8.id)).toMatchObject({ gpus: l8.gpus }); // not on that node: untouched

      const x = nodesOf(l8)[0]!;
      expect(await w.nodesDown([x])).toEqual({ replaced: [l8.id], failed: [] });
      const m8 = await w.lease(l8.id);
      expect(nodesOf(m8)).toHaveLength(1);
      expect(nodesOf(m8)).not.toContain(x);
      for (const h of m8.holds) expect([h.fromMs, h.untilMs]).toEqual([w.now, t0 + 2 * H]);

      const fill = await w.placed({ gpuModel: H100, gpuCount: 8, durationMs: 4 * H }); // the last free server
      w.h.advance(60_000);
      expect(await w.nodesDown(nodesOf(m8))).toEqual({ replaced: [], failed: [l8.id] });
      expect(await w.lease(l8.id)).toMatchObject({ state: 'failed', failedAtMs: w.now });
      expect((await w.lease(fill.id)).gpus).toEqual(fill.gpus);
      expect((await w.lease(l16.id)).gpus).toEqual(m16.gpus);
    });

    rule('a lease being preempted whose node goes down is re-placed only until its deadline', async (w) => {
      const block = await w.bestFit({ gpuModel: H100, gpuCount: 16, class: 'reserved', placement: 'same-fabric', startInMs: H, durationMs: 10 * H });
      const spot: PlacedOrQueued[] = [];
      for (let i = 0; i < 4; i++) spot.push(await w.placed({ gpuModel: H100, gpuCount: 8, class: 'spot', placement: 'same-nvlink', durationMs: 10 * H }));
      for (const s of spot) expect(s.preemptedAtMs).toBeNull(); // on fab-a1, not in front of the block
      const o = await w.placed({ gpuModel: H100, gpuCount: 8, placement: 'same-nvlink', durationMs: 2 * H });
      const [victim] = await w.victimsOf(o.id);
      const deadline = w.now + w.noticeMs;
      expect(victim).toMatchObject({ state: 'preempting', preemptedAtMs: deadline });
      await w.h.release(o.id); // the preemption stands
      expect((await w.lease(victim!.id)).preemptedAtMs).toBe(deadline);
      // Until its booked end nothing is free (the block starts in an hour); until its deadline the block's servers are.
      expect(await w.nodesDown(nodesOf(victim!))).toEqual({ replaced: [victim!.id], failed: [] });
      const m = await w.lease(victim!.id);
      expect(m).toMatchObject({ state: 'preempting', preemptedAtMs: deadline, heldUntilMs: deadline });
      expect(nodesOf(m)).toHaveLength(1);
      expect(uuidsOf(block).has(m.gpus[0]!.uuid)).toBe(true);
      for (const h of m.holds) expect([h.fromMs, h.untilMs]).toEqual([w.now, deadline]);
      expect((await w.lease(block.id)).gpus).toEqual(block.gpus);
    });

    rule('a quote says what create would do, and changes nothing', async (w) => {
      const same = async (req: ContractRequest): Promise<CreateResult> => {
        const before = await w.all();
        const q = await w.h.quote(req);
        expect(await w.all(), 'a quote changes nothing').toEqual(before);
        const c = await w.create(req);
        expect(q.outcome).toBe(c.outcome);
        if (c.outcome === 'refused') {
          expect(q.largestSatisfiable).toBe(c.largestSatisfiable);
        } else {
          expect(q).toMatchObject({
            startMs: c.startMs, endMs: c.endMs, preemptedAtMs: c.preemptedAtMs, priceMicrosPerGpuHour: c.priceMicrosPerGpuHour,
            totalMicros: c.totalMicros, nodes: nodesOf(c).length,
          });
          expect(q.preempts).toBe((await w.victimsOf(c.id)).length);
        }
        return c;
      };
      // All 48 H100s: the quote holds none of them, so the create gets them all.
      const all = await same({ gpuModel: H100, gpuCount: 48, durationMs: H });
      expect(all.outcome).toBe('placed');
      await w.h.release((all as PlacedOrQueued).id);
      await same({ gpuModel: H100, gpuCount: 16, placement: 'same-fabric', durationMs: 2 * H });
      await same({ gpuModel: H100, gpuCount: 48, durationMs: H }); // refused: 32 fit
      await same({ gpuModel: H100, gpuCount: 9, placement: 'same-nvlink', durationMs: H });
      const q = await same({ gpuModel: H100, gpuCount: 48, durationMs: H, queue: true });
      expect(q.outcome).toBe('queued');
      await w.h.release((q as PlacedOrQueued).id);
      await same({ gpuModel: H100, gpuCount: 32, class: 'spot', durationMs: 10 * H });
      const pre = await same({ gpuModel: H100, gpuCount: 8, placement: 'same-nvlink', durationMs: H }); // preempts one spot lease
      expect(pre).toMatchObject({ outcome: 'placed', startMs: w.now + w.noticeMs });
      await w.placed({ gpuModel: 'GB200', gpuCount: 72, class: 'reserved', startInMs: 3 * H, durationMs: H });
      const bf = await same({ gpuModel: 'GB200', gpuCount: 8, class: 'spot', durationMs: 10 * H }); // backfilled
      expect(bf).toMatchObject({ outcome: 'placed', preemptedAtMs: w.now + 3 * H });
      await same({ gpuModel: 'H200', gpuCount: 32, durationMs: H }); // refused by the hall's power cap
    });
  });
}
