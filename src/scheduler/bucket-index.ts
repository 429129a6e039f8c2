/**
 * Items (dense integer ids) kept in buckets by an integer key 0..maxKey, with "the first item
 * whose key is the least ≥ k" in O(maxKey / 32) word scans. The engine keeps NVLink and fabric
 * domains here by free GPUs and by free whole nodes, so best fit never scans all domains.
 * Within a bucket items are in insertion order (FIFO), so results are deterministic.
 */
export class BucketIndex {
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly keyOf: Int32Array;
  private readonly nonEmpty: Uint32Array;

  constructor(items: number, readonly maxKey: number) {
    this.head = new Int32Array(maxKey + 1).fill(-1);
    this.tail = new Int32Array(maxKey + 1).fill(-1);
    this.next = new Int32Array(items).fill(-1);
    this.prev = new Int32Array(items).fill(-1);
    this.keyOf = new Int32Array(items).fill(-1);
    this.nonEmpty = new Uint32Array((maxKey >>> 5) + 1);
  }

  key(item: number): number {
    return this.keyOf[item]!;
  }

  /** Puts `item` in bucket `key` (moving it if it was elsewhere). */
  set(item: number, key: number): void {
    const k = key > this.maxKey ? this.maxKey : key;
    const old = this.keyOf[item]!;
    if (old === k) return;
    if (old !== -1) this.unlink(item, old);
    this.keyOf[item] = k;
    const t = this.tail[k]!;
    this.prev[item] = t;
    this.next[item] = -1;
    if (t === -1) {
      this.head[k] = item;
      this.nonEmpty[k >>> 5]! |= 1 << (k & 31);
    } else {
      this.next[t] = item;
    }
    this.tail[k] = item;
  }

  private unlink(item: number, k: number): void {
    const p = this.prev[item]!;
    const n = this.next[item]!;
    if (p === -1) this.head[k] = n;
    else this.next[p] = n;
    if (n === -1) this.tail[k] = p;
    else this.prev[n] = p;
    if (this.head[k] === -1) this.nonEmpty[k >>> 5]! &= ~(1 << (k & 31));
  }

  /** The first item in bucket `key` (which must be non-empty). */
  firstAt(key: number): number {
    return this.head[key]!;
  }

  /** Least non-empty key ≥ k, or -1. */
  nextKey(k: number): number {
    if (k > this.maxKey) return -1;
    let w = k >>> 5;
    let bits = this.nonEmpty[w]! & (~0 << (k & 31));
    while (bits === 0) {
      w++;
      if (w >= this.nonEmpty.length) return -1;
      bits = this.nonEmpty[w]!;
    }
    return (w << 5) + (31 - Math.clz32(bits & -bits));
  }

  /**
   * Visits items in order of increasing key, starting at keys ≥ k, until `visit` returns true.
   * Returns the item accepted, or -1.
   */
  findFrom(k: number, visit: (item: number, key: number) => boolean): number {
    for (let key = this.nextKey(k); key !== -1; key = key >= this.maxKey ? -1 : this.nextKey(key + 1)) {
      for (let it = this.head[key]!; it !== -1; it = this.next[it]!) {
        if (visit(it, key)) return it;
      }
    }
    return -1;
  }
}
