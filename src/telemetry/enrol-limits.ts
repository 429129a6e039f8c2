/**
 * How often enrolment may be tried (issue 24: nothing limited it). An attempt costs a token hash and
 * store reads, and a success revokes the node's previous agent, so both a node and an address are
 * limited, in memory per control plane (src/shared/rate-limit.ts):
 *
 * - per node: 5 at once, then one a minute. A real agent enrols once; one that retries a refused
 *   enrolment every few seconds is told to wait instead of hammering the store.
 * - per address: 120 at once, then two a second. A rack of agents behind one NAT address enrols
 *   together (a GB200 NVL72 rack is 18 nodes; a hall, a few hundred over a few minutes).
 *
 * A refusal is a 429 with Retry-After, before the token is looked at.
 */
import type { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import { RateLimiter, type BucketRule } from '../shared/rate-limit.js';

export const ENROL_PER_NODE: BucketRule = { burst: 5, refillMs: 60_000 };
export const ENROL_PER_ADDRESS: BucketRule = { burst: 120, refillMs: 500 };

export class EnrolLimiter {
  private readonly limiter: RateLimiter;

  constructor(clock: Clock, private readonly rules = { perNode: ENROL_PER_NODE, perAddress: ENROL_PER_ADDRESS }) {
    this.limiter = new RateLimiter(clock);
  }

  /** Counts an attempt for `nodeId` from `address`; throws a 429 (rate_limited, with `retryAfterS`) when either has none left. */
  attempt(nodeId: string, address: string): void {
    const waitS = this.limiter.take([{ key: `node:${nodeId}`, rule: this.rules.perNode }, { key: `addr:${address}`, rule: this.rules.perAddress }]);
    if (waitS === null) return;
    throw new DomainError('rate_limited',
      `enrolment: too many attempts for node ${nodeId} or from ${address} (at most ${this.rules.perNode.burst} per node, then one per ${this.rules.perNode.refillMs / 1000} s; ` +
      `${this.rules.perAddress.burst} per address, then one per ${this.rules.perAddress.refillMs / 1000} s); retry in ${waitS} s`,
      { retryAfterS: waitS });
  }
}
