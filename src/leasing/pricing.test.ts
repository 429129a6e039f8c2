import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { MAX_MICROS, leaseTotalMicros } from './pricing.js';

describe('leaseTotalMicros', () => {
  it('is price × GPUs × hours in integer micro-dollars', () => {
    expect(leaseTotalMicros(2_490_000n, 8, 3_600_000)).toBe(19_920_000n);
    expect(leaseTotalMicros(2_490_000n, 16, 2 * 3_600_000)).toBe(79_680_000n);
  });
  it('rounds half up to the micro for partial hours', () => {
    expect(leaseTotalMicros(1n, 1, 1_800_000)).toBe(1n); // 0.5 µ$ rounds up
    expect(leaseTotalMicros(1n, 1, 1_799_999)).toBe(0n);
  });
  it('stays exact past 2^53: the total itself may pass it', () => {
    // $1,000/GPU-h (the highest price a fleet spec allows) × 400 GPUs × 26,304 h = 1.05 × 10^16 µ$ > 2^53.
    const total = leaseTotalMicros(1_000_000_000n, 400, 26_304 * 3_600_000);
    expect(total).toBe(10_521_600_000_000_000n);
    expect(total > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    // The largest request the API accepts still fits the books.
    expect(leaseTotalMicros(1_000_000_000n, 100_000, 26_304 * 3_600_000)).toBe(2_630_400_000_000_000_000n);
  });
  it('refuses, naming the field, an amount the books cannot hold', () => {
    let err: unknown;
    try { leaseTotalMicros(MAX_MICROS, 2, 3_600_000); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).extensions).toMatchObject({ field: 'gpuCount' });
  });
});
