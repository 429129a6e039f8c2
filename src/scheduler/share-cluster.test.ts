/**
 * The share-aware placement core: hand-made clusters where the paper's fragmentation and FGD's
 * choice are worked out by hand, and properties over random clusters checked against a ledger
 * kept here from the placements alone (not the cluster's own arrays).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SHARE_POLICIES, ShareCluster, nodeFragmentation, nodeFragmentationFast, taskFragmentation, taskPopulation,
  type SharePolicyName,
} from './share-cluster.js';
import type { ShareNode, ShareTask } from './scheduler-types.js';

const node = (id: string, gpus: number, model = 'A', cpuMilli = 64_000, memoryMib = 262_144): ShareNode => ({ id, model, gpus, cpuMilli, memoryMib });
const task = (id: string, gpus: number, gpuMilli: number, o: Partial<ShareTask> = {}): ShareTask => ({ id, cpuMilli: 1000, memoryMib: 1024, gpus, gpuMilli, models: [], ...o });

describe('fragmentation (Weng et al., ATC\'23 §4)', () => {
  const share600 = task('s', 1, 600);
  const whole2 = task('w', 2, 1000);
  const onlyB = task('b', 1, 1000, { models: ['B'] });

  it('counts, per task, the free GPU capacity it cannot use', () => {
    const frees = [1000, 1000, 500, 0];
    // Fits: GPUs with less than its share free are the fragment (500 + 0).
    expect(taskFragmentation(share600, 'A', 64_000, 1e6, frees)).toBe(500);
    expect(taskFragmentation(whole2, 'A', 64_000, 1e6, frees)).toBe(500);
    // Cannot run here (model, CPU, memory, too few GPUs): every free GPU is a fragment.
    expect(taskFragmentation(onlyB, 'A', 64_000, 1e6, frees)).toBe(2500);
    expect(taskFragmentation(share600, 'A', 500, 1e6, frees)).toBe(2500);
    expect(taskFragmentation(share600, 'A', 64_000, 10, frees)).toBe(2500);
    expect(taskFragmentation(task('w3', 3, 1000), 'A', 64_000, 1e6, frees)).toBe(2500);
  });

  it('weighs tasks by their share of the population; the cluster measure is a share of free GPU capacity', () => {
    const pop = taskPopulation([share600, whole2, onlyB, onlyB, task('cpu', 0, 0)]);
    // CPU-only tasks are not in the population: weights 1/4, 1/4, 1/2.
    expect(pop.classes.map((c) => c.weight)).toEqual([0.25, 0.25, 0.5]);
    const frees = [1000, 1000, 500, 0];
    expect(nodeFragmentation(pop, 'A', 64_000, 1e6, frees)).toBe(0.25 * 500 + 0.25 * 500 + 0.5 * 2500);
    expect(nodeFragmentation(pop, 'B', 64_000, 1e6, frees)).toBe(0.25 * 500 + 0.25 * 500 + 0.5 * 500);
    const c = new ShareCluster([node('n0', 4)], pop);
    expect(c.fragmentationRate()).toBe((0.5 * 4000) / 4000); // empty node of model A: only the B tasks cannot use it
    c.place(task('x', 1, 500), 'fgd');
    c.place(task('y', 1, 1000), 'fgd');
    expect(c.freeMilli()).toBe(2500);
    expect(c.fragmentationRate()).toBeCloseTo(nodeFragmentation(pop, 'A', 64_000 - 2000, 262_144 - 2048, [1000, 1000, 500, 0]) / 2500, 9);
    // The project's own measure: all free capacity sits on a partly used node.
    expect(c.partialNodeShare()).toBe(1);
  });

  it('the fast measure equals the definition (random nodes and populations)', () => {
    const arbTask = fc.record({
      gpus: fc.integer({ min: 1, max: 4 }), milli: fc.constantFrom(100, 250, 500, 700, 1000), cpu: fc.integer({ min: 0, max: 16 }),
      mem: fc.integer({ min: 0, max: 8 }), models: fc.subarray(['A', 'B', 'C']),
    }).map((t) => task('t', t.gpus, t.gpus > 1 ? 1000 : t.milli, { cpuMilli: t.cpu * 1000, memoryMib: t.mem * 1024, models: t.models }));
    fc.assert(fc.property(
      fc.array(arbTask, { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 0, maxLength: 8 }),
      fc.constantFrom('A', 'B', 'C'), fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 8 }),
      (tasks, frees, model, cpu, mem) => {
        const pop = taskPopulation(tasks);
        const a = nodeFragmentation(pop, model, cpu * 1000, mem * 1024, frees);
        const b = nodeFragmentationFast(pop, model, cpu * 1000, mem * 1024, frees);
        expect(b).toBeCloseTo(a, 6);
      },
    ));
  });
});

describe('policies on hand-made clusters', () => {
  it('FGD keeps a node whole for the 2-GPU tasks that best fit would break', () => {
    // Population: half 1-GPU, half 2-GPU tasks. Node a has 2 free GPUs, node b 3 of 4 (one taken).
    const pop = taskPopulation([task('one', 1, 1000), task('two', 2, 1000)]);
    // From empty, FGD puts a 1-GPU task on b: on a it would grow F by ½·1000 (a 2-GPU task no longer fits), on b by 0.
    const start = (): ShareCluster => {
      const c = new ShareCluster([node('a', 2), node('b', 4)], pop);
      expect(c.place(task('x', 1, 1000), 'fgd')!.node).toBe(1);
      return c;
    };
    const c = start();
    expect(c.gpuFree[1]).toEqual([0, 1000, 1000, 1000]);
    // Now a 1-GPU task: best fit takes a (least free left: 1 vs 2 GPUs); FGD takes b (a 2-GPU task still fits both).
    const bf = start();
    expect(bf.place(task('y', 1, 1000), 'bestfit')!.node).toBe(0);
    const fgd = start();
    expect(fgd.place(task('y', 1, 1000), 'fgd')!.node).toBe(1);
    expect(fgd.place(task('z', 1, 1000), 'neocloud')!.node).toBe(1); // b: [0,0,1000,1000] still takes a 2-GPU task
  });

  it('FGD takes a free GPU where a share would strand a GPU-sharing remainder; best fit takes the used one', () => {
    // Population: 0.3-GPU tasks. Node [1000, 300]: a 0.2 share on the 300 GPU leaves 100, which no task can use.
    const pop = taskPopulation([task('p', 1, 300)]);
    const start = (): ShareCluster => {
      const c = new ShareCluster([node('n', 2)], pop);
      c.place(task('pre', 1, 700), 'bestfit');
      expect([...c.gpuFree[0]!].sort()).toEqual([1000, 300]);
      return c;
    };
    const bf = start();
    const pb = bf.place(task('s', 1, 200), 'bestfit')!;
    expect(bf.gpuFree[0]![pb.gpus[0]!.index]).toBe(100);
    const fgd = start();
    const pf = fgd.place(task('s', 1, 200), 'fgd')!;
    expect(fgd.gpuFree[0]![pf.gpus[0]!.index]).toBe(800);
  });

  it('neocloud also counts GPUs a node\'s CPU cannot feed (FGD asks only whether one task fits)', () => {
    // Population: 1-GPU tasks with 8 cores each. A CPU-only 8-core task on a (4 GPUs, 32 cores)
    // leaves 24 cores for 4 GPUs (one stranded); on b (4 GPUs, 40 cores) it strands none.
    // FGD sees no change on either (one GPU task still fits both) and best fit takes a (less CPU left).
    const pop = taskPopulation([task('g', 1, 1000, { cpuMilli: 8000 })]);
    const cpuTask = task('c', 0, 0, { cpuMilli: 8000 });
    const mk = (): ShareCluster => new ShareCluster([node('a', 4, 'A', 32_000), node('b', 4, 'A', 40_000)], pop);
    expect(mk().place(cpuTask, 'fgd')!.node).toBe(0);
    expect(mk().place(cpuTask, 'bestfit')!.node).toBe(0);
    expect(mk().place(cpuTask, 'neocloud')!.node).toBe(1);
    // With a type-constrained population (≥20% of GPU tasks name models) the term is off: FGD with the best-fit tie.
    const constrained = taskPopulation([task('g', 1, 1000, { cpuMilli: 8000 }), task('h', 1, 1000, { cpuMilli: 8000, models: ['A'] })]);
    expect(new ShareCluster([node('a', 4, 'A', 32_000), node('b', 4, 'A', 40_000)], constrained).place(cpuTask, 'neocloud')!.node).toBe(0);
  });

  it('packing: a used GPU first, then a used node, then an idle one', () => {
    const pop = taskPopulation([task('p', 1, 500)]);
    const c = new ShareCluster([node('idle', 2), node('used', 2), node('half', 2)], pop);
    // Make node 1 used (one whole GPU) and node 2 hold a GPU with 600 free.
    c.place(task('w', 2, 1000), 'packing'); // idle cluster: first fit → node 0 fully used
    expect(c.gpuFree[0]).toEqual([0, 0]);
    c.place(task('s', 1, 400), 'packing'); // node 0 has no GPU; node 1 (first idle) gets it
    expect(c.gpuFree[1]).toEqual([600, 1000]);
    expect(c.place(task('s2', 1, 500), 'packing')!.gpus[0]!.index).toBe(0); // the used GPU on node 1
    expect(c.gpuFree[1]).toEqual([100, 1000]);
    expect(c.place(task('one', 1, 1000), 'packing')!.node).toBe(1); // a used node before idle node 2
    expect(c.place(task('one', 1, 1000), 'packing')!.node).toBe(2);
  });

  it('a node whose CPU is taken strands its GPUs', () => {
    const pop = taskPopulation([task('g', 1, 1000, { cpuMilli: 8000 })]);
    const c = new ShareCluster([node('n', 8, 'A', 16_000)], pop);
    expect(c.place(task('cpu', 0, 0, { cpuMilli: 10_000 }), 'bestfit')).not.toBeNull();
    expect(c.place(task('g', 1, 1000, { cpuMilli: 8000 }), 'bestfit')).toBeNull();
    expect(c.fragmentationRate()).toBe(1); // 8 free GPUs, none usable
  });

  it('respects GPU model constraints and refuses only what fits nowhere', () => {
    const pop = taskPopulation([task('t', 1, 1000)]);
    const c = new ShareCluster([node('a', 1, 'A'), node('b', 1, 'B')], pop);
    for (const p of SHARE_POLICIES) {
      const cc = new ShareCluster([node('a', 1, 'A'), node('b', 1, 'B')], pop);
      expect(cc.place(task('t', 1, 1000, { models: ['B'] }), p)!.node).toBe(1);
      expect(cc.place(task('t', 1, 1000, { models: ['B'] }), p)).toBeNull();
    }
    expect(c.place(task('t', 1, 1000, { models: ['C'] }), 'fgd')).toBeNull();
  });
});

describe('property: a policy never places a task that does not fit, and refuses only what fits nowhere', () => {
  const arbNode = fc.record({ gpus: fc.integer({ min: 0, max: 8 }), model: fc.constantFrom('A', 'B', 'C'), cpu: fc.integer({ min: 1, max: 64 }), mem: fc.integer({ min: 1, max: 64 }) });
  const arbTask = fc.record({
    gpus: fc.integer({ min: 0, max: 8 }), milli: fc.integer({ min: 1, max: 1000 }), cpu: fc.integer({ min: 0, max: 24 }), mem: fc.integer({ min: 0, max: 24 }),
    models: fc.subarray(['A', 'B', 'C'], { maxLength: 2 }),
  });

  it('holds for every policy on random clusters and task streams', () => {
    fc.assert(fc.property(
      fc.array(arbNode, { minLength: 1, maxLength: 10 }), fc.array(arbTask, { minLength: 1, maxLength: 60 }), fc.constantFrom(...SHARE_POLICIES),
      (ns, ts, policy: SharePolicyName) => {
        const nodes = ns.map((n, i) => node(`n${i}`, n.gpus, n.gpus ? n.model : '', n.cpu * 1000, n.mem * 1024));
        const tasks = ts.map((t, i) => task(`t${i}`, t.gpus, t.gpus === 0 ? 0 : t.gpus > 1 ? 1000 : t.milli, { cpuMilli: t.cpu * 1000, memoryMib: t.mem * 1024, models: t.gpus ? t.models : [] }));
        const c = new ShareCluster(nodes, taskPopulation(tasks));
        // The ledger: what is left per node, from the placements alone.
        const cpu = nodes.map((n) => n.cpuMilli);
        const mem = nodes.map((n) => n.memoryMib);
        const gpu = nodes.map((n) => new Array<number>(n.gpus).fill(1000));
        for (const t of tasks) {
          const p = c.place(t, policy);
          if (p === null) {
            // Refused: no node can hold it, by the ledger.
            const fits = (i: number): boolean => cpu[i]! >= t.cpuMilli && mem[i]! >= t.memoryMib
              && (t.gpus === 0 || ((t.models.length === 0 || t.models.includes(nodes[i]!.model)) && gpu[i]!.filter((f) => f >= t.gpuMilli).length >= t.gpus));
            expect(nodes.some((_, i) => fits(i))).toBe(false);
            continue;
          }
          const n = nodes[p.node]!;
          expect(cpu[p.node]! >= t.cpuMilli && mem[p.node]! >= t.memoryMib).toBe(true);
          if (t.gpus > 0 && t.models.length > 0) expect(t.models).toContain(n.model);
          expect(p.gpus).toHaveLength(t.gpus);
          expect(new Set(p.gpus.map((g) => g.index)).size).toBe(t.gpus);
          for (const g of p.gpus) {
            expect(g.milli).toBe(t.gpuMilli);
            expect(gpu[p.node]![g.index]!).toBeGreaterThanOrEqual(t.gpuMilli);
            gpu[p.node]![g.index]! -= t.gpuMilli;
          }
          cpu[p.node]! -= t.cpuMilli;
          mem[p.node]! -= t.memoryMib;
        }
        expect(c.freeMilli()).toBe(gpu.flat().reduce((a, b) => a + b, 0));
      },
    ), { numRuns: 200 });
  });
});
