/**
 * Discrete-event replay of a workload on a fleet under a policy, on a virtual clock, through the
 * lease engine (src/leasing/engine.ts) — the same decisions the lease API makes. Reports
 * utilization over time, queue waits, preemptions, fragmentation and revenue by class; the same
 * input always gives the same report (apart from `wallMs`).
 *
 * How a job becomes a lease: its window is [submit, submit + duration) (a reserved job's starts at
 * its `startS`); `gpuModels` are the models it may run on (empty: any installed model, in the
 * fleet's order); its gang level maps to the lease placement (nvlink → same-nvlink, …); its price
 * is the lease's price (spot: its bid). GPU-sharing tasks (`gpuMilli` < 1000) take one whole GPU:
 * the engine leases whole GPUs. Reserved jobs never wait (placed for their window or refused);
 * other jobs wait when nothing fits (policy `queue`), and waiting jobs are placed by the engine's
 * queue pass after every departure. Preempted work is resubmitted for its remaining time after a
 * back-off when the policy says so (the simulator's model of a retry).
 */
import { LeaseEngine, holdOf, type Decision } from '../leasing/engine.js';
import { DEFAULT_POLICY, type EnginePolicy } from '../leasing/rules.js';
import type { Lease, LeaseClass, Placement } from '../leasing/lease-types.js';
import { gpuTimeCharge } from '../pricing/index.js';
import type { GpuModelId } from '../fleet/index.js';
import { DomainError } from '../shared/errors.js';
import { fragmentation } from '../leasing/status.js';
import { fleetFromLayout } from './fleet-layout.js';
import { JOB_CLASSES, type FleetLayout, type GangLevel, type JobClass, type JobSpec } from './scheduler-types.js';

/** A simulation policy: the engine's rules plus how the simulated customers behave. */
export interface SimPolicy {
  name: string;
  engine: EnginePolicy;
  /** Requests wait for capacity when nothing fits (else they are refused). */
  queue: boolean;
  /** Resubmit preempted work for its remaining time, after `requeueDelayS`. */
  requeuePreempted: boolean;
  requeueDelayS: number;
  /** Spot bids below this are refused, integer micro-dollars per GPU-hour (the simulated market's floor). */
  spotFloorMicros: number;
}

export const POLICIES: Record<string, SimPolicy> = {
  /** Default: external revenue first, preemption and backfill on. */
  revenue: { name: 'revenue', engine: { ...DEFAULT_POLICY }, queue: true, requeuePreempted: true, requeueDelayS: 600, spotFloorMicros: 500_000 },
  /** `revenue` with gangs placed by fragmentation gradient descent over the gang sizes seen (EnginePolicy placement 'fgd'). */
  'revenue-fgd': { name: 'revenue-fgd', engine: { ...DEFAULT_POLICY, placement: 'fgd' }, queue: true, requeuePreempted: true, requeueDelayS: 600, spotFloorMicros: 500_000 },
  /** A hyperscaler's own work first; sells what is left. */
  'internal-first': { name: 'internal-first', engine: { ...DEFAULT_POLICY, internalFirst: true }, queue: true, requeuePreempted: true, requeueDelayS: 600, spotFloorMicros: 500_000 },
  /** Strict priority order without backfill or preemption: the baseline. */
  fifo: { name: 'fifo', engine: { ...DEFAULT_POLICY, preemption: false, backfill: false }, queue: true, requeuePreempted: true, requeueDelayS: 600, spotFloorMicros: 0 },
};

export interface SimOptions {
  layout: FleetLayout;
  jobs: JobSpec[];
  policy?: SimPolicy;
  /** Sample utilization and fragmentation this often, virtual seconds; default: span / 200. */
  sampleEveryS?: number;
  /** Called now and then with jobs submitted so far. */
  onProgress?: (done: number, total: number) => void;
  /** Hears every placement and every cut (for tests that check the run from the outside). */
  trace?: (e: SimTraceEvent) => void;
}

