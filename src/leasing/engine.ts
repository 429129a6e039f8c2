/**
 * The scheduling engine: the one place GPU time is decided, for the lease API (through
 * LeaseService, which adds storage and the capacity fence), the simulator and the benchmarks.
 *
 * Pure and in memory: a Topology (the fleet), a BookingIndex (every hold: a lease's GPUs over a
 * window), the preemptible leases (the victim index) and a Quoter for prices. No I/O, no clock:
 * every call is given `now` (epoch milliseconds, or virtual milliseconds in the simulator). The
 * same fleet, holds, policy and calls give the same decisions; ties break on the topology's stable
 * order and on lease ids.
 *
 * What it decides (the rules themselves are in rules.ts and allocator.ts):
 * - placement of a gang over any window, now or in the future (allocator.ts: topology levels,
 *   whole nodes, best fit, power caps of halls and sites over the window);
 * - preemption: the cheapest set of preemptible leases in one domain that makes room, cut at the
 *   end of their notice; the new lease starts then and keeps its length;
 * - backfill: preemptible work may run on GPUs that are idle now but booked later, until the
 *   booking starts;
 * - queueing: a request that cannot be placed may wait (no GPUs held); queuePass() places waiting
 *   requests in rank order without letting small requests starve a large one;
 * - failures: a lease on a node that went down moves to other GPUs of the same shape, or fails;
 * - quotes: a dry run of the same decision (nothing held).
 */
