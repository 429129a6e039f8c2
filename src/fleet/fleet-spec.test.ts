import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { validateOrThrow } from '../shared/validation.js';
import { diffFleet, planIsEmpty } from './fleet-diff.js';
import { FleetSpecSchema, expandFleetSpec, type FleetSpec } from './fleet-spec.js';
import { fleetCapacity } from './fleet-capacity.js';
import { Topology } from './topology.js';

const spec = (): FleetSpec => ({
  sites: [{
    id: 'site', region: 'r', powerCapMw: 0.5, pue: 1.25,
    powerSources: [{ id: 'grid', kind: 'grid', capacityMw: 1, priceMicrosPerMwh: 50_000_000 }],
    halls: [{ id: 'hall', powerCapMw: 1, fabrics: [
      { id: 'ib', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 40 }] },
      { id: 'nvl', kind: 'infiniband', nodeGroups: [{ gpuModel: 'GB200', count: 1 }] },
    ] }],
  }],
});

describe('expandFleetSpec', () => {
  it('expands node groups and NVL72 racks deterministically', () => {
    const a = expandFleetSpec(spec());
    const b = expandFleetSpec(spec());
    expect(a).toEqual(b);
    expect(a.nodes).toHaveLength(40 + 18);
    expect(a.gpus).toHaveLength(320 + 72);
    expect(a.nvlinks.find((n) => n.id === 'nvl-r01')).toMatchObject({ kind: 'nvl72', gpuCount: 72 });
    expect(a.gpus[0]!.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(planIsEmpty(diffFleet(a, b))).toBe(true);
  });

  it('names the field of a duplicate id', () => {
    const s = spec();
    s.sites[0]!.halls[0]!.fabrics[1]!.id = 'ib';
    expect(() => expandFleetSpec(s)).toThrow(/sites\[0\]\.halls\[0\]\.fabrics\[1\]\.id: id "ib" is already used/);
  });

  it('rejects unknown node ids in nodeStates', () => {
    const s = spec();
    s.nodeStates = { nope: 'down' };
    expect(() => expandFleetSpec(s)).toThrow(DomainError);
  });

  it('schema errors name the field', () => {
    const bad = { sites: [{ id: 'x', region: 'r', powerCapMw: -1, pue: 1.2, halls: [] }] };
    expect(() => validateOrThrow(FleetSpecSchema, bad)).toThrow(/sites\[0\]\.powerCapMw/);
    const unknown = { sites: [], colour: 'red' };
    expect(() => validateOrThrow(FleetSpecSchema, unknown)).toThrow(/colour: is not a known field/);
  });
});

describe('fleetCapacity', () => {
  it('counts installed GPUs against what the power cap can run', () => {
    const f = expandFleetSpec(spec());
    const [site] = fleetCapacity(f, new Topology(f));
    // H100 1,594 W × 320 + GB200 1,200 W × (132 kW / 86.4 kW) × 1.25 = 2,292 W × 72
    expect(site!.installedGpus).toBe(392);
    expect(site!.fullLoadW).toBe(320 * 1594 + 72 * 2292);
    expect(site!.halls[0]!.runnableGpus).toBe(392); // hall cap 1 MW > 675 kW
    // Site cap 0.5 MW < 675 kW full load: only 500/675 of the GPUs can run at once.
    expect(site!.runnableGpus).toBe(Math.floor((392 * 500_000) / (320 * 1594 + 72 * 2292)));
  });
});
