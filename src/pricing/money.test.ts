import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divHalfEven, gpuTimeCharge, MAX_MICROS, MINOR_UNIT_MICROS, roundCharge, roundUnitPrice } from './money.js';

const H = 3_600_000;
const DEC = Date.parse('2026-12-01T00:00:00Z');

describe('rounding rules', () => {
  it('a charge rounds half to even at the minor unit', () => {
    expect(roundCharge(5_000n, 1n, 'USD')).toBe(0n); // half a cent → 0 (even)
    expect(roundCharge(15_000n, 1n, 'USD')).toBe(20_000n); // 1.5 cents → 2 cents
    expect(roundCharge(15_001n, 1n, 'USD')).toBe(20_000n);
    expect(roundCharge(-15_000n, 1n, 'USD')).toBe(-20_000n);
    expect(roundCharge(1_500_000n, 1n, 'JPY')).toBe(2_000_000n);
  });
  it('a unit price rounds half to even at the micro', () => {
    expect(roundUnitPrice(2_490_000n * 9_000n, 10_000n)).toBe(2_241_000n);
    expect(roundUnitPrice(25n, 10n)).toBe(2n);
    expect(roundUnitPrice(35n, 10n)).toBe(4n);
  });
  it('divHalfEven agrees with exact rational rounding', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (n, d) => {
      const q = divHalfEven(n, d);
      // |n − q·d| ≤ d/2, and on a tie q is even
      const r = n - q * d;
      const twice = 2n * (r < 0n ? -r : r);
      expect(twice <= d).toBe(true);
      if (twice === d) expect(q % 2n).toBe(0n);
    }));
  });
});

describe('gpuTimeCharge', () => {
  it('is price × GPUs × hours for whole cents', () => {
    expect(gpuTimeCharge(2_490_000n, 8, DEC, DEC + H, 'USD')).toBe(19_920_000n);
    expect(gpuTimeCharge(2_490_000n, 16, DEC, DEC + 2 * H, 'USD')).toBe(79_680_000n);
  });
  it('rounds each calendar month of the window on its own, then sums (what the monthly invoices bill)', () => {
    // 1 GPU at $0.015/h: 1 h in November and 1 h in December are 1.5 cents each → 2 + 2 cents, not round(3) = 3.
    const start = DEC - H;
    expect(gpuTimeCharge(15_000n, 1, start, DEC + H, 'USD')).toBe(40_000n);
    expect(gpuTimeCharge(15_000n, 1, DEC, DEC + 2 * H, 'USD')).toBe(30_000n);
  });
  it('is always a whole number of minor units, and within half a unit per month of the exact value', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: 1_000_000_000n }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 0, max: 400 * 24 * H }), fc.integer({ min: 0, max: 3 * 366 * 24 * H }),
      fc.constantFrom('USD' as const, 'JPY' as const),
      (price, gpus, offset, len, cur) => {
        const start = DEC - 200 * 24 * H + offset;
        const total = gpuTimeCharge(price, gpus, start, start + len, cur);
        expect(total % MINOR_UNIT_MICROS[cur]).toBe(0n);
        const exact2 = 2n * price * BigInt(gpus) * BigInt(len); // 2 × exact × H
        const months = BigInt(Math.ceil(len / (28 * 24 * H)) + 1);
        const diff = 2n * total * BigInt(H) - exact2;
        expect((diff < 0n ? -diff : diff) <= months * MINOR_UNIT_MICROS[cur] * BigInt(H)).toBe(true);
      },
    ));
  });
  it('stays exact past 2^53 and refuses past the books', () => {
    const total = gpuTimeCharge(1_000_000_000n, 400, DEC, DEC + 26_304 * H, 'USD');
    expect(total).toBe(10_521_600_000_000_000n);
    expect(() => gpuTimeCharge(MAX_MICROS, 2, DEC, DEC + H, 'USD')).toThrow(RangeError);
  });
});
