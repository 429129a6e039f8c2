import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from './heap.js';

describe('MinHeap', () => {
  it('pops in the order a full sort gives, for any input (ties kept by a total order)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), fc.nat())), (xs) => {
      const items = xs.map(([k, id], i) => ({ k, id, i }));
      const less = (a: typeof items[0], b: typeof items[0]) => a.k < b.k || (a.k === b.k && a.i < b.i);
      const expected = [...items].sort((a, b) => a.k - b.k || a.i - b.i);
      const h = new MinHeap([...items], less);
      const got: typeof items = [];
      for (let x = h.pop(); x !== undefined; x = h.pop()) got.push(x);
      expect(got).toEqual(expected);
      expect(h.size).toBe(0);
    }));
  });
});
