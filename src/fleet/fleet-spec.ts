/**
 * The declarative fleet spec (YAML or JSON) and its expansion into concrete entities.
 *
 * The spec describes the whole fleet: applying it makes the stored fleet equal to it (entities
 * not in the spec are removed, subject to lease checks in the service). Node groups expand
 * deterministically, so the same spec always yields the same ids and GPU uuids.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { invalid } from '../shared/errors.js';
import { oneOf } from '../shared/validation.js';
import { GPU_CATALOG, GPU_MODEL_IDS, NVL72_RACK_GPUS, type GpuModelId } from './gpu-catalog.js';
import {
  FABRIC_KINDS, NODE_STATES, POWER_SOURCE_KINDS, emptyFleet,
  type Fleet, type FleetNode, type NodeState, type PriceEntry,
} from './fleet-types.js';

const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'lowercase letters, digits and dashes' });
const GpuModel = oneOf(GPU_MODEL_IDS);
const Mw = Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: 'megawatts' });

export const NodeGroupSpec = Type.Object({
  gpuModel: GpuModel,
  /** Servers for 8-GPU models; racks for NVL72 models. */
  count: Type.Integer({ minimum: 1, maximum: 200_000 }),
  prefix: Type.Optional(Id),
}, { additionalProperties: false });

export const NodeSpec = Type.Object({
  id: Id,
  gpuModel: GpuModel,
  gpuUuids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 16 })),
}, { additionalProperties: false });

export const FabricSpec = Type.Object({
  id: Id,
  kind: oneOf(FABRIC_KINDS),
  nodeGroups: Type.Optional(Type.Array(NodeGroupSpec, { maxItems: 1000 })),
  nodes: Type.Optional(Type.Array(NodeSpec, { maxItems: 100_000 })),
}, { additionalProperties: false });

export const HallSpec = Type.Object({
  id: Id,
  powerCapMw: Mw,
  fabrics: Type.Array(FabricSpec, { maxItems: 10_000 }),
}, { additionalProperties: false });

export const PowerSourceSpec = Type.Object({
  id: Id,
  kind: oneOf(POWER_SOURCE_KINDS),
  capacityMw: Mw,
  priceMicrosPerMwh: Type.Integer({ minimum: 0, maximum: 100_000_000_000, description: 'integer micro-dollars per MWh' }),
}, { additionalProperties: false });

export const SiteSpec = Type.Object({
  id: Id,
  name: Type.Optional(Type.String({ maxLength: 200 })),
  region: Id,
  powerCapMw: Mw,
  pue: Type.Number({ minimum: 1, maximum: 3 }),
  powerSources: Type.Optional(Type.Array(PowerSourceSpec, { maxItems: 100 })),
  halls: Type.Array(HallSpec, { maxItems: 1000 }),
}, { additionalProperties: false });

export const PriceSpec = Type.Object({
  gpuModel: GpuModel,
  class: oneOf(['reserved', 'on-demand', 'spot', 'internal'] as const),
  priceMicrosPerGpuHour: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
}, { additionalProperties: false });

export const FleetSpecSchema = Type.Object({
  apiVersion: Type.Optional(Type.Literal('neocloud/v1')),
  kind: Type.Optional(Type.Literal('Fleet')),
  sites: Type.Array(SiteSpec, { maxItems: 1000 }),
  nodeStates: Type.Optional(Type.Record(Type.String(), oneOf(NODE_STATES))),
  prices: Type.Optional(Type.Array(PriceSpec, { maxItems: 1000 })),
}, { additionalProperties: false, $id: 'FleetSpec' });

export type FleetSpec = Static<typeof FleetSpecSchema>;

