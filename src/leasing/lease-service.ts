/**
 * Leasing: validated requests → placement on the in-memory view → one transaction that writes
 * the lease, its GPU holds and the idempotent response → the in-memory view updated after commit.
 *
 * Capacity decisions in this process are serialized by one mutex, so the in-memory view is exact
 * for this process. Another control plane writing the same cell makes it stale: every capacity
 * write carries a fence (the capacity version the view was loaded at; see CapacityFence), the
 * database refuses a write decided on a view that misses another writer's change, and the view is
 * refreshed from the store and the request decided again. The exclusion constraint stays as the
 * last guard against double booking.
 */
import type { Clock } from '../shared/clock.js';
import { DomainError, invalid, parseTime } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { Mutex } from '../shared/mutex.js';
import type { Fleet, Topology } from '../fleet/index.js';
import type { IdempotencyContext, Principal } from '../tenancy/index.js';
import { PG_DEADLOCK, PG_EXCLUSION_VIOLATION, pgErrorCode, type Db } from '../store/index.js';
import type { TenantRepo, TenantScope } from '../tenancy/index.js';
import { LeaseRepo } from './lease-repo.js';
import type { BookingIndex, Hold } from './booking-index.js';
import { LeaseEngine, holdOf, type Decision } from './engine.js';
import type { LeaseCreateBody, LeaseEventView, LeaseQuoteView, LeaseView } from './lease-schemas.js';
import { heldUntilMs, leaseState, type Lease, type LeaseClass, type LeaseRequest } from './lease-types.js';
import { validateLeaseRequest } from './lease-validation.js';
import { EventLog, PG_STALE_VIEW, TYPE_PREFIX, type CapacityFence, type NewEvent } from '../events/index.js';
import { sweepTransitions } from './lease-sweep.js';
import { LIST_TERMS, weightMicros, type Quoter, type TenantTerms } from './pricing.js';
import type { Currency } from '../pricing/index.js';
import {
  leaseDowntime, leaseFailed, leaseMoved, leasePlaced, leasePreempting, leaseQueued, leaseReleased, leaseRequested, leaseStarted,
} from './lease-events.js';

const LEASE_TYPE_PREFIX = `${TYPE_PREFIX}lease.`;
import { capacityReport, fleetNodesNow, fleetOverview, tenantCapacityView, type FleetNodesNow, usageNow, type CapacityReport, type FleetOverview, type TenantCapacityView } from './capacity-report.js';
import type { CapacityQuery } from './lease-schemas.js';
import { schedulerStatus, type SchedulerStatus } from './status.js';

const HOUR_MS = 3_600_000;
/** The longest window a capacity query may span (3 years). */
const MAX_CAPACITY_WINDOW_MS = 3 * 366 * 24 * HOUR_MS;
const CAPACITY_LOOKBACK_MS = 366 * 24 * HOUR_MS;
const CAPACITY_LOOKAHEAD_MS = 5 * 366 * 24 * HOUR_MS;
import { leaseView } from './lease-view.js';

/**
 * Inside the lease's transaction, before its holds are written: victims' holds end at the
 * deadline (so the new holds, which start there, do not overlap). Returns their `preempting`
 * events, for the caller to append with its own (last in the transaction).
 */
async function cutVictims(s: LeaseRepo, lease: Lease, victims: Hold[], deadlineMs: number, nowMs: number): Promise<NewEvent[]> {
  const tenants = await s.preemptLeases(victims.map((v) => v.leaseId), deadlineMs, lease.id);
  const out: NewEvent[] = [];
  for (const v of victims) {
    const tenantId = tenants.get(v.leaseId);
    if (tenantId !== undefined) out.push(leasePreempting({ id: v.leaseId, tenantId }, nowMs, deadlineMs, lease.id, 'preemption'));
  }
  return out;
}

/** A backfilled lease is preempted when the booking it fills in front of starts: its events say so from the start. */
function placedEvents(lease: Lease, nowMs: number, extra: Parameters<typeof leasePlaced>[2] = {}): NewEvent[] {
  const out: NewEvent[] = [leasePlaced(lease, nowMs, extra)];
  // Starting at once: its start is logged with it (the store marks it so; see Store.insertLease).
  if (lease.startMs <= nowMs && heldUntilMs(lease) > lease.startMs) out.push(leaseStarted(lease, lease.startMs));
  if (lease.preemptedAtMs !== null) out.push(leasePreempting(lease, nowMs, lease.preemptedAtMs, lease.preemptedBy, 'backfill'));
  return out;
}

