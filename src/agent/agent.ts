/**
 * The node agent: enrols once with a one-time token (keeping the credential it gets in its state
 * folder, so a restart needs no new token), then every interval discovers its GPUs and sends one
 * heartbeat carrying a sample per GPU — over NATS JetStream when the control plane named a
 * subject and NATS is reachable, else over HTTP. It hears the operator's drain/cordon in the
 * heartbeat's answer (HTTP) or on its command subject (NATS), applies it (writes it to
 * `<stateDir>/admin-state`, says it on its log) and acknowledges it in the next heartbeat.
 *
 * Nothing it meets stops it: a failed nvidia-smi is reported as a discovery error, an unreachable
 * control plane is retried on the next tick with the latest reading (state, not a queue: the newest
 * heartbeat supersedes the ones that could not be sent).
 *
 * Over NATS the agent is a NATS user of its own (the JWT and seed it got at enrolment: it may
 * publish its heartbeats and hear its commands, nothing else), and it takes a command only when
 * the control plane's command key signed it, it names this node, and it was issued after the last
 * one taken (kept in `<stateDir>/command-at`, so a replay is refused across restarts too); every
 * refusal is logged and counted. The control plane answers the heartbeats it takes with receipts
 * on the command subject (HDR_RECEIPT; a command counts as one too): when none has come for
 * RECEIPT_TIMEOUT intervals, the heartbeats go over HTTP as well, so an agent never keeps
 * publishing into a stream nobody reads.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { commandVerifyKey, natsConnectAuth } from '../shared/nats-auth.js';
import type { Discover, Discovery } from './gpu-discovery.js';
import { HDR_AGENT, HDR_CMD_SIG, HDR_RECEIPT, HDR_SIG, parseSignedCommand, type AdminState, type EnrolRequest, type EnrolResponse, type GpuSample, type Heartbeat, type NodeCommand } from './agent-wire.js';
import { createHmac, verify } from 'node:crypto';

/** Intervals without a receipt (a signed command) after which NATS heartbeats also go over HTTP. */
export const RECEIPT_TIMEOUT = 2.5;

export interface AgentOptions {
  /** The control plane's base URL (enrolment, HTTP heartbeats). */
  url: string;
  nodeId: string;
  /** The one-time enrolment token (needed only when the state folder holds no credential). */
  token?: string | undefined;
  /** Where the credential and the applied admin state are kept. */
  stateDir: string;
  discover: Discover;
  /** Heartbeat interval, ms (default: what the control plane said at enrolment). */
  intervalMs?: number | undefined;
  /** NATS server(s); unset: HTTP only. */
  natsUrl?: string | undefined;
  log?: (line: string) => void;
  now?: () => number;
}

interface Credential {
  agentId: string;
  credential: string;
  nodeId: string;
  siteId: string;
  intervalMs: number;
  nats: EnrolResponse['nats'];
}

/** The key that signs NATS heartbeats: SHA-256 of `nats:` + the credential (the control plane keeps only this, and the credential's own hash). */
export const natsSigningKey = (credential: string): string => createHash('sha256').update(`nats:${credential}`).digest('hex');
export const signHeartbeat = (key: string, payload: Uint8Array | string): string => createHmac('sha256', key).update(payload).digest('hex');

/** Builds the heartbeat for one discovery. */
export function heartbeatOf(d: Discovery, c: { agentId: string; nodeId: string }, seq: number, intervalMs: number, adminState: AdminState, sentAtMs: number): Heartbeat {
  const gpus: GpuSample[] = d.gpus.map((g) => ({
    uuid: g.uuid, index: g.index, powerW: g.powerDrawW, powerLimitW: g.enforcedPowerLimitW ?? g.powerLimitW, utilizationPct: g.utilizationGpuPct,
    memoryUsedMiB: g.memoryUsedMiB, memoryTotalMiB: g.memoryTotalMiB, temperatureC: g.temperatureC, eccUncorrected: g.eccUncorrectedVolatile,
    xids: g.xids, recoveryAction: g.remappedRowFailure ? (g.recoveryAction && g.recoveryAction !== 'None' ? g.recoveryAction : 'Row remap failure') : g.recoveryAction,
  }));
  return { v: 1, nodeId: c.nodeId, agentId: c.agentId, seq, sentAtMs, intervalMs, adminState, discoveryError: d.error, gpus };
}

