/**
 * EnginePolicy `placement`: best fit (the default, the contract suite's rule) or FGD over the gang
 * sizes the engine has been asked for. Checked on a two-node fleet where they differ.
 */
import { describe, expect, it } from 'vitest';
import { expandFleetSpec, type FleetSpec } from '../fleet/index.js';
import { LeaseEngine } from './engine.js';
import type { LeaseRequest } from './lease-types.js';
import { DEFAULT_POLICY, type EnginePlacement } from './rules.js';

const H = 3_600_000;
const spec: FleetSpec = {
  sites: [{
    id: 's1', region: 'r1', powerCapMw: 100, pue: 1.25,
    halls: [{ id: 'h1', powerCapMw: 100, fabrics: [{ id: 'f1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 2 }] }] }],
  }],
};
const req = (gpuCount: number): LeaseRequest => ({
  tenantId: 't', gpuModel: 'H100-SXM', gpuCount, leaseClass: 'on-demand', placement: 'same-nvlink', region: null, startMs: 0, endMs: H, queueUntilMs: null,
});

function run(placement: EnginePlacement): { nodes: string[]; engine: LeaseEngine } {
  const engine = new LeaseEngine(expandFleetSpec(spec), { ...DEFAULT_POLICY, placement });
  const nodeOf = (n: number): string => engine.decide(req(n), 0).lease.gpus[0]!.nodeId;
  // 3 GPUs on an empty fleet: node order (both policies). Then 4 GPUs: best fit takes the node
  // with 5 free (leaving 1); FGD over the sizes asked so far {3, 4} keeps it able to take a 3- or
  // 4-GPU gang (F(1) = 1 > F(5) = 0) and takes the empty node (F(4) = F(8) = 0).
  return { nodes: [nodeOf(3), nodeOf(4)], engine };
}

describe('engine placement policy', () => {
  it('best fit by default, FGD by name', () => {
    const bf = run('bestfit').nodes;
    const fgd = run('fgd').nodes;
    expect(bf[1]).toBe(bf[0]);
    expect(fgd[0]).toBe(bf[0]);
    expect(fgd[1]).not.toBe(fgd[0]);
  });

  it('keeps the rules: what cannot fit anywhere is refused under either policy', () => {
    for (const p of ['bestfit', 'fgd'] as const) {
      const { engine } = run(p);
      expect(() => engine.decide(req(9), 0)).toThrow(/largest request that fits is/);
    }
  });
});
