/**
 * Heartbeats over NATS JetStream: agents publish to `<prefix>.<site>.<node>` (default
 * `neocloud.telemetry.<cell>.site-a.node-1`), the stream `NEOCLOUD_TELEMETRY_<CELL>` captures `<prefix>.>` with
 * limits (memory storage — telemetry is state, not a record: 5 minutes, 1 GiB, oldest discarded,
 * duplicates by `Nats-Msg-Id` = agent + seq within 2 min), and
 * the control plane reads it with a durable pull consumer (`control-plane-<cell>`), so a restarted
 * control plane resumes where it left off and catches up on what the stream kept (the latest per
 * node among it). Commands to agents go on core NATS at `neocloud.agent.cmd.<cell>.<site>.<node>` (an agent
 * that misses one gets the same state in its next HTTP answer or on reconnect: it is state too).
 *
 * Every message is handed to TelemetryService.ingestNats, which verifies the agent's MAC and the
 * subject and counts every refusal (an agent enrolled on another control plane, or after this one
 * started, is looked up in the store before it is refused); a message that cannot be taken is acknowledged all the same
 * (it will never become valid) — the consumer never stops on bad input.
 *
 * Identities (src/shared/nats-auth.ts): given an authority, the consumer connects as the control
 * plane's NATS user, agents enrol with a NATS user of their own (their telemetry subject to
 * publish, their command subject to hear, nothing else), and every command is signed with the
 * command key. After taking a node's heartbeat the consumer sends the node a receipt (an empty
 * message with HDR_RECEIPT on its command subject) when it has sent it nothing for
 * `RECEIPT_EVERY` of an interval, so an agent whose heartbeats nobody takes stops hearing
 * receipts and falls back to HTTP (src/agent/agent.ts) instead of publishing into a stream
 * nobody reads.
 *
 * The durable consumer is checked every `checkEveryMs` (and at once when the client reports it
 * deleted): a consumer (or stream) found gone is created again, reading from the latest message per
 * node (telemetry is state: what came before it is superseded).
 */
