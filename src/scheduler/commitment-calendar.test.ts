import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommitmentCalendar } from './commitment-calendar.js';

describe('CommitmentCalendar', () => {
  it('admits up to capacity per hour and frees on removal', () => {
    const c = new CommitmentCalendar(16);
    c.add(0, 7200, 8);
    c.add(3600, 10_800, 8);
    expect(c.fits(3600, 7200, 1)).toBe(false);
    expect(c.fits(7200, 10_800, 8)).toBe(true);
    expect(c.fits(0, 3600, 8)).toBe(true);
    c.add(3600, 10_800, -8);
    expect(c.fits(3600, 7200, 8)).toBe(true);
    expect(c.peak(0, 100_000)).toBe(8);
  });

  it('agrees with a per-hour array', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 50 }), fc.integer({ min: -5, max: 10 })), { maxLength: 40 }), fc.nat(200), fc.integer({ min: 1, max: 50 }), (ops, qa, ql) => {
      const c = new CommitmentCalendar(1000);
      const hours = new Array(300).fill(0);
      for (const [a, len, g] of ops) {
        c.add(a * 3600, (a + len) * 3600, g);
        for (let h = a; h < a + len; h++) hours[h] += g;
      }
      const expected = Math.max(...hours.slice(qa, qa + ql));
      expect(c.peak(qa * 3600, (qa + ql) * 3600)).toBe(expected);
    }));
  });
});
