import { describe, expect, it } from 'vitest';
import { Topology, expandFleetSpec, type FleetSpec } from '../fleet/index.js';
import { place, type PlacementQuery } from './allocator.js';
import { BookingIndex } from './booking-index.js';

const H = 3_600_000;

function fleet(over: Partial<{ siteCapMw: number; hallCapMw: number; nodesPerFabric: number }> = {}): FleetSpec {
  return {
    sites: [
      {
        id: 's1', region: 'r1', powerCapMw: over.siteCapMw ?? 100, pue: 1.25,
        halls: [{
          id: 'h1', powerCapMw: over.hallCapMw ?? 100,
          fabrics: [
            { id: 'f1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: over.nodesPerFabric ?? 4 }] },
            { id: 'f2', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 2 }] },
            { id: 'fn', kind: 'infiniband', nodeGroups: [{ gpuModel: 'GB200', count: 2 }] },
          ],
        }],
      },
      { id: 's2', region: 'r2', powerCapMw: 100, pue: 1.4, halls: [{ id: 'h2', powerCapMw: 100, fabrics: [{ id: 'f3', kind: 'roce', nodeGroups: [{ gpuModel: 'H100-SXM', count: 8 }] }] }] },
    ],
  };
}

function setup(spec: FleetSpec = fleet()) {
  const topo = new Topology(expandFleetSpec(spec));
  const bookings = new BookingIndex(topo);
  let seq = 0;
  const q = (over: Partial<PlacementQuery>): PlacementQuery => ({
    gpuModel: 'H100-SXM', gpuCount: 8, region: null, startMs: 0, endMs: H, placement: 'any', ...over,
  });
  const book = (over: Partial<PlacementQuery>) => {
    const query = q(over);
    const r = place(topo, bookings, query);
    if (r.ok) bookings.add({ leaseId: `l${seq++}`, startMs: query.startMs, endMs: query.endMs, gpuUuids: r.gpus.map((g) => g.uuid) });
    return r;
  };
  return { topo, bookings, q, book };
}

const nodesOf = (r: ReturnType<typeof place>) => (r.ok ? [...new Set(r.gpus.map((g) => g.nodeId))] : []);

