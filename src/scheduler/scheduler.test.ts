import { describe, expect, it } from 'vitest';
import { POLICIES, Scheduler, type SchedEvent, type SchedulerPolicy } from './scheduler.js';
import type { FleetLayout, JobSpec } from './scheduler-types.js';

/** Racks of GB200 NVL72 (18 trays × 4 GPUs) and/or fabrics of 8-GPU H100 nodes, one site. */
function fleet(o: { racks?: number; fabrics?: number; nodes?: number } = {}): FleetLayout {
  const L: FleetLayout = { sites: [{ id: 's', powerCapW: Infinity, pue: 1.2 }], halls: [{ id: 'h', siteId: 's', powerCapW: Infinity }], nodes: [] };
  for (let r = 0; r < (o.racks ?? 0); r++) {
    for (let t = 0; t < 18; t++) L.nodes.push({ id: `r${r}-t${String(t).padStart(2, '0')}`, model: 'GB200', gpus: 4, siteId: 's', hallId: 'h', fabricId: 'nvl', nvlinkId: `r${r}`, wattsPerGpu: 0 });
  }
  for (let f = 0; f < (o.fabrics ?? 0); f++) {
    for (let n = 0; n < (o.nodes ?? 4); n++) L.nodes.push({ id: `f${f}-n${n}`, model: 'H100', gpus: 8, siteId: 's', hallId: 'h', fabricId: `f${f}`, nvlinkId: `f${f}-n${n}`, wattsPerGpu: 0 });
  }
  return L;
}

let seq = 0;
const job = (o: Partial<JobSpec> & Pick<JobSpec, 'gpus' | 'jobClass'>): JobSpec => ({
  id: o.id ?? `j${seq++}`, submitS: 0, durationS: 36_000, gpuModels: [], placement: 'any', priceMicrosPerGpuHour: 1_000_000, ...o,
});

function sched(layout: FleetLayout, policy: Partial<SchedulerPolicy> = {}) {
  const s = new Scheduler(layout, { ...POLICIES['revenue']!, ...policy });
  const events: SchedEvent[] = [];
  s.onEvent((e) => events.push(e));
  return { s, events };
}

/** Rack r0: 36 GPUs free + spot job a36 (price p). Rack r1: 56 free + spot jobs b8, c8 at 1.2 $/h. */
function setup(s: Scheduler, p: number): void {
  s.submit(job({ id: 'a36', gpus: 36, jobClass: 'spot', placement: 'nvlink', priceMicrosPerGpuHour: p }));
  s.submit(job({ id: 'x36', gpus: 36, jobClass: 'spot', placement: 'nvlink', durationS: 10 })); // fills r0 (best fit)
  s.submit(job({ id: 'b8', gpus: 8, jobClass: 'spot', placement: 'nvlink', priceMicrosPerGpuHour: 1_200_000 }));
  s.submit(job({ id: 'c8', gpus: 8, jobClass: 'spot', placement: 'nvlink', priceMicrosPerGpuHour: 1_200_000 }));
  s.advance(10); // x36 ends
}

