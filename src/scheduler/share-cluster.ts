/**
 * Share-aware placement core for GPU-sharing, type-constrained work (the Alibaba openb traces):
 * nodes with CPU, memory and GPUs that tasks share in 1/1000 units, one task per call, placed or
 * refused at once (no queue, no preemption). Pure and in memory; the inflation protocol
 * (inflation.ts) drives it.
 *
 * Fragmentation as Weng et al. define it ("Beware of Fragmentation: Scheduling GPU-Sharing
 * Workloads with Fragmentation Gradient Descent", USENIX ATC 2023, §4): for a node n and a task m,
 * F_n(m) is the free GPU capacity on n that m cannot use —
 *   - all of n's free GPU capacity when m cannot run on n at all (too little CPU or memory, a GPU
 *     model m does not accept, or fewer GPUs with m's share free than m needs);
 *   - otherwise the free capacity of the GPUs whose free share is below m's per-GPU share (for a
 *     whole-GPU task: every partly used GPU).
 * The node's fragmentation is the expectation over the task population M (the workload's task
 * shapes weighted by frequency): F_n(M) = Σ_m p_m F_n(m); the cluster's is Σ_n F_n(M), reported
 * as a share of the free GPU capacity. The population here is the trace's GPU tasks: a CPU-only
 * task can use no GPU, so it would add its share of the population to every node's measure alike
 * and change no decision (see docs/decisions.md, "Placement quality").
 *
 * FGD (§5) places a task on the node, and the GPU(s) in it, whose fragmentation grows least.
 *
 * Speed: a node's state (model, free CPU, free memory, sorted free GPU shares) decides every
 * score, so nodes in the same state are kept in one group and each (state, task shape, policy)
 * is scored once and remembered. A placement scores each distinct state once, not each node.
 */
import type { ShareNode, ShareTask } from './scheduler-types.js';

/** Placement policies of the inflation protocol, by name. */
export const SHARE_POLICIES = ['bestfit', 'packing', 'fgd', 'neocloud'] as const;
export type SharePolicyName = (typeof SHARE_POLICIES)[number];

/**
 * - `bestfit`: the feasible node left with the least free GPU capacity (then the least free CPU);
 *   a GPU-sharing task takes the GPU with the least free share that fits. The baseline the
 *   project shipped (`bestFitAllocation`), now also checking CPU and memory.
 * - `packing`: the paper's GPU-packing baseline (§6.1): a GPU-sharing task goes to a GPU already
 *   in use where one fits, else to a free GPU on a node already in use, else to an idle node; first
 *   fit (node order) inside each tier.
 * - `fgd`: fragmentation gradient descent (§5): the least growth of F_n(M); ties by node order.
 * - `neocloud`: the default — FGD's measure plus what it misses: F_n(m) asks whether one task of
 *   each shape fits, so a node with four free GPUs and CPU for one task counts all four usable.
 *   neocloud adds the node's stranded GPU capacity (free GPU beyond what its free CPU and memory
 *   can feed at the mean CPU and memory per GPU of the tasks that may run on its model) and
 *   places where the sum grows least; ties go to best fit (least free GPU capacity, then CPU,
 *   left), not node order. With a type-constrained population (≥ STRAND_CONSTRAINED_LIMIT of GPU
 *   tasks name models) the stranding term is off and neocloud is FGD with the best-fit tie-break.
 */
export const SHARE_POLICY_DESCRIPTIONS: Readonly<Record<SharePolicyName, string>> = {
  bestfit: 'best fit: least free GPU (then CPU) left on the node',
  packing: 'GPU packing: used GPUs, then used nodes, then idle nodes; first fit',
  fgd: 'fragmentation gradient descent (Weng et al., ATC\'23): least growth of expected fragmentation',
  neocloud: 'neocloud default: FGD plus CPU/memory stranding (off for type-constrained populations), ties broken by best fit',
};

export function isSharePolicy(name: string): name is SharePolicyName {
  return (SHARE_POLICIES as readonly string[]).includes(name);
}

/**
 * The task population: distinct GPU-task shapes with their share of the GPU tasks (weights sum to
 * 1), and the same grouped by GPU demand (GPUs, share, models) for the fast measure.
 */
