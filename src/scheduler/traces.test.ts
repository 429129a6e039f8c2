/**
 * Trace importers. The invariants run on generated samples always, and on the real files of
 * ../shared/traces, where their exact figures are asserted too. A test on a real file that is
 * missing says so: skipped locally, with the reason in its name; a failure in CI (test/ci.ts). No
 * test switches silently from a real file to a sample.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { named, unavailable } from '../../test/ci.js';
import type { FleetLayout, JobSpec } from './scheduler-types.js';
import {
  OPENB_POD_DEFAULTS, OPENB_PRICE_MICROS, TRACE_FABRIC_NODES, TRACE_FILES, importOpenbNodes, importOpenbPods, importOpenbTasks,
  importShareNodes, importSpotNodes, importSpotNodesDetailed, openbPodListFiles, sampleOpenbNodesCsv, sampleOpenbPodsCsv, tracesDir,
} from './traces.js';

const dir = tracesDir();
const tracePath = (f: keyof typeof TRACE_FILES): string => join(dir, TRACE_FILES[f]);
/** Why the real `files` cannot be read here (null: they can); throws in CI. */
const missing = (...files: (keyof typeof TRACE_FILES)[]): string | null =>
  unavailable('the Alibaba traces', files.map(tracePath).filter((p) => !existsSync(p)).map((p) => `${p} is missing (../shared/traces)`)[0] ?? null);
const read = (p: string): string => readFileSync(p, 'utf8');

/**
 * Two tests of one importer: on the generated `sample` (always) and on the real `file` (skipped,
 * saying why, when it is missing). `check` gets the CSV and, for the real file, its path.
 */
function onSampleAndTrace(name: string, file: keyof typeof TRACE_FILES, sample: () => string, check: (csv: string, path: string | undefined) => void): void {
  it(`${name} (generated sample)`, () => check(sample(), undefined));
  const why = missing(file);
  it.skipIf(why !== null)(named(`${name} (real trace ${TRACE_FILES[file]})`, why), () => check(read(tracePath(file)), tracePath(file)));
}

/** Independent, naive reading of a CSV's rows as objects (for cross-checking the importers on samples). */
function rowsOf(csv: string): Record<string, string>[] {
  const [head, ...lines] = csv.trim().split('\n');
  const keys = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i]!, v])));
}

function layoutInvariants(l: FleetLayout, siteId: string): void {
  expect(l.sites).toHaveLength(1);
  expect(l.sites[0]!.id).toBe(siteId);
  expect(l.sites[0]!.powerCapW).toBe(Infinity);
  expect(l.halls).toHaveLength(1);
  const ids = new Set(l.nodes.map((n) => n.id));
  expect(ids.size).toBe(l.nodes.length);
  const fabricSize = new Map<string, number>();
  for (const n of l.nodes) {
    expect(n.gpus >= 1 && n.gpus <= 8 && Number.isInteger(n.gpus)).toBe(true);
    expect(n.nvlinkId).toBe(n.id);
    expect(n.wattsPerGpu).toBe(0);
    expect(n.siteId).toBe(siteId);
    expect(n.hallId).toBe(l.halls[0]!.id);
    fabricSize.set(n.fabricId, (fabricSize.get(n.fabricId) ?? 0) + 1);
  }
  expect(Math.max(...fabricSize.values())).toBeLessThanOrEqual(TRACE_FABRIC_NODES);
  // Fabrics are contiguous runs of nodes.
  const seen = new Set<string>();
  let cur = '';
  for (const n of l.nodes) {
    if (n.fabricId === cur) continue;
    expect(seen.has(n.fabricId)).toBe(false);
    seen.add((cur = n.fabricId));
  }
}

function jobInvariants(jobs: readonly JobSpec[]): void {
  const bad: string[] = [];
  let prev: JobSpec | undefined;
  for (const j of jobs) {
    const ok = j.durationS > 0 && Number.isInteger(j.gpus) && j.gpus >= 1 && j.gpus <= 8
      && (j.gpuMilli === undefined || (j.gpus === 1 && j.gpuMilli > 0 && j.gpuMilli < 1000))
      && j.placement === 'any' && j.startS === undefined
      && j.priceMicrosPerGpuHour === OPENB_PRICE_MICROS[j.jobClass] && j.jobClass !== 'reserved'
      && j.gpuModels.every((m) => m.length > 0)
      && (prev === undefined || prev.submitS < j.submitS || (prev.submitS === j.submitS && prev.id < j.id));
    if (!ok && bad.length < 10) bad.push(JSON.stringify(j));
    prev = j;
  }
  expect(bad).toEqual([]);
  expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
}

