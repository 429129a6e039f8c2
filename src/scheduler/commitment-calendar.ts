/**
 * Committed capacity of one GPU model over time, in 10-minute slots: GPUs promised to
 * reservations plus GPUs held by running non-preemptible work. Admission asks whether a window
 * can take g more without passing the installed capacity in any slot. A segment tree with range
 * add and range max: O(log n) per call over 2^17 slots (~2.5 years from the start of the run).
 * A window touching part of a slot counts for the whole slot (conservative). Units are
 * thousandths of a GPU so GPU-sharing tasks count exactly.
 */
const LEAVES = 1 << 17;
const HOUR_S = 600; // slot length, seconds

export class CommitmentCalendar {
  private readonly max = new Float64Array(2 * LEAVES);
  private readonly lazy = new Float64Array(2 * LEAVES);
  private readonly capacityMilli: number;

  constructor(capacityGpus: number) {
    this.capacityMilli = capacityGpus * 1000;
  }

  /** Slots [from, to) touched by [fromS, toS). */
  private span(fromS: number, toS: number): [number, number] {
    const a = Math.max(0, Math.floor(fromS / HOUR_S));
    const b = Math.min(LEAVES, Math.max(a + 1, Math.ceil(toS / HOUR_S)));
    return [Math.min(a, LEAVES - 1), b];
  }

  fits(fromS: number, toS: number, gpus: number, milli = 1000): boolean {
    const [a, b] = this.span(fromS, toS);
    return this.query(1, 0, LEAVES, a, b) + gpus * milli <= this.capacityMilli;
  }

  /** Adds (or with negative gpus removes) a commitment over [fromS, toS). */
  add(fromS: number, toS: number, gpus: number, milli = 1000): void {
    if (toS <= fromS) return;
    const [a, b] = this.span(fromS, toS);
    this.update(1, 0, LEAVES, a, b, gpus * milli);
  }

  /** Highest commitment over [fromS, toS), in GPUs. */
  peak(fromS: number, toS: number): number {
    const [a, b] = this.span(fromS, toS);
    return this.query(1, 0, LEAVES, a, b) / 1000;
  }

  private update(node: number, lo: number, hi: number, a: number, b: number, v: number): void {
    if (b <= lo || hi <= a) return;
    if (a <= lo && hi <= b) {
      this.max[node]! += v;
      this.lazy[node]! += v;
      return;
    }
    const mid = (lo + hi) >>> 1;
    this.update(2 * node, lo, mid, a, b, v);
    this.update(2 * node + 1, mid, hi, a, b, v);
    this.max[node] = Math.max(this.max[2 * node]!, this.max[2 * node + 1]!) + this.lazy[node]!;
  }

  private query(node: number, lo: number, hi: number, a: number, b: number): number {
    if (b <= lo || hi <= a) return -Infinity;
    if (a <= lo && hi <= b) return this.max[node]!;
    const mid = (lo + hi) >>> 1;
    return Math.max(this.query(2 * node, lo, mid, a, b), this.query(2 * node + 1, mid, hi, a, b)) + this.lazy[node]!;
  }
}