describe('place', () => {
  it('gives whole nodes when the count is a multiple of the node size', () => {
    const { book } = setup();
    book({ gpuCount: 3 }); // leaves one partial node
    const r = book({ gpuCount: 16 });
    expect(r.ok).toBe(true);
    const nodes = nodesOf(r);
    expect(nodes).toHaveLength(2);
  });

  it('packs `any` into the tightest domain that fits: 16 GPUs go to the 2-node fabric, not the 4-node one', () => {
    const { book } = setup();
    const r = book({ gpuCount: 16 });
    expect(nodesOf(r).every((n) => n.startsWith('f2-'))).toBe(true);
  });

  it('same-nvlink on HGX fits at most one 8-GPU node and reports that as the largest', () => {
    const { book } = setup();
    const r = book({ gpuCount: 9, placement: 'same-nvlink' });
    expect(r).toMatchObject({ ok: false, largestSatisfiable: 8 });
  });

  it('same-nvlink on GB200 takes one whole 72-GPU rack', () => {
    const { book } = setup();
    const r = book({ gpuModel: 'GB200', gpuCount: 72, placement: 'same-nvlink' });
    expect(r.ok).toBe(true);
    if (r.ok) expect(new Set(r.gpus.map((g) => g.nodeId.slice(0, 6)))).toEqual(new Set(['fn-r01']));
    const r2 = book({ gpuModel: 'GB200', gpuCount: 73, placement: 'same-nvlink' });
    expect(r2).toMatchObject({ ok: false, largestSatisfiable: 72 });
  });

  it('same-fabric refuses a gang larger than any one fabric and names the largest fabric left', () => {
    const { book } = setup();
    const r = book({ gpuCount: 72, placement: 'same-fabric', region: 'r1' });
    expect(r).toMatchObject({ ok: false, largestSatisfiable: 32 });
  });

  it('never gives a GPU twice for overlapping windows, but a future window does not block now', () => {
    const { book } = setup();
    const all = 8 * (4 + 2 + 8);
    expect(book({ gpuCount: all, startMs: 5 * H, endMs: 6 * H }).ok).toBe(true);
    expect(book({ gpuCount: 1, startMs: 5 * H + 1, endMs: 7 * H })).toMatchObject({ ok: false, largestSatisfiable: 0 });
    expect(book({ gpuCount: all, startMs: 0, endMs: 5 * H }).ok).toBe(true); // half-open: ends as the other starts
  });

  it('respects the hall power cap: a 0.2 MW hall runs floor(200 kW / 1,594 W) = 125 H100s', () => {
    // H100: 700 W × (10.2 kW / 5.6 kW) × PUE 1.25 = 1,594 W per GPU at the meter.
    const { book, topo } = setup(fleet({ hallCapMw: 0.2, nodesPerFabric: 20 })); // 176 H100s installed in r1
    const perGpu = topo.nodes.get('f1-n001')!.wattsPerGpu;
    expect(perGpu).toBe(1594);
    const max = Math.floor(200_000 / perGpu); // 125 GPUs
    const r = book({ gpuCount: max + 1, region: 'r1' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.largestSatisfiable).toBeLessThanOrEqual(max);
    expect(book({ gpuCount: 40, region: 'r1' }).ok).toBe(true);
    expect(book({ gpuCount: 40, region: 'r1' }).ok).toBe(true);
    expect(book({ gpuCount: 40, region: 'r1' }).ok).toBe(true);
    // 120 used; 5 more would fit the power; 6 would not.
    expect(book({ gpuCount: 6, region: 'r1' }).ok).toBe(false);
    expect(book({ gpuCount: 5, region: 'r1' }).ok).toBe(true);
  });

  it('skips nodes that are not ready and honours region', () => {
    const spec = fleet();
    spec.nodeStates = { 'f2-n001': 'down', 'f2-n002': 'draining' };
    const { book } = setup(spec);
    const r = book({ gpuCount: 8, placement: 'same-nvlink', region: 'r2' });
    expect(nodesOf(r)[0]).toMatch(/^f3-/);
    const r2 = book({ gpuCount: 64, region: 'r1' });
    expect(r2).toMatchObject({ ok: false, largestSatisfiable: 32 });
  });

  it('is deterministic', () => {
    const a = setup();
    const b = setup();
    for (const n of [3, 8, 16, 5, 1, 24]) {
      expect(a.book({ gpuCount: n })).toEqual(b.book({ gpuCount: n }));
    }
  });
});

describe('place with a gang-size population (FGD, Weng et al. ATC\'23)', () => {
  it('keeps a domain able to take the gangs that arrive, where best fit would not', () => {
    const { topo, bookings, q } = setup();
    const [a, b] = topo.nodesByModel.get('H100-SXM')!;
    // Node a has 5 GPUs free, node b 6; every other node is empty.
    bookings.add({ leaseId: 'x', startMs: 0, endMs: H, gpuUuids: a!.gpuUuids.slice(0, 3) });
    bookings.add({ leaseId: 'y', startMs: 0, endMs: H, gpuUuids: b!.gpuUuids.slice(0, 2) });
    const two = q({ gpuCount: 2, placement: 'same-nvlink' });
    // Best fit: the least capacity that fits, a (5 → 3, and a 4-GPU gang no longer fits there).
    expect(nodesOf(place(topo, bookings, two))).toEqual([a!.node.id]);
    // FGD over {1: ½, 4: ½}: F(f) = f·P(gang > f); on a F grows 0 → 1.5, on b 0 → 0 (6 → 4),
    // on an empty node 0 → 0 too: the tie goes to best fit, b.
    const gangs = { sizes: [1, 4], weights: [0.5, 0.5] };
    expect(nodesOf(place(topo, bookings, two, { gangs }))).toEqual([b!.node.id]);
    // A population of 1-GPU gangs only: no growth anywhere, so best fit decides.
    expect(nodesOf(place(topo, bookings, two, { gangs: { sizes: [1], weights: [1] } }))).toEqual([a!.node.id]);
  });
});
