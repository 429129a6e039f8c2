import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BucketIndex } from './bucket-index.js';

describe('BucketIndex', () => {
  it('finds the least key ≥ k, FIFO within a bucket', () => {
    const b = new BucketIndex(10, 100);
    b.set(0, 5);
    b.set(1, 70);
    b.set(2, 5);
    b.set(3, 33);
    expect(b.findFrom(0, () => true)).toBe(0);
    expect(b.findFrom(6, () => true)).toBe(3);
    expect(b.findFrom(34, () => true)).toBe(1);
    expect(b.findFrom(71, () => true)).toBe(-1);
    expect(b.findFrom(0, (it) => it === 2)).toBe(2);
    b.set(0, 40);
    expect(b.findFrom(0, () => true)).toBe(2);
    expect(b.nextKey(34)).toBe(40);
  });

  it('agrees with a linear scan under random updates', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(19), fc.nat(200)), { maxLength: 200 }), fc.nat(220), (ops, k) => {
      const b = new BucketIndex(20, 200);
      const keys = new Map<number, number>();
      for (const [item, key] of ops) {
        b.set(item, key);
        keys.set(item, key);
      }
      const expected = [...keys.values()].filter((v) => v >= k).sort((x, y) => x - y)[0];
      const got = b.findFrom(k, () => true);
      if (expected === undefined) expect(got).toBe(-1);
      else expect(keys.get(got)).toBe(expected);
    }));
  });
});
