/**
 * Properties of placement over random fleets and random create/release streams, checked against
 * an independent ledger (not the BookingIndex under test):
 * no GPU in two overlapping leases, power caps never exceeded, gangs all-or-nothing, placement
 * and whole-node rules honoured, and the "largest satisfiable" answer really is satisfiable.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GPU_CATALOG, NVLINK, Topology, expandFleetSpec, type FleetSpec, type GpuModelId } from '../fleet/index.js';
import { place, tryPlace, type PlacementQuery } from './allocator.js';
import { BookingIndex } from './booking-index.js';
import { PLACEMENTS } from './lease-types.js';

const arbFleet: fc.Arbitrary<FleetSpec> = fc.record({
  sites: fc.array(fc.record({
    capMw: fc.double({ min: 0.01, max: 0.4, noNaN: true }),
    pue: fc.double({ min: 1.05, max: 1.6, noNaN: true }),
    halls: fc.array(fc.record({
      capMw: fc.double({ min: 0.01, max: 0.3, noNaN: true }),
      fabrics: fc.array(fc.record({ h100: fc.integer({ min: 0, max: 6 }), gb200: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 3 }),
    }), { minLength: 1, maxLength: 2 }),
  }), { minLength: 1, maxLength: 2 }),
}).map(({ sites }) => ({
  sites: sites.map((s, si) => ({
    id: `s${si}`, region: `r${si % 2}`, powerCapMw: s.capMw, pue: s.pue,
    halls: s.halls.map((h, hi) => ({
      id: `s${si}h${hi}`, powerCapMw: h.capMw,
      fabrics: h.fabrics.map((f, fi) => ({
        id: `s${si}h${hi}f${fi}`, kind: 'infiniband' as const,
        nodeGroups: [
          ...(f.h100 > 0 ? [{ gpuModel: 'H100-SXM' as const, count: f.h100 }] : []),
          ...(f.gb200 > 0 ? [{ gpuModel: 'GB200' as const, count: f.gb200, prefix: `s${si}h${hi}f${fi}-r` }] : []),
        ],
      })),
    })),
  })),
}));

type Op =
  | { kind: 'create'; model: GpuModelId; count: number; start: number; len: number; placement: (typeof PLACEMENTS)[number]; region: string | null; domain: number }
  | { kind: 'release'; pick: number; at: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('create' as const),
    model: fc.constantFrom<GpuModelId>('H100-SXM', 'GB200'),
    count: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(8, 16, 24, 36, 72, 100)),
    start: fc.integer({ min: 0, max: 20 }),
    len: fc.integer({ min: 1, max: 10 }),
    placement: fc.constantFrom(...PLACEMENTS),
    region: fc.constantFrom(null, 'r0', 'r1'),
    domain: fc.nat(),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), at: fc.integer({ min: 0, max: 30 }) }) },
);

interface Booked { id: string; start: number; end: number; gpus: string[] }

function check(topo: Topology, booked: Booked[]): void {
  // 1. No GPU in two overlapping windows.
  const byGpu = new Map<string, Booked[]>();
  for (const b of booked) for (const g of b.gpus) (byGpu.get(g) ?? byGpu.set(g, []).get(g)!).push(b);
  for (const [g, list] of byGpu) {
    for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end) throw new Error(`GPU ${g} in ${a.id} and ${b.id}`);
    }
  }
  // 2. Power: at every instant where draw can rise (a start), each hall and site is within its cap.
  for (const t of new Set(booked.map((b) => b.start))) {
    const draw = new Map<string, number>();
    for (const b of booked) {
      if (!(b.start <= t && t < b.end)) continue;
      for (const g of b.gpus) {
        const n = topo.nodes.get(topo.gpuToNode.get(g)!)!;
        for (const scope of [n.node.hallId, n.node.siteId]) draw.set(scope, (draw.get(scope) ?? 0) + n.wattsPerGpu);
      }
    }
    for (const [scope, w] of draw) {
      const cap = topo.halls.get(scope)?.powerCapW ?? topo.sites.get(scope)!.powerCapW;
      expect(w, `power at ${scope} t=${t}`).toBeLessThanOrEqual(cap);
    }
  }
}

/** A node's id at each tree level (SITE…NVLINK), as ModelTree.ids names domains. */
function domainIdsOf(topo: Topology, nodeId: string): string[] {
  const n = topo.nodes.get(nodeId)!.node;
  return [n.siteId, n.hallId, n.fabricId, n.nvlinkId];
}

/**
 * A placement limited to one domain (picked by `pick` among the model's domains of every level):
 * it uses only that domain's GPUs and keeps every other rule (checked as a booking would be); it
 * fits only where the unlimited placement fits, and it fits whenever the unlimited one put the
 * whole gang inside the domain.
 */
