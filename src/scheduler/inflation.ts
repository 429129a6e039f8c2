/**
 * The evaluation protocol of Weng et al., "Beware of Fragmentation" (USENIX ATC 2023, §6.1),
 * written from the paper: tasks are drawn at random (seeded, with replacement) from the trace's
 * task list and submitted one by one; none leaves, none waits, none is preempted — each is placed
 * at once or refused. Arrivals continue until the GPUs they ask for reach `maxLoad` × the
 * cluster's GPU capacity (0–130% in the paper's figures). At every `step` of arrival load the run
 * records the allocation rate (GPUs allocated ÷ GPU capacity), the unallocated GPUs (capacity −
 * allocated), the tasks refused so far, the paper's fragmentation rate and the project's own
 * measure (free GPU capacity on partly used nodes). Metrics are taken on the arrival axis, never
 * on a clock.
 *
 * Every policy sees the same task sequence for a seed, so differences are the policies' alone.
 * GPU figures are GPUs (a 0.46-GPU share counts 0.46).
 */
import { ShareCluster, taskPopulation, type Population, type SharePolicyName } from './share-cluster.js';
import type { ShareNode, ShareTask } from './scheduler-types.js';
import { mulberry32 } from './workload.js';

export interface LoadPoint {
  /** Arrived GPU demand ÷ GPU capacity at this checkpoint (0.00, 0.01, …). */
  load: number;
  allocatedGpus: number;
  unallocatedGpus: number;
  /** allocatedGpus ÷ capacity. */
  allocationRate: number;
  /** Tasks refused so far (no node could hold them). */
  refusedTasks: number;
  /** GPUs asked for by refused tasks so far. */
  refusedGpus: number;
  /** The paper's fragmentation: expected share of free GPU capacity the task population cannot use. */
  fragmentation: number;
  /** The project's measure: share of free GPU capacity on partly used nodes. */
  partialNodeShare: number;
}

export interface InflationCurve {
  policy: SharePolicyName;
  seed: number;
  capacityGpus: number;
  arrivedTasks: number;
  points: LoadPoint[];
  wallMs: number;
}

export interface InflationOptions {
  nodes: readonly ShareNode[];
  tasks: readonly ShareTask[];
  /** Highest arrival load, × GPU capacity (default 1.3). */
  maxLoad?: number;
  /** Checkpoint spacing on the load axis (default 0.01). */
  step?: number;
  /** The population the fragmentation measure (and FGD) weighs tasks by; default: the tasks' own. */
  population?: Population;
  /** Called with each placement (tests check the run from the outside). */
  onPlace?: (task: ShareTask, node: number, gpus: { index: number; milli: number }[]) => void;
}

/** The task sequence for a seed: indexes into `tasks`, drawn until their GPU demand reaches maxLoad × capacity. */
export function sampleArrivals(tasks: readonly ShareTask[], capacityGpus: number, seed: number, maxLoad: number): number[] {
  const out: number[] = [];
  if (!tasks.some((t) => t.gpus > 0) || capacityGpus <= 0) return out;
  const rnd = mulberry32(seed);
  let asked = 0;
  while (asked < maxLoad * capacityGpus) {
    const i = Math.floor(rnd() * tasks.length);
    out.push(i);
    asked += demandGpus(tasks[i]!);
  }
  return out;
}

/** GPUs a task asks for (shares as fractions). */
export const demandGpus = (t: ShareTask): number => (t.gpus * t.gpuMilli) / 1000;

