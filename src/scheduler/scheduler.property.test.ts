/**
 * Scheduler invariants over random fleets and request streams (fast-check):
 * no GPU owned twice, power caps never exceeded, reserved work never preempted, gangs all or
 * nothing and inside their domain, a future reservation never delayed by backfill, and the same
 * input replays to the same decisions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLICIES, Scheduler, type SchedEvent } from './scheduler.js';
import type { FleetLayout, GangLevel, JobClass, JobSpec } from './scheduler-types.js';

const arbLayout = (powerBound: boolean): fc.Arbitrary<FleetLayout> => fc.record({
  halls: fc.integer({ min: 1, max: 2 }),
  fabrics: fc.integer({ min: 1, max: 3 }),
  nodes: fc.integer({ min: 1, max: 4 }),
  racks: fc.integer({ min: 0, max: 1 }),
  capGpus: fc.integer({ min: 8, max: 120 }),
}).map((o) => {
  const w = 1000;
  const L: FleetLayout = { sites: [{ id: 's', powerCapW: powerBound ? o.capGpus * w * 1.5 : Infinity, pue: 1.2 }], halls: [], nodes: [] };
  for (let h = 0; h < o.halls; h++) {
    L.halls.push({ id: `h${h}`, siteId: 's', powerCapW: powerBound ? o.capGpus * w : Infinity });
    for (let f = 0; f < o.fabrics; f++) {
      for (let n = 0; n < o.nodes; n++) L.nodes.push({ id: `h${h}f${f}n${n}`, model: 'H100', gpus: 8, siteId: 's', hallId: `h${h}`, fabricId: `h${h}f${f}`, nvlinkId: `h${h}f${f}n${n}`, wattsPerGpu: w });
    }
    for (let r = 0; r < o.racks; r++) {
      for (let t = 0; t < 18; t++) L.nodes.push({ id: `h${h}r${r}t${t}`, model: 'GB200', gpus: 4, siteId: 's', hallId: `h${h}`, fabricId: `h${h}nvl`, nvlinkId: `h${h}r${r}`, wattsPerGpu: w });
    }
  }
  return L;
});

const arbJobs = (classes: JobClass[], reservedAny: boolean): fc.Arbitrary<JobSpec[]> => fc.array(fc.record({
  gap: fc.integer({ min: 0, max: 900 }),
  durationS: fc.integer({ min: 60, max: 20_000 }),
  gpus: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(8, 16, 24, 32, 72)),
  placement: fc.constantFrom<GangLevel>('nvlink', 'fabric', 'site', 'any'),
  jobClass: fc.constantFrom(...classes),
  lead: fc.integer({ min: 600, max: 30_000 }),
  price: fc.integer({ min: 600_000, max: 3_000_000 }),
}), { minLength: 1, maxLength: 60 }).map((rows) => {
  let t = 0;
  return rows.map((r, i): JobSpec => {
    t += r.gap;
    const reserved = r.jobClass === 'reserved';
    // With reservedAny, reservations take whole 8-GPU nodes: partial reservations can fragment
    // each other (a topology limit admission does not model), which is not what this property is about.
    const gpus = reserved && reservedAny ? Math.ceil(r.gpus / 8) * 8 : r.gpus;
    return {
      id: `j${i}`, submitS: t, durationS: r.durationS, gpuModels: [], gpus,
      placement: reserved && reservedAny ? 'any' : r.placement, jobClass: r.jobClass, priceMicrosPerGpuHour: r.price,
      ...(reserved ? { startS: t + r.lead } : {}),
    };
  });
});

function popcount(m: number): number {
  let c = 0;
  for (let v = m; v; v &= v - 1) c++;
  return c;
}

function run(layout: FleetLayout, jobs: JobSpec[], failNode?: number): { s: Scheduler; events: SchedEvent[] } {
  const s = new Scheduler(layout, { ...POLICIES['revenue']!, noticeS: 120 });
  const events: SchedEvent[] = [];
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const nodeIdx = new Map(layout.nodes.map((n, i) => [n.id, i]));
  s.onEvent((e) => {
    events.push(e);
    if (e.type === 'preempting') expect(byId.get(e.job)!.jobClass, 'reserved/on-demand work is never preempted').not.toMatch(/reserved|on-demand/);
    if (e.type === 'started') {
      const j = byId.get(e.job)!;
      expect(e.gpus).toBe(j.gpus);
      const nodes = e.nodes.map((n) => layout.nodes[nodeIdx.get(n)!]!);
      const same = (k: 'nvlinkId' | 'fabricId' | 'siteId') => new Set(nodes.map((n) => n[k])).size;
      if (j.placement === 'nvlink') expect(same('nvlinkId')).toBe(1);
      if (j.placement === 'fabric') expect(same('fabricId')).toBe(1);
      if (j.placement === 'site') expect(same('siteId')).toBe(1);
    }
  });
  const check = () => {
    // No GPU owned twice, and the index agrees with the owners; power within caps.
    const owned = new Uint8Array(layout.nodes.length);
    let gpus = 0;
    for (const h of s.holdings()) {
      const p = h.placement;
      let g = 0;
      p.nodes.forEach((n, i) => {
        expect(owned[n]! & p.masks[i]!).toBe(0);
        owned[n]! |= p.masks[i]!;
        g += popcount(p.masks[i]!);
      });
      gpus += g;
    }
    layout.nodes.forEach((n, i) => expect(s.index.nodeFree[i]).toBe(((1 << n.gpus) - 1) & ~owned[i]!));
    layout.halls.forEach((h, i) => expect(s.index.hallUsedW[i]).toBeLessThanOrEqual(h.powerCapW));
    layout.sites.forEach((st, i) => expect(s.index.siteUsedW[i]).toBeLessThanOrEqual(st.powerCapW));
    return gpus;
  };
  jobs.forEach((j, i) => {
    s.submit(j);
    check();
    if (failNode !== undefined && i === Math.floor(jobs.length / 2)) {
      s.nodeDown(layout.nodes[failNode % layout.nodes.length]!.id);
      check();
    }
  });
  for (let guard = 0; guard < 100_000 && Number.isFinite(s.nextEventTime()); guard++) {
    s.advance(s.nextEventTime());
    check();
  }
  return { s, events };
}

/**
 * The on-time property runs on a fixed seed so CI is reproducible; PROPERTY_SEED and PROPERTY_RUNS
 * explore further (the race it once found — a block whose GPUs free up inside its notice window —
 * is fixed by claims, and has unit tests in scheduler.test.ts).
 */
