/**
 * Builders of the `FleetLayout` the scheduling engine and simulator read: one from neocloud's own
 * expanded fleet, one synthetic generator for large benchmarks (up to millions of GPUs).
 * Pure functions: no I/O, no randomness, same input → same layout.
 */
import { GPU_CATALOG, NVL72_RACK_GPUS, facilityWattsPerGpu, type GpuModelId } from '../fleet/gpu-catalog.js';
import type { Fleet } from '../fleet/fleet-types.js';
import { Topology, type NodeShape } from '../fleet/topology.js';
import type { FleetLayout } from './scheduler-types.js';

type LayoutNode = FleetLayout['nodes'][number];

/**
 * The layout of a neocloud fleet as the scheduler sees it.
 *
 * - Nodes come in the Topology's stable order (site, hall, fabric, NVLink domain, node id), so
 *   the nodes of one domain are contiguous.
 * - Only nodes in state `ready` are included: `draining` nodes take no new work and `down` nodes
 *   none at all. (Leases still running on draining nodes draw power the layout does not show;
 *   a caller that replays live state must account for them separately.)
 * - Sites and halls are all included, in the fleet's order, even when no ready node is left in
 *   them, with their facility power caps in watts.
 * - `wattsPerGpu` is the facility draw of one running GPU there: TDP × server overhead × site PUE
 *   (`facilityWattsPerGpu`, rounded up).
 * - `gpus` per node is the catalog's `nodeGpus` (8 for HGX servers, 4 per GB200 NVL72 tray); the
 *   18 trays of one NVL72 rack share the rack's `nvlinkId`.
 */
export function layoutFromFleet(fleet: Fleet): FleetLayout {
  const topo = new Topology(fleet);
  const nodes: LayoutNode[] = [];
  for (const t of topo.nodes.values()) {
    const n = t.node;
    if (n.state !== 'ready') continue;
    nodes.push({
      id: n.id, model: n.gpuModel, gpus: t.size, siteId: n.siteId, hallId: n.hallId,
      fabricId: n.fabricId, nvlinkId: n.nvlinkId, wattsPerGpu: t.wattsPerGpu,
    });
  }
  return {
    sites: fleet.sites.map((s) => ({ id: s.id, powerCapW: s.powerCapW, pue: s.pue })),
    halls: fleet.halls.map((h) => ({ id: h.id, siteId: h.siteId, powerCapW: h.powerCapW })),
    nodes,
  };
}

export interface SyntheticFleetOptions {
  /** Total GPUs, a positive multiple of 8 (NVL72 racks hold 72 and HGX servers 8). */
  gpus: number;
  /** Sites; GPUs are split across them as evenly as whole racks/servers allow. Default 10. */
  sites?: number;
  /** Target GPUs per fabric (scale-out network) domain; no fabric exceeds it. Default 1024. */
  fabricGpus?: number;
  /** Fraction of GPUs in GB200 NVL72 racks (rounded down to whole racks); the rest are H100-SXM 8-GPU HGX servers. Default 0.25. */
  nvl72Share?: number;
  /** PUE of every site. Default 1.25. */
  pue?: number;
  /** Each site's facility power cap as a fraction of its full-load draw (all GPUs running). Default 0.9, so power binds. */
  powerCapFraction?: number;
  /** Halls per site; a site's racks/servers are split evenly across them. Default 4. */
  hallsPerSite?: number;
}

const HGX_MODEL = 'H100-SXM';
const NVL_MODEL = 'GB200';

