/**
 * The NATS relay against a real NATS JetStream of the test's own (test/nats-server.ts), in
 * operator mode: the relay connects as the control plane's NATS user, as in production. On every
 * store. What the stream holds is read back with a JetStream consumer and
 * compared with the log as `GET /v1/events` serves it: every event once, in sequence order, on its
 * subject, with its id as `Nats-Msg-Id`. Each run uses a stream and subject prefix of its own and
 * deletes them. NATS going down is a TCP proxy in front of it that refuses and cuts connections.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { sql } from 'drizzle-orm';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NatsRelay, type CloudEvent, type NatsRelayOptions } from '../src/events/index.js';
import { NatsAuthority, natsConnectAuth } from '../src/shared/nats-auth.js';
import { STORE_KINDS, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';
import { startNatsServer } from './nats-server.js';

const authority = await NatsAuthority.from(await NatsAuthority.generate());
const natsServer = await startNatsServer(authority);
afterAll(() => natsServer.stop());
const NATS_URL = natsServer.url;
const natsAddr = new URL(NATS_URL.replace(/^nats:/, 'http:'));

/** Polls `check` until it returns something truthy; fails naming `what` after `timeoutMs`. */
async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP proxy to NATS that can be cut: `down()` closes every connection and refuses new ones. */
class NatsProxy {
  up = false;
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<NatsProxy> {
    const server = net.createServer();
    const p = new NatsProxy(server);
    server.on('connection', (client) => {
      if (!p.up) { client.destroy(); return; }
      const upstream = net.connect(Number(natsAddr.port || 4222), natsAddr.hostname);
      for (const s of [client, upstream]) {
        p.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => { p.sockets.delete(s); client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return p;
  }

  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  down(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.down();
    await new Promise((r) => this.server.close(r));
  }
}

interface Stored { subject: string; msgId: string | undefined; event: CloudEvent }

/** Every message in `stream`, in stream order, read with an ordered JetStream consumer. */
async function readStream(nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<Stored[]> {
  const total = (await jsm.streams.info(stream)).state.messages;
  const consumer = await nc.jetstream().consumers.get(stream);
  const out: Stored[] = [];
  for (let tries = 0; out.length < total && tries < 50; tries++) {
    const batch = await consumer.fetch({ max_messages: total - out.length, expires: 2_000 });
    for await (const m of batch) out.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), event: m.json<CloudEvent>() });
  }
  expect(out).toHaveLength(total);
  return out;
}

async function readLog(s: TestServer): Promise<CloudEvent[]> {
  const out: CloudEvent[] = [];
  for (let after = '0'; ;) {
    const r = await s.call('GET', `/v1/events?after=${after}&limit=1000`);
    expect(r.status).toBe(200);
    if (r.body.events.length === 0) return out;
    out.push(...r.body.events);
    after = r.body.next;
  }
}

for (const kind of STORE_KINDS) {
  describe(`NATS relay on ${kind}`, () => {
    const run = randomBytes(4).toString('hex');
    const stream = `NCTEST_${run}_${kind}`;
    const subjectPrefix = `nctest.${run}.${kind}`;
    let s: TestServer;
    let tenantKey: string;
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    let proxy: NatsProxy;
    const relays: NatsRelay[] = [];
    const quiet = process.env["RELAY_LOG"] ? { info: (o: object, m: string) => console.log(m, o), warn: (o: object, m: string) => console.log(m, o) } : { info: () => undefined, warn: () => undefined };

    /** A relay tuned for tests: small batches (so a backlog takes many passes), fast retries, a short lock. */
    const relay = (over: Partial<NatsRelayOptions> = {}): NatsRelay => {
      const r = new NatsRelay(s.cp.handle.db, s.cp.eventLog, {
        servers: NATS_URL, stream, subjectPrefix, batchSize: 7, pollMs: 20, lockLeaseS: 2, publishTimeoutMs: 1_000,
        connectTimeoutMs: 500, backoffMinMs: 20, backoffMaxMs: 200, reconnectWaitMs: 50, maxBytes: 64 * 1024 ** 2, logger: quiet, auth: authority, ...over,
      });
      relays.push(r);
      return r;
    };
    /** Lease changes over the API (each lease requested, placed, started, released); returns how many events they wrote. */
    const leaseChurn = async (n: number): Promise<number> => {
      const before = await s.cp.eventLog.head();
      for (let i = 0; i < n; i++) {
        const l = await s.call('POST', '/v1/leases', { key: tenantKey, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 } });
        expect(l.status).toBe(201);
        expect((await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: tenantKey, body: {} })).status).toBe(200);
      }
      return (await s.cp.eventLog.head()) - before;
    };
    const caughtUp = async (r: NatsRelay): Promise<boolean> => {
      const head = await s.cp.eventLog.head();
      const m = r.metrics();
      return m.leader && m.cursor === head && m.lag === 0;
    };
    /** The stream holds the log exactly: same ids, same sequences, same order, right subjects and Nats-Msg-Id. */
    const expectStreamIsLog = async (log?: CloudEvent[], name = stream, prefix = subjectPrefix): Promise<CloudEvent[]> => {
      log ??= await readLog(s);
      const stored = await readStream(nc, jsm, name);
      expect(stored.map((m) => m.event.sequence)).toEqual(log.map((e) => e.sequence));
      expect(stored.map((m) => m.event.id)).toEqual(log.map((e) => e.id));
      expect(stored.map((m) => m.msgId)).toEqual(log.map((e) => e.id));
      expect(stored.map((m) => m.subject)).toEqual(log.map((e) => `${prefix}.default.${e.type.replace('dev.neocloud.', '')}`));
      expect(stored.at(-1)?.event).toEqual(log.at(-1));
      return log;
    };

    beforeAll(async () => {
      s = await startServer({ store: kind, fleet: smallFleet() });
      tenantKey = (await createTenant(s, 'acme')).key;
      nc = await connect({ servers: NATS_URL, ...(await natsConnectAuth(authority.controlPlaneUser('test-reader'))) });
      jsm = await nc.jetstreamManager();
      proxy = await NatsProxy.start();
    });
    // Every test stops what it started, even when it fails, so the next one finds the lock free.
    afterEach(async () => {
      for (const r of relays.splice(0)) await r.stop();
    });
    afterAll(async () => {
      await jsm?.streams.delete(stream).catch(() => undefined);
      await jsm?.streams.delete(`${stream}_SMALL`).catch(() => undefined);
      await nc?.close();
      await proxy?.close();
      await s?.close();
    });

    it('publishes the whole log once, in order, then what is appended while it runs', async () => {
      await leaseChurn(12);
      const head = await s.cp.eventLog.head();
      expect(head).toBeGreaterThan(7 * 4); // a backlog of several batches
      const r = relay().start();
      await until('the backlog published', () => caughtUp(r));
      expect(r.metrics()).toMatchObject({ published: head, duplicates: 0, errors: 0, cursor: head, lag: 0, connected: true });
      const first = await expectStreamIsLog();
      const info = await jsm.streams.info(stream);
      expect(info.config).toMatchObject({ subjects: [`${subjectPrefix}.>`], storage: 'file', duplicate_window: 120 * 1e9, max_bytes: 64 * 1024 ** 2 });

      const added = await leaseChurn(5);
      expect(added).toBeGreaterThanOrEqual(15);
      await until('new events published', () => caughtUp(r));
      const all = await expectStreamIsLog();
      expect(all.length).toBe(first.length + added);
      expect(r.metrics()).toMatchObject({ published: head + added, duplicates: 0 });
    });

    it('publishing again after a crash before the cursor moved adds no duplicates', async () => {
      const head = await s.cp.eventLog.head();
      const before = (await jsm.streams.info(stream)).state.messages;
      expect(before).toBe(head);
      // A relay that published everything and died before recording it: the cursor is back at 0.
      await s.cp.handle.db.execute(sql`UPDATE nats_relay_cursors SET last_seq = 0, owner = NULL, lease_until = NULL WHERE stream = ${stream}`);
      const r = relay().start();
      await until('the log published again', () => caughtUp(r));
      expect(r.metrics()).toMatchObject({ published: head, duplicates: head, errors: 0 });
      expect((await jsm.streams.info(stream)).state.messages).toBe(before);
      await expectStreamIsLog();
    });

    it('one relay per cell: a second one idles, and takes over when the first stops or its lock lapses', async () => {
      const a = relay().start();
      await until('a leads', () => caughtUp(a));
      const b = relay().start();
      await leaseChurn(2);
      await until('a publishes the new events', () => caughtUp(a));
      await until('b sees the leader\'s cursor', async () => b.metrics().cursor === await s.cp.eventLog.head());
      expect(b.metrics()).toMatchObject({ leader: false, published: 0, connected: false, lag: 0 });

      await a.stop();
      const toB = await leaseChurn(2);
      await until('b takes over after a stops', () => caughtUp(b));
      expect(b.metrics()).toMatchObject({ published: toB, duplicates: 0 });

      // c finds the lock of a relay that died without releasing it: it waits for the lease to lapse.
      await b.stop();
      await s.cp.handle.db.execute(sql`UPDATE nats_relay_cursors SET owner = 'crashed', lease_until = now() + interval '1 second' WHERE stream = ${stream}`);
      const c = relay().start();
      const toC = await leaseChurn(1);
      await until('c takes over once the dead lock lapses', () => caughtUp(c));
      expect(c.metrics()).toMatchObject({ published: toC, duplicates: 0 });
      await expectStreamIsLog();
    });

    it('keeps its cursor while NATS is down and catches up when it returns', async () => {
      // Down from the start: nothing connects, nothing is skipped.
      proxy.down();
      const cursor = await s.cp.eventLog.head();
      const whileDown = await leaseChurn(3);
      const r = relay({ servers: proxy.url }).start();
      await until('failed attempts', () => r.metrics().errors >= 3);
      expect(r.metrics()).toMatchObject({ leader: true, connected: false, published: 0, cursor, lag: whileDown });
      proxy.up = true;
      await until('caught up after NATS returned', () => caughtUp(r));
      expect(r.metrics().published).toBe(whileDown);
      await expectStreamIsLog();

      // Down while connected: publishes time out, the cursor stays, and it resumes after the cut.
      const errors = r.metrics().errors;
      const atCut = r.metrics().cursor;
      proxy.down();
      const duringCut = await leaseChurn(4);
      await until('failed publishes', () => r.metrics().errors >= errors + 2);
      expect(r.metrics()).toMatchObject({ cursor: atCut, lag: duringCut });
      proxy.up = true;
      await until('caught up after the cut', () => caughtUp(r));
      await expectStreamIsLog();
    });

    it('stops before an event too large for the stream, never skipping it', async () => {
      // An operator's stream whose max_msg_size admits the log up to event k and not event k.
      const log = await readLog(s);
      const sizes = log.map((e) => Buffer.byteLength(JSON.stringify(e)));
      const k = sizes.findIndex((n, i) => i > 0 && n > Math.max(...sizes.slice(0, i)));
      expect(k).toBeGreaterThan(0);
      const name = `${stream}_SMALL`;
      const prefix = `${subjectPrefix}-small`;
      await jsm.streams.add({ name, subjects: [`${prefix}.>`], max_msg_size: Math.max(...sizes.slice(0, k)) + 512 });
      const r = relay({ stream: name, subjectPrefix: prefix }).start();
      await until('the relay held back at the large event', () => r.metrics().errors >= 3);
      expect(r.metrics()).toMatchObject({ leader: true, cursor: Number(log[k - 1]!.sequence), published: k, lastError: expect.stringContaining(`event ${log[k]!.id}`) });
      await expectStreamIsLog(log.slice(0, k), name, prefix);
    });
  });
}