import { DomainError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { Topology, type Fleet, type GpuModelId, type NodeShape } from '../fleet/index.js';
import { place, type GangSizes, type PlacementQuery, type PlacementResult } from './allocator.js';
import { BookingIndex, type Hold } from './booking-index.js';
import { heldUntilMs, type Lease, type LeaseClass, type LeaseGpu, type LeaseRequest } from './lease-types.js';
import { PriceBook, PriceBookQuoter, leaseTotalMicros, type Quoter } from './pricing.js';
import { DEFAULT_POLICY, backfills, mayPreempt, preempts, rankOf, victimClass, type EnginePolicy } from './rules.js';

export interface Decision {
  lease: Lease;
  /** Preemptible leases whose holds were cut at `deadlineMs` to make room (their original holds). */
  victims: Hold[];
  deadlineMs: number;
  /** The victims' entries in the victim index before they were cut (undo() puts them back). */
  victimMeta: ({ id: string } & VictimMeta)[];
}

/** A preemption candidate: a live spot or internal lease. */
export interface VictimMeta {
  leaseClass: LeaseClass;
  priceMicrosPerGpuHour: bigint;
  gpuCount: number;
}

/** Options of one decision. */
export interface DecideOptions {
  /** The queued request being placed (keeps its id and creation time). */
  queued?: Lease;
  /** A quote: decide, hold nothing. */
  dry?: boolean;
  /** The new lease's id (the simulator uses its job ids); default a fresh `lease_…` id. */
  id?: string;
  /** A price agreed outside the quoter (a contract, a spot bid), integer micro-dollars per GPU-hour. */
  priceMicrosPerGpuHour?: bigint;
}

/** How queuePass() reads waiting requests: the models each may run on (default its own), its agreed price (default: quoted again). */
export interface QueuePassOptions {
  modelsOf?: (l: Lease) => readonly GpuModelId[];
  priceOf?: (l: Lease) => bigint;
}

/** Shortest useful backfill window for a spot lease, and how many window ends are tried. */
const MIN_BACKFILL_MS = 10 * 60_000;
const MAX_BACKFILL_TRIES = 32;

/** Victim-group keys of a node at the three domain levels (NVLink, fabric, site), built once per node. */
const DOMAIN_KEYS = new WeakMap<object, [string, string, string]>();
function domainKeys(n: { nvlinkId: string; fabricId: string; siteId: string }): [string, string, string] {
  let k = DOMAIN_KEYS.get(n);
  if (!k) DOMAIN_KEYS.set(n, (k = [`0/${n.nvlinkId}`, `1/${n.fabricId}`, `2/${n.siteId}`]));
  return k;
}

/**
 * Of the victims cut to make room, those the placement needs, and the revenue they lose ($/h:
 * price × GPUs): every victim whose GPUs it takes, and every victim in a site it draws power
 * from — cutting that victim may be what freed the power (a hall's or site's cap), so it must stay
 * cut. Victims elsewhere touch neither its GPUs nor its power and are spared. Null when it takes
 * no victim's GPUs (it fitted only because it starts later: not a preemption).
 */
function victimsUsed(topo: Topology, cut: readonly { hold: Hold; price: bigint; gpus: number }[], gpus: readonly LeaseGpu[]): { victims: Hold[]; cost: bigint } | null {
  const chosen = new Set(gpus.map((g) => g.uuid));
  const sites = new Set(gpus.map((g) => topo.nodes.get(g.nodeId)?.node.siteId));
  if (!cut.some((c) => c.hold.gpuUuids.some((u) => chosen.has(u)))) return null;
  const siteOf = (c: { hold: Hold }): string | undefined => topo.nodes.get(topo.gpuToNode.get(c.hold.gpuUuids[0] ?? '') ?? '')?.node.siteId;
  const used = cut.filter((c) => c.hold.gpuUuids.some((u) => chosen.has(u)) || sites.has(siteOf(c)));
  return { victims: used.map((u) => u.hold), cost: used.reduce((a, u) => a + u.price * BigInt(u.gpus), 0n) };
}

export class LeaseEngine {
  private topo: Topology;
  private bookings: BookingIndex;
  /** An index with no holds, for "could this ever fit" (built on first use per fleet). */
  private emptyIndex: BookingIndex | null = null;
  private quoter: Quoter;
  private regionSet: Set<string>;
  /** The victim index: live preemptible leases (spot, internal) by id. Their holds are in `bookings`. */
  private readonly victims = new Map<string, VictimMeta>();

  private readonly shape: NodeShape | undefined;
  /** Requests per gang size, counted when the policy places by FGD (its population). */
  private readonly sizeCounts = new Map<number, number>();
  private gangCache: GangSizes | null = null;

  /**
   * `quoter` prices leases (default: the fleet's price book); `shape` sizes nodes whose models are
   * not in the catalog (a trace's fleet; see NodeShape).
   */
  constructor(fleet: Fleet, readonly policy: EnginePolicy = { ...DEFAULT_POLICY }, o: { quoter?: Quoter; shape?: NodeShape } = {}) {
    this.shape = o.shape;
    const quoter = o.quoter;
    this.topo = new Topology(fleet, this.shape);
    this.bookings = new BookingIndex(this.topo);
    this.quoter = quoter ?? new PriceBookQuoter(new PriceBook(fleet.prices));
    this.regionSet = new Set(fleet.sites.map((s) => s.region));
  }

  get topology(): Topology {
    return this.topo;
  }

  /** Read access for capacity views; callers must not mutate. */
  get index(): BookingIndex {
    return this.bookings;
  }

  get regions(): ReadonlySet<string> {
    return this.regionSet;
  }

  /** Swaps in a new fleet; every hold is dropped (the caller loads them again: power per hall/site may change). */
  setFleet(fleet: Fleet, quoter?: Quoter): void {
    this.topo = new Topology(fleet, this.shape);
    this.emptyIndex = null;
    this.quoter = quoter ?? new PriceBookQuoter(new PriceBook(fleet.prices));
    this.regionSet = new Set(fleet.sites.map((s) => s.region));
    this.bookings = new BookingIndex(this.topo);
    this.bookings.powerCreditW = null; // a new fleet: the credit is computed again for it
    this.powerCredit = null;
    this.victims.clear();
  }

  /** Measured-draw admission credit per hall and site id, watts (null: none); kept across index rebuilds. */
  private powerCredit: ReadonlyMap<string, number> | null = null;

  setPowerCredit(credit: ReadonlyMap<string, number> | null): void {
    this.powerCredit = credit;
    this.bookings.powerCreditW = credit;
  }

  /** Replaces every hold (a view loaded from the store). */
  loadHolds(holds: Iterable<Hold>): void {
    const b = new BookingIndex(this.topo);
    b.powerCreditW = this.powerCredit;
    for (const h of holds) b.add(h);
    this.bookings = b;
  }

  /** Replaces the victim index (live spot and internal leases). */
  loadVictims(list: Iterable<{ id: string } & VictimMeta>): void {
    this.victims.clear();
    for (const l of list) this.victims.set(l.id, { leaseClass: l.leaseClass, priceMicrosPerGpuHour: l.priceMicrosPerGpuHour, gpuCount: l.gpuCount });
  }

  /** Adds one hold (a write in flight, or a lease the caller placed itself). */
  addHold(h: Hold): void {
    this.bookings.add(h);
  }

  /**
   * Places the request and holds its GPUs in the index (unless `dry`). When nothing fits and the
   * class may preempt, the cheapest preemptible leases inside one domain of the gang's level
   * (NVLink domain, fabric, or site for same-site/any) are cut at the end of their notice and the
   * new lease starts then, keeping its requested length. Preemptible classes may backfill. When
   * nothing fits and the request may wait (`queueUntilMs`), it is returned queued (no GPUs, nothing
   * held) — unless it could not fit even on an empty fleet. Otherwise throws
   * `insufficient_capacity` with the largest request of its shape that fits.
   */
  decide(req: LeaseRequest, now: number, o: DecideOptions = {}): Decision {
    this.count(req.gpuCount, o);
    return this.decideOne(req, now, o);
  }

  /** decide() without counting the request into the FGD population (decideAny counts it once). */
  private decideOne(req: LeaseRequest, now: number, o: DecideOptions): Decision {
    return this.decideFrom(req, now, o, place(this.topo, this.bookings, req, this.gangs()));
  }

  /**
   * Counts a new request's gang size into the FGD population (only under `placement: 'fgd'`; not
   * quotes, not a queued request tried again).
   */
  private count(gpus: number, o: DecideOptions): void {
    if (this.policy.placement !== 'fgd' || o.dry || o.queued) return;
    this.sizeCounts.set(gpus, (this.sizeCounts.get(gpus) ?? 0) + 1);
    this.gangCache = null;
  }

  /** The gang-size population for FGD placement, or undefined (best fit). */
  private gangs(): GangSizes | undefined {
    if (this.policy.placement !== 'fgd' || this.sizeCounts.size === 0) return undefined;
    if (!this.gangCache) {
      const sizes = [...this.sizeCounts.keys()].sort((a, b) => a - b);
      const total = sizes.reduce((a, k) => a + this.sizeCounts.get(k)!, 0);
      this.gangCache = { sizes, weights: sizes.map((k) => this.sizeCounts.get(k)! / total) };
    }
    return this.gangCache;
  }

  /** decide(), given the request's plain placement on the current view (so a caller that already placed it does not place twice). */
  private decideFrom(req: LeaseRequest, now: number, o: DecideOptions, first: PlacementResult): Decision {
    let result = first;
    let startMs = req.startMs;
    let endMs = req.endMs;
    let victims: Hold[] = [];
    let victimMeta: ({ id: string } & VictimMeta)[] = [];
    let deadlineMs = now;
    if (!result.ok && preempts(req.leaseClass, this.policy)) {
      const pre = this.preemptFor(req, now);
      if (pre) {
        result = { ok: true, gpus: pre.gpus };
        ({ startMs, endMs, victims, deadlineMs } = pre);
        victimMeta = victims.map((v) => ({ id: v.leaseId, ...this.victims.get(v.leaseId)! }));
      }
    }
    let backfill: { untilMs: number; by: string } | null = null;
    if (!result.ok && backfills(req.leaseClass, this.policy)) {
      const bf = this.backfill(req);
      if (bf) {
        result = { ok: true, gpus: bf.gpus };
        backfill = { untilMs: bf.untilMs, by: bf.by };
      }
    }
    const queueIt = !result.ok && req.queueUntilMs !== null && this.couldEverFit(req);
    if (!result.ok && !queueIt) {
      throw new DomainError(
        'insufficient_capacity',
        `cannot place ${req.gpuCount} × ${req.gpuModel} (${req.placement}${req.region ? `, region ${req.region}` : ''}) ` +
          `for ${new Date(req.startMs).toISOString()}–${new Date(req.endMs).toISOString()}: ` +
          `the largest request that fits is ${result.largestSatisfiable} GPUs`,
        { largestSatisfiable: result.largestSatisfiable, freeGpus: result.freeGpus, gpuModel: req.gpuModel, placement: req.placement },
      );
    }
    const billedEndMs = backfill ? backfill.untilMs : endMs;
    const quote = o.priceMicrosPerGpuHour !== undefined
      ? { priceMicrosPerGpuHour: o.priceMicrosPerGpuHour, totalMicros: leaseTotalMicros(o.priceMicrosPerGpuHour, req.gpuCount, Math.max(0, billedEndMs - startMs)) }
      : this.quoter.quote({ gpuModel: req.gpuModel, leaseClass: req.leaseClass, region: req.region, gpuCount: req.gpuCount, startMs, endMs: billedEndMs });
    const lease: Lease = {
      id: o.queued?.id ?? o.id ?? newId('lease'),
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
      createdAtMs: o.queued?.createdAtMs ?? now,
      queuedUntilMs: queueIt ? req.queueUntilMs : null,
      gpus: result.ok ? result.gpus : [],
    };
    // A dry run (a quote) leaves the view as it was: nothing held, no victim cut.
    if (queueIt || o.dry) return { lease, victims, deadlineMs, victimMeta };
    this.bookings.add(holdOf(lease));
    if (victimClass(req.leaseClass)) this.victims.set(lease.id, { leaseClass: req.leaseClass, priceMicrosPerGpuHour: quote.priceMicrosPerGpuHour, gpuCount: req.gpuCount });
    for (const v of victims) {
      this.bookings.truncate(v.leaseId, deadlineMs);
      this.victims.delete(v.leaseId);
    }
    return { lease, victims, deadlineMs, victimMeta };
  }

  /**
   * A request that any of several models may serve (a trace task's allowed models, in the order
   * given): the first model where it fits as it is; else the first where it fits by preempting or
   * backfilling; else, if it may wait, queued on the first model where it could ever fit; else
   * refused with the largest request that fits on any of them. One model: decide() itself.
   */
  decideAny(req: LeaseRequest, models: readonly GpuModelId[], now: number, o: DecideOptions = {}): Decision {
    this.count(req.gpuCount, o);
    if (models.length <= 1) return this.decideOne(models.length === 1 ? { ...req, gpuModel: models[0]! } : req, now, o);
    const gangs = this.gangs();
    for (const m of models) {
      const r = place(this.topo, this.bookings, { ...req, gpuModel: m }, gangs);
      if (r.ok) return this.decideFrom({ ...req, gpuModel: m }, now, o, r);
    }
    let refusal: DomainError | null = null;
    let largest = -1;
    for (const m of models) {
      try {
        return this.decideOne({ ...req, gpuModel: m, queueUntilMs: null }, now, o);
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'insufficient_capacity')) throw err;
        const l = Number(err.extensions['largestSatisfiable'] ?? 0);
        if (l > largest) [largest, refusal] = [l, err];
      }
    }
    if (req.queueUntilMs !== null) {
      for (const m of models) if (this.couldEverFit({ ...req, gpuModel: m })) return this.decideOne({ ...req, gpuModel: m }, now, o);
    }
    throw refusal!;
  }

  /** Takes back a decision that did not happen (its write failed): its hold goes, its victims' holds come back. */
  undo(d: Decision): void {
    this.bookings.remove(d.lease.id);
    this.victims.delete(d.lease.id);
    for (const v of d.victims) this.bookings.add(v);
    for (const { id, ...m } of d.victimMeta) this.victims.set(id, m);
  }

  /** A lease stopped holding its GPUs after `heldUntilMs` (released, failed, preempted): no longer a victim either. */
  ended(leaseId: string, heldUntil: number): void {
    this.bookings.truncate(leaseId, heldUntil);
    this.victims.delete(leaseId);
  }

  /** Drops holds that ended before `nowMs` (they cannot affect any window from now on). */
  prune(nowMs: number): number {
    return this.bookings.prune(nowMs);
  }

  /** Could the request fit at all, on this fleet with nothing booked (more GPUs than the model, domain or power has: never)? */
  couldEverFit(q: PlacementQuery): boolean {
    this.emptyIndex ??= new BookingIndex(this.topo);
    return place(this.topo, this.emptyIndex, q).ok;
  }

  /**
   * Waiting requests in queue order (class rank, then age, then id), each yielded as a decision
   * placed now (preempting or backfilling by its class, its GPUs held); its window starts now and
   * keeps the length asked for. The caller commits each before asking for the next; one it could
   * not commit it takes back with undo() (and may refresh the view) first. A request that does not
   * fit holds back later requests of its GPU model that it could not preempt, so small requests
   * behind a large gang do not starve it; preemptible ones may still run, since it can take their
   * GPUs back.
   */
  *queuePass(waiting: readonly Lease[], now: number, o: QueuePassOptions = {}): Generator<Decision, void, void> {
    const order = [...waiting].sort((a, b) => rankOf(b.leaseClass, this.policy) - rankOf(a.leaseClass, this.policy) || a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : 1));
    const modelsOf = o.modelsOf ?? ((l: Lease) => [l.gpuModel]);
    const blocked: { cls: LeaseClass; models: readonly GpuModelId[] }[] = [];
    for (const q of order) {
      const models = modelsOf(q);
      if (blocked.some((b) => !mayPreempt(b.cls, q.leaseClass, this.policy) && b.models.some((m) => models.includes(m)))) continue;
      const req: LeaseRequest = {
        tenantId: q.tenantId, gpuModel: q.gpuModel, gpuCount: q.gpuCount, leaseClass: q.leaseClass, placement: q.placement,
        region: q.region, startMs: now, endMs: now + (q.endMs - q.startMs), queueUntilMs: null,
      };
      let d: Decision;
      try {
        d = this.decideAny(req, models, now, { queued: q, ...(o.priceOf ? { priceMicrosPerGpuHour: o.priceOf(q) } : {}) });
      } catch (err) {
        if (err instanceof DomainError && err.code === 'insufficient_capacity') {
          blocked.push({ cls: q.leaseClass, models });
          continue;
        }
        throw err;
      }
      yield d;
    }
  }

  /**
   * Where a lease on nodes that went down can move: other GPUs with the same model, region and
   * placement, from now (or its start) until its hold ends (a lease being preempted needs GPUs
   * only until its deadline). Its own hold is taken out of the index; on success the new hold is in.
   */
  replan(lease: Lease, now: number): { ok: true; gpus: LeaseGpu[]; startMs: number; untilMs: number } | { ok: false } {
    const startMs = Math.max(now, lease.startMs);
    const untilMs = heldUntilMs(lease);
    this.bookings.remove(lease.id);
    const r = place(this.topo, this.bookings, { gpuModel: lease.gpuModel, gpuCount: lease.gpuCount, region: lease.region, startMs, endMs: untilMs, placement: lease.placement });
    if (!r.ok) {
      this.victims.delete(lease.id);
      return { ok: false };
    }
    this.bookings.add({ leaseId: lease.id, startMs, endMs: untilMs, gpuUuids: r.gpus.map((g) => g.uuid) });
    return { ok: true, gpus: r.gpus, startMs, untilMs };
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
   * The cheapest preemptible victims in one domain that make room; the index is left unchanged.
   *
   * Candidates come from the victim index (live spot and internal leases only, never a scan of
   * every hold). Per domain (NVLink domain, fabric, site: from the finest that could hold the gang
   * up to the gang's own level), victims are ordered cheapest first (lost $/h, then more GPUs, then
   * id) and the shortest prefix whose preemption lets the gang fit is found by binary search —
   * feasibility only grows as more victims are cut (more free GPUs, less drawn power) — so a domain
   * costs O(log victims) placements, not one per victim. Domains are tried in order of a lower
   * bound on their cost (the GPUs the domain lacks × its cheapest victim's price per GPU-hour; then
   * the fewest victims; then the finer domain) and skipped once that bound cannot beat the best
   * found: the lost revenue is at least that, since the gang's GPUs beyond the domain's free ones
   * must come from victims.
   */
  private preemptFor(req: LeaseRequest, now: number): { gpus: LeaseGpu[]; startMs: number; endMs: number; victims: Hold[]; deadlineMs: number } | null {
    const deadlineMs = now + this.policy.noticeMs;
    const startMs = Math.max(req.startMs, deadlineMs);
    const endMs = startMs + (req.endMs - req.startMs);
    type Victim = { hold: Hold; price: bigint; gpus: number };
    const own = req.placement === 'same-nvlink' ? 0 : req.placement === 'same-fabric' ? 1 : 2;
    const levels = [0, 1, 2].filter((l) => l <= own);
    const groups = new Map<string, { level: number; list: Victim[] }>();
    for (const [leaseId, meta] of this.victims) {
      if (!mayPreempt(req.leaseClass, meta.leaseClass, this.policy)) continue;
      const h = this.bookings.holdOf(leaseId);
      if (!h || h.endMs <= startMs || h.startMs >= endMs || h.gpuUuids.length === 0) continue;
      const node = this.topo.nodes.get(this.topo.gpuToNode.get(h.gpuUuids[0]!) ?? '');
      if (!node || node.node.gpuModel !== req.gpuModel || (req.region !== null && node.region !== req.region)) continue;
      const v: Victim = { hold: { ...h }, price: meta.priceMicrosPerGpuHour, gpus: h.gpuUuids.length };
      for (const l of levels) {
        const key = domainKeys(node.node)[l]!;
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
    // Power the gang lacks in each domain's hall (levels below the site) and site, in GPUs of the
    // model: victims in the domain must free at least that much, so it raises the cost bound when
    // power binds before GPUs do (without it every domain's bound is 0 and none is pruned).
    const powerShort = new Map<string, number>();
    const siteShortMemo = new Map<string, number>();
    const hallShortMemo = new Map<string, number>();
    const shortIn = (memo: Map<string, number>, scopeId: string, capW: number, wattsPerGpu: number): number => {
      let v = memo.get(scopeId);
      if (v === undefined) {
        const headroomW = capW > 0 && Number.isFinite(capW) ? capW - this.bookings.admissionWatts(scopeId, startMs, endMs) : Infinity;
        v = wattsPerGpu > 0 ? Math.max(0, Math.ceil((req.gpuCount * wattsPerGpu - headroomW) / wattsPerGpu - 1e-9)) : 0;
        memo.set(scopeId, v);
      }
      return v;
    };
    for (const n of this.topo.nodesByModel.get(req.gpuModel) ?? []) {
      if (n.node.state !== 'ready' || (req.region !== null && n.region !== req.region)) continue;
      const keys = domainKeys(n.node);
      let grouped = false;
      for (let i = 0; i < levels.length && !grouped; i++) grouped = groups.has(keys[i]!);
      if (!grouped) continue;
      const f = n.gpuIdx.length ? this.bookings.countFree(n.gpuIdx[0]!, n.gpuIdx.length, startMs, endMs) : 0;
      const usable = req.gpuCount % n.size === 0 ? (f === n.size ? f : 0) : f;
      const { siteId, hallId } = n.node;
      const siteShort = shortIn(siteShortMemo, siteId, this.topo.sites.get(siteId)?.powerCapW ?? 0, n.wattsPerGpu);
      const hallShort = Math.max(siteShort, shortIn(hallShortMemo, hallId, this.topo.halls.get(hallId)?.powerCapW ?? 0, n.wattsPerGpu));
      for (let i = 0; i < levels.length; i++) {
        const key = keys[i]!;
        if (!groups.has(key)) continue;
        size.set(key, (size.get(key) ?? 0) + n.size);
        free.set(key, (free.get(key) ?? 0) + f);
        usableFree.set(key, (usableFree.get(key) ?? 0) + usable);
        if (!powerShort.has(key)) powerShort.set(key, levels[i]! < 2 ? hallShort : siteShort);
      }
    }
    const candidates: { key: string; level: number; list: Victim[]; lbCost: bigint; lbVictims: number; from: number }[] = [];
    for (const [key, { level, list }] of groups) {
      const need = Math.max(0, req.gpuCount - (free.get(key) ?? 0), powerShort.get(key) ?? 0);
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
      if (!n || n.node.state !== 'ready' || n.gpuIdx.length === 0) continue;
      const f = this.bookings.countFree(n.gpuIdx[0]!, n.gpuIdx.length, startMs, endMs);
      if (f + e.victimGpus >= n.size && f < n.size) freeable.push({ nodeId, victims: e.victims, cost: e.cost });
    }
    if (freeable.length < needNodes) return null;
    freeable.sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0) || a.victims.length - b.victims.length || (a.nodeId < b.nodeId ? -1 : 1));
    const cut = [...new Set(freeable.slice(0, needNodes).flatMap((f) => f.victims))];
    for (const v of cut) this.bookings.truncate(v.hold.leaseId, deadlineMs);
    try {
      const r = place(this.topo, this.bookings, { ...req, startMs, endMs });
      if (!r.ok) return null;
      const used = victimsUsed(this.topo, cut, r.gpus);
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
      let used = victimsUsed(this.topo, list.slice(0, fit.k), fit.gpus);
      // Fits without touching a victim only because it starts later: not a preemption. Rare; take
      // more victims one at a time until the placement uses one (as a linear scan would).
      for (let more = fit.k + 1; !used && more <= list.length; more++) {
        const r = tryK(more);
        if (r.ok) used = victimsUsed(this.topo, list.slice(0, more), (fit = { k: more, gpus: r.gpus }).gpus);
      }
      return used ? { gpus: fit.gpus, ...used } : null;
    } finally {
      cutTo(0);
    }
  }
}

/** The hold of a placed lease: its GPUs from its start until its hold ends. */
export function holdOf(lease: Lease): Hold {
  return { leaseId: lease.id, startMs: lease.startMs, endMs: heldUntilMs(lease), gpuUuids: lease.gpus.map((g) => g.uuid) };
}