export interface Population {
  classes: { task: ShareTask; weight: number }[];
  /** Share of the GPU tasks that name GPU models. */
  constrainedShare: number;
  gpuShapes: { gpus: number; milli: number; models: ReadonlySet<string> | null; weight: number; cpu: Float64Array; mem: Float64Array; w: Float64Array }[];
}

const shapeKey = (t: ShareTask): string => `${t.cpuMilli}|${t.memoryMib}|${t.gpus}|${t.gpuMilli}|${[...t.models].sort().join('/')}`;

/** The GPU tasks of a workload grouped by shape (CPU, memory, GPUs, share, models), weighted by frequency. */
export function taskPopulation(tasks: readonly ShareTask[]): Population {
  const count = new Map<string, { task: ShareTask; n: number }>();
  let total = 0;
  for (const t of tasks) {
    if (t.gpus === 0) continue;
    total++;
    const k = shapeKey(t);
    const e = count.get(k);
    if (e) e.n++;
    else count.set(k, { task: t, n: 1 });
  }
  const classes = [...count.values()].map((e) => ({ task: e.task, weight: e.n / total }));
  const byGpu = new Map<string, { task: ShareTask; list: { cpu: number; mem: number; w: number }[] }>();
  for (const c of classes) {
    const k = `${c.task.gpus}|${c.task.gpuMilli}|${[...c.task.models].sort().join('/')}`;
    let e = byGpu.get(k);
    if (!e) byGpu.set(k, (e = { task: c.task, list: [] }));
    e.list.push({ cpu: c.task.cpuMilli, mem: c.task.memoryMib, w: c.weight });
  }
  const gpuShapes = [...byGpu.values()].map((e) => ({
    gpus: e.task.gpus, milli: e.task.gpuMilli, models: e.task.models.length ? new Set(e.task.models) : null,
    weight: e.list.reduce((a, x) => a + x.w, 0),
    cpu: Float64Array.from(e.list.map((x) => x.cpu)), mem: Float64Array.from(e.list.map((x) => x.mem)), w: Float64Array.from(e.list.map((x) => x.w)),
  }));
  const constrainedShare = classes.reduce((a, c) => a + (c.task.models.length > 0 ? c.weight : 0), 0);
  return { classes, gpuShapes, constrainedShare };
}

/** One node state; shared by every node in it. `frees` sorted high to low, 1/1000 GPU. */
interface State {
  key: string;
  model: string;
  cpu: number;
  mem: number;
  frees: readonly number[];
  freeSum: number;
  /** F_n(M), GPUs in 1/1000 (computed on first use). */
  frag: number;
  /** Per (policy, task shape) index: the scored choice on this state, or null when the task does not fit. */
  memo: (Choice | null | undefined)[];
}

interface Choice {
  /** Scores compared in order (lower wins), then node order. */
  a: number;
  b: number;
  c: number;
  /** The free share of the GPU a GPU-sharing task takes; -1 for whole GPUs or none. */
  take: number;
}

const better = (x: Choice, y: Choice): boolean => x.a < y.a || (x.a === y.a && (x.b < y.b || (x.b === y.b && x.c < y.c)));

interface Group {
  state: State;
  /** Node indexes in this state, ascending. */
  nodes: number[];
}

/** A placement, as applied: the node's index and each GPU's index and share taken. */
export interface SharePlacement {
  node: number;
  gpus: { index: number; milli: number }[];
}

/** Whether a task fits a node's free resources (the one feasibility rule every policy and the measure use). */
export function fitsFree(task: ShareTask, model: string, cpu: number, mem: number, frees: readonly number[]): boolean {
  if (task.cpuMilli > cpu || task.memoryMib > mem) return false;
  if (task.gpus === 0) return true;
  if (task.models.length > 0 && !task.models.includes(model)) return false;
  let ok = 0;
  for (const f of frees) if (f >= task.gpuMilli) ok++;
  return ok >= task.gpus;
}

/** F_n(m) for one node and one task shape, 1/1000 GPU (see the file comment). */
export function taskFragmentation(task: ShareTask, model: string, cpu: number, mem: number, frees: readonly number[]): number {
  let sum = 0;
  for (const f of frees) sum += f;
  if (!fitsFree(task, model, cpu, mem, frees)) return sum;
  let frag = 0;
  for (const f of frees) if (f < task.gpuMilli) frag += f;
  return frag;
}