/**
 * A synthetic fleet for benchmarks (the 1,000,000-GPU run), deterministic and lean: one object
 * per node (never per GPU), short ids. Shape:
 *
 * - `gpus × nvl72Share` rounded down to whole 72-GPU GB200 NVL72 racks (18 trays × 4 GPUs, one
 *   shared `nvlinkId` `…-rNN`); every other GPU in H100-SXM 8-GPU HGX servers (own `nvlinkId` =
 *   node id). 1,000,000 GPUs at share 0 → 125,000 servers; at 0.25 → 3,472 racks + 93,752 servers.
 * - Racks and servers are each split evenly over `sites` sites (s00, s01, …), then over the
 *   site's halls (`s03-h1`). Within a hall, HGX fabrics come first, then NVL72 fabrics; a fabric
 *   is all HGX (`fabricGpus / 8` servers) or all NVL72 (`⌊fabricGpus / 72⌋` racks); the last one
 *   of each kind in a hall may be smaller. Fabric numbers run per hall (`s03-h1-f0012`).
 * - Node ids: `s03-h1-f0012-n0042` (HGX server 42 of the fabric) or `s03-h1-f0013-r07-t12`
 *   (tray 12 of rack 7).
 * - Power, in watts: a site's full-load draw is Σ GPUs × facility watts per GPU (catalog TDP ×
 *   overhead × `pue`); its cap is ⌊full load × powerCapFraction⌋. Each hall's cap is
 *   ⌊site cap / hallsPerSite × 1.1⌋, so with an even split the site cap binds before a hall's.
 *
 * Throws RangeError on a GPU total that is not a positive multiple of 8, on a fabric too small
 * to hold one server (or one rack when NVL72 racks are present), or on out-of-range options.
 */
export function syntheticFleetLayout(opts: SyntheticFleetOptions): FleetLayout {
  const gpus = opts.gpus;
  const siteCount = opts.sites ?? 10;
  const fabricGpus = opts.fabricGpus ?? 1024;
  const nvl72Share = opts.nvl72Share ?? 0.25;
  const pue = opts.pue ?? 1.25;
  const capFraction = opts.powerCapFraction ?? 0.9;
  const hallsPerSite = opts.hallsPerSite ?? 4;

  if (!Number.isInteger(gpus) || gpus <= 0 || gpus % 8 !== 0) throw new RangeError(`gpus must be a positive multiple of 8, got ${gpus}`);
  if (!Number.isInteger(siteCount) || siteCount < 1) throw new RangeError(`sites must be a positive integer, got ${siteCount}`);
  if (!Number.isInteger(hallsPerSite) || hallsPerSite < 1) throw new RangeError(`hallsPerSite must be a positive integer, got ${hallsPerSite}`);
  if (!(nvl72Share >= 0 && nvl72Share <= 1)) throw new RangeError(`nvl72Share must be in [0, 1], got ${nvl72Share}`);
  if (!(pue >= 1)) throw new RangeError(`pue must be ≥ 1, got ${pue}`);
  if (!(capFraction > 0)) throw new RangeError(`powerCapFraction must be > 0, got ${capFraction}`);

  const racksTotal = Math.floor((gpus * nvl72Share) / NVL72_RACK_GPUS);
  const hgxGpusPerNode = GPU_CATALOG[HGX_MODEL].nodeGpus;
  const trayGpus = GPU_CATALOG[NVL_MODEL].nodeGpus;
  const traysPerRack = NVL72_RACK_GPUS / trayGpus;
  const serversTotal = (gpus - racksTotal * NVL72_RACK_GPUS) / hgxGpusPerNode;
  const serversPerFabric = Math.floor(fabricGpus / hgxGpusPerNode);
  const racksPerFabric = Math.floor(fabricGpus / NVL72_RACK_GPUS);
  if (serversTotal > 0 && serversPerFabric < 1) throw new RangeError(`fabricGpus ${fabricGpus} cannot hold one ${hgxGpusPerNode}-GPU server`);
  if (racksTotal > 0 && racksPerFabric < 1) throw new RangeError(`fabricGpus ${fabricGpus} cannot hold one ${NVL72_RACK_GPUS}-GPU NVL72 rack`);

  const hgxWatts = facilityWattsPerGpu(HGX_MODEL, pue);
  const nvlWatts = facilityWattsPerGpu(NVL_MODEL, pue);

  const layout: FleetLayout = { sites: [], halls: [], nodes: [] };
  const nodes = layout.nodes;
  for (let s = 0; s < siteCount; s++) {
    const siteId = `s${pad(s, 2)}`;
    const siteServers = evenShare(serversTotal, siteCount, s);
    const siteRacks = evenShare(racksTotal, siteCount, s);
    const fullLoadW = siteServers * hgxGpusPerNode * hgxWatts + siteRacks * NVL72_RACK_GPUS * nvlWatts;
    const siteCapW = Math.floor(fullLoadW * capFraction);
    layout.sites.push({ id: siteId, powerCapW: siteCapW, pue });
    const hallCapW = Math.floor((siteCapW / hallsPerSite) * 1.1);
    for (let h = 0; h < hallsPerSite; h++) {
      const hallId = `${siteId}-h${h}`;
      layout.halls.push({ id: hallId, siteId, powerCapW: hallCapW });
      let fabricNo = 0;
      // HGX fabrics: servers in runs of serversPerFabric.
      let servers = evenShare(siteServers, hallsPerSite, h);
      while (servers > 0) {
        const fabricId = `${hallId}-f${pad(fabricNo++, 4)}`;
        const inFabric = Math.min(servers, serversPerFabric);
        for (let n = 0; n < inFabric; n++) {
          const id = `${fabricId}-n${pad(n, 4)}`;
          nodes.push({ id, model: HGX_MODEL, gpus: hgxGpusPerNode, siteId, hallId, fabricId, nvlinkId: id, wattsPerGpu: hgxWatts });
        }
        servers -= inFabric;
      }
      // NVL72 fabrics: racks in runs of racksPerFabric, 18 trays per rack sharing the rack's id.
      let racks = evenShare(siteRacks, hallsPerSite, h);
      while (racks > 0) {
        const fabricId = `${hallId}-f${pad(fabricNo++, 4)}`;
        const inFabric = Math.min(racks, racksPerFabric);
        for (let r = 0; r < inFabric; r++) {
          const nvlinkId = `${fabricId}-r${pad(r, 2)}`;
          for (let t = 0; t < traysPerRack; t++) {
            nodes.push({
              id: `${nvlinkId}-t${pad(t, 2)}`, model: NVL_MODEL, gpus: trayGpus, siteId, hallId, fabricId, nvlinkId, wattsPerGpu: nvlWatts,
            });
          }
        }
        racks -= inFabric;
      }
    }
  }
  return layout;
}

