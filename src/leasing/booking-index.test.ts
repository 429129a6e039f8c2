import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Topology, expandFleetSpec } from '../fleet/index.js';
import { BookingIndex } from './booking-index.js';

const topo = new Topology(expandFleetSpec({
  sites: [{ id: 's', region: 'r', powerCapMw: 1, pue: 1, halls: [{ id: 'h', powerCapMw: 1, fabrics: [{ id: 'f', kind: 'roce', nodes: [{ id: 'n1', gpuModel: 'H100-SXM' }] }] }] }],
}));
const [g0, g1] = topo.nodes.get('n1')!.gpuUuids;

describe('BookingIndex', () => {
  it('treats windows as half-open', () => {
    const b = new BookingIndex(topo);
    b.add({ leaseId: 'a', startMs: 10, endMs: 20, gpuUuids: [g0!] });
    expect(b.isFree(g0!, 0, 10)).toBe(true);
    expect(b.isFree(g0!, 20, 30)).toBe(true);
    expect(b.isFree(g0!, 19, 21)).toBe(false);
    expect(b.isFree(g0!, 0, 100)).toBe(false);
    expect(b.isFree(g1!, 0, 100)).toBe(true);
  });

  it('finds the peak power of overlapping holds, not their sum', () => {
    const b = new BookingIndex(topo);
    const w = topo.nodes.get('n1')!.wattsPerGpu;
    b.add({ leaseId: 'a', startMs: 0, endMs: 10, gpuUuids: [g0!] });
    b.add({ leaseId: 'b', startMs: 10, endMs: 20, gpuUuids: [g1!] });
    expect(b.peakWatts('h', 0, 20)).toBe(w);
    b.add({ leaseId: 'c', startMs: 5, endMs: 15, gpuUuids: [topo.nodes.get('n1')!.gpuUuids[2]!] });
    expect(b.peakWatts('h', 0, 20)).toBe(2 * w);
    expect(b.peakWatts('s', 16, 20)).toBe(w);
  });

  it('truncates on release and prunes what has ended', () => {
    const b = new BookingIndex(topo);
    b.add({ leaseId: 'a', startMs: 0, endMs: 100, gpuUuids: [g0!] });
    b.truncate('a', 50);
    expect(b.isFree(g0!, 50, 100)).toBe(true);
    expect(b.isFree(g0!, 49, 100)).toBe(false);
    expect(b.prune(50)).toBe(1);
    expect(b.size).toBe(0);
  });
});

/**
 * The index against a model kept as a plain list of holds: after every operation of a random
 * sequence (add, remove, truncate, prune, over GPUs of two nodes), "is GPU g free over [s, e)?"
 * and "peak draw of the hall/site over [s, e)?" agree with a brute-force answer computed from the
 * list (every instant that matters checked). Exercises the typed fast path (GPUs with 0 or 1
 * interval) and the cached step function (dropped and rebuilt after each change).
 */
describe('BookingIndex against a brute-force model', () => {
  const topo2 = new Topology(expandFleetSpec({
    sites: [{ id: 's', region: 'r', powerCapMw: 1, pue: 1.1, halls: [{ id: 'h', powerCapMw: 1, fabrics: [{ id: 'f', kind: 'roce', nodes: [{ id: 'n1', gpuModel: 'H100-SXM' }, { id: 'n2', gpuModel: 'H100-SXM' }] }] }] }],
  }));
  const uuids = [...topo2.nodes.get('n1')!.gpuUuids, ...topo2.nodes.get('n2')!.gpuUuids];
  const w = topo2.nodes.get('n1')!.wattsPerGpu;
  const op = fc.oneof(
    fc.record({ k: fc.constant('add' as const), s: fc.integer({ min: 0, max: 60 }), len: fc.integer({ min: 1, max: 30 }), gpus: fc.uniqueArray(fc.integer({ min: 0, max: uuids.length - 1 }), { minLength: 1, maxLength: 4 }) }),
    // Whole nodes, or most of one (so nodes saturate, with one interval or several per GPU).
    fc.record({ k: fc.constant('add' as const), s: fc.integer({ min: 0, max: 60 }), len: fc.integer({ min: 1, max: 30 }), gpus: fc.constantFrom([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [0, 1, 2, 3, 4, 5], [6, 7], [10, 11, 12, 13, 14, 15], [8, 9]) }),
    fc.record({ k: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ k: fc.constant('truncate' as const), pick: fc.nat(), at: fc.integer({ min: 0, max: 90 }) }),
    fc.record({ k: fc.constant('prune' as const), at: fc.integer({ min: 0, max: 90 }) }),
  );
  it('answers free and peak as the model does after every operation', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
      const b = new BookingIndex(topo2);
      let model: { id: string; s: number; e: number; gpus: string[] }[] = [];
      let seq = 0;
      for (const o of ops) {
        if (o.k === 'add') {
          const gpus = o.gpus.map((i) => uuids[i]!);
          // The index's contract: one GPU is never held twice at once (the service checks first).
          if (model.some((h) => h.s < o.s + o.len && o.s < h.e && h.gpus.some((g) => gpus.includes(g)))) continue;
          const id = `l${seq++}`;
          b.add({ leaseId: id, startMs: o.s, endMs: o.s + o.len, gpuUuids: gpus });
          model.push({ id, s: o.s, e: o.s + o.len, gpus });
        } else if (o.k === 'remove' && model.length) {
          const h = model[o.pick % model.length]!;
          b.remove(h.id);
          model = model.filter((x) => x !== h);
        } else if (o.k === 'truncate' && model.length) {
          const h = model[o.pick % model.length]!;
          b.truncate(h.id, o.at);
          h.e = Math.max(h.s, Math.min(h.e, o.at));
          if (h.e <= h.s) model = model.filter((x) => x !== h); // an emptied hold blocks nothing
        } else if (o.k === 'prune') {
          b.prune(o.at);
          model = model.filter((h) => h.e > o.at);
        }
        for (let s = 0; s <= 90; s += 7) {
          for (const e of [s + 1, s + 5, s + 40]) {
            for (const g of uuids) {
              const free = !model.some((h) => h.gpus.includes(g) && h.s < e && s < h.e);
              expect(b.isFree(g, s, e)).toBe(free);
            }
            // Per node, as placement counts (a saturated node answers from its busy span).
            for (const id of ['n1', 'n2']) {
              const n = topo2.nodes.get(id)!;
              const free = n.gpuUuids.filter((g) => !model.some((h) => h.gpus.includes(g) && h.s < e && s < h.e)).length;
              expect(b.countFree(n.gpuIdx[0]!, n.gpuIdx.length, s, e), `${id} [${s}, ${e})`).toBe(free);
            }
            let peak = 0;
            for (let t = s; t < e; t++) peak = Math.max(peak, model.filter((h) => h.s <= t && t < h.e).reduce((a, h) => a + h.gpus.length * w, 0));
            expect(b.peakWatts('h', s, e)).toBe(peak);
            expect(b.peakWatts('s', s, e)).toBe(peak);
          }
        }
      }
    }), { numRuns: 150 });
  });
});
