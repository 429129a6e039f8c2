/**
 * One health decision per cell (issue 24, behaviour 2): two control planes on one PostgreSQL
 * database (each its own pool and memory, as two processes; test/multi-plane.test.ts shows the
 * set-up), one shared ManualClock, ticks called by hand, no sleeps.
 * - Heartbeats to A only never take a node down through B, whether B stands by or leads: B reads
 *   when the node was last heard from the store (A writes it behind), not from its own memory.
 *   (Before: B, restarted, took the node down 40 s later for "missed heartbeats".)
 * - Closing the leader hands health to the other at its next tick (bounded by the tick period,
 *   half an interval in `serve`); a leader that dies without closing is replaced once its lease
 *   (15 s) runs out. No node goes down in the handover: the new leader counts from its takeover.
 *   The new leader does judge: a node that stopped talking goes down a full window later.
 * - A plane started before an enrolment takes that agent's heartbeats, over HTTP and NATS (it
 *   looks the agent up in the store before refusing it); a revocation on one plane reaches the
 *   other at its next tick. (Before: NATS heartbeats to such a plane were refused as `revoked`.)
 */
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, heartbeatOf, natsSigningKey, signHeartbeat } from '../src/agent/agent.js';
import { fakeDiscovery } from '../src/agent/gpu-discovery.js';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { ManualClock } from '../src/shared/clock.js';
import { ADMIN_KEY, T0, TEST_DATABASE_URL, dropSchema, smallFleet } from './helpers.js';

const N1 = 'fab-1-n001';
const N2 = 'fab-1-n002';
const N3 = 'fab-2-n001';
const TELEMETRY = { intervalMs: 10_000, missedBeats: 3 };

interface Plane { cp: ControlPlane; url: string; close: () => Promise<void> }

/** A control plane on `schema` (the first one applies the fleet), served on a port of its own. */
async function plane(schema: string, clock: ManualClock, first: boolean): Promise<Plane> {
  const cp = await ControlPlane.open({
    databaseUrl: TEST_DATABASE_URL, pgSchema: schema, clock, adminKey: ADMIN_KEY, initialFleet: first ? smallFleet({ fabrics: 2, h100PerFabric: 2 }) : false, telemetry: TELEMETRY,
  });
  const app = await buildServer(cp);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { cp, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: async () => { await app.close(); await cp.close(); } };
}

async function call(p: Plane, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(p.url + path, {
    method, body: body === undefined ? null : JSON.stringify(body),
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(method === 'POST' ? { 'idempotency-key': `k-${Math.random()}` } : {}) },
  });
  return { status: r.status, body: await r.json() };
}

/** An agent enrolled for `nodeId` through `via`, speaking HTTP to whatever `to()` returns at each beat. */
async function enrolled(via: Plane, clock: ManualClock, nodeId: string, to: () => Plane): Promise<{ beat: () => Promise<string>; stateDir: string; agent: Agent }> {
  const tok = await call(via, 'POST', `/v1/nodes/${nodeId}/enrolment-tokens`, {});
  expect(tok.status).toBe(201);
  const stateDir = mkdtempSync(join(tmpdir(), `mp-${nodeId}-`));
  const mk = (url: string, token?: string): Agent => new Agent({
    url, nodeId, token, stateDir, discover: fakeDiscovery(nodeId, 8, 'H100-SXM', {}, () => clock.nowMs()), log: (l) => { if (process.env['DEBUG_AGENT']) console.log(nodeId, l); }, now: () => clock.nowMs(),
  });
  const agent = mk(via.url, tok.body.token);
  await agent.enrol();
  let current = agent;
  let url = via.url;
  return {
    stateDir, agent,
    beat: async () => {
      // Same state folder (credential, sequence) against another plane's URL: an agent behind a load balancer.
      if (to().url !== url) {
        url = to().url;
        current = mk(url);
        await current.enrol();
      }
      return current.beat();
    },
  };
}

const stateOf = async (p: Plane, nodeId: string): Promise<{ state: string; healthReason: string | null }> => (await call(p, 'GET', `/v1/nodes/${nodeId}`)).body;

