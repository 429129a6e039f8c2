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
import { FABRIC, HALL, NODE, NVLINK, SITE, Topology, type Fleet, type GpuModelId, type ModelTree, type NodeShape } from '../fleet/index.js';
import { domainRanges, place, tryPlace, type DomainRef, type GangSizes, type PlacementQuery } from './allocator.js';
import { BookingIndex, type Hold } from './booking-index.js';
import { heldUntilMs, type Lease, type LeaseClass, type LeaseGpu, type LeaseRequest } from './lease-types.js';
import { LIST_TERMS, PriceBook, RateCard, priced, type Quoter, type TenantTerms } from './pricing.js';
import type { Currency, PriceBasis } from '../pricing/index.js';
import { DEFAULT_POLICY, backfills, mayPreempt, preempts, rankOf, victimClass, type EnginePolicy } from './rules.js';
import { MinHeap } from '../shared/heap.js';
import { VictimIndex, type VictimMeta, type VictimOnNode } from './victim-index.js';

export interface Decision {
  lease: Lease;
  /** Preemptible leases whose holds were cut at `deadlineMs` to make room (their original holds). */
  victims: Hold[];
  deadlineMs: number;
  /** The victims' entries in the victim index before they were cut (undo() puts them back). */
  victimMeta: ({ id: string } & VictimMeta)[];
  /** Where the lease's price comes from (the rate card's basis). */
  priceBasis: PriceBasis;
}

export type { VictimMeta } from './victim-index.js';

/** Options of one decision. */
export interface DecideOptions {
  /** The queued request being placed (keeps its id and creation time). */
  queued?: Lease;
  /** A quote: decide, hold nothing. */
  dry?: boolean;
  /** The new lease's id (the simulator uses its job ids); default a fresh `lease_…` id. */
  id?: string;
  /** The requesting tenant's prices (the rate card's `forTenant`); default the engine's quoter (list prices). */
  quoter?: Quoter;
  /** A price agreed outside the quoter (a spot bid, a queued request's quote), integer micros of `currency` per GPU-hour. */
  priceMicrosPerGpuHour?: bigint;
  /** The currency of `priceMicrosPerGpuHour` (default USD). */
  currency?: Currency;
}

/** How queuePass() reads waiting requests: the models each may run on (default its own), its agreed price (default: the price it was quoted when it queued). */
export interface QueuePassOptions {
  modelsOf?: (l: Lease) => readonly GpuModelId[];
  priceOf?: (l: Lease) => bigint;
}

/** Shortest useful backfill window for a spot lease, and the most placements one backfill search tries. */
const MIN_BACKFILL_MS = 10 * 60_000;
const MAX_BACKFILL_TRIES = 32;

/**
 * Of the victims cut to make room, those the placement needs, and the revenue they lose ($/h in
 * micros: price × GPUs): every victim whose GPUs it takes, and every victim in a site it draws
 * power from — cutting that victim may be what freed the power (a hall's or site's cap), so it
 * must stay cut. Victims elsewhere touch neither its GPUs nor its power and are spared. Null when
 * it takes no victim's GPUs (it fitted only because it starts later: not a preemption).
 */
function victimsUsed(topo: Topology, cut: readonly VictimOnNode[], gpus: readonly LeaseGpu[]): { victims: Hold[]; cost: bigint } | null {
  const chosen = new Set(gpus.map((g) => g.uuid));
  const sites = new Set(gpus.map((g) => topo.nodes.get(g.nodeId)?.node.siteId));
  if (!cut.some((c) => c.hold.gpuUuids.some((u) => chosen.has(u)))) return null;
  // A victim spread over several sites frees power in each: any of its GPUs in a site drawn from keeps it.
  const inSite = (u: string): boolean => sites.has(topo.gpuNodeAt[topo.gpuIndex.get(u) ?? -1]?.node.siteId);
  const used = cut.filter((c) => c.hold.gpuUuids.some((u) => chosen.has(u) || inSite(u)));
  return { victims: used.map((u) => ({ ...u.hold })), cost: used.reduce((a, u) => a + u.cost, 0n) };
}