/** F_n(M): the population-weighted expectation of F_n(m), 1/1000 GPU (the definition, one class at a time). */
export function nodeFragmentation(pop: Population, model: string, cpu: number, mem: number, frees: readonly number[]): number {
  let f = 0;
  for (const c of pop.classes) f += c.weight * taskFragmentation(c.task, model, cpu, mem, frees);
  return f;
}

/**
 * F_n(M) computed per GPU demand shape: a class that fits leaves Σ free − (free on GPUs with its
 * share free) unusable, one that does not fit leaves Σ free; so F = W·Σfree − Σ_fitting w·usable.
 * Equal to nodeFragmentation (a property test checks it), several times faster.
 */
export function nodeFragmentationFast(pop: Population, model: string, cpu: number, mem: number, frees: readonly number[]): number {
  let freeSum = 0;
  for (const f of frees) freeSum += f;
  if (freeSum === 0) return 0;
  let frag = 0;
  for (const g of pop.gpuShapes) {
    frag += g.weight * freeSum;
    if (g.models !== null && !g.models.has(model)) continue;
    let ok = 0;
    let usable = 0;
    for (const f of frees) {
      if (f >= g.milli) {
        ok++;
        usable += f;
      }
    }
    if (ok < g.gpus) continue;
    let wFit = 0;
    for (let i = 0; i < g.w.length; i++) if (g.cpu[i]! <= cpu && g.mem[i]! <= mem) wFit += g.w[i]!;
    frag -= wFit * usable;
  }
  return frag;
}

/** Scores round to this many 1/1000 GPU, so float noise does not decide a tie. */
const EPS = 1e6;
/**
 * neocloud weighs CPU/memory stranding (strandOf) with FGD's measure unless at least this share of
 * the GPU tasks name GPU models: with many type constraints, steering work by CPU balance moved
 * unconstrained tasks onto the models constrained tasks need (measured on gpuspec33: 28% fewer
 * unallocated GPUs than best fit at saturation with the term, 36% without; docs/decisions.md).
 */
export const STRAND_CONSTRAINED_LIMIT = 0.2;
const round = (x: number): number => Math.round(x * EPS) / EPS;

export class ShareCluster {
  readonly nodes: readonly ShareNode[];
  /** Per node: free CPU, memory, and per GPU free share (1/1000). */
  readonly cpuFree: Float64Array;
  readonly memFree: Float64Array;
  readonly gpuFree: number[][];
  readonly capacityMilli: number;
  private readonly states = new Map<string, State>();
  private readonly groups = new Map<State, Group>();
  /** The same groups by GPU model. */
  private readonly byModel = new Map<string, Map<State, Group>>();
  /** Groups with some GPU capacity free (what a GPU task can use). */
  private readonly withGpu = new Map<State, Group>();
  private readonly stateOf: State[];
  private readonly shapeIds = new Map<string, number>();

  /** Whether neocloud adds CPU/memory stranding to FGD's measure (see STRAND_CONSTRAINED_LIMIT). */
  private readonly strandWeight: boolean;

  constructor(nodes: readonly ShareNode[], readonly population: Population) {
    this.strandWeight = population.constrainedShare < STRAND_CONSTRAINED_LIMIT;
    this.nodes = nodes;
    this.cpuFree = Float64Array.from(nodes.map((n) => n.cpuMilli));
    this.memFree = Float64Array.from(nodes.map((n) => n.memoryMib));
    this.gpuFree = nodes.map((n) => new Array<number>(n.gpus).fill(1000));
    this.capacityMilli = nodes.reduce((a, n) => a + n.gpus * 1000, 0);
    this.stateOf = nodes.map((_, i) => this.stateFor(i));
    nodes.forEach((_, i) => this.join(i));
  }

  /** Free GPU capacity, 1/1000 GPU. */
  freeMilli(): number {
    let s = 0;
    for (const g of this.groups.values()) s += g.state.freeSum * g.nodes.length;
    return s;
  }

  /** The paper's fragmentation: Σ_n F_n(M) ÷ free GPU capacity (0 when nothing is free). */
  fragmentationRate(): number {
    let frag = 0;
    let free = 0;
    for (const g of this.groups.values()) {
      frag += this.fragOf(g.state) * g.nodes.length;
      free += g.state.freeSum * g.nodes.length;
    }
    return free === 0 ? 0 : frag / free;
  }

