/**
 * The wire shapes the console reads. They mirror the HTTP contract (see /openapi.json), not the
 * server's internal types, so the console depends on the API only.
 */

export type GpuModel = 'H100-SXM' | 'H200' | 'B200' | 'GB200' | 'MI300X';
export const GPU_MODELS: readonly GpuModel[] = ['H100-SXM', 'H200', 'B200', 'GB200', 'MI300X'];

export interface NodeStates { ready: number; draining: number; down: number }

export interface FleetSite {
  id: string;
  name: string;
  region: string;
  pue: number;
  powerCapW: number;
  installedGpus: number;
  runnableGpus: number;
  gpusByModel: Partial<Record<string, number>>;
  nodesByState: NodeStates;
  usage?: {
    leasedGpus: number;
    leasedW: number;
    byModel: Partial<Record<string, { installed: number; leased: number }>>;
  };
}

export interface FleetOverview {
  asOf: string;
  totals: {
    sites: number;
    nodes: number;
    installedGpus: number;
    runnableGpus: number;
    leasedGpus: number;
    leasedShare: number;
    powerCapW: number;
    leasedW: number;
  };
  sites: FleetSite[];
}

export type LeaseState = 'scheduled' | 'active' | 'released' | 'expired';

export interface Lease {
  id: string;
  tenantId: string;
  state: LeaseState;
  gpuModel: string;
  gpuCount: number;
  class: string;
  placement: string;
  region: string | null;
  start: string;
  end: string;
  releasedAt: string | null;
  /** Integer micro-dollars. */
  totalMicros: number;
}

export interface LeasePage { leases: Lease[]; nextCursor: string | null }

export interface FabricCapacity {
  fabricId: string;
  hallId: string;
  installedGpus: number;
  freeGpus: number;
  freeNodes: number;
}

export interface SiteCapacity {
  siteId: string;
  region: string;
  installedGpus: number;
  freeGpus: number;
  availableGpus: number;
  powerCapW: number;
  peakLeasedW: number;
  fabrics: FabricCapacity[];
}

export interface CapacityReport {
  gpuModel: string | null;
  region: string | null;
  start: string;
  end: string;
  installedGpus: number;
  freeGpus: number;
  availableGpus: number;
  sites: SiteCapacity[];
}

export interface SchedulerSite {
  siteId: string;
  inServiceGpus: number;
  leasedGpus: number;
  utilization: number;
  powerUsedW: number;
  powerCapW: number;
}

export interface SchedulerHall {
  hallId: string;
  siteId: string;
  inServiceGpus: number;
  leasedGpus: number;
  powerUsedW: number;
  powerCapW: number;
}

/** The largest gang one GPU model can still take now, per placement level. */
export interface LargestGang {
  gpuModel: string;
  freeGpus: number;
  nvlink: number;
  fabric: number;
  site: number;
  any: number;
}

export interface SchedulerFabric {
  fabricId: string;
  gpuModel: string;
  freeGpus: number;
  /** Free GPUs on nodes with no GPU leased. */
  wholeNodeGpus: number;
  installedGpus: number;
}

/** GET /v1/scheduler/status (operator only). */
export interface SchedulerStatus {
  asOf: string;
  installedGpus: number;
  inServiceGpus: number;
  leasedGpus: number;
  utilization: number;
  /** Share of free GPUs on partly used nodes. */
  fragmentation: number;
  sites: SchedulerSite[];
  halls: SchedulerHall[];
  largestGang: LargestGang[];
  fabrics: SchedulerFabric[];
  /** Leases booked to start later. */
  queue: { scheduledLeases: number; scheduledGpus: number; startingWithin24h: number };
}

export interface Tenant { id: string; name: string }