/** Cheapest first (lost $/h per GPU), then more GPUs (fewer victims), then id: one order victims are cut in. */
function byPrice(a: VictimOnNode, b: VictimOnNode): number {
  const pa = a.meta.priceMicrosPerGpuHour;
  const pb = b.meta.priceMicrosPerGpuHour;
  return (pa < pb ? -1 : pa > pb ? 1 : 0) || b.gpus - a.gpus || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Cheapest first, then fewer GPUs, then id: the other order, for a gang smaller than the victims
 * (one 1-GPU victim loses less than a 3-GPU one at the same price per GPU).
 */
function byPriceSmallFirst(a: VictimOnNode, b: VictimOnNode): number {
  const pa = a.meta.priceMicrosPerGpuHour;
  const pb = b.meta.priceMicrosPerGpuHour;
  return (pa < pb ? -1 : pa > pb ? 1 : 0) || a.gpus - b.gpus || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The fewest victims of `list`, from its start, that could free `need` GPUs (at least 1). */
function prefixFor(list: readonly VictimOnNode[], need: number): number {
  let k = 0;
  for (let freed = 0; k < list.length && freed < need; k++) freed += list[k]!.gpus;
  return Math.max(1, k);
}

/**
 * A lower bound on the revenue lost by any set of `list`'s victims (sorted by byPrice) that frees
 * `need` GPUs, counting each victim as freeing all its GPUs: such a set holds a victim of at least
 * `need` GPUs (so costs at least the cheapest of those), or only smaller ones (so costs at least
 * their cheapest-first fractional cover). Null when even all of them free fewer.
 */
function boundFor(list: readonly VictimOnNode[], need: number): bigint | null {
  if (need <= 0) return 0n;
  let single: bigint | null = null;
  let freed = 0;
  let frac = 0n;
  let covered = false;
  for (const v of list) {
    if (v.gpus >= need) {
      if (single === null || v.cost < single) single = v.cost;
      continue;
    }
    if (covered) continue;
    const take = Math.min(v.gpus, need - freed);
    frac += v.meta.priceMicrosPerGpuHour * BigInt(take);
    freed += take;
    covered = freed >= need;
  }
  if (!covered) return single;
  return single === null || frac < single ? frac : single;
}

/** The half-open range of a domain's nodes in its tree. */
function nodeRange(t: ModelTree, level: number, index: number): [number, number] {
  const lo = new Int32Array(NODE + 1);
  const hi = new Int32Array(NODE + 1);
  domainRanges(t, { level, index }, lo, hi);
  return [lo[NODE]!, hi[NODE]!];
}

/**
 * One preempting decision's figures per domain, by tree level (SITE…NVLINK): GPUs of the model,
 * GPUs free over the window, those usable as they are (whole free nodes for a whole-node gang),
 * GPUs the request's eligible victims hold, the cheapest such victim's price per GPU-hour and the
 * largest victim; per node, free and victim GPUs. Scratch arrays, reused per tree (one decision
 * runs at a time).
 */
interface DomainStats {
  size: Int32Array[];
  free: Int32Array[];
  usable: Int32Array[];
  victimGpus: Int32Array[];
  minPrice: Float64Array[];
  maxGpus: Int32Array[];
  nodeFree: Int32Array;
  nodeVictimGpus: Int32Array;
  hallShort: Int32Array;
  siteShort: Int32Array;
}
const DOMAIN_STATS = new WeakMap<ModelTree, DomainStats>();

function domainStats(t: ModelTree): DomainStats {
  let st = DOMAIN_STATS.get(t);
  if (!st) {
    const ints = (): Int32Array[] => t.ids.map((ids) => new Int32Array(ids.length));
    st = {
      size: ints(), free: ints(), usable: ints(), victimGpus: ints(), maxGpus: ints(),
      minPrice: t.ids.map((ids) => new Float64Array(ids.length)),
      nodeFree: new Int32Array(t.nodes.length), nodeVictimGpus: new Int32Array(t.nodes.length),
      hallShort: new Int32Array(t.ids[HALL]!.length), siteShort: new Int32Array(t.ids[SITE]!.length),
    };
    DOMAIN_STATS.set(t, st);
  }
  for (const a of [st.size, st.free, st.usable, st.victimGpus, st.maxGpus]) for (const x of a) x.fill(0);
  for (const x of st.minPrice) x.fill(Infinity);
  st.hallShort.fill(-1);
  st.siteShort.fill(-1);
  return st;
}

/** A domain preemption may cut victims in, with the bound its cost is searched in order of. */
interface Candidate {
  level: number;
  index: number;
  /** GPUs (or their power) its victims must free at least. */
  need: number;
  /** Lower bounds: lost $/h in micros (need × cheapest victim price; an exact integer as a number), and victims (need ÷ largest victim). */
  lb: number;
  lbVictims: number;
}

export class LeaseEngine {
  private topo: Topology;
  private bookings: BookingIndex;
  /** An index with no holds, for "could this ever fit" (built on first use per fleet). */
  private emptyIndex: BookingIndex | null = null;
  private quoter: Quoter;
  /** The rate card over this fleet's price book: a tenant's quoter is `quoterFor(terms)`. */
  private card: RateCard;
  private regionSet: Set<string>;
  /** The victim index: live preemptible leases (spot, internal) by id and by node. Their holds are in `bookings`. */
  private victims: VictimIndex;

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
    this.victims = new VictimIndex(this.topo);
    this.card = new RateCard(new PriceBook(fleet.prices));
    this.quoter = quoter ?? this.card.forTenant(LIST_TERMS);
    this.regionSet = new Set(fleet.sites.map((s) => s.region));
  }

  /** The quoter for a tenant with these terms, over the fleet's list prices (pass it as `DecideOptions.quoter`). */
  quoterFor(terms: TenantTerms): Quoter {
    return this.card.forTenant(terms);
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
    this.card = new RateCard(new PriceBook(fleet.prices));
    this.quoter = quoter ?? this.card.forTenant(LIST_TERMS);
    this.regionSet = new Set(fleet.sites.map((s) => s.region));
    this.bookings = new BookingIndex(this.topo);
    this.bookings.powerCreditW = null; // a new fleet: the credit is computed again for it
    this.powerCredit = null;
    this.victims = new VictimIndex(this.topo);
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
    // Victims keep their class and price; their holds are the ones just loaded.
    const known = [...this.victims.entries()];
    this.victims = new VictimIndex(this.topo);
    for (const [id, m] of known) this.victims.set(id, m, b.holdOf(id));
  }

  /** Replaces the victim index (live spot and internal leases). */
  loadVictims(list: Iterable<{ id: string } & VictimMeta>): void {
    this.victims = new VictimIndex(this.topo);
    for (const l of list) this.victims.set(l.id, { leaseClass: l.leaseClass, priceMicrosPerGpuHour: l.priceMicrosPerGpuHour, gpuCount: l.gpuCount }, this.bookings.holdOf(l.id));
  }

  /** Adds one hold (a write in flight, or a lease the caller placed itself). */
  addHold(h: Hold): void {
    this.bookings.add(h);
    this.victims.reindex(h.leaseId, this.bookings.holdOf(h.leaseId));
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
    return this.decideFrom(req, now, o, tryPlace(this.topo, this.bookings, req, { gangs: this.gangs() }));
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

  /** decide(), given the request's plain placement on the current view, null when it did not fit (so a caller that already placed it does not place twice). */
  private decideFrom(req: LeaseRequest, now: number, o: DecideOptions, first: LeaseGpu[] | null): Decision {
    let result: { ok: true; gpus: LeaseGpu[] } | { ok: false } = first ? { ok: true, gpus: first } : { ok: false };
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
      // The refusal says how large a request of this shape would fit now (worked out only here).
      const refused = place(this.topo, this.bookings, req);
      const largest = refused.ok ? req.gpuCount : refused.largestSatisfiable;
      const freeGpus = refused.ok ? 0 : refused.freeGpus;
      throw new DomainError(
        'insufficient_capacity',
        `cannot place ${req.gpuCount} × ${req.gpuModel} (${req.placement}${req.region ? `, region ${req.region}` : ''}) ` +
          `for ${new Date(req.startMs).toISOString()}–${new Date(req.endMs).toISOString()}: ` +
          `the largest request that fits is ${largest} GPUs`,
        { largestSatisfiable: largest, freeGpus, gpuModel: req.gpuModel, placement: req.placement },
      );
    }
    const billedEndMs = backfill ? backfill.untilMs : endMs;
    const quote = o.priceMicrosPerGpuHour !== undefined
      ? priced({ priceMicrosPerGpuHour: o.priceMicrosPerGpuHour, currency: o.currency ?? 'USD', basis: 'list', contractId: null }, req.gpuCount, startMs, billedEndMs)
      : (o.quoter ?? this.quoter).quote({ gpuModel: req.gpuModel, leaseClass: req.leaseClass, region: req.region, gpuCount: req.gpuCount, startMs, endMs: billedEndMs });
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
      currency: quote.currency,
      createdAtMs: o.queued?.createdAtMs ?? now,
      queuedUntilMs: queueIt ? req.queueUntilMs : null,
      gpus: result.ok ? result.gpus : [],
    };
    // A dry run (a quote) leaves the view as it was: nothing held, no victim cut.
    if (queueIt || o.dry) return { lease, victims, deadlineMs, victimMeta, priceBasis: quote.basis };
    this.bookings.add(holdOf(lease));
    if (victimClass(req.leaseClass)) {
      this.victims.set(lease.id, { leaseClass: req.leaseClass, priceMicrosPerGpuHour: quote.weightMicrosPerGpuHour, gpuCount: req.gpuCount }, this.bookings.holdOf(lease.id));
    }
    for (const v of victims) {
      this.bookings.truncate(v.leaseId, deadlineMs);
      this.victims.delete(v.leaseId);
    }
    return { lease, victims, deadlineMs, victimMeta, priceBasis: quote.basis };
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
      const r = tryPlace(this.topo, this.bookings, { ...req, gpuModel: m }, { gangs });
      if (r) return this.decideFrom({ ...req, gpuModel: m }, now, o, r);
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
    for (const { id, ...m } of d.victimMeta) this.victims.set(id, m, this.bookings.holdOf(id));
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
    return tryPlace(this.topo, this.emptyIndex, q) !== null;
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
        d = this.decideAny(req, models, now, { queued: q, priceMicrosPerGpuHour: o.priceOf ? o.priceOf(q) : q.priceMicrosPerGpuHour, currency: q.currency });
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
    const gpus = tryPlace(this.topo, this.bookings, { gpuModel: lease.gpuModel, gpuCount: lease.gpuCount, region: lease.region, startMs, endMs: untilMs, placement: lease.placement });
    if (!gpus) {
      this.victims.delete(lease.id);
      return { ok: false };
    }
    this.bookings.add({ leaseId: lease.id, startMs, endMs: untilMs, gpuUuids: gpus.map((g) => g.uuid) });
    this.victims.reindex(lease.id, this.bookings.holdOf(lease.id));
    return { ok: true, gpus, startMs, untilMs };
  }

  /**
   * EASY-style backfill for preemptible work: GPUs idle now but booked later (a future reservation) may run
   * spot work until that booking starts. The longest such window of at least MIN_BACKFILL_MS wins;
   * the lease is created with its preemption already set, so the booking is never delayed.
   *
   * Window ends are the later bookings' starts. Whether a window fits only shrinks as it grows
   * (fewer GPUs free over all of it, a higher power peak), so the longest that fits is found by
   * binary search: O(log starts) placements, at most MAX_BACKFILL_TRIES, and one when even the
   * shortest does not fit (a spot request refused on a full fleet).
   */
  private backfill(req: LeaseRequest): { gpus: LeaseGpu[]; untilMs: number; by: string } | null {
    const starts = new Map<number, string>();
    for (const h of this.bookings.allHolds()) {
      if (h.startMs > req.startMs + MIN_BACKFILL_MS && h.startMs < req.endMs && !starts.has(h.startMs)) starts.set(h.startMs, h.leaseId);
    }
    if (starts.size === 0) return null;
    const ends = [...starts.keys()].sort((a, b) => a - b);
    const tryEnd = (i: number): LeaseGpu[] | null => tryPlace(this.topo, this.bookings, { ...req, endMs: ends[i]! });
    let fit = tryEnd(0);
    if (!fit) return null;
    // ends[lo] fits; find the last that does.
    let lo = 0;
    let hi = ends.length - 1;
    for (let tries = 1; lo < hi && tries < MAX_BACKFILL_TRIES; tries++) {
      const mid = (lo + hi + 1) >> 1;
      const r = tryEnd(mid);
      if (r) {
        lo = mid;
        fit = r;
      } else {
        hi = mid - 1;
      }
    }
    const untilMs = ends[lo]!;
    // The booking that ends the window: one that starts then on a chosen GPU.
    const chosen = new Set(fit.map((g) => g.uuid));
    let by = starts.get(untilMs)!;
    let first = Infinity;
    for (const h of this.bookings.allHolds()) {
      if (h.startMs >= untilMs && h.startMs < first && h.gpuUuids.some((u) => chosen.has(u))) {
        by = h.leaseId;
        first = h.startMs;
      }
    }
    return { gpus: fit, untilMs, by };
  }

  /**
   * The cheapest preemptible victims in one domain that make room; the index is left unchanged.
   *
   * One pass over the model's nodes (as a placement makes) reads free GPUs from the booking index
   * and eligible victims from the standing victim index (by node: no scan of every victim), and
   * sums both per domain of the levels the gang may use (NVLink domain, fabric, site: from the
   * finest up to the gang's own level). A domain is a candidate when it is large enough and its
   * victims could free what it lacks: GPUs beyond its free ones, or the power its hall or site
   * lacks for the gang, in GPUs of the model. Candidates are tried in order of a lower bound on
   * their lost revenue (what they lack × their cheapest victim's price per GPU-hour; then fewest
   * victims; then the finer domain; then tree order), each tightened from its own victims first
   * (boundFor), and the search stops once no bound can beat the best found. Inside a domain the
   * victims are cut cheapest first and the gang is placed inside that domain only (a placement
   * over its nodes, not the fleet's): for whole-node gangs the cheapest freeable nodes, else the
   * shortest prefix that fits, by exponential then binary search (feasibility only grows as more
   * victims are cut), so a domain costs O(log victims) small placements.
   */
  private preemptFor(req: LeaseRequest, now: number): { gpus: LeaseGpu[]; startMs: number; endMs: number; victims: Hold[]; deadlineMs: number } | null {
    const deadlineMs = now + this.policy.noticeMs;
    const startMs = Math.max(req.startMs, deadlineMs);
    const endMs = startMs + (req.endMs - req.startMs);
    const t = this.topo.treeFor(req.gpuModel);
    if (!t || this.victims.size === 0) return null;
    const own = req.placement === 'same-nvlink' ? NVLINK : req.placement === 'same-fabric' ? FABRIC : SITE;
    const c = req.gpuCount;
    const whole = c % t.nodeGpus === 0;
    const spotOk = mayPreempt(req.leaseClass, 'spot', this.policy);
    const internalOk = mayPreempt(req.leaseClass, 'internal', this.policy);
    const st = domainStats(t);
    const pNode = t.parent[NODE]!;
    const [nvSize, nvFree, nvUsable, nvVictimGpus, nvMaxGpus] = [st.size, st.free, st.usable, st.victimGpus, st.maxGpus].map((a) => a[NVLINK]!) as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
    const nvMinPrice = st.minPrice[NVLINK]!;
    let anyVictim = false;
    for (let ni = 0; ni < t.nodes.length; ni++) {
      st.nodeFree[ni] = 0;
      st.nodeVictimGpus[ni] = 0;
      if (t.nodeReady[ni] === 0 || (req.region !== null && t.siteRegion[t.nodeSite[ni]!] !== req.region)) continue;
      const size = t.nodeSize[ni]!;
      const g0 = t.nodeFirstGpu[ni]!;
      const f = size ? this.bookings.countFree(g0, size, startMs, endMs) : 0;
      let vg = 0;
      let minP = Infinity;
      let maxG = 0;
      const list = f < size ? this.victims.onNode(g0) : undefined;
      if (list) {
        for (const v of list) {
          if (v.endMs <= startMs || v.startMs >= endMs || !(v.meta.leaseClass === 'spot' ? spotOk : v.meta.leaseClass === 'internal' && internalOk)) continue;
          vg += v.onNode;
          if (v.price < minP) minP = v.price;
          if (v.gpus > maxG) maxG = v.gpus;
        }
      }
      if (vg > 0) anyVictim = true;
      st.nodeFree[ni] = f;
      st.nodeVictimGpus[ni] = vg;
      const d = pNode[ni]!;
      nvSize[d] = nvSize[d]! + size;
      nvFree[d] = nvFree[d]! + f;
      nvUsable[d] = nvUsable[d]! + (whole ? (f === size ? f : 0) : f);
      nvVictimGpus[d] = nvVictimGpus[d]! + vg;
      if (minP < nvMinPrice[d]!) nvMinPrice[d] = minP;
      if (maxG > nvMaxGpus[d]!) nvMaxGpus[d] = maxG;
    }
    // Up the tree: NVLink domains into fabrics, fabrics into halls, halls into sites.
    for (let l = NVLINK; l > SITE; l--) {
      const par = t.parent[l]!;
      const [sz, fr, us, vgs, mp, mg] = [st.size, st.free, st.usable, st.victimGpus, st.minPrice, st.maxGpus].map((a) => a[l]!) as [Int32Array, Int32Array, Int32Array, Int32Array, Float64Array, Int32Array];
      const [szU, frU, usU, vgU, mpU, mgU] = [st.size, st.free, st.usable, st.victimGpus, st.minPrice, st.maxGpus].map((a) => a[l - 1]!) as [Int32Array, Int32Array, Int32Array, Int32Array, Float64Array, Int32Array];
      for (let i = 0; i < sz.length; i++) {
        const p = par[i]!;
        szU[p] = szU[p]! + sz[i]!;
        frU[p] = frU[p]! + fr[i]!;
        usU[p] = usU[p]! + us[i]!;
        vgU[p] = vgU[p]! + vgs[i]!;
        if (mp[i]! < mpU[p]!) mpU[p] = mp[i]!;
        if (mg[i]! > mgU[p]!) mgU[p] = mg[i]!;
      }
    }
    // Power the gang lacks in a hall or site over the window, in GPUs of the model (memoised per decision).
    const short = (memo: Int32Array, i: number, scopeId: string, capW: number, w: number): number => {
      let v = memo[i]!;
      if (v < 0) {
        const headroomW = capW > 0 && Number.isFinite(capW) ? capW - this.bookings.admissionWatts(scopeId, startMs, endMs) : Infinity;
        v = w > 0 ? Math.max(0, Math.ceil((c * w - headroomW) / w - 1e-9)) : 0;
        memo[i] = Math.min(v, 2 ** 31 - 1);
      }
      return v;
    };
    // GPUs may free up between now and the deadline (leases ending, earlier preemptions' victims
    // leaving): when the gang fits then without cutting anyone, it starts then and cuts no one. The
    // placement is tried only where a necessary condition holds (a domain of the gang's level with
    // enough free GPUs and power; for `any`, enough over all sites), so a saturated fleet pays nothing.
    if (this.mayFitUncut(t, st, own, req, short)) {
      const gpus = tryPlace(this.topo, this.bookings, { ...req, startMs, endMs });
      if (gpus) return { gpus, startMs, endMs, victims: [], deadlineMs };
    }
    if (!anyVictim) return null;
    const cands: Candidate[] = [];
    for (const level of [NVLINK, FABRIC, SITE]) {
      if (level < own) continue;
      const vgs = st.victimGpus[level]!;
      for (let i = 0; i < vgs.length; i++) {
        const vg = vgs[i]!;
        if (vg === 0 || st.size[level]![i]! < c) continue;
        let hall = -1;
        let site = i;
        if (level !== SITE) {
          hall = level === NVLINK ? t.parent[FABRIC]![t.parent[NVLINK]![i]!]! : t.parent[FABRIC]![i]!;
          site = t.parent[HALL]![hall]!;
        }
        const w = t.siteWattsPerGpu[site]!;
        let lack = short(st.siteShort, site, t.ids[SITE]![site]!, t.sitePowerCapW[site]!, w);
        if (hall >= 0) lack = Math.max(lack, short(st.hallShort, hall, t.ids[HALL]![hall]!, t.hallPowerCapW[hall]!, w));
        const need = Math.max(0, c - st.free[level]![i]!, lack);
        if (need > vg) continue; // cannot fit even with every victim cut
        cands.push({ level, index: i, need, lb: need * st.minPrice[level]![i]!, lbVictims: Math.max(1, Math.ceil(need / st.maxGpus[level]![i]!)) });
      }
    }
    // Best bound first; the search usually stops after a few, so a heap rather than a sort of thousands.
    const order = new MinHeap(cands, (a, b) => a.lb < b.lb || (a.lb === b.lb && (a.lbVictims < b.lbVictims || (a.lbVictims === b.lbVictims && (a.level > b.level || (a.level === b.level && a.index < b.index))))));

    let best: { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint } | null = null;
    // Bounds are exact integers held as numbers (micros × GPUs, far below 2^53); costs are bigint.
    const beats = (cost: bigint | number, victims: number): boolean => {
      if (!best) return true;
      const b = typeof cost === 'bigint' ? best.cost : Number(best.cost);
      return cost < b || (cost === b && victims < best.victims.length);
    };
    for (let cand = order.pop(); cand; cand = order.pop()) {
      if (!beats(cand.lb, cand.lbVictims)) break;
      const list = this.victimsIn(t, st, cand, startMs, endMs, spotOk, internalOk);
      const bound = boundFor(list, cand.need);
      if (bound === null || !beats(bound, cand.lbVictims)) continue;
      const q = { ...req, startMs, endMs };
      const within = { level: cand.level, index: cand.index };
      // Node-wise is exact (and one placement) when no victim it cuts spans nodes; otherwise the
      // prefix search runs too and the cheaper answer wins.
      const byNodes = whole ? this.cheapestNodes(q, t, st, within, list, st.usable[cand.level]![cand.index]!, deadlineMs) : null;
      // Cheapest first, larger victims first (fewest cut); when that loses more than the bound,
      // smaller victims first too (a small gang should not cut a large lease a small one frees).
      let byPrefix = byNodes?.exact ? null : this.cheapestPrefix(q, within, list, prefixFor(list, cand.need), deadlineMs);
      if (!byNodes?.exact && (!byPrefix || byPrefix.cost > bound)) {
        const small = [...list].sort(byPriceSmallFirst);
        const alt = this.cheapestPrefix(q, within, small, prefixFor(small, cand.need), deadlineMs);
        if (alt && (!byPrefix || alt.cost < byPrefix.cost || (alt.cost === byPrefix.cost && alt.victims.length < byPrefix.victims.length))) byPrefix = alt;
      }
      const found = !byNodes ? byPrefix : !byPrefix ? byNodes
        : byPrefix.cost < byNodes.cost || (byPrefix.cost === byNodes.cost && byPrefix.victims.length < byNodes.victims.length) ? byPrefix : byNodes;
      if (found && beats(found.cost, found.victims.length)) best = found;
    }
    if (!best) return null;
    return { gpus: best.gpus, startMs, endMs, victims: best.victims, deadlineMs };
  }

  /**
   * A necessary condition for the gang to fit over the window without cutting anyone: some domain
   * of its level holds enough free GPUs and its hall and site lack no power (for `any`, which may
   * spread, the sites' free GPUs within their power headroom add up to the gang).
   */
  private mayFitUncut(
    t: ModelTree, st: DomainStats, own: number, req: LeaseRequest,
    short: (memo: Int32Array, i: number, scopeId: string, capW: number, w: number) => number,
  ): boolean {
    const c = req.gpuCount;
    const siteShort = (si: number): number => short(st.siteShort, si, t.ids[SITE]![si]!, t.sitePowerCapW[si]!, t.siteWattsPerGpu[si]!);
    if (req.placement === 'any') {
      // A site that lacks `short` GPUs' power for the gang has power for c − short more.
      let sum = 0;
      for (let si = 0; si < t.ids[SITE]!.length; si++) {
        sum += Math.min(st.free[SITE]![si]!, Math.max(0, c - siteShort(si)));
        if (sum >= c) return true;
      }
      return false;
    }
    const free = st.free[own]!;
    for (let i = 0; i < free.length; i++) {
      if (free[i]! < c) continue;
      if (own === SITE) {
        if (siteShort(i) === 0) return true;
        continue;
      }
      const hall = own === NVLINK ? t.parent[FABRIC]![t.parent[NVLINK]![i]!]! : t.parent[FABRIC]![i]!;
      const site = t.parent[HALL]![hall]!;
      if (siteShort(site) === 0 && short(st.hallShort, hall, t.ids[HALL]![hall]!, t.hallPowerCapW[hall]!, t.siteWattsPerGpu[site]!) === 0) return true;
    }
    return false;
  }

  /** The eligible victims of one candidate domain over the window, each once, cheapest first (byPrice). */
  private victimsIn(t: ModelTree, st: DomainStats, cand: Candidate, startMs: number, endMs: number, spotOk: boolean, internalOk: boolean): VictimOnNode[] {
    const [lo, hi] = nodeRange(t, cand.level, cand.index);
    const out: VictimOnNode[] = [];
    const seen = new Set<string>();
    for (let ni = lo; ni < hi; ni++) {
      if (st.nodeVictimGpus[ni] === 0) continue;
      for (const v of this.victims.onNode(t.nodeFirstGpu[ni]!) ?? []) {
        if (v.endMs <= startMs || v.startMs >= endMs || !(v.meta.leaseClass === 'spot' ? spotOk : v.meta.leaseClass === 'internal' && internalOk)) continue;
        if (seen.has(v.id)) continue;
        seen.add(v.id);
        out.push(v);
      }
    }
    return out.sort(byPrice);
  }

  /**
   * Whole-node gangs (a multiple of the node size): the unit to free is a node, so pick the
   * domain's cheapest nodes whose free GPUs plus victims' GPUs make the whole node, cut their
   * victims and place once, inside the domain. Null when that placement fails (the caller then
   * searches victim prefixes). The index is restored before returning.
   */
  private cheapestNodes(
    q: PlacementQuery, t: ModelTree, st: DomainStats, within: DomainRef, list: readonly VictimOnNode[], usableFree: number, deadlineMs: number,
  ): { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint; exact: boolean } | null {
    const needNodes = Math.ceil(Math.max(0, q.gpuCount - usableFree) / t.nodeGpus);
    if (needNodes === 0) return null;
    const eligible = new Set(list.map((v) => v.id));
    const [lo, hi] = nodeRange(t, within.level, within.index);
    const freeable: { ni: number; victims: VictimOnNode[]; cost: bigint }[] = [];
    for (let ni = lo; ni < hi; ni++) {
      const size = t.nodeSize[ni]!;
      const f = st.nodeFree[ni]!;
      if (t.nodeReady[ni] === 0 || f >= size || f + st.nodeVictimGpus[ni]! < size) continue;
      const victims = (this.victims.onNode(t.nodeFirstGpu[ni]!) ?? []).filter((v) => eligible.has(v.id));
      freeable.push({ ni, victims, cost: victims.reduce((a, v) => a + v.cost, 0n) });
    }
    if (freeable.length < needNodes) return null;
    freeable.sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0) || a.victims.length - b.victims.length || a.ni - b.ni);
    // A victim on several chosen nodes is one victim (its entries differ per node).
    const cut = [...new Map(freeable.slice(0, needNodes).flatMap((f) => f.victims).map((v) => [v.id, v] as const)).values()];
    for (const v of cut) this.bookings.truncate(v.id, deadlineMs);
    try {
      const gpus = tryPlace(this.topo, this.bookings, q, { within });
      if (!gpus) return null;
      const used = victimsUsed(this.topo, cut, gpus);
      if (!used) return null;
      // Exact when each cut victim sits on one node: then a node's cost is its victims' and the cheapest nodes are the cheapest set.
      return { gpus, ...used, exact: cut.every((v) => v.onNode === v.gpus) };
    } finally {
      for (const v of cut) this.bookings.add(v.hold);
    }
  }

  /**
   * In one domain: the shortest prefix of `list` (from at least `from` victims) whose preemption
   * at `deadlineMs` lets the request fit inside the domain, by exponential then binary search;
   * then the victims whose GPUs or power the placement uses. The index is restored before returning.
   */
  private cheapestPrefix(
    q: PlacementQuery, within: DomainRef, list: readonly VictimOnNode[], from: number, deadlineMs: number,
  ): { gpus: LeaseGpu[]; victims: Hold[]; cost: bigint } | null {
    let cut = 0; // victims currently truncated in the index: list[0..cut)
    const cutTo = (k: number): void => {
      for (; cut < k; cut++) this.bookings.truncate(list[cut]!.id, deadlineMs);
      for (; cut > k; cut--) this.bookings.add(list[cut - 1]!.hold);
    };
    const tryK = (k: number): LeaseGpu[] | null => {
      cutTo(k);
      return tryPlace(this.topo, this.bookings, q, { within });
    };
    try {
      let lo = Math.min(from, list.length);
      let k = lo;
      let last = tryK(k);
      while (!last && k < list.length) {
        lo = k + 1;
        k = Math.min(list.length, k * 2);
        last = tryK(k);
      }
      if (!last) return null;
      let hi = k;
      let fit = { k, gpus: last };
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        last = tryK(mid);
        if (last) {
          fit = { k: mid, gpus: last };
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
        if (r) used = victimsUsed(this.topo, list.slice(0, more), (fit = { k: more, gpus: r }).gpus);
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
