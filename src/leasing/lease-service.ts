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
import { Topology, type Fleet } from '../fleet/index.js';
import type { IdempotencyContext, Principal } from '../tenancy/index.js';
import { PG_DEADLOCK, PG_EXCLUSION_VIOLATION, pgErrorCode, type Db } from '../store/index.js';
import type { TenantRepo, TenantScope } from '../tenancy/index.js';
import { LeaseRepo } from './lease-repo.js';
import { place, type PlacementResult } from './allocator.js';
import { BookingIndex, type Hold } from './booking-index.js';
import type { LeaseCreateBody, LeaseEventView, LeaseQuoteView, LeaseView } from './lease-schemas.js';
import type { LeaseGpu } from './lease-types.js';
import { heldUntilMs, leaseState, type Lease, type LeaseClass, type LeaseRequest } from './lease-types.js';
import { validateLeaseRequest } from './lease-validation.js';
import { EventLog, PG_STALE_VIEW, TYPE_PREFIX, type CapacityFence, type NewEvent } from '../events/index.js';
import { sweepTransitions } from './lease-sweep.js';
import {
  leaseFailed, leaseMoved, leasePlaced, leasePreempting, leaseQueued, leaseReleased, leaseRequested, leaseStarted,
} from './lease-events.js';

const LEASE_TYPE_PREFIX = `${TYPE_PREFIX}lease.`;
import { capacityReport, fleetOverview, usageNow, type CapacityReport, type FleetOverview } from './capacity-report.js';
import type { CapacityQuery } from './lease-schemas.js';
import { schedulerStatus, type SchedulerStatus } from '../scheduler/index.js';

const HOUR_MS = 3_600_000;
/** The longest window a capacity query may span (3 years). */
const MAX_CAPACITY_WINDOW_MS = 3 * 366 * 24 * HOUR_MS;
const CAPACITY_LOOKBACK_MS = 366 * 24 * HOUR_MS;
const CAPACITY_LOOKAHEAD_MS = 5 * 366 * 24 * HOUR_MS;
import { leaseView } from './lease-view.js';
import { PriceBook, PriceBookQuoter, type Quoter } from './pricing.js';

interface Decision {
  lease: Lease;
  /** Spot leases whose holds were cut at `deadlineMs` to make room (original holds). */
  victims: Hold[];
  deadlineMs: number;
}

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
function placedEvents(lease: Lease, nowMs: number, extra: Record<string, unknown> = {}): NewEvent[] {
  const out = [leasePlaced(lease, nowMs, extra)];
  // Starting at once: its start is logged with it (the store marks it so; see Store.insertLease).
  if (lease.startMs <= nowMs && heldUntilMs(lease) > lease.startMs) out.push(leaseStarted(lease, lease.startMs));
  if (lease.preemptedAtMs !== null) out.push(leasePreempting(lease, nowMs, lease.preemptedAtMs, lease.preemptedBy, 'backfill'));
  return out;
}

/**
 * Of the victims cut to make room, those whose GPUs the placement took, and the revenue they
 * lose ($/h: price × GPUs); null when it took none (it fitted only because it starts later).
 */
function victimsUsed(cut: readonly { hold: Hold; price: bigint; gpus: number }[], gpus: readonly LeaseGpu[]): { victims: Hold[]; cost: bigint } | null {
  const chosen = new Set(gpus.map((g) => g.uuid));
  const used = cut.filter((c) => c.hold.gpuUuids.some((u) => chosen.has(u)));
  return used.length === 0 ? null : { victims: used.map((u) => u.hold), cost: used.reduce((a, u) => a + u.price * BigInt(u.gpus), 0n) };
}

/** A preemption candidate: a live spot or internal lease. */
interface SpotMeta {
  leaseClass: LeaseClass;
  priceMicrosPerGpuHour: bigint;
  gpuCount: number;
}

/** The store scope of what a principal may see: its own tenant, or everything for the operator. */
const scopeOf = (p: Principal): TenantScope => (p.kind === 'tenant' ? p.tenantId : null);

/** Thrown inside a transaction to roll it back: the queued request was no longer waiting. */
class NotQueued extends Error {}

