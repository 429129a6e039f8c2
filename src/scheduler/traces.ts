/**
 * Importers for the public Alibaba GPU cluster traces (clusterdata, CC BY 4.0) into the
 * scheduler's types; see `../shared/traces/README.md` for the files and their citations.
 *
 * The `import…` functions take CSV text and are pure; the `read…File` wrappers read a file
 * (node:fs, UTF-8) and call them. `tracesDir()` finds the shared folder; `sample…Csv()` generate
 * small deterministic CSVs in the same formats for tests where the shared folder is absent.
 *
 * CSV dialect of these files: comma-separated, a header row, no quoting, LF or CRLF line ends.
 * Columns are found by header name, so extra or reordered columns are fine; a missing one throws.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetLayout, JobClass, JobSpec, ShareNode, ShareTask } from './scheduler-types.js';
import { mulberry32 } from './workload.js';

type LayoutNode = FleetLayout['nodes'][number];

// ---------------------------------------------------------------------------------------------
// alibaba-gpu-v2023 ("openb"): Weng et al., ATC'23
// ---------------------------------------------------------------------------------------------

/** Nodes per fabric domain for trace fleets: the traces carry no network topology, so this grouping is an assumption. */
export const TRACE_FABRIC_NODES = 32;

/**
 * The openb GPU cluster from `openb_node_list_gpu_node.csv` (or `…_all_node.csv`):
 * `sn,cpu_milli,memory_mib,gpu,model`.
 *
 * - Nodes with `gpu` = 0 are skipped (CPU-only); `gpu` must be 1..8, else RangeError.
 * - One site `openb` (power cap Infinity, PUE 1) with one hall `openb-h0` (cap Infinity):
 *   power is not modelled for this trace, so every node has `wattsPerGpu` 0.
 * - The trace has no network topology: fabrics are runs of 32 consecutive GPU nodes in file
 *   order (`openb-f00`, `openb-f01`, …) and may mix models. Each node is its own NVLink domain
 *   (`nvlinkId` = node id = `sn`).
 * - `model` is the trace's label as is (P100, T4, V100M16, V100M32, A10, G2, G3, …), matching
 *   the pod lists' `gpu_spec` names.
 */
export function importOpenbNodes(csv: string): FleetLayout {
  const t = parseCsv(csv, ['sn', 'gpu', 'model']);
  const nodes: LayoutNode[] = [];
  for (const r of t.rows) {
    const gpus = intField(r, t.col['gpu']!, 'gpu');
    if (gpus === 0) continue;
    if (gpus < 1 || gpus > 8) throw new RangeError(`line ${r.line}: gpu must be 0..8, got ${gpus}`);
    const id = field(r, t.col['sn']!);
    const fabricId = `openb-f${pad(Math.floor(nodes.length / TRACE_FABRIC_NODES), 2)}`;
    nodes.push({
      id, model: field(r, t.col['model']!), gpus, siteId: 'openb', hallId: 'openb-h0', fabricId, nvlinkId: id, wattsPerGpu: 0,
    });
  }
  return {
    sites: [{ id: 'openb', powerCapW: Infinity, pue: 1 }],
    halls: [{ id: 'openb-h0', siteId: 'openb', powerCapW: Infinity }],
    nodes,
  };
}

/**
 * The job class of an openb task, from its Kubernetes-style `qos`:
 * - `LS` (latency-sensitive, e.g. inference services) → `on-demand`: paid work that must run now
 *   and not be preempted;
 * - `Guaranteed` (the strictest Kubernetes QoS; 7 tasks in the trace, not in the README) → `on-demand` too;
 * - `Burstable` → `internal`: the operator's own elastic work;
 * - `BE` (best effort, e.g. batch training) → `spot`: preemptible.
 * The trace has no reservations, so no task is `reserved`.
 */
export const OPENB_QOS_CLASS: Readonly<Record<string, JobClass>> = {
  LS: 'on-demand', Guaranteed: 'on-demand', Burstable: 'internal', BE: 'spot',
};

/** The trace has no prices: a flat rate per class, integer micro-dollars per GPU-hour (spot = its bid). */
export const OPENB_PRICE_MICROS: Readonly<Record<JobClass, number>> = {
  reserved: 2_000_000, 'on-demand': 2_000_000, internal: 1_200_000, spot: 800_000,
};