type NatsLink = {
  publish(subject: string, data: Uint8Array, headers: Record<string, string>, msgId: string): Promise<void>;
  close(): Promise<void>;
  /** When the link came up (agent clock, ms). */
  sinceMs: number;
};

/** Why a command heard over NATS was refused (logged and counted). */
export type CommandRefusal = 'unsigned' | 'bad_signature' | 'malformed' | 'other_node' | 'replayed';

export class Agent {
  private cred: Credential | null = null;
  private seq = 0;
  private adminState: AdminState = 'none';
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private nats: NatsLink | null = null;
  private natsTried = false;
  /** Counters for the log and tests. */
  readonly stats = { sentHttp: 0, sentNats: 0, failed: 0, commands: 0, refusedCommands: 0, receipts: 0 };
  /** The last refusals (newest last, at most 20), for tests and `--json` diagnostics. */
  readonly refusals: { reason: CommandRefusal; detail: string }[] = [];
  /** issuedAtMs of the last signed command taken (persisted in `<stateDir>/command-at`). */
  private lastCommandAtMs = 0;
  /** When the last signed command (a receipt) arrived (agent clock, ms). */
  private heardAtMs = 0;
  private unconfirmedLogged = false;
  private readonly log: (line: string) => void;
  private readonly now: () => number;

  constructor(private readonly o: AgentOptions) {
    this.log = o.log ?? ((l) => process.stdout.write(`${l}\n`));
    this.now = o.now ?? Date.now;
  }

  get agentId(): string | null {
    return this.cred?.agentId ?? null;
  }

  get appliedAdminState(): AdminState {
    return this.adminState;
  }

  private credPath(): string {
    return join(this.o.stateDir, 'agent.json');
  }

