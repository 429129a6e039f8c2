/**
 * The scheduler: decides which job runs where and when, on a virtual clock, over a
 * PlacementIndex. Pure and deterministic: the same fleet, jobs, policy and call order give the
 * same decisions (no randomness; ties break on stable indexes).
 *
 * Classes, highest first: reserved > on-demand > internal > spot; a policy may rank internal
 * above on-demand (the owner's work first) or below it (internal fills only what is unsold).
 * - reserved: admitted at submission only against committed capacity (installed GPUs of the
 *   model minus other commitments, hour by hour), started at its start time; never preempted.
 * - on-demand: starts when it fits (or preempts); never preempted once running; admitted only
 *   if it leaves committed capacity for every reservation that starts before it ends.
 * - internal, spot: preemptible by higher ranks; spot bids below the floor are refused.
 * - Preemption frees the cheapest victim set (lost revenue per hour, then fewest victims) inside
 *   one domain of the gang's level — a whole NVLink rack or leaf group when the gang needs one.
 *   Victims get `noticeS` (default 300 s) in state preempting, then are preempted (and requeued
 *   for their remaining time when the policy says so); their GPUs pass to the preemptor.
 * - Queue: EASY backfill (Slurm): the first job that cannot start gets a shadow time from
 *   running jobs' ends; later jobs start now only if they end by then or fit in the spare GPUs.
 * - Failures: jobs on a node that goes down or drains are re-placed with the same constraints,
 *   else fail (an event billing will turn into a credit).
 */
import { EngineFleet, PlacementIndex, SITE, type Placement } from './placement-index.js';
import type { FleetLayout, GangLevel, JobClass, JobSpec } from './scheduler-types.js';
import { CommitmentCalendar } from './commitment-calendar.js';

export interface SchedulerPolicy {
  name: string;
  /** true: internal outranks on-demand; false: internal only fills what is unsold. */
  internalFirst: boolean;
  preemption: boolean;
  backfill: boolean;
  noticeS: number;
  /** Requeue preempted work for its remaining time (the simulator's model of a retry). */
  requeuePreempted: boolean;
  /** Spot bids below this are refused, integer micro-dollars per GPU-hour. */
  spotFloorMicros: number;
  /** Queued jobs looked at per scheduling pass (Slurm's bf_max_job_test). */
  maxQueueScan: number;
  /** A queued job retries preemption at most this often, virtual seconds (Kueue-style periodic). */
  preemptRetryS: number;
  /** A preempted job waits this long before it may start again (back-off against preemption storms). */
  requeueDelayS: number;
}

export const POLICIES: Record<string, SchedulerPolicy> = {
  /** Default: external revenue first, preemption and backfill on. */
  revenue: { name: 'revenue', internalFirst: false, preemption: true, backfill: true, noticeS: 300, requeuePreempted: true, spotFloorMicros: 500_000, maxQueueScan: 200, preemptRetryS: 60, requeueDelayS: 600 },
  /** A hyperscaler's own work first; sells what is left. */
  'internal-first': { name: 'internal-first', internalFirst: true, preemption: true, backfill: true, noticeS: 300, requeuePreempted: true, spotFloorMicros: 500_000, maxQueueScan: 200, preemptRetryS: 60, requeueDelayS: 600 },
  /** Strict priority order without backfill or preemption: the baseline. */
  fifo: { name: 'fifo', internalFirst: false, preemption: false, backfill: false, noticeS: 300, requeuePreempted: true, spotFloorMicros: 0, maxQueueScan: 200, preemptRetryS: 60, requeueDelayS: 600 },
};

export type JobState = 'pending' | 'reserved' | 'queued' | 'starting' | 'running' | 'preempting' | 'preempted' | 'finished' | 'failed' | 'rejected';

export type SchedEvent =
  | { type: 'reserved'; t: number; job: string; startS: number }
  | { type: 'queued'; t: number; job: string }
  | { type: 'started'; t: number; job: string; nodes: string[]; gpus: number; waitS: number }
  | { type: 'preempting'; t: number; job: string; by: string; deadlineS: number }
  | { type: 'preempted'; t: number; job: string; by: string }
  | { type: 'finished'; t: number; job: string }
  | { type: 'replaced'; t: number; job: string; nodes: string[] }
  | { type: 'failed'; t: number; job: string; reason: string }
  | { type: 'rejected'; t: number; job: string; reason: string };

const HOUR_S = 3600;
/** Slot of the end-time indexes, seconds. */
const END_SLOT_S = 600;

interface Job {
  idx: number;
  spec: JobSpec;
  models: number[];
  level: GangLevel;
  rank: number;
  preemptible: boolean;
  state: JobState;
  /** Remaining run time, seconds (reduced when preempted mid-run). */
  remainingS: number;
  startedS: number;
  endS: number;
  model: number;
  placement: Placement | null;
  /** Seconds spent running, for revenue. */
  ranS: number;
  firstStartS: number;
  /** Reservation commitment booked in the calendar (model, from, to, gpus). */
  commit: [number, number, number, number] | null;
  /** Set while preempting: who takes the GPUs. */
  preemptedBy: number;
  /** Earliest virtual time this job may look for victims again. */
  nextPreemptTryS: number;
  /** Earliest virtual time a requeued (preempted) job may start again. */
  eligibleS: number;
}

type TimedKind = 0 | 1 | 2 | 3; // 0 end, 1 reservation start, 2 preemption deadline, 3 requeue back-off over

export interface SchedulerStats {
  submitted: number;
  started: number;
  finished: number;
  preemptions: number;
  failed: number;
  rejected: number;
  replaced: number;
  reservationsDelayed: number;
  queueWaitsS: number[];
  /** Revenue by class, integer micro-dollars (BigInt: sums pass 2^53); part of it is pending — read Scheduler.revenueMicros(). */
  revenueMicros: Record<JobClass, bigint>;
  busyGpuSeconds: number;
}

/**
 * Preemptible jobs whose first node lies in one domain, and their GPUs in it by rank: `r1` spot
 * (rank 1), `r2` internal work that only fills what is unsold (rank 2) — the only preemptible ranks.
 */
interface VictimEntry {
  jobs: Set<number>;
  r1: number;
  r2: number;
}