function checkWithin(topo: Topology, index: BookingIndex, booked: Booked[], q: PlacementQuery, pick: number, plain: ReturnType<typeof place>): void {
  const tree = topo.treeFor(q.gpuModel);
  if (!tree) return;
  const level = pick % (NVLINK + 1);
  const idx = Math.floor(pick / (NVLINK + 1)) % tree.ids[level]!.length;
  const id = tree.ids[level]![idx]!;
  const within = { level, index: idx };
  const r = place(topo, index, q, { within });
  // A probe gives the same answer without the refusal's arithmetic.
  expect(tryPlace(topo, index, q, { within })).toEqual(r.ok ? r.gpus : null);
  if (plain.ok && plain.gpus.every((g) => domainIdsOf(topo, g.nodeId)[level] === id)) {
    expect(r.ok, `the unlimited placement lies inside ${id}, so a placement limited to it fits`).toBe(true);
  }
  if (!r.ok) return;
  expect(plain.ok, `fits inside ${id} but not in the whole fleet`).toBe(true);
  expect(r.gpus).toHaveLength(q.gpuCount);
  expect(new Set(r.gpus.map((g) => g.uuid)).size).toBe(q.gpuCount);
  for (const g of r.gpus) {
    expect(domainIdsOf(topo, g.nodeId)[level]).toBe(id);
    expect(index.isFree(g.uuid, q.startMs, q.endMs)).toBe(true);
  }
  const lvlOf = { 'same-nvlink': 3, 'same-fabric': 2, 'same-site': 0 } as const;
  if (q.placement !== 'any') expect(new Set(r.gpus.map((g) => domainIdsOf(topo, g.nodeId)[lvlOf[q.placement as keyof typeof lvlOf]])).size).toBe(1);
  // Power and double booking, from the independent ledger, as if it were booked.
  check(topo, [...booked, { id: 'within', start: q.startMs, end: q.endMs, gpus: r.gpus.map((g) => g.uuid) }]);
}

describe('placement properties', () => {
  it('holds its invariants over random fleets and request streams', () => {
    // Half the runs place by FGD over a random gang-size population: the same invariants hold.
    const arbGangs = fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 4 }).map((sizes) => ({
      sizes: [...sizes].sort((a, b) => a - b), weights: sizes.map(() => 1 / sizes.length),
    })), { nil: undefined });
    fc.assert(fc.property(arbFleet, fc.array(arbOp, { minLength: 1, maxLength: 40 }), arbGangs, (spec, ops, gangs) => {
      const topo = new Topology(expandFleetSpec(spec));
      const index = new BookingIndex(topo);
      const booked: Booked[] = [];
      let seq = 0;
      for (const op of ops) {
        if (op.kind === 'release') {
          if (booked.length === 0) continue;
          const b = booked[op.pick % booked.length]!;
          const end = Math.max(b.start, Math.min(b.end, op.at));
          index.truncate(b.id, end);
          b.end = end;
          continue;
        }
        const q: PlacementQuery = { gpuModel: op.model, gpuCount: op.count, region: op.region, startMs: op.start, endMs: op.start + op.len, placement: op.placement };
        const r = place(topo, index, q, { gangs });
        checkWithin(topo, index, booked, q, op.domain, r);
        // FGD only chooses among domains that fit: it fits exactly when best fit does.
        if (gangs) expect(r.ok).toBe(place(topo, index, q).ok);
        if (!r.ok) {
          // The answer to "how much would fit" must itself fit (and be no more than what is free).
          // A larger request can only fit where the whole-node rule blocked this one
          // (e.g. 9 GPUs on partial nodes while 8 would need two whole 4-GPU trays).
          if (r.largestSatisfiable >= op.count) expect(op.count % GPU_CATALOG[op.model].nodeGpus).toBe(0);
          if (r.largestSatisfiable > 0) {
            expect(place(topo, index, { ...q, gpuCount: r.largestSatisfiable }).ok, `largest ${r.largestSatisfiable}`).toBe(true);
          }
          continue;
        }
        // All-or-nothing, distinct GPUs of the right model on ready nodes in the region.
        expect(r.gpus).toHaveLength(op.count);
        expect(new Set(r.gpus.map((g) => g.uuid)).size).toBe(op.count);
        const nodes = r.gpus.map((g) => topo.nodes.get(g.nodeId)!);
        for (const n of nodes) {
          expect(n.node.gpuModel).toBe(op.model);
          expect(n.node.state).toBe('ready');
          if (op.region) expect(n.region).toBe(op.region);
        }
        const distinct = (f: (n: (typeof nodes)[number]) => string) => new Set(nodes.map(f)).size;
        if (op.placement === 'same-nvlink') expect(distinct((n) => n.node.nvlinkId)).toBe(1);
        if (op.placement === 'same-fabric') expect(distinct((n) => n.node.fabricId)).toBe(1);
        if (op.placement === 'same-site') expect(distinct((n) => n.node.siteId)).toBe(1);
        // Whole nodes when the count is a multiple of the node size.
        const size = GPU_CATALOG[op.model].nodeGpus;
        if (op.count % size === 0) {
          const perNode = new Map<string, number>();
          for (const g of r.gpus) perNode.set(g.nodeId, (perNode.get(g.nodeId) ?? 0) + 1);
          for (const c of perNode.values()) expect(c).toBe(size);
        }
        const b: Booked = { id: `l${seq++}`, start: q.startMs, end: q.endMs, gpus: r.gpus.map((g) => g.uuid) };
        index.add({ leaseId: b.id, startMs: b.start, endMs: b.end, gpuUuids: b.gpus });
        booked.push(b);
        check(topo, booked);
      }
    }), { numRuns: 300 });
  });

  it('is deterministic for the same input', () => {
    fc.assert(fc.property(arbFleet, fc.array(arbOp, { maxLength: 20 }), (spec, ops) => {
      const run = () => {
        const topo = new Topology(expandFleetSpec(spec));
        const index = new BookingIndex(topo);
        return ops.filter((o) => o.kind === 'create').map((op, i) => {
          const r = place(topo, index, { gpuModel: op.model, gpuCount: op.count, region: op.region, startMs: op.start, endMs: op.start + op.len, placement: op.placement });
          if (r.ok) index.add({ leaseId: `l${i}`, startMs: op.start, endMs: op.start + op.len, gpuUuids: r.gpus.map((g) => g.uuid) });
          return r;
        });
      };
      expect(run()).toEqual(run());
    }), { numRuns: 100 });
  });
});
