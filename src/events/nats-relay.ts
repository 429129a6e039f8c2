/**
 * The NATS relay: publishes a cell's event log to NATS JetStream, at least once, in sequence order.
 *
 * - Subjects: `<prefix>.<cell>.<type>` with the type's `dev.neocloud.` prefix cut, e.g.
 *   `neocloud.events.default.lease.placed`; the payload is the CloudEvent as JSON (what
 *   `GET /v1/events` returns) and `Nats-Msg-Id` is the event id, so JetStream drops a copy published
 *   again within the stream's duplicate window (NATS docs, "JetStream Model Deep Dive: Message
 *   Deduplication"). Consumers that may see a copy later than that still deduplicate on the id.
 * - Stream: created on first connect if missing (file storage, limits retention, oldest discarded;
 *   7 days, 1 GiB, 2 min duplicate window by default). An existing stream is used as it is, but
 *   must capture `<prefix>.>`; every publish names the stream (`Nats-Expected-Stream`), so an
 *   event never lands in another one.
 * - Cursor: `nats_relay_cursors.last_seq` per (cell, stream), moved forward only past events
 *   whose publish JetStream acknowledged, and only over a gap-free prefix of the batch. A crash
 *   between the ack and the cursor update publishes those events again (dropped as duplicates).
 * - One relay per cell: the cursor row is a lease (`owner`, `lease_until` on the database clock),
 *   claimed and renewed in one statement each pass, taken over when it runs out (or at once when
 *   its owner stops). Not a transaction held across publishes: PGlite runs every query of the
 *   process on one connection, so an open transaction would stall the API while NATS answers;
 *   and a session advisory lock is re-entrant within PGlite's single session. A relay whose
 *   lease lapsed and one that took over may overlap for one batch: both publish in order from a
 *   cursor, JetStream keeps the first copy of each id, so the stream stays in order.
 * - Failures (NATS down, a timeout, the database): nothing is skipped; the pass is retried with
 *   exponential backoff, from the cursor.
 * - Why not `consumeLog` (src/events/log-consumer.ts), the helper every in-database consumer uses:
 *   its effect is outside the database. consumeLog holds the cursor's row lock in a transaction
 *   around the handler; here the handler would be the JetStream publish, so that transaction
 *   would stay open while NATS answers (or times out), stalling every query of a PGlite process.
 *   So the relay keeps its own cursor row, a lease rather than a lock, and at-least-once delivery
 *   with JetStream's deduplication instead of exactly-once by transaction. Payloads go out as
 *   the producer wrote them (typed in src/events/event-data.ts; subscribers decode them with
 *   `decodeLeaseEvent`).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { JetStreamClient, NatsConnection, PubAck, StreamConfig } from 'nats';
import { natsConnectAuth, type NatsAuthority } from '../shared/nats-auth.js';
import type { Db } from '../store/db.js';
import { shortType } from './event-data.js';
import type { CloudEvent, EventLog } from './event-log.js';
import { natsRelayCursors } from './event-schema.js';

export const DEFAULT_STREAM = 'NEOCLOUD_EVENTS';
export const DEFAULT_SUBJECT_PREFIX = 'neocloud.events';

export interface RelayLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NatsRelayOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` (NATS_URL). */
  servers: string;
  /** JetStream stream name (default `NEOCLOUD_EVENTS`). */
  stream?: string;
  /** Subject prefix (default `neocloud.events`); the stream captures `<prefix>.>`. */
  subjectPrefix?: string;
  /** Events read and published per pass (default 500). */
  batchSize?: number;
  /** How long an idle relay (caught up, or another's lock) waits before looking again, ms (default 250). */
  pollMs?: number;
  /** The lock's lease, seconds (default 15): a relay that stopped renewing is replaced after this. */
  lockLeaseS?: number;
  /** Wait for a publish ack, ms (default 5000). */
  publishTimeoutMs?: number;
  /** Wait for a connection, ms (default 2000). */
  connectTimeoutMs?: number;
  /** Backoff after a failed pass: first and largest wait, ms (default 250 and 5000). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Wait between the NATS client's own reconnect attempts, ms (default 1000). */
  reconnectWaitMs?: number;
  /** Limits of a stream the relay creates: age, seconds (default 7 days); bytes (default 1 GiB); duplicate window, seconds (default 120). */
  maxAgeS?: number;
  maxBytes?: number;
  duplicateWindowS?: number;
  logger?: RelayLogger;
  /** The NATS authority: the relay connects as the control plane's NATS user (null or unset: no credentials, an open server). */
  auth?: NatsAuthority | null;
}

