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
