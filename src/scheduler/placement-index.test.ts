import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FleetLayout, GangLevel } from './scheduler-types.js';
import { EngineFleet, FAB, HALL, NV, PlacementIndex, SITE, type Placement } from './placement-index.js';

/** sites × halls × fabrics × nodes of 8 GPUs (HGX) plus optional NVL72 racks (18 × 4). */
function layout(o: { sites?: number; halls?: number; fabrics?: number; nodes?: number; racks?: number; w?: number; siteCapW?: number; hallCapW?: number } = {}): FleetLayout {
  const L: FleetLayout = { sites: [], halls: [], nodes: [] };
  for (let s = 0; s < (o.sites ?? 1); s++) {
    L.sites.push({ id: `s${s}`, powerCapW: o.siteCapW ?? Infinity, pue: 1.2 });
    for (let h = 0; h < (o.halls ?? 1); h++) {
      const hall = `s${s}h${h}`;
      L.halls.push({ id: hall, siteId: `s${s}`, powerCapW: o.hallCapW ?? Infinity });
      for (let f = 0; f < (o.fabrics ?? 2); f++) {
        const fab = `${hall}f${f}`;
        for (let n = 0; n < (o.nodes ?? 4); n++) {
          const id = `${fab}n${n}`;
          L.nodes.push({ id, model: 'H100', gpus: 8, siteId: `s${s}`, hallId: hall, fabricId: fab, nvlinkId: id, wattsPerGpu: o.w ?? 0 });
        }
      }
      for (let r = 0; r < (o.racks ?? 0); r++) {
        const rack = `${hall}r${r}`;
        for (let t = 0; t < 18; t++) {
          L.nodes.push({ id: `${rack}t${t}`, model: 'GB200', gpus: 4, siteId: `s${s}`, hallId: hall, fabricId: `${hall}nvl`, nvlinkId: rack, wattsPerGpu: o.w ?? 0 });
        }
      }
    }
  }
  return L;
}

const gpusOf = (p: Placement) => p.masks.reduce((a, m) => a + popcount(m), 0);
function popcount(m: number): number {
  let c = 0;
  for (let v = m; v; v &= v - 1) c++;
  return c;
}