/** A snapshot of the relay for /metrics and tests. Counts are since this relay started. */
export interface RelayMetrics {
  /** This relay holds the cell's lock and publishes (false: another does; it idles). */
  leader: boolean;
  /** Connected to NATS now. */
  connected: boolean;
  /** Events JetStream acknowledged, duplicates included. */
  published: number;
  /** Of those, acknowledged as duplicates (already in the stream within the duplicate window). */
  duplicates: number;
  /** Failed passes (connection, publish, database). */
  errors: number;
  lastError: string | null;
  /** The last sequence number published and recorded (the cursor), as last read. */
  cursor: number;
  /** The cell's last sequence number, as last read. */
  head: number;
  /** head − cursor: events not yet published. */
  lag: number;
}

/** The client library, loaded on first connect: a control plane without NATS_URL never pays its ~100 ms load. */
let natsLib: Promise<typeof import('nats')> | null = null;
const loadNats = (): Promise<typeof import('nats')> => (natsLib ??= import('nats'));

const TOKEN = /^[A-Za-z0-9_-]+$/;
/** Room for the headers (`Nats-Msg-Id`, `Nats-Expected-Stream`) within a message's size limit. */
const HEADER_ALLOWANCE_BYTES = 512;
/** Logs the same failure again only after this, so a long outage is not a line per retry. */
const REPEAT_LOG_MS = 60_000;

function checkOptions(o: NatsRelayOptions, cell: string): void {
  if (!TOKEN.test(cell)) throw new Error(`NatsRelay: cell must be one subject token (letters, digits, _ and -), got "${cell}"`);
  if (o.stream !== undefined && !TOKEN.test(o.stream)) throw new Error(`NatsRelay: stream must be letters, digits, _ and -, got "${o.stream}"`);
  if (o.subjectPrefix !== undefined && !o.subjectPrefix.split('.').every((t) => TOKEN.test(t))) {
    throw new Error(`NatsRelay: subjectPrefix must be dot-separated tokens of letters, digits, _ and -, got "${o.subjectPrefix}"`);
  }
  for (const k of ['batchSize', 'pollMs', 'lockLeaseS', 'publishTimeoutMs', 'connectTimeoutMs', 'backoffMinMs', 'backoffMaxMs', 'reconnectWaitMs', 'maxAgeS', 'maxBytes', 'duplicateWindowS'] as const) {
    const v = o[k];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`NatsRelay: ${k} must be a positive integer, got ${v}`);
  }
}

export class NatsRelay {
  readonly stream: string;
  readonly subjectPrefix: string;
  /** This relay's name in the lock (host, process, random). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly o: Required<Omit<NatsRelayOptions, 'stream' | 'subjectPrefix' | 'logger' | 'auth'>>;
  private readonly auth: NatsAuthority | null;
  private readonly logger: RelayLogger;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private streamReady = false;
  /** The stream's `max_msg_size` (−1: no limit of its own). */
  private streamMaxMsgBytes = -1;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private lastLogged = { msg: '', atMs: 0 };
  /** When this relay, holding the lock, renews it next (local clock, ms). */
  private renewAtMs = 0;
  private readonly m: RelayMetrics = {
    leader: false, connected: false, published: 0, duplicates: 0, errors: 0, lastError: null, cursor: 0, head: 0, lag: 0,
  };