describe('importOpenbNodes', () => {
  onSampleAndTrace('imports the openb GPU nodes', 'openbGpuNodes', () => sampleOpenbNodesCsv(), (csv, path) => {
    const l = importOpenbNodes(csv);
    layoutInvariants(l, 'openb');
    const gpus = l.nodes.reduce((s, n) => s + n.gpus, 0);
    if (path) {
      expect(l.nodes).toHaveLength(1_213);
      expect(gpus).toBe(6_212);
      expect(new Set(l.nodes.map((n) => n.fabricId)).size).toBe(38); // ⌈1,213 / 32⌉
      const models = new Map<string, number>();
      for (const n of l.nodes) models.set(n.model, (models.get(n.model) ?? 0) + 1);
      expect(Object.fromEntries(models)).toEqual({ G2: 549, T4: 404, P100: 134, V100M16: 55, G3: 39, V100M32: 30, A10: 2 });
    } else {
      const rows = rowsOf(sampleOpenbNodesCsv()).filter((r) => r['gpu'] !== '0');
      expect(l.nodes.map((n) => n.id)).toEqual(rows.map((r) => r['sn']));
      expect(gpus).toBe(rows.reduce((s, r) => s + Number(r['gpu']), 0));
      expect(l.nodes).toHaveLength(36);
    }
  });

  const noLists = missing('openbAllNodes', 'openbGpuNodes');
  it.skipIf(noLists !== null)(named('the all-node list gives the same GPU fleet as the GPU-node list', noLists), () => {
    // The two files number their nodes differently; the GPU nodes agree in order, size and model.
    const shape = (l: FleetLayout): string[] => l.nodes.map((n) => `${n.gpus}×${n.model}@${n.fabricId}`);
    expect(shape(importOpenbNodes(read(tracePath('openbAllNodes'))))).toEqual(shape(importOpenbNodes(read(tracePath('openbGpuNodes')))));
  });

  it('drops CPU-only nodes', () => {
    const csv = 'sn,cpu_milli,memory_mib,gpu,model\nn0,32000,1,0,\nn1,32000,1,8,V100M32\r\nn2,32000,1,2,T4\n';
    const l = importOpenbNodes(csv);
    expect(l.nodes.map((n) => [n.id, n.gpus, n.model, n.fabricId])).toEqual([['n1', 8, 'V100M32', 'openb-f00'], ['n2', 2, 'T4', 'openb-f00']]);
    expect(() => importOpenbNodes('sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,9,X\n')).toThrow(/line 2: gpu must be 0..8/);
    expect(() => importOpenbNodes('sn,gpu\nn0,1\n')).toThrow(/missing column\(s\) model/);
  });
});