/** What the engine decided, as the simulator applied it; times in virtual seconds. */
export type SimTraceEvent =
  | { type: 'placed'; t: number; id: string; job: JobSpec; gpuModel: string; gpus: readonly string[]; startS: number; untilS: number }
  | { type: 'cut'; t: number; id: string; untilS: number };

export interface SimReport {
  policy: string;
  fleet: { nodes: number; gpus: number; models: string[] };
  jobs: { submitted: number; started: number; finished: number; preempted: number; failed: number; rejected: number; neverStarted: number; replaced: number };
  /** Share of submitted jobs that ever started. */
  placedShare: number;
  /** GPUs allocated at the end ÷ GPUs in the fleet. */
  allocationRateAtEnd: number;
  /** Virtual seconds from the first submission to the last event. */
  spanS: number;
  /**
   * GPU utilization, one definition (the bench uses it too): busy GPU-seconds ÷ (GPUs × the
   * arrival window, from the first submission to the last; when every job arrives at once, to the
   * last event instead). `windowS` is that window. `peak`: the most GPUs running at once ÷ GPUs.
   */
  utilization: { mean: number; peak: number; windowS: number; timeline: [number, number][] };
  fragmentation: { mean: number; timeline: [number, number][] };
  queueWaitS: { p50: number; p90: number; p99: number; max: number; mean: number };
  preemptions: number;
  reservationsDelayed: number;
  /** Revenue by class, integer micro-dollars as decimal strings (they can pass 2^53). */
  revenueMicros: Record<JobClass, string>;
  revenueTotalMicros: string;
  wallMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const PLACEMENT_OF: Record<GangLevel, Placement> = { nvlink: 'same-nvlink', fabric: 'same-fabric', site: 'same-site', any: 'any' };
const MS = 1000;
/** "Waits as long as it takes" (a queued request's deadline), virtual ms: far past any run, inside what a Date can print. */
const FOREVER_MS = 8e15;

interface Running {
  lease: Lease;
  job: JobSpec;
  /** Virtual seconds: when it starts and until when it holds its GPUs. */
  startS: number;
  untilS: number;
  started: boolean;
  gen: number;
}

/** Timed events, in a binary heap ordered by time then sequence. */
class Heap {
  private t: number[] = [];
  private seq: number[] = [];
  private kind: number[] = [];
  private id: string[] = [];
  private gen: number[] = [];
  private n = 0;
  private counter = 0;
  get size(): number {
    return this.n;
  }
  peekTime(): number {
    return this.n ? this.t[0]! : Infinity;
  }
  push(t: number, kind: number, id: string, gen: number): void {
    let i = this.n++;
    const s = this.counter++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.t[p]! < t || (this.t[p] === t && this.seq[p]! < s)) break;
      this.move(p, i);
      i = p;
    }
    this.set(i, t, s, kind, id, gen);
  }
  pop(): { t: number; kind: number; id: string; gen: number } {
    const top = { t: this.t[0]!, kind: this.kind[0]!, id: this.id[0]!, gen: this.gen[0]! };
    const last = --this.n;
    const [t, s, k, id, g] = [this.t[last]!, this.seq[last]!, this.kind[last]!, this.id[last]!, this.gen[last]!];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && (this.t[r]! < this.t[l]! || (this.t[r] === this.t[l] && this.seq[r]! < this.seq[l]!)) ? r : l;
      if (t < this.t[c]! || (t === this.t[c] && s < this.seq[c]!)) break;
      this.move(c, i);
      i = c;
    }
    if (last > 0) this.set(i, t, s, k, id, g);
    return top;
  }
  private move(from: number, to: number): void {
    this.set(to, this.t[from]!, this.seq[from]!, this.kind[from]!, this.id[from]!, this.gen[from]!);
  }
  private set(i: number, t: number, s: number, k: number, id: string, g: number): void {
    this.t[i] = t;
    this.seq[i] = s;
    this.kind[i] = k;
    this.id[i] = id;
    this.gen[i] = g;
  }
}