  constructor(private readonly db: Db, private readonly log: EventLog, opts: NatsRelayOptions) {
    checkOptions(opts, log.cell);
    this.stream = opts.stream ?? DEFAULT_STREAM;
    this.subjectPrefix = opts.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    this.auth = opts.auth ?? null;
    this.logger = opts.logger ?? {
      info: (obj, msg) => console.log(`nats relay: ${msg}`, obj),
      warn: (obj, msg) => console.warn(`nats relay: ${msg}`, obj),
    };
    this.o = {
      servers: opts.servers, batchSize: opts.batchSize ?? 500, pollMs: opts.pollMs ?? 250, lockLeaseS: opts.lockLeaseS ?? 15,
      publishTimeoutMs: opts.publishTimeoutMs ?? 5_000, connectTimeoutMs: opts.connectTimeoutMs ?? 2_000,
      backoffMinMs: opts.backoffMinMs ?? 250, backoffMaxMs: opts.backoffMaxMs ?? 5_000, reconnectWaitMs: opts.reconnectWaitMs ?? 1_000,
      maxAgeS: opts.maxAgeS ?? 7 * 86_400, maxBytes: opts.maxBytes ?? 1024 ** 3, duplicateWindowS: opts.duplicateWindowS ?? 120,
    };
  }

  /** Starts publishing in the background; returns at once. */
  start(): this {
    if (this.loop) return this;
    this.stopping = false;
    this.loop = this.run();
    return this;
  }

  /** Stops after the pass in flight, gives up the lock (so another relay takes over at once) and closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
    await this.db.update(natsRelayCursors).set({ owner: null, leaseUntil: null, updatedAt: sql`now()` })
      .where(and(eq(natsRelayCursors.cell, this.log.cell), eq(natsRelayCursors.stream, this.stream), eq(natsRelayCursors.owner, this.owner)))
      .catch((err: unknown) => this.logger.warn({ err }, 'could not release the relay lock; it lapses by itself'));
    this.m.leader = false;
    await this.disconnect();
  }

  /** Looks for new events now instead of at the end of the poll wait. */
  poke(): void {
    this.wake?.();
  }

  metrics(): RelayMetrics {
    return { ...this.m };
  }

  /** The subject an event is published on. */
  subjectOf(e: CloudEvent): string {
    return `${this.subjectPrefix}.${this.log.cell}.${shortType(e)}`;
  }