describe('preemption', () => {
  it('frees a whole NVLink rack with the least lost revenue', () => {
    const { s, events } = sched(fleet({ racks: 2 }), { noticeS: 0 });
    // Rack 0: one 36-GPU spot job. Rack 1: two 8-GPU spot jobs.
    setup(s, 1_000_000);
    expect(s.nodesOf('a36')[0]!.slice(0, 2)).not.toBe(s.nodesOf('b8')[0]!.slice(0, 2));
    expect(s.nodesOf('b8')[0]!.slice(0, 2)).toBe(s.nodesOf('c8')[0]!.slice(0, 2));
    s.submit(job({ id: 'od', gpus: 72, jobClass: 'on-demand', placement: 'nvlink' }));
    // 16 GPUs × 1.2 $ = 19.2 $/h lost beats 36 × 1.0 = 36 $/h.
    const victims = events.filter((e) => e.type === 'preempting').map((e) => e.job).sort();
    expect(victims).toEqual(['b8', 'c8']);
    expect(s.stateOf('a36')).toBe('running');
    expect(s.stateOf('od')).toBe('running');
    expect(new Set(s.nodesOf('od').map((n) => n.slice(0, 2))).size).toBe(1);
  });

  it('prefers one cheap victim over several when that loses less', () => {
    const { s, events } = sched(fleet({ racks: 2 }), { noticeS: 0 });
    setup(s, 500_000);
    s.submit(job({ id: 'od', gpus: 72, jobClass: 'on-demand', placement: 'nvlink' }));
    expect(events.filter((e) => e.type === 'preempting').map((e) => e.job)).toEqual(['a36']); // 18 $/h < 19.2 $/h
  });

  it('gives victims notice: preempting with a deadline, then preempted, and the gang starts then', () => {
    const { s, events } = sched(fleet({ fabrics: 1, nodes: 1 }), { noticeS: 300, requeuePreempted: false });
    s.submit(job({ id: 'spot', gpus: 8, jobClass: 'spot' }));
    s.submit(job({ id: 'od', gpus: 8, jobClass: 'on-demand', submitS: 100 }));
    expect(s.stateOf('spot')).toBe('preempting');
    expect(events.find((e) => e.type === 'preempting')).toMatchObject({ job: 'spot', by: 'od', deadlineS: 400 });
    expect(s.stateOf('od')).toBe('starting');
    s.advance(399);
    expect(s.stateOf('spot')).toBe('preempting');
    s.advance(400);
    expect(s.stateOf('spot')).toBe('preempted');
    expect(s.stateOf('od')).toBe('running');
    expect(events.find((e) => e.type === 'started' && e.job === 'od')).toMatchObject({ t: 400, waitS: 300 });
  });

  it('never preempts reserved or on-demand work', () => {
    const { s } = sched(fleet({ fabrics: 1, nodes: 2 }));
    s.submit(job({ id: 'r', gpus: 8, jobClass: 'reserved' }));
    s.submit(job({ id: 'o', gpus: 8, jobClass: 'on-demand' }));
    s.submit(job({ id: 'r2', gpus: 8, jobClass: 'reserved' }));
    expect(s.stateOf('r')).toBe('running');
    expect(s.stateOf('o')).toBe('running');
    expect(s.stateOf('r2')).toBe('queued');
  });

  it('ranks internal work by policy', () => {
    const rev = sched(fleet({ fabrics: 1, nodes: 1 }), { noticeS: 0 });
    rev.s.submit(job({ id: 'int', gpus: 8, jobClass: 'internal' }));
    rev.s.submit(job({ id: 'od', gpus: 8, jobClass: 'on-demand' }));
    expect(rev.s.stateOf('int')).not.toBe('running'); // preempted: internal fills only what is unsold
    expect(rev.s.stateOf('od')).toBe('running');
    const own = sched(fleet({ fabrics: 1, nodes: 1 }), { ...POLICIES['internal-first'], noticeS: 0 });
    own.s.submit(job({ id: 'int', gpus: 8, jobClass: 'internal' }));
    own.s.submit(job({ id: 'od', gpus: 8, jobClass: 'on-demand' }));
    expect(own.s.stateOf('int')).toBe('running');
    expect(own.s.stateOf('od')).toBe('queued');
  });
});

/**
 * 4 nodes × 8 GPUs, 120 s notice: reservation q (16 GPUs) runs 1,000–8,350 s, spot job sp holds the
 * other 16, and block r (`gpus`) starts at 8,400 — so r is placed while q still runs. Run to 8,400.
 */
