/**
 * A binary min-heap over a caller's order (`less(a, b)`: a comes first). Built from an array in
 * O(n) and popped in O(log n), for searches that take the best few of many candidates and stop.
 */
export class MinHeap<T> {
  private readonly a: T[];

  /** Takes ownership of `items` (reorders it in place). */
  constructor(items: T[], private readonly less: (a: T, b: T) => boolean) {
    this.a = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.a.length;
  }

  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.less(a[r]!, a[l]!) ? r : l;
      if (!this.less(a[m]!, a[i]!)) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}