/** One run of the protocol for one policy and seed. */
export function inflationRun(o: InflationOptions, policy: SharePolicyName, seed: number, arrivals?: readonly number[]): InflationCurve {
  const t0 = performance.now();
  const maxLoad = o.maxLoad ?? 1.3;
  const step = o.step ?? 0.01;
  const cluster = new ShareCluster(o.nodes, o.population ?? taskPopulation(o.tasks));
  const capacity = cluster.capacityMilli / 1000;
  const seq = arrivals ?? sampleArrivals(o.tasks, capacity, seed, maxLoad);
  const points: LoadPoint[] = [];
  let allocatedMilli = 0;
  let refusedTasks = 0;
  let refusedGpus = 0;
  let askedGpus = 0;
  let k = 0; // next checkpoint: k × step
  const lastK = Math.round(maxLoad / step);
  const record = (): void => {
    const allocatedGpus = allocatedMilli / 1000;
    points.push({
      load: round2(k * step), allocatedGpus, unallocatedGpus: capacity - allocatedGpus, allocationRate: capacity ? allocatedGpus / capacity : 0,
      refusedTasks, refusedGpus, fragmentation: cluster.fragmentationRate(), partialNodeShare: cluster.partialNodeShare(),
    });
    k++;
  };
  record();
  for (const i of seq) {
    const task = o.tasks[i]!;
    askedGpus += demandGpus(task);
    const p = cluster.place(task, policy);
    if (p) {
      allocatedMilli += task.gpus * task.gpuMilli;
      o.onPlace?.(task, p.node, p.gpus);
    } else {
      refusedTasks++;
      refusedGpus += demandGpus(task);
    }
    // Checkpoints the load passed with this arrival, recorded after it.
    while (k <= lastK && askedGpus >= k * step * capacity - 1e-9) record();
  }
  while (k <= lastK) record();
  return { policy, seed, capacityGpus: capacity, arrivedTasks: seq.length, points, wallMs: performance.now() - t0 };
}

export interface Comparison {
  capacityGpus: number;
  nodes: number;
  tasks: number;
  seeds: number[];
  maxLoad: number;
  step: number;
  /** Per policy: the mean over seeds at each checkpoint, and each seed's curve. */
  policies: { policy: SharePolicyName; mean: LoadPoint[]; runs: InflationCurve[]; wallMs: number }[];
}

/** Every policy on the same seeded task sequences; means over seeds per checkpoint. */
export function compareInflation(o: InflationOptions & { policies: readonly SharePolicyName[]; seeds: readonly number[] }): Comparison {
  const maxLoad = o.maxLoad ?? 1.3;
  const step = o.step ?? 0.01;
  const population = o.population ?? taskPopulation(o.tasks);
  const capacity = o.nodes.reduce((a, n) => a + n.gpus, 0);
  const seqs = o.seeds.map((s) => sampleArrivals(o.tasks, capacity, s, maxLoad));
  const policies = o.policies.map((policy) => {
    const runs = o.seeds.map((seed, si) => inflationRun({ ...o, population, maxLoad, step }, policy, seed, seqs[si]));
    return { policy, runs, mean: meanPoints(runs), wallMs: runs.reduce((a, r) => a + r.wallMs, 0) };
  });
  return { capacityGpus: capacity, nodes: o.nodes.length, tasks: o.tasks.length, seeds: [...o.seeds], maxLoad, step, policies };
}

function meanPoints(runs: readonly InflationCurve[]): LoadPoint[] {
  const n = runs.length;
  return runs[0]!.points.map((p, i) => {
    const avg = (f: (q: LoadPoint) => number): number => runs.reduce((a, r) => a + f(r.points[i]!), 0) / n;
    return {
      load: p.load, allocatedGpus: avg((q) => q.allocatedGpus), unallocatedGpus: avg((q) => q.unallocatedGpus), allocationRate: avg((q) => q.allocationRate),
      refusedTasks: avg((q) => q.refusedTasks), refusedGpus: avg((q) => q.refusedGpus), fragmentation: avg((q) => q.fragmentation), partialNodeShare: avg((q) => q.partialNodeShare),
    };
  });
}

/** The checkpoint at `load` (nearest), e.g. 1.0 for the point where demand reaches capacity. */
export function pointAt(points: readonly LoadPoint[], load: number): LoadPoint {
  let best = points[0]!;
  for (const p of points) if (Math.abs(p.load - load) < Math.abs(best.load - load)) best = p;
  return best;
}

const round2 = (x: number): number => Math.round(x * 1e6) / 1e6;