function noticeWindow(gpus: number) {
  const out = sched(fleet({ fabrics: 1, nodes: 4 }), { noticeS: 120 });
  const { s } = out;
  s.submit(job({ id: 'q', gpus: 16, jobClass: 'reserved', startS: 1000, durationS: 7350 }));
  s.advance(1000);
  s.submit(job({ id: 'sp', gpus: 16, jobClass: 'spot', submitS: 1000, durationS: 20_000 }));
  s.submit(job({ id: 'r', gpus, jobClass: 'reserved', submitS: 1000, startS: 8400, durationS: 3600 }));
  s.advance(8400);
  return out;
}

describe('reservations and backfill', () => {
  it('a future block starts on time although spot work backfilled its GPUs', () => {
    const { s, events } = sched(fleet({ fabrics: 1, nodes: 4 }), { noticeS: 300 });
    s.submit(job({ id: 'block', gpus: 32, jobClass: 'reserved', startS: 7200, durationS: 3600, placement: 'fabric' }));
    expect(s.stateOf('block')).toBe('reserved');
    for (let i = 0; i < 4; i++) s.submit(job({ id: `spot${i}`, gpus: 8, jobClass: 'spot', submitS: 10 }));
    expect(s.runningGpus()).toBe(32); // idle reserved GPUs are backfilled
    s.advance(7200);
    expect(events.find((e) => e.type === 'started' && e.job === 'block')).toMatchObject({ t: 7200, waitS: 0 });
    expect(events.filter((e) => e.type === 'preempting')).toHaveLength(4);
  });

  it('a block whose GPUs free up inside its notice window still starts on time: spot gets notice early', () => {
    // 4 nodes × 8 GPUs. Reservation q (16 GPUs) runs until 8,350 s; spot fills the other 16.
    // Block r (all 32) starts at 8,400 with a 120 s notice: at 8,280 only q's end makes room, so
    // the spot job must get its notice then (not when q ends, which would start r at 8,470).
    const { s, events } = noticeWindow(32);
    const notice = events.find((e) => e.type === 'preempting' && e.job === 'sp');
    expect(notice).toMatchObject({ t: 8280, by: 'r', deadlineS: 8400 });
    expect(events.find((e) => e.type === 'started' && e.job === 'r')).toMatchObject({ t: 8400, gpus: 32 });
    expect(s.stats.reservationsDelayed).toBe(0);
  });

  it('a block waiting for work that ends inside its notice window preempts nothing', () => {
    const { s, events } = noticeWindow(16);
    expect(events.filter((e) => e.type === 'preempting')).toEqual([]);
    expect(events.find((e) => e.type === 'started' && e.job === 'r')).toMatchObject({ t: 8400 });
    expect(s.holdings().map((h) => h.id).sort()).toEqual(['r', 'sp']);
  });

  it('a block short of power (not GPUs) until earlier work ends waits for it instead of passing the cap', () => {
    // Hall cap 8 kW, 1 kW per GPU: a 1-GPU reservation runs 600–660 s; the 8-GPU block at 721 s
    // is placed early (601 s) only as far as the power allows, so it takes its GPUs at 660 s.
    const L: FleetLayout = { sites: [{ id: 's', powerCapW: 12_000, pue: 1.2 }], halls: [{ id: 'h', siteId: 's', powerCapW: 8000 }], nodes: [] };
    for (const n of ['n0', 'n1']) L.nodes.push({ id: n, model: 'H100', gpus: 8, siteId: 's', hallId: 'h', fabricId: 'f', nvlinkId: n, wattsPerGpu: 1000 });
    const { s, events } = sched(L, { noticeS: 120 });
    s.submit(job({ id: 'big', gpus: 8, jobClass: 'reserved', placement: 'nvlink', startS: 721, durationS: 60 }));
    s.submit(job({ id: 'one', gpus: 1, jobClass: 'reserved', placement: 'nvlink', startS: 600, durationS: 60 }));
    for (let t = s.nextEventTime(); Number.isFinite(t); t = s.nextEventTime()) {
      s.advance(t);
      expect(s.index.hallUsedW[0]).toBeLessThanOrEqual(8000);
    }
    expect(events.find((e) => e.type === 'started' && e.job === 'big')).toMatchObject({ t: 721 });
  });

  it('refuses a block beyond committed capacity, and keeps on-demand from eating a block', () => {
    const { s } = sched(fleet({ fabrics: 1, nodes: 2 }));
    s.submit(job({ id: 'b1', gpus: 16, jobClass: 'reserved', startS: 7200, durationS: 3600 }));
    expect(s.submit(job({ id: 'b2', gpus: 8, jobClass: 'reserved', startS: 9000, durationS: 3600 }))).toBe('rejected');
    // On-demand that would still run at 7200 would take the block's GPUs: it waits.
    expect(s.submit(job({ id: 'long', gpus: 8, jobClass: 'on-demand', durationS: 10_000 }))).toBe('queued');
    // One that ends before the block starts runs now.
    expect(s.submit(job({ id: 'short', gpus: 8, jobClass: 'on-demand', durationS: 3000 }))).toBe('running');
  });

  it('EASY backfill: a short job jumps the queue, a long one does not', () => {
    const { s } = sched(fleet({ fabrics: 1, nodes: 2 }), { preemption: false });
    s.submit(job({ id: 'run', gpus: 8, jobClass: 'on-demand', durationS: 1000 }));
    s.submit(job({ id: 'head', gpus: 16, jobClass: 'on-demand', durationS: 1000, submitS: 1 }));
    expect(s.stateOf('head')).toBe('queued');
    expect(s.submit(job({ id: 'long', gpus: 8, jobClass: 'on-demand', durationS: 5000, submitS: 2 }))).toBe('queued');
    expect(s.submit(job({ id: 'short', gpus: 8, jobClass: 'on-demand', durationS: 500, submitS: 3 }))).toBe('running');
    s.advance(1000);
    expect(s.stateOf('head')).toBe('running');
    expect(s.stateOf('long')).toBe('queued');
  });
});

