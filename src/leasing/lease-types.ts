import type { Currency } from '../pricing/index.js';
import type { GpuModelId } from '../fleet/index.js';

/**
 * `internal`: the owner's own work (a hyperscaler selling its excess). Operator only. Under the
 * default policy it is preemptible by reserved and on-demand leases (it fills what is unsold);
 * with NEOCLOUD_INTERNAL_POLICY=internal-first it is not, and it may preempt spot.
 */
export const LEASE_CLASSES = ['reserved', 'on-demand', 'spot', 'internal'] as const;
export type LeaseClass = (typeof LEASE_CLASSES)[number];

/**
 * Gang constraint: every GPU of the lease in one NVLink domain, one fabric domain (IB/RoCE leaf
 * group), one site — or anywhere (the engine still packs `any` into the tightest domain that fits).
 */
export const PLACEMENTS = ['same-nvlink', 'same-fabric', 'same-site', 'any'] as const;
export type Placement = (typeof PLACEMENTS)[number];

/**
 * Derived from the clock: never stored, so it cannot go stale. `queued`: a request waiting for
 * capacity (no GPUs yet); it is `expired` if its wait runs out first.
 */
export type LeaseState = 'queued' | 'scheduled' | 'active' | 'released' | 'expired' | 'failed' | 'preempting' | 'preempted';

export interface LeaseGpu {
  uuid: string;
  nodeId: string;
}

/** A lease as stored. Times are epoch milliseconds, UTC; the window is half-open [start, end). */
export interface Lease {
  id: string;
  tenantId: string;
  gpuModel: GpuModelId;
  gpuCount: number;
  leaseClass: LeaseClass;
  placement: Placement;
  region: string | null;
  startMs: number;
  endMs: number;
  releasedAtMs: number | null;
  /** Set when the lease could not be kept: its node went down and nothing else fitted. */
  failedAtMs: number | null;
  stateReason: string | null;
  /** Spot only: the end of the preemption notice, when the GPUs pass to `preemptedBy`. */
  preemptedAtMs: number | null;
  preemptedBy: string | null;
  /**
   * The tenant's price from the rate card when booked (src/pricing), integer micros of `currency`
   * per GPU-hour (a bigint: money never travels as a float or an unchecked number). Kept for the
   * lease's life: it is what the invoice bills.
   */
  priceMicrosPerGpuHour: bigint;
  /** Quoted total for the billed window, rounded as the invoices round it (pricing `gpuTimeCharge`), micros of `currency`. */
  totalMicros: bigint;
  /** The tenant's billing currency when booked. */
  currency: Currency;
  createdAtMs: number;
  /**
   * Set while the lease is a queued request: it waits for capacity until then. Its window
   * (start, end) is then the requested length from the request time, and it has no GPUs; when
   * placed, the window moves to the placement time and this is cleared.
   */
  queuedUntilMs: number | null;
  gpus: LeaseGpu[];
}

/** A validated request to place and book GPUs. */
export interface LeaseRequest {
  tenantId: string;
  gpuModel: GpuModelId;
  gpuCount: number;
  leaseClass: LeaseClass;
  placement: Placement;
  region: string | null;
  startMs: number;
  endMs: number;
  /** Wait for capacity until this time instead of being refused (on-demand, spot, internal). */
  queueUntilMs: number | null;
}

type StateFields = Pick<Lease, 'startMs' | 'endMs' | 'releasedAtMs'> & { failedAtMs?: number | null; preemptedAtMs?: number | null; queuedUntilMs?: number | null };

export function leaseState(lease: StateFields, nowMs: number): LeaseState {
  if (lease.releasedAtMs !== null) return 'released';
  if (lease.queuedUntilMs !== undefined && lease.queuedUntilMs !== null) return nowMs < lease.queuedUntilMs ? 'queued' : 'expired';
  if (lease.failedAtMs !== undefined && lease.failedAtMs !== null) return 'failed';
  if (lease.preemptedAtMs !== undefined && lease.preemptedAtMs !== null) {
    if (nowMs >= lease.preemptedAtMs || lease.preemptedAtMs <= lease.startMs) return 'preempted';
    if (nowMs < lease.endMs) return 'preempting';
  }
  if (nowMs >= lease.endMs) return 'expired';
  if (nowMs < lease.startMs) return 'scheduled';
  return 'active';
}

/** The end of the GPUs' hold: a release before the end frees them from that moment. */
export function heldUntilMs(lease: StateFields): number {
  const stop = lease.releasedAtMs ?? lease.failedAtMs ?? lease.preemptedAtMs ?? null;
  if (stop === null) return lease.endMs;
  return Math.max(lease.startMs, Math.min(lease.endMs, stop));
}