export interface OpenbPodsImport {
  /** GPU tasks, sorted by submitS then id. */
  jobs: JobSpec[];
  /** GPU tasks dropped because deletion_time − creation_time is ≤ 0 or either time is missing. */
  skipped: number;
  /** Rows with num_gpu = 0 (CPU-only tasks), dropped and not counted in `skipped`. */
  cpuOnly: number;
}

/**
 * Tasks for the timed replay, from any openb pod list:
 * `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`.
 * Absent columns take OPENB_POD_DEFAULTS, except `creation_time` and `deletion_time`: the replay
 * needs them, and a file without them (`openb_pod_list_multigpu20.csv`, the published
 * `…_gpushare*` files) is refused with a message pointing at the inflation protocol
 * (`importOpenbTasks`, `--mode fill`), which needs neither.
 *
 * - `id` = `name`; `submitS` = `creation_time`; `durationS` = `deletion_time − creation_time`
 *   (seconds). Tasks still running at the end of the trace have `deletion_time` = the trace's
 *   end, so their durations are cut there. `pod_phase` (the state at trace end: Running, Failed,
 *   Pending, Succeeded) and `scheduled_time` are ignored: every GPU task is treated as demand.
 * - `gpus` = `num_gpu` (1..8, else RangeError); `gpuMilli` = `gpu_milli` for single-GPU tasks
 *   that share a GPU (`gpu_milli` < 1000), absent otherwise.
 * - `gpuModels` = `gpu_spec` split on `|` (empty = any model); `placement` 'any' (each task fits
 *   one node; the trace has no gang constraint across nodes).
 * - `jobClass` from `qos` via OPENB_QOS_CLASS (an unknown qos throws); price from OPENB_PRICE_MICROS.
 */
