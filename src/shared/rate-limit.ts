/**
 * Token buckets per key (an address, a node id), on an injected clock: each key holds at most
 * `burst` attempts and earns one back every `refillMs`. An attempt that finds a bucket empty is
 * refused with the time until its next token. Kept in memory, per process: a limit for one control
 * plane (several planes each allow their own), which is what a flood against one needs.
 *
 * The table is bounded (`maxKeys`): keys chosen by a caller (a node id in a body) cannot grow it
 * without end. When full, keys whose buckets have refilled are forgotten first (they hold nothing
 * a new bucket would not); if every bucket is still draining, the attempt is refused (fail closed).
 */
import type { Clock } from './clock.js';

export interface BucketRule {
  /** Attempts allowed at once. */
  burst: number;
  /** One attempt earned back per this many milliseconds. */
  refillMs: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
  rule: BucketRule;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock, private readonly maxKeys = 100_000) {}

  /**
   * Takes one attempt from every bucket in `keys` (each with its rule), all or none: null when
   * allowed, else the seconds until every bucket has a token again (for Retry-After).
   */
  take(keys: readonly { key: string; rule: BucketRule }[]): number | null {
    const now = this.clock.nowMs();
    let waitMs = 0;
    const found = keys.map(({ key, rule }) => {
      const b = this.current(key, rule, now);
      if (b.tokens < 1) waitMs = Math.max(waitMs, Math.ceil((1 - b.tokens) * rule.refillMs));
      return b;
    });
    if (waitMs > 0) return Math.ceil(waitMs / 1000);
    if (!this.makeRoom(keys.filter(({ key }) => !this.buckets.has(key)).length, now)) return Math.ceil(Math.max(...keys.map((k) => k.rule.refillMs)) / 1000);
    keys.forEach(({ key }, i) => {
      const b = found[i]!;
      b.tokens -= 1;
      this.buckets.set(key, b);
    });
    return null;
  }

  /** The bucket of `key` as of `now` (a fresh, full one when unknown); not stored. */
  private current(key: string, rule: BucketRule, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: rule.burst, atMs: now, rule };
    return { tokens: refilled(b, now), atMs: now, rule };
  }

  /** Frees room for `n` new keys by forgetting refilled buckets; false if there is none to free. */
  private makeRoom(n: number, now: number): boolean {
    if (this.buckets.size + n <= this.maxKeys) return true;
    for (const [k, b] of this.buckets) {
      if (refilled(b, now) >= b.rule.burst) this.buckets.delete(k);
      if (this.buckets.size + n <= this.maxKeys) return true;
    }
    return false;
  }
}

/** A bucket's tokens at `now`: what it held plus what it earned since, at most its burst. */
const refilled = (b: Bucket, now: number): number => Math.min(b.rule.burst, b.tokens + Math.max(0, now - b.atMs) / b.rule.refillMs);