  private async run(): Promise<void> {
    let backoffMs = this.o.backoffMinMs;
    let failing = false;
    while (!this.stopping) {
      try {
        const more = await this.pass();
        if (failing) this.logger.info({ cursor: this.m.cursor, head: this.m.head }, 'publishing again');
        failing = false;
        backoffMs = this.o.backoffMinMs;
        // A standby only needs to notice a lapsed lock; a leader, new events.
        if (!more) await this.sleep(this.m.leader ? this.o.pollMs : Math.max(this.o.pollMs, (this.o.lockLeaseS * 1000) / 3));
      } catch (err) {
        failing = true;
        this.m.errors++;
        const msg = err instanceof Error ? err.message : String(err);
        this.m.lastError = msg;
        const nowMs = Date.now();
        if (msg !== this.lastLogged.msg || nowMs - this.lastLogged.atMs >= REPEAT_LOG_MS) {
          this.lastLogged = { msg, atMs: nowMs };
          this.logger.warn({ err, cursor: this.m.cursor, head: this.m.head, retryInMs: backoffMs }, 'relay pass failed; retrying from the cursor');
        }
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.o.backoffMaxMs);
      }
    }
  }

  /** One pass: claim or renew the lock, publish one batch. True when there may be more to publish at once. */
  private async pass(): Promise<boolean> {
    // The lock is renewed a third of the way into its lease (the cursor only moves by our hand meanwhile).
    let cursor: number | null = this.m.cursor;
    if (!this.m.leader || Date.now() >= this.renewAtMs) {
      const atMs = Date.now();
      cursor = await this.claim();
      if (cursor !== null) this.renewAtMs = atMs + (this.o.lockLeaseS * 1000) / 3;
    }
    const head = await this.log.head();
    this.m.head = head;
    if (cursor === null) {
      if (this.m.leader) this.logger.info({ stream: this.stream }, 'another relay holds this cell; idling');
      this.m.leader = false;
      await this.disconnect();
      // A standby reports the leader's progress, so lag means the same on every control plane.
      const [row] = await this.db.select({ lastSeq: natsRelayCursors.lastSeq }).from(natsRelayCursors)
        .where(and(eq(natsRelayCursors.cell, this.log.cell), eq(natsRelayCursors.stream, this.stream)));
      this.setCursor(row?.lastSeq ?? 0);
      return false;
    }
    this.m.leader = true;
    this.setCursor(cursor);
    if (head <= cursor) return false;
    const js = await this.jetstream();
    const read = await this.log.read(cursor, this.o.batchSize, null);
    if (read.length === 0) return false;
    // The batch stops before an event too large to publish: sending the ones after it would put
    // them in the stream ahead of it. Such an event holds the relay back (logged), never skipped.
    const limit = this.messageLimitBytes() - HEADER_ALLOWANCE_BYTES;
    const batch: { e: CloudEvent; payload: Buffer }[] = [];
    for (const e of read) {
      const payload = Buffer.from(JSON.stringify(e));
      if (payload.length > limit) break;
      batch.push({ e, payload });
    }
    if (batch.length === 0) {
      throw new Error(`event ${read[0]!.id} (sequence ${read[0]!.sequence}) is ${Buffer.byteLength(JSON.stringify(read[0]))} bytes, over the ${limit}-byte limit of NATS max_payload and the stream's max_msg_size; raise them to let the relay pass it`);
    }
    // All of the batch goes out at once, in order, on one connection (JetStream stores in arrival
    // order); the cursor then moves past the acknowledged prefix only.
    const acks = await Promise.allSettled(batch.map(({ e, payload }) => js.publish(this.subjectOf(e), payload, {
      msgID: e.id, expect: { streamName: this.stream }, timeout: this.o.publishTimeoutMs,
    })));
    let n = 0;
    let failure: unknown = null;
    for (const a of acks) {
      if (a.status === 'rejected') { failure = a.reason; break; }
      n++;
      this.count(a.value);
    }
    if (n > 0) {
      const stillOwner = await this.advance(Number(batch[n - 1]!.e.sequence));
      if (!stillOwner) {
        this.logger.info({ stream: this.stream, owner: this.owner }, 'the relay lock passed to another relay; idling');
        this.m.leader = false;
        return false;
      }
    }
    if (failure !== null) {
      this.streamReady = false; // the stream may be gone: look again before the next try
      throw failure;
    }
    return read.length === this.o.batchSize;
  }

  /** The largest message NATS and the stream accept, bytes (headers included). */
  private messageLimitBytes(): number {
    const server = this.nc?.info?.max_payload ?? 1024 ** 2;
    return this.streamMaxMsgBytes > 0 ? Math.min(server, this.streamMaxMsgBytes) : server;
  }

  private count(ack: PubAck): void {
    this.m.published++;
    if (ack.duplicate) this.m.duplicates++;
  }

  private setCursor(seq: number): void {
    this.m.cursor = seq;
    this.m.lag = Math.max(0, this.m.head - seq);
  }

  /**
   * Takes the cell's lock if it is free, ours, or lapsed, renewing its lease; creates the row (cursor
   * 0: the whole log) the first time. Returns the cursor, or null when another relay holds it.
   */
  private async claim(): Promise<number | null> {
    const c = natsRelayCursors;
    const leaseUntil = sql`now() + make_interval(secs => ${this.o.lockLeaseS})`;
    const rows = await this.db.insert(c)
      .values({ cell: this.log.cell, stream: this.stream, lastSeq: 0, owner: this.owner, leaseUntil })
      .onConflictDoUpdate({
        target: [c.cell, c.stream],
        set: { owner: this.owner, leaseUntil, updatedAt: sql`now()` },
        setWhere: or(isNull(c.owner), eq(c.owner, this.owner), lt(c.leaseUntil, sql`now()`)),
      })
      .returning({ lastSeq: c.lastSeq });
    return rows[0]?.lastSeq ?? null;
  }

  /** Moves the cursor to `seq` (never back) and renews the lease, if this relay still holds the lock. */
  private async advance(seq: number): Promise<boolean> {
    const c = natsRelayCursors;
    const atMs = Date.now();
    const rows = await this.db.update(c)
      .set({ lastSeq: sql`GREATEST(${c.lastSeq}, ${seq})`, leaseUntil: sql`now() + make_interval(secs => ${this.o.lockLeaseS})`, updatedAt: sql`now()` })
      .where(and(eq(c.cell, this.log.cell), eq(c.stream, this.stream), eq(c.owner, this.owner)))
      .returning({ lastSeq: c.lastSeq });
    if (!rows[0]) return false;
    this.renewAtMs = atMs + (this.o.lockLeaseS * 1000) / 3;
    this.setCursor(rows[0].lastSeq);
    return true;
  }

  /** The JetStream client, connecting and creating the stream first if needed. */
  private async jetstream(): Promise<JetStreamClient> {
    if (this.nc?.isClosed()) await this.disconnect();
    const { connect, Events } = await loadNats();
    if (!this.nc) {
      const nc = await connect({
        servers: this.o.servers, name: `neocloud-relay-${this.log.cell}`, timeout: this.o.connectTimeoutMs,
        reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: this.o.reconnectWaitMs,
        ...(await natsConnectAuth(this.auth?.controlPlaneUser(`control-plane-relay-${this.log.cell}`))),
      });
      this.nc = nc;
      this.js = nc.jetstream({ timeout: this.o.publishTimeoutMs });
      this.streamReady = false;
      this.m.connected = true;
      void (async () => {
        for await (const s of nc.status()) {
          if (this.nc !== nc) return;
          if (s.type === Events.Disconnect) this.m.connected = false;
          else if (s.type === Events.Reconnect) this.m.connected = true;
        }
      })().catch(() => undefined);
      void nc.closed().then(() => { if (this.nc === nc) this.m.connected = false; });
    }
    if (!this.streamReady) {
      await this.ensureStream(this.nc);
      this.streamReady = true;
    }
    return this.js!;
  }

  /** Creates the stream if it is missing; checks that an existing one captures our subjects and notes its message size limit. */
  private async ensureStream(nc: NatsConnection): Promise<void> {
    const { DiscardPolicy, nanos, RetentionPolicy, StorageType } = await loadNats();
    const jsm = await nc.jetstreamManager({ timeout: this.o.publishTimeoutMs });
    const subjects = `${this.subjectPrefix}.>`;
    let info = await jsm.streams.info(this.stream).catch((err: unknown) => {
      if (isStreamNotFound(err)) return null;
      throw err;
    });
    if (!info) {
      const config: Partial<StreamConfig> & { name: string } = {
        name: this.stream, subjects: [subjects], description: 'neocloud event log (CloudEvents), published by the control plane relay',
        storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1,
        max_age: nanos(this.o.maxAgeS * 1000), max_bytes: this.o.maxBytes, duplicate_window: nanos(this.o.duplicateWindowS * 1000),
      };
      try {
        info = await jsm.streams.add(config);
        this.logger.info({ stream: this.stream, subjects }, 'created the JetStream stream');
      } catch (err) {
        // Another relay (another cell) may have created it first.
        info = await jsm.streams.info(this.stream).catch(() => null);
        if (!info) throw err;
      }
    }
    checkSubjects(info.config.subjects, subjects, this.stream);
    this.streamMaxMsgBytes = info.config.max_msg_size ?? -1;
  }

  private async disconnect(): Promise<void> {
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    this.streamReady = false;
    this.m.connected = false;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number } } | null;
  return e?.api_error?.err_code === 10059 || (e?.code === '404' && /stream not found/i.test(String((err as Error).message)));
}

function checkSubjects(have: readonly string[] | undefined, want: string, stream: string): void {
  if (!have?.includes(want)) {
    throw new Error(`JetStream stream ${stream} exists but does not capture "${want}" (its subjects: ${JSON.stringify(have ?? [])}); add the subject or name another stream`);
  }
}
