/**
 * Scheduler benchmarks (issue #3), all in one run:
 *
 * 1. Scale: a synthetic 1,000,000-GPU fleet (8-GPU HGX nodes and GB200 NVL72 racks, 1,024-GPU
 *    fabric domains, 10 sites with power caps at 90% of full load) and 1,000,000 mixed requests
 *    (gangs 1–16,384 GPUs, heavy-tailed durations, reserved/on-demand/internal/spot) through the
 *    full Scheduler on one core: decisions/s, per-request latency p50/p99 (each submit, including
 *    the events it advances past), peak RSS. Targets: ≥20,000 decisions/s, p99 ≤1 ms, ≤2 GB.
 * 2. Placement quality vs a naive first-fit written here, on the same request prefix, both
 *    placing immediately or refusing (no queue), with departures: placed share, utilization,
 *    fragmentation, and time per decision.
 * 3. The Alibaba openb default trace: the inflation protocol (ATC'23; `npm run bench -- traces`
 *    has the full comparison) — allocation rate of neocloud's placement and best fit when demand
 *    reaches capacity — and the timed replay end to end (target ≤1 s).
 *
 *   npm run bench -- scheduler [--requests N] [--gpus G] [--baseline-requests N] [--no-scale | --scale-only]
 */
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';
import * as hdr from 'hdr-histogram-js';
import { LeaseEngine } from '../src/leasing/engine.js';
import { DEFAULT_POLICY } from '../src/leasing/rules.js';
import { fragmentation } from '../src/leasing/status.js';
import type { GpuModelId } from '../src/fleet/index.js';
import {
  compareInflation, fleetFromLayout, importOpenbNodes, importOpenbPods, importOpenbTasks, importShareNodes, pointAt, simulate,
  syntheticFleetLayout, syntheticWorkload, tracesDir, TRACE_FILES, sampleOpenbNodesCsv, sampleOpenbPodsCsv,
  type FleetLayout, type JobSpec,
} from '../src/scheduler/index.js';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}

const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

// ------------------------------------------------------------------ 1. scale

/**
 * The simulator over the lease engine (the code the lease API runs), with every engine decision
 * timed: a new request (decideAny) and each placement of the queue pass (one queued request
 * placed, or refused and held back). The latency per request is one such decision.
 */
function scale(layout: FleetLayout, jobs: JobSpec[]): Record<string, number> {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const proto = LeaseEngine.prototype as unknown as { decideAny: (...a: unknown[]) => unknown; queuePass: (...a: unknown[]) => Generator<unknown> };
  const decideAny = proto.decideAny;
  const queuePass = proto.queuePass;
  let decisions = 0;
  let engineMs = 0;
  const record = (ms: number): void => {
    decisions++;
    engineMs += ms;
    h.recordValue(Math.max(1, Math.round(ms * 1000)));
  };
  proto.decideAny = function (this: unknown, ...a: unknown[]) {
    const t = performance.now();
    try {
      return decideAny.apply(this, a);
    } finally {
      record(performance.now() - t);
    }
  };
  proto.queuePass = function* (this: unknown, ...a: unknown[]) {
    const it = queuePass.apply(this, a);
    for (;;) {
      const t = performance.now();
      const r = it.next();
      record(performance.now() - t);
      if (r.done) return;
      yield r.value;
    }
  };
  let peakRss = process.memoryUsage().rss;
  const t0 = performance.now();
  let r: ReturnType<typeof simulate>;
  try {
    r = simulate({ layout, jobs, onProgress: () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); } });
  } finally {
    proto.decideAny = decideAny;
    proto.queuePass = queuePass;
  }
  const wall = (performance.now() - t0) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const out = {
    requests: jobs.length, seconds: wall, decisions, perS: decisions / (engineMs / 1000), requestsPerS: jobs.length / wall,
    p50us: h.getValueAtPercentile(50), p99us: h.getValueAtPercentile(99), maxus: h.maxValue, peakRssBytes: peakRss,
    utilization: r.utilization.mean, started: r.jobs.started, preemptions: r.preemptions, queued: r.jobs.neverStarted, rejected: r.jobs.rejected,
  };
  h.destroy();
  return out;
}

