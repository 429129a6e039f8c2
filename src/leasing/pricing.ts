import type { PriceEntry } from '../fleet/index.js';
import { GPU_CATALOG, type GpuModelId } from '../fleet/index.js';
import type { LeaseClass } from './lease-types.js';

const MS_PER_HOUR = 3_600_000n;

/**
 * price × GPUs × duration, in integer micro-dollars, rounded half up to the micro. BigInt keeps
 * the intermediate product exact (it passes 2^53 for large, long leases).
 */
export function leaseTotalMicros(priceMicrosPerGpuHour: number, gpuCount: number, durationMs: number): number {
  const num = BigInt(priceMicrosPerGpuHour) * BigInt(gpuCount) * BigInt(durationMs);
  const total = (num + MS_PER_HOUR / 2n) / MS_PER_HOUR;
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('lease total exceeds the safe integer range');
  return Number(total);
}

export class PriceBook {
  private readonly byKey = new Map<string, number>();
  constructor(entries: readonly PriceEntry[]) {
    for (const e of entries) this.byKey.set(`${e.gpuModel}/${e.leaseClass}`, e.priceMicrosPerGpuHour);
  }
  /** The fleet's price, else the catalog's list price (a store written before a class existed). */
  priceMicrosPerGpuHour(model: GpuModelId, leaseClass: LeaseClass): number {
    return this.byKey.get(`${model}/${leaseClass}`) ?? GPU_CATALOG[model].listPriceMicrosPerGpuHour[leaseClass];
  }
}