/** The store scope of what a principal may see: its own tenant, or everything for the operator. */
const scopeOf = (p: Principal): TenantScope => (p.kind === 'tenant' ? p.tenantId : null);

/** Thrown inside a transaction to roll it back: the queued request was no longer waiting. */
class NotQueued extends Error {}

/**
 * A refusal reloads the view (when another control plane has written since it was loaded) at
 * most this often, so a flood of 409s cannot become a flood of reloads.
 */
const STALE_REFRESH_MS = 1_000;

/** The database refused a write because this view is stale: another writer booked these GPUs, or changed the cell since the view was loaded. */
const isStaleWrite = (err: unknown): boolean => {
  const code = pgErrorCode(err);
  return code === PG_EXCLUSION_VIOLATION || code === PG_DEADLOCK || code === PG_STALE_VIEW;
};

/** Reload-and-retry rounds after the database refuses a booking our stale view allowed. */
const MAX_STALE_RETRIES = 16;


export class LeaseService {
  /** Every capacity decision is the engine's; this service adds storage, the fence and the mutex. */
  readonly engine: LeaseEngine;
  private readonly mutex = new Mutex();
  /** Holds decided but not yet committed, by lease id. */
  private readonly pending = new Map<string, Hold>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** This control plane, as a writer of the cell's capacity (see CapacityFence). */
  readonly writerId = newId('cp');
  /** The cell's capacity version this view was loaded at. */
  private viewVersion = 0;
  /**
   * A tenant's terms in force at an instant, for the rate card (set by the composition root from
   * billing's contracts; default: list prices). Read from the store on every request, so a
   * contract signed on another control plane prices the next lease here too.
   */
  termsOf: (tenantId: string, atMs: number) => Promise<TenantTerms> = async () => LIST_TERMS;

  constructor(
    private readonly store: LeaseRepo,
    private readonly tenants: TenantRepo,
    private readonly clock: Clock,
    fleet: Fleet,
  ) {
    this.engine = new LeaseEngine(fleet);
  }

  get topology(): Topology {
    return this.engine.topology;
  }

  /** true: internal work outranks on-demand and is never preempted; false: it fills what is unsold (rules.ts). */
  get internalFirst(): boolean {
    return this.engine.policy.internalFirst;
  }
  set internalFirst(v: boolean) {
    this.engine.policy.internalFirst = v;
  }

  /** Preemption notice, milliseconds (default 5 minutes; 0 allowed). */
  get noticeMs(): number {
    return this.engine.policy.noticeMs;
  }
  set noticeMs(v: number) {
    this.engine.policy.noticeMs = v;
  }

  /**
   * Loads every live hold from the store into memory. Holds of writes still in flight are kept:
   * they are not in the store yet, but they will be unless their write fails.
   */
  async reload(): Promise<void> {
    // Read before the holds: whatever commits in between is in the holds too (a view may be newer than its version, never older).
    const version = (await this.store.capacityState()).version;
    const holds = await this.store.loadLiveHolds(this.clock.nowMs());
    this.engine.loadHolds([...holds, ...this.pending.values()]);
    this.viewVersion = version;
    await this.reloadSpot();
  }

  /**
   * The fence for a capacity write decided on this view: `check` for a write that takes capacity
   * (refused if another control plane wrote since the view was loaded), none for one that only
   * frees it.
   */
  fence(check: boolean): CapacityFence {
    return { writer: this.writerId, viewVersion: check ? this.viewVersion : null };
  }

  /** Whether another control plane has changed the cell's capacity since this view was loaded (one index read). */
  private async changedElsewhere(): Promise<boolean> {
    const c = await this.store.capacityState();
    return c.version > this.viewVersion && !(c.writer === this.writerId && c.runStart - 1 <= this.viewVersion);
  }

  /** Re-reads the fleet if it changed, else the holds; call under the mutex. */
  private async refreshView(): Promise<void> {
    const fleet = await this.fleetChangedElsewhere();
    if (fleet) await this.setFleet(fleet);
    else await this.reload();
  }