// ------------------------------------------------------------------ 2. quality vs first-fit

/** Departures in time order: a tiny binary heap of [endS, token]. */
class Ends {
  private t: number[] = [];
  private v: number[] = [];
  push(t: number, v: number): void {
    let i = this.t.length;
    this.t.push(t);
    this.v.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.t[p]! <= this.t[i]!) break;
      [this.t[p], this.t[i]] = [this.t[i]!, this.t[p]!];
      [this.v[p], this.v[i]] = [this.v[i]!, this.v[p]!];
      i = p;
    }
  }
  peek(): number {
    return this.t.length ? this.t[0]! : Infinity;
  }
  pop(): number {
    const v = this.v[0]!;
    const lt = this.t.pop()!;
    const lv = this.v.pop()!;
    if (this.t.length) {
      this.t[0] = lt;
      this.v[0] = lv;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.t.length && this.t[l]! < this.t[m]!) m = l;
        if (r < this.t.length && this.t[r]! < this.t[m]!) m = r;
        if (m === i) break;
        [this.t[m], this.t[i]] = [this.t[i]!, this.t[m]!];
        [this.v[m], this.v[i]] = [this.v[i]!, this.v[m]!];
        i = m;
      }
    }
    return v;
  }
}

/**
 * The naive first-fit baseline: scan nodes in fleet order, take the first GPUs that fit. Gang
 * levels are honoured by scanning domains (NVLink domain, fabric, site) in order and taking the
 * first that can hold the gang; power caps are honoured too (per hall and site, like ours). No
 * whole-node rule, no aggregates: O(nodes) per decision.
 */
class FirstFit {
  readonly free: Uint8Array;
  private readonly hallIdx: Int32Array;
  private readonly siteIdx: Int32Array;
  private readonly hallUsed: Float64Array;
  private readonly siteUsed: Float64Array;
  private readonly groups: Record<'nvlink' | 'fabric' | 'site', { model: string; nodes: number[] }[]>;
  constructor(private readonly L: FleetLayout) {
    this.free = Uint8Array.from(L.nodes.map((n) => n.gpus));
    const hi = new Map(L.halls.map((h, i) => [h.id, i]));
    const si = new Map(L.sites.map((x, i) => [x.id, i]));
    this.hallIdx = Int32Array.from(L.nodes.map((n) => hi.get(n.hallId)!));
    this.siteIdx = Int32Array.from(L.nodes.map((n) => si.get(n.siteId)!));
    this.hallUsed = new Float64Array(L.halls.length);
    this.siteUsed = new Float64Array(L.sites.length);
    const group = (key: (n: FleetLayout['nodes'][number]) => string) => {
      const map = new Map<string, { model: string; nodes: number[] }>();
      L.nodes.forEach((n, i) => {
        const k = `${n.model}|${key(n)}`;
        let g = map.get(k);
        if (!g) map.set(k, (g = { model: n.model, nodes: [] }));
        g.nodes.push(i);
      });
      return [...map.values()];
    };
    this.groups = { nvlink: group((n) => n.nvlinkId), fabric: group((n) => n.fabricId), site: group((n) => n.siteId) };
  }
  /** Takes GPUs first-fit from `nodes` within power headroom, or takes nothing. */
  private takeFrom(j: JobSpec, nodes: Iterable<number>): [number, number][] | null {
    const out: [number, number][] = [];
    let left = j.gpus;
    for (const i of nodes) {
      if (left === 0) break;
      const n = this.L.nodes[i]!;
      if (this.free[i] === 0 || (j.gpuModels.length && !j.gpuModels.includes(n.model))) continue;
      let t = Math.min(left, this.free[i]!);
      if (n.wattsPerGpu > 0) {
        const head = Math.min(this.L.halls[this.hallIdx[i]!]!.powerCapW - this.hallUsed[this.hallIdx[i]!]!, this.L.sites[this.siteIdx[i]!]!.powerCapW - this.siteUsed[this.siteIdx[i]!]!);
        t = Math.min(t, Math.floor(head / n.wattsPerGpu));
      }
      if (t <= 0) continue;
      out.push([i, t]);
      this.apply(i, t);
      left -= t;
    }
    if (left > 0) {
      for (const [i, t] of out) this.apply(i, -t);
      return null;
    }
    return out;
  }
  private apply(i: number, t: number): void {
    this.free[i]! -= t;
    const w = this.L.nodes[i]!.wattsPerGpu * t;
    this.hallUsed[this.hallIdx[i]!]! += w;
    this.siteUsed[this.siteIdx[i]!]! += w;
  }
  place(j: JobSpec): [number, number][] | null {
    if (j.placement === 'any') return this.takeFrom(j, this.L.nodes.keys());
    for (const g of this.groups[j.placement]) {
      if (j.gpuModels.length && !j.gpuModels.includes(g.model)) continue;
      const got = this.takeFrom(j, g.nodes);
      if (got) return got;
    }
    return null;
  }
  give(p: [number, number][]): void {
    for (const [i, t] of p) this.apply(i, -t);
  }
  fragmentation(): number {
    let free = 0;
    let whole = 0;
    this.L.nodes.forEach((n, i) => {
      free += this.free[i]!;
      if (this.free[i] === n.gpus) whole += n.gpus;
    });
    return free === 0 ? 0 : 1 - whole / free;
  }
}

