/**
 * The inflation protocol (ATC'23 §6.1): seeded random arrivals, metrics on the arrival axis, and
 * fill mode never takes back what it placed (no preemption, no queue) — checked from the
 * placements it reports, not from its own counters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { named, unavailable } from '../../test/ci.js';
import { compareInflation, demandGpus, inflationRun, sampleArrivals } from './inflation.js';
import { SHARE_POLICIES } from './share-cluster.js';
import { comparisonHtml, comparisonSvg, formatComparison, versusBestFit } from './inflation-report.js';
import { importOpenbShareNodes, importOpenbTasks, openbPodListFiles, sampleOpenbNodesCsv, sampleOpenbPodsCsv, tracesDir, TRACE_FILES } from './traces.js';

// The protocol's invariants run on generated inputs, whatever is in ../shared/traces; the real
// traces have a test of their own below, skipped (locally) or failed (in CI) when they are missing.
const nodes = importOpenbShareNodes(sampleOpenbNodesCsv(120));
const nodesPath = join(tracesDir(), TRACE_FILES.openbAllNodes);
const noTraces = unavailable('the Alibaba openb traces', !existsSync(nodesPath) ? `${nodesPath} is missing (../shared/traces)`
  : openbPodListFiles().length === 0 ? `no openb_pod_list_*.csv in ${tracesDir()}` : null);
const sampleTasks = importOpenbTasks(sampleOpenbPodsCsv(2000));
const capacity = nodes.reduce((a, n) => a + n.gpus, 0);

describe('inflation protocol', () => {
  it('draws tasks at random with a seed until demand reaches the load', () => {
    const a = sampleArrivals(sampleTasks, capacity, 7, 1.3);
    expect(sampleArrivals(sampleTasks, capacity, 7, 1.3)).toEqual(a);
    expect(sampleArrivals(sampleTasks, capacity, 8, 1.3)).not.toEqual(a);
    const demand = (seq: number[]): number => seq.reduce((s, i) => s + demandGpus(sampleTasks[i]!), 0);
    expect(demand(a)).toBeGreaterThanOrEqual(1.3 * capacity);
    expect(demand(a.slice(0, -1))).toBeLessThan(1.3 * capacity);
    // Random, not in file order: later rows are reached.
    expect(Math.max(...a.slice(0, 200))).toBeGreaterThan(1000);
  });

  it('records every checkpoint on the arrival axis and never takes back a placement', () => {
    for (const policy of SHARE_POLICIES) {
      const placed: { gpus: number }[] = [];
      let placedGpus = 0;
      const r = inflationRun({ nodes, tasks: sampleTasks, onPlace: (t) => { placed.push(t); placedGpus += demandGpus(t); } }, policy, 3);
      expect(r.points.map((p) => p.load)).toEqual(Array.from({ length: 131 }, (_, k) => Math.round(k) / 100));
      for (let i = 1; i < r.points.length; i++) {
        // No departures, no preemption: allocation only grows; refusals only grow.
        expect(r.points[i]!.allocatedGpus).toBeGreaterThanOrEqual(r.points[i - 1]!.allocatedGpus);
        expect(r.points[i]!.refusedTasks).toBeGreaterThanOrEqual(r.points[i - 1]!.refusedTasks);
      }
      const last = r.points.at(-1)!;
      expect(last.allocatedGpus).toBeCloseTo(placedGpus, 6);
      expect(placed.length + last.refusedTasks).toBe(r.arrivedTasks);
      expect(last.unallocatedGpus).toBeCloseTo(capacity - placedGpus, 6);
      // Past 100% of capacity some task is refused.
      expect(r.points[0]!.refusedTasks).toBe(0);
      expect(last.refusedTasks).toBeGreaterThan(0);
      expect(last.fragmentation).toBeGreaterThan(0);
      expect(last.fragmentation).toBeLessThanOrEqual(1);
    }
  });

  it('compares policies on the same arrivals, averaged over seeds', () => {
    const c = compareInflation({ nodes, tasks: sampleTasks, policies: ['bestfit', 'fgd'], seeds: [1, 2], maxLoad: 1, step: 0.05 });
    expect(c.policies.map((p) => p.policy)).toEqual(['bestfit', 'fgd']);
    for (const p of c.policies) {
      expect(p.runs.map((r) => r.arrivedTasks)).toEqual(c.policies[0]!.runs.map((r) => r.arrivedTasks));
      expect(p.mean).toHaveLength(21);
      const at = (k: number): number => (p.runs[0]!.points[k]!.unallocatedGpus + p.runs[1]!.points[k]!.unallocatedGpus) / 2;
      expect(p.mean[20]!.unallocatedGpus).toBeCloseTo(at(20), 9);
    }
  });

  it('prints the table and draws allocation against load (a standalone SVG, and HTML)', () => {
    const c = compareInflation({ nodes, tasks: sampleTasks, policies: ['bestfit', 'neocloud'], seeds: [1], maxLoad: 1.3 });
    const table = formatComparison(c, 'title');
    expect(table).toMatch(/^title\n/);
    expect(table).toContain('seeds 1');
    const bf = c.policies[0]!.mean.find((p) => p.load === 1)!.unallocatedGpus;
    const ours = c.policies[1]!.mean.find((p) => p.load === 1)!.unallocatedGpus;
    expect(versusBestFit(c, 'neocloud')).toBeCloseTo(ours / bf - 1, 9);
    expect(table).toContain(bf.toFixed(1));
    const svg = comparisonSvg(c);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // The ideal line, then one curve per policy with a point per checkpoint.
    const curves = [...svg.matchAll(/<path d="(M[^"]*)" fill="none" stroke="#(?!d1d5db)/g)];
    expect(curves).toHaveLength(2);
    expect(curves[0]![1]!.split(' ')).toHaveLength(131);
    expect(comparisonHtml(c, 'x')).toContain(svg.trim().slice(0, 40));
  });

  it.skipIf(noTraces !== null)(named(`runs on every shared openb trace (${openbPodListFiles().length} files) on the real node list`, noTraces), () => {
    const realNodes = importOpenbShareNodes(readFileSync(nodesPath, 'utf8'));
    for (const f of openbPodListFiles()) {
      const tasks = importOpenbTasks(readFileSync(f, 'utf8'));
      const r = inflationRun({ nodes: realNodes, tasks, maxLoad: 0.2, step: 0.1 }, 'neocloud', 1);
      expect(r.points).toHaveLength(3);
      expect(r.points[2]!.allocationRate).toBeGreaterThan(0.15);
    }
  });
});
