/**
 * TelemetryState and the wire validator as properties: any input is either a typed heartbeat or a
 * counted refusal (never a throw); after any sequence of heartbeats, refusals and forgets, the
 * power kept incrementally per hall and site equals the sum recomputed from each node's latest
 * samples (recomputed here from the heartbeats the test sent, not from the state's own sums).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateHeartbeat, WireError, type Heartbeat } from '../agent/agent-wire.js';
import { expandFleetSpec, syntheticGpuUuid, type FleetSpec } from '../fleet/index.js';
import { REJECT_REASONS, TelemetryState } from './telemetry-state.js';

const spec: FleetSpec = {
  sites: [{
    id: 's1', region: 'r1', powerCapMw: 10, pue: 1.25,
    halls: [
      { id: 'h1', powerCapMw: 5, fabrics: [{ id: 'f1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 3 }] }] },
      { id: 'h2', powerCapMw: 5, fabrics: [{ id: 'f2', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 2 }] }] },
    ],
  }],
};
const fleet = expandFleetSpec(spec);
const nodeIds = fleet.nodes.map((n) => n.id);

const hb = (nodeId: string, seq: number, powers: (number | null)[]): Heartbeat => ({
  v: 1, nodeId, agentId: `agt_${nodeId}`, seq, sentAtMs: 1, intervalMs: 10_000, adminState: 'none', discoveryError: null,
  gpus: powers.map((p, i) => ({
    uuid: syntheticGpuUuid(nodeId, i), index: i, powerW: p, powerLimitW: 700, utilizationPct: 50, memoryUsedMiB: 1, memoryTotalMiB: 2,
    temperatureC: 40, eccUncorrected: 0, xids: [], recoveryAction: 'None',
  })),
});

describe('validateHeartbeat', () => {
  it('any JSON is a heartbeat or a WireError naming a field', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      try {
        validateHeartbeat(v);
        return true;
      } catch (err) {
        return err instanceof WireError && err.field.length > 0;
      }
    }), { seed: 12, numRuns: 500 });
  });

  it('a valid heartbeat with one field broken is refused naming that field; a reading of the right type is never refused', () => {
    const good = hb(nodeIds[0]!, 1, [100, 200, 300, 400, 500, 600, 650, 700]);
    expect(validateHeartbeat(JSON.parse(JSON.stringify(good)))).toEqual(good);
    const readings = ['powerW', 'temperatureC', 'utilizationPct'];
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.constantFrom(...readings, 'index', 'uuid', 'xids'), fc.oneof(fc.constant(-1), fc.constant('x'), fc.constant(1e9), fc.constant([-3]), fc.constant([1.5])),
      (i, field, bad) => {
        const h = JSON.parse(JSON.stringify(good));
        h.gpus[i][field] = bad;
        try {
          validateHeartbeat(h);
          // A number where a reading goes is the structure's business only by its type: its range is
          // the health rule's (readingFaults), so −1 W or 1e9 W costs the field, not the heartbeat.
          // Likewise an XID code that is an integer but no XID (−3).
          return (readings.includes(field) && typeof bad === 'number') || (field === 'xids' && Array.isArray(bad) && bad.every(Number.isInteger));
        } catch (err) {
          return err instanceof WireError && err.field.startsWith(`gpus[${i}]`);
        }
      }), { seed: 12, numRuns: 300 });
  });
});

describe('TelemetryState', () => {
  it('keeps hall and site power equal to the sum of each node\'s latest heartbeat', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('beat' as const), node: fc.constantFrom(...nodeIds), powers: fc.array(fc.oneof(fc.integer({ min: 0, max: 700 }), fc.constant(null)), { minLength: 8, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('forged' as const), node: fc.constantFrom(...nodeIds), other: fc.constantFrom(...nodeIds) }),
      fc.record({ kind: fc.constant('impossible' as const), node: fc.constantFrom(...nodeIds), gpu: fc.integer({ min: 0, max: 7 }), watts: fc.oneof(fc.constant(-1), fc.constant(5_200), fc.constant(4_294_967_295)) }),
      fc.record({ kind: fc.constant('forget' as const), node: fc.constantFrom(...nodeIds) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const st = new TelemetryState();
      st.setFleet(fleet);
      const latest = new Map<string, number>(); // the test's own record: node → board watts
      let seq = 0;
      for (const o of ops) {
        seq++;
        if (o.kind === 'beat') {
          const r = st.ingest(JSON.parse(JSON.stringify(hb(o.node, seq, o.powers))), `agt_${o.node}`, o.node, seq);
          expect(r.ok).toBe(true);
          latest.set(o.node, o.powers.reduce<number>((a, p) => a + (p ?? 0), 0));
        } else if (o.kind === 'forged') {
          const r = st.ingest(hb(o.other, seq, [1, 1, 1, 1, 1, 1, 1, 1]), `agt_${o.node}`, o.node, seq);
          expect(r.ok).toBe(o.other === o.node);
          if (o.other === o.node) latest.set(o.node, 8);
        } else if (o.kind === 'impossible') {
          // Taken; the impossible reading is refused (counts nothing), the GPU marked faulty, the others kept.
          const powers = [1, 1, 1, 1, 1, 1, 1, 1];
          powers[o.gpu] = o.watts;
          const r = st.ingest(hb(o.node, seq, powers), `agt_${o.node}`, o.node, seq);
          expect(r).toMatchObject({ ok: true, verdict: expect.stringMatching(new RegExp(`^impossible reading: GPU ${o.gpu} \\(GPU-[^)]+\\): power\\.draw ${o.watts} W is outside 0–1400 W$`)) });
          expect(st.node(o.node)!.faults.filter((f) => f !== null)).toHaveLength(1);
          expect(st.node(o.node)!.gpus[o.gpu]!.powerW).toBeNull();
          latest.set(o.node, 7);
        } else {
          st.forget(o.node);
          latest.delete(o.node);
        }
      }
      const want = (pred: (n: (typeof fleet.nodes)[number]) => boolean): number =>
        fleet.nodes.filter((n) => pred(n) && latest.has(n.id)).reduce((a, n) => a + latest.get(n.id)!, 0);
      expect(st.power('hall', 'h1').gpuW).toBeCloseTo(want((n) => n.hallId === 'h1'), 6);
      expect(st.power('hall', 'h2').gpuW).toBeCloseTo(want((n) => n.hallId === 'h2'), 6);
      expect(st.power('site', 's1').gpuW).toBeCloseTo(want(() => true), 6);
      expect(st.power('site', 's1').reportingNodes).toBe(latest.size);
      // Facility = board × overhead × PUE (H100: 10,200 W / 5,600 W; PUE 1.25).
      expect(st.power('site', 's1').facilityW).toBeCloseTo(want(() => true) * (10_200 / 5_600) * 1.25, 3);
      expect(Object.keys(st.rejected)).toEqual([...REJECT_REASONS]);
    }), { seed: 12, numRuns: 200 });
  });

  it('a duplicate or older sequence number is refused; the history keeps per-minute means', () => {
    const st = new TelemetryState();
    st.setFleet(fleet);
    const n = nodeIds[0]!;
    expect(st.ingest(hb(n, 5, Array(8).fill(100)), `agt_${n}`, n, 0).ok).toBe(true);
    expect(st.ingest(hb(n, 5, Array(8).fill(100)), `agt_${n}`, n, 0)).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(st.sample(0)).toEqual([]);
    expect(st.ingest(hb(n, 6, Array(8).fill(200)), `agt_${n}`, n, 30_000).ok).toBe(true);
    st.sample(30_000);
    const points = st.sample(60_000);
    expect(points.find((p) => p.scope === 'site')).toEqual({ scope: 'site', scopeId: 's1', minuteMs: 0, meanW: 1200, peakW: 1600, samples: 2 });
    expect(st.node(n)!.history).toEqual([{ minuteMs: 0, meanW: 1200 }]);
  });
});
