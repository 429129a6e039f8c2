/**
 * NATS with identities (issue 24, behaviour 1): a nats-server of the test's own in operator mode,
 * trusting the control plane's authority; the control plane's telemetry consumer and event relay
 * connect as its user; two agents (in-process, fake GPUs) enrol and get theirs. Each forgery the
 * outside probe made on the open server is tried again and must be refused: connecting without
 * credentials, deleting the durable consumer, reading every heartbeat, publishing a heartbeat on
 * another node's subject, publishing a command, publishing an event. Commands that do reach an
 * agent (from any holder of publish rights on its subject) are taken only when the control plane
 * signed them, for this node, newer than the last: a forged or replayed one is refused and logged.
 * A deleted consumer is created again; an agent whose heartbeats nobody takes goes over HTTP.
 *
 * The control plane's clock and the agents' are the test's ManualClock; what the test waits for
 * is a NATS delivery (polled), never time passing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { HDR_CMD_SIG, HDR_RECEIPT, type EnrolResponse } from '../src/agent/agent-wire.js';
import { fakeDiscovery } from '../src/agent/gpu-discovery.js';
import { loadNatsAuthority } from '../src/app/nats-authority.js';
import { Settings } from '../src/app/settings.js';
import { NatsRelay } from '../src/events/index.js';
import { NatsAuthority, natsConnectAuth } from '../src/shared/nats-auth.js';
import { NatsTelemetry } from '../src/telemetry/index.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { STORE_KINDS, smallFleet, startServer, type TestServer } from './helpers.js';

const N1 = 'fab-1-n001';
const N2 = 'fab-1-n002';
const CELL = 'default';
const INTERVAL_MS = 10_000;

async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves to the error a NATS operation ends with, or null when it succeeded. */
const failure = async (p: Promise<unknown>): Promise<string | null> => p.then(() => null, (err: unknown) => String((err as Error).message ?? err));

describe('NATS authority (storage)', () => {
  it.each(STORE_KINDS)('two control planes of one database agree on one authority (%s)', async (store) => {
    const s = await startServer({ store, fleet: false });
    try {
      const [a, b] = await Promise.all([loadNatsAuthority(new Settings(s.cp.handle.db)), loadNatsAuthority(new Settings(s.cp.handle.db))]);
      expect(a.accountPublicKey).toBe(b.accountPublicKey);
      expect(a.commandPublicKey).toBe(b.commandPublicKey);
      expect((await loadNatsAuthority(s.cp.settings)).serverConfig()).toContain(a.accountPublicKey);
    } finally {
      await s.close();
    }
  });
});

