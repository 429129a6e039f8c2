/**
 * The wire shapes the console reads. Where the server already names a response type it is
 * imported as a type (erased by esbuild), so console and API cannot drift; the rest mirror the
 * HTTP contract (see /openapi.json).
 */
import type { LeaseView } from '../../src/leasing/lease-schemas.js';

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
  /** Measured draw from the node agents (W): board power and facility power (× overhead × PUE, comparable with leasedW). */
  measured?: { totals: MeasuredPower; sites: Record<string, MeasuredPower & { halls: Record<string, MeasuredPower> }> };
}

export interface MeasuredPower { gpuW: number; facilityW: number; reportingNodes: number }

/** GET /v1/nodes/{id} and the answer of drain/cordon/resume/recover. */
export type { NodeTelemetryView as NodeView, EnrolmentToken } from '../../src/telemetry/telemetry-service.js';

export type Lease = LeaseView;
export type LeaseState = LeaseView['state'];

export interface LeasePage { leases: Lease[]; nextCursor: string | null }

export type { CapacityReport, FabricCapacity, SiteWindowCapacity as SiteCapacity } from '../../src/leasing/capacity-report.js';
export type { SchedulerStatus } from '../../src/leasing/status.js';
import type { SchedulerStatus } from '../../src/leasing/status.js';

export type SchedulerSite = SchedulerStatus['sites'][number];
export type SchedulerHall = SchedulerStatus['halls'][number];
/** The largest gang one GPU model can still take now, per placement level. */
export type LargestGang = SchedulerStatus['largestGang'][number];
export type SchedulerFabric = SchedulerStatus['fabrics'][number];
export interface Tenant { id: string; name: string }

// The key shapes are the server's own (type-only imports, erased by esbuild).
export type { IssuedKey as CreatedKey, KeyView, RotatedAdminKey, WhoAmI } from '../../src/tenancy/tenant-service.js';