/** Share `i` of `total` whole units split over `parts`: the first `total % parts` get one more. */
function evenShare(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * A layout as a Fleet the engine reads, and the node shape that goes with it (a trace's models are
 * not in the GPU catalog, so sizes and watts come from the layout). GPU UUIDs are `<node>/<k>`;
 * every node is `ready`; regions are the site ids; no prices (the simulator gives each request
 * its own). Lean at scale: one object per GPU, one short string per UUID.
 */
export function fleetFromLayout(layout: FleetLayout): { fleet: Fleet; shape: NodeShape } {
  const byId = new Map<string, LayoutNode>();
  const fleet: Fleet = {
    powerSources: [],
    sites: layout.sites.map((s) => ({ id: s.id, name: s.id, region: s.id, powerCapW: s.powerCapW, pue: s.pue })),
    halls: layout.halls.map((h) => ({ ...h })),
    fabrics: [],
    nvlinks: [],
    nodes: [],
    gpus: [],
    prices: [],
  };
  for (const n of layout.nodes) {
    byId.set(n.id, n);
    const model = n.model as GpuModelId;
    fleet.nodes.push({ id: n.id, siteId: n.siteId, hallId: n.hallId, fabricId: n.fabricId, nvlinkId: n.nvlinkId, gpuModel: model, state: 'ready' });
    for (let k = 0; k < n.gpus; k++) fleet.gpus.push({ uuid: `${n.id}/${k}`, nodeId: n.id, index: k, model });
  }
  const shape: NodeShape = (n) => {
    const l = byId.get(n.id)!;
    return { size: l.gpus, wattsPerGpu: l.wattsPerGpu };
  };
  return { fleet, shape };
}