export function importOpenbPods(csv: string): OpenbPodsImport {
  const t = parseCsv(csv, ['num_gpu']);
  const c = t.col;
  const noTimes = ['creation_time', 'deletion_time'].filter((k) => c[k] === undefined);
  if (noTimes.length > 0) {
    throw new Error(`this pod list has no ${noTimes.join(', ')} column(s): the timed replay needs them; ` +
      'the inflation protocol (simulate --mode fill or --compare) needs only num_gpu (name, cpu_milli, memory_mib, gpu_milli, gpu_spec default)');
  }
  const jobs: JobSpec[] = [];
  let skipped = 0;
  let cpuOnly = 0;
  for (const r of t.rows) {
    const gpus = intField(r, c['num_gpu']!, 'num_gpu');
    if (gpus === 0) {
      cpuOnly++;
      continue;
    }
    if (gpus < 1 || gpus > 8) throw new RangeError(`line ${r.line}: num_gpu must be 0..8, got ${gpus}`);
    const created = field(r, c['creation_time']!);
    const deleted = field(r, c['deletion_time']!);
    const submitS = created === '' ? NaN : Number(created);
    const durationS = deleted === '' ? NaN : Number(deleted) - submitS;
    if (!Number.isFinite(submitS) || !Number.isFinite(durationS) || durationS <= 0) {
      skipped++;
      continue;
    }
    const qos = c['qos'] === undefined ? OPENB_POD_DEFAULTS.qos : field(r, c['qos']);
    const jobClass = OPENB_QOS_CLASS[qos];
    if (jobClass === undefined) throw new RangeError(`line ${r.line}: unknown qos "${qos}"`);
    const spec = c['gpu_spec'] === undefined ? '' : field(r, c['gpu_spec']);
    const job: JobSpec = {
      id: c['name'] === undefined ? `row-${r.line}` : field(r, c['name']),
      submitS,
      durationS,
      gpuModels: spec === '' ? [] : spec.split('|'),
      gpus,
      placement: 'any',
      jobClass,
      priceMicrosPerGpuHour: OPENB_PRICE_MICROS[jobClass],
    };
    if (gpus === 1 && c['gpu_milli'] !== undefined) {
      const milli = intField(r, c['gpu_milli'], 'gpu_milli');
      if (milli < 1 || milli > 1000) throw new RangeError(`line ${r.line}: gpu_milli must be 1..1000, got ${milli}`);
      if (milli < 1000) job.gpuMilli = milli;
    }
    jobs.push(job);
  }
  jobs.sort((a, b) => a.submitS - b.submitS || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { jobs, skipped, cpuOnly };
}

/**
 * What an openb pod list's absent column means (the published multi-GPU and GPU-sharing files
 * carry only `name,cpu_milli,memory_mib,num_gpu,gpu_milli`):
 * - `name` → `row-<line>`; `cpu_milli`, `memory_mib` → 0 (the task asks for none: it cannot be
 *   refused for CPU or memory); `gpu_milli` → 1000 per GPU (whole GPUs);
 * - `gpu_spec` → empty (any model); `qos` → `LS` (on-demand: the trace's most common class);
 * - `creation_time`, `deletion_time` → none: only the timed replay needs them, and it says so.
 */
export const OPENB_POD_DEFAULTS = { cpuMilli: 0, memoryMib: 0, gpuMilli: 1000, gpuSpec: '', qos: 'LS' } as const;

/**
 * Every row of an openb pod list as a task of the inflation protocol (ATC'23 §6.1): CPU-only
 * tasks included (they take CPU and memory, and can strand a node's GPUs), times ignored.
 * Only `num_gpu` is required; other absent columns take OPENB_POD_DEFAULTS.
 * - `num_gpu` 0..8 (else RangeError); `gpu_milli` 1..1000 for one-GPU tasks (the share of the GPU),
 *   taken as 1000 for multi-GPU tasks (the trace gives 1000 there) and 0 for CPU-only tasks;
 * - `gpu_spec` split on `|` (empty = any model).
 */
export function importOpenbTasks(csv: string): ShareTask[] {
  const t = parseCsv(csv, ['num_gpu']);
  const c = t.col;
  const out: ShareTask[] = [];
  const num = (r: Row, k: string, dflt: number): number => (c[k] === undefined ? dflt : intField(r, c[k], k));
  for (const r of t.rows) {
    const gpus = intField(r, c['num_gpu']!, 'num_gpu');
    if (gpus < 0 || gpus > 8) throw new RangeError(`line ${r.line}: num_gpu must be 0..8, got ${gpus}`);
    let gpuMilli = gpus === 0 ? 0 : 1000;
    if (gpus === 1) {
      gpuMilli = num(r, 'gpu_milli', OPENB_POD_DEFAULTS.gpuMilli);
      if (gpuMilli < 1 || gpuMilli > 1000) throw new RangeError(`line ${r.line}: gpu_milli must be 1..1000, got ${gpuMilli}`);
    }
    const cpuMilli = num(r, 'cpu_milli', OPENB_POD_DEFAULTS.cpuMilli);
    const memoryMib = num(r, 'memory_mib', OPENB_POD_DEFAULTS.memoryMib);
    if (cpuMilli < 0 || memoryMib < 0) throw new RangeError(`line ${r.line}: cpu_milli and memory_mib must be ≥ 0`);
    const spec = c['gpu_spec'] === undefined ? OPENB_POD_DEFAULTS.gpuSpec : field(r, c['gpu_spec']);
    out.push({
      id: c['name'] === undefined ? `row-${r.line}` : field(r, c['name']),
      cpuMilli, memoryMib, gpus, gpuMilli, models: spec === '' || gpus === 0 ? [] : spec.split('|'),
    });
  }
  return out;
}

/**
 * Every node of an openb node list (`sn,cpu_milli,memory_mib,gpu,model`), CPU-only nodes
 * included (gpu 0, model ''), for the inflation protocol. `gpu` 0..8, else RangeError. A missing
 * `cpu_milli` or `memory_mib` column means Infinity (not modelled).
 */
export function importOpenbShareNodes(csv: string): ShareNode[] {
  const t = parseCsv(csv, ['sn', 'gpu']);
  const c = t.col;
  return t.rows.map((r) => {
    const gpus = intField(r, c['gpu']!, 'gpu');
    if (gpus < 0 || gpus > 8) throw new RangeError(`line ${r.line}: gpu must be 0..8, got ${gpus}`);
    return {
      id: field(r, c['sn']!),
      model: gpus === 0 || c['model'] === undefined ? '' : field(r, c['model']),
      gpus,
      cpuMilli: c['cpu_milli'] === undefined ? Infinity : intField(r, c['cpu_milli'], 'cpu_milli'),
      memoryMib: c['memory_mib'] === undefined ? Infinity : intField(r, c['memory_mib'], 'memory_mib'),
    };
  });
}

/**
 * The spot trace's node list (`gpu_model,gpu_capacity_num,cpu_num,node_name`) for the inflation
 * protocol: `cpu_num` cores → ×1000 millicores; the file gives no memory, so memory is Infinity
 * (not modelled); node id `spot-n<node_name>`, in file order, GPU-less nodes kept.
 */
export function importSpotShareNodes(csv: string): ShareNode[] {
  const t = parseCsv(csv, ['gpu_model', 'gpu_capacity_num', 'node_name']);
  const c = t.col;
  return t.rows.map((r) => {
    const gpus = intField(r, c['gpu_capacity_num']!, 'gpu_capacity_num');
    if (gpus < 0 || gpus > 64) throw new RangeError(`line ${r.line}: gpu_capacity_num must be 0..64, got ${gpus}`);
    return {
      id: `spot-n${field(r, c['node_name']!)}`,
      model: gpus === 0 ? '' : field(r, c['gpu_model']!),
      gpus,
      cpuMilli: c['cpu_num'] === undefined ? Infinity : intField(r, c['cpu_num'], 'cpu_num') * 1000,
      memoryMib: Infinity,
    };
  });
}

/** Node lists of either family, told apart by header: openb (`sn,…`) or the spot trace (`gpu_model,…`). */
export function importShareNodes(csv: string): ShareNode[] {
  const head = csv.slice(0, csv.indexOf('\n') >>> 0).split(',').map((h) => h.trim());
  return head.includes('gpu_capacity_num') ? importSpotShareNodes(csv) : importOpenbShareNodes(csv);
}

// ---------------------------------------------------------------------------------------------
// alibaba-spot-gpu-v2026: Duan et al., ASPLOS'26 (GFS)
// ---------------------------------------------------------------------------------------------

export interface SpotNodesImport {
  layout: FleetLayout;
  /** Rows with gpu_capacity_num < 1, dropped. */
  zeroGpuNodes: number;
  /** Rows with gpu_capacity_num > 8, kept with 8 GPUs (FleetLayout nodes hold 1..8). */
  cappedNodes: number;
}

/**
 * The spot-trace fleet from `node_info_df.csv`: `gpu_model,gpu_capacity_num,cpu_num,node_name`,
 * with counts of what was dropped or capped. See `importSpotNodes`.
 */
export function importSpotNodesDetailed(csv: string): SpotNodesImport {
  const t = parseCsv(csv, ['gpu_model', 'gpu_capacity_num', 'node_name']);
  const c = t.col;
  const byModel = new Map<string, { name: string; gpus: number }[]>();
  let zeroGpuNodes = 0;
  let cappedNodes = 0;
  for (const r of t.rows) {
    let gpus = intField(r, c['gpu_capacity_num']!, 'gpu_capacity_num');
    if (gpus < 1) {
      zeroGpuNodes++;
      continue;
    }
    if (gpus > 8) {
      cappedNodes++;
      gpus = 8;
    }
    const model = field(r, c['gpu_model']!);
    let list = byModel.get(model);
    if (!list) byModel.set(model, (list = []));
    list.push({ name: field(r, c['node_name']!), gpus });
  }
  const nodes: LayoutNode[] = [];
  for (const model of [...byModel.keys()].sort()) {
    const list = byModel.get(model)!;
    list.forEach((n, i) => {
      const id = `spot-n${n.name}`;
      nodes.push({
        id, model, gpus: n.gpus, siteId: 'alibaba-spot', hallId: 'alibaba-spot-h0',
        fabricId: `spot-${model}-f${pad(Math.floor(i / TRACE_FABRIC_NODES), 3)}`, nvlinkId: id, wattsPerGpu: 0,
      });
    });
  }
  return {
    layout: {
      sites: [{ id: 'alibaba-spot', powerCapW: Infinity, pue: 1 }],
      halls: [{ id: 'alibaba-spot-h0', siteId: 'alibaba-spot', powerCapW: Infinity }],
      nodes,
    },
    zeroGpuNodes,
    cappedNodes,
  };
}

/**
 * The spot-trace fleet (4,278 nodes, 10,412 GPUs in the shipped file):
 * - nodes with `gpu_capacity_num` ≥ 1; a count above 8 is capped at 8 (none in the shipped
 *   file; `importSpotNodesDetailed` reports how many);
 * - one site `alibaba-spot` (power cap Infinity, PUE 1), one hall; `wattsPerGpu` 0 (power not modelled);
 * - the trace has no network topology: fabrics are runs of 32 nodes of the same model in file
 *   order (`spot-H800-f000`); models sorted by name, so each model's nodes are contiguous;
 * - each node is its own NVLink domain; node id `spot-n<node_name>`; model = `gpu_model` as is
 *   (A100-SXM4-80GB, H800, A10, A800-SXM4-80GB, GPU-series-1, GPU-series-2).
 */
export function importSpotNodes(csv: string): FleetLayout {
  return importSpotNodesDetailed(csv).layout;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/**
 * Absolute path of the shared traces folder: `../shared/traces` next to the repository root.
 * The root is the nearest folder above this module holding a package.json, so the path is the
 * same from `src/scheduler` (→ `../../../shared/traces`) and from a build under `dist/`.
 * The folder may be absent (check with existsSync).
 */
export function tracesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return resolve(here, '../../../shared/traces');
    dir = up;
  }
  return resolve(dir, '../shared/traces');
}