/** nvidia-smi style GPU uuid, derived from the node id and index so expansion is deterministic. */
export function syntheticGpuUuid(nodeId: string, index: number): string {
  const h = createHash('sha256').update(`neocloud:${nodeId}:${index}`).digest('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const mwToW = (mw: number): number => Math.round(mw * 1_000_000);

/**
 * Expands a shape-valid spec into a Fleet, checking what a schema cannot: unique ids across the
 * fleet, node sizes, halls within their site's cap, known node ids in `nodeStates`.
 * Throws a validation DomainError naming the field.
 */
export function expandFleetSpec(spec: FleetSpec): Fleet {
  const fleet = emptyFleet();
  const seen = new Map<string, string>(); // id -> field where first defined
  const claim = (id: string, field: string): void => {
    const first = seen.get(id);
    if (first !== undefined) throw invalid(field, `id "${id}" is already used at ${first}`);
    seen.set(id, field);
  };

  spec.sites.forEach((site, si) => {
    const sf = `sites[${si}]`;
    claim(site.id, `${sf}.id`);
    fleet.sites.push({
      id: site.id, name: site.name ?? site.id, region: site.region, powerCapW: mwToW(site.powerCapMw), pue: site.pue,
    });
    (site.powerSources ?? []).forEach((ps, pi) => {
      claim(ps.id, `${sf}.powerSources[${pi}].id`);
      fleet.powerSources.push({
        id: ps.id, siteId: site.id, kind: ps.kind, capacityW: mwToW(ps.capacityMw), priceMicrosPerMwh: ps.priceMicrosPerMwh,
      });
    });
    site.halls.forEach((hall, hi) => {
      const hf = `${sf}.halls[${hi}]`;
      claim(hall.id, `${hf}.id`);
      const hallCapW = mwToW(hall.powerCapMw);
      fleet.halls.push({ id: hall.id, siteId: site.id, powerCapW: hallCapW });
      hall.fabrics.forEach((fab, fi) => {
        const ff = `${hf}.fabrics[${fi}]`;
        claim(fab.id, `${ff}.id`);
        fleet.fabrics.push({ id: fab.id, hallId: hall.id, siteId: site.id, kind: fab.kind });
        const addNode = (id: string, nvlinkId: string, model: GpuModelId, uuids: readonly string[] | undefined, field: string): void => {
          claim(id, field);
          const node: FleetNode = {
            id, siteId: site.id, hallId: hall.id, fabricId: fab.id, nvlinkId, gpuModel: model, state: 'ready',
          };
          fleet.nodes.push(node);
          const n = GPU_CATALOG[model].nodeGpus;
          for (let g = 0; g < n; g++) {
            const uuid = uuids?.[g] ?? syntheticGpuUuid(id, g);
            claim(uuid, `${field} (gpu ${g})`);
            fleet.gpus.push({ uuid, nodeId: id, index: g, model });
          }
        };
        let serial = 0;
        (fab.nodeGroups ?? []).forEach((group, gi) => {
          const gf = `${ff}.nodeGroups[${gi}]`;
          const spec = GPU_CATALOG[group.gpuModel];
          for (let i = 0; i < group.count; i++) {
            serial++;
            if (spec.nvlink === 'nvl72') {
              const rackId = `${group.prefix ?? `${fab.id}-r`}${pad(serial, 2)}`;
              claim(rackId, gf);
              fleet.nvlinks.push({ id: rackId, fabricId: fab.id, kind: 'nvl72', gpuCount: NVL72_RACK_GPUS });
              for (let t = 1; t <= NVL72_RACK_GPUS / spec.nodeGpus; t++) {
                addNode(`${rackId}-t${pad(t, 2)}`, rackId, group.gpuModel, undefined, gf);
              }
            } else {
              const nodeId = `${group.prefix ?? `${fab.id}-n`}${pad(serial, 3)}`;
              fleet.nvlinks.push({ id: `${nodeId}-nvl`, fabricId: fab.id, kind: 'hgx', gpuCount: spec.nodeGpus });
              addNode(nodeId, `${nodeId}-nvl`, group.gpuModel, undefined, gf);
            }
          }
        });
        (fab.nodes ?? []).forEach((node, ni) => {
          const nf = `${ff}.nodes[${ni}]`;
          const spec = GPU_CATALOG[node.gpuModel];
          if (spec.nvlink === 'nvl72') {
            throw invalid(`${nf}.gpuModel`, `${node.gpuModel} comes in NVL72 racks; declare it in nodeGroups`);
          }
          if (node.gpuUuids !== undefined && node.gpuUuids.length !== spec.nodeGpus) {
            throw invalid(`${nf}.gpuUuids`, `a ${node.gpuModel} node has ${spec.nodeGpus} GPUs, got ${node.gpuUuids.length} uuids`);
          }
          fleet.nvlinks.push({ id: `${node.id}-nvl`, fabricId: fab.id, kind: 'hgx', gpuCount: spec.nodeGpus });
          addNode(node.id, `${node.id}-nvl`, node.gpuModel, node.gpuUuids, `${nf}.id`);
        });
      });
    });
  });

  const nodeById = new Map(fleet.nodes.map((n) => [n.id, n]));
  for (const [nodeId, state] of Object.entries(spec.nodeStates ?? {})) {
    const node = nodeById.get(nodeId);
    if (!node) throw invalid(`nodeStates.${nodeId}`, 'no such node in this spec');
    node.state = state as NodeState;
  }

  fleet.prices = resolvePriceBook(spec.prices ?? []);
  return fleet;
}

/** Catalog list prices, overridden by the spec's entries. One entry per model and class. */
export function resolvePriceBook(overrides: FleetSpec['prices'] & object): PriceEntry[] {
  const out = new Map<string, PriceEntry>();
  for (const model of GPU_MODEL_IDS) {
    for (const [leaseClass, price] of Object.entries(GPU_CATALOG[model].listPriceMicrosPerGpuHour)) {
      out.set(`${model}/${leaseClass}`, { gpuModel: model, leaseClass: leaseClass as PriceEntry['leaseClass'], priceMicrosPerGpuHour: price });
    }
  }
  overrides.forEach((p, i) => {
    const key = `${p.gpuModel}/${p.class}`;
    if (overrides.findIndex((q) => `${q.gpuModel}/${q.class}` === key) !== i) {
      throw invalid(`prices[${i}]`, `duplicate price for ${key}`);
    }
    out.set(key, { gpuModel: p.gpuModel, leaseClass: p.class, priceMicrosPerGpuHour: p.priceMicrosPerGpuHour });
  });
  return [...out.values()];
}