describe.skipIf(!TEST_DATABASE_URL)('one health decision per cell, two control planes (PostgreSQL: set TEST_DATABASE_URL)', () => {
  const schemas: string[] = [];
  afterAll(async () => { for (const s of schemas) await dropSchema(s); });

  it('heartbeats to A only never take a node down through B, standing by or leading', async () => {
    const clock = new ManualClock(T0);
    const schema = `t_mph_${Math.random().toString(16).slice(2, 10)}`;
    schemas.push(schema);
    const a = await plane(schema, clock, true);
    const n1 = await enrolled(a, clock, N1, () => a);
    clock.advanceMs(5_000);
    const b = await plane(schema, clock, false); // B (re)starts after the enrolment
    try {
      for (let round = 1; round <= 12; round++) {
        clock.advanceMs(10_000);
        expect(await n1.beat()).toBe('http');
        if (round === 5) {
          // Rounds 1–4: A led, B stood by. From here on B leads (A cannot claim while B holds it).
          expect([a.cp.telemetry.metrics().health.leader, b.cp.telemetry.metrics().health.leader]).toEqual([true, false]);
          await a.cp.telemetry.leader.release();
        }
        expect(await b.cp.telemetry.tick(), `B, round ${round}`).toEqual([]);
        expect(await a.cp.telemetry.tick(), `A, round ${round}`).toEqual([]);
        expect(await stateOf(b, N1), `round ${round}`).toMatchObject({ state: 'ready', healthReason: null });
      }
      // B led for 7 rounds (70 s, over twice the 30 s window) and heard nothing itself.
      expect(b.cp.telemetry.metrics().health.leader).toBe(true);
      expect(a.cp.telemetry.metrics().health.leader).toBe(false);
      expect(b.cp.telemetry.metrics().via.http).toBe(0);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('closing the leader hands health to the other at its next tick; no node goes down in the handover; the new leader still judges', async () => {
    const clock = new ManualClock(T0);
    const schema = `t_mph_${Math.random().toString(16).slice(2, 10)}`;
    schemas.push(schema);
    const a = await plane(schema, clock, true);
    const b = await plane(schema, clock, false);
    let target = a;
    const n1 = await enrolled(a, clock, N1, () => target);
    const n2 = await enrolled(a, clock, N2, () => a);
    try {
      for (let i = 0; i < 3; i++) {
        clock.advanceMs(10_000);
        await n1.beat();
        await n2.beat();
        expect(await a.cp.telemetry.tick()).toEqual([]);
        expect(await b.cp.telemetry.tick()).toEqual([]);
      }
      const n2Last = clock.nowMs();
      clock.advanceMs(9_000);
      // A goes away (shutdown): it writes what it heard and gives the leadership up. N1's agent
      // fails over to B; N2's agent is gone with A's site link and says nothing more.
      await a.close();
      target = b;
      const handover = clock.nowMs();
      expect(await b.cp.telemetry.tick()).toEqual([]);
      expect(b.cp.telemetry.metrics().health.leader).toBe(true); // the next tick after the close: the bound
      // A full window from the takeover for everyone: N2 was last heard 9 s before it, yet nothing goes down until takeover + 30 s.
      for (let t = 10_000; t <= 30_000; t += 10_000) {
        clock.set(handover + t);
        expect(await n1.beat()).toBe('http');
        expect(await b.cp.telemetry.tick(), `takeover + ${t / 1000} s`).toEqual([]);
      }
      clock.set(handover + 31_000);
      expect(await n1.beat()).toBe('http');
      expect(await b.cp.telemetry.tick()).toEqual([N2]);
      const down = await stateOf(b, N2);
      expect(down.state).toBe('down');
      expect(down.healthReason).toBe(`missed heartbeats: none since ${new Date(n2Last).toISOString()} (3 × 10 s)`);
      expect(await stateOf(b, N1)).toMatchObject({ state: 'ready', healthReason: null });
    } finally {
      await b.close();
    }
  });

  it('a leader that dies without closing is replaced once its lease runs out; the old one, if it wakes, decides nothing', async () => {
    const clock = new ManualClock(T0);
    const schema = `t_mph_${Math.random().toString(16).slice(2, 10)}`;
    schemas.push(schema);
    const a = await plane(schema, clock, true);
    const b = await plane(schema, clock, false);
    const n1 = await enrolled(b, clock, N1, () => b);
    const n3 = await enrolled(a, clock, N3, () => a);
    try {
      await n3.beat();
      expect(await a.cp.telemetry.tick()).toEqual([]);
      // A freezes (kill -9, a long pause): no tick, no release. B waits for the 15 s lease.
      const leading: boolean[] = [];
      for (let t = 5_000; t <= 15_000; t += 5_000) {
        clock.advanceMs(5_000);
        await n1.beat();
        expect(await b.cp.telemetry.tick()).toEqual([]);
        leading.push(b.cp.telemetry.metrics()?.health?.leader);
      }
      clock.advanceMs(1_000);
      expect(await b.cp.telemetry.tick()).toEqual([]);
      leading.push(b.cp.telemetry.metrics()?.health?.leader);
      const takeover = clock.nowMs();
      // B leads: N3, silent since A froze, goes down a full window after the takeover; N1, talking to B, never.
      const downs: [number, string[]][] = [];
      for (let i = 0; i < 4; i++) {
        clock.advanceMs(10_000);
        await n1.beat();
        downs.push([clock.nowMs() - takeover, await b.cp.telemetry.tick()]);
      }
      expect(downs).toEqual([[10_000, []], [20_000, []], [30_000, []], [40_000, [N3]]]);
      expect(leading).toEqual([false, false, false, true]); // at 5, 10, 15 s no; at 16 s (lease + one tick) yes
      // A wakes: it does not lead, and takes nothing down although, by its own memory, N1 never talked to it.
      expect(await a.cp.telemetry.tick()).toEqual([]);
      expect(a.cp.telemetry.metrics().health.leader).toBe(false);
      expect(await stateOf(a, N1)).toMatchObject({ state: 'ready' });
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('a plane started before an enrolment takes that agent\'s heartbeats over HTTP and NATS; a revocation on the other reaches it at its next tick', async () => {
    const clock = new ManualClock(T0);
    const schema = `t_mph_${Math.random().toString(16).slice(2, 10)}`;
    schemas.push(schema);
    const a = await plane(schema, clock, true);
    const b = await plane(schema, clock, false); // B starts first ...
    const n2 = await enrolled(a, clock, N2, () => a); // ... then the agent enrols through A
    try {
      const cred = JSON.parse(readFileSync(join(n2.stateDir, 'agent.json'), 'utf8')) as { agentId: string; credential: string };
      const key = natsSigningKey(cred.credential);
      const discover = fakeDiscovery(N2, 8, 'H100-SXM', {}, () => clock.nowMs());
      const svc = b.cp.telemetry;
      svc.opts.nats = { subjectPrefix: 'neocloud.telemetry.default', commandPrefix: 'neocloud.agent.cmd.default' }; // as NatsTelemetry.start sets it
      let seq = 1e15;
      const message = async (): Promise<Uint8Array> => new TextEncoder().encode(JSON.stringify(heartbeatOf(await discover(), { agentId: cred.agentId, nodeId: N2 }, ++seq, 10_000, 'none', clock.nowMs())));
      let taken = 0;
      for (let i = 0; i < 32; i++) {
        clock.advanceMs(1_000);
        const data = await message();
        const r = await svc.ingestNats(`neocloud.telemetry.default.site-a.${N2}`, data, cred.agentId, signHeartbeat(key, data));
        if (r.ok) taken++;
      }
      expect(taken).toBe(32);
      expect(svc.metrics().rejected.revoked).toBe(0);
      // Revoked through A: B refuses it from its next tick on.
      expect((await call(a, 'POST', `/v1/agents/${cred.agentId}/revoke`, {})).status).toBe(200);
      clock.advanceMs(1_000);
      await svc.tick();
      const data = await message();
      expect(await svc.ingestNats(`neocloud.telemetry.default.site-a.${N2}`, data, cred.agentId, signHeartbeat(key, data))).toEqual({ ok: false, reason: 'revoked' });
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)('last-seen writes are throttled per node (PostgreSQL)', () => {
  let a: Plane;
  let clock: ManualClock;
  let schema: string;
  beforeAll(async () => {
    clock = new ManualClock(T0);
    schema = `t_mph_${Math.random().toString(16).slice(2, 10)}`;
    a = await plane(schema, clock, true);
  });
  afterAll(async () => { await a?.close(); await dropSchema(schema); });

  it('a node beating every second costs one row write per 5 s, not one per heartbeat', async () => {
    const n1 = await enrolled(a, clock, N1, () => a);
    const before = a.cp.telemetry.metrics().health.lastSeenWrites;
    for (let i = 0; i < 20; i++) {
      clock.advanceMs(1_000);
      await n1.beat();
      await a.cp.telemetry.flushLastSeen();
    }
    // 20 heartbeats over 20 s, flushed after each: written at the first and then every 5 s.
    expect(a.cp.telemetry.metrics().health.lastSeenWrites - before).toBe(4);
  });
});