describe('PlacementIndex', () => {
  it('best fit: a 3-GPU job goes to the node with the fewest free GPUs that still fit', () => {
    const ix = new PlacementIndex(new EngineFleet(layout()));
    const a = ix.find(0, 5, 'nvlink')!;
    ix.take(a);
    const b = ix.find(0, 3, 'nvlink')!;
    expect(b.nodes).toEqual(a.nodes); // the 3 free GPUs left on the same node
    ix.take(b);
    expect(ix.freeGpus[SITE]![0]).toBe(64 - 8);
  });

  it('whole nodes for multiples of the node size, and the tightest domain for `any`', () => {
    const ix = new PlacementIndex(new EngineFleet(layout({ fabrics: 2, nodes: 4 })));
    ix.take(ix.find(0, 1, 'any')!); // breaks one node in fabric 0
    const p = ix.find(0, 16, 'any')!;
    expect(p.nodes).toHaveLength(2);
    expect(p.masks.every((m) => m === 0xff)).toBe(true);
    const fabrics = new Set(p.nodes.map((n) => ix.fleet.nodeIds[n]!.slice(0, 6)));
    expect(fabrics.size).toBe(1);
  });

  it('a fabric gang that does not fit one fabric is refused; at site level it spans fabrics', () => {
    const ix = new PlacementIndex(new EngineFleet(layout({ fabrics: 2, nodes: 4 })));
    expect(ix.find(0, 40, 'fabric')).toBeNull();
    const p = ix.find(0, 40, 'site')!;
    expect(gpusOf(p)).toBe(40);
    expect(ix.largest(0, 'fabric', true)).toBe(32);
  });

  it('NVL72: same-nvlink takes 72 GPUs of one rack', () => {
    const ix = new PlacementIndex(new EngineFleet(layout({ racks: 2 })));
    const m = ix.fleet.modelIndex.get('GB200')!;
    const p = ix.find(m, 72, 'nvlink')!;
    expect(p.nodes).toHaveLength(18);
    expect(new Set(p.nodes.map((n) => ix.fleet.nodeIds[n]!.slice(0, 6))).size).toBe(1);
    ix.take(p);
    expect(ix.find(m, 72, 'nvlink')).not.toBeNull();
    ix.take(ix.find(m, 72, 'nvlink')!);
    expect(ix.find(m, 1, 'any')).toBeNull();
  });

  it('never exceeds a power cap', () => {
    // 1,000 W per GPU; hall cap 20 kW = 20 GPUs.
    const ix = new PlacementIndex(new EngineFleet(layout({ w: 1000, hallCapW: 20_000 })));
    ix.take(ix.find(0, 16, 'any')!);
    expect(ix.find(0, 8, 'any')).toBeNull();
    const p = ix.find(0, 4, 'any')!;
    ix.take(p);
    expect(ix.hallUsedW[0]).toBe(20_000);
    expect(ix.find(0, 1, 'any')).toBeNull();
  });

  it('skips nodes out of service', () => {
    const ix = new PlacementIndex(new EngineFleet(layout({ fabrics: 1, nodes: 2 })));
    ix.setNodeOff(0, true);
    const p = ix.find(0, 8, 'nvlink')!;
    expect(p.nodes).toEqual([1]);
    ix.take(p);
    expect(ix.find(0, 1, 'any')).toBeNull();
    ix.setNodeOff(0, false);
    expect(ix.find(0, 8, 'nvlink')!.nodes).toEqual([0]);
  });

  it('packs GPU shares best fit', () => {
    const ix = new PlacementIndex(new EngineFleet(layout({ fabrics: 1, nodes: 1 })));
    const a = ix.findShare(0, 600)!;
    ix.take(a);
    const b = ix.findShare(0, 300)!;
    expect(b.sharedGpu).toBe(a.sharedGpu);
    ix.take(b);
    const c = ix.findShare(0, 200)!;
    expect(c.sharedGpu).not.toBe(a.sharedGpu);
    expect(ix.freeGpus[SITE]![0]).toBe(7);
    ix.give(a);
    ix.give(b);
    expect(ix.freeGpus[SITE]![0]).toBe(8);
  });

  it('keeps its aggregates, power and gang rules exact under random operations', () => {
    const levels: GangLevel[] = ['nvlink', 'fabric', 'site', 'any'];
    fc.assert(fc.property(
      fc.record({ sites: fc.integer({ min: 1, max: 2 }), halls: fc.integer({ min: 1, max: 2 }), fabrics: fc.integer({ min: 1, max: 3 }), nodes: fc.integer({ min: 1, max: 4 }), racks: fc.integer({ min: 0, max: 1 }), capGpus: fc.integer({ min: 4, max: 200 }) }),
      fc.array(fc.oneof(
        fc.record({ op: fc.constant('place' as const), m: fc.nat(1), k: fc.integer({ min: 1, max: 80 }), level: fc.constantFrom(...levels) }),
        fc.record({ op: fc.constant('free' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('off' as const), node: fc.nat(), off: fc.boolean() }),
      ), { maxLength: 60 }),
      (o, ops) => {
        const L = layout({ ...o, w: 1000, hallCapW: o.capGpus * 1000, siteCapW: o.capGpus * 1500 });
        const fleet = new EngineFleet(L);
        const ix = new PlacementIndex(fleet);
        const held: Placement[] = [];
        const used = new Uint8Array(fleet.nodeIds.length);
        for (const op of ops) {
          if (op.op === 'free') {
            if (!held.length) continue;
            const p = held.splice(op.pick % held.length, 1)[0]!;
            ix.give(p);
            p.nodes.forEach((n, i) => (used[n]! &= ~p.masks[i]!));
            continue;
          }
          if (op.op === 'off') {
            ix.setNodeOff(op.node % fleet.nodeIds.length, op.off);
            continue;
          }
          const m = op.m % fleet.models.length;
          const p = ix.find(m, op.k, op.level);
          if (!p) continue;
          expect(gpusOf(p)).toBe(op.k);
          for (let i = 0; i < p.nodes.length; i++) {
            const n = p.nodes[i]!;
            expect(used[n]! & p.masks[i]!).toBe(0); // never twice
            expect(ix.nodeOff[n]).toBe(0);
            expect(fleet.nodeModel[n]).toBe(m);
            used[n]! |= p.masks[i]!;
          }
          const size = fleet.modelNodeSize[m]!;
          if (op.k % size === 0) p.masks.forEach((mask, i) => expect(popcount(mask)).toBe(fleet.nodeSize[p.nodes[i]!]));
          const group = (f: (n: number) => string) => new Set(p.nodes.map(f)).size;
          if (op.level === 'nvlink') expect(group((n) => L.nodes[n]!.nvlinkId)).toBe(1);
          if (op.level === 'fabric') expect(group((n) => L.nodes[n]!.fabricId)).toBe(1);
          if (op.level === 'site') expect(group((n) => L.nodes[n]!.siteId)).toBe(1);
          ix.take(p);
          held.push(p);
        }
        // Aggregates equal a recount from the nodes; power equals used GPUs × watts and is within caps.
        const hallW = new Float64Array(L.halls.length);
        for (let n = 0; n < fleet.nodeIds.length; n++) {
          const size = fleet.nodeSize[n]!;
          const full = (1 << size) - 1;
          expect(ix.nodeFree[n]).toBe(full & ~used[n]!);
          hallW[fleet.nodeHall[n]!]! += popcount(used[n]!) * 1000;
        }
        for (let h = 0; h < L.halls.length; h++) {
          expect(ix.hallUsedW[h]).toBe(hallW[h]);
          expect(hallW[h]).toBeLessThanOrEqual(fleet.hallCapW[h]!);
        }
        for (const level of [NV, FAB, HALL, SITE]) {
          const recount = new Int32Array(fleet.mdCount(level));
          for (let n = 0; n < fleet.nodeIds.length; n++) {
            if (ix.nodeOff[n]) continue;
            let md = fleet.nodeMd[n]!;
            for (let l = NV; l < level; l++) md = fleet.mdParent[l]![md]!;
            recount[md]! += popcount(ix.nodeFree[n]!);
          }
          expect(Array.from(ix.freeGpus[level]!)).toEqual(Array.from(recount));
        }
      },
    ), { numRuns: 300 });
  });
});