describe('importOpenbPods', () => {
  for (const file of ['openbPodsDefault', 'openbPodsGpuspec33'] as const) {
    onSampleAndTrace(`imports ${TRACE_FILES[file]}`, file, () => sampleOpenbPodsCsv(), (csv, path) => {
      const { jobs, skipped, cpuOnly } = importOpenbPods(csv);
      jobInvariants(jobs);
      const byClass = (c: JobSpec['jobClass']): number => jobs.filter((j) => j.jobClass === c).length;
      if (path) {
        // 8,152 tasks = 1,088 CPU-only + 1 GPU task with deletion_time = creation_time (a Pending
        // pod, openb-pod-7285) + 7,063 kept.
        expect(jobs.length + skipped + cpuOnly).toBe(8_152);
        expect(cpuOnly).toBe(1_088);
        expect(skipped).toBe(1);
        expect(jobs).toHaveLength(7_063);
        expect(jobs.some((j) => j.id === 'openb-pod-7285')).toBe(false);
        // LS 4,011 + Guaranteed 6 → on-demand; Burstable 99 → internal; BE 2,947 → spot.
        expect([byClass('on-demand'), byClass('internal'), byClass('spot')]).toEqual([4_017, 99, 2_947]);
        expect(jobs.filter((j) => j.gpuMilli !== undefined)).toHaveLength(3_077);
        expect(jobs.reduce((s, j) => s + j.gpus, 0)).toBe(7_432);
        expect(jobs.filter((j) => j.gpuModels.length > 0)).toHaveLength(file === 'openbPodsDefault' ? 0 : 2_388);
        expect(jobs[0]).toEqual({
          id: 'openb-pod-0000', submitS: 0, durationS: 12_537_496, gpuModels: [], gpus: 1, placement: 'any',
          jobClass: 'on-demand', priceMicrosPerGpuHour: 2_000_000,
        });
        // Every model a task may ask for exists in the node list (a real trace comes with it).
        expect(missing('openbGpuNodes')).toBeNull();
        const models = new Set(importOpenbNodes(read(tracePath('openbGpuNodes'))).nodes.map((n) => n.model));
        expect(jobs.flatMap((j) => j.gpuModels).filter((m) => !models.has(m))).toEqual([]);
      } else {
        const rows = rowsOf(csv);
        const gpuRows = rows.filter((r) => r['num_gpu'] !== '0');
        const badTime = gpuRows.filter((r) => r['deletion_time'] === '' || Number(r['deletion_time']) <= Number(r['creation_time']));
        expect(cpuOnly).toBe(rows.length - gpuRows.length);
        expect(skipped).toBe(badTime.length);
        expect(skipped).toBeGreaterThan(0);
        expect(jobs).toHaveLength(gpuRows.length - badTime.length);
        expect(jobs.length + skipped + cpuOnly).toBe(300);
        expect(jobs.filter((j) => j.gpuMilli !== undefined).length).toBeGreaterThan(0);
        expect(jobs.filter((j) => j.gpuModels.length > 0).length).toBeGreaterThan(0);
        expect(byClass('on-demand') + byClass('spot') + byClass('internal')).toBe(jobs.length);
      }
    });
  }

  it('maps one row field by field', () => {
    const head = 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time';
    const { jobs, skipped, cpuOnly } = importOpenbPods([
      head,
      'p2,1,1,1,460,V100M16|V100M32,BE,Running,100,400,100',
      'p1,1,1,4,1000,,Burstable,Running,100,200,100',
      'p0,1,1,1,1000,,Guaranteed,Running,50,60,50',
      'p3,1,1,0,0,,LS,Running,0,10,0',
      'p4,1,1,1,1000,,LS,Pending,70,,',
      'p5,1,1,1,1000,,LS,Pending,80,70,',
    ].join('\n'));
    expect({ skipped, cpuOnly }).toEqual({ skipped: 2, cpuOnly: 1 });
    expect(jobs).toEqual([
      { id: 'p0', submitS: 50, durationS: 10, gpuModels: [], gpus: 1, placement: 'any', jobClass: 'on-demand', priceMicrosPerGpuHour: 2_000_000 },
      { id: 'p1', submitS: 100, durationS: 100, gpuModels: [], gpus: 4, placement: 'any', jobClass: 'internal', priceMicrosPerGpuHour: 1_200_000 },
      { id: 'p2', submitS: 100, durationS: 300, gpuModels: ['V100M16', 'V100M32'], gpus: 1, gpuMilli: 460, placement: 'any', jobClass: 'spot', priceMicrosPerGpuHour: 800_000 },
    ]);
    expect(() => importOpenbPods(`${head}\np,1,1,1,1000,,XX,Running,0,1,0\n`)).toThrow(/unknown qos "XX"/);
    expect(() => importOpenbPods('name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1000\n')).toThrow(/timed replay needs them/);
  });
});

