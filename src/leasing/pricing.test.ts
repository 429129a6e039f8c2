import { describe, expect, it } from 'vitest';
import { leaseTotalMicros } from './pricing.js';

describe('leaseTotalMicros', () => {
  it('is price × GPUs × hours in integer micro-dollars', () => {
    expect(leaseTotalMicros(2_490_000, 8, 3_600_000)).toBe(19_920_000);
    expect(leaseTotalMicros(2_490_000, 16, 2 * 3_600_000)).toBe(79_680_000);
  });
  it('rounds half up to the micro for partial hours', () => {
    expect(leaseTotalMicros(1, 1, 1_800_000)).toBe(1); // 0.5 µ$ rounds up
    expect(leaseTotalMicros(1, 1, 1_799_999)).toBe(0);
  });
  it('stays exact past 2^53 intermediate products', () => {
    // 6 M$/GPU-h is absurd but the product 6e6 × 1e5 × 9.47e10 ms passes 2^53 before the division.
    expect(leaseTotalMicros(3_000_000, 100_000, 26_304 * 3_600_000)).toBe(3_000_000 * 100_000 * 26_304);
  });
});
