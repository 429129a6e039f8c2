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
 */
import type { ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import { HDR_AGENT, HDR_SIG } from '../agent/agent-wire.js';
import type { TelemetryService } from './telemetry-service.js';

/** One ack (ack-all policy) per this many messages, and for the rest after this long idle. */
const ACK_EVERY = 256;
const ACK_IDLE_MS = 200;

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
  logger?: { warn(obj: unknown, msg?: string): void; info(obj: unknown, msg?: string): void };
}

export class NatsTelemetry {
  private nc: NatsConnection | null = null;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  readonly counters = { consumed: 0, errors: 0 };
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
    const { connect, nanos, AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, JSONCodec } = await import('nats');
    const nc = await connect({ servers: this.o.servers, name: 'neocloud-telemetry', maxReconnectAttempts: -1, reconnectTimeWait: 1_000 });
    this.nc = nc;
    const jsm = await nc.jetstreamManager();
    const subjects = [`${this.subjectPrefix}.>`];
    const exists = await jsm.streams.info(this.stream).then(() => true, () => false);
    if (!exists) {
      await jsm.streams.add({
        name: this.stream, subjects, storage: StorageType.Memory, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1,
        // Age and bytes only: a per-subject cap makes every message past it an interior delete in
        // the memory store, which cut JetStream's ingest several-fold at 12,500 subjects (measured,
        // docs/benchmarks.md); age-ordered removal from the head is cheap.
        max_age: nanos((this.o.maxAgeS ?? 300) * 1000), max_bytes: this.o.maxBytes ?? 1024 ** 3,
        ...(this.o.maxMsgsPerSubject ? { max_msgs_per_subject: this.o.maxMsgsPerSubject } : {}), duplicate_window: nanos(120_000),
      });
    }
    await jsm.consumers.info(this.stream, this.durable).catch(() => jsm.consumers.add(this.stream, {
      // Ack-all: one ack covers every message before it, so the consumer acks every ACK_EVERY
      // messages (and what is left after ACK_IDLE_MS) instead of each one.
      // No filter: the stream holds only this cell's telemetry (a filter equal to the stream's subjects still costs per message).
      durable_name: this.durable, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: 50_000,
    }));
    this.svc.opts.nats = { subjectPrefix: this.subjectPrefix, commandPrefix: this.commandPrefix };
    const jc = JSONCodec();
    this.svc.commandPublisher = (site, node, cmd) => {
      if (!nc.isClosed()) nc.publish(`${this.commandPrefix}.${site}.${node}`, jc.encode(cmd));
    };
    const consumer = await nc.jetstream().consumers.get(this.stream, this.durable);
    this.messages = await consumer.consume({ max_messages: this.o.batch ?? 1_000 });
    const messages = this.messages;
    let unacked: JsMsg | null = null;
    let n = 0;
    this.ackTimer = setInterval(() => { unacked?.ack(); unacked = null; }, ACK_IDLE_MS);
    this.ackTimer.unref();
    this.loop = (async () => {
      for await (const m of messages) {
        try {
          const r = this.svc.ingestNats(m.subject, m.data, m.headers?.get(HDR_AGENT) || undefined, m.headers?.get(HDR_SIG) || undefined);
          // An agent this process has not cached is looked up in the store first (once per agent).
          if (r instanceof Promise) await r;
          this.counters.consumed++;
        } catch (err) {
          // ingestNats counts and answers; this is a bug's last line of defence, not a path.
          this.counters.errors++;
          this.o.logger?.warn({ err }, 'telemetry message failed');
        }
        // Acknowledged whatever happened to it: a refused message never becomes valid.
        if (++n % ACK_EVERY === 0) { m.ack(); unacked = null; } else unacked = m;
      }
      unacked?.ack();
    })();
    this.o.logger?.info({ stream: this.stream, durable: this.durable }, 'telemetry consumer started');
    return this;
  }

  /** Messages the consumer has not yet been delivered (its lag). */
  async pending(): Promise<number> {
    if (!this.nc) return 0;
    const info = await (await this.nc.jetstreamManager()).consumers.info(this.stream, this.durable);
    return info.num_pending + info.num_ack_pending;
  }

  async stop(): Promise<void> {
    this.svc.commandPublisher = null;
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.messages?.stop();
    await this.loop?.catch(() => undefined);
    await this.nc?.drain().catch(() => undefined);
    this.nc = null;
  }
}
