/**
 * Preemption regressions found by an outside tester (both reproduced through the API on the demo
 * fleet), checked here on the engine with victims' costs counted from the decisions themselves:
 *
 * 1. GPUs that free up before the notice ends (an earlier preemption's victim leaving) serve the
 *    next request: it starts then and cuts no one (it used to cut another 16-GPU lease each time).
 * 2. A small gang cuts the cheapest victim that makes room: one 1-GPU spot lease, not a 3-GPU one
 *    at the same price per GPU (the prefix search only tried larger victims first).
 */
import { describe, expect, it } from 'vitest';
import { expandFleetSpec, type FleetSpec } from '../fleet/index.js';
import { LeaseEngine } from './engine.js';
import type { LeaseClass, LeaseRequest, Placement } from './lease-types.js';
import { DEFAULT_POLICY } from './rules.js';

const H = 3_600_000;
const NOTICE = DEFAULT_POLICY.noticeMs;
const spec: FleetSpec = {
  sites: [{
    id: 's1', region: 'r1', powerCapMw: 100, pue: 1.25,
    halls: [{ id: 'h1', powerCapMw: 100, fabrics: [{ id: 'f1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 4 }] }] }],
  }],
};
const req = (gpuCount: number, leaseClass: LeaseClass, placement: Placement, hours: number): LeaseRequest => ({
  tenantId: 't', gpuModel: 'H100-SXM', gpuCount, leaseClass, placement, region: null, startMs: 0, endMs: hours * H, queueUntilMs: null,
});
const lost = (d: { victimMeta: { priceMicrosPerGpuHour: bigint; gpuCount: number }[] }): bigint =>
  d.victimMeta.reduce((a, v) => a + v.priceMicrosPerGpuHour * BigInt(v.gpuCount), 0n);

describe('preemption regressions', () => {
  it('uses GPUs freed before the notice ends instead of cutting another lease', () => {
    const e = new LeaseEngine(expandFleetSpec(spec));
    for (let i = 0; i < 2; i++) e.decide(req(16, 'spot', 'same-fabric', 8), 0);
    const first = e.decide(req(1, 'on-demand', 'any', 2), 0);
    expect(first.victims.map((v) => v.gpuUuids.length)).toEqual([16]);
    expect(first.lease.startMs).toBe(NOTICE);
    // 15 GPUs of the cut lease are free from the deadline on: the next requests take them.
    for (let i = 0; i < 3; i++) {
      const next = e.decide(req(1, 'on-demand', 'any', 2), 0);
      expect(next.victims, `request ${i + 2}`).toEqual([]);
      expect(next.lease.startMs).toBe(NOTICE);
      expect(next.lease.gpus).toHaveLength(1);
    }
  });

  it('cuts one 1-GPU lease for a 1-GPU gang, not a 3-GPU lease at the same price per GPU', () => {
    const e = new LeaseEngine(expandFleetSpec(spec));
    for (let i = 0; i < 16; i++) e.decide(req(i % 2 === 0 ? 3 : 1, 'spot', 'same-nvlink', 8), 0);
    for (const placement of ['any', 'same-nvlink', 'same-fabric', 'same-site'] as const) {
      const d = e.decide(req(1, 'on-demand', placement, 1), 0, { dry: true });
      expect(d.victimMeta.map((v) => v.gpuCount), placement).toEqual([1]);
      expect(lost(d)).toBe(d.victimMeta[0]!.priceMicrosPerGpuHour);
    }
    // A 3-GPU gang: one 3-GPU lease (as cheap as three 1-GPU ones, and fewer cut).
    const three = e.decide(req(3, 'on-demand', 'same-nvlink', 1), 0, { dry: true });
    expect(three.victimMeta.map((v) => v.gpuCount)).toEqual([3]);
  });
});