  /** Uses the stored credential, or enrols with the token. Throws when neither works. */
  async enrol(): Promise<Credential> {
    mkdirSync(this.o.stateDir, { recursive: true });
    const p = this.credPath();
    if (existsSync(p)) {
      const c = JSON.parse(readFileSync(p, 'utf8')) as Credential;
      if (c.nodeId === this.o.nodeId) {
        this.cred = c;
        this.seq = this.now(); // monotonic across restarts without storing each seq
        this.lastCommandAtMs = this.readCommandAt();
        return c;
      }
    }
    if (!this.o.token) throw new Error(`no credential in ${p} and no enrolment token (--token or NEOCLOUD_AGENT_TOKEN)`);
    const d = await this.o.discover();
    if (d.error) throw new Error(`GPU discovery failed: ${d.error}`);
    const body: EnrolRequest = {
      nodeId: this.o.nodeId, token: this.o.token, driverVersion: d.driverVersion,
      gpus: d.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, model: g.model, serial: g.serial, pciBusId: g.pciBusId })),
    };
    const res = await fetch(new URL('/v1/agent/enrol', this.o.url), {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `enrol-${this.o.nodeId}-${this.o.token.slice(-12)}` }, body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({})) as EnrolResponse & { detail?: string };
    if (!res.ok) throw new Error(`enrolment refused (${res.status}): ${answer.detail ?? 'no detail'}`);
    const c: Credential = { agentId: answer.agentId, credential: answer.credential, nodeId: answer.nodeId, siteId: answer.siteId, intervalMs: answer.intervalMs, nats: answer.nats };
    // Written whole or not at all: a crash mid-write must not leave half a credential.
    writeFileSync(`${p}.tmp`, JSON.stringify(c), { mode: 0o600 });
    renameSync(`${p}.tmp`, p);
    this.cred = c;
    this.seq = this.now();
    this.log(`enrolled node ${c.nodeId} (site ${c.siteId}) as ${c.agentId}; ${d.gpus.length} GPUs`);
    this.apply(answer.command);
    return c;
  }

  private interval(): number {
    return this.o.intervalMs ?? this.cred?.intervalMs ?? 10_000;
  }

  /** Applies an operator command: remembers it, writes it for the node's own tools, logs it once. */
  private apply(c: NodeCommand): void {
    if (c.nodeId !== this.o.nodeId || c.adminState === this.adminState) return;
    this.adminState = c.adminState;
    this.stats.commands++;
    try {
      writeFileSync(join(this.o.stateDir, 'admin-state'), `${c.adminState}\n`);
    } catch { /* the state folder is the agent's own; a failed write is only not persisted */ }
    this.log(`command: ${c.adminState} (node ${c.nodeState}${c.reason ? `: ${c.reason}` : ''})`);
  }

  private readCommandAt(): number {
    try {
      const v = Number(readFileSync(join(this.o.stateDir, 'command-at'), 'utf8').trim());
      return Number.isSafeInteger(v) && v > 0 ? v : 0;
    } catch {
      return 0;
    }
  }

  private refuse(reason: CommandRefusal, detail: string): void {
    this.stats.refusedCommands++;
    this.refusals.push({ reason, detail });
    if (this.refusals.length > 20) this.refusals.shift();
    this.log(`refused a command over NATS (${reason}): ${detail}`);
  }

  /**
   * A command message from the command subject: taken only when signed by the control plane's
   * command key (when enrolment gave one), for this node, issued after the last one taken.
   */
  handleCommand(data: Uint8Array, signature: string | undefined): void {
    const key = this.cred?.nats?.commandKey ?? null;
    if (key !== null) {
      if (!signature) return this.refuse('unsigned', 'no signature');
      let ok = false;
      try { ok = verify(null, data, commandVerifyKey(key), Buffer.from(signature, 'base64')); } catch { ok = false; }
      if (!ok) return this.refuse('bad_signature', 'not signed by the control plane\'s command key');
    }
    let c;
    try { c = parseSignedCommand(data); } catch (err) { return this.refuse('malformed', (err as Error).message); }
    if (c.nodeId !== this.o.nodeId) return this.refuse('other_node', `for node ${c.nodeId}`);
    if (key !== null) {
      // Equal: the same command heard again (a receipt sent twice); older: a replay or a reordering.
      if (c.issuedAtMs < this.lastCommandAtMs) return this.refuse('replayed', `issued at ${new Date(c.issuedAtMs).toISOString()}, before the last one taken (${new Date(this.lastCommandAtMs).toISOString()})`);
      this.handleReceipt(); // a command is a receipt too
      if (c.issuedAtMs === this.lastCommandAtMs) return;
      this.lastCommandAtMs = c.issuedAtMs;
      try { writeFileSync(join(this.o.stateDir, 'command-at'), `${c.issuedAtMs}\n`); } catch { /* not persisted: a replay after a restart would be refused only by time order */ }
    } else {
      this.heardAtMs = this.now();
    }
    this.apply(c);
  }

  /** A receipt: the control plane took this agent's NATS heartbeats (nothing to apply). */
  handleReceipt(): void {
    this.heardAtMs = this.now();
    this.stats.receipts++;
  }

  /** Whether the control plane confirmed this agent's NATS heartbeats recently (a receipt within RECEIPT_TIMEOUT intervals of now, or of the link coming up). */
  natsConfirmed(): boolean {
    if (!this.nats) return false;
    return this.now() - Math.max(this.heardAtMs, this.nats.sinceMs) <= RECEIPT_TIMEOUT * this.interval();
  }

  private async connectNats(): Promise<void> {
    if (this.natsTried || !this.o.natsUrl || !this.cred?.nats) return;
    this.natsTried = true;
    try {
      // Loaded only when NATS is used, so the agent stays light without it.
      const { connect, headers: mkHeaders } = await import('nats');
      const nc = await connect({
        servers: this.o.natsUrl, name: `neocloud-agent-${this.o.nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 1_000, timeout: 5_000,
        ...(await natsConnectAuth(this.cred.nats.credentials)),
      });
      const js = nc.jetstream();
      const sub = nc.subscribe(this.cred.nats.commandSubject);
      void (async () => {
        for await (const m of sub) {
          if (m.headers?.get(HDR_RECEIPT)) this.handleReceipt();
          else this.handleCommand(m.data, m.headers?.get(HDR_CMD_SIG) || undefined);
        }
      })().catch((err: unknown) => this.log(`command subscription ended (${(err as Error).message}); commands come in HTTP answers`));
      this.nats = {
        async publish(subject, data, hdrs, msgId) {
          const h = mkHeaders();
          for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
          await js.publish(subject, data, { headers: h, msgID: msgId, timeout: 5_000 });
        },
        async close() { await nc.drain().catch(() => nc.close()); },
        sinceMs: this.now(),
      };
      this.log(`heartbeats over NATS JetStream (${this.cred.nats.subject})`);
    } catch (err) {
      this.natsTried = false; // tried again next tick
      this.log(`NATS not reachable (${(err as Error).message}); heartbeats over HTTP`);
    }
  }

  /** One discovery and one heartbeat (NATS, else HTTP). Returns how it went; never throws. */
  async beat(): Promise<'nats' | 'http' | 'failed'> {
    if (!this.cred) throw new Error('enrol() first');
    await this.connectNats();
    const d = await this.o.discover().catch((err: unknown) => ({ atMs: this.now(), gpus: [], problems: [], error: `discovery threw: ${(err as Error).message}`, driverVersion: null }));
    const hb = heartbeatOf(d, this.cred, ++this.seq, this.interval(), this.adminState, this.now());
    const payload = JSON.stringify(hb);
    if (this.nats && this.cred.nats) {
      try {
        const sig = signHeartbeat(natsSigningKey(this.cred.credential), payload);
        await this.nats.publish(this.cred.nats.subject, new TextEncoder().encode(payload), { [HDR_AGENT]: this.cred.agentId, [HDR_SIG]: sig }, `${this.cred.agentId}-${hb.seq}`);
        this.stats.sentNats++;
        if (this.natsConfirmed()) {
          if (this.unconfirmedLogged) this.log('the control plane takes NATS heartbeats again; NATS only');
          this.unconfirmedLogged = false;
          return 'nats';
        }
        // Stored but not taken (nobody consumes, or the control plane is down): HTTP too, until receipts come back.
        if (!this.unconfirmedLogged) this.log(`no receipt for NATS heartbeats in ${RECEIPT_TIMEOUT} intervals; sending them over HTTP too`);
        this.unconfirmedLogged = true;
      } catch (err) {
        this.log(`NATS publish failed (${(err as Error).message}); trying HTTP`);
      }
    }
    try {
      const res = await fetch(new URL('/v1/agent/heartbeats', this.o.url), {
        method: 'POST', body: payload,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.cred.credential}`, 'idempotency-key': `hb-${this.cred.agentId}-${hb.seq}` },
      });
      const answer = await res.json().catch(() => ({})) as NodeCommand & { detail?: string };
      if (!res.ok) {
        this.stats.failed++;
        this.log(`heartbeat refused (${res.status}): ${answer.detail ?? ''}`);
        return 'failed';
      }
      this.apply(answer);
      this.stats.sentHttp++;
      return 'http';
    } catch (err) {
      this.stats.failed++;
      this.log(`control plane not reachable (${(err as Error).message}); will send the latest reading next time`);
      return 'failed';
    }
  }

  /** Enrols (if needed) and beats every interval until stop(). */
  async start(): Promise<void> {
    await this.enrol();
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      await this.beat();
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.interval());
    };
    await loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.nats?.close();
  }
}