describe('importSpotNodes', () => {
  const spotSample = (): string => [
    'gpu_model,gpu_capacity_num,cpu_num,node_name',
    'GPU-series-1,4,192,0', 'GPU-series-1,1,192,1', 'A10,1,128,2', 'A100-SXM4-80GB,8,128,3', 'H800,8,128,4',
  ].join('\n');

  onSampleAndTrace('imports the spot-trace fleet', 'spotNodes', spotSample, (csv, path) => {
    const { layout, zeroGpuNodes, cappedNodes } = importSpotNodesDetailed(csv);
    layoutInvariants(layout, 'alibaba-spot');
    expect(importSpotNodes(csv)).toEqual(layout);
    // Models are contiguous (sorted by name) and a fabric holds one model.
    const models = layout.nodes.map((n) => n.model);
    expect(models).toEqual([...models].sort());
    const fabricModel = new Map<string, string>();
    for (const n of layout.nodes) {
      expect(fabricModel.get(n.fabricId) ?? n.model).toBe(n.model);
      fabricModel.set(n.fabricId, n.model);
    }
    const perModel: Record<string, [number, number]> = {};
    for (const n of layout.nodes) {
      const e = (perModel[n.model] ??= [0, 0]);
      e[0]++;
      e[1] += n.gpus;
    }
    const gpus = layout.nodes.reduce((s, n) => s + n.gpus, 0);
    if (path) {
      // The README's 10,412 GPUs on 4,278 nodes: every node has 1, 4 or 8 GPUs, none dropped or capped.
      expect({ nodes: layout.nodes.length, gpus, zeroGpuNodes, cappedNodes }).toEqual({ nodes: 4_278, gpus: 10_412, zeroGpuNodes: 0, cappedNodes: 0 });
      expect(perModel).toEqual({
        A10: [2_494, 2_494], 'A100-SXM4-80GB': [432, 3_456], 'A800-SXM4-80GB': [22, 176],
        'GPU-series-1': [989, 1_558], 'GPU-series-2': [122, 976], H800: [219, 1_752],
      });
      expect(fabricModel.size).toBe(135);
    } else {
      expect({ nodes: layout.nodes.length, gpus, zeroGpuNodes, cappedNodes }).toEqual({ nodes: 5, gpus: 22, zeroGpuNodes: 0, cappedNodes: 0 });
    }
  });

  it('drops GPU-less nodes, caps counts above 8 and groups fabrics by model', () => {
    const rows = ['gpu_model,gpu_capacity_num,cpu_num,node_name', 'X,0,8,z', 'Y,16,8,big'];
    for (let i = 0; i < 40; i++) rows.push(`A10,1,8,${i}`);
    const r = importSpotNodesDetailed(rows.join('\n'));
    expect(r.zeroGpuNodes).toBe(1);
    expect(r.cappedNodes).toBe(1);
    expect(r.layout.nodes).toHaveLength(41);
    expect(r.layout.nodes.at(-1)).toMatchObject({ id: 'spot-nbig', model: 'Y', gpus: 8, fabricId: 'spot-Y-f000' });
    expect(r.layout.nodes[31]!.fabricId).toBe('spot-A10-f000');
    expect(r.layout.nodes[32]!.fabricId).toBe('spot-A10-f001');
  });
});

describe('tracesDir and samples', () => {
  it('points at ../shared/traces next to the repository root', () => {
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    expect(existsSync(join(repoRoot, 'package.json'))).toBe(true);
    expect(dir).toBe(resolve(repoRoot, '../shared/traces'));
  });

  it('generates deterministic samples in the trace formats', () => {
    expect(sampleOpenbNodesCsv()).toBe(sampleOpenbNodesCsv());
    expect(sampleOpenbPodsCsv()).toBe(sampleOpenbPodsCsv());
    expect(sampleOpenbNodesCsv().split('\n')[0]).toBe('sn,cpu_milli,memory_mib,gpu,model');
    expect(sampleOpenbPodsCsv().split('\n')[0]).toBe(
      'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time');
    expect(sampleOpenbNodesCsv().trim().split('\n')).toHaveLength(41);
    expect(sampleOpenbPodsCsv().trim().split('\n')).toHaveLength(301);
    expect(rowsOf(sampleOpenbPodsCsv(1_000)).length).toBe(1_000);
  });
});