  /** The project's own measure (status.ts `fragmentation`): the share of free GPU capacity on nodes partly in use. */
  partialNodeShare(): number {
    let partial = 0;
    let free = 0;
    for (let i = 0; i < this.nodes.length; i++) {
      const s = this.stateOf[i]!.freeSum;
      free += s;
      if (s < this.nodes[i]!.gpus * 1000) partial += s;
    }
    return free === 0 ? 0 : partial / free;
  }

  /** Places the task by the policy, or returns null (it fits nowhere); nothing else changes. */
  place(task: ShareTask, policy: SharePolicyName): SharePlacement | null {
    const p = SHARE_POLICIES.indexOf(policy);
    const shape = this.shapeId(task);
    const memoKey = shape * SHARE_POLICIES.length + p;
    let best: Group | null = null;
    let bestC: Choice | null = null;
    const need = task.gpus * task.gpuMilli;
    for (const map of this.candidates(task)) for (const g of map.values()) {
      const st = g.state;
      if (st.freeSum < need || st.cpu < task.cpuMilli || st.mem < task.memoryMib || !fitsFree(task, st.model, st.cpu, st.mem, st.frees)) continue;
      let c = st.memo[memoKey];
      if (c === undefined) st.memo[memoKey] = c = this.score(st, task, policy);
      if (c === null) continue;
      if (!bestC || better(c, bestC) || (!better(bestC, c) && g.nodes[0]! < best!.nodes[0]!)) {
        best = g;
        bestC = c;
      }
    }
    if (!best || !bestC) return null;
    const node = best.nodes[0]!;
    return this.apply(node, task, bestC.take);
  }

  // ------------------------------------------------------------------ internals

  /** The group maps a task may fit in: those of its allowed models, or all groups. */
  private candidates(task: ShareTask): Map<State, Group>[] {
    if (task.gpus === 0) return [this.groups];
    if (task.models.length === 0) return [this.withGpu];
    const out: Map<State, Group>[] = [];
    for (const m of task.models) {
      const byState = this.byModel.get(m);
      if (byState) out.push(byState);
    }
    return out;
  }

  private shapeId(t: ShareTask): number {
    const k = shapeKey(t);
    let id = this.shapeIds.get(k);
    if (id === undefined) this.shapeIds.set(k, (id = this.shapeIds.size));
    return id;
  }

  /** GPU capacity (1/1000) the node's free CPU and memory cannot feed at the population's mean CPU and memory per GPU. */
  private strandOf(s: State): number {
    const r = this.perGpuOf(s.model);
    const feedable = Math.min(r.cpu > 0 ? (s.cpu / r.cpu) * 1000 : Infinity, r.mem > 0 ? (s.mem / r.mem) * 1000 : Infinity);
    return Math.max(0, s.freeSum - feedable);
  }

  private readonly perGpuByModel = new Map<string, { cpu: number; mem: number }>();
  /** Mean CPU and memory per GPU over the GPU tasks that may run on this model. */
  private perGpuOf(model: string): { cpu: number; mem: number } {
    let r = this.perGpuByModel.get(model);
    if (!r) {
      let gpu = 0;
      let cpu = 0;
      let mem = 0;
      for (const c of this.population.classes) {
        if (c.task.models.length > 0 && !c.task.models.includes(model)) continue;
        gpu += (c.weight * c.task.gpus * c.task.gpuMilli) / 1000;
        cpu += c.weight * c.task.cpuMilli;
        mem += c.weight * c.task.memoryMib;
      }
      this.perGpuByModel.set(model, (r = { cpu: gpu ? cpu / gpu : 0, mem: gpu ? mem / gpu : 0 }));
    }
    return r;
  }

  private fragOf(s: State): number {
    if (Number.isNaN(s.frag)) s.frag = nodeFragmentationFast(this.population, s.model, s.cpu, s.mem, s.frees);
    return s.frag;
  }

  private stateFor(i: number): State {
    const model = this.nodes[i]!.model;
    const cpu = this.cpuFree[i]!;
    const mem = this.memFree[i]!;
    const frees = [...this.gpuFree[i]!].sort((a, b) => b - a);
    return this.intern(model, cpu, mem, frees);
  }

