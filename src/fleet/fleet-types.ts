import type { GpuModelId } from './gpu-catalog.js';

/** The expanded fleet: every entity concrete, ids unique per kind. Power in watts (integers). */
export type PowerSourceKind = 'gas' | 'grid' | 'renewable';
export type FabricKind = 'infiniband' | 'roce' | 'ethernet';
export type NvlinkKind = 'hgx' | 'nvl72';
export type NodeState = 'ready' | 'draining' | 'down';

export const POWER_SOURCE_KINDS = ['gas', 'grid', 'renewable'] as const satisfies readonly PowerSourceKind[];
export const FABRIC_KINDS = ['infiniband', 'roce', 'ethernet'] as const satisfies readonly FabricKind[];
export const NODE_STATES = ['ready', 'draining', 'down'] as const satisfies readonly NodeState[];

export interface PowerSource {
  id: string;
  siteId: string;
  kind: PowerSourceKind;
  capacityW: number;
  /** Energy price, integer micro-dollars per MWh. */
  priceMicrosPerMwh: number;
}

export interface Site {
  id: string;
  name: string;
  region: string;
  /** Facility power cap (what the site may draw from its sources), watts. */
  powerCapW: number;
  /** Power usage effectiveness: facility power / IT power. */
  pue: number;
}

export interface Hall {
  id: string;
  siteId: string;
  /** Facility power cap of the hall, watts. */
  powerCapW: number;
}

export interface FabricDomain {
  id: string;
  hallId: string;
  siteId: string;
  kind: FabricKind;
}

export interface NvlinkDomain {
  id: string;
  fabricId: string;
  kind: NvlinkKind;
  gpuCount: number;
}

export interface FleetNode {
  id: string;
  siteId: string;
  hallId: string;
  fabricId: string;
  nvlinkId: string;
  gpuModel: GpuModelId;
  state: NodeState;
}

export interface Gpu {
  uuid: string;
  nodeId: string;
  /** Index on the node, 0-based, as nvidia-smi numbers it. */
  index: number;
  model: GpuModelId;
}

export interface PriceEntry {
  gpuModel: GpuModelId;
  leaseClass: 'reserved' | 'on-demand' | 'spot' | 'internal';
  priceMicrosPerGpuHour: number;
}

export interface Fleet {
  powerSources: PowerSource[];
  sites: Site[];
  halls: Hall[];
  fabrics: FabricDomain[];
  nvlinks: NvlinkDomain[];
  nodes: FleetNode[];
  gpus: Gpu[];
  prices: PriceEntry[];
}

export function emptyFleet(): Fleet {
  return { powerSources: [], sites: [], halls: [], fabrics: [], nvlinks: [], nodes: [], gpus: [], prices: [] };
}