/** Binary min-heap of timed events ordered by (time, sequence). */
class EventHeap {
  private t: number[] = [];
  private seq: number[] = [];
  private kind: TimedKind[] = [];
  private job: number[] = [];
  private gen: number[] = [];
  private n = 0;
  private counter = 0;
  get size(): number {
    return this.n;
  }
  peekTime(): number {
    return this.n ? this.t[0]! : Infinity;
  }
  push(time: number, kind: TimedKind, job: number, generation: number): void {
    let i = this.n++;
    this.t[i] = time;
    this.seq[i] = this.counter++;
    this.kind[i] = kind;
    this.job[i] = job;
    this.gen[i] = generation;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(i, p)) {
        this.swap(i, p);
        i = p;
      } else break;
    }
  }
  /** The popped event's fields (no object per event: the engine pops millions). */
  time = 0;
  kindOut: TimedKind = 0;
  jobOut = 0;
  genOut = 0;
  pop(): void {
    this.time = this.t[0]!;
    this.kindOut = this.kind[0]!;
    this.jobOut = this.job[0]!;
    this.genOut = this.gen[0]!;
    this.n--;
    if (this.n > 0) {
      this.swap(0, this.n);
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.n && this.less(l, m)) m = l;
        if (r < this.n && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
  }
  /** (time, kind, sequence): at one instant ends come first, so what they free is there for starts. */
  private less(a: number, b: number): boolean {
    if (this.t[a] !== this.t[b]) return this.t[a]! < this.t[b]!;
    if (this.kind[a] !== this.kind[b]) return this.kind[a]! < this.kind[b]!;
    return this.seq[a]! < this.seq[b]!;
  }
  private swap(a: number, b: number): void {
    swapIn(this.t, a, b);
    swapIn(this.seq, a, b);
    swapIn(this.kind, a, b);
    swapIn(this.job, a, b);
    swapIn(this.gen, a, b);
  }
}

export class Scheduler {
  readonly fleet: EngineFleet;
  readonly index: PlacementIndex;
  readonly stats: SchedulerStats;
  private readonly jobs: Job[] = [];
  private readonly byId = new Map<string, number>();
  private readonly heap = new EventHeap();
  /** Per job: generation, so stale timed events (after a preemption or re-place) are ignored. */
  private readonly generation: number[] = [];
  private queue: number[] = [];
  /** Reservations within their notice period still waiting for GPUs that non-preemptible work frees. */
  private pendingReservations: number[] = [];
  /**
   * Reservations inside their notice window that have chosen their GPUs ahead of the start:
   * `target` is where they will run, `owed` (node → GPU mask) the part still held by
   * non-preemptible work that ends by `startAt`, taken as it frees. The rest is taken already.
   */
  private readonly claims = new Map<number, { target: Placement; owed: Map<number, number>; startAt: number }>();
  /** Per node: GPUs owed to some claim, so another claim does not count them as ending. */
  private readonly owedMask = new Map<number, number>();
  private nowS = 0;
  private readonly commitments: CommitmentCalendar[];
  private readonly running = new Set<number>();
  /** Jobs holding a placement while they wait for their start (notice period, reservation). */
  private readonly starting = new Set<number>();
  /** Running preemptible jobs per model: preemption looks only here. */
  private readonly preemptibleRunning: Set<number>[];
  /** Per model: GPUs held by running preemptible jobs, by rank. */
  private readonly preemptibleGpus: Map<number, number>[];
  /**
   * Running preemptible jobs by the NVLink domain, fabric and site of their first node (slots 0,
   * 1, 2), with their GPUs by rank: preemption looks up candidate domains here, not all jobs.
   */
  private readonly victimsByDomain: Map<number, VictimEntry>[][];
  /** GPUs (thousandths for shares) of running jobs, for utilization. */
  private busyMilli = 0;
  private readonly listeners: ((e: SchedEvent) => void)[] = [];
  /**
   * Bumped whenever GPUs are freed or a node returns: a queued job that failed to start at the
   * current epoch cannot start until it changes, so the queue pass skips it.
   */
  private epoch = 0;
  private readonly lastTried: number[] = [];
  private readonly blockedHead = new Map<number, number>();
  private readonly revenuePending: Record<JobClass, number> = { reserved: 0, 'on-demand': 0, internal: 0, spot: 0 };
  /** Every model index: shared by the jobs that take any model (never mutated). */
  private readonly allModels: number[];
  private settledEpoch = -1;
  private readonly passFailed = new Map<number, number>();
  private readonly passShadow = new Map<number, { timeS: number; spare: number } | null>();
  private readonly passFree = new Map<number, number>();
  /** Per model: GPUs of running jobs by the 10-minute slot they end in (backfill shadow times). */
  private readonly endsByModel: EndSlots[];
  /** Per model: running non-preemptible jobs by the 10-minute slot they end in (reservation claims). */
  private readonly endingNonPreemptible: Map<number, Set<number>>[];

  constructor(layout: FleetLayout | EngineFleet, readonly policy: SchedulerPolicy = POLICIES['revenue']!) {
    this.fleet = layout instanceof EngineFleet ? layout : new EngineFleet(layout);
    this.index = new PlacementIndex(this.fleet);
    this.commitments = this.fleet.models.map((_, m) => new CommitmentCalendar(this.fleet.modelGpus[m]!));
    this.preemptibleRunning = this.fleet.models.map(() => new Set<number>());
    this.preemptibleGpus = this.fleet.models.map(() => new Map<number, number>());
    this.endsByModel = this.fleet.models.map(() => new EndSlots());
    this.endingNonPreemptible = this.fleet.models.map(() => new Map());
    this.allModels = this.fleet.models.map((_, m) => m);
    this.victimsByDomain = [0, 1, 2].map(() => this.fleet.models.map(() => new Map<number, VictimEntry>()));
    this.stats = {
      submitted: 0, started: 0, finished: 0, preemptions: 0, failed: 0, rejected: 0, replaced: 0, reservationsDelayed: 0,
      queueWaitsS: [], revenueMicros: { reserved: 0n, 'on-demand': 0n, internal: 0n, spot: 0n }, busyGpuSeconds: 0,
    };
  }

  get now(): number {
    return this.nowS;
  }

