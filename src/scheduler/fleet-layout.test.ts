import { describe, expect, it } from 'vitest';
import { DEMO_FLEET_PATH, readFleetSpecFile } from '../app/control-plane.js';
import { facilityWattsPerGpu } from '../fleet/gpu-catalog.js';
import { expandFleetSpec } from '../fleet/fleet-spec.js';
import { layoutFromFleet, syntheticFleetLayout } from './fleet-layout.js';
import type { FleetLayout } from './scheduler-types.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const gpuTotal = (l: FleetLayout): number => sum(l.nodes.map((n) => n.gpus));

/** GPUs per key (fabricId, nvlinkId, …). */
function gpusBy(l: FleetLayout, key: (n: FleetLayout['nodes'][number]) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of l.nodes) m.set(key(n), (m.get(key(n)) ?? 0) + n.gpus);
  return m;
}

/** Every domain's nodes are contiguous in the node list (topology order). */
function contiguous(l: FleetLayout, key: (n: FleetLayout['nodes'][number]) => string): boolean {
  const closed = new Set<string>();
  let cur: string | undefined;
  for (const n of l.nodes) {
    const k = key(n);
    if (k === cur) continue;
    if (closed.has(k)) return false;
    if (cur !== undefined) closed.add(cur);
    cur = k;
  }
  return true;
}

describe('syntheticFleetLayout', () => {
  it('builds 1,000,000 GPUs with the default mix: exact total, NVL72 racks of 72, bounded fabrics', () => {
    const l = syntheticFleetLayout({ gpus: 1_000_000 });
    expect(gpuTotal(l)).toBe(1_000_000);
    expect(l.sites).toHaveLength(10);
    expect(l.halls).toHaveLength(40);

    const nvl = l.nodes.filter((n) => n.model === 'GB200');
    const hgx = l.nodes.filter((n) => n.model === 'H100-SXM');
    expect(nvl.length + hgx.length).toBe(l.nodes.length);
    // ⌊250,000 / 72⌋ = 3,472 racks = 249,984 GPUs; the other 750,016 in 93,752 servers.
    expect(hgx).toHaveLength(93_752);
    expect(hgx.every((n) => n.gpus === 8 && n.nvlinkId === n.id)).toBe(true);
    const racks = new Map<string, number>();
    for (const n of nvl) {
      expect(n.gpus).toBe(4);
      racks.set(n.nvlinkId, (racks.get(n.nvlinkId) ?? 0) + 1);
    }
    expect(racks.size).toBe(3_472);
    expect([...racks.values()].every((trays) => trays === 18)).toBe(true);

    const fabrics = gpusBy(l, (n) => n.fabricId);
    expect(Math.max(...fabrics.values())).toBeLessThanOrEqual(1024);
    // A fabric is either all HGX or all NVL72.
    const fabricModels = new Map<string, Set<string>>();
    for (const n of l.nodes) {
      let s = fabricModels.get(n.fabricId);
      if (!s) fabricModels.set(n.fabricId, (s = new Set()));
      s.add(n.model);
    }
    expect([...fabricModels.values()].every((s) => s.size === 1)).toBe(true);

    expect(new Set(l.nodes.map((n) => n.id)).size).toBe(l.nodes.length);
    expect(l.nodes[0]!.id).toBe('s00-h0-f0000-n0000');
    expect(l.nodes.every((n) => n.id.length <= 21)).toBe(true);
    for (const key of [(n: FleetLayout['nodes'][number]) => n.siteId, (n: FleetLayout['nodes'][number]) => n.hallId,
      (n: FleetLayout['nodes'][number]) => n.fabricId, (n: FleetLayout['nodes'][number]) => n.nvlinkId]) {
      expect(contiguous(l, key)).toBe(true);
    }
    // Sites get even shares: within one rack + one server of each other.
    const perSite = [...gpusBy(l, (n) => n.siteId).values()];
    expect(Math.max(...perSite) - Math.min(...perSite)).toBeLessThanOrEqual(72 + 8);
  });

  it('is all 8-GPU HGX at nvl72Share 0: 125,000 servers', () => {
    const l = syntheticFleetLayout({ gpus: 1_000_000, nvl72Share: 0 });
    expect(l.nodes).toHaveLength(125_000);
    expect(l.nodes.every((n) => n.model === 'H100-SXM' && n.gpus === 8)).toBe(true);
    // 12,500 servers per site, 3,125 per hall → 24 full fabrics of 128 + one of 53 per hall.
    const fabrics = gpusBy(l, (n) => n.fabricId);
    expect(fabrics.size).toBe(40 * 25);
    expect(fabrics.get('s00-h0-f0000')).toBe(1024);
    expect(fabrics.get('s00-h0-f0024')).toBe(53 * 8);
  });

  it('caps site power below full load and halls above their even share', () => {
    const pue = 1.25;
    const l = syntheticFleetLayout({ gpus: 80_000, sites: 4, pue });
    const hgxW = facilityWattsPerGpu('H100-SXM', pue);
    const nvlW = facilityWattsPerGpu('GB200', pue);
    for (const site of l.sites) {
      const nodes = l.nodes.filter((n) => n.siteId === site.id);
      const fullLoad = sum(nodes.map((n) => n.gpus * n.wattsPerGpu));
      expect(nodes.every((n) => n.wattsPerGpu === (n.model === 'GB200' ? nvlW : hgxW))).toBe(true);
      expect(site.powerCapW).toBe(Math.floor(fullLoad * 0.9));
      expect(site.powerCapW).toBeLessThan(fullLoad);
      const halls = l.halls.filter((h) => h.siteId === site.id);
      expect(halls).toHaveLength(4);
      for (const h of halls) {
        expect(h.powerCapW).toBeGreaterThan(site.powerCapW / 4);
        expect(h.powerCapW).toBeLessThan(site.powerCapW);
      }
      // The halls together allow more than the site: the site binds first.
      expect(sum(halls.map((h) => h.powerCapW))).toBeGreaterThan(site.powerCapW);
    }
  });

  it('is deterministic and honours small fabrics', () => {
    const a = syntheticFleetLayout({ gpus: 4_096, sites: 2, fabricGpus: 256, nvl72Share: 0.5, hallsPerSite: 2 });
    expect(syntheticFleetLayout({ gpus: 4_096, sites: 2, fabricGpus: 256, nvl72Share: 0.5, hallsPerSite: 2 })).toEqual(a);
    expect(gpuTotal(a)).toBe(4_096);
    expect(Math.max(...gpusBy(a, (n) => n.fabricId).values())).toBeLessThanOrEqual(256);
    // ⌊2,048 / 72⌋ = 28 racks; 3 racks (216 GPUs) per fabric.
    expect(new Set(a.nodes.filter((n) => n.model === 'GB200').map((n) => n.nvlinkId)).size).toBe(28);
  });

  it('rejects impossible shapes', () => {
    expect(() => syntheticFleetLayout({ gpus: 1_001 })).toThrow(RangeError);
    expect(() => syntheticFleetLayout({ gpus: 1_024, fabricGpus: 64 })).toThrow(/NVL72/);
    expect(() => syntheticFleetLayout({ gpus: 1_024, nvl72Share: 1.5 })).toThrow(RangeError);
  });
});