interface Quality { name: string; placedShare: number; utilization: number; fragmentation: number; usPerDecision: number }

function quality(layout: FleetLayout, jobs: JobSpec[]): { ours: Quality; firstFit: Quality } {
  let lastSubmitMs = 0;
  const total = layout.nodes.reduce((a, n) => a + n.gpus, 0);
  /**
   * Utilization is the simulator's definition: busy GPU-time (a job runs from its start, not from
   * when it was booked: a reservation booked ahead holds idle GPUs until then) ÷ GPU-time over the
   * arrival window. Counting from submission gave the engine, which books reservations for their
   * own windows, 229% on the saturated fleet.
   */
  const run = (name: string, place: (j: JobSpec) => unknown | null, give: (p: unknown) => void, frag: () => number) => {
    const ends = new Ends();
    const starts = new Ends();
    const held = new Map<number, unknown>();
    let busy = 0;
    let busyArea = 0;
    let lastT = jobs[0]?.submitS ?? 0;
    let placed = 0;
    let fragSum = 0;
    let fragN = 0;
    let decideMs = 0;
    const gpusOf = new Map<number, number>();
    const advance = (t: number) => {
      while (Math.min(ends.peek(), starts.peek()) <= t) {
        const isStart = starts.peek() <= ends.peek();
        const et = isStart ? starts.peek() : ends.peek();
        busyArea += busy * (et - lastT);
        lastT = et;
        if (isStart) {
          busy += gpusOf.get(starts.pop())!;
          continue;
        }
        const k = ends.pop();
        give(held.get(k));
        held.delete(k);
        busy -= gpusOf.get(k)!;
      }
      busyArea += busy * (t - lastT);
      lastT = t;
    };
    jobs.forEach((j, k) => {
      const start = j.startS ?? j.submitS;
      advance(j.submitS);
      lastSubmitMs = Math.round(j.submitS * 1000);
      const a = performance.now();
      const p = place(j);
      decideMs += performance.now() - a;
      if (p) {
        placed++;
        held.set(k, p);
        gpusOf.set(k, j.gpus);
        if (start <= j.submitS) busy += j.gpus;
        else starts.push(start, k);
        ends.push(start + j.durationS, k);
      }
      if (k % 1000 === 0) {
        fragSum += frag();
        fragN++;
      }
    });
    const span = lastT - (jobs[0]?.submitS ?? 0);
    return { name, placedShare: placed / jobs.length, utilization: span > 0 ? busyArea / (span * total) : 0, fragmentation: fragSum / Math.max(1, fragN), usPerDecision: (decideMs * 1000) / jobs.length };
  };
  // The engine, place-or-refuse (no preemption, no backfill, no queue), departures as releases.
  const { fleet, shape } = fleetFromLayout(layout);
  const engine = new LeaseEngine(fleet, { ...DEFAULT_POLICY, preemption: false, backfill: false }, { shape });
  const models = [...engine.topology.nodesByModel.keys()];
  const levels = { nvlink: 'same-nvlink', fabric: 'same-fabric', site: 'same-site', any: 'any' } as const;
  let n = 0;
  let gone = 0;
  const ours = run('best fit (neocloud lease engine)', (j) => {
    const start = Math.round((j.startS ?? j.submitS) * 1000);
    const req = {
      tenantId: 'b', gpuModel: models[0]!, gpuCount: j.gpus, leaseClass: j.jobClass, placement: levels[j.placement], region: null,
      startMs: start, endMs: start + Math.round(j.durationS * 1000), queueUntilMs: null,
    };
    try {
      const d = engine.decideAny(req, j.gpuModels.length ? (j.gpuModels as GpuModelId[]) : models, Math.round(j.submitS * 1000), { id: `b${n++}`, priceMicrosPerGpuHour: 1n });
      return d.lease.id;
    } catch {
      return null;
    }
  }, () => {
    // A departure is the end of the lease's window, already in its hold; drop ended holds now and then.
    if (++gone % 2048 === 0) engine.prune(lastSubmitMs);
  }, () => fragmentation(engine, lastSubmitMs));
  const ff = new FirstFit(layout);
  const firstFit = run('naive first fit', (j) => ff.place(j), (p) => ff.give(p as [number, number][]), () => ff.fragmentation());
  return { ours, firstFit };
}