import type { ConsumerMessages, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import { HDR_AGENT, HDR_CMD_SIG, HDR_RECEIPT, HDR_SIG, type NodeCommand, type SignedCommand } from '../agent/agent-wire.js';
import { natsConnectAuth, type NatsAuthority } from '../shared/nats-auth.js';
import type { TelemetryService } from './telemetry-service.js';

/** One ack (ack-all policy) per this many messages, and for the rest after this long idle. */
const ACK_EVERY = 256;
const ACK_IDLE_MS = 200;
/** A node is sent a receipt (its command, signed) after a heartbeat taken at most once per this fraction of its interval. */
const RECEIPT_EVERY = 0.8;

export interface NatsTelemetryOptions {
  servers: string;
  stream?: string;
  subjectPrefix?: string;
  commandPrefix?: string;
  durable?: string;
  /** Stream limits (default 300 s, 1 GiB, no per-subject cap). */
  maxAgeS?: number;
  maxBytes?: number;
  maxMsgsPerSubject?: number;
  /** Messages fetched per pull. */
  batch?: number;
  /** The NATS authority (connects as the control plane's user, gives agents theirs, signs commands); null: an open server, unsigned commands. */
  auth?: NatsAuthority | null;
  /** How often the durable consumer is checked, and re-created when gone, ms (default 5000). */
  checkEveryMs?: number;
  logger?: { warn(obj: unknown, msg?: string): void; info(obj: unknown, msg?: string): void };
}

export class NatsTelemetry {
  private nc: NatsConnection | null = null;
  private jsm: JetStreamManager | null = null;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private stopped = false;
  /** When each node (by command subject) was last sent its command or a receipt, ms. */
  private readonly receiptAtMs = new Map<string, number>();
  /** consumed: messages handed to the service; errors: bugs caught; recreated: times the consumer (or stream) was found gone and made again; receipts: receipts sent. */
  readonly counters = { consumed: 0, errors: 0, recreated: 0, receipts: 0 };
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly commandPrefix: string;
  readonly durable: string;

  constructor(private readonly svc: TelemetryService, private readonly o: NatsTelemetryOptions, cell = 'default') {
    // A stream per cell (a region's control plane): the 5M-GPU layout in docs/architecture.md.
    this.stream = o.stream ?? `NEOCLOUD_TELEMETRY_${cell.toUpperCase().replace(/-/g, '_')}`;
    this.subjectPrefix = o.subjectPrefix ?? `neocloud.telemetry.${cell}`;
    this.commandPrefix = o.commandPrefix ?? `neocloud.agent.cmd.${cell}`;
    this.durable = o.durable ?? `control-plane-${cell}`;
  }

  /** Connects, makes sure the stream and the durable consumer exist, and starts consuming. */
  async start(): Promise<this> {
    const { connect, headers } = await import('nats');
    this.headers = headers;
    const auth = this.o.auth ?? null;
    const nc = await connect({
      servers: this.o.servers, name: 'neocloud-telemetry', maxReconnectAttempts: -1, reconnectTimeWait: 1_000,
      ...(await natsConnectAuth(auth?.controlPlaneUser('control-plane-telemetry'))),
    });
    this.nc = nc;
    this.jsm = await nc.jetstreamManager();
    this.stopped = false;
    await this.ensureStream();
    await this.ensureConsumer('all');
    this.svc.opts.nats = {
      subjectPrefix: this.subjectPrefix, commandPrefix: this.commandPrefix,
      agentCredentials: auth ? (agentId, subject, commandSubject) => auth.agentUser(agentId, subject, commandSubject) : null,
      commandKey: auth?.commandPublicKey ?? null,
    };
    this.svc.commandPublisher = (site, node, cmd) => this.sendCommand(`${this.commandPrefix}.${site}.${node}`, cmd);
    await this.consume();
    this.ackTimer = setInterval(() => { this.unacked?.ack(); this.unacked = null; }, ACK_IDLE_MS);
    this.ackTimer.unref();
    this.checkTimer = setInterval(() => void this.check(), this.o.checkEveryMs ?? 5_000);
    this.checkTimer.unref();
    this.o.logger?.info({ stream: this.stream, durable: this.durable, authenticated: auth !== null }, 'telemetry consumer started');
    return this;
  }

  private unacked: JsMsg | null = null;
  private headers: typeof import('nats').headers | null = null;

  /** Publishes a node's command, signed when there is an authority (`issuedAtMs`: this process's clock). */
  private sendCommand(subject: string, cmd: NodeCommand): void {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const signed: SignedCommand = { ...cmd, issuedAtMs: Date.now() };
    const data = new TextEncoder().encode(JSON.stringify(signed));
    this.receiptAtMs.set(subject, signed.issuedAtMs);
    const auth = this.o.auth;
    if (!auth || !this.headers) { nc.publish(subject, data); return; }
    const h = this.headers();
    h.set(HDR_CMD_SIG, auth.signCommand(data));
    nc.publish(subject, data, { headers: h });
  }

  /** After a heartbeat taken from `subject` (`<prefix>.<site>.<node>`): a receipt when the node has had none for RECEIPT_EVERY of an interval. */
  private receipt(subject: string): void {
    const nowMs = Date.now();
    const rest = subject.slice(this.subjectPrefix.length + 1);
    const dot = rest.indexOf('.');
    const nodeId = rest.slice(dot + 1);
    const intervalMs = this.svc.state.node(nodeId)?.intervalMs ?? this.svc.opts.intervalMs;
    const cmdSubject = `${this.commandPrefix}.${rest}`;
    if (nowMs - (this.receiptAtMs.get(cmdSubject) ?? 0) < intervalMs * RECEIPT_EVERY) return;
    const nc = this.nc;
    if (!nc || nc.isClosed() || !this.headers) return;
    this.receiptAtMs.set(cmdSubject, nowMs);
    this.counters.receipts++;
    const h = this.headers();
    h.set(HDR_RECEIPT, '1');
    nc.publish(cmdSubject, undefined, { headers: h });
  }

  private async ensureStream(): Promise<void> {
    const { nanos, DiscardPolicy, RetentionPolicy, StorageType } = await import('nats');
    const jsm = this.jsm!;
    const exists = await jsm.streams.info(this.stream).then(() => true, () => false);
    if (exists) return;
    await jsm.streams.add({
      name: this.stream, subjects: [`${this.subjectPrefix}.>`], storage: StorageType.Memory, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1,
      // Age and bytes only: a per-subject cap makes every message past it an interior delete in
      // the memory store, which cut JetStream's ingest several-fold at 12,500 subjects (measured,
      // docs/benchmarks.md); age-ordered removal from the head is cheap.
      max_age: nanos((this.o.maxAgeS ?? 300) * 1000), max_bytes: this.o.maxBytes ?? 1024 ** 3,
      ...(this.o.maxMsgsPerSubject ? { max_msgs_per_subject: this.o.maxMsgsPerSubject } : {}), duplicate_window: nanos(120_000),
    });
  }

  /**
   * Creates the durable consumer when missing: `all` on first start (catch up on what the stream
   * kept), `recent` when it was found gone (what arrived since a little before it can have gone:
   * two checks or one heartbeat interval back, whichever is longer; older heartbeats are superseded).
   */
  private async ensureConsumer(from: 'all' | 'recent'): Promise<boolean> {
    const { AckPolicy, DeliverPolicy } = await import('nats');
    const jsm = this.jsm!;
    if (await jsm.consumers.info(this.stream, this.durable).then(() => true, () => false)) return false;
    const backMs = Math.max(2 * (this.o.checkEveryMs ?? 5_000), this.svc.opts.intervalMs);
    await jsm.consumers.add(this.stream, {
      // Ack-all: one ack covers every message before it, so the consumer acks every ACK_EVERY
      // messages (and what is left after ACK_IDLE_MS) instead of each one.
      // No filter: the stream holds only this cell's telemetry (a filter equal to the stream's subjects still costs per message).
      durable_name: this.durable, ack_policy: AckPolicy.All, max_ack_pending: 50_000,
      ...(from === 'all' ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - backMs).toISOString() }),
    });
    return true;
  }

  private async consume(): Promise<void> {
    const { ConsumerEvents } = await import('nats');
    const consumer = await this.nc!.jetstream().consumers.get(this.stream, this.durable);
    const messages = await consumer.consume({ max_messages: this.o.batch ?? 1_000 });
    this.messages = messages;
    let n = 0;
    void (async () => {
      for await (const s of await messages.status()) {
        if (s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.ConsumerNotFound || s.type === ConsumerEvents.StreamNotFound) {
          void this.check();
        }
      }
    })().catch(() => undefined);
    this.loop = (async () => {
      for await (const m of messages) {
        try {
          // An agent this process has not cached is looked up in the store first (once per agent).
          const answer = this.svc.ingestNats(m.subject, m.data, m.headers?.get(HDR_AGENT) || undefined, m.headers?.get(HDR_SIG) || undefined);
          const r = answer instanceof Promise ? await answer : answer; // no microtask on the hot path
          this.counters.consumed++;
          if (r.ok) this.receipt(m.subject);
        } catch (err) {
          // ingestNats counts and answers; this is a bug's last line of defence, not a path.
          this.counters.errors++;
          this.o.logger?.warn({ err }, 'telemetry message failed');
        }
        // Acknowledged whatever happened to it: a refused message never becomes valid.
        if (++n % ACK_EVERY === 0) { m.ack(); this.unacked = null; } else this.unacked = m;
      }
      if (this.messages === messages) { this.unacked?.ack(); this.unacked = null; }
    })();
  }

  /**
   * Makes sure the stream and the durable consumer exist; when either was gone (deleted by hand,
   * a server that lost its memory store), creates it again and consumes from it. Returns whether
   * it had to. Errors (NATS unreachable) are logged; the next check tries again.
   */
  async check(): Promise<boolean> {
    if (this.checking || this.stopped || !this.jsm) return false;
    this.checking = true;
    try {
      await this.ensureStream();
      if (!(await this.ensureConsumer('recent'))) return false;
      this.counters.recreated++;
      this.o.logger?.warn({ stream: this.stream, durable: this.durable }, 'telemetry consumer was gone; created it again');
      this.messages?.stop();
      await this.loop?.catch(() => undefined);
      this.unacked = null;
      if (!this.stopped) await this.consume();
      return true;
    } catch (err) {
      this.o.logger?.warn({ err }, 'telemetry consumer check failed');
      return false;
    } finally {
      this.checking = false;
    }
  }

  /** Messages the consumer has not yet been delivered (its lag). */
  async pending(): Promise<number> {
    if (!this.nc) return 0;
    const info = await (await this.nc.jetstreamManager()).consumers.info(this.stream, this.durable);
    return info.num_pending + info.num_ack_pending;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.svc.commandPublisher = null;
    if (this.ackTimer) clearInterval(this.ackTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.messages?.stop();
    await this.loop?.catch(() => undefined);
    await this.nc?.drain().catch(() => undefined);
    this.nc = null;
    this.jsm = null;
  }
}
