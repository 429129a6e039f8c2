import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFleet, resolveWorkload } from './sim-inputs.js';
import { POLICIES, formatReport, htmlReport, simulate } from './simulator.js';
import { named, unavailable } from '../../test/ci.js';
import type { FleetLayout, JobSpec } from './scheduler-types.js';
import { importOpenbNodes, importOpenbPods, sampleOpenbNodesCsv, sampleOpenbPodsCsv, tracesDir, TRACE_FILES } from './traces.js';

/** Why the real openb trace cannot be replayed here (skipped locally, a failure in CI), or null. */
const noTraces = unavailable('the Alibaba openb traces', ['openbPodsDefault', 'openbGpuNodes'].map((f) => join(tracesDir(), TRACE_FILES[f as keyof typeof TRACE_FILES]))
  .filter((p) => !existsSync(p)).map((p) => `${p} is missing (../shared/traces)`)[0] ?? null);

/** A replay end to end, whatever its inputs: every job accounted for, some use, some revenue, both reports. */
function replays(layout: FleetLayout, jobs: JobSpec[]): void {
  const r = simulate({ layout, jobs });
  expect(r.jobs.submitted).toBe(jobs.length);
  expect(r.jobs.started + r.jobs.neverStarted + r.jobs.rejected).toBe(jobs.length);
  expect(r.utilization.mean).toBeGreaterThan(0);
  expect(r.utilization.mean).toBeLessThanOrEqual(1);
  expect(BigInt(r.revenueTotalMicros)).toBeGreaterThan(0n);
  expect(formatReport(r)).toContain('queue wait');
  expect(htmlReport(r)).toContain('<svg');
}

describe('simulator', () => {
  it('replays the generated openb sample end to end', () => {
    replays(importOpenbNodes(sampleOpenbNodesCsv()), importOpenbPods(sampleOpenbPodsCsv()).jobs);
  });

  it.skipIf(noTraces !== null)(named('replays the real openb trace end to end', noTraces), () => {
    replays(resolveFleet('openb'), resolveWorkload('openb', 0));
  });

  it('states one utilization: busy GPU-time over the arrival window', () => {
    const layout = resolveFleet('synthetic:2048');
    // 8 GPUs busy over [0, 100) and 8 over [50, 150): the window is [0, 50] (first to last arrival).
    const job = (id: string, submitS: number) => ({ id, submitS, durationS: 100, gpuModels: [], gpus: 8, placement: 'nvlink' as const, jobClass: 'on-demand' as const, priceMicrosPerGpuHour: 1 });
    const r = simulate({ layout, jobs: [job('a', 0), job('b', 50)] });
    expect(r.utilization.windowS).toBe(50);
    expect(r.utilization.mean).toBeCloseTo((8 * 50) / (2048 * 50), 9);
    expect(r.utilization.peak).toBeCloseTo(16 / 2048, 9);
    expect(formatReport(r)).toContain('busy GPU-time ÷ GPU-time from first to last arrival');
  });

  it('refuses a gang larger than any domain at submission instead of queueing it', () => {
    const layout = resolveFleet('synthetic:2048');
    const big = { id: 'big', submitS: 0, durationS: 3600, gpuModels: [], gpus: 4096, placement: 'site' as const, jobClass: 'on-demand' as const, priceMicrosPerGpuHour: 1 };
    const r = simulate({ layout, jobs: [big] });
    expect(r.jobs).toMatchObject({ submitted: 1, started: 0, rejected: 1, neverStarted: 0 });
  });

  it('a departure lets every queued request that now fits start (no scan limit strands them)', () => {
    // 128 eight-GPU nodes without power caps (power cannot be what holds them back).
    const layout = {
      sites: [{ id: 's', powerCapW: Infinity, pue: 1 }], halls: [{ id: 'h', siteId: 's', powerCapW: Infinity }],
      nodes: Array.from({ length: 256 }, (_, i) => ({ id: `n${i}`, model: 'H100-SXM', gpus: 8, siteId: 's', hallId: 'h', fabricId: `f${i >> 5}`, nvlinkId: `n${i}`, wattsPerGpu: 0 })),
    };
    const models = ['H100-SXM'];
    // One job holds the whole fleet for an hour; 600 one-GPU jobs queue behind it, then all fit.
    const hog = { id: 'hog', submitS: 0, durationS: 3600, gpuModels: models, gpus: 2048, placement: 'any' as const, jobClass: 'on-demand' as const, priceMicrosPerGpuHour: 1 };
    const small = Array.from({ length: 600 }, (_, i) => ({ id: `s${i}`, submitS: 1 + i, durationS: 60, gpuModels: models, gpus: 1, placement: 'any' as const, jobClass: 'on-demand' as const, priceMicrosPerGpuHour: 1 }));
    const r = simulate({ layout, jobs: [hog, ...small] });
    expect(r.jobs.started).toBe(601);
    expect(r.jobs.neverStarted).toBe(0);
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
