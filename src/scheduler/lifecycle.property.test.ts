/**
 * Lifecycle properties of the engine, replayed by the simulator on random power-capped fleets
 * with every class of work (reserved blocks ahead, on-demand, spot, internal) under both internal
 * policies. Everything is checked from the simulator's trace of placements and cuts against the
 * layout, never from the engine's own index:
 *
 * - a GPU is never in two overlapping holds;
 * - no hall or site ever draws more than its cap (facility watts of the GPUs held, summed here);
 * - gangs stay whole: same-nvlink / same-fabric / same-site GPUs share that domain, and the model
 *   is one the job allows;
 * - every admitted reservation booked at least the notice ahead starts exactly on time and runs
 *   its full length; on-demand work is never cut once placed;
 * - only preemptible work is cut (spot; internal unless internal work comes first), and a cut gives
 *   the notice (a hold never ends sooner than notice after the cut).
 *
 * CI runs a fixed set of seeds. Explore others: `npm run explore -- lifecycle [runs]` (random
 * seeds, printed) or `LIFECYCLE_SEED=<n> LIFECYCLE_RUNS=<n> npx vitest run src/scheduler/lifecycle.property.test.ts`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { syntheticFleetLayout } from './fleet-layout.js';
import { POLICIES, simulate, type SimTraceEvent } from './simulator.js';
import type { FleetLayout, GangLevel, JobClass, JobSpec } from './scheduler-types.js';

const NOTICE_S = 300;
const RUNS = Number(process.env['LIFECYCLE_RUNS'] ?? 12);
/**
 * Seed and runs. 782819735's 15th run caught a victim spread over two sites that was cut to free
 * one site's power and then spared as if it were in the other (the site drew 3.7% over its cap).
 */
const SEEDS: [number, number][] = process.env['LIFECYCLE_SEED']
  ? [[Number(process.env['LIFECYCLE_SEED']), RUNS]]
  : [[20261126, RUNS], [7, RUNS], [1234567, RUNS], [782819735, 16]];

interface Case {
  layout: FleetLayout;
  jobs: JobSpec[];
  internalFirst: boolean;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  gpus: fc.constantFrom(288, 576),
  nvl72Share: fc.constantFrom(0, 0.25, 0.5),
  cap: fc.double({ min: 0.35, max: 0.95, noNaN: true }),
  internalFirst: fc.boolean(),
  jobs: fc.array(fc.record({
    gap: fc.integer({ min: 0, max: 240 }),
    cls: fc.constantFrom<JobClass>('reserved', 'on-demand', 'spot', 'internal'),
    gpus: fc.constantFrom(1, 2, 3, 4, 8, 16, 32, 72),
    level: fc.constantFrom<GangLevel>('nvlink', 'fabric', 'site', 'any'),
    durationS: fc.integer({ min: 60, max: 6 * 3600 }),
    leadS: fc.integer({ min: NOTICE_S, max: 4 * 3600 }),
    price: fc.integer({ min: 600_000, max: 4_000_000 }),
    pin: fc.boolean(),
  }), { minLength: 30, maxLength: 120 }),
}).map(({ gpus, nvl72Share, cap, internalFirst, jobs }) => {
  const layout = syntheticFleetLayout({ gpus, sites: 2, hallsPerSite: 2, fabricGpus: 144, nvl72Share, powerCapFraction: cap });
  const models = [...new Set(layout.nodes.map((n) => n.model))];
  let t = 0;
  const out: JobSpec[] = jobs.map((j, i) => {
    t += j.gap;
    const gpusAsked = j.level === 'nvlink' ? Math.min(j.gpus, 8) : j.gpus;
    return {
      id: `j${i}`, submitS: t, durationS: j.durationS, gpuModels: j.pin ? [models[i % models.length]!] : [], gpus: gpusAsked,
      placement: j.level, jobClass: j.cls, priceMicrosPerGpuHour: j.price,
      ...(j.cls === 'reserved' ? { startS: t + j.leadS } : {}),
    };
  });
  return { layout, jobs: out, internalFirst };
});

/** What one case exercised: cuts (preemptions), reservations placed, the highest draw / cap seen. */
interface Seen { cuts: number; reservations: number; capShare: number }

