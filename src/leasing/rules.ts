/**
 * The scheduling rules, stated once: which class outranks which, who may preempt whom, who
 * backfills, how long a preemption notice is. The engine (engine.ts) applies them for the lease
 * API, the simulator and the benchmarks alike; nothing else decides these questions.
 */
import type { LeaseClass } from './lease-types.js';

/**
 * The operator's policy knobs.
 * - `internalFirst`: false (default, "revenue"): internal work only fills what is unsold — it is
 *   preempted by reserved and on-demand work, backfills like spot and never preempts anything.
 *   true ("internal-first", a hyperscaler's own work first): internal work outranks on-demand, is
 *   never preempted, and may preempt spot.
 * - `noticeMs`: how long a preempted lease keeps its GPUs (state `preempting`) before they pass to
 *   the lease that preempted it; milliseconds, ≥ 0.
 */
export interface EnginePolicy {
  internalFirst: boolean;
  noticeMs: number;
  /** Preemption on (the default); off: nothing is ever preempted (the simulator's strict-priority baseline). */
  preemption: boolean;
  /** Backfill on (the default); off: preemptible work never runs in front of a booking. */
  backfill: boolean;
  /**
   * How a gang that fits one NVLink domain picks it (ENGINE_PLACEMENTS): `bestfit` (absent: the
   * default) the least capacity that fits; `fgd` fragmentation gradient descent over the gang sizes
   * this engine has been asked for (allocator.ts GangSizes). Preemption, backfill and re-placement
   * after failures place by best fit either way; topology and power rules are the same.
   */
  placement?: EnginePlacement;
}

export const ENGINE_PLACEMENTS = ['bestfit', 'fgd'] as const;
export type EnginePlacement = (typeof ENGINE_PLACEMENTS)[number];

export const DEFAULT_POLICY: Readonly<EnginePolicy> = { internalFirst: false, noticeMs: 300_000, preemption: true, backfill: true };

/** Queue order, higher first: reserved > on-demand > internal > spot (internal above on-demand when internalFirst). */
export function rankOf(c: LeaseClass, p: EnginePolicy): number {
  return c === 'reserved' ? 4 : c === 'on-demand' ? 3 : c === 'internal' ? (p.internalFirst ? 3.5 : 2) : 1;
}

/** Whether a request of class `by` may preempt at all (spot never; internal only when it comes first). */
export function preempts(by: LeaseClass, p: EnginePolicy): boolean {
  return p.preemption && (by === 'reserved' || by === 'on-demand' || (by === 'internal' && p.internalFirst));
}

/** Whether a request of class `by` may preempt a lease of class `victim`. */
export function mayPreempt(by: LeaseClass, victim: LeaseClass, p: EnginePolicy): boolean {
  if (!preempts(by, p)) return false;
  if (victim === 'spot') return true;
  return victim === 'internal' && (by === 'reserved' || by === 'on-demand') && !p.internalFirst;
}

/** Whether a lease of this class can ever be preempted (spot always; internal when it only fills what is unsold). */
export function preemptible(c: LeaseClass, p: EnginePolicy): boolean {
  return c === 'spot' || (c === 'internal' && !p.internalFirst);
}

/**
 * Whether a request of this class may take GPUs that are idle now but booked later (backfill,
 * ending when the booking starts): exactly the preemptible classes, since a backfilled lease is
 * preempted by the booking it runs in front of.
 */
export function backfills(c: LeaseClass, p: EnginePolicy): boolean {
  return p.backfill && preemptible(c, p);
}

/** Whether a lease of this class is a preemption candidate kept in the engine's victim index. */
export function victimClass(c: LeaseClass): boolean {
  return c === 'spot' || c === 'internal';
}