  onEvent(fn: (e: SchedEvent) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Call sites check `listeners.length` first: events are built only when someone listens
   * (building node lists costs at fleet scale).
   */
  private emit(e: SchedEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  rankOf(c: JobClass): number {
    switch (c) {
      case 'reserved': return 4;
      case 'on-demand': return 3;
      case 'internal': return this.policy.internalFirst ? 3.5 : 2;
      default: return 1;
    }
  }

  // ------------------------------------------------------------------ public API

  /** Advances the clock to `toS`, processing ends, reservation starts and preemption deadlines. */
  advance(toS: number): void {
    while (this.heap.peekTime() <= toS) {
      const ev = this.heap;
      ev.pop();
      if (ev.genOut !== this.generation[ev.jobOut]) continue;
      this.setNow(ev.time);
      const job = this.jobs[ev.jobOut]!;
      if (ev.kindOut === 0) this.finish(job);
      else if (ev.kindOut === 1) this.startReservation(job);
      else if (ev.kindOut === 2) this.completePreemption(job);
      // kind 3: the back-off is over; the pass below looks at the job again.
      this.schedulePass();
    }
    this.setNow(Math.max(this.nowS, toS));
  }

  /** Time of the next internal event (Infinity when none). */
  nextEventTime(): number {
    return this.heap.peekTime();
  }

  submit(spec: JobSpec): JobState {
    this.advance(spec.submitS);
    const job = this.addJob(spec);
    this.stats.submitted++;
    if (job.models.length === 0) return this.reject(job, 'no installed GPU model matches');
    if (spec.jobClass === 'spot' && spec.priceMicrosPerGpuHour < this.policy.spotFloorMicros) return this.reject(job, 'spot bid below the floor price');
    if (spec.jobClass === 'reserved' && spec.startS !== undefined && spec.startS > this.nowS) {
      // Committed capacity: whole hours, conservatively.
      const m = job.models[0]!;
      const from = spec.startS;
      const to = spec.startS + spec.durationS;
      if (!this.commitments[m]!.fits(from, to, spec.gpus)) return this.reject(job, 'no committed capacity left for that window');
      this.commitments[m]!.add(from, to, spec.gpus);
      job.commit = [m, from, to, spec.gpus];
      job.model = m;
      job.state = 'reserved';
      // Pre-place one notice period early so victims get their notice and the block starts on time.
      this.heap.push(Math.max(this.nowS, from - this.policy.noticeS), 1, job.idx, this.generation[job.idx]!);
      if (this.listeners.length) this.emit({ type: 'reserved', t: this.nowS, job: spec.id, startS: from });
      return job.state;
    }
    if (this.queue.length === 0) {
      if (!this.tryStart(job, true)) {
        job.state = 'queued';
        this.lastTried[job.idx] = this.epoch;
        this.enqueue(job);
        if (this.listeners.length) this.emit({ type: 'queued', t: this.nowS, job: spec.id });
      }
      return job.state;
    }
    // Others are waiting: the job takes its place in line and the queue rules decide.
    job.state = 'queued';
    this.enqueue(job);
    this.schedulePass();
    if (job.state === 'queued' && this.listeners.length) this.emit({ type: 'queued', t: this.nowS, job: spec.id });
    return job.state;
  }

  /** Ends a job early (a lease released by its tenant). */
  release(id: string): void {
    const idx = this.byId.get(id);
    if (idx === undefined) return;
    const job = this.jobs[idx]!;
    if (job.state === 'running') {
      job.remainingS = 0;
      this.finish(job);
      this.schedulePass();
    } else if (job.state === 'queued') {
      this.queue = this.queue.filter((q) => q !== idx);
      job.state = 'finished';
    } else if (job.state === 'reserved' && job.commit) {
      this.dropClaim(job);
      const [m, from, to, g] = job.commit;
      this.commitments[m]!.add(from, to, -g);
      job.commit = null;
      this.epoch++;
      job.state = 'finished';
      this.generation[idx]!++;
    }
  }

  /** A node goes down or drains: its jobs are re-placed with the same constraints, or fail. */
  nodeDown(nodeId: string): void {
    const node = this.fleet.nodeIndex.get(nodeId);
    if (node === undefined) return;
    this.index.setNodeOff(node, true);
    this.epoch++; // re-placed jobs hand GPUs back (owed ones too)
    for (const [idx, c] of [...this.claims]) {
      if (!c.target.nodes.includes(node)) continue;
      this.dropClaim(this.jobs[idx]!);
      if (!this.pendingReservations.includes(idx)) this.pendingReservations.push(idx);
    }
    // Running jobs and jobs holding GPUs for a pending start; preempting victims are left to
    // their deadline (their GPUs already belong to the preemptor, which is in `starting`).
    for (const idx of [...this.running, ...this.starting]) {
      const job = this.jobs[idx]!;
      if (job.state !== 'running' && job.state !== 'starting') continue;
      if (!job.placement || !this.placementUses(job.placement, node)) continue;
      this.index.give(job.placement);
      const p = this.findFor(job, job.model, (n) => n !== node);
      if (p) {
        this.index.take(p);
        const indexed = job.preemptible && job.state === 'running';
        if (indexed) this.indexVictim(job, -1);
        job.placement = p;
        if (indexed) this.indexVictim(job, 1);
        this.stats.replaced++;
        if (this.listeners.length) this.emit({ type: 'replaced', t: this.nowS, job: job.spec.id, nodes: this.nodeNames(p) });
      } else if (job.state === 'running') {
        this.stopRunning(job);
        job.state = 'failed';
        job.placement = null;
        this.stats.failed++;
        this.generation[idx]!++;
        if (this.listeners.length) this.emit({ type: 'failed', t: this.nowS, job: job.spec.id, reason: `node ${nodeId} is down and nothing else fits` });
      } else {
        // A held start lost its GPUs: back to the queue, first.
        this.starting.delete(idx);
        job.placement = null;
        job.state = 'queued';
        this.generation[idx]!++;
        this.queue.unshift(idx);
      }
    }
    this.schedulePass();
  }

  nodeUp(nodeId: string): void {
    const node = this.fleet.nodeIndex.get(nodeId);
    if (node === undefined) return;
    this.index.setNodeOff(node, false);
    this.epoch++;
    this.schedulePass();
  }

  stateOf(id: string): JobState | undefined {
    const idx = this.byId.get(id);
    return idx === undefined ? undefined : this.jobs[idx]!.state;
  }

  /** Where a job runs: node ids (empty when not placed). */
  nodesOf(id: string): string[] {
    const idx = this.byId.get(id);
    const p = idx === undefined ? null : this.jobs[idx]!.placement;
    return p ? this.nodeNames(p) : [];
  }

  /** Jobs that own GPUs now (running, or holding GPUs for a pending start), with their placements. */
  holdings(): { id: string; jobClass: JobClass; level: GangLevel; state: JobState; placement: Placement }[] {
    const out: { id: string; jobClass: JobClass; level: GangLevel; state: JobState; placement: Placement }[] = [];
    for (const idx of [...this.running, ...this.starting]) {
      const j = this.jobs[idx]!;
      if ((j.state === 'running' || j.state === 'starting') && j.placement) {
        out.push({ id: j.spec.id, jobClass: j.spec.jobClass, level: j.level, state: j.state, placement: j.placement });
      }
    }
    for (const [idx, c] of this.claims) {
      const j = this.jobs[idx]!;
      out.push({ id: j.spec.id, jobClass: j.spec.jobClass, level: j.level, state: j.state, placement: this.claimTaken(c) });
    }
    return out;
  }

  queueLength(): number {
    return this.queue.length;
  }

  /** GPUs busy now (shares count by their fraction). */
  runningGpus(): number {
    return this.busyMilli / 1000;
  }

  // ------------------------------------------------------------------ internals

  private addJob(spec: JobSpec): Job {
    if (this.byId.has(spec.id)) throw new Error(`duplicate job id ${spec.id}`);
    const models = spec.gpuModels.length === 0
      ? this.allModels
      : spec.gpuModels.map((n) => this.fleet.modelIndex.get(n)).filter((m): m is number => m !== undefined);
    const job: Job = {
      idx: this.jobs.length, spec, models, level: spec.placement, rank: this.rankOf(spec.jobClass),
      preemptible: spec.jobClass === 'spot' || (spec.jobClass === 'internal' && !this.policy.internalFirst),
      state: 'pending', remainingS: spec.durationS, startedS: -1, endS: -1, model: -1, placement: null, ranS: 0,
      firstStartS: -1, commit: null, preemptedBy: -1, nextPreemptTryS: -Infinity, eligibleS: -Infinity,
    };
    this.jobs.push(job);
    this.generation.push(0);
    this.lastTried.push(-1);
    this.byId.set(spec.id, job.idx);
    return job;
  }

  private reject(job: Job, reason: string): JobState {
    job.state = 'rejected';
    this.stats.rejected++;
    if (this.listeners.length) this.emit({ type: 'rejected', t: this.nowS, job: job.spec.id, reason });
    return job.state;
  }

  private setNow(t: number): void {
    if (t > this.nowS) {
      this.stats.busyGpuSeconds += ((t - this.nowS) * this.busyMilli) / 1000;
      this.nowS = t;
    }
  }

  private findFor(job: Job, m: number, filter?: (n: number) => boolean): Placement | null {
    const g = job.spec.gpus;
    const milli = job.spec.gpuMilli;
    if (g === 1 && milli !== undefined && milli < 1000) return this.index.findShare(m, milli, { nodeFilter: filter });
    return this.index.find(m, g, job.level, { nodeFilter: filter });
  }

  /** Non-preemptible work must leave committed capacity for every reservation before its end. */
  private admissible(job: Job, m: number): boolean {
    if (job.preemptible) return true;
    return this.commitments[m]!.fits(this.nowS, this.nowS + job.remainingS, job.spec.gpus, job.spec.gpuMilli ?? 1000);
  }

  /**
   * Starts the job now if it fits (or, when allowed, by preempting). `failed` (within one queue pass): per (model, level, whole-node mode) the smallest gang that
   * found no place. Free capacity only shrinks during a pass, so a gang at least that big is
   * refused without searching.
   */
  private tryStart(job: Job, allowPreempt: boolean, failed?: Map<number, number>): boolean {
    const shared = job.spec.gpuMilli !== undefined && job.spec.gpuMilli < 1000;
    const levelCode = job.level === 'nvlink' ? 0 : job.level === 'fabric' ? 1 : job.level === 'site' ? 2 : 3;
    for (const m of job.models) {
      if (!this.admissible(job, m)) continue;
      const key = ((m * 4 + levelCode) * 2 + (job.spec.gpus % this.fleet.modelNodeSize[m]! === 0 ? 1 : 0));
      if (failed && !shared && (failed.get(key) ?? Infinity) <= job.spec.gpus) continue;
      const p = this.findFor(job, m);
      if (p) {
        this.start(job, m, p);
        return true;
      }
      if (failed && !shared) failed.set(key, Math.min(failed.get(key) ?? Infinity, job.spec.gpus));
    }
    if (allowPreempt && this.policy.preemption && job.rank > 1 && this.nowS >= job.nextPreemptTryS) {
      job.nextPreemptTryS = this.nowS + this.policy.preemptRetryS;
      for (const m of job.models) {
        if (!this.admissible(job, m)) continue;
        if (this.preemptFor(job, m)) return true;
      }
    }
    return false;
  }

  private start(job: Job, m: number, p: Placement): void {
    this.index.take(p);
    this.begin(job, m, p);
  }

  /** Marks a job running on placement p (already taken in the index). */
  private begin(job: Job, m: number, p: Placement): void {
    job.model = m;
    job.placement = p;
    job.state = 'running';
    job.startedS = this.nowS;
    job.endS = this.nowS + job.remainingS;
    if (job.firstStartS < 0) {
      job.firstStartS = this.nowS;
      this.stats.queueWaitsS.push(this.nowS - (job.spec.startS ?? job.spec.submitS));
    }
    if (!job.preemptible && !job.commit) {
      this.commitments[m]!.add(this.nowS, job.endS, job.spec.gpus, job.spec.gpuMilli ?? 1000);
      job.commit = [m, this.nowS, job.endS, job.spec.gpus];
    }
    this.running.add(job.idx);
    this.endsByModel[m]!.add(job.endS, job.spec.gpus);
    if (!job.preemptible) this.trackEnding(job, m, true);
    if (job.preemptible) {
      this.preemptibleRunning[m]!.add(job.idx);
      const byRank = this.preemptibleGpus[m]!;
      byRank.set(job.rank, (byRank.get(job.rank) ?? 0) + job.spec.gpus);
      this.indexVictim(job, 1);
    }
    this.busyMilli += milliOf(job.spec);
    this.stats.started++;
    this.generation[job.idx]!++;
    this.heap.push(job.endS, 0, job.idx, this.generation[job.idx]!);
    if (this.listeners.length) this.emit({ type: 'started', t: this.nowS, job: job.spec.id, nodes: this.nodeNames(p), gpus: job.spec.gpus, waitS: this.nowS - (job.spec.startS ?? job.spec.submitS) });
  }

  /** Stops accounting a running job (revenue, commitments); does not touch the index. */
  private stopRunning(job: Job): void {
    const ran = this.nowS - job.startedS;
    job.ranS += ran;
    job.remainingS = Math.max(0, job.remainingS - ran);
    this.running.delete(job.idx);
    this.endsByModel[job.model]!.add(job.endS, -job.spec.gpus);
    if (!job.preemptible) this.trackEnding(job, job.model, false);
    if (this.preemptibleRunning[job.model]?.delete(job.idx)) {
      const byRank = this.preemptibleGpus[job.model]!;
      byRank.set(job.rank, byRank.get(job.rank)! - job.spec.gpus);
      this.indexVictim(job, -1);
    }
    this.busyMilli -= milliOf(job.spec);
    this.addRevenue(job.spec.jobClass, Math.round((job.spec.priceMicrosPerGpuHour * job.spec.gpus * ran) / HOUR_S));
    if (job.commit) {
      // Remove exactly what was added (same slots); the past no longer matters.
      const [m, from, to, g] = job.commit;
      this.commitments[m]!.add(from, to, -g, job.spec.gpuMilli ?? 1000);
      job.commit = null;
      this.epoch++; // committed capacity freed: blocked on-demand work may now be admissible
    }
  }

  /** Adds or removes a running non-preemptible job in the end-slot index that claims read. */
  private trackEnding(job: Job, m: number, add: boolean): void {
    const slot = Math.floor(job.endS / END_SLOT_S);
    const slots = this.endingNonPreemptible[m]!;
    let set = slots.get(slot);
    if (add) {
      if (!set) slots.set(slot, (set = new Set()));
      set.add(job.idx);
    } else if (set?.delete(job.idx) && set.size === 0) {
      slots.delete(slot);
    }
  }

  /**
   * Revenue is summed exactly in a Number per class (each addition is an integer far below 2^50)
   * and moved into the BigInt total before the sum could pass 2^53: a BigInt per stop cost the
   * engine ~5% of its time in allocation at 1M jobs.
   */
  private addRevenue(c: JobClass, micros: number): void {
    const v = this.revenuePending[c] + micros;
    if (v >= 2 ** 51) {
      this.stats.revenueMicros[c] += BigInt(v);
      this.revenuePending[c] = 0;
    } else {
      this.revenuePending[c] = v;
    }
  }

  /** Revenue by class so far, integer micro-dollars. */
  revenueMicros(): Record<JobClass, bigint> {
    const r = { ...this.stats.revenueMicros };
    for (const c of Object.keys(r) as JobClass[]) r[c] += BigInt(this.revenuePending[c]);
    return r;
  }

  private finish(job: Job): void {
    if (job.state !== 'running' && job.state !== 'preempting') return;
    this.stopRunning(job);
    if (job.state === 'preempting') {
      // It ended on its own during its notice: the GPUs already belong to the preemptor.
      job.state = 'finished';
      this.stats.finished++;
      if (this.listeners.length) this.emit({ type: 'finished', t: this.nowS, job: job.spec.id });
      return;
    }
    this.index.give(job.placement!);
    job.placement = null; // finished jobs keep no GPU lists (memory at 1M jobs)
    this.epoch++;
    job.state = 'finished';
    this.stats.finished++;
    this.generation[job.idx]!++;
    if (this.listeners.length) this.emit({ type: 'finished', t: this.nowS, job: job.spec.id });
  }

  private startReservation(job: Job): void {
    if (job.state !== 'reserved') return;
    // The block was admitted against committed capacity; its commitment stays booked.
    const m = job.model;
    const startAt = job.spec.startS ?? this.nowS;
    const claim = this.claims.get(job.idx);
    if (claim && claim.startAt > this.nowS) return; // its claim settles by then
    // A claim still owed at its start: the work it waited for did not end (a failure moved it).
    if (claim) this.dropClaim(job);
    if (this.placeReservation(job, m, startAt)) return;
    if (this.nowS < startAt) {
      // Early (one notice period ahead) and non-preemptible work still ends before the start:
      // claim GPUs as soon as they free up (ahead of the queue), and try again at the start.
      this.pendingReservations.push(job.idx);
      this.heap.push(startAt, 1, job.idx, this.generation[job.idx]!);
      return;
    }
    // Could not be placed (topology fragmentation or failures): it waits in the queue, first.
    this.stats.reservationsDelayed++;
    job.state = 'queued';
    this.queue.unshift(job.idx);
    if (this.listeners.length) this.emit({ type: 'queued', t: this.nowS, job: job.spec.id });
  }

  /**
   * Places a reservation for `startAt`, cheapest first: free GPUs; GPUs that non-preemptible work
   * frees by then (a claim); preempting lower-ranked work; both. False: nothing works now.
   */
  private placeReservation(job: Job, m: number, startAt: number, claim = true): boolean {
    const p = this.findFor(job, m);
    if (p) {
      this.index.take(p);
      this.holdUntil(job, m, p, startAt);
      return true;
    }
    const early = claim && this.nowS < startAt;
    if (early && this.claimFor(job, m, startAt, false)) return true;
    if (!this.policy.preemption) return false;
    if (this.preemptFor(job, m, startAt)) return true;
    return early && this.claimFor(job, m, startAt, true);
  }

  /**
   * A reservation inside its notice window that free (and preemptible) GPUs cannot hold now but
   * will once non-preemptible work ending by its start is done: choose the placement as if that
   * work had ended (with victims: and as if the cheapest lower-ranked work had gone), give the
   * victims their notice now, take the free part and claim the rest as it frees. Otherwise the
   * block would preempt only when that work ends, and start up to a notice period late.
   */
  private claimFor(job: Job, m: number, startAt: number, withVictims: boolean): boolean {
    if (job.spec.gpuMilli !== undefined && job.spec.gpuMilli < 1000) return false;
    const ending: Placement[] = [];
    const slots = this.endingNonPreemptible[m]!;
    for (let slot = Math.floor(this.nowS / END_SLOT_S); slot <= Math.floor(startAt / END_SLOT_S); slot++) {
      for (const idx of slots.get(slot) ?? []) {
        const v = this.jobs[idx]!;
        if (v.state !== 'running' || v.endS > startAt || !v.placement || v.placement.sharedGpu !== undefined) continue;
        // Minus GPUs owed to other claims: those are spoken for.
        const part = this.owedMask.size ? minusMasks(v.placement, this.owedMask) : v.placement;
        if (part.nodes.length) ending.push(part);
      }
    }
    if (ending.length === 0) return false;
    for (const p of ending) this.index.give(p);
    let target: Placement | null = null;
    let used: Job[] = [];
    if (!withVictims) target = this.findFor(job, m);
    else {
      const found = this.searchVictims(job, m);
      if (found) ({ placement: target, victims: used } = found);
    }
    for (const p of ending) this.index.take(p);
    if (!target) return false;
    const t = target;
    // What is free of the target (with the victims' GPUs) must fit the power caps now: a target
    // that needs the ending work's power, not its GPUs, waits for it to end instead.
    for (const v of used) this.index.give(v.placement!);
    if (!this.index.fitsPower(t)) {
      for (const v of used) this.index.take(v.placement!);
      return false;
    }
    const deadline = Math.max(this.nowS + this.policy.noticeS, startAt);
    this.serveNotice(job, used, deadline);
    // What of the target is free now is taken; the rest is held by work that ends by the start.
    const now: Placement = { nodes: [], masks: [] };
    const owed = new Map<number, number>();
    t.nodes.forEach((n, i) => {
      const free = t.masks[i]! & this.index.nodeFree[n]!;
      const rest = t.masks[i]! & ~free;
      if (free) {
        now.nodes.push(n);
        now.masks.push(free);
      }
      if (rest) {
        owed.set(n, rest);
        this.owedMask.set(n, (this.owedMask.get(n) ?? 0) | rest);
      }
    });
    this.index.take(now);
    job.model = m;
    if (owed.size === 0) {
      this.holdUntil(job, m, t, deadline);
      if (deadline <= this.nowS) {
        for (const v of used) this.completePreemption(v);
        this.completePreemption(job);
      }
      return true;
    }
    this.claims.set(job.idx, { target: t, owed, startAt: deadline });
    this.heap.push(deadline, 1, job.idx, this.generation[job.idx]!); // settles before, else falls back
    return true;
  }

  /** The part of a claim's target already taken in the index. */
  private claimTaken(c: { target: Placement; owed: Map<number, number> }): Placement {
    return minusMasks(c.target, c.owed);
  }

  /** Takes owed GPUs that have freed; a claim with nothing owed becomes a held start. */
  private settleClaims(): void {
    for (const [idx, c] of this.claims) {
      for (const [n, mask] of c.owed) {
        const free = mask & this.index.nodeFree[n]!;
        if (!free) continue; // the common case while the ending work still runs
        const got: Placement = { nodes: [n], masks: [free] };
        if (!this.index.fitsPower(got)) continue;
        this.index.take(got);
        if (free === mask) c.owed.delete(n);
        else c.owed.set(n, mask & ~free);
        this.clearOwed(n, free);
      }
      if (c.owed.size > 0) continue;
      const job = this.jobs[idx]!;
      this.claims.delete(idx);
      this.holdUntil(job, job.model, c.target, c.startAt);
      if (c.startAt <= this.nowS) this.completePreemption(job);
    }
  }

  /** Gives back what a claim took and forgets what it was owed. */
  private dropClaim(job: Job): void {
    const c = this.claims.get(job.idx);
    if (!c) return;
    this.claims.delete(job.idx);
    for (const [n, mask] of c.owed) this.clearOwed(n, mask);
    this.index.give(this.claimTaken(c));
    this.epoch++;
  }

  private clearOwed(n: number, mask: number): void {
    const left = (this.owedMask.get(n) ?? 0) & ~mask;
    if (left) this.owedMask.set(n, left);
    else this.owedMask.delete(n);
  }

  /** The placement is taken now; the job starts at `startAt` (a deadline event). */
  private holdUntil(job: Job, m: number, p: Placement, startAt: number): void {
    job.model = m;
    job.placement = p;
    job.state = 'starting';
    this.starting.add(job.idx);
    this.generation[job.idx]!++;
    this.heap.push(Math.max(startAt, this.nowS), 2, job.idx, this.generation[job.idx]!);
  }

  /**
   * Frees room for `job` by preempting lower-ranked preemptible jobs inside one domain of the
   * gang's level. What-if: hand the victims' GPUs back to the index, look for a placement, undo.
   */
  private preemptFor(job: Job, m: number, startAt?: number): boolean {
    const best = this.searchVictims(job, m);
    if (!best) return false;
    // Victims' GPUs pass to the preemptor now in the index; victims keep running until their deadline.
    for (const v of best.victims) this.index.give(v.placement!);
    this.index.take(best.placement);
    const deadline = Math.max(this.nowS + this.policy.noticeS, startAt ?? 0);
    this.serveNotice(job, best.victims, deadline);
    // A queued job that preempts is dropped from the queue by its pass (only passes preempt for queued work).
    this.holdUntil(job, m, best.placement, deadline);
    if (deadline <= this.nowS) {
      // No notice: the victims go and the gang starts now.
      for (const v of best.victims) this.completePreemption(v);
      this.completePreemption(job);
    }
    return true;
  }

  /** What-if only (the index is left as found): the victims to preempt for `job`, and where it would run. */
  private searchVictims(job: Job, m: number): { victims: Job[]; placement: Placement } | null {
    // GPU-sharing tasks fit in the gaps; they never preempt.
    if (job.spec.gpuMilli !== undefined && job.spec.gpuMilli < 1000) return null;
    // Cheap refusal: all free GPUs of the model plus every lower-ranked preemptible GPU fall short.
    let preemptible = 0;
    for (const [rank, g] of this.preemptibleGpus[m]!) if (rank < job.rank) preemptible += g;
    for (const idx of this.starting) {
      const v = this.jobs[idx]!;
      if (v.preemptible && v.rank < job.rank && v.model === m) preemptible += v.spec.gpus;
    }
    if (this.index.freeOf(m) + preemptible < job.spec.gpus) return null;
    // Candidate domains of the gang's level (by their victims' first node), best fit on
    // free + preemptible GPUs; victims are sorted only inside the (up to 8) tightest that could fit.
    const level = job.level === 'any' ? 'site' : job.level;
    const lvl = level === 'nvlink' ? 0 : level === 'fabric' ? 1 : SITE;
    const slot = lvl === SITE ? 2 : lvl;
    // Preemptible jobs holding GPUs for a start that has not come yet (their own notice period)
    // are victims too: cancelling a start needs no notice.
    const domainOfJob = (v: Job): number => {
      let d = this.fleet.nodeMd[v.placement!.nodes[0]!]!;
      for (let l = 0; l < lvl; l++) d = this.fleet.mdParent[l]![d]!;
      return d;
    };
    const held = new Map<number, Job[]>();
    for (const idx of this.starting) {
      const v = this.jobs[idx]!;
      if (!v.preemptible || v.rank >= job.rank || v.model !== m || !v.placement || v.placement.sharedGpu !== undefined || v.placement.nodes.length === 0) continue;
      const d = domainOfJob(v);
      let list = held.get(d);
      if (!list) held.set(d, (list = []));
      list.push(v);
    }
    // The 8 tightest domains whose free + preemptible GPUs could hold the gang, by (potential,
    // domain): one pass, no allocation per domain (this runs over every domain with victims).
    const heldGpus = new Map<number, number>();
    for (const [d, list] of held) heldGpus.set(d, list.reduce((a, v) => a + this.gpusInDomain(v, lvl, d), 0));
    const free = this.index.freeGpus[lvl]!;
    const need = job.spec.gpus;
    const takeR1 = job.rank > 1;
    const takeR2 = job.rank > 2;
    const domains: [number, number][] = [];
    const consider = (d: number, pot: number): void => {
      if (pot < need) return;
      if (domains.length === 8) {
        const last = domains[7]!;
        if (pot > last[1] || (pot === last[1] && d > last[0])) return;
        domains.pop();
      }
      let i = domains.length;
      while (i > 0 && (domains[i - 1]![1] > pot || (domains[i - 1]![1] === pot && domains[i - 1]![0] > d))) i--;
      domains.splice(i, 0, [d, pot]);
    };
    const victimDomains = this.victimsByDomain[slot]![m]!;
    for (const [d, e] of victimDomains) {
      const pot = free[d]! + (takeR1 ? e.r1 : 0) + (takeR2 ? e.r2 : 0) + (heldGpus.size ? heldGpus.get(d) ?? 0 : 0);
      consider(d, pot);
    }
    for (const [d, g] of heldGpus) if (!victimDomains.has(d)) consider(d, free[d]! + g);
    const byDomain = new Map<number, Job[]>();
    for (const [d] of domains) {
      const list: Job[] = [...(held.get(d) ?? [])];
      for (const idx of victimDomains.get(d)?.jobs ?? []) {
        const v = this.jobs[idx]!;
        if (v.rank < job.rank && v.state === 'running' && v.placement && v.placement.sharedGpu === undefined) list.push(v);
      }
      byDomain.set(d, list);
    }
    // Estimate each domain's cost from its cheapest victims whose GPUs cover the gap, then run
    // the exact what-if (victims' GPUs handed back, then a placement search) in that order; the
    // first domain that works wins. Usually one what-if per preemption.
    const estimates = domains.map(([d]) => {
      const list = byDomain.get(d)!.sort((a, b) => a.spec.priceMicrosPerGpuHour - b.spec.priceMicrosPerGpuHour || b.spec.gpus - a.spec.gpus || b.startedS - a.startedS || a.idx - b.idx);
      let freed = this.index.freeGpus[lvl]![d]!;
      let cost = 0;
      let n = 0;
      for (const v of list) {
        if (freed >= job.spec.gpus) break;
        freed += this.gpusInDomain(v, lvl, d);
        cost += v.spec.priceMicrosPerGpuHour * v.spec.gpus;
        n++;
      }
      return { d, list, cost, n };
    }).sort((a, b) => a.cost - b.cost || a.n - b.n || a.d - b.d);
    for (const { d, list } of estimates) {
      const chosen: Job[] = [];
      let placement: Placement | null = null;
      let freed = this.index.freeGpus[lvl]![d]!;
      for (const v of list) {
        chosen.push(v);
        this.index.give(v.placement!);
        freed += this.gpusInDomain(v, lvl, d);
        if (freed < job.spec.gpus) continue; // cannot fit yet: skip the search
        placement = this.index.findWithin(m, job.spec.gpus, lvl, d);
        if (placement) break;
      }
      for (const v of chosen) this.index.take(v.placement!);
      if (placement) return { victims: chosen, placement };
    }
    return null;
  }

  /**
   * Victims whose GPUs were just handed to `job` in the index: running ones are preempting until
   * `deadline`; held starts that had not begun lose their GPUs at once and queue again.
   */
  private serveNotice(job: Job, victims: Job[], deadline: number): void {
    for (const v of victims) {
      if (v.state === 'starting') {
        // It had not started: its held GPUs go now, and it waits in the queue again.
        this.starting.delete(v.idx);
        v.placement = null;
        v.state = 'queued';
        this.generation[v.idx]!++;
        this.lastTried[v.idx] = -1;
        this.enqueue(v);
        continue;
      }
      v.state = 'preempting';
      v.preemptedBy = job.idx;
      this.stats.preemptions++;
      this.generation[v.idx]!++;
      // Its own end may still come first; keep that event alive with the new generation.
      if (v.endS < deadline) this.heap.push(v.endS, 0, v.idx, this.generation[v.idx]!);
      this.heap.push(deadline, 2, v.idx, this.generation[v.idx]!);
      if (this.listeners.length) this.emit({ type: 'preempting', t: this.nowS, job: v.spec.id, by: job.spec.id, deadlineS: deadline });
    }
  }

  /** A deadline: either a preempting victim's notice ran out, or a held job starts. */
  private completePreemption(job: Job): void {
    if (job.state === 'preempting') {
      this.stopRunning(job);
      job.state = 'preempted';
      job.placement = null;
      if (this.listeners.length) this.emit({ type: 'preempted', t: this.nowS, job: job.spec.id, by: this.jobs[job.preemptedBy]!.spec.id });
      if (this.policy.requeuePreempted && job.remainingS > 0) {
        job.state = 'queued';
        job.eligibleS = this.nowS + this.policy.requeueDelayS;
        this.lastTried[job.idx] = -1;
        this.generation[job.idx]!++;
        if (this.policy.requeueDelayS > 0) this.heap.push(job.eligibleS, 3, job.idx, this.generation[job.idx]!);
        this.enqueue(job);
      }
      return;
    }
    if (job.state === 'starting') {
      this.starting.delete(job.idx);
      job.state = 'pending';
      this.begin(job, job.model, job.placement!);
    }
  }

  /** Adds (sign 1) or removes (-1) a preemptible running job in victimsByDomain. */
  private indexVictim(job: Job, sign: 1 | -1): void {
    const p = job.placement;
    if (!p || p.sharedGpu !== undefined || p.nodes.length === 0) return;
    let d = this.fleet.nodeMd[p.nodes[0]!]!;
    for (let lvl = 0; lvl <= SITE; lvl++) {
      if (lvl === 0 || lvl === 1 || lvl === SITE) {
        const slot = lvl === SITE ? 2 : lvl;
        const map = this.victimsByDomain[slot]![job.model]!;
        let e = map.get(d);
        if (!e) map.set(d, (e = { jobs: new Set(), r1: 0, r2: 0 }));
        const g = this.gpusInDomain(job, lvl, d) * sign;
        if (job.rank === 1) e.r1 += g;
        else e.r2 += g;
        if (sign > 0) e.jobs.add(job.idx);
        else {
          e.jobs.delete(job.idx);
          if (e.jobs.size === 0) map.delete(d);
        }
      }
      if (lvl < SITE) d = this.fleet.mdParent[lvl]![d]!;
    }
  }

  private placementUses(p: Placement, node: number): boolean {
    return p.sharedGpu !== undefined ? this.nodeOfShared(p) === node : p.nodes.includes(node);
  }

  private gpusInDomain(v: Job, lvl: number, d: number): number {
    const p = v.placement!;
    if (p.sharedGpu !== undefined) return 0;
    let g = 0;
    for (let i = 0; i < p.nodes.length; i++) {
      let md = this.fleet.nodeMd[p.nodes[i]!]!;
      for (let l = 0; l < lvl; l++) md = this.fleet.mdParent[l]![md]!;
      if (md === d) g += popcount(p.masks[i]!);
    }
    return g;
  }

  private nodeOfShared(p: Placement): number {
    return this.index.nodeOfGpu(p.sharedGpu!);
  }

  private nodeNames(p: Placement): string[] {
    if (p.sharedGpu !== undefined) return [this.fleet.nodeIds[this.nodeOfShared(p)]!];
    return p.nodes.map((n) => this.fleet.nodeIds[n]!);
  }

  /** Queue order: rank (higher first), then submission, then index — stable. */
  private enqueue(job: Job): void {
    const q = this.queue;
    const key = (j: Job): [number, number, number] => [-j.rank, j.spec.submitS, j.idx];
    const k = key(job);
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const km = key(this.jobs[q[mid]!]!);
      if (km[0] < k[0] || (km[0] === k[0] && (km[1] < k[1] || (km[1] === k[1] && km[2] < k[2])))) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, job.idx);
  }

  /**
   * Starts what it can from the queue, in order. With backfill (EASY): the first job that cannot
   * start reserves a shadow time; later jobs start only if they end by then or fit in the spare.
   */
  private schedulePass(): void {
    // Reservations about to start come before anything queued: claimed GPUs first (owed GPUs
    // can only have freed if the epoch moved).
    if (this.claims.size && this.settledEpoch !== this.epoch) {
      this.settledEpoch = this.epoch;
      this.settleClaims();
    }
    if (this.pendingReservations.length) {
      // In place (a pass runs at every event). GPUs may have freed, or preemptible work started
      // (e.g. a held start that began). Claims are looked for at the first try only.
      const pend = this.pendingReservations;
      let w = 0;
      for (let r = 0; r < pend.length; r++) {
        const idx = pend[r]!;
        const job = this.jobs[idx]!;
        if (job.state !== 'reserved' || this.claims.has(idx)) continue;
        if (!this.placeReservation(job, job.model, job.spec.startS ?? this.nowS, false)) pend[w++] = idx;
      }
      pend.length = w;
    }
    if (this.queue.length === 0) return;
    let started = false;
    // Per-pass scratch, reused across passes (a pass runs at every event).
    const failed = this.passFailed;
    const shadow = this.passShadow; // per model; null = blocked, shadow not computed yet
    const free = this.passFree;
    failed.clear();
    shadow.clear();
    free.clear();
    let scanned = 0;
    for (const idx of this.queue) {
      if (scanned++ >= this.policy.maxQueueScan) break;
      const job = this.jobs[idx]!;
      if (job.state !== 'queued' || job.eligibleS > this.nowS) continue;
      const m0 = job.models[0]!;
      const fresh = this.lastTried[idx] !== this.epoch;
      // Cheap refusal: more GPUs than are free in all its models (no preemption can help a job
      // that already failed at this epoch either).
      const units = job.spec.gpus * (job.spec.gpuMilli ?? 1000) / 1000;
      let fits = false;
      for (const m of job.models) if (units <= this.passFreeOf(m)) fits = true;
      if (shadow.has(m0)) {
        if (!this.policy.backfill || !fresh || !fits) continue;
        let sh = shadow.get(m0);
        if (sh === null || sh === undefined) {
          sh = this.shadowFor(this.jobs[this.blockedHead.get(m0)!]!, m0);
          shadow.set(m0, sh);
        }
        const endsBy = this.nowS + job.remainingS <= sh.timeS;
        if (!endsBy && job.spec.gpus > sh.spare) continue;
        if (this.tryStart(job, false, failed)) {
          if (!endsBy) sh.spare -= job.spec.gpus;
          for (const m of job.models) free.delete(m);
          started = true;
        } else {
          this.lastTried[idx] = this.epoch;
        }
        continue;
      }
      if (fresh && (fits || (this.policy.preemption && job.rank > 1)) && this.tryStart(job, true, failed)) {
        for (const m of job.models) free.delete(m);
        started = true;
        continue;
      }
      this.lastTried[idx] = this.epoch;
      shadow.set(m0, this.policy.backfill ? null : { timeS: Infinity, spare: 0 });
      this.blockedHead.set(m0, idx);
    }
    if (started) {
      // Drop what started, in place.
      const q = this.queue;
      let w = 0;
      for (let r = 0; r < q.length; r++) if (this.jobs[q[r]!]!.state === 'queued') q[w++] = q[r]!;
      q.length = w;
    }
  }

  /** Free GPUs of model m, computed once per pass (until a start invalidates it). */
  private passFreeOf(m: number): number {
    let f = this.passFree.get(m);
    if (f === undefined) this.passFree.set(m, (f = this.index.freeOf(m)));
    return f;
  }

  /** When enough GPUs of model m free up for `job` (count-based), and how many are spare then. */
  private shadowFor(job: Job, m: number): { timeS: number; spare: number } {
    let free = this.index.freeOf(m);
    const need = job.spec.gpus;
    if (free >= need) return { timeS: this.nowS, spare: free - need };
    // The first 10-minute slot by whose end enough running GPUs have ended.
    const found = this.endsByModel[m]!.firstReaching(need - free);
    if (!found) return { timeS: Infinity, spare: 0 };
    return { timeS: Math.max(this.nowS, found.endS), spare: free + found.gpus - need };
  }
}

/**
 * GPUs ending per 10-minute slot, in a Fenwick tree, so "when will g more GPUs have ended" is
 * O(log n). Shadow times round up to a slot's end: a backfilled job may therefore delay the head
 * by at most one slot (EASY's guarantee holds to 10 minutes; run-time estimates are rougher).
 */
class EndSlots {
  private static readonly SLOT_S = 600;
  private static readonly N = 1 << 17; // ~2.5 years of slots
  private readonly tree = new Float64Array(EndSlots.N + 1);