// ------------------------------------------------------------------ 3. openb

function openb(): { source: string; fillOurs: number; fillBestFit: number; fillMs: number; replayMs: number; replayStarted: number; jobs: number } {
  const dir = tracesDir();
  const nodesPath = join(dir, TRACE_FILES.openbGpuNodes);
  const allNodesPath = join(dir, TRACE_FILES.openbAllNodes);
  const podsPath = join(dir, TRACE_FILES.openbPodsDefault);
  const real = existsSync(nodesPath) && existsSync(podsPath) && existsSync(allNodesPath);
  const layout = importOpenbNodes(real ? readFileSync(nodesPath, 'utf8') : sampleOpenbNodesCsv());
  const podsCsv = real ? readFileSync(podsPath, 'utf8') : sampleOpenbPodsCsv();
  const { jobs } = importOpenbPods(podsCsv);
  // The inflation protocol (ATC'23 §6.1, seed 1): neocloud's default placement and best fit at 100% load; `npm run bench -- traces` has the full comparison.
  let t = performance.now();
  const c = compareInflation({
    nodes: importShareNodes(real ? readFileSync(allNodesPath, 'utf8') : sampleOpenbNodesCsv()), tasks: importOpenbTasks(podsCsv),
    policies: ['neocloud', 'bestfit'], seeds: [1], maxLoad: 1.0,
  });
  const fillMs = performance.now() - t;
  t = performance.now();
  const replay = simulate({ layout, jobs });
  const replayMs = performance.now() - t;
  return {
    source: real ? 'openb_pod_list_default.csv on openb_node_list_gpu_node.csv (fill: …_all_node.csv)' : 'generated sample (traces absent)',
    fillOurs: pointAt(c.policies[0]!.mean, 1).allocationRate, fillBestFit: pointAt(c.policies[1]!.mean, 1).allocationRate, fillMs, replayMs, replayStarted: replay.jobs.started, jobs: jobs.length,
  };
}