const RESERVATION_SEED = process.env['PROPERTY_SEED'] ? Number(process.env['PROPERTY_SEED']) : 20261126;
const RESERVATION_RUNS = process.env['PROPERTY_RUNS'] ? Number(process.env['PROPERTY_RUNS']) : 150;

describe('scheduler properties', () => {
  it('never double-books, never passes a power cap, never preempts reserved or on-demand, keeps gangs whole', () => {
    fc.assert(fc.property(arbLayout(true), arbJobs(['reserved', 'on-demand', 'internal', 'spot'], false), fc.option(fc.nat()), (layout, jobs, fail) => {
      run(layout, jobs, fail ?? undefined);
    }), { numRuns: 150 });
  });

  it('starts every admitted whole-node reservation on time when the rest is backfill (spot, internal)', () => {
    fc.assert(fc.property(arbLayout(false), arbJobs(['reserved', 'internal', 'spot'], true), (layout, jobs) => {
      const { events } = run(layout, jobs);
      for (const r of events.filter((e): e is Extract<SchedEvent, { type: 'reserved' }> => e.type === 'reserved')) {
        const started = events.find((e) => e.type === 'started' && e.job === r.job);
        expect(started, `reservation ${r.job}`).toBeDefined();
        expect(started!.t).toBe(r.startS);
      }
    }), { numRuns: RESERVATION_RUNS, seed: RESERVATION_SEED });
  });

  it('replays deterministically', () => {
    fc.assert(fc.property(arbLayout(true), arbJobs(['reserved', 'on-demand', 'internal', 'spot'], false), (layout, jobs) => {
      expect(run(layout, jobs).events).toEqual(run(layout, jobs).events);
    }), { numRuns: 40 });
  });
});