describe('NATS with identities and least privilege', () => {
  let s: TestServer;
  let nats: NatsServer;
  let auth: NatsAuthority;
  let consumer: NatsTelemetry;
  let relay: NatsRelay;
  let cp: NatsConnection; // the control plane's own user, to look at what happened
  const agents: { agent: Agent; lines: string[]; stateDir: string; enrolment: EnrolResponse }[] = [];

  const agentFor = async (nodeId: string): Promise<{ agent: Agent; lines: string[]; stateDir: string; enrolment: EnrolResponse }> => {
    const tok = await s.call('POST', `/v1/nodes/${nodeId}/enrolment-tokens`, { body: {} });
    expect(tok.status).toBe(201);
    const lines: string[] = [];
    const stateDir = mkdtempSync(join(tmpdir(), `agent-${nodeId}-`));
    const agent = new Agent({
      url: s.url, nodeId, token: tok.body.token, stateDir, natsUrl: nats.url, discover: fakeDiscovery(nodeId, 8, 'H100-SXM', {}, () => s.clock.nowMs()),
      log: (l) => lines.push(l), now: () => s.clock.nowMs(),
    });
    await agent.enrol();
    const enrolment = JSON.parse(readFileSync(join(stateDir, 'agent.json'), 'utf8')) as EnrolResponse;
    const a = { agent, lines, stateDir, enrolment };
    agents.push(a);
    return a;
  };
  /** A NATS connection as an agent's user (what a compromised node, or anyone with its files, holds). */
  const asAgent = async (e: EnrolResponse): Promise<NatsConnection> => connect({ servers: nats.url, reconnect: false, ...(await natsConnectAuth(e.nats!.credentials)) });

  beforeAll(async () => {
    s = await startServer({ fleet: smallFleet({ fabrics: 1, h100PerFabric: 2 }), telemetry: { intervalMs: INTERVAL_MS, missedBeats: 3 } });
    auth = await loadNatsAuthority(s.cp.settings);
    nats = await startNatsServer(auth);
    consumer = await new NatsTelemetry(s.cp.telemetry, { servers: nats.url, auth, checkEveryMs: 100 }, CELL).start();
    relay = new NatsRelay(s.cp.handle.db, s.cp.eventLog, { servers: nats.url, auth, pollMs: 20 }).start();
    cp = await connect({ servers: nats.url, ...(await natsConnectAuth(auth.controlPlaneUser('test-observer'))) });
  }, 60_000);
  afterAll(async () => {
    for (const a of agents) await a.agent.stop();
    await consumer?.stop();
    await relay?.stop();
    await cp?.close();
    await nats?.stop();
    await s?.close();
  });

  it('an agent enrols with a NATS user of its own and the command key, and heart-beats over NATS', async () => {
    const a1 = await agentFor(N1);
    expect(a1.enrolment.nats).toMatchObject({ subject: `neocloud.telemetry.${CELL}.site-a.${N1}`, commandSubject: `neocloud.agent.cmd.${CELL}.site-a.${N1}`, commandKey: auth.commandPublicKey });
    expect(a1.enrolment.nats!.credentials!.jwt.split('.')).toHaveLength(3);
    expect(await a1.agent.beat()).toBe('nats');
    await until('the heartbeat taken from NATS', () => s.cp.telemetry.via.nats >= 1);
    // The control plane's receipt for it, on the agent's command subject.
    await until('a receipt', () => a1.agent.stats.receipts >= 1);
    const a2 = await agentFor(N2);
    expect(await a2.agent.beat()).toBe('nats'); // connected: it hears its command subject from now on
    await until('a receipt for N2', () => a2.agent.stats.receipts >= 1);
  });

  it('without credentials nobody connects', async () => {
    expect(await failure(connect({ servers: nats.url, reconnect: false, timeout: 2_000 }))).toMatch(/Authorization Violation/i);
    // A user the account did not sign (another authority's) is refused too.
    const other = await NatsAuthority.from(await NatsAuthority.generate());
    expect(await failure(connect({ servers: nats.url, reconnect: false, timeout: 2_000, ...(await natsConnectAuth(other.controlPlaneUser())) }))).toMatch(/Authorization Violation/i);
  });

  it('an agent\'s user cannot delete the consumer, manage streams, or publish an event', async () => {
    const a1 = agents[0]!;
    const nc = await asAgent(a1.enrolment);
    try {
      // The JetStream API is the control plane's: a delete request from an agent never reaches it.
      expect(await failure(nc.request(`$JS.API.CONSUMER.DELETE.${consumer.stream}.${consumer.durable}`, undefined, { timeout: 1_000 }))).not.toBeNull();
      expect(await failure(nc.request(`$JS.API.STREAM.DELETE.${consumer.stream}`, undefined, { timeout: 1_000 }))).not.toBeNull();
      const jsm = await cp.jetstreamManager();
      expect((await jsm.consumers.info(consumer.stream, consumer.durable)).name).toBe(consumer.durable);
      expect(consumer.counters.recreated).toBe(0);
      // A forged CloudEvent: refused at the server, never in NEOCLOUD_EVENTS.
      const forged = JSON.stringify({ specversion: '1.0', id: 'evt_forged', type: 'dev.neocloud.lease.released', source: 'x', subject: 'lse_x', data: {} });
      expect(await failure(nc.jetstream().publish(`neocloud.events.${CELL}.lease.released`, new TextEncoder().encode(forged), { timeout: 1_000 }))).not.toBeNull();
      const last = await jsm.streams.getMessage(relay.stream, { last_by_subj: `neocloud.events.${CELL}.lease.released` }).catch(() => null);
      expect(last).toBeNull();
    } finally {
      await nc.close();
    }
  });

  it('an agent\'s user cannot read other nodes\' heartbeats or publish on their subject', async () => {
    const [a1, a2] = agents as [typeof agents[0], typeof agents[0]];
    const nc = await asAgent(a1.enrolment);
    try {
      const sub = nc.subscribe(`neocloud.telemetry.${CELL}.>`);
      const read = (async () => { for await (const _ of sub) return 'read a heartbeat'; return 'closed'; })();
      expect(await failure(read)).toMatch(/Permissions Violation/i);
      // Publishing as N1 on N2's subject: refused by the server (the control plane's MAC check is the second wall).
      const before = s.cp.telemetry.via.nats;
      expect(await failure(nc.jetstream().publish(a2.enrolment.nats!.subject, new TextEncoder().encode('{}'), { timeout: 1_000 }))).not.toBeNull();
      expect(s.cp.telemetry.via.nats).toBe(before);
      expect(s.cp.telemetry.metrics().rejected.forged).toBe(0);
    } finally {
      await nc.close();
    }
  });

  it('an agent\'s user cannot publish a command, its own node\'s or another\'s', async () => {
    const [a1, a2] = agents as [typeof agents[0], typeof agents[0]];
    const nc = await asAgent(a1.enrolment);
    try {
      const cordon = new TextEncoder().encode(JSON.stringify({ nodeId: N2, adminState: 'cordon', nodeState: 'ready', reason: null, issuedAtMs: Date.now() + 1e9 }));
      const errors = (async () => { for await (const st of nc.status()) if (st.type === 'error') return String(st.data); return null; })();
      nc.publish(a2.enrolment.nats!.commandSubject, cordon);
      nc.publish(a1.enrolment.nats!.commandSubject, cordon);
      expect(await errors).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
      await nc.flush().catch(() => undefined);
      expect(a2.agent.appliedAdminState).toBe('none');
      expect(a2.agent.stats.refusedCommands).toBe(0); // it never arrived
    } finally {
      await nc.close().catch(() => undefined);
    }
  });

  it('a command that does arrive is taken only when the control plane signed it for this node, and never again', async () => {
    const a2 = agents[1]!;
    const subject = a2.enrolment.nats!.commandSubject;
    // Someone holding publish rights on the command subject (a leaked account user): the agent's own check is the last wall.
    const capture: { data: Uint8Array; sig: string }[] = [];
    const spy = cp.subscribe(subject, { callback: (_e, m) => { if (!m.headers?.get(HDR_RECEIPT)) capture.push({ data: m.data, sig: m.headers?.get(HDR_CMD_SIG) ?? '' }); } });
    await cp.flush();
    const send = (data: Uint8Array, sig?: string): void => {
      const h = headers();
      if (sig !== undefined) h.set(HDR_CMD_SIG, sig);
      cp.publish(subject, data, { headers: h });
    };
    const cmd = (over: Record<string, unknown> = {}): Uint8Array => new TextEncoder().encode(JSON.stringify({ nodeId: N2, adminState: 'cordon', nodeState: 'ready', reason: null, issuedAtMs: Date.now() + 1e9, ...over }));

    // Unsigned; signed by another key; signed by the right key but altered after signing.
    const other = await NatsAuthority.from(await NatsAuthority.generate());
    const genuine = cmd();
    send(cmd());
    send(cmd(), other.signCommand(cmd()));
    send(cmd({ adminState: 'drain' }), auth.signCommand(genuine));
    // Signed, but for another node.
    const n1 = cmd({ nodeId: N1 });
    send(n1, auth.signCommand(n1));
    await until('four refusals', () => a2.agent.stats.refusedCommands >= 4);
    expect(a2.agent.refusals.map((r) => r.reason)).toEqual(['unsigned', 'bad_signature', 'bad_signature', 'other_node']);
    expect(a2.agent.appliedAdminState).toBe('none');
    expect(a2.lines.some((l) => /refused a command over NATS \(unsigned\)/.test(l))).toBe(true);

    capture.length = 0; // from here on, only what the control plane sends
    // The operator's drain, signed by the control plane, is taken; a resume after it; then the captured drain replayed is refused.
    expect((await s.call('POST', `/v1/nodes/${N2}/drain`, { body: {} })).status).toBe(200);
    await until('the drain taken', () => a2.agent.appliedAdminState === 'drain');
    const drain = capture.find((c) => JSON.parse(new TextDecoder().decode(c.data)).adminState === 'drain')!;
    expect(drain).toBeDefined();
    expect((await s.call('POST', `/v1/nodes/${N2}/resume`, { body: {} })).status).toBe(200);
    await until('the resume taken', () => a2.agent.appliedAdminState === 'none');
    const refusedBefore = a2.agent.stats.refusedCommands;
    send(drain.data, drain.sig);
    await until('the replay refused', () => a2.agent.stats.refusedCommands > refusedBefore);
    expect(a2.agent.refusals.at(-1)!.reason).toBe('replayed');
    expect(a2.agent.appliedAdminState).toBe('none');
    spy.unsubscribe();
  });

  it('a consumer found gone is created again and heartbeats flow again', async () => {
    const a1 = agents[0]!;
    const jsm = await cp.jetstreamManager();
    await jsm.consumers.delete(consumer.stream, consumer.durable);
    await until('the consumer re-created', () => consumer.counters.recreated >= 1);
    const before = s.cp.telemetry.via.nats;
    s.clock.advanceMs(INTERVAL_MS);
    expect(await a1.agent.beat()).toBe('nats');
    await until('a heartbeat taken by the new consumer', () => s.cp.telemetry.via.nats > before);
  });

  it('an agent whose NATS heartbeats nobody takes sends them over HTTP, and returns to NATS when they are taken again', async () => {
    const a1 = agents[0]!;
    await consumer.stop();
    const http = a1.agent.stats.sentHttp;
    // Within RECEIPT_TIMEOUT intervals of the last receipt: still NATS only.
    s.clock.advanceMs(INTERVAL_MS);
    expect(await a1.agent.beat()).toBe('nats');
    s.clock.advanceMs(2 * INTERVAL_MS);
    expect(await a1.agent.beat()).toBe('http');
    expect(a1.agent.stats.sentHttp).toBe(http + 1);
    expect(a1.lines.some((l) => /no receipt for NATS heartbeats/.test(l))).toBe(true);
    // The node stays up: the control plane had it over HTTP.
    await s.cp.telemetry.tick();
    expect(s.cp.telemetry.node(N1).state).not.toBe('down');

    consumer = await new NatsTelemetry(s.cp.telemetry, { servers: nats.url, auth, checkEveryMs: 100 }, CELL).start();
    const receipts = a1.agent.stats.receipts;
    s.clock.advanceMs(INTERVAL_MS);
    await a1.agent.beat(); // over NATS (and HTTP, still unconfirmed); the consumer takes it and answers
    await until('a receipt from the new consumer', () => a1.agent.stats.receipts > receipts);
    s.clock.advanceMs(INTERVAL_MS);
    expect(await a1.agent.beat()).toBe('nats');
  });
});
