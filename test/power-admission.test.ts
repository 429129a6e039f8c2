/**
 * Measured-draw admission (off by default): a hall whose leases' TDP fills its cap takes another
 * lease only when the policy is on, every node reports, and measured draw plus the margin leaves
 * room — checked against the cap from the heartbeats the test sent (board watts × server overhead
 * × PUE), not from the service's sums. With the policy off, leased TDP never exceeds the cap.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { fakeDiscovery, fakeGpuUuid } from '../src/agent/gpu-discovery.js';
import { GPU_CATALOG, facilityWattsPerGpu, type FleetSpec } from '../src/fleet/index.js';
import { createTenant, startServer, type TestServer } from './helpers.js';

const PUE = 1.25;
const NODE_W = 8 * facilityWattsPerGpu('H100-SXM', PUE); // 12,752 W: the leased (TDP) draw of one node
const HALL_CAP_W = 2 * NODE_W; // room for two nodes' TDP
const spec: FleetSpec = {
  sites: [{
    id: 'site-a', region: 'us-east', powerCapMw: 10, pue: PUE,
    halls: [{ id: 'hall-1', powerCapMw: HALL_CAP_W / 1e6, fabrics: [{ id: 'fab-1', kind: 'infiniband', nodeGroups: [{ gpuModel: 'H100-SXM', count: 4 }] }] }],
  }],
};
const NODES = ['fab-1-n001', 'fab-1-n002', 'fab-1-n003', 'fab-1-n004'];
const BOARD_W = 100; // what each GPU measures: a cool hall
const FACILITY_PER_BOARD_W = GPU_CATALOG['H100-SXM'].serverOverhead * PUE;

let s: TestServer | undefined;
afterEach(async () => { await s?.close(); s = undefined; });

/** Enrols an agent on each node (before any lease: enrolment replaces the GPU UUIDs); returns their credentials. */
async function enrolAll(srv: TestServer): Promise<Map<string, { agentId: string; credential: string }>> {
  const out = new Map<string, { agentId: string; credential: string }>();
  for (const nodeId of NODES) {
    const tok = (await srv.call('POST', `/v1/nodes/${nodeId}/enrolment-tokens`, { body: {} })).body.token;
    const stateDir = mkdtempSync(join(tmpdir(), 'pa-'));
    await new Agent({ url: srv.url, nodeId, token: tok, stateDir, discover: fakeDiscovery(nodeId, 8, 'H100-SXM'), log: () => undefined }).enrol();
    out.set(nodeId, JSON.parse(readFileSync(join(stateDir, 'agent.json'), 'utf8')));
  }
  return out;
}

let seq = Date.now();
/** One heartbeat per node at BOARD_W per GPU; returns the measured facility watts of those nodes, from what was sent. */
async function beat(srv: TestServer, creds: Map<string, { agentId: string; credential: string }>, nodes: string[]): Promise<number> {
  for (const nodeId of nodes) {
    const c = creds.get(nodeId)!;
    const gpus = Array.from({ length: 8 }, (_, i) => ({
      uuid: fakeGpuUuid(nodeId, i), index: i, powerW: BOARD_W, powerLimitW: 700, utilizationPct: 5, memoryUsedMiB: 0, memoryTotalMiB: 81_920,
      temperatureC: 30, eccUncorrected: 0, xids: [], recoveryAction: 'None',
    }));
    const r = await fetch(`${srv.url}/v1/agent/heartbeats`, {
      method: 'POST', headers: { authorization: `Bearer ${c.credential}`, 'content-type': 'application/json', 'idempotency-key': `hb-${seq}` },
      body: JSON.stringify({ v: 1, nodeId, agentId: c.agentId, seq: ++seq, sentAtMs: srv.clock.nowMs(), intervalMs: 10_000, adminState: 'none', discoveryError: null, gpus }),
    });
    expect(r.status).toBe(200);
  }
  return nodes.length * 8 * BOARD_W * FACILITY_PER_BOARD_W;
}

const lease8 = (srv: TestServer, key: string) => srv.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 2 } });

describe('measured-draw admission', () => {
  it('off (the default): leased TDP never exceeds the cap, however cool the hall runs', async () => {
    s = await startServer({ fleet: spec });
    const t = await createTenant(s, 'acme');
    await beat(s, await enrolAll(s), NODES);
    expect((await lease8(s, t.key)).status).toBe(201);
    expect((await lease8(s, t.key)).status).toBe(201);
    expect(await s.cp.refreshPowerCredit()).toBeNull();
    const third = await lease8(s, t.key);
    expect(third.status).toBe(409);
    expect(third.body.largestSatisfiable).toBe(0); // two nodes are free: the hall's power refuses
  });

  it('on: a cool hall takes more leases, keeping measured × (1 + margin) + new TDP under the cap; no credit without every node reporting', async () => {
    const margin = 0.2;
    s = await startServer({ fleet: spec, powerAdmissionMargin: margin });
    const t = await createTenant(s, 'acme');
    const creds = await enrolAll(s);
    expect((await lease8(s, t.key)).status).toBe(201);
    expect((await lease8(s, t.key)).status).toBe(201);
    // Three of four nodes report: no credit for the hall (or its one-hall site).
    await beat(s, creds, NODES.slice(0, 3));
    expect((await s.cp.refreshPowerCredit())!.size).toBe(0);
    expect((await lease8(s, t.key)).status).toBe(409);
    // All four report 100 W per GPU.
    const measuredW = await beat(s, creds, NODES);
    const credit = (await s.cp.refreshPowerCredit())!;
    // Never more than the exact figure (measured watts are rounded to whole watts first).
    const exact = 2 * NODE_W - measuredW * (1 + margin);
    expect(credit.get('hall-1')).toBeLessThanOrEqual(exact);
    expect(credit.get('hall-1')).toBeGreaterThan(exact - 2);
    const third = await lease8(s, t.key);
    expect(third.status).toBe(201);
    // The rule, from the test's own figures: measured draw with the margin plus the TDP admitted on it fits the cap.
    expect(measuredW * (1 + margin) + NODE_W).toBeLessThanOrEqual(HALL_CAP_W);
    // Leased TDP now passes the cap: that is the oversubscription, bounded by measured draw.
    expect(3 * NODE_W).toBeGreaterThan(HALL_CAP_W);
    // The credit follows the leases: recomputed, the fourth node fits as well (measured 4 × 1.8 kW + margin + 12.8 kW ≤ 25.5 kW).
    await s.cp.refreshPowerCredit();
    expect((await lease8(s, t.key)).status).toBe(201);
    expect(measuredW * (1 + margin) + NODE_W).toBeLessThanOrEqual(HALL_CAP_W);
  });
});
