/**
 * Discrete-event replay of a workload on a fleet under a policy, on the scheduler's virtual
 * clock. Reports utilization over time, queue waits, preemptions, fragmentation and revenue by
 * class; the same input always gives the same report (apart from `wallMs`).
 */
import { POLICIES, Scheduler, type SchedulerPolicy } from './scheduler.js';
import { JOB_CLASSES, type FleetLayout, type JobClass, type JobSpec } from './scheduler-types.js';

export interface SimOptions {
  layout: FleetLayout;
  jobs: JobSpec[];
  policy?: SchedulerPolicy;
  /** Sample utilization and fragmentation this often, virtual seconds; default: span / 200. */
  sampleEveryS?: number;
  /** Called now and then with jobs submitted so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The "inflation" replay of Weng et al. (ATC'23) for the openb traces: tasks arrive one second
 * apart in trace order, cycling through the list, and never leave, until the GPUs they ask for
 * reach `demand` × the fleet's GPUs. The score is the allocation rate: GPUs allocated ÷ GPUs in
 * the fleet when arrivals stop. Times and durations in the trace are ignored.
 */
export function inflateWorkload(jobs: JobSpec[], fleetGpus: number, demand = 1.0): JobSpec[] {
  const out: JobSpec[] = [];
  if (jobs.length === 0) return out;
  let asked = 0;
  for (let i = 0; asked < demand * fleetGpus; i++) {
    const j = jobs[i % jobs.length]!;
    asked += (j.gpus * (j.gpuMilli ?? 1000)) / 1000;
    const { startS: _ignored, ...rest } = j;
    out.push({ ...rest, id: `${j.id}#${Math.floor(i / jobs.length)}`, submitS: i, durationS: 1e12 });
  }
  return out;
}

export interface SimReport {
  policy: string;
  fleet: { nodes: number; gpus: number; models: string[] };
  jobs: { submitted: number; started: number; finished: number; preempted: number; failed: number; rejected: number; neverStarted: number; replaced: number };
  /** Share of submitted jobs that ever started. */
  placedShare: number;
  /** GPUs allocated at the end ÷ GPUs in the fleet (the inflation replay's score). */
  allocationRateAtEnd: number;
  /** Virtual seconds from the first submission to the last event. */
  spanS: number;
  utilization: { mean: number; peak: number; timeline: [number, number][] };
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

export function simulate(o: SimOptions): SimReport {
  const t0 = performance.now();
  const policy = o.policy ?? POLICIES['revenue']!;
  const s = new Scheduler(o.layout, policy);
  const jobs = [...o.jobs].sort((a, b) => a.submitS - b.submitS);
  const first = jobs[0]?.submitS ?? 0;
  const last = jobs[jobs.length - 1]?.submitS ?? 0;
  const maxDur = jobs.reduce((m, j) => Math.max(m, Math.min(j.durationS, 1e9) + ((j.startS ?? j.submitS) - j.submitS)), 0);
  const sampleEvery = o.sampleEveryS ?? Math.max(1, Math.ceil((last - first + maxDur) / 200));
  const total = s.fleet.totalGpus;
  const util: [number, number][] = [];
  const frag: [number, number][] = [];
  let nextSample = first;
  const sampleTo = (t: number): void => {
    while (nextSample <= t) {
      s.advance(nextSample);
      util.push([nextSample, total === 0 ? 0 : s.runningGpus() / total]);
      frag.push([nextSample, s.index.fragmentation()]);
      nextSample += sampleEvery;
    }
  };
  let preempted = 0;
  s.onEvent((e) => {
    if (e.type === 'preempted') preempted++;
  });
  const progressEvery = Math.max(1, Math.floor(jobs.length / 100));
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!;
    sampleTo(j.submitS);
    s.submit(j);
    if (o.onProgress && i % progressEvery === 0) o.onProgress(i, jobs.length);
  }
  // Drain: run the clock until nothing is left to happen (jobs that never end stop the drain).
  let end = last;
  for (let guard = 0; guard < 10_000_000; guard++) {
    const t = s.nextEventTime();
    if (!Number.isFinite(t) || t >= 1e11) break;
    sampleTo(t);
    s.advance(t);
    end = t;
  }
  sampleTo(end);
  o.onProgress?.(jobs.length, jobs.length);

  const st = s.stats;
  const waits = [...st.queueWaitsS].sort((a, b) => a - b);
  const revenue = {} as Record<JobClass, string>;
  let revTotal = 0n;
  const earned = s.revenueMicros();
  for (const c of JOB_CLASSES) {
    revenue[c] = earned[c].toString();
    revTotal += earned[c];
  }
  const spanS = Math.max(0, end - first);
  return {
    policy: policy.name,
    fleet: { nodes: s.fleet.nodeIds.length, gpus: total, models: s.fleet.models },
    jobs: {
      submitted: st.submitted, started: waits.length, finished: st.finished, preempted, failed: st.failed, rejected: st.rejected,
      neverStarted: st.submitted - waits.length - st.rejected, replaced: st.replaced,
    },
    placedShare: st.submitted === 0 ? 0 : waits.length / st.submitted,
    allocationRateAtEnd: total === 0 ? 0 : s.runningGpus() / total,
    spanS,
    utilization: {
      mean: spanS === 0 || total === 0 ? 0 : st.busyGpuSeconds / (spanS * total),
      peak: util.reduce((m, [, u]) => Math.max(m, u), 0),
      timeline: util,
    },
    fragmentation: { mean: frag.length ? frag.reduce((a, [, f]) => a + f, 0) / frag.length : 0, timeline: frag },
    queueWaitS: {
      p50: percentile(waits, 50), p90: percentile(waits, 90), p99: percentile(waits, 99), max: waits[waits.length - 1] ?? 0,
      mean: waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0,
    },
    preemptions: st.preemptions,
    reservationsDelayed: st.reservationsDelayed,
    revenueMicros: revenue,
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
    ['utilization', `mean ${pct(r.utilization.mean)}, peak ${pct(r.utilization.peak)} over ${dur(r.spanS)}`],
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
