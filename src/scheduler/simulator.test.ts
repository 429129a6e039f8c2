import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFleet, resolveWorkload } from './sim-inputs.js';
import { POLICIES, formatReport, htmlReport, inflateWorkload, simulate } from './simulator.js';
import { importOpenbNodes, importOpenbPods, sampleOpenbNodesCsv, sampleOpenbPodsCsv, tracesDir, TRACE_FILES } from './traces.js';

const haveTraces = existsSync(join(tracesDir(), TRACE_FILES.openbPodsDefault));

describe('simulator', () => {
  it('replays the openb trace (or its generated sample) end to end', () => {
    const layout = haveTraces ? resolveFleet('openb') : importOpenbNodes(sampleOpenbNodesCsv());
    const jobs = haveTraces ? resolveWorkload('openb', 0) : importOpenbPods(sampleOpenbPodsCsv()).jobs;
    const r = simulate({ layout, jobs });
    expect(r.jobs.submitted).toBe(jobs.length);
    expect(r.jobs.started + r.jobs.neverStarted + r.jobs.rejected).toBe(jobs.length);
    expect(r.utilization.mean).toBeGreaterThan(0);
    expect(r.utilization.mean).toBeLessThanOrEqual(1);
    expect(BigInt(r.revenueTotalMicros)).toBeGreaterThan(0n);
    expect(formatReport(r)).toContain('queue wait');
    expect(htmlReport(r)).toContain('<svg');
  });

  it('fills the fleet in the inflation replay and allocates most of it', () => {
    const layout = haveTraces ? resolveFleet('openb') : importOpenbNodes(sampleOpenbNodesCsv());
    const jobs = haveTraces ? resolveWorkload('openb', 0) : importOpenbPods(sampleOpenbPodsCsv()).jobs;
    const gpus = layout.nodes.reduce((a, n) => a + n.gpus, 0);
    const inflated = inflateWorkload(jobs, gpus);
    const asked = inflated.reduce((a, j) => a + (j.gpus * (j.gpuMilli ?? 1000)) / 1000, 0);
    expect(asked).toBeGreaterThanOrEqual(gpus);
    const r = simulate({ layout, jobs: inflated, policy: POLICIES['fifo'] });
    expect(r.allocationRateAtEnd).toBeGreaterThan(0.5);
    expect(r.allocationRateAtEnd).toBeLessThanOrEqual(1);
  });

  it('is deterministic for a seed, and policies differ where they should', () => {
    const layout = resolveFleet('synthetic:2048');
    const jobs = resolveWorkload('synthetic:6000:7', 2048);
    const a = simulate({ layout, jobs });
    const b = simulate({ layout, jobs });
    expect({ ...a, wallMs: 0 }).toEqual({ ...b, wallMs: 0 });
    // Spot fills the demo fleet's H200s (power-bound at 871), then on-demand work arrives.
    const demo = resolveFleet('demo');
    const spot = Array.from({ length: 108 }, (_, i) => ({ id: `s${i}`, submitS: i, durationS: 86_400, gpuModels: ['H200'], gpus: 8, placement: 'nvlink' as const, jobClass: 'spot' as const, priceMicrosPerGpuHour: 1_000_000 }));
    const od = Array.from({ length: 4 }, (_, i) => ({ id: `o${i}`, submitS: 1000 + i, durationS: 3600, gpuModels: ['H200'], gpus: 8, placement: 'nvlink' as const, jobClass: 'on-demand' as const, priceMicrosPerGpuHour: 3_100_000 }));
    const revenue = simulate({ layout: demo, jobs: [...spot, ...od] });
    const fifo = simulate({ layout: demo, jobs: [...spot, ...od], policy: POLICIES['fifo'] });
    expect(revenue.preemptions).toBe(4);
    expect(fifo.preemptions).toBe(0);
    expect(revenue.queueWaitS.max).toBeLessThan(fifo.queueWaitS.max);
  });

  it('names its inputs clearly when they are wrong', () => {
    expect(() => resolveFleet('nope')).toThrow(/fleet: "nope"/);
    expect(() => resolveWorkload('nope', 1)).toThrow(/workload: "nope"/);
  });
});
