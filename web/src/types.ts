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
}

export type Lease = LeaseView;
export type LeaseState = LeaseView['state'];

export interface LeasePage { leases: Lease[]; nextCursor: string | null }

export type { CapacityReport, FabricCapacity, SiteWindowCapacity as SiteCapacity } from '../../src/leasing/capacity-report.js';
export type { SchedulerStatus } from '../../src/scheduler/status.js';
import type { SchedulerStatus } from '../../src/scheduler/status.js';

export type SchedulerSite = SchedulerStatus['sites'][number];
export type SchedulerHall = SchedulerStatus['halls'][number];
/** The largest gang one GPU model can still take now, per placement level. */
export type LargestGang = SchedulerStatus['largestGang'][number];
export type SchedulerFabric = SchedulerStatus['fabrics'][number];
export interface Tenant { id: string; name: string }

/** GET /v1/whoami: the caller's role, tenant and key. */
export interface WhoAmI { kind: 'admin' | 'tenant'; tenantId: string | null; keyId: string }

/** An API key as the API shows it: the prefix is the secret's first characters, never the secret. */
export interface KeyView {
  id: string;
  tenantId: string | null;
  role: 'admin' | 'tenant';
  prefix: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
/** POST /v1/tenants/{id}/keys → 201; `apiKey` is the secret, shown once (null on an idempotent replay). */
export interface CreatedKey { tenantId: string; key: KeyView; apiKey: string | null }
/** POST /v1/admin/keys/rotate → 201; the key that made the call is revoked. */
export interface RotatedAdminKey { key: KeyView; apiKey: string | null; revokedKeyId: string }