function check(c: Case): Seen {
  const seen: Seen = { cuts: 0, reservations: 0, capShare: 0 };
  const policy = c.internalFirst ? POLICIES['internal-first']! : POLICIES['revenue']!;
  const trace: SimTraceEvent[] = [];
  simulate({ layout: c.layout, jobs: c.jobs, policy, trace: (e) => trace.push(e) });

  const nodeOf = new Map(c.layout.nodes.map((n) => [n.id, n]));
  const node = (uuid: string) => nodeOf.get(uuid.slice(0, uuid.lastIndexOf('/')))!;
  const segs = new Map<string, { id: string; job: JobSpec; gpus: readonly string[]; startS: number; untilS: number; placedAt: number }>();
  for (const e of trace) {
    if (e.type === 'placed') {
      segs.set(e.id, { id: e.id, job: e.job, gpus: e.gpus, startS: e.startS, untilS: e.untilS, placedAt: e.t });
      // Gang and model rules, from the layout.
      const ns = e.gpus.map(node);
      expect(e.gpus.length).toBe(e.job.gpus);
      expect(new Set(e.gpus).size).toBe(e.gpus.length);
      expect(new Set(ns.map((n) => n.model)).size).toBe(1);
      if (e.job.gpuModels.length) expect(e.job.gpuModels).toContain(ns[0]!.model);
      const key = { nvlink: 'nvlinkId', fabric: 'fabricId', site: 'siteId', any: null }[e.job.placement] as 'nvlinkId' | 'fabricId' | 'siteId' | null;
      if (key) expect(new Set(ns.map((n) => n[key])).size).toBe(1);
    } else {
      const s = segs.get(e.id)!;
      // Only preemptible work is cut, and with notice.
      expect(s.job.jobClass === 'spot' || (s.job.jobClass === 'internal' && !c.internalFirst)).toBe(true);
      expect(e.untilS).toBeGreaterThanOrEqual(Math.min(s.untilS, e.t + NOTICE_S));
      s.untilS = e.untilS;
      seen.cuts++;
    }
  }
  const all = [...segs.values()];
  for (const s of all) {
    // Reservations on time and whole; on-demand never cut.
    if (s.job.jobClass === 'reserved') {
      seen.reservations++;
      expect(s.id).toBe(s.job.id);
      expect(s.startS).toBe(s.job.startS);
      expect(s.untilS - s.startS).toBeCloseTo(s.job.durationS, 6);
    }
    if (s.job.jobClass === 'on-demand') expect(s.untilS - s.startS).toBeCloseTo(s.job.durationS, 6);
  }
  // No GPU in two overlapping holds.
  const byGpu = new Map<string, [number, number, string][]>();
  for (const s of all) {
    if (s.untilS <= s.startS) continue;
    for (const g of s.gpus) {
      let l = byGpu.get(g);
      if (!l) byGpu.set(g, (l = []));
      l.push([s.startS, s.untilS, s.id]);
    }
  }
  for (const [g, l] of byGpu) {
    l.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < l.length; i++) if (l[i]![0] < l[i - 1]![1] - 1e-9) throw new Error(`GPU ${g} double-booked: ${l[i - 1]![2]} and ${l[i]![2]}`);
  }
  // Power: at every start, each hall's and site's draw is within its cap.
  const hallCap = new Map(c.layout.halls.map((h) => [h.id, h.powerCapW]));
  const siteCap = new Map(c.layout.sites.map((s) => [s.id, s.powerCapW]));
  for (const t of new Set(all.map((s) => s.startS))) {
    const hall = new Map<string, number>();
    const site = new Map<string, number>();
    for (const s of all) {
      if (!(s.startS <= t && t < s.untilS)) continue;
      for (const g of s.gpus) {
        const n = node(g);
        hall.set(n.hallId, (hall.get(n.hallId) ?? 0) + n.wattsPerGpu);
        site.set(n.siteId, (site.get(n.siteId) ?? 0) + n.wattsPerGpu);
      }
    }
    for (const [h, w] of hall) {
      if (w > hallCap.get(h)! + 1e-6) throw new Error(`hall ${h} draws ${w} W > cap ${hallCap.get(h)} W at ${t} s`);
      seen.capShare = Math.max(seen.capShare, w / hallCap.get(h)!);
    }
    for (const [si, w] of site) {
      if (w > siteCap.get(si)! + 1e-6) throw new Error(`site ${si} draws ${w} W > cap ${siteCap.get(si)} W at ${t} s`);
      seen.capShare = Math.max(seen.capShare, w / siteCap.get(si)!);
    }
  }
  return seen;
}

describe('engine lifecycle properties (simulated, power-capped, every class)', () => {
  for (const [seed, runs] of SEEDS) {
    it(`holds on random fleets and workloads (seed ${seed})`, () => {
      const total: Seen = { cuts: 0, reservations: 0, capShare: 0 };
      fc.assert(fc.property(arbCase, (c) => {
        const s = check(c);
        total.cuts += s.cuts;
        total.reservations += s.reservations;
        total.capShare = Math.max(total.capShare, s.capShare);
        // No shrinking: each shrink step replays a whole simulation, so a failure took minutes to
        // report; the seed and the run's case are printed and replay deterministically.
      }), { seed, numRuns: runs, endOnFailure: true });
      // The runs exercised what they claim to: preemptions, reservations, and caps that bind.
      expect(total.cuts).toBeGreaterThan(0);
      expect(total.reservations).toBeGreaterThan(0);
      expect(total.capShare).toBeGreaterThan(0.9);
    });
  }

  it('the property can fail: a reservation moved by preemption would be caught', () => {
    // A fleet full of long spot work, and a block booked less than the notice ahead: preemption
    // must start it at the end of the notice, so it starts late — exactly what check() rejects.
    const layout = syntheticFleetLayout({ gpus: 288, sites: 1, hallsPerSite: 1, fabricGpus: 144, nvl72Share: 0, powerCapFraction: 1 });
    const spot: JobSpec[] = Array.from({ length: 36 }, (_, i) => ({
      id: `s${i}`, submitS: 0, durationS: 86_400, gpuModels: [], gpus: 8, placement: 'nvlink', jobClass: 'spot', priceMicrosPerGpuHour: 1_000_000,
    }));
    const late: JobSpec = { id: 'r', submitS: 10, startS: 20, durationS: 3600, gpuModels: [], gpus: 8, placement: 'nvlink', jobClass: 'reserved', priceMicrosPerGpuHour: 3_000_000 };
    expect(() => check({ layout, jobs: [...spot, late], internalFirst: false })).toThrow();
  });
});