export async function main(args: string[]): Promise<void> {
  const requests = arg(args, 'requests', 1_000_000);
  const gpus = arg(args, 'gpus', 1_000_000);
  const baselineRequests = arg(args, 'baseline-requests', 20_000);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`scheduler benchmark — ${cpus().length} × ${cpu}, node ${process.version}, ${new Date().toISOString()}\n\n`);

  const t0 = performance.now();
  const layout = syntheticFleetLayout({ gpus });
  const jobs = syntheticWorkload({ seed: 42, jobs: requests, fleetGpus: gpus });
  process.stdout.write(`fleet: ${gpus.toLocaleString('en-US')} GPUs on ${layout.nodes.length.toLocaleString('en-US')} nodes, ${layout.sites.length} sites; ` +
    `${requests.toLocaleString('en-US')} requests generated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  if (args.includes('--scale-only')) {
    const only = scale(layout, jobs);
    printScale(only, requests);
    process.stdout.write(`${JSON.stringify({ scale: only })}\n`);
    return;
  }
  // The engine at scale runs in a child process of its own, so that neither it nor the baselines
  // pay for the other's heap (GC cost grows with what is live): same command, one run.
  let sc: Record<string, number> | null = null;
  if (!args.includes('--no-scale')) {
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, 'scheduler', '--scale-only', '--requests', String(requests), '--gpus', String(gpus)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (child.status !== 0) throw new Error(`scale run failed: ${child.stderr}`);
    const lines = child.stdout.trimEnd().split('\n');
    sc = (JSON.parse(lines[lines.length - 1]!) as { scale: Record<string, number> }).scale;
    printScale(sc, requests);
  }
  const q = quality(layout, jobs.slice(0, baselineRequests));
  // The 1M fleet is far from full in a prefix; a small fleet under the same kind of load saturates.
  const smallGpus = 8192;
  const smallLayout = syntheticFleetLayout({ gpus: smallGpus, sites: 2 });
  const qSmall = quality(smallLayout, syntheticWorkload({ seed: 42, jobs: 40_000, fleetGpus: smallGpus }));
  for (const [title, r] of [[`first ${baselineRequests.toLocaleString('en-US')} requests on the 1M-GPU fleet`, q], ['40,000 requests on an 8,192-GPU fleet (saturated)', qSmall]] as const) {
    process.stdout.write(`\n2. placement quality, ${title}, place-or-refuse with departures:\n`);
    for (const x of [r.ours, r.firstFit]) {
      process.stdout.write(`  ${x.name.padEnd(36)} placed ${pct(x.placedShare)}  utilization ${pct(x.utilization)}  fragmentation ${pct(x.fragmentation)}  ${x.usPerDecision.toFixed(1)} µs/decision\n`);
    }
    const ratio = r.firstFit.usPerDecision / r.ours.usPerDecision;
    process.stdout.write(`  → first fit is ${ratio >= 1 ? `${ratio.toFixed(1)}× slower` : `${(1 / ratio).toFixed(1)}× faster`} per decision\n`);
  }

  const o = openb();
  process.stdout.write(`\n3. Alibaba openb (${o.source}), ${o.jobs} GPU tasks:\n`);
  process.stdout.write(`  inflation protocol (seed 1), allocation rate when demand = capacity: neocloud ${pct(o.fillOurs)} vs best fit ${pct(o.fillBestFit)} (${o.fillMs.toFixed(0)} ms; see npm run bench -- traces)\n`);
  process.stdout.write(`  timed replay end to end: ${o.replayMs.toFixed(0)} ms (target ≤1,000 ms), ${o.replayStarted} tasks started\n`);

  process.stdout.write(`${JSON.stringify({ bench: 'scheduler', gpus, requests, scale: sc, quality: q, qualitySmall: qSmall, openb: o })}\n`);
}

function printScale(sc: Record<string, number>, requests: number): void {
  process.stdout.write(`\n1. full scheduler, ${requests.toLocaleString('en-US')} requests on one core:\n`);
  process.stdout.write(`  ${sc['perS']!.toFixed(0)} decisions/s (target ≥20,000; kube-scheduler ≥270 pods/s at 5,000 nodes, YuniKorn 833/s)\n`);
  process.stdout.write(`  latency per request p50 ${(sc['p50us']! / 1000).toFixed(3)} ms, p99 ${(sc['p99us']! / 1000).toFixed(3)} ms (target ≤1 ms), max ${(sc['maxus']! / 1000).toFixed(1)} ms\n`);
  process.stdout.write(`  peak RSS ${mb(sc['peakRssBytes']!)} (target ≤2 GB); utilization ${pct(sc['utilization']!)}; ${sc['started']} starts, ${sc['preemptions']} preemptions, ${sc['queued']} still queued\n`);
}