describe('every file of the openb family loads for the inflation protocol', () => {
  const files = openbPodListFiles();
  const noFiles = unavailable('the Alibaba openb pod lists', files.length ? null : `no openb_pod_list_*.csv in ${dir}/alibaba-gpu-v2023`);

  /** Every task of a pod list, field by field against a naive reading of its rows. */
  const tasksMatchRows = (csv: string): void => {
    const tasks = importOpenbTasks(csv);
    const rows = rowsOf(csv);
    expect(tasks).toHaveLength(rows.length);
    tasks.forEach((t, i) => {
      const r = rows[i]!;
      expect(t.id).toBe(r['name']);
      expect(t.gpus).toBe(Number(r['num_gpu']));
      expect(t.cpuMilli).toBe(Number(r['cpu_milli']));
      expect(t.memoryMib).toBe(Number(r['memory_mib']));
      expect(t.gpuMilli).toBe(t.gpus === 0 ? 0 : t.gpus === 1 ? Number(r['gpu_milli']) : 1000);
      expect(t.models).toEqual(t.gpus && r['gpu_spec'] ? r['gpu_spec'].split('|') : []);
    });
  };

  it('reads the generated sample', () => tasksMatchRows(sampleOpenbPodsCsv()));

  it.skipIf(noFiles !== null)(named(`reads ${files.map((f) => f.split('/').pop()).join(', ') || 'every shared pod list'}`, noFiles), () => {
    for (const f of files) tasksMatchRows(read(f));
    const multi = files.find((f) => f.endsWith('multigpu20.csv'));
    expect(multi, 'openb_pod_list_multigpu20.csv is among the shared pod lists').toBeDefined();
    const csv = read(multi!);
    const tasks = importOpenbTasks(csv);
    expect(tasks).toHaveLength(8_324);
    expect(tasks.filter((t) => t.gpus > 1)).toHaveLength(247);
    // The timed replay needs the times this file does not have, and says so.
    expect(() => importOpenbPods(csv)).toThrow(/no creation_time, deletion_time column\(s\): the timed replay needs them/);
  });

  it('gives absent columns their documented defaults', () => {
    const tasks = importOpenbTasks('num_gpu,gpu_milli\n1,300\n2,1000\n0,0\n1,1000\n');
    expect(tasks).toEqual([
      { id: 'row-2', cpuMilli: 0, memoryMib: 0, gpus: 1, gpuMilli: 300, models: [] },
      { id: 'row-3', cpuMilli: 0, memoryMib: 0, gpus: 2, gpuMilli: 1000, models: [] },
      { id: 'row-4', cpuMilli: 0, memoryMib: 0, gpus: 0, gpuMilli: 0, models: [] },
      { id: 'row-5', cpuMilli: 0, memoryMib: 0, gpus: 1, gpuMilli: 1000, models: [] },
    ]);
    expect(importOpenbTasks('num_gpu\n1\n')[0]!.gpuMilli).toBe(OPENB_POD_DEFAULTS.gpuMilli);
    expect(() => importOpenbTasks('num_gpu,gpu_milli\n9,1000\n')).toThrow(/num_gpu must be 0..8/);
    expect(() => importOpenbTasks('num_gpu,gpu_milli\n1,0\n')).toThrow(/gpu_milli must be 1..1000/);
    expect(() => importOpenbTasks('name,cpu_milli\np,1\n')).toThrow(/missing column\(s\) num_gpu/);
    // The replay importer takes qos and gpu_spec defaults but needs times.
    const { jobs } = importOpenbPods('num_gpu,creation_time,deletion_time\n1,0,10\n');
    expect(jobs).toEqual([{ id: 'row-2', submitS: 0, durationS: 10, gpuModels: [], gpus: 1, placement: 'any', jobClass: 'on-demand', priceMicrosPerGpuHour: 2_000_000 }]);
  });

  onSampleAndTrace('openb node lists keep CPU and memory, CPU-only nodes included', 'openbAllNodes', () => sampleOpenbNodesCsv(), (csv, path) => {
    const nodes = importShareNodes(csv);
    const rows = rowsOf(csv);
    expect(nodes.map((n) => [n.id, n.gpus, n.cpuMilli, n.memoryMib, n.model])).toEqual(rows.map((r) => [r['sn'], Number(r['gpu']), Number(r['cpu_milli']), Number(r['memory_mib']), r['gpu'] === '0' ? '' : r['model']]));
    if (path) expect([nodes.length, nodes.reduce((a, n) => a + n.gpus, 0), nodes.filter((n) => n.gpus === 0).length]).toEqual([1_523, 6_212, 310]);
  });

  onSampleAndTrace('spot node lists keep CPU', 'spotNodes', () => 'gpu_model,gpu_capacity_num,cpu_num,node_name\nA10,1,128,0\nH800,8,192,1\n', (spotCsv, path) => {
    const sn = importShareNodes(spotCsv);
    const srows = rowsOf(spotCsv);
    expect(sn.map((n) => [n.id, n.gpus, n.cpuMilli, n.memoryMib])).toEqual(srows.map((r) => [`spot-n${r['node_name']}`, Number(r['gpu_capacity_num']), Number(r['cpu_num']) * 1000, Infinity]));
    if (path) expect([sn.length, sn.reduce((a, n) => a + n.gpus, 0)]).toEqual([4_278, 10_412]);
  });
});