/** Shortest useful backfill window for a spot lease, and how many window ends are tried. */
const MIN_BACKFILL_MS = 10 * 60_000;
const MAX_BACKFILL_TRIES = 32;

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
  private topo: Topology;
  private bookings: BookingIndex;
  /** Prices come from here, never from decide() itself (the market may supply them later). */
  private quoter: Quoter;
  private regions: Set<string>;
  private readonly mutex = new Mutex();
  /** Live preemptible leases (spot, internal) by id: preemption candidates. */
  private readonly spot = new Map<string, SpotMeta>();
  /** true: internal work outranks on-demand and is never preempted; false: it fills what is unsold. */
  internalFirst = false;
  /** Preemption notice for spot leases, milliseconds (default 5 minutes; 0 allowed). */
  noticeMs = 300_000;
  /** Holds decided but not yet committed, by lease id. */
  private readonly pending = new Map<string, Hold>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** This control plane, as a writer of the cell's capacity (see CapacityFence). */
  readonly writerId = newId('cp');
  /** The cell's capacity version this view was loaded at. */
  private viewVersion = 0;

  constructor(
    private readonly store: LeaseRepo,
    private readonly tenants: TenantRepo,
    private readonly clock: Clock,
    fleet: Fleet,
  ) {
    this.topo = new Topology(fleet);
    this.bookings = new BookingIndex(this.topo);
    this.quoter = new PriceBookQuoter(new PriceBook(fleet.prices));
    this.regions = new Set(fleet.sites.map((s) => s.region));
  }

  get topology(): Topology {
    return this.topo;
  }

  /**
   * Loads every live hold from the store into memory. Holds of writes still in flight are kept:
   * they are not in the store yet, but they will be unless their write fails.
   */
  async reload(): Promise<void> {
    // Read before the holds: whatever commits in between is in the holds too (a view may be newer than its version, never older).
    const version = (await this.store.capacityState()).version;
    const bookings = new BookingIndex(this.topo);
    for (const h of await this.store.loadLiveHolds(this.clock.nowMs())) bookings.add(h);
    for (const h of this.pending.values()) bookings.add(h);
    this.bookings = bookings;
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
    this.spot.clear();
    for (const l of await this.store.livePreemptibleLeases(this.clock.nowMs())) {
      this.spot.set(l.id, { leaseClass: l.leaseClass as LeaseClass, priceMicrosPerGpuHour: l.priceMicrosPerGpuHour, gpuCount: l.gpuCount });
    }
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

  /** Swaps in a new fleet; call from inside exclusive(). Holds are re-indexed (power per hall/site may change). */
  async setFleet(fleet: Fleet): Promise<void> {
    this.topo = new Topology(fleet);
    this.quoter = new PriceBookQuoter(new PriceBook(fleet.prices));
    this.regions = new Set(fleet.sites.map((s) => s.region));
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
    const req = validateLeaseRequest(body, principal, now, this.regions);
    if (principal.kind === 'admin' && !(await this.tenants.getTenant(req.tenantId))) {
      throw new DomainError('validation', `tenantId: unknown tenant "${req.tenantId}"`, { field: 'tenantId' });
    }
    for (let attempt = 0; ; attempt++) {
      const { lease, victims, deadlineMs } = await this.mutex.run(async () => {
        try {
          return this.decide(req, now);
        } catch (err) {
          // Refused: another control plane may have freed capacity (or changed the fleet) since
          // this view was loaded. Look again once, at most once a second, before saying no.
          if (!(err instanceof DomainError && err.code === 'insufficient_capacity') || !(await this.refreshIfStale())) throw err;
          return this.decide(req, now);
        }
      });
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
        this.undo(lease, victims);
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

  /**
   * Places the request on the in-memory view and holds the GPUs there; call under the mutex.
   * When nothing fits and the request is reserved or on-demand, spot leases are preempted: the
   * cheapest set (lost $/h, then fewest leases) inside one domain of the gang's level (NVLink
   * domain, fabric, or site for same-site/any). They keep their GPUs for the notice period; the
   * new lease starts when it ends and keeps its requested length.
   */
  private decide(req: LeaseRequest, now: number, queued?: Lease, dry = false): Decision {
    let result = place(this.topo, this.bookings, req);
    let startMs = req.startMs;
    let endMs = req.endMs;
    let victims: Hold[] = [];
    let deadlineMs = now;
    if (!result.ok && req.leaseClass !== 'spot' && (req.leaseClass !== 'internal' || this.internalFirst)) {
      const pre = this.preemptFor(req, now);
      if (pre) {
        result = { ok: true, gpus: pre.gpus };
        ({ startMs, endMs, victims, deadlineMs } = pre);
      }
    }
    let backfill: { untilMs: number; by: string } | null = null;
    // Preemptible work backfills: spot always, internal when it only fills what is unsold.
    if (!result.ok && (req.leaseClass === 'spot' || (req.leaseClass === 'internal' && !this.internalFirst))) {
      const bf = this.backfill(req);
      if (bf) {
        result = { ok: true, gpus: bf.gpus };
        backfill = { untilMs: bf.untilMs, by: bf.by };
      }
    }
    // Nothing fits now: the request waits (no GPUs held) until runQueue() places it — unless it
    // could not fit even on an empty fleet (more GPUs than the model, domain or power has).
    const queueIt = !result.ok && req.queueUntilMs !== null && place(this.topo, new BookingIndex(this.topo), req).ok;
    if (!result.ok && !queueIt) {
      throw new DomainError(
        'insufficient_capacity',
        `cannot place ${req.gpuCount} × ${req.gpuModel} (${req.placement}${req.region ? `, region ${req.region}` : ''}) ` +
          `for ${new Date(req.startMs).toISOString()}–${new Date(req.endMs).toISOString()}: ` +
          `the largest request that fits is ${result.largestSatisfiable} GPUs`,
        { largestSatisfiable: result.largestSatisfiable, freeGpus: result.freeGpus, gpuModel: req.gpuModel, placement: req.placement },
      );
    }
    const quote = this.quoter.quote({
      gpuModel: req.gpuModel, leaseClass: req.leaseClass, region: req.region, gpuCount: req.gpuCount, startMs, endMs: backfill ? backfill.untilMs : endMs,
    });
    const lease: Lease = {
      id: queued?.id ?? newId('lease'),
      tenantId: req.tenantId,
      gpuModel: req.gpuModel,
      gpuCount: req.gpuCount,
      leaseClass: req.leaseClass,
      placement: req.placement,
      region: req.region,
      startMs,
      endMs,
      releasedAtMs: null,
      failedAtMs: null,
      stateReason: null,
      preemptedAtMs: backfill ? backfill.untilMs : null,
      preemptedBy: backfill ? backfill.by : null,
      priceMicrosPerGpuHour: quote.priceMicrosPerGpuHour,
      totalMicros: quote.totalMicros,
      createdAtMs: queued?.createdAtMs ?? now,
      queuedUntilMs: queueIt ? req.queueUntilMs : null,
      gpus: result.ok ? result.gpus : [],
    };
    // A dry run (a quote) leaves the view as it was: nothing held, no victim cut.
    if (queueIt || dry) return { lease, victims, deadlineMs };
    const hold: Hold = { leaseId: lease.id, startMs: lease.startMs, endMs: heldUntilMs(lease), gpuUuids: lease.gpus.map((g) => g.uuid) };
    this.bookings.add(hold);
    this.pending.set(lease.id, hold);
    if (req.leaseClass === 'spot' || req.leaseClass === 'internal') this.spot.set(lease.id, { leaseClass: req.leaseClass, priceMicrosPerGpuHour: quote.priceMicrosPerGpuHour, gpuCount: req.gpuCount });
    for (const v of victims) {
      this.bookings.truncate(v.leaseId, deadlineMs);
      this.spot.delete(v.leaseId);
    }
    return { lease, victims, deadlineMs };
  }

  /**
   * EASY-style backfill for preemptible work: GPUs idle now but booked later (a future reservation) may run
   * spot work until that booking starts. The longest such window of at least MIN_BACKFILL_MS wins;
   * the lease is created with its preemption already set, so the booking is never delayed.
   */
  private backfill(req: LeaseRequest): { gpus: LeaseGpu[]; untilMs: number; by: string } | null {
    const starts = new Map<number, string>();
    for (const h of this.bookings.allHolds()) {
      if (h.startMs > req.startMs + MIN_BACKFILL_MS && h.startMs < req.endMs && !starts.has(h.startMs)) starts.set(h.startMs, h.leaseId);
    }
    const candidates = [...starts.keys()].sort((a, b) => b - a).slice(0, MAX_BACKFILL_TRIES);
    for (const untilMs of candidates) {
      const r = place(this.topo, this.bookings, { ...req, endMs: untilMs });
      if (!r.ok) continue;
      // The booking that ends the window: one that starts then on a chosen GPU.
      const chosen = new Set(r.gpus.map((g) => g.uuid));
      let by = starts.get(untilMs)!;
      let first = Infinity;
      for (const h of this.bookings.allHolds()) {
        if (h.startMs >= untilMs && h.startMs < first && h.gpuUuids.some((u) => chosen.has(u))) {
          by = h.leaseId;
          first = h.startMs;
        }
      }
      return { gpus: r.gpus, untilMs, by };
    }
    return null;
  }

  /**
   * The cheapest spot victims in one domain that make room; the index is left unchanged.
   *
   * Per domain (NVLink domain, fabric, site: from the finest that could hold the gang up to the
   * gang's own level), victims are ordered cheapest first (lost $/h, then more GPUs, then id) and the shortest prefix whose preemption lets the
   * gang fit is found by binary search — feasibility only grows as more victims are cut (more
   * free GPUs, less drawn power) — so a domain costs O(log victims) placements, not one per
   * victim. Domains are tried in order of a lower bound on their cost (the GPUs the domain lacks
   * × its cheapest victim's price per GPU-hour; then the fewest victims; then the finer domain) and
   * skipped once that bound cannot beat the best found: the lost revenue is at least that, since the gang's GPUs beyond the domain's free ones
   * must come from victims. On a saturated fleet this costs about one normal placement per
   * request instead of a placement per victim per domain.
   */
  private preemptFor(req: LeaseRequest, now: number): { gpus: LeaseGpu[]; startMs: number; endMs: number; victims: Hold[]; deadlineMs: number } | null {
    const deadlineMs = now + this.noticeMs;
    const startMs = Math.max(req.startMs, deadlineMs);
    const endMs = startMs + (req.endMs - req.startMs);
    type Victim = { hold: Hold; price: bigint; gpus: number };
    type NodeIds = { nvlinkId: string; fabricId: string; siteId: string };
    // Victims are grouped per domain at every level from the finest that could hold the gang up to
    // the gang's own level: the tightest domain needs the fewest victims, and the placement rule
    // prefers it anyway (`any` tries an NVLink domain first); coarser domains can still win on price.
    const own = req.placement === 'same-nvlink' ? 0 : req.placement === 'same-fabric' ? 1 : 2;
    const levels = [0, 1, 2].filter((l) => l <= own);
    const keyAt = (l: number, n: NodeIds): string => (l === 0 ? n.nvlinkId : l === 1 ? n.fabricId : n.siteId);
    const groups = new Map<string, { level: number; list: Victim[] }>();
    const external = req.leaseClass === 'reserved' || req.leaseClass === 'on-demand';
    for (const h of this.bookings.allHolds()) {
      const meta = this.spot.get(h.leaseId);
      // Victims: spot always; internal only for external work, unless internal work comes first.
      if (!meta || (meta.leaseClass === 'internal' && (!external || this.internalFirst))) continue;
      if (h.endMs <= startMs || h.startMs >= endMs || h.gpuUuids.length === 0) continue;
      const node = this.topo.nodes.get(this.topo.gpuToNode.get(h.gpuUuids[0]!) ?? '');
      if (!node || node.node.gpuModel !== req.gpuModel || (req.region !== null && node.region !== req.region)) continue;
      const v: Victim = { hold: { ...h }, price: meta.priceMicrosPerGpuHour, gpus: h.gpuUuids.length };
      for (const l of levels) {
        const key = `${l}/${keyAt(l, node.node)}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { level: l, list: [] }));
        g.list.push(v);
      }
    }
    if (groups.size === 0) return null;
    // GPUs of the model per domain; those free for the window (for the cost bound: any gang GPU
    // beyond them must come from a victim); and those usable as they are (only whole free nodes
    // when the gang is a multiple of the node size: the allocator's whole-node rule).
    const size = new Map<string, number>();
    const free = new Map<string, number>();
    const usableFree = new Map<string, number>();
    for (const n of this.topo.nodesByModel.get(req.gpuModel) ?? []) {
      if (n.node.state !== 'ready' || (req.region !== null && n.region !== req.region)) continue;
      let f = 0;
      for (const gi of n.gpuIdx) if (this.bookings.isFreeAt(gi, startMs, endMs)) f++;
      const usable = req.gpuCount % n.size === 0 ? (f === n.size ? f : 0) : f;
      for (const l of levels) {
        const key = `${l}/${keyAt(l, n.node)}`;
        if (!groups.has(key)) continue;
        size.set(key, (size.get(key) ?? 0) + n.size);
        free.set(key, (free.get(key) ?? 0) + f);
        usableFree.set(key, (usableFree.get(key) ?? 0) + usable);
      }
    }
    const candidates: { key: string; level: number; list: Victim[]; lbCost: bigint; lbVictims: number; from: number }[] = [];
    for (const [key, { level, list }] of groups) {
      const need = Math.max(0, req.gpuCount - (free.get(key) ?? 0));
      const victimGpus = list.reduce((a, v) => a + v.gpus, 0);
      if ((size.get(key) ?? 0) < req.gpuCount || need > victimGpus) continue; // cannot fit even with every victim cut
      list.sort((a, b) => (a.price < b.price ? -1 : a.price > b.price ? 1 : 0) || b.gpus - a.gpus || (a.hold.leaseId < b.hold.leaseId ? -1 : 1));
      let maxGpus = 0;
      for (const v of list) if (v.gpus > maxGpus) maxGpus = v.gpus;
      // The fewest victims that could free `need` GPUs: the shortest prefix worth trying.
      let from = 0;
      for (let freed = 0; from < list.length && freed < need; from++) freed += list[from]!.gpus;
      candidates.push({ key, level, list, lbCost: BigInt(need) * list[0]!.price, lbVictims: Math.max(1, Math.ceil(need / maxGpus)), from: Math.max(1, from) });
    }
    candidates.sort((a, b) => (a.lbCost < b.lbCost ? -1 : a.lbCost > b.lbCost ? 1 : 0) || a.lbVictims - b.lbVictims || a.level - b.level || (a.key < b.key ? -1 : 1));

    let best: { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint } | null = null;
    for (const c of candidates) {
      if (best && (c.lbCost > best.cost || (c.lbCost === best.cost && c.lbVictims >= best.victims.length))) break;
      // Node-wise is exact (and one placement) when no victim it cuts spans nodes; otherwise the
      // prefix search runs too and the cheaper answer wins.
      const byNodes = this.cheapestNodes(req, c.list, usableFree.get(c.key) ?? 0, startMs, endMs, deadlineMs);
      const byPrefix = byNodes?.exact ? null : this.cheapestPrefix(req, c.list, c.from, startMs, endMs, deadlineMs);
      const found = !byNodes ? byPrefix : !byPrefix ? byNodes
        : byPrefix.cost < byNodes.cost || (byPrefix.cost === byNodes.cost && byPrefix.victims.length < byNodes.victims.length) ? byPrefix : byNodes;
      if (found && (!best || found.cost < best.cost || (found.cost === best.cost && found.victims.length < best.victims.length))) best = found;
    }
    if (!best) return null;
    return { gpus: best.gpus, startMs, endMs, victims: best.victims, deadlineMs };
  }

  /**
   * Whole-node gangs (a multiple of the node size): the unit to free is a node, so pick the
   * cheapest nodes whose free GPUs plus victims' GPUs make the whole node, cut their victims and
   * place once. Null when the gang is not whole-node or that placement fails (the caller then
   * searches victim prefixes). The index is restored before returning.
   */
  private cheapestNodes(
    req: LeaseRequest, list: { hold: Hold; price: bigint; gpus: number }[], freeUsable: number, startMs: number, endMs: number, deadlineMs: number,
  ): { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint; exact: boolean } | null {
    const nodeSize = this.topo.nodesByModel.get(req.gpuModel)?.[0]?.size ?? 0;
    if (nodeSize === 0 || req.gpuCount % nodeSize !== 0) return null;
    const needNodes = Math.ceil(Math.max(0, req.gpuCount - freeUsable) / nodeSize);
    if (needNodes === 0) return null;
    const byNode = new Map<string, { victims: typeof list; victimGpus: number; cost: bigint }>();
    for (const v of list) {
      for (const nodeId of new Set(v.hold.gpuUuids.map((u) => this.topo.gpuToNode.get(u) ?? ''))) {
        let e = byNode.get(nodeId);
        if (!e) byNode.set(nodeId, (e = { victims: [], victimGpus: 0, cost: 0n }));
        e.victims.push(v);
        e.victimGpus += v.hold.gpuUuids.filter((u) => this.topo.gpuToNode.get(u) === nodeId).length;
        e.cost += v.price * BigInt(v.gpus);
      }
    }
    const freeable: { nodeId: string; victims: typeof list; cost: bigint }[] = [];
    for (const [nodeId, e] of byNode) {
      const n = this.topo.nodes.get(nodeId);
      if (!n || n.node.state !== 'ready') continue;
      let f = 0;
      for (const gi of n.gpuIdx) if (this.bookings.isFreeAt(gi, startMs, endMs)) f++;
      if (f + e.victimGpus >= n.size && f < n.size) freeable.push({ nodeId, victims: e.victims, cost: e.cost });
    }
    if (freeable.length < needNodes) return null;
    freeable.sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0) || a.victims.length - b.victims.length || (a.nodeId < b.nodeId ? -1 : 1));
    const cut = [...new Set(freeable.slice(0, needNodes).flatMap((f) => f.victims))];
    for (const v of cut) this.bookings.truncate(v.hold.leaseId, deadlineMs);
    try {
      const r = place(this.topo, this.bookings, { ...req, startMs, endMs });
      if (!r.ok) return null;
      const used = victimsUsed(cut, r.gpus);
      if (!used) return null;
      // Exact when each cut victim sits on one node: then a node's cost is its victims' and the cheapest nodes are the cheapest set.
      const exact = cut.every((v) => new Set(v.hold.gpuUuids.map((u) => this.topo.gpuToNode.get(u))).size === 1);
      return { gpus: r.gpus, ...used, exact };
    } finally {
      for (const v of cut) this.bookings.add(v.hold);
    }
  }

  /**
   * In one domain: the shortest prefix of `list` (from at least `from` victims) whose preemption
   * at `deadlineMs` lets the request fit, by binary search; then the victims whose GPUs the
   * placement actually uses. The index is restored before returning.
   */
  private cheapestPrefix(
    req: LeaseRequest, list: { hold: Hold; price: bigint; gpus: number }[], from: number, startMs: number, endMs: number, deadlineMs: number,
  ): { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint } | null {
    let cut = 0; // victims currently truncated in the index: list[0..cut)
    const cutTo = (k: number): void => {
      for (; cut < k; cut++) this.bookings.truncate(list[cut]!.hold.leaseId, deadlineMs);
      for (; cut > k; cut--) this.bookings.add(list[cut - 1]!.hold);
    };
    const tryK = (k: number): PlacementResult => {
      cutTo(k);
      return place(this.topo, this.bookings, { ...req, startMs, endMs });
    };
    try {
      // Exponential search up from the shortest useful prefix (cutting few victims is cheap; cutting
      // a whole site's is not), then binary search inside the last step.
      let lo = Math.min(from, list.length);
      let k = lo;
      let last = tryK(k);
      while (!last.ok && k < list.length) {
        lo = k + 1;
        k = Math.min(list.length, k * 2);
        last = tryK(k);
      }
      if (!last.ok) return null;
      let hi = k;
      let fit = { k, gpus: last.gpus };
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        last = tryK(mid);
        if (last.ok) {
          fit = { k: mid, gpus: last.gpus };
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      let used = victimsUsed(list.slice(0, fit.k), fit.gpus);
      // Fits without touching a victim only because it starts later: not a preemption. Rare; take
      // more victims one at a time until the placement uses one (as a linear scan would).
      for (let more = fit.k + 1; !used && more <= list.length; more++) {
        const r = tryK(more);
        if (r.ok) used = victimsUsed(list.slice(0, more), (fit = { k: more, gpus: r.gpus }).gpus);
      }
      return used ? { gpus: fit.gpus, ...used } : null;
    } finally {
      cutTo(0);
    }
  }

  /**
   * What create() would do now, without doing it: the window, price, nodes and how many leases it
   * would preempt, or a refusal with the largest request of its shape that fits. The same
   * decision as create() (one rule, one place), on the same view; nothing is held or written.
   */
  async quote(principal: Principal, body: LeaseCreateBody): Promise<LeaseQuoteView> {
    const now = this.clock.nowMs();
    const req = validateLeaseRequest(body, principal, now, this.regions);
    if (principal.kind === 'admin' && !(await this.tenants.getTenant(req.tenantId))) {
      throw new DomainError('validation', `tenantId: unknown tenant "${req.tenantId}"`, { field: 'tenantId' });
    }
    const iso = (ms: number): string => new Date(ms).toISOString();
    const shape = { gpuModel: req.gpuModel, gpuCount: req.gpuCount, class: req.leaseClass, placement: req.placement, region: req.region };
    return this.mutex.run(async () => {
      let d: Decision;
      try {
        try {
          d = this.decide(req, now, undefined, true);
        } catch (err) {
          if (!(err instanceof DomainError && err.code === 'insufficient_capacity') || !(await this.refreshIfStale())) throw err;
          d = this.decide(req, now, undefined, true);
        }
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'insufficient_capacity')) throw err;
        const largest = err.extensions['largestSatisfiable'] as number | undefined;
        return {
          outcome: 'refused' as const, ...shape, start: iso(req.startMs), end: iso(req.endMs), preemptedAt: null, priceMicrosPerGpuHour: '0', totalMicros: '0',
          nodes: 0, preempts: 0, largestSatisfiable: largest ?? null, detail: err.message,
        };
      }
      const l = d.lease;
      return {
        outcome: l.queuedUntilMs !== null ? 'queued' as const : 'placed' as const, ...shape, start: iso(l.startMs), end: iso(l.endMs),
        preemptedAt: l.preemptedAtMs === null ? null : iso(l.preemptedAtMs),
        priceMicrosPerGpuHour: l.priceMicrosPerGpuHour.toString(), totalMicros: l.totalMicros.toString(),
        nodes: new Set(l.gpus.map((g) => g.nodeId)).size, preempts: d.victims.length, largestSatisfiable: null,
        detail: d.victims.length ? `starts after the ${Math.round(this.noticeMs / 1000)} s notice of the leases it preempts` : null,
      };
    });
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
      this.bookings.truncate(id, heldUntilMs(released));
      this.spot.delete(id);
      return view;
    }).then(async (view) => {
      // Freed GPUs go to waiting requests before the release returns. The release has committed
      // whatever happens here; a failed pass is retried by the control plane's queue timer.
      await this.runQueue().catch(() => undefined);
      return view;
    });
  }

  /** Queue order: class rank (internal per policy), then age. */
  private rank(c: LeaseClass): number {
    return c === 'reserved' ? 4 : c === 'on-demand' ? 3 : c === 'internal' ? (this.internalFirst ? 3.5 : 2) : 1;
  }

  /** Whether a request of class `by` may preempt a lease of class `victim` (the rules of decide()). */
  private mayPreempt(by: LeaseClass, victim: LeaseClass): boolean {
    if (by === 'spot' || (by === 'internal' && !this.internalFirst)) return false;
    if (victim === 'spot') return true;
    return victim === 'internal' && (by === 'reserved' || by === 'on-demand') && !this.internalFirst;
  }

  /**
   * Places waiting requests that fit now, in queue order (class rank, then age), each as a new
   * request would be placed (preempting or backfilling by its class); its window starts now and
   * keeps the length asked for. A request that still does not fit holds back later requests of
   * its GPU model that it could not preempt, so small requests behind a large gang do not starve
   * it; preemptible ones may still run, since it can take their GPUs back. Called after a release
   * and by the control plane's timer (ends, preemptions, fleet changes). Returns the ids placed.
   */
  async runQueue(): Promise<string[]> {
    return this.mutex.run(async () => {
      const now = this.clock.nowMs();
      const waiting = await this.store.queuedLeases(now);
      if (waiting.length === 0) return [];
      waiting.sort((a, b) => this.rank(b.leaseClass) - this.rank(a.leaseClass) || a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1));
      const blocked: Lease[] = [];
      const placed: string[] = [];
      for (const q of waiting) {
        if (blocked.some((b) => b.gpuModel === q.gpuModel && !this.mayPreempt(b.leaseClass, q.leaseClass))) continue;
        const req: LeaseRequest = {
          tenantId: q.tenantId, gpuModel: q.gpuModel, gpuCount: q.gpuCount, leaseClass: q.leaseClass, placement: q.placement,
          region: q.region, startMs: now, endMs: now + (q.endMs - q.startMs), queueUntilMs: null,
        };
        let d: Decision;
        try {
          d = this.decide(req, now, q);
        } catch (err) {
          if (err instanceof DomainError && err.code === 'insufficient_capacity') {
            blocked.push(q);
            continue;
          }
          throw err;
        }
        const { lease, victims, deadlineMs } = d;
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
            this.undo(lease, victims);
            await this.reloadSpot();
            throw err;
          }
        } finally {
          this.pending.delete(lease.id);
        }
        if (outcome !== 'placed') {
          this.undo(lease, victims);
          await (outcome === 'stale' ? this.refreshView() : this.reloadSpot());
          continue;
        }
        placed.push(lease.id);
      }
      return placed;
    });
  }

  /** Takes back a decision whose write did not happen. */
  private undo(lease: Lease, victims: Hold[]): void {
    this.pending.delete(lease.id);
    this.bookings.remove(lease.id);
    this.spot.delete(lease.id);
    for (const v of victims) this.bookings.add(v); // the preemption did not happen
  }

  /**
   * Nodes went down: every lease holding their GPUs now or later moves to other GPUs with the
   * same model, region, placement and window (from now on), or fails when nothing fits. Each
   * outcome is an event (`replaced`, `failed`) that billing will turn into a credit. Draining
   * nodes keep their leases (they only take no new ones). Call from inside exclusive(), after
   * setFleet() with the fleet that has the nodes down.
   */
  async handleNodesDown(nodeIds: string[]): Promise<{ replaced: string[]; failed: string[] }> {
    const out = { replaced: [] as string[], failed: [] as string[] };
    if (nodeIds.length === 0) return out;
    const now = this.clock.nowMs();
    const down = new Set(nodeIds);
    const uuids = this.topo.fleet.gpus.filter((g) => down.has(g.nodeId)).map((g) => g.uuid);
    const held = await this.store.leasesHoldingGpusAfter(uuids, now);
    for (const leaseId of [...new Set(held.map((h) => h.leaseId))].sort()) {
      for (let attempt = 0; ; attempt++) {
        try {
          const outcome = await this.moveOrFail(leaseId, down, now);
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
  private async moveOrFail(leaseId: string, down: Set<string>, now: number): Promise<'replaced' | 'failed' | null> {
    const lease = await this.store.getLease(leaseId, null);
    if (!lease || ['released', 'failed', 'preempted'].includes(leaseState(lease, now))) return null;
    // It needs GPUs only until its hold ends: a lease being preempted (or backfilled in front of
    // a booking) until its deadline, not its booked end.
    const startMs = Math.max(now, lease.startMs);
    const untilMs = heldUntilMs(lease);
    this.bookings.remove(lease.id);
    const result = place(this.topo, this.bookings, {
      gpuModel: lease.gpuModel, gpuCount: lease.gpuCount, region: lease.region, startMs, endMs: untilMs, placement: lease.placement,
    });
    const fromNodes = [...new Set(lease.gpus.map((g) => g.nodeId))].sort();
    if (result.ok) {
      const next = new Set(result.gpus.map((g) => g.uuid));
      const prev = new Set(lease.gpus.map((g) => g.uuid));
      const drop = lease.gpus.filter((g) => !next.has(g.uuid)).map((g) => g.uuid);
      const add = result.gpus.filter((g) => !prev.has(g.uuid));
      await this.store.tx(async (s) => {
        await s.moveLeaseGpus(lease, drop, add, now);
        await s.appendEvents([leaseMoved(lease, now, lease.gpus, result.gpus, fromNodes.filter((n) => down.has(n)))], this.fence(true));
      });
      this.bookings.add({ leaseId: lease.id, startMs, endMs: untilMs, gpuUuids: result.gpus.map((g) => g.uuid) });
      return 'replaced';
    } else {
      const reason = `node ${fromNodes.filter((n) => down.has(n)).join(', ')} went down and no other ${lease.gpuCount} × ${lease.gpuModel} (${lease.placement}) fitted`;
      await this.store.tx(async (s) => {
        const startPending = await s.failLease(lease.id, now, reason);
        await s.appendEvents([...(startPending ? [leaseStarted(lease, lease.startMs)] : []), leaseFailed(lease, now, reason, fromNodes)], this.fence(false));
      });
      this.spot.delete(lease.id);
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
   * any principal: it shows capacity, never whose leases hold it.
   */
  capacity(q: CapacityQuery): CapacityReport {
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
    return capacityReport(this.topo, this.bookings, { gpuModel: q.gpuModel ?? null, region: q.region ?? null, startMs, endMs });
  }

  /** The operator's fleet overview: installed and power-runnable GPUs, what is leased now, prices (money as strings). */
  fleetOverview(): FleetOverview {
    return fleetOverview(this.topo, this.bookings, this.clock.nowMs());
  }

  /** GPUs leased and power drawn now, per site and model (the metrics gauges). */
  usageNow(): ReturnType<typeof usageNow> {
    return usageNow(this.topo, this.bookings, this.clock.nowMs());
  }

  /** Utilization, fragmentation, power per hall, the calendar ahead and the queue. */
  async schedulerStatus(): Promise<SchedulerStatus> {
    const now = this.clock.nowMs();
    return schedulerStatus(this.topo.fleet, this.bookings.allHolds(), now, await this.store.queuedLeases(now));
  }

  /** Writes the events of leases that started, ended, were preempted or timed out since the last sweep. */
  sweep(): Promise<number> {
    return sweepTransitions(this.store, this.clock.nowMs());
  }

  /** Drops expired holds from memory (they cannot affect any window from now on). */
  prune(): number {
    return this.bookings.prune(this.clock.nowMs());
  }

  /** Read access for capacity views; callers must not mutate. */
  get index(): BookingIndex {
    return this.bookings;
  }

  get nowMs(): number {
    return this.clock.nowMs();
  }
}
