/**
 * Node agents against a real control plane (HTTP on port 0, every store), with the agent code
 * in-process on fake GPUs and the control plane's clock in the test's hands: enrolment (GPU
 * UUIDs become the real ones), heartbeats and measured power, a silent agent → node down → its
 * lease re-placed with a downtime event, GPU faults, forged and bad telemetry refused and counted,
 * revocation, drain and cordon reaching the agent, recovery by the operator or a clean window.
 * No sleeps: time moves by ManualClock, health is judged by `telemetry.tick()`.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, natsSigningKey, signHeartbeat } from '../src/agent/agent.js';
import { fakeDiscovery, fakeGpuUuid, type FakeFaults } from '../src/agent/gpu-discovery.js';
import { syntheticGpuUuid } from '../src/fleet/index.js';
import { STORE_KINDS, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const N1 = 'fab-1-n001';
const N2 = 'fab-1-n002';
const fleetSpec = () => smallFleet({ fabrics: 1, h100PerFabric: 2 });

async function token(s: TestServer, nodeId: string): Promise<string> {
  const r = await s.call('POST', `/v1/nodes/${nodeId}/enrolment-tokens`, { body: {} });
  expect(r.status).toBe(201);
  return r.body.token;
}

function agentFor(s: TestServer, nodeId: string, tok: string | undefined, faults: FakeFaults = {}): { agent: Agent; lines: string[]; stateDir: string } {
  const lines: string[] = [];
  const stateDir = mkdtempSync(join(tmpdir(), `agent-${nodeId}-`));
  const agent = new Agent({
    url: s.url, nodeId, token: tok, stateDir, discover: fakeDiscovery(nodeId, 8, 'H100-SXM', faults, () => s.clock.nowMs()),
    log: (l) => lines.push(l), now: () => s.clock.nowMs(),
  });
  return { agent, lines, stateDir };
}

/** Posts a heartbeat body with an agent credential (for hand-made, hostile ones). */
async function rawBeat(s: TestServer, credential: string, body: unknown, idem = `hb-${Math.random()}`): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}/v1/agent/heartbeats`, {
    method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', 'idempotency-key': idem }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

const credentialOf = (stateDir: string): { agentId: string; credential: string } => JSON.parse(readFileSync(join(stateDir, 'agent.json'), 'utf8'));

describe.each(STORE_KINDS)('node agents (%s)', (store) => {
  let s: TestServer;
  let acme: { id: string; key: string };
  let a1: ReturnType<typeof agentFor>;
  let a2: ReturnType<typeof agentFor>;

  beforeAll(async () => {
    s = await startServer({ store, fleet: fleetSpec(), telemetry: { intervalMs: 10_000, missedBeats: 3 } });
    acme = await createTenant(s, 'acme');
  });
  afterAll(async () => {
    await a1?.agent.stop();
    await a2?.agent.stop();
    await s?.close();
  });

  it('enrols with a one-time token; the discovered GPUs become the fleet\'s UUIDs', async () => {
    expect(s.cp.fleet.current().gpus.filter((g) => g.nodeId === N1).map((g) => g.uuid)).toEqual(Array.from({ length: 8 }, (_, i) => syntheticGpuUuid(N1, i)));
    const t1 = await token(s, N1);
    a1 = agentFor(s, N1, t1);
    await a1.agent.enrol();
    const real = Array.from({ length: 8 }, (_, i) => fakeGpuUuid(N1, i));
    expect(s.cp.fleet.current().gpus.filter((g) => g.nodeId === N1).map((g) => g.uuid)).toEqual(real);
    // From the store, not the service's memory: a reload sees them too, and a re-applied spec keeps them.
    expect((await s.cp.fleet.load()).gpus.filter((g) => g.nodeId === N1).map((g) => g.uuid)).toEqual(real);
    await s.call('PUT', '/v1/fleet', { body: fleetSpec() });
    expect((await s.cp.fleet.load()).gpus.filter((g) => g.nodeId === N1).map((g) => g.uuid)).toEqual(real);

    // The token was spent: a second agent with it is refused, whatever it claims.
    const again = agentFor(s, N1, t1);
    await expect(again.agent.enrol()).rejects.toThrow(/refused \(401\)/);
    // A token is for one node only.
    const t2 = await token(s, N2);
    await expect(agentFor(s, 'fab-1-n001', t2).agent.enrol()).rejects.toThrow(/refused \(401\)/);
    // Seven GPUs where the fleet has eight: refused, and the token is not spent by the refusal.
    await expect(agentFor(s, N2, t2, { missing: [7] }).agent.enrol()).rejects.toThrow(/refused \(409\).*8 GPUs.*found 7/);
    a2 = agentFor(s, N2, t2);
    await a2.agent.enrol();
    const ev = await s.call('GET', '/v1/events?after=0&limit=1000');
    expect(ev.body.events.filter((e: { type: string }) => e.type === 'dev.neocloud.agent.enrolled').map((e: { subject: string }) => e.subject)).toEqual([N1, N2]);
  });

  it('heartbeats carry measured power to the node, hall and site, beside leased power', async () => {
    expect(await a1.agent.beat()).toBe('http');
    expect(await a2.agent.beat()).toBe('http');
    const n1 = await s.call('GET', `/v1/nodes/${N1}`);
    expect(n1.status).toBe(200);
    expect(n1.body.gpus).toHaveLength(8);
    const sum = n1.body.gpus.reduce((a: number, g: { powerW: number }) => a + g.powerW, 0);
    expect(n1.body.measured.gpuW).toBeCloseTo(sum, 6);
    expect(n1.body.agent).toMatchObject({ lastSeenAt: new Date(s.clock.nowMs()).toISOString(), acknowledged: 'none' });
    const n2 = await s.call('GET', `/v1/nodes/${N2}`);
    const fleet = await s.call('GET', '/v1/fleet');
    const site = fleet.body.measured.sites['site-a'];
    expect(site.reportingNodes).toBe(2);
    expect(site.gpuW).toBe(Math.round(n1.body.measured.gpuW + n2.body.measured.gpuW));
    expect(site.halls['hall-1'].gpuW).toBe(site.gpuW);
    expect(site.halls['hall-2'].gpuW).toBe(0);
    expect(fleet.body.totals).toHaveProperty('leasedW');
    const prom = await fetch(`${s.url}/metrics`).then((r) => r.text());
    expect(prom).toContain(`neocloud_measured_power_watts{site="site-a",scope="gpu"} ${site.gpuW}`);
    expect(prom).toMatch(/neocloud_agent_heartbeats\{transport="http"\} [1-9]/);
    expect((await s.call('GET', `/v1/nodes/${N1}`, { key: acme.key })).status).toBe(403);
  });

  it('a silent agent takes its node down after 3 intervals; its lease moves, with a downtime event', async () => {
    const lease = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 2, placement: 'same-nvlink' } });
    expect(lease.status).toBe(201);
    const [onNode] = lease.body.nodes as string[];
    const live = onNode === N1 ? a2 : a1;
    const silent = onNode === N1 ? N1 : N2;
    const lastSeen = s.clock.nowMs();
    // 29 s: within 3 × 10 s, the other agent keeps beating; nothing happens.
    for (let i = 0; i < 3; i++) {
      s.clock.advanceMs(9_700);
      await live.agent.beat();
      expect(await s.cp.telemetry.tick()).toEqual([]);
    }
    s.clock.advanceMs(1_000);
    await live.agent.beat();
    expect(await s.cp.telemetry.tick()).toEqual([silent]);
    const node = await s.call('GET', `/v1/nodes/${silent}`);
    expect(node.body).toMatchObject({ state: 'down', healthSince: new Date(lastSeen).toISOString() });
    expect(node.body.healthReason).toMatch(/missed heartbeats/);
    const moved = await s.call('GET', `/v1/leases/${lease.body.id}`, { key: acme.key });
    expect(moved.body.state).toBe('active');
    expect(moved.body.nodes).toEqual([silent === N1 ? N2 : N1]);
    // The lease's own log: moved, after a downtime from the last heartbeat until the move.
    const ev = await s.call('GET', `/v1/leases/${lease.body.id}/events`, { key: acme.key });
    expect(ev.body.events.map((e: { type: string }) => e.type)).toEqual(['requested', 'placed', 'started', 'downtime', 'moved']);
    const dt = ev.body.events.find((e: { type: string }) => e.type === 'downtime').detail;
    expect(dt).toMatchObject({ from: new Date(Date.parse(lease.body.start)).toISOString(), to: new Date(s.clock.nowMs()).toISOString(), nodes: [silent], gpuCount: 8 });
    const fleetEvents = (await s.call('GET', '/v1/events?after=0&limit=1000')).body.events;
    expect(fleetEvents.filter((e: { type: string; subject: string }) => e.type === 'dev.neocloud.node.state_changed' && e.subject === silent).at(-1).data)
      .toMatchObject({ from: 'ready', to: 'down', cause: 'health' });
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    await s.call('POST', `/v1/leases/${lease.body.id}/release`, { key: acme.key, body: {} });

    // It stays down when it comes back (the operator decides), then the operator recovers it.
    const back = silent === N1 ? a1 : a2;
    await back.agent.beat();
    await s.cp.telemetry.tick();
    expect((await s.call('GET', `/v1/nodes/${silent}`)).body.state).toBe('down');
    const rec = await s.call('POST', `/v1/nodes/${silent}/recover`, { body: {} });
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({ state: 'ready', healthReason: null });
    await back.agent.beat();
  });

  it('a report for another node is refused and counted; the other node is untouched', async () => {
    const c1 = credentialOf(a1.stateDir);
    const before = (await s.call('GET', `/v1/nodes/${N2}`)).body.agent.seq;
    const forged = { v: 1, nodeId: N2, agentId: c1.agentId, seq: Date.now() * 10, sentAtMs: s.clock.nowMs(), intervalMs: 10_000, adminState: 'none', discoveryError: null, gpus: [] };
    const r = await rawBeat(s, c1.credential, forged);
    expect(r.status).toBe(403);
    expect(r.body.detail).toMatch(/may report only for node fab-1-n001/);
    expect((await s.call('GET', `/v1/nodes/${N2}`)).body).toMatchObject({ state: 'ready', agent: { seq: before } });
    // Over NATS too: signed with agent 1's key, about node 2, on node 2's subject.
    const svc = s.cp.telemetry;
    const bytes = new TextEncoder().encode(JSON.stringify(forged));
    expect(svc.ingestNats(`x.site-a.${N2}`, bytes, c1.agentId, signHeartbeat(natsSigningKey(c1.credential), bytes))).toEqual({ ok: false, reason: 'forged' });
    expect((await s.call('GET', '/v1/telemetry')).body.rejected.forged).toBe(2);
  });

  it('bad telemetry is refused, counted, and the consumer keeps going', async () => {
    const c1 = credentialOf(a1.stateDir);
    const sample = (over: Record<string, unknown> = {}) => ({
      uuid: fakeGpuUuid(N1, 0), index: 0, powerW: 100, powerLimitW: 700, utilizationPct: 1, memoryUsedMiB: 0, memoryTotalMiB: 81920,
      temperatureC: 30, eccUncorrected: 0, xids: [], recoveryAction: 'None', ...over,
    });
    let seq = Date.now() * 20;
    const hb = (gpus: unknown[], over: Record<string, unknown> = {}) => ({ v: 1, nodeId: N1, agentId: c1.agentId, seq: ++seq, sentAtMs: s.clock.nowMs(), intervalMs: 10_000, adminState: 'none', discoveryError: null, gpus, ...over });
    const before = (await s.call('GET', '/v1/telemetry')).body;
    const cases: [unknown, number, string, RegExp][] = [
      // An impossible reading (power −5 W) is no longer a refusal: test/agent-faults.test.ts.
      [hb([sample()], { discoveryError: 'nvidia-smi \u0000 failed' }), 400, 'malformed', /^discoveryError: .*(NUL|control characters)/],
      [hb([sample({ uuid: 'GPU-00000000-0000-0000-0000-000000000000' })]), 400, 'unknown_gpu', /not a GPU of node/],
      [hb([sample({ powerW: 'lots' })]), 400, 'malformed', /powerW: must be a number/],
      [hb([sample()], { extra: 1 }), 400, 'malformed', /extra: unknown field/],
      [hb([], { v: 2 }), 400, 'malformed', /^v: must be 1/],
      ['[1,2,3]', 400, 'malformed', /heartbeat: must be a JSON object/],
    ];
    for (const [body, status, , detail] of cases) {
      const r = await rawBeat(s, c1.credential, body);
      expect(r.status).toBe(status);
      expect(r.body.detail).toMatch(detail);
    }
    const after = (await s.call('GET', '/v1/telemetry')).body;
    expect(after.rejected.unknown_gpu - before.rejected.unknown_gpu).toBe(1);
    expect(after.rejected.malformed - before.rejected.malformed).toBe(4); // the NUL one is refused by the body parser, before the validator counts
    // NATS: garbage bytes, a bad signature, an unknown agent — counted, never thrown.
    const svc = s.cp.telemetry;
    const key = natsSigningKey(c1.credential);
    const junk = new TextEncoder().encode('{not json');
    expect(svc.ingestNats(`x.site-a.${N1}`, junk, c1.agentId, signHeartbeat(key, junk))).toEqual({ ok: false, reason: 'malformed' });
    expect(svc.ingestNats(`x.site-a.${N1}`, junk, c1.agentId, 'f'.repeat(64))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(svc.ingestNats(`x.site-a.${N1}`, junk, c1.agentId, 'zz'.repeat(32))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(svc.ingestNats(`x.site-a.${N1}`, junk, c1.agentId, 'ab')).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await svc.ingestNats(`x.site-a.${N1}`, junk, 'agt_nobody', undefined)).toEqual({ ok: false, reason: 'revoked' }); // looked up in the store first
    // A good heartbeat still goes through afterwards.
    expect(await a1.agent.beat()).toBe('http');
  });

  it('drain and cordon reach the agent; the agent acknowledges; cordon moves leases, resume brings the node back', async () => {
    const drained = await s.call('POST', `/v1/nodes/${N1}/drain`, { body: {} });
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ state: 'draining', admin: 'drain' });
    await a1.agent.beat();
    expect(a1.agent.appliedAdminState).toBe('drain');
    expect(readFileSync(join(a1.stateDir, 'admin-state'), 'utf8')).toBe('drain\n');
    expect(a1.lines.some((l) => l.startsWith('command: drain'))).toBe(true);
    await a1.agent.beat();
    expect((await s.call('GET', `/v1/nodes/${N1}`)).body.agent.acknowledged).toBe('drain');
    // Drained: a new 8-GPU lease can only go to the other node.
    const l = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 } });
    expect(l.body.nodes).toEqual([N2]);
    // A spec apply does not undo the operator's drain.
    await s.call('PUT', '/v1/fleet', { body: fleetSpec() });
    expect((await s.call('GET', `/v1/nodes/${N1}`)).body.state).toBe('draining');
    // Cordon the lease's node: out of service now; the lease moves to the drained node? No: drained takes no new work — it fails.
    await s.call('POST', `/v1/nodes/${N1}/resume`, { body: {} });
    const cordoned = await s.call('POST', `/v1/nodes/${N2}/cordon`, { body: {} });
    expect(cordoned.body).toMatchObject({ state: 'down', admin: 'cordon' });
    const moved = await s.call('GET', `/v1/leases/${l.body.id}`, { key: acme.key });
    expect(moved.body.nodes).toEqual([N1]);
    await a2.agent.beat();
    expect(a2.agent.appliedAdminState).toBe('cordon');
    // No downtime event: the operator took the node out, it did not fail under the lease.
    const ev = await s.call('GET', `/v1/leases/${l.body.id}/events`, { key: acme.key });
    expect(ev.body.events.map((e: { type: string }) => e.type)).not.toContain('downtime');
    const resumed = await s.call('POST', `/v1/nodes/${N2}/resume`, { body: {} });
    expect(resumed.body).toMatchObject({ state: 'ready', admin: null });
    await a2.agent.beat();
    expect(a2.agent.appliedAdminState).toBe('none');
    await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: {} });
    // Operator routes need the operator and an Idempotency-Key.
    expect((await s.call('POST', `/v1/nodes/${N2}/drain`, { key: acme.key, body: {} })).status).toBe(403);
    expect((await s.call('POST', `/v1/nodes/${N2}/drain`, { body: {}, idem: null })).status).toBe(400);
    expect((await s.call('POST', '/v1/nodes/no-such-node/drain', { body: {} })).status).toBe(404);
  });

  it('a revoked agent is refused; a new enrolment replaces it', async () => {
    const c2 = credentialOf(a2.stateDir);
    const r = await s.call('POST', `/v1/agents/${c2.agentId}/revoke`, { body: {} });
    expect(r.status).toBe(200);
    expect(await a2.agent.beat()).toBe('failed');
    expect(a2.lines.at(-1)).toMatch(/refused \(401\).*revoked/);
    a2 = agentFor(s, N2, await token(s, N2));
    await a2.agent.enrol();
    expect(await a2.agent.beat()).toBe('http');
  });

  it('GPU faults take the node down with the reason: a GPU missing, uncorrectable ECC, a fatal XID', async () => {
    for (const [faults, reason] of [
      [{ missing: [3] }, /GPU missing: GPU-/],
      [{ ecc: [5] }, /uncorrectable ECC errors \(1\) on GPU/],
      [{ xid: [{ index: 2, code: 79 }] }, /fatal XID 79 on GPU/],
    ] as const) {
      const c2 = credentialOf(a2.stateDir);
      const faulty = new Agent({
        url: s.url, nodeId: N2, stateDir: a2.stateDir, discover: fakeDiscovery(N2, 8, 'H100-SXM', faults as unknown as FakeFaults, () => s.clock.nowMs()),
        log: () => undefined, now: () => s.clock.nowMs() + 1_000,
      });
      await faulty.enrol();
      expect(faulty.agentId).toBe(c2.agentId);
      await faulty.beat();
      await s.cp.telemetry.settle();
      const n = await s.call('GET', `/v1/nodes/${N2}`);
      expect(n.body.state).toBe('down');
      expect(n.body.healthReason).toMatch(reason);
      // A non-fatal XID would not have; recovery is the operator's.
      await s.call('POST', `/v1/nodes/${N2}/recover`, { body: {} });
      s.clock.advanceMs(2_000);
      await a2.agent.beat();
      expect((await s.call('GET', `/v1/nodes/${N2}`)).body.state).toBe('ready');
    }
  });
});

describe('recovery after a clean window (configurable)', () => {
  it('a node down for health comes back after clean heartbeats for the window', async () => {
    const s = await startServer({ fleet: fleetSpec(), telemetry: { intervalMs: 10_000, recoveryWindowMs: 60_000 } });
    try {
      const faults: FakeFaults = { ecc: [1] };
      const a = agentFor(s, N1, await token(s, N1), faults);
      const lines: string[] = [];
      const agent = new Agent({ url: s.url, nodeId: N1, token: undefined, stateDir: a.stateDir, discover: fakeDiscovery(N1, 8, 'H100-SXM', faults, () => s.clock.nowMs()), log: (l) => lines.push(l), now: () => s.clock.nowMs() });
      await a.agent.enrol();
      await agent.enrol();
      await agent.beat();
      await s.cp.telemetry.settle();
      expect((await s.call('GET', `/v1/nodes/${N1}`)).body.state).toBe('down');
      faults.ecc = []; // the GPU was reset
      for (let t = 0; t <= 60_000; t += 10_000) {
        await agent.beat();
        await s.cp.telemetry.settle();
        expect((await s.call('GET', `/v1/nodes/${N1}`)).body.state).toBe(t < 60_000 ? 'down' : 'ready');
        if (t < 60_000) s.clock.advanceMs(10_000);
      }
      expect(lines.some((l) => /command: none \(node ready/.test(l)) || agent.appliedAdminState === 'none').toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('grace after enrolment and recovery; an enrolment without a valid token learns nothing', () => {
  it('counts missed heartbeats from the enrolment or the recover, not from the control plane\'s start; a recovered node with a live agent stays ready', async () => {
    const s = await startServer({ fleet: fleetSpec(), telemetry: { intervalMs: 10_000, missedBeats: 3 } });
    try {
      const acme = await createTenant(s, 'acme');
      // Both nodes busy: a 16-GPU lease holds every GPU.
      const lease = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 16, durationHours: 4 } });
      expect(lease.status).toBe(201);
      // A bogus token on a busy node, with a wrong GPU count: 401, saying nothing of the node, its GPUs or its leases.
      const bogus = await fetch(`${s.url}/v1/agent/enrol`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'bogus-1' },
        body: JSON.stringify({ nodeId: N2, token: 'nc_enrol_totallybogus', driverVersion: '550.0', gpus: [{ index: 0, uuid: 'GPU-x', name: 'NVIDIA H200', serial: '1', pciBusId: '00000000:01:00.0' }] }),
      });
      const text = await bogus.text();
      expect([400, 401]).toContain(bogus.status);
      expect(text).not.toMatch(/lease_|H100|8 GPUs|fab-1/);

      s.clock.advanceMs(120_000); // the control plane has been up for 2 minutes
      const t1 = await token(s, N1);
      const a = agentFor(s, N1, t1);
      await expect(a.agent.enrol()).rejects.toThrow(/refused \(409\).*leases hold its GPUs.*Enrol agents before/s); // a leased node cannot take new UUIDs (documented)
      await s.call('POST', `/v1/leases/${lease.body.id}/release`, { key: acme.key, body: {} });
      await a.agent.enrol();
      expect(await s.cp.telemetry.tick()).toEqual([]); // enrolled now: no heartbeat is overdue yet
      s.clock.advanceMs(29_000);
      expect(await s.cp.telemetry.tick()).toEqual([]);
      s.clock.advanceMs(2_000);
      expect(await s.cp.telemetry.tick()).toEqual([N1]); // 31 s after enrolling, still nothing
      expect((await s.call('GET', `/v1/nodes/${N1}`)).body.state).toBe('down');

      const rec = await s.call('POST', `/v1/nodes/${N1}/recover`, { body: {} });
      expect(rec.status).toBe(200);
      expect(await s.cp.telemetry.tick()).toEqual([]);
      for (let i = 0; i < 6; i++) {
        s.clock.advanceMs(9_000);
        await a.agent.beat();
        expect(await s.cp.telemetry.tick()).toEqual([]);
      }
      expect((await s.call('GET', `/v1/nodes/${N1}`)).body.state).toBe('ready');
      // A bad scope names both allowed values.
      const bad = await s.call('GET', '/v1/power/history?scope=x&id=site-a');
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toMatch(/site.*hall/);
      await a.agent.stop();
    } finally {
      await s.close();
    }
  });
});