describe('layoutFromFleet', () => {
  const fleet = expandFleetSpec(readFleetSpecFile(DEMO_FLEET_PATH));

  it('lays out the demo fleet: 3,360 GPUs on 456 nodes (384 HGX servers + 72 NVL72 trays)', () => {
    const l = layoutFromFleet(fleet);
    expect(gpuTotal(l)).toBe(3_360);
    expect(l.nodes).toHaveLength(456);
    expect(l.nodes.filter((n) => n.gpus === 8)).toHaveLength(384);
    const trays = l.nodes.filter((n) => n.model === 'GB200');
    expect(trays).toHaveLength(72);
    expect(new Set(trays.map((n) => n.nvlinkId)).size).toBe(4);
    expect(l.sites.map((s) => s.id)).toEqual(['us-east-oh', 'jp-osaka']);
    expect(l.halls.map((h) => h.id)).toEqual(['oh-h1', 'oh-h2', 'os-h1']);
    const osaka = l.nodes.find((n) => n.siteId === 'jp-osaka')!;
    expect(osaka.wattsPerGpu).toBe(facilityWattsPerGpu('H200', 1.35));
    const ohio = l.nodes.find((n) => n.siteId === 'us-east-oh' && n.model === 'GB200')!;
    expect(ohio.wattsPerGpu).toBe(facilityWattsPerGpu('GB200', 1.25));
    // Topology order: sorted by (site, hall, fabric, nvlink, node id).
    const keys = l.nodes.map((n) => [n.siteId, n.hallId, n.fabricId, n.nvlinkId, n.id].join('\u0000'));
    expect(keys).toEqual([...keys].sort());
  });

  it('leaves out nodes that are not ready', () => {
    const f = structuredClone(fleet);
    f.nodes[0]!.state = 'down';
    f.nodes[1]!.state = 'draining';
    const l = layoutFromFleet(f);
    expect(l.nodes).toHaveLength(454);
    const ids = new Set(l.nodes.map((n) => n.id));
    expect(ids.has(f.nodes[0]!.id)).toBe(false);
    expect(ids.has(f.nodes[1]!.id)).toBe(false);
  });
});