  private async reloadSpot(): Promise<void> {
    const live = await this.store.livePreemptibleLeases(this.clock.nowMs());
    // Victims are weighed by what they pay, in USD terms whatever their currency (the rate card's weightMicros).
    this.engine.loadVictims(live.map((l) => ({ id: l.id, leaseClass: l.leaseClass as LeaseClass, priceMicrosPerGpuHour: weightMicros(l.priceMicrosPerGpuHour, l.currency as Currency), gpuCount: l.gpuCount })));
  }

  /**
   * Runs `fn` with capacity decisions paused and no lease write in flight (fleet changes use
   * this: a node must not be removed while a booking on it is being committed).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await Promise.allSettled([...this.inFlight]);
      return fn();
    });
  }

  /**
   * Set by the composition root: reads the fleet again if another control plane changed it (a
   * `fleet.applied` event this process has not seen), returning the new fleet or null.
   */
  fleetChangedElsewhere: () => Promise<Fleet | null> = async () => null;
  private lastRefreshMs = -Infinity;

  /**
   * Re-reads the fleet (if it changed elsewhere) and every hold from the store when another
   * control plane has written since this view was loaded, at most once per STALE_REFRESH_MS;
   * call under the mutex. Returns whether it refreshed. This is how a refusal made on a stale view
   * (capacity freed or a fleet changed by another control plane) is corrected; a booking made on
   * a stale view is refused by its fence instead.
   */
  async refreshIfStale(): Promise<boolean> {
    const t = this.clock.nowMs();
    if (t - this.lastRefreshMs < STALE_REFRESH_MS) return false;
    await Promise.allSettled([...this.inFlight]);
    if (!(await this.changedElsewhere())) return false;
    this.lastRefreshMs = t;
    await this.refreshView();
    return true;
  }

  /** Picks up what other control planes changed (the timer's check: one index read when nothing did). */
  async refreshIfChangedElsewhere(): Promise<boolean> {
    return this.exclusive(async () => {
      if (!(await this.changedElsewhere())) return false;
      await this.refreshView();
      return true;
    });
  }

  /**
   * Measured-draw admission (a policy, off by default): per hall and site id, watts by which held
   * TDP may be counted lower because the scope measurably draws less (see
   * src/telemetry/power-admission.ts). Null: leased TDP never exceeds a cap.
   */
  setPowerCredit(credit: ReadonlyMap<string, number> | null): Promise<void> {
    return this.mutex.run(async () => this.engine.setPowerCredit(credit));
  }

  /** Swaps in a new fleet; call from inside exclusive(). Holds are re-indexed (power per hall/site may change). */
  async setFleet(fleet: Fleet): Promise<void> {
    this.engine.setFleet(fleet);
    await this.reload();
  }

  /** GPUs (of these) held at some instant after now, by lease id. From the store, not memory. */
  async leasesHolding(db: Db, gpuUuids: string[]): Promise<{ leaseId: string; gpuUuid: string }[]> {
    return new LeaseRepo(db, this.store.cell).leasesHoldingGpusAfter(gpuUuids, this.clock.nowMs());
  }

  /**
   * Decide under the mutex (and hold the GPUs in memory at once, so the next decision sees
   * them), then write outside it: decisions stay serial while database round trips overlap.
   * A failed write takes its hold back.
   */
  async create(principal: Principal, body: LeaseCreateBody, idem?: IdempotencyContext): Promise<LeaseView> {
    const now = this.clock.nowMs();
    const req = validateLeaseRequest(body, principal, now, this.engine.regions);
    if (principal.kind === 'admin' && !(await this.tenants.getTenant(req.tenantId))) {
      throw new DomainError('validation', `tenantId: unknown tenant "${req.tenantId}"`, { field: 'tenantId' });
    }
    const quoter = await this.quoterOf(req);
    for (let attempt = 0; ; attempt++) {
      const d = await this.mutex.run(async () => {
        try {
          return this.decide(req, now, quoter);
        } catch (err) {
          // Refused: another control plane may have freed capacity (or changed the fleet) since
          // this view was loaded. Look again once, at most once a second, before saying no.
          if (!(err instanceof DomainError && err.code === 'insufficient_capacity') || !(await this.refreshIfStale())) throw err;
          return this.decide(req, now, quoter);
        }
      });
      const { lease, victims, deadlineMs } = d;
      const view = leaseView(lease, now);
      const record = idem && { ...idem, statusCode: lease.queuedUntilMs === null ? 201 : 202, body: view, nowMs: now };
      const own = [leaseRequested(lease, now), ...(lease.queuedUntilMs !== null ? [leaseQueued(lease, now)] : placedEvents(lease, now))];
      // The lease, its holds, its events and the stored response: one statement when nothing is
      // preempted, one transaction otherwise.
      const fence = this.fence(true);
      const write = victims.length === 0
        ? this.store.insertLease(lease, record, own, fence)
        : this.store.tx(async (s) => {
          const cut = await cutVictims(s, lease, victims, deadlineMs, now);
          await s.insertLease(lease, record, [...cut, ...own], fence);
        });
      this.inFlight.add(write);
      try {
        await write;
      } catch (err) {
        this.undo(d);
        await this.mutex.run(() => this.reloadSpot());
        if (isStaleWrite(err)) {
          if (attempt >= MAX_STALE_RETRIES) {
            throw new DomainError('conflict', 'capacity changed concurrently in another control plane; retry the request');
          }
          // Another writer changed the cell since our view was loaded. Refresh (which shows its
          // commit, so each retry makes progress) and decide again.
          await this.mutex.run(() => this.refreshView());
          continue;
        }
        throw err;
      } finally {
        this.inFlight.delete(write);
      }
      this.pending.delete(lease.id);
      return view;
    }
  }