  private intern(model: string, cpu: number, mem: number, frees: number[]): State {
    const key = `${model}|${cpu}|${mem}|${frees.join(',')}`;
    let s = this.states.get(key);
    if (!s) {
      s = { key, model, cpu, mem, frees, freeSum: frees.reduce((a, b) => a + b, 0), frag: NaN, memo: [] };
      this.states.set(key, s);
    }
    return s;
  }

  private join(i: number): void {
    const s = this.stateOf[i]!;
    let g = this.groups.get(s);
    if (!g) {
      this.groups.set(s, (g = { state: s, nodes: [] }));
      let m = this.byModel.get(s.model);
      if (!m) this.byModel.set(s.model, (m = new Map()));
      m.set(s, g);
      if (s.freeSum > 0) this.withGpu.set(s, g);
    }
    // Binary insert keeps node order (the tie-break).
    let lo = 0;
    let hi = g.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (g.nodes[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    g.nodes.splice(lo, 0, i);
  }

  private leave(i: number): void {
    const s = this.stateOf[i]!;
    const g = this.groups.get(s)!;
    const at = g.nodes.indexOf(i);
    g.nodes.splice(at, 1);
    if (g.nodes.length === 0) {
      this.groups.delete(s);
      this.byModel.get(s.model)!.delete(s);
      this.withGpu.delete(s);
    }
  }

  /** The state after the task takes GPUs (`take`: the share value of the GPU a sharing task takes). */
  private after(s: State, task: ShareTask, take: number): State {
    const frees = [...s.frees];
    if (task.gpus === 1 && task.gpuMilli < 1000) {
      const at = frees.indexOf(take);
      frees[at] = take - task.gpuMilli;
      frees.sort((a, b) => b - a);
    } else if (task.gpus > 0) {
      // Whole GPUs: the first `gpus` entries are free ones (sorted high to low, and the task fits).
      for (let k = 0; k < task.gpus; k++) frees[k] = 0;
      frees.sort((a, b) => b - a);
    }
    return this.intern(s.model, s.cpu - task.cpuMilli, s.mem - task.memoryMib, frees);
  }

  private score(s: State, task: ShareTask, policy: SharePolicyName): Choice | null {
    if (!fitsFree(task, s.model, s.cpu, s.mem, s.frees)) return null;
    const sharing = task.gpus === 1 && task.gpuMilli < 1000;
    // Candidate GPUs for a sharing task: each distinct free share that fits, least first.
    const takes = sharing ? [...new Set(s.frees.filter((f) => f >= task.gpuMilli))].sort((a, b) => a - b) : [-1];
    // In use, for packing: some GPU share taken.
    const used = s.freeSum < s.frees.length * 1000;
    let best: Choice | null = null;
    for (const take of takes) {
      const next = this.after(s, task, take);
      let c: Choice;
      switch (policy) {
        case 'bestfit':
          c = { a: next.freeSum, b: next.cpu, c: take, take };
          break;
        case 'packing':
          c = { a: sharing && take < 1000 ? 0 : used ? 1 : 2, b: 0, c: take, take };
          break;
        case 'fgd':
          c = { a: round(this.fragOf(next) - this.fragOf(s)), b: 0, c: take, take };
          break;
        case 'neocloud':
          c = { a: round(this.fragOf(next) - this.fragOf(s) + (this.strandWeight ? this.strandOf(next) - this.strandOf(s) : 0)), b: next.freeSum, c: next.cpu, take };
          break;
      }
      if (!best || better(c, best)) best = c;
    }
    return best;
  }

  private apply(i: number, task: ShareTask, take: number): SharePlacement {
    this.leave(i);
    const g = this.gpuFree[i]!;
    const out: SharePlacement = { node: i, gpus: [] };
    if (task.gpus === 1 && task.gpuMilli < 1000) {
      const at = g.indexOf(take);
      g[at] = take - task.gpuMilli;
      out.gpus.push({ index: at, milli: task.gpuMilli });
    } else if (task.gpus > 0) {
      for (let k = 0, left = task.gpus; k < g.length && left > 0; k++) {
        if (g[k] === 1000) {
          g[k] = 0;
          out.gpus.push({ index: k, milli: 1000 });
          left--;
        }
      }
    }
    this.cpuFree[i]! -= task.cpuMilli;
    this.memFree[i]! -= task.memoryMib;
    this.stateOf[i] = this.stateFor(i);
    this.join(i);
    return out;
  }
}
