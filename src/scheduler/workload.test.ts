import { describe, expect, it } from 'vitest';
import { JOB_CLASSES, type JobClass, type JobSpec } from './scheduler-types.js';
import {
  MAX_DURATION_S, MAX_RESERVATION_LEAD_S, MIN_DURATION_S, SPOT_BID_MAX_MICROS, SPOT_BID_MIN_MICROS,
  mulberry32, syntheticWorkload, syntheticWorkloadMeans,
} from './workload.js';

const FLEET = 1_000_000;

describe('mulberry32', () => {
  it('is deterministic per seed and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('syntheticWorkload', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = syntheticWorkload({ seed: 7, jobs: 2_000, fleetGpus: FLEET, models: ['H100-SXM', 'GB200'] });
    expect(syntheticWorkload({ seed: 7, jobs: 2_000, fleetGpus: FLEET, models: ['H100-SXM', 'GB200'] })).toEqual(a);
    expect(syntheticWorkload({ seed: 8, jobs: 2_000, fleetGpus: FLEET, models: ['H100-SXM', 'GB200'] })).not.toEqual(a);
    expect(a).toHaveLength(2_000);
    expect(new Set(a.map((j) => j.id)).size).toBe(2_000);
    expect(syntheticWorkload({ seed: 1, jobs: 0, fleetGpus: FLEET })).toEqual([]);
  });

  describe('distributions over 100,000 jobs', () => {
    const jobs = syntheticWorkload({ seed: 2026, jobs: 100_000, fleetGpus: FLEET });
    const n = jobs.length;

    it('has the default class mix within ±2 points', () => {
      const want: Record<JobClass, number> = { reserved: 0.1, 'on-demand': 0.4, internal: 0.2, spot: 0.3 };
      for (const c of JOB_CLASSES) {
        const share = jobs.filter((j) => j.jobClass === c).length / n;
        expect(Math.abs(share - want[c]), c).toBeLessThan(0.02);
      }
    });

    it('keeps gangs, durations, times and prices in bounds', () => {
      // Collect violations and assert once (100k × many expect() calls would be slow).
      const bad: string[] = [];
      const check = (ok: boolean, what: string, j: JobSpec): void => {
        if (!ok && bad.length < 10) bad.push(`${j.id}: ${what} ${JSON.stringify(j)}`);
      };
      let prev = 0;
      for (const j of jobs) {
        check(Number.isInteger(j.gpus) && j.gpus >= 1 && j.gpus <= 16_384, 'gpus', j);
        check(Number.isInteger(j.durationS) && j.durationS >= MIN_DURATION_S && j.durationS <= MAX_DURATION_S, 'durationS', j);
        check(j.submitS >= prev, 'submit order', j);
        prev = j.submitS;
        check(j.gpuModels.length === 0 && j.gpuMilli === undefined, 'models/milli', j);
        check(Number.isInteger(j.priceMicrosPerGpuHour), 'integer price', j);
        if (j.jobClass === 'reserved') {
          const lead = j.startS === undefined ? NaN : j.startS - j.submitS;
          check(lead >= 3600 && lead <= MAX_RESERVATION_LEAD_S, 'reservation lead', j);
          check(j.placement !== 'any', 'reserved placement', j);
          check(j.priceMicrosPerGpuHour === 1_900_000, 'reserved price', j);
        } else {
          check(j.startS === undefined, 'startS only for reserved', j);
        }
        if (j.jobClass === 'spot') {
          check(j.priceMicrosPerGpuHour >= SPOT_BID_MIN_MICROS && j.priceMicrosPerGpuHour <= SPOT_BID_MAX_MICROS, 'spot bid', j);
        }
        if (j.jobClass === 'on-demand') check(j.priceMicrosPerGpuHour === 2_500_000, 'on-demand price', j);
        if (j.jobClass === 'internal') check(j.priceMicrosPerGpuHour === 1_500_000, 'internal price', j);
        if (j.placement !== 'any') {
          check(j.placement === (j.gpus <= 8 ? 'nvlink' : j.gpus <= 1024 ? 'fabric' : 'site'), 'placement', j);
        }
      }
      expect(bad).toEqual([]);
      const any = jobs.filter((j) => j.placement === 'any').length / n;
      expect(any).toBeGreaterThan(0.07);
      expect(any).toBeLessThan(0.1);
    });

    it('is heavy-tailed: mostly small gangs, a few huge ones, median duration near an hour', () => {
      const share = (p: (g: number) => boolean): number => jobs.filter((j) => p(j.gpus)).length / n;
      expect(share((g) => g <= 8)).toBeCloseTo(0.75, 1);
      expect(share((g) => g >= 16 && g <= 512)).toBeCloseTo(0.22, 1);
      const large = share((g) => g >= 1024);
      expect(large).toBeGreaterThan(0.02);
      expect(large).toBeLessThan(0.04);
      expect(jobs.some((j) => j.gpus === 16_384)).toBe(true);
      const pow2 = share((g) => (g & (g - 1)) === 0);
      expect(pow2).toBeGreaterThan(0.9);

      const d = jobs.map((j) => j.durationS).sort((a, b) => a - b);
      const median = d[Math.floor(n / 2)]!;
      expect(median).toBeGreaterThan(3000);
      expect(median).toBeLessThan(4300);
      expect(d[0]).toBe(MIN_DURATION_S);
      // Reserved leads: most within two weeks.
      const reserved = jobs.filter((j) => j.jobClass === 'reserved');
      const near = reserved.filter((j) => j.startS! - j.submitS <= 14 * 86_400).length / reserved.length;
      expect(near).toBeGreaterThan(0.8);
      expect(near).toBeLessThan(0.9);
    });

    it('offers about 90% of the fleet (Little’s law on the generated jobs)', () => {
      const means = syntheticWorkloadMeans(FLEET);
      let gd = 0;
      let g = 0;
      let d = 0;
      for (const j of jobs) {
        gd += j.gpus * j.durationS;
        g += j.gpus;
        d += j.durationS;
      }
      expect(g / n / means.meanGangGpus).toBeGreaterThan(0.95);
      expect(g / n / means.meanGangGpus).toBeLessThan(1.05);
      expect(d / n / means.meanDurationS).toBeGreaterThan(0.94);
      expect(d / n / means.meanDurationS).toBeLessThan(1.06);
      const span = jobs[n - 1]!.submitS;
      expect(span / n / means.meanInterarrivalS).toBeGreaterThan(0.98);
      expect(span / n / means.meanInterarrivalS).toBeLessThan(1.02);
      // Heavy tails make the realised load noisy at 100k jobs; the formula must still land near 0.9.
      const load = gd / span / FLEET;
      expect(load).toBeGreaterThan(0.75);
      expect(load).toBeLessThan(1.1);
    });
  });

  it('honours a custom mix, models, fabric size and the gang cap', () => {
    const jobs = syntheticWorkload({
      seed: 3, jobs: 20_000, fleetGpus: 3_360, classMix: { spot: 1, internal: 1 }, models: ['H100-SXM', 'H200'], fabricGpus: 256,
    });
    expect(jobs.every((j) => j.jobClass === 'spot' || j.jobClass === 'internal')).toBe(true);
    expect(Math.abs(jobs.filter((j) => j.jobClass === 'spot').length / jobs.length - 0.5)).toBeLessThan(0.02);
    // 3,360 / 4 = 840 → gangs capped at 512.
    expect(Math.max(...jobs.map((j) => j.gpus))).toBe(512);
    expect(jobs.some((j) => j.placement === 'site')).toBe(true);
    expect(jobs.filter((j) => j.placement === 'fabric').every((j) => j.gpus <= 256)).toBe(true);
    const pinned = jobs.filter((j) => j.gpuModels.length === 1);
    expect(jobs.every((j) => j.gpuModels.length <= 1)).toBe(true);
    expect(Math.abs(pinned.length / jobs.length - 0.7)).toBeLessThan(0.02);
    expect(new Set(pinned.map((j) => j.gpuModels[0]))).toEqual(new Set(['H100-SXM', 'H200']));
    // A smaller fleet means fewer arrivals per second for the same load.
    expect(syntheticWorkloadMeans(3_360).meanInterarrivalS).toBeGreaterThan(syntheticWorkloadMeans(FLEET).meanInterarrivalS);
  });

  it('honours an explicit arrival rate', () => {
    const jobs = syntheticWorkload({ seed: 5, jobs: 10_000, fleetGpus: FLEET, meanInterarrivalS: 10 });
    const span = jobs[jobs.length - 1]!.submitS;
    expect(span / jobs.length).toBeGreaterThan(9.5);
    expect(span / jobs.length).toBeLessThan(10.5);
  });

  it('generates a million jobs', () => {
    const jobs = syntheticWorkload({ seed: 1, jobs: 1_000_000, fleetGpus: FLEET });
    expect(jobs).toHaveLength(1_000_000);
    expect(jobs[999_999]!.id).toBe('j999999');
  });

  it('rejects bad options', () => {
    expect(() => syntheticWorkload({ seed: 1, jobs: -1, fleetGpus: FLEET })).toThrow(RangeError);
    expect(() => syntheticWorkload({ seed: 1, jobs: 1, fleetGpus: 0 })).toThrow(RangeError);
    expect(() => syntheticWorkload({ seed: 1, jobs: 1, fleetGpus: FLEET, classMix: {} })).toThrow(/positive/);
    expect(() => syntheticWorkload({ seed: 1, jobs: 1, fleetGpus: FLEET, maxGangGpus: 20_000 })).toThrow(RangeError);
  });
});
