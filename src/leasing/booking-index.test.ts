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