/** Paths of the trace files under `tracesDir()`. */
export const TRACE_FILES = {
  openbGpuNodes: 'alibaba-gpu-v2023/openb_node_list_gpu_node.csv',
  openbAllNodes: 'alibaba-gpu-v2023/openb_node_list_all_node.csv',
  openbPodsDefault: 'alibaba-gpu-v2023/openb_pod_list_default.csv',
  openbPodsGpuspec33: 'alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv',
  openbPodsMultigpu20: 'alibaba-gpu-v2023/openb_pod_list_multigpu20.csv',
  spotNodes: 'alibaba-spot-gpu-v2026/node_info_df.csv',
} as const;

/** Every openb pod list under the traces folder (`alibaba-gpu-v2023/openb_pod_list_*.csv`), absolute paths sorted by name; [] when absent. */
export function openbPodListFiles(dir = tracesDir()): string[] {
  const d = join(dir, 'alibaba-gpu-v2023');
  if (!existsSync(d)) return [];
  return readdirSync(d).filter((f) => /^openb_pod_list_.+\.csv$/.test(f)).sort().map((f) => join(d, f));
}

export function readOpenbNodesFile(path: string): FleetLayout {
  return importOpenbNodes(readFileSync(path, 'utf8'));
}

export function readOpenbPodsFile(path: string): OpenbPodsImport {
  return importOpenbPods(readFileSync(path, 'utf8'));
}