  /** The engine's decision on the in-memory view; call under the mutex. A held decision is pending until its write commits. */
  private decide(req: LeaseRequest, now: number, quoter: Quoter): Decision {
    const d = this.engine.decide(req, now, { quoter });
    if (d.lease.queuedUntilMs === null) this.pending.set(d.lease.id, holdOf(d.lease));
    return d;
  }

  /**
   * What create() would do now, without doing it: the window, price, nodes and how many leases it
   * would preempt, or a refusal with the largest request of its shape that fits. The same
   * decision as create() (one rule, one place), on the same view; nothing is held or written.
   */
  async quote(principal: Principal, body: LeaseCreateBody): Promise<LeaseQuoteView> {
    const now = this.clock.nowMs();
    const req = validateLeaseRequest(body, principal, now, this.engine.regions);
    if (principal.kind === 'admin' && !(await this.tenants.getTenant(req.tenantId))) {
      throw new DomainError('validation', `tenantId: unknown tenant "${req.tenantId}"`, { field: 'tenantId' });
    }
    const iso = (ms: number): string => new Date(ms).toISOString();
    const shape = { gpuModel: req.gpuModel, gpuCount: req.gpuCount, class: req.leaseClass, placement: req.placement, region: req.region };
    const quoter = await this.quoterOf(req);
    return this.mutex.run(async () => {
      let d: Decision;
      try {
        try {
          d = this.engine.decide(req, now, { dry: true, quoter });
        } catch (err) {
          if (!(err instanceof DomainError && err.code === 'insufficient_capacity') || !(await this.refreshIfStale())) throw err;
          d = this.engine.decide(req, now, { dry: true, quoter });
        }
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'insufficient_capacity')) throw err;
        const largest = err.extensions['largestSatisfiable'] as number | undefined;
        return {
          outcome: 'refused' as const, ...shape, start: iso(req.startMs), end: iso(req.endMs), preemptedAt: null, priceMicrosPerGpuHour: '0', currency: 'USD', priceBasis: null, totalMicros: '0',
          nodes: 0, preempts: 0, largestSatisfiable: largest ?? null, detail: err.message,
        };
      }
      const l = d.lease;
      return {
        outcome: l.queuedUntilMs !== null ? 'queued' as const : 'placed' as const, ...shape, start: iso(l.startMs), end: iso(l.endMs),
        preemptedAt: l.preemptedAtMs === null ? null : iso(l.preemptedAtMs),
        priceMicrosPerGpuHour: l.priceMicrosPerGpuHour.toString(), currency: l.currency, priceBasis: d.priceBasis, totalMicros: l.totalMicros.toString(),
        nodes: new Set(l.gpus.map((g) => g.nodeId)).size, preempts: d.victims.length, largestSatisfiable: null,
        detail: d.victims.length ? `starts after the ${Math.round(this.noticeMs / 1000)} s notice of the leases it preempts` : null,
      };
    });
  }

  /** The requesting tenant's quoter: its terms in force at the request's start, over the fleet's list prices (internal work: the list). */
  private async quoterOf(req: LeaseRequest): Promise<Quoter> {
    let terms = req.leaseClass === 'internal' ? LIST_TERMS : await this.termsOf(req.tenantId, req.startMs);
    if (req.leaseClass === 'reserved' && terms.reserved.some((t) => t.gpuModel === req.gpuModel)) {
      // A term covers so many GPUs at a time: count those its leases already use over the window.
      // Read before the decision (not under the mutex): two reserved requests of one tenant racing
      // may both be covered; the term's fee is still billed, so the excess is never unbilled revenue
      // the books miss, only GPU time given at 0 (docs/decisions.md).
      const inUse = await this.store.coveredReservedGpus(req.tenantId, req.gpuModel, req.startMs, req.endMs);
      terms = { ...terms, reservedInUse: { [req.gpuModel]: inUse } };
    }
    return this.engine.quoterFor(terms);
  }

  /** A lease the principal may see, else not_found — the same answer for "missing" and "not yours". */
  private async visible(principal: Principal, id: string): Promise<Lease> {
    const lease = await this.store.getLease(id, scopeOf(principal));
    if (!lease || (principal.kind === 'tenant' && lease.tenantId !== principal.tenantId)) {
      throw new DomainError('not_found', `lease ${id} not found`);
    }
    return lease;
  }

  async get(principal: Principal, id: string): Promise<LeaseView> {
    return leaseView(await this.visible(principal, id), this.clock.nowMs());
  }

  async list(principal: Principal, limit: number, before?: string): Promise<{ leases: LeaseView[]; nextCursor: string | null }> {
    const now = this.clock.nowMs();
    // A cursor that is not one of the caller's leases is an error, not a silent first page.
    if (before !== undefined && !(await this.store.leaseExists(before, scopeOf(principal)))) throw invalid('before', `"${before}" is not a lease on your list (use nextCursor from the previous page)`);
    const rows = await this.store.listLeases({ tenantId: principal.kind === 'tenant' ? principal.tenantId : null, limit: limit + 1, beforeId: before });
    const page = rows.slice(0, limit);
    return { leases: page.map((l) => leaseView(l, now)), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async release(principal: Principal, id: string, idem?: IdempotencyContext): Promise<LeaseView> {
    return this.mutex.run(async () => {
      const now = this.clock.nowMs();
      const lease = await this.visible(principal, id);
      const state = leaseState(lease, now);
      if (state === 'released' || state === 'expired' || state === 'failed' || state === 'preempted') {
        throw new DomainError('conflict', `lease ${id} is already ${state}`, { state });
      }
      const released: Lease = { ...lease, releasedAtMs: now };
      const view = leaseView(released, now);
      await this.store.tx(async (s) => {
        const done = await s.releaseLease(id, now, scopeOf(principal));
        if (!done) throw new DomainError('not_found', `lease ${id} not found`);
        if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 200, body: view }, now);
        await s.appendEvents([...(done.startPending ? [leaseStarted(lease, lease.startMs)] : []), leaseReleased(lease, now)], this.fence(false));
      });
      this.engine.ended(id, heldUntilMs(released));
      return view;
    }).then(async (view) => {
      // Freed GPUs go to waiting requests before the release returns. The release has committed
      // whatever happens here; a failed pass is retried by the control plane's queue timer.
      await this.runQueue().catch(() => undefined);
      return view;
    });
  }

  /**
   * Places waiting requests that fit now, in the engine's queue order (queuePass: class rank, then
   * age; a request that does not fit holds back later ones it could not preempt). Each placement
   * is its own transaction. Called after a release and by the control plane's timer (ends,
   * preemptions, fleet changes). Returns the ids placed.
   */
  async runQueue(): Promise<string[]> {
    return this.mutex.run(async () => {
      const now = this.clock.nowMs();
      const waiting = await this.store.queuedLeases(now);
      if (waiting.length === 0) return [];
      const placed: string[] = [];
      for (const d of this.engine.queuePass(waiting, now)) {
        const { lease, victims, deadlineMs } = d;
        const q = waiting.find((w) => w.id === lease.id)!;
        let outcome: 'placed' | 'gone' | 'stale' = 'placed';
        try {
          await this.store.tx(async (s) => {
            const cut = await cutVictims(s, lease, victims, deadlineMs, now);
            const own = placedEvents(lease, now, { waitedSeconds: Math.round((now - q.createdAtMs) / 1000) });
            if (!(await s.placeQueuedLease(lease, now, [...cut, ...own], this.fence(true)))) throw new NotQueued();
          });
        } catch (err) {
          // Gone: released, expired or placed by another control plane meanwhile (rolled back).
          // Stale: another control plane changed the cell; see the world as it is now.
          if (err instanceof NotQueued) outcome = 'gone';
          else if (isStaleWrite(err)) outcome = 'stale';
          else {
            this.engine.undo(d);
            await this.reloadSpot();
            throw err;
          }
        }
        if (outcome === 'placed') {
          placed.push(lease.id);
          continue;
        }
        // Taken back before the pass goes on (the next decision sees the world without it).
        this.engine.undo(d);
        await (outcome === 'stale' ? this.refreshView() : this.reloadSpot());
      }
      return placed;
    });
  }

  /** Takes back a decision whose write did not happen. */
  private undo(d: Decision): void {
    this.pending.delete(d.lease.id);
    this.engine.undo(d);
  }

  /**
   * Nodes went down: every lease holding their GPUs now or later moves to other GPUs with the
   * same model, region, placement and window (from now on), or fails when nothing fits. Each
   * outcome is an event (`replaced`, `failed`) that billing will turn into a credit. Draining
   * nodes keep their leases (they only take no new ones). Call from inside exclusive(), after
   * setFleet() with the fleet that has the nodes down.
   */
  async handleNodesDown(nodeIds: string[], downSinceMs: Readonly<Record<string, number>> = {}): Promise<{ replaced: string[]; failed: string[] }> {
    const out = { replaced: [] as string[], failed: [] as string[] };
    if (nodeIds.length === 0) return out;
    const now = this.clock.nowMs();
    const down = new Set(nodeIds);
    const uuids = this.engine.topology.fleet.gpus.filter((g) => down.has(g.nodeId)).map((g) => g.uuid);
    const held = await this.store.leasesHoldingGpusAfter(uuids, now);
    for (const leaseId of [...new Set(held.map((h) => h.leaseId))].sort()) {
      for (let attempt = 0; ; attempt++) {
        try {
          const outcome = await this.moveOrFail(leaseId, down, now, downSinceMs);
          if (outcome) out[outcome].push(leaseId);
          break;
        } catch (err) {
          // Another control plane wrote since our view was loaded: look again and redo this lease.
          if (!isStaleWrite(err) || attempt >= MAX_STALE_RETRIES) throw err;
          await this.refreshView();
        }
      }
    }
    return out;
  }

  /** One lease on nodes that went down: moved to other GPUs, or failed. Null: it no longer holds any. */
  private async moveOrFail(leaseId: string, down: Set<string>, now: number, downSinceMs: Readonly<Record<string, number>>): Promise<'replaced' | 'failed' | null> {
    const lease = await this.store.getLease(leaseId, null);
    if (!lease || ['released', 'failed', 'preempted'].includes(leaseState(lease, now))) return null;
    // Downtime inside the lease: from when its node was first seen unhealthy (not before the lease
    // started) until now, when it moves or fails. A node taken down by the spec or the operator has none.
    const downtime: NewEvent[] = [];
    const sickGpus = lease.gpus.filter((g) => down.has(g.nodeId) && downSinceMs[g.nodeId] !== undefined);
    if (sickGpus.length) {
      const from = Math.max(lease.startMs, Math.min(...sickGpus.map((g) => downSinceMs[g.nodeId]!)));
      if (from < now) downtime.push(leaseDowntime(lease, from, now, [...new Set(sickGpus.map((g) => g.nodeId))].sort(), sickGpus.map((g) => g.uuid)));
    }
    // It needs GPUs only until its hold ends (a lease being preempted, or backfilled in front of
    // a booking, until its deadline, not its booked end): the engine's replan.
    const fromNodes = [...new Set(lease.gpus.map((g) => g.nodeId))].sort();
    const r = this.engine.replan(lease, now);
    if (r.ok) {
      const next = new Set(r.gpus.map((g) => g.uuid));
      const prev = new Set(lease.gpus.map((g) => g.uuid));
      const drop = lease.gpus.filter((g) => !next.has(g.uuid)).map((g) => g.uuid);
      const add = r.gpus.filter((g) => !prev.has(g.uuid));
      await this.store.tx(async (s) => {
        await s.moveLeaseGpus(lease, drop, add, now);
        await s.appendEvents([...downtime, leaseMoved(lease, now, lease.gpus, r.gpus, fromNodes.filter((n) => down.has(n)))], this.fence(true));
      });
      return 'replaced';
    } else {
      const reason = `node ${fromNodes.filter((n) => down.has(n)).join(', ')} went down and no other ${lease.gpuCount} × ${lease.gpuModel} (${lease.placement}) fitted`;
      await this.store.tx(async (s) => {
        const startPending = await s.failLease(lease.id, now, reason);
        await s.appendEvents([...(startPending ? [leaseStarted(lease, lease.startMs)] : []), ...downtime, leaseFailed(lease, now, reason, fromNodes)], this.fence(false));
      });
      return 'failed';
    }
  }

  async listEvents(principal: Principal, id: string): Promise<LeaseEventView[]> {
    await this.visible(principal, id);
    // A view of the event log: the lease's own entries (tenant-scoped in SQL).
    return (await new EventLog(this.store.db, this.store.cell).forSubject(id, scopeOf(principal))).map((e) => ({
      id: e.id, leaseId: id, type: e.type.slice(LEASE_TYPE_PREFIX.length) as LeaseEventView['type'], at: e.time, sequence: e.sequence, detail: e.data,
    }));
  }

  /**
   * Free GPUs per site and fabric domain for a window (default: the next hour from now), for
   * any principal: it shows capacity, never whose leases hold it. A tenant gets what it may buy
   * (tenantCapacityView), never halls, fabric domains or power.
   */
  capacity(q: CapacityQuery, principal?: Principal): CapacityReport | TenantCapacityView {
    const now = this.clock.nowMs();
    const startMs = q.start ? parseTime('start', q.start) : now;
    const endMs = q.end ? parseTime('end', q.end) : startMs + HOUR_MS;
    // Bookings reach at most a year ahead for 3 years; a window far outside that is a typo (and
    // year 9999 + 1 h is past what a Date can print).
    for (const [field, ms] of [['start', startMs], ['end', endMs]] as const) {
      if (ms < now - CAPACITY_LOOKBACK_MS || ms > now + CAPACITY_LOOKAHEAD_MS) throw invalid(field, 'must be within a year before and five years after now');
    }
    if (endMs <= startMs) throw invalid('end', 'must be after start');
    if (endMs - startMs > MAX_CAPACITY_WINDOW_MS) throw invalid('end', 'window is at most 3 years');
    const report = capacityReport(this.engine.topology, this.engine.index, { gpuModel: q.gpuModel ?? null, region: q.region ?? null, startMs, endMs });
    return principal?.kind === 'tenant' ? tenantCapacityView(report) : report;
  }

  /** The operator's fleet overview: installed and power-runnable GPUs, what is leased now, prices (money as strings). */
  fleetOverview(): FleetOverview {
    return fleetOverview(this.engine.topology, this.engine.index, this.clock.nowMs());
  }

  /** GPUs leased and power drawn now, per site and model (the metrics gauges). */
  /** The operator's drill-down: every node (or one site's) now, with its halls' power against cap. */
  fleetNodes(siteId: string | null): FleetNodesNow {
    return fleetNodesNow(this.engine.topology, this.engine.index, this.clock.nowMs(), siteId);
  }

  usageNow(): ReturnType<typeof usageNow> {
    return usageNow(this.engine.topology, this.engine.index, this.clock.nowMs());
  }

  /** Utilization, fragmentation, power per hall, the calendar ahead and the queue. */
  async schedulerStatus(): Promise<SchedulerStatus> {
    const now = this.clock.nowMs();
    return schedulerStatus(this.engine, now, await this.store.queuedLeases(now));
  }

  /** Writes the events of leases that started, ended, were preempted or timed out since the last sweep. */
  sweep(): Promise<number> {
    return sweepTransitions(this.store, this.clock.nowMs());
  }

  /** Drops expired holds from memory (they cannot affect any window from now on). */
  prune(): number {
    return this.engine.prune(this.clock.nowMs());
  }

  /** Read access for capacity views; callers must not mutate. */
  get index(): BookingIndex {
    return this.engine.index;
  }

  get nowMs(): number {
    return this.clock.nowMs();
  }
}