  add(endS: number, gpus: number): void {
    let i = Math.min(EndSlots.N, Math.max(1, Math.floor(endS / EndSlots.SLOT_S) + 1));
    for (; i <= EndSlots.N; i += i & -i) this.tree[i]! += gpus;
  }

  /** The first slot by whose end at least `need` GPUs have ended: its end time and the GPUs ended by then. */
  firstReaching(need: number): { endS: number; gpus: number } | null {
    if (need <= 0) return { endS: 0, gpus: 0 };
    let pos = 0;
    let sum = 0;
    for (let step = EndSlots.N; step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= EndSlots.N && sum + this.tree[next]! < need) {
        pos = next;
        sum += this.tree[next]!;
      }
    }
    if (pos >= EndSlots.N) return null;
    // pos + 1 is the first slot (1-based) where the prefix reaches `need`.
    let total = 0;
    for (let i = pos + 1; i > 0; i -= i & -i) total += this.tree[i]!;
    return { endS: (pos + 1) * EndSlots.SLOT_S, gpus: total };
  }
}

function milliOf(spec: JobSpec): number {
  return spec.gpus * (spec.gpuMilli ?? 1000);
}

function popcount(m: number): number {
  let c = 0;
  for (let v = m; v; v &= v - 1) c++;
  return c;
}

/** A placement without the GPUs in `masks` (node → GPU mask). */
function minusMasks(p: Placement, masks: Map<number, number>): Placement {
  const out: Placement = { nodes: [], masks: [] };
  for (let i = 0; i < p.nodes.length; i++) {
    const n = p.nodes[i]!;
    const mask = p.masks[i]! & ~(masks.get(n) ?? 0);
    if (mask) {
      out.nodes.push(n);
      out.masks.push(mask);
    }
  }
  return out;
}

function swapIn(arr: number[], a: number, b: number): void {
  const x = arr[a]!;
  arr[a] = arr[b]!;
  arr[b] = x;
}