const START = 0;
const END = 1;
const RESUBMIT = 2;

export function simulate(o: SimOptions): SimReport {
  const t0 = performance.now();
  const policy = o.policy ?? POLICIES['revenue']!;
  const { fleet, shape } = fleetFromLayout(o.layout);
  const engine = new LeaseEngine(fleet, { ...policy.engine }, { shape });
  const allModels = [...engine.topology.nodesByModel.keys()];
  const total = o.layout.nodes.reduce((a, n) => a + n.gpus, 0);
  const jobs = [...o.jobs].sort((a, b) => a.submitS - b.submitS);
  const first = jobs[0]?.submitS ?? 0;
  const last = jobs[jobs.length - 1]?.submitS ?? 0;
  const maxDur = jobs.reduce((m, j) => Math.max(m, Math.min(j.durationS, 1e9) + ((j.startS ?? j.submitS) - j.submitS)), 0);
  const sampleEvery = o.sampleEveryS ?? Math.max(1, Math.ceil((last - first + maxDur) / 200));

  const heap = new Heap();
  const running = new Map<string, Running>();
  const waiting = new Map<string, Lease>();
  /** Per request id (a job, or a resubmitted remainder): the job and its remaining seconds. */
  const requests = new Map<string, { job: JobSpec; models: readonly GpuModelId[]; durationS: number; submitS: number }>();
  const firstStart = new Map<string, number>();
  const revenue: Record<JobClass, bigint> = { reserved: 0n, 'on-demand': 0n, internal: 0n, spot: 0n };
  const st = { submitted: 0, finished: 0, preemptions: 0, preempted: 0, rejected: 0, reservationsDelayed: 0, busyGpuSeconds: 0 };
  let runningGpus = 0;
  let peakGpus = 0;
  /** Busy GPU-seconds inside the arrival window [first, last]. */
  let busyInWindow = 0;
  let resubmits = 0;
  let endsSincePrune = 0;

  const modelsOf = (l: Lease): readonly GpuModelId[] => requests.get(l.id)?.models ?? [l.gpuModel];
  const priceOf = (l: Lease): bigint => l.priceMicrosPerGpuHour;

  /** A lease placed by the engine: started now or at its start time; its hold ends at untilS. */
  const track = (d: Decision, nowS: number): void => {
    const l = d.lease;
    const job = requests.get(l.id)!.job;
    const r: Running = { lease: l, job, startS: l.startMs / MS, untilS: holdOf(l).endMs / MS, started: false, gen: 0 };
    running.set(l.id, r);
    o.trace?.({ type: 'placed', t: nowS, id: l.id, job, gpuModel: l.gpuModel, gpus: l.gpus.map((g) => g.uuid), startS: r.startS, untilS: r.untilS });
    if (r.startS <= nowS) begin(r, nowS);
    else heap.push(r.startS, START, l.id, 0);
    heap.push(r.untilS, END, l.id, 0);
    for (const v of d.victims) cut(v.leaseId, d.deadlineMs / MS, nowS);
    if (l.preemptedAtMs !== null) st.preemptions++; // backfilled: preempted when the booking it runs in front of starts
  };
  const begin = (r: Running, nowS: number): void => {
    r.started = true;
    runningGpus += r.lease.gpuCount;
    if (runningGpus > peakGpus) peakGpus = runningGpus;
    const root = rootOf(r.lease.id);
    if (!firstStart.has(root)) firstStart.set(root, nowS);
    if (r.job.jobClass === 'reserved' && r.job.startS !== undefined && nowS > r.job.startS) st.reservationsDelayed++;
  };
  /** A victim's hold now ends at the deadline. */
  const cut = (id: string, deadlineS: number, nowS: number): void => {
    const r = running.get(id);
    if (!r) return;
    st.preemptions++;
    r.gen++;
    r.untilS = Math.max(r.startS, Math.min(r.untilS, deadlineS));
    o.trace?.({ type: 'cut', t: nowS, id, untilS: r.untilS });
    if (!r.started && r.startS <= nowS) begin(r, nowS);
    if (r.startS < r.untilS && !r.started) heap.push(r.startS, START, id, r.gen);
    heap.push(r.untilS, END, id, r.gen);
  };
  const rootOf = (id: string): string => {
    const i = id.indexOf('~');
    return i < 0 ? id : id.slice(0, i);
  };

  /** Offers a request to the engine: placed, queued, or refused. */
  const submit = (id: string, nowS: number): void => {
    const q = requests.get(id)!;
    const j = q.job;
    if (j.jobClass === 'spot' && j.priceMicrosPerGpuHour < policy.spotFloorMicros) {
      st.rejected++;
      return;
    }
    const startS = j.jobClass === 'reserved' && j.startS !== undefined && id === j.id ? Math.max(nowS, j.startS) : nowS;
    const cls: LeaseClass = j.jobClass;
    const req = {
      tenantId: j.tenant ?? 'sim', gpuModel: q.models[0]!, gpuCount: j.gpus, leaseClass: cls, placement: PLACEMENT_OF[j.placement],
      region: null, startMs: Math.round(startS * MS), endMs: Math.round((startS + q.durationS) * MS),
      queueUntilMs: policy.queue && cls !== 'reserved' ? FOREVER_MS : null,
    };
    let d: Decision;
    try {
      d = engine.decideAny(req, q.models, Math.round(nowS * MS), { id, priceMicrosPerGpuHour: BigInt(j.priceMicrosPerGpuHour) });
    } catch (err) {
      if (!(err instanceof DomainError && err.code === 'insufficient_capacity')) throw err;
      st.rejected++;
      return;
    }
    if (d.lease.queuedUntilMs !== null) waiting.set(id, d.lease);
    else track(d, nowS);
  };

  const queuePass = (nowS: number): void => {
    if (waiting.size === 0) return;
    for (const d of engine.queuePass([...waiting.values()], Math.round(nowS * MS), { modelsOf, priceOf })) {
      waiting.delete(d.lease.id);
      track(d, nowS);
    }
  };

  const end = (r: Running, nowS: number): void => {
    running.delete(r.lease.id);
    if (!r.started) {
      // Cut before it started: it never ran.
    } else {
      runningGpus -= r.lease.gpuCount;
      const ranS = r.untilS - r.startS;
      st.busyGpuSeconds += ranS * r.lease.gpuCount;
      revenue[r.job.jobClass] += gpuTimeCharge(r.lease.priceMicrosPerGpuHour, r.lease.gpuCount, Math.round(r.startS * MS), Math.round(r.startS * MS) + Math.round(ranS * MS), r.lease.currency);
    }
    const q = requests.get(r.lease.id)!;
    const bookedS = r.lease.endMs / MS - r.startS;
    const ranS = r.started ? r.untilS - r.startS : 0;
    if (ranS >= bookedS) {
      st.finished++;
    } else {
      st.preempted++;
      if (policy.requeuePreempted) {
        const id = `${rootOf(r.lease.id)}~${++resubmits}`;
        requests.set(id, { job: q.job, models: q.models, durationS: q.durationS - ranS, submitS: nowS });
        heap.push(nowS + policy.requeueDelayS, RESUBMIT, id, 0);
      }
    }
    requests.delete(r.lease.id);
    if (++endsSincePrune >= 4096) {
      endsSincePrune = 0;
      engine.prune(Math.round(nowS * MS));
    }
  };

  const util: [number, number][] = [];
  const frag: [number, number][] = [];
  const sample = (t: number): void => {
    util.push([t, total === 0 ? 0 : runningGpus / total]);
    frag.push([t, fragmentation(engine, Math.round(t * MS))]);
  };

  let nextSample = first;
  let nowS = first;
  const progressEvery = Math.max(1, Math.floor(jobs.length / 100));
  let ji = 0;
  for (let guard = 0; guard < 100_000_000; guard++) {
    const tJob = ji < jobs.length ? jobs[ji]!.submitS : Infinity;
    const tEvent = heap.peekTime();
    const t = Math.min(tJob, tEvent);
    // Stop when nothing is left to happen (work that never ends stops the drain).
    if (!Number.isFinite(t) || (ji >= jobs.length && t >= 1e11)) break;
    while (nextSample < t) {
      sample(nextSample);
      nextSample += sampleEvery;
    }
    // runningGpus held over [nowS, t): count what falls inside the arrival window.
    if (nowS < last) busyInWindow += runningGpus * (Math.min(t, last) - nowS);
    nowS = t;
    // Everything at time t: departures and starts first, then arrivals, then one queue pass.
    let freed = false;
    while (heap.peekTime() === t) {
      const e = heap.pop();
      if (e.kind === RESUBMIT) {
        submit(e.id, t);
        continue;
      }
      const r = running.get(e.id);
      if (!r || r.gen !== e.gen) continue;
      if (e.kind === START) {
        if (!r.started && r.startS < r.untilS) begin(r, t);
      } else {
        end(r, t);
        freed = true;
      }
    }
    while (ji < jobs.length && jobs[ji]!.submitS === t) {
      const j = jobs[ji]!;
      st.submitted++;
      requests.set(j.id, { job: j, models: j.gpuModels.length ? (j.gpuModels as GpuModelId[]) : allModels, durationS: j.durationS, submitS: j.submitS });
      submit(j.id, t);
      if (o.onProgress && ji % progressEvery === 0) o.onProgress(ji, jobs.length);
      ji++;
    }
    if (freed) queuePass(t);
  }
  while (nextSample <= nowS) {
    sample(nextSample);
    nextSample += sampleEvery;
  }
  o.onProgress?.(jobs.length, jobs.length);
  // Work still running at the end earns what it ran so far.
  for (const r of running.values()) {
    if (!r.started) continue;
    const ranS = Math.max(0, Math.min(r.untilS, nowS) - r.startS);
    st.busyGpuSeconds += ranS * r.lease.gpuCount;
    revenue[r.job.jobClass] += gpuTimeCharge(r.lease.priceMicrosPerGpuHour, r.lease.gpuCount, Math.round(r.startS * MS), Math.round(r.startS * MS) + Math.round(ranS * MS), r.lease.currency);
  }

  const waits = jobs.filter((j) => firstStart.has(j.id)).map((j) => firstStart.get(j.id)! - j.submitS).sort((a, b) => a - b);
  const revenueOut = {} as Record<JobClass, string>;
  let revTotal = 0n;
  for (const c of JOB_CLASSES) {
    revenueOut[c] = revenue[c].toString();
    revTotal += revenue[c];
  }
  const spanS = Math.max(0, nowS - first);
  const windowS = last > first ? last - first : spanS;
  const busyS = last > first ? busyInWindow : st.busyGpuSeconds;
  const started = waits.length;
  return {
    policy: policy.name,
    fleet: { nodes: o.layout.nodes.length, gpus: total, models: allModels as string[] },
    jobs: {
      submitted: st.submitted, started, finished: st.finished, preempted: st.preempted, failed: 0, rejected: st.rejected,
      neverStarted: st.submitted - started - st.rejected, replaced: 0,
    },
    placedShare: st.submitted === 0 ? 0 : started / st.submitted,
    allocationRateAtEnd: total === 0 ? 0 : runningGpus / total,
    spanS,
    utilization: {
      mean: windowS === 0 || total === 0 ? 0 : busyS / (windowS * total),
      peak: total === 0 ? 0 : peakGpus / total,
      windowS,
      timeline: util,
    },
    fragmentation: { mean: frag.length ? frag.reduce((a, [, f]) => a + f, 0) / frag.length : 0, timeline: frag },
    queueWaitS: {
      p50: percentile(waits, 50), p90: percentile(waits, 90), p99: percentile(waits, 99), max: waits[waits.length - 1] ?? 0,
      mean: waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0,
    },
    preemptions: st.preemptions,
    reservationsDelayed: st.reservationsDelayed,
    revenueMicros: revenueOut,
    revenueTotalMicros: revTotal.toString(),
    wallMs: performance.now() - t0,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const dur = (s: number): string => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);
const usd = (micros: string): string => {
  const cents = (BigInt(micros) + 5000n) / 10_000n;
  return `$${(cents / 100n).toLocaleString('en-US')}.${(cents % 100n).toString().padStart(2, '0')}`;
};

/** The report as a table for people. */
export function formatReport(r: SimReport): string {
  const rows: [string, string][] = [
    ['policy', r.policy],
    ['fleet', `${r.fleet.gpus.toLocaleString('en-US')} GPUs on ${r.fleet.nodes.toLocaleString('en-US')} nodes (${r.fleet.models.join(', ')})`],
    ['jobs', `${r.jobs.submitted} submitted, ${r.jobs.started} started (${pct(r.placedShare)}), ${r.jobs.finished} finished, ${r.jobs.neverStarted} never started, ${r.jobs.rejected} rejected`],
    ['utilization', `mean ${pct(r.utilization.mean)} (busy GPU-time ÷ GPU-time from first to last arrival, ${dur(r.utilization.windowS)}), peak ${pct(r.utilization.peak)}; run ${dur(r.spanS)}`],
    ['queue wait', `p50 ${dur(r.queueWaitS.p50)}, p90 ${dur(r.queueWaitS.p90)}, p99 ${dur(r.queueWaitS.p99)}, max ${dur(r.queueWaitS.max)}`],
    ['preemptions', `${r.preemptions} (${r.jobs.preempted} completed), ${r.reservationsDelayed} reservations delayed`],
    ['failures', `${r.jobs.failed} failed, ${r.jobs.replaced} re-placed`],
    ['fragmentation', `mean ${pct(r.fragmentation.mean)} of free GPUs on partly used nodes`],
    ...JOB_CLASSES.map((c): [string, string] => [`revenue ${c}`, usd(r.revenueMicros[c])]),
    ['revenue total', usd(r.revenueTotalMicros)],
    ['wall time', `${r.wallMs.toFixed(0)} ms`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** A self-contained HTML page with the utilization and fragmentation curves (inline SVG). */
export function htmlReport(r: SimReport): string {
  const W = 800;
  const H = 240;
  const line = (pts: [number, number][], color: string): string => {
    if (pts.length === 0) return '';
    const t0 = pts[0]![0];
    const span = Math.max(1, pts[pts.length - 1]![0] - t0);
    const d = pts.map(([t, v], i) => `${i ? 'L' : 'M'}${((40 + ((t - t0) / span) * (W - 50))).toFixed(1)},${(H - 20 - v * (H - 40)).toFixed(1)}`).join(' ');
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
  };
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html><html><head><meta charset="utf-8"><title>neocloud simulation — ${esc(r.policy)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#222}pre{background:#f6f6f6;padding:1rem}</style></head><body>
<h1>Simulation report</h1><pre>${esc(formatReport(r))}</pre>
<h2>Utilization (blue) and fragmentation (orange) over time</h2>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="utilization over time">
<line x1="40" y1="${H - 20}" x2="${W - 10}" y2="${H - 20}" stroke="#999"/><line x1="40" y1="20" x2="40" y2="${H - 20}" stroke="#999"/>
<text x="4" y="24">100%</text><text x="12" y="${H - 20}">0%</text>
${line(r.utilization.timeline, '#2563eb')}${line(r.fragmentation.timeline, '#ea580c')}</svg>
</body></html>`;
}