export function readSpotNodesFile(path: string): FleetLayout {
  return importSpotNodes(readFileSync(path, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Generated samples (same formats as the trace files; deterministic; not real data)
// ---------------------------------------------------------------------------------------------

const SAMPLE_NODE_SHAPES: readonly { model: string; gpu: number; cpuMilli: number; memoryMib: number }[] = [
  { model: 'P100', gpu: 2, cpuMilli: 64_000, memoryMib: 262_144 },
  { model: 'T4', gpu: 2, cpuMilli: 96_000, memoryMib: 524_288 },
  { model: 'V100M16', gpu: 8, cpuMilli: 96_000, memoryMib: 786_432 },
  { model: 'V100M32', gpu: 8, cpuMilli: 96_000, memoryMib: 786_432 },
  { model: 'G2', gpu: 8, cpuMilli: 128_000, memoryMib: 786_432 },
  { model: 'G3', gpu: 4, cpuMilli: 96_000, memoryMib: 393_216 },
  { model: 'A10', gpu: 1, cpuMilli: 128_000, memoryMib: 1_048_576 },
];

/**
 * A small openb-format node list (`sn,cpu_milli,memory_mib,gpu,model`): `nodes` rows (default
 * 40), every 10th a CPU-only node (`gpu` 0, empty model) as in `openb_node_list_all_node.csv`.
 */
export function sampleOpenbNodesCsv(nodes = 40): string {
  const rnd = mulberry32(2023);
  const lines = ['sn,cpu_milli,memory_mib,gpu,model'];
  for (let i = 0; i < nodes; i++) {
    const sn = `openb-node-${pad(i, 4)}`;
    if (i % 10 === 9) {
      lines.push(`${sn},32000,262144,0,`);
      continue;
    }
    const s = SAMPLE_NODE_SHAPES[Math.floor(rnd() * SAMPLE_NODE_SHAPES.length)]!;
    lines.push(`${sn},${s.cpuMilli},${s.memoryMib},${s.gpu},${s.model}`);
  }
  return `${lines.join('\n')}\n`;
}

const SAMPLE_MILLI = [230, 320, 460, 470, 500, 650, 810] as const;
/** One in three sample GPU tasks names allowed models, as in openb_pod_list_gpuspec33.csv. */
const SAMPLE_SPECS = ['', '', '', '', '', '', '', '', 'T4', 'G2', 'P100', 'V100M16|V100M32'] as const;

/**
 * A small openb-format pod list (the default/gpuspec33 header): `pods` rows (default 300), with
 * roughly the trace's mix — ~13% CPU-only, mostly single-GPU tasks (half of them GPU-sharing),
 * a few 2/4/8-GPU tasks, some `gpu_spec` constraints, qos LS/BE with some Burstable and
 * Guaranteed — plus a few rows the importer must skip (deletion ≤ creation, or no deletion time).
 */
export function sampleOpenbPodsCsv(pods = 300): string {
  const rnd = mulberry32(33);
  const lines = ['name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time'];
  const traceEnd = 12_902_960;
  let created = 0;
  for (let i = 0; i < pods; i++) {
    const name = `openb-pod-${pad(i, 4)}`;
    created += Math.floor(rnd() * 40_000);
    const u = rnd();
    const numGpu = u < 0.13 ? 0 : u < 0.95 ? 1 : u < 0.97 ? 2 : u < 0.985 ? 4 : 8;
    const milli = numGpu === 1 && rnd() < 0.5 ? SAMPLE_MILLI[Math.floor(rnd() * SAMPLE_MILLI.length)]! : numGpu === 0 ? 0 : 1000;
    const spec = numGpu === 0 ? '' : SAMPLE_SPECS[Math.floor(rnd() * SAMPLE_SPECS.length)]!;
    const q = rnd();
    const qos = q < 0.55 ? 'LS' : q < 0.97 ? 'BE' : q < 0.99 ? 'Burstable' : 'Guaranteed';
    let deletion: string;
    let phase: string;
    if (i % 97 === 41) {
      deletion = String(created); // zero duration: skipped
      phase = 'Pending';
    } else if (i % 113 === 7) {
      deletion = ''; // missing: skipped
      phase = 'Pending';
    } else if (rnd() < 0.6) {
      deletion = String(traceEnd); // still running at trace end
      phase = 'Running';
    } else {
      deletion = String(Math.min(traceEnd, created + 60 + Math.floor(rnd() * 2_000_000)));
      phase = rnd() < 0.8 ? 'Failed' : 'Succeeded';
    }
    const scheduled = phase === 'Pending' ? '' : String(created);
    lines.push(`${name},${numGpu === 0 ? 4000 : 8000},16384,${numGpu},${milli},${spec},${qos},${phase},${created},${deletion},${scheduled}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// CSV helpers
// ---------------------------------------------------------------------------------------------

interface Row {
  /** 1-based line number in the text, for error messages. */
  line: number;
  cells: string[];
}

function parseCsv(text: string, required: readonly string[]): { col: Record<string, number>; rows: Row[] } {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const col: Record<string, number> = {};
  header.forEach((h, i) => { col[h] = i; });
  const missing = required.filter((k) => col[k] === undefined);
  if (missing.length > 0) throw new Error(`CSV is missing column(s) ${missing.join(', ')} (header: ${header.join(',')})`);
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l === '') continue;
    if (l.includes('"')) throw new Error(`line ${i + 1}: quoted CSV fields are not supported`);
    rows.push({ line: i + 1, cells: l.split(',') });
  }
  return { col, rows };
}

function field(r: Row, i: number): string {
  return r.cells[i] ?? '';
}

function intField(r: Row, i: number, name: string): number {
  const v = field(r, i);
  if (!/^-?\d+$/.test(v)) throw new Error(`line ${r.line}: ${name} must be an integer, got "${v}"`);
  return Number(v);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
