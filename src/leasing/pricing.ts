/**
 * Pricing rules: the one place a lease's money is computed. Amounts are integer micro-dollars as
 * `bigint` end to end (a 100,000-GPU, 3-year lease at $1,000/GPU-h is 2.6 × 10^18 µ$, far past
 * 2^53); they leave the API as decimal strings.
 */
import type { PriceEntry } from '../fleet/index.js';
import { GPU_CATALOG, type GpuModelId } from '../fleet/index.js';
import { invalid } from '../shared/errors.js';
import type { LeaseClass } from './lease-types.js';

const MS_PER_HOUR = 3_600_000n;
/** The largest amount the store's `bigint` columns hold (2^63 − 1). */
export const MAX_MICROS = 9_223_372_036_854_775_807n;

/**
 * price × GPUs × duration, in integer micro-dollars, rounded half up to the micro. Exact for any
 * input; an amount the books cannot hold is a 400 naming `gpuCount` (the request's multiplier).
 */
export function leaseTotalMicros(priceMicrosPerGpuHour: bigint, gpuCount: number, durationMs: number): bigint {
  const num = priceMicrosPerGpuHour * BigInt(gpuCount) * BigInt(durationMs);
  const total = (num + MS_PER_HOUR / 2n) / MS_PER_HOUR;
  if (total > MAX_MICROS) throw invalid('gpuCount', `price × GPUs × hours is ${total} µ$, more than one lease can be billed (${MAX_MICROS} µ$); book fewer GPUs or a shorter window`);
  return total;
}

export class PriceBook {
  private readonly byKey = new Map<string, bigint>();
  constructor(entries: readonly PriceEntry[]) {
    for (const e of entries) this.byKey.set(`${e.gpuModel}/${e.leaseClass}`, BigInt(e.priceMicrosPerGpuHour));
  }
  /** The fleet's price, else the catalog's list price (a store written before a class existed). */
  priceMicrosPerGpuHour(model: GpuModelId, leaseClass: LeaseClass): bigint {
    return this.byKey.get(`${model}/${leaseClass}`) ?? BigInt(GPU_CATALOG[model].listPriceMicrosPerGpuHour[leaseClass]);
  }
}

/** What a quote is asked for: a class of GPU time on a model, in a region, for a window. */
export interface QuoteRequest {
  gpuModel: GpuModelId;
  leaseClass: LeaseClass;
  region: string | null;
  gpuCount: number;
  startMs: number;
  /** End of the billed window (a backfilled lease is billed to its preemption, not its booked end). */
  endMs: number;
}

export interface Quote {
  priceMicrosPerGpuHour: bigint;
  totalMicros: bigint;
}

/**
 * Where lease prices come from. The engine asks a Quoter and never computes a price itself, so
 * the market can supply prices later (a clearing price per model, region and window) without
 * touching placement.
 */
export interface Quoter {
  quote(q: QuoteRequest): Quote;
}

/** Today's quoter: the fleet's list prices per model and class, the same for every region and window. */
export class PriceBookQuoter implements Quoter {
  constructor(private readonly book: PriceBook) {}
  quote(q: QuoteRequest): Quote {
    const priceMicrosPerGpuHour = this.book.priceMicrosPerGpuHour(q.gpuModel, q.leaseClass);
    return { priceMicrosPerGpuHour, totalMicros: leaseTotalMicros(priceMicrosPerGpuHour, q.gpuCount, q.endMs - q.startMs) };
  }
}