describe('failures', () => {
  it('re-places a job from a failed node, or fails it when nothing fits', () => {
    const { s, events } = sched(fleet({ fabrics: 1, nodes: 2 }));
    s.submit(job({ id: 'a', gpus: 8, jobClass: 'on-demand', placement: 'nvlink' }));
    const node = s.nodesOf('a')[0]!;
    s.nodeDown(node);
    expect(s.stateOf('a')).toBe('running');
    expect(s.nodesOf('a')[0]).not.toBe(node);
    expect(events.some((e) => e.type === 'replaced' && e.job === 'a')).toBe(true);
    s.nodeDown(s.nodesOf('a')[0]!);
    expect(s.stateOf('a')).toBe('failed');
    expect(events.at(-1)).toMatchObject({ type: 'failed', job: 'a' });
    expect(s.index.freeOf()).toBe(0);
    s.nodeUp(node);
    expect(s.index.freeOf()).toBe(8);
  });
});

describe('determinism', () => {
  it('replays identically', () => {
    const run = () => {
      const { s, events } = sched(fleet({ racks: 1, fabrics: 2, nodes: 3 }));
      let n = 0;
      for (let t = 0; t < 200; t++) {
        const classes = ['spot', 'on-demand', 'internal', 'reserved'] as const;
        s.submit({ id: `x${n++}`, submitS: t * 60, durationS: 600 + ((t * 7919) % 5000), gpuModels: [], gpus: 1 + ((t * 31) % 16), placement: (['any', 'nvlink', 'fabric'] as const)[t % 3]!, jobClass: classes[t % 4]!, priceMicrosPerGpuHour: 1_000_000, ...(t % 4 === 3 ? { startS: t * 60 + 3600 } : {}) });
      }
      s.advance(1e6);
      return events;
    };
    expect(run()).toEqual(run());
  });
});
