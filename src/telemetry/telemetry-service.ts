/**
 * The control plane's side of the node agents: enrolment (one-time token per node id → an
 * agent with its own credential, the discovered GPUs checked against the fleet and recorded),
 * heartbeats from either transport into TelemetryState, the health rule applied as node conditions
 * (FleetService.setConditions: the same diff, events and failure path as a fleet apply), the
 * operator's drain/cordon/recover, and measured power beside leased power.
 *
 * State changes caused by heartbeats run one at a time on a queue, off the ingest path: ingest only
 * reads and updates memory, so a flood of heartbeats never waits on the database.
 *
 * Several control planes of one cell (issue 24): each takes heartbeats from any enrolled agent
 * (an agent it has not cached is looked up in the store before it is refused) and writes when it
 * last heard each node to the store, behind and throttled (flushLastSeen, at every tick). Exactly
 * one of them, the cell's health leader (CellLeader, role `health`, fenced by epoch), judges
 * missed heartbeats, from the store's last-seen times: a plane that never hears a node itself
 * never takes it down on that account. Verdicts carried by a heartbeat (ECC, XID, impossible
 * readings) are applied by whichever plane took it: the evidence is in the message.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { natsSigningKey } from '../agent/agent.js';
import type { AdminState, EnrolRequest, EnrolResponse, NodeCommand } from '../agent/agent-wire.js';
import { telemetrySubject } from '../agent/agent-wire.js';
import { EventLog } from '../events/index.js';
import { GPU_CATALOG, syntheticGpuUuid, type AdminCondition, type Fleet, type FleetService, type NodeCondition } from '../fleet/index.js';
import type { Clock } from '../shared/clock.js';
import { DomainError, invalid, notFound } from '../shared/errors.js';
import { hashApiKey, newId } from '../shared/ids.js';
import type { NatsUserCredentials } from '../shared/nats-auth.js';
import { CellLeader, LostLeadership, type Db } from '../store/index.js';
import { idempotencyInsert, type IdempotencyContext, type Principal, requireAdmin } from '../tenancy/index.js';
import { TelemetryRepo } from './telemetry-repo.js';
import { isReadingFault } from './node-health.js';
import { TelemetryState, type NodeLive, type RejectReason } from './telemetry-state.js';

export interface TelemetryOptions {
  /** Heartbeat interval agents are told, ms (default 10 s). */
  intervalMs: number;
  /** Intervals without a heartbeat after which a node is down (default 3). */
  missedBeats: number;
  /** A node down for health comes back by itself after this long of clean heartbeats; null: only the operator recovers it (default). */
  recoveryWindowMs: number | null;
  /**
   * A node down for impossible readings only (node-health.ts READING_FAULT) comes back after this
   * long of sane heartbeats (default 30 s: three clean heartbeats at the default interval, so a
   * sensor that flickers does not flap the node every beat).
   */
  readingRecoveryMs: number;
  /** A node's last-seen time is written to the store at most this often per node, ms (default 5 s). */
  lastSeenWriteMs: number;
  /** The health leader's lease, ms (default 15 s): a leader that stopped without giving it up is replaced after this. */
  leaderLeaseMs: number;
  /** How long an enrolment token is valid (default 24 h). */
  tokenTtlMs: number;
  /**
   * NATS subject prefixes, when a NATS consumer runs (null: agents use HTTP); with an authority,
   * the NATS user each agent gets at enrolment and the public key that signs its commands.
   */
  nats: {
    subjectPrefix: string; commandPrefix: string;
    agentCredentials?: ((agentId: string, subject: string, commandSubject: string) => NatsUserCredentials) | null;
    commandKey?: string | null;
  } | null;
}

export const TELEMETRY_DEFAULTS: TelemetryOptions = {
  intervalMs: 10_000, missedBeats: 3, recoveryWindowMs: null, readingRecoveryMs: 30_000, lastSeenWriteMs: 5_000, leaderLeaseMs: 15_000,
  tokenTtlMs: 24 * 3_600_000, nats: null,
};

/** How long a verified agent credential is trusted without a store read (revocations in this process evict at once). */
const AUTH_CACHE_MS = 10_000;
/** Agent ids the store did not know (or knew revoked), remembered this long so a flood of them costs one read each; at most this many. */
const UNKNOWN_AGENT_MS = 10_000;
const UNKNOWN_AGENT_MAX = 10_000;

/** What ingestNats answers: taken, or refused with the counted reason. */
export type NatsAnswer = { ok: true } | { ok: false; reason: RejectReason };

export interface AgentIdentity { agentId: string; nodeId: string }

export interface EnrolmentToken { tokenId: string; nodeId: string; token: string | null; expiresAt: string }

export interface NodeTelemetryView {
  nodeId: string;
  state: string;
  admin: AdminCondition | null;
  healthReason: string | null;
  healthSince: string | null;
  agent: { agentId: string; lastSeenAt: string | null; seq: number | null; acknowledged: AdminState | null; intervalMs: number } | null;
  measured: { gpuW: number; facilityW: number } | null;
  /** Per GPU: its latest readings (an impossible one is null) and why its sample was faulty (null: sane). */
  gpus: { uuid: string; index: number; powerW: number | null; powerLimitW: number | null; utilizationPct: number | null; temperatureC: number | null; memoryUsedMiB: number | null; eccUncorrected: number | null; fault: string | null }[];
  history: { minute: string; meanW: number }[];
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export class TelemetryService {
  readonly state = new TelemetryState();
  /** Heartbeats taken per transport. */
  readonly via = { http: 0, nats: 0 };
  private readonly byNode = new Map<string, { agentId: string; natsKey: string }>();
  private readonly byAgent = new Map<string, { nodeId: string; natsKey: string }>();
  private readonly authCache = new Map<string, { id: AgentIdentity; atMs: number }>();
  private conds = new Map<string, NodeCondition>();
  /** Agent ids not (or no longer) live in the store, with when that was read. */
  private readonly unknownAgents = new Map<string, number>();
  /** Revocations (any control plane) up to this time are applied to the caches, ms. */
  private revokedSeenMs = 0;
  /** The cell's health leader: only the process holding it judges missed heartbeats. */
  readonly leader: CellLeader;
  /** Health-leader and last-seen counters (GET /v1/telemetry). */
  readonly health = { lastSeenWrites: 0, missedVerdicts: 0, fencedOff: 0 };
  private queue: Promise<void> = Promise.resolve();
  /** Health changes queued or running, by node: the reason being written (null: a recovery). */
  private readonly pending = new Map<string, string | null>();
  /** Called after each heartbeat taken, either transport (benchmarks measure heartbeat-to-visible with it); null: nothing. */
  observer: ((node: NodeLive) => void) | null = null;
  /**
   * Set by the control plane: re-reads the fleet if another control plane changed it. Called when
   * an agent this process had not cached is found in the store: it enrolled elsewhere, and its
   * enrolment replaced its node's GPU UUIDs, which its heartbeats carry.
   */
  refreshFleet: (() => Promise<unknown>) | null = null;
  /** Set by the NATS adapter: sends a command to a node's agent. */
  commandPublisher: ((siteId: string, nodeId: string, cmd: NodeCommand) => void) | null = null;
  readonly opts: TelemetryOptions;
  /** Errors of queued health changes (logged by the caller's logger). */
  onError: (err: unknown) => void = (err) => console.error('telemetry:', err);

  constructor(private readonly repo: TelemetryRepo, private readonly fleet: FleetService, private readonly clock: Clock, private readonly cell: string, opts: Partial<TelemetryOptions> = {}) {
    this.opts = { ...TELEMETRY_DEFAULTS, ...opts };
    this.leader = new CellLeader(repo.db, cell, 'health', clock, this.opts.leaderLeaseMs);
  }

  async init(): Promise<void> {
    this.revokedSeenMs = this.clock.nowMs();
    for (const a of await this.repo.liveAgents()) this.remember(a.id, a.nodeId, a.natsKey);
    this.conds = await this.fleet.conditions();
    this.state.setFleet(this.fleet.current());
    // Leads at once when no other control plane does (a lone plane's term counts from its start).
    await this.leader.claim().catch((err: unknown) => this.onError(err));
  }

  /** The fleet changed (any cause): re-index the nodes' GPUs. */
  fleetChanged(fleet: Fleet): void {
    this.state.setFleet(fleet);
  }

  private remember(agentId: string, nodeId: string, natsKey: string): void {
    const old = this.byNode.get(nodeId);
    if (old) this.byAgent.delete(old.agentId);
    this.byNode.set(nodeId, { agentId, natsKey });
    this.byAgent.set(agentId, { nodeId, natsKey });
  }

  private forgetAgent(agentId: string): void {
    const a = this.byAgent.get(agentId);
    this.byAgent.delete(agentId);
    if (a && this.byNode.get(a.nodeId)?.agentId === agentId) {
      this.byNode.delete(a.nodeId);
      this.state.forget(a.nodeId);
    }
    for (const [k, v] of this.authCache) if (v.id.agentId === agentId) this.authCache.delete(k);
  }

  private siteOf(nodeId: string): string {
    const site = this.state.siteOf(nodeId);
    if (site === null) throw notFound('node', nodeId);
    return site;
  }

  /** What the agent of `nodeId` is told: the operator's state and the node's. */
  commandFor(nodeId: string): NodeCommand {
    const c = this.conds.get(nodeId);
    return { nodeId, adminState: c?.admin ?? 'none', nodeState: this.state.nodeState(nodeId) ?? 'unknown', reason: c?.healthReason ?? null };
  }

  // ---- enrolment -------------------------------------------------------------------------

  /** A one-time enrolment token for `nodeId` (operator). The token is in the answer once (null on an idempotent replay). */
  async createToken(principal: Principal, nodeId: string, idem?: IdempotencyContext): Promise<EnrolmentToken> {
    requireAdmin(principal);
    this.siteOf(nodeId);
    const now = this.clock.nowMs();
    const token = `nc_enrol_${randomBytes(32).toString('base64url')}`;
    const tokenId = newId('tok');
    const expiresAt = new Date(now + this.opts.tokenTtlMs).toISOString();
    await this.repo.tx(async (r) => {
      await r.insertToken({ id: tokenId, nodeId, tokenHash: hashApiKey(token), createdAtMs: now, expiresAtMs: now + this.opts.tokenTtlMs });
      if (idem) await r.db.execute(idempotencyInsert({ ...idem, statusCode: 201, body: { tokenId, nodeId, token: null, expiresAt }, nowMs: now }));
    });
    return { tokenId, nodeId, token, expiresAt };
  }

  /**
   * Enrols the agent of `req.nodeId` with a one-time token: the discovered GPUs must be the node's
   * (as many as its model has, that model, UUIDs not on another node, the spec's UUIDs when it names
   * them); they become the fleet's UUIDs for the node; the node's previous agent is revoked. One
   * transaction: token spent, agent stored, GPUs recorded, events appended — or none of it.
   */
  async enrol(req: EnrolRequest): Promise<EnrolResponse> {
    const now = this.clock.nowMs();
    const fleet = this.fleet.current();
    const node = fleet.nodes.find((n) => n.id === req.nodeId);
    // The same answer for an unknown node and a bad token: an enrolment attempt learns nothing.
    const badToken = (): DomainError => new DomainError('unauthorized', 'token: not a valid enrolment token for this node (unknown, used or expired)', { field: 'token' });
    if (!node) throw badToken();
    // The token first: without a valid one, nothing about the node, its GPUs or its leases is said.
    const tokenHash = hashApiKey(req.token);
    if (!(await this.repo.tokenUsable(tokenHash, node.id, now))) throw badToken();
    const spec = GPU_CATALOG[node.gpuModel];
    if (req.gpus.length !== spec.nodeGpus) {
      throw new DomainError('conflict', `gpus: node ${node.id} is a ${node.gpuModel} node with ${spec.nodeGpus} GPUs in the fleet; the agent found ${req.gpus.length}`, { field: 'gpus' });
    }
    const indexes = new Set(req.gpus.map((g) => g.index));
    const uuids = new Set(req.gpus.map((g) => g.uuid));
    if (indexes.size !== req.gpus.length || uuids.size !== req.gpus.length || [...indexes].some((i) => i >= spec.nodeGpus)) {
      throw invalid('gpus', `indexes must be 0 to ${spec.nodeGpus - 1} and UUIDs distinct`);
    }
    req.gpus.forEach((g, i) => {
      if (g.model !== node.gpuModel) throw new DomainError('conflict', `gpus[${i}].name: "${g.name}" is ${g.model ?? 'not a catalog model'}; node ${node.id} is ${node.gpuModel} in the fleet`, { field: `gpus[${i}].name` });
    });
    const elsewhere = fleet.gpus.find((g) => uuids.has(g.uuid) && g.nodeId !== node.id);
    if (elsewhere) throw new DomainError('conflict', `gpus: ${elsewhere.uuid} is a GPU of node ${elsewhere.nodeId} in the fleet`, { field: 'gpus' });
    const agentId = newId('agt');
    const credential = `nc_agent_${randomBytes(32).toString('base64url')}`;
    const natsKey = natsSigningKey(credential);
    let revoked: string[] = [];
    await this.recordOrExplain(node.id, () => this.fleet.recordDiscovered(node.id, req.gpus.map((g) => ({ nodeId: node.id, index: g.index, uuid: g.uuid, serial: g.serial, pciBusId: g.pciBusId })),
      { cause: 'enrolment', nodeId: node.id },
      async (db: Db) => {
        // A spec that names the node's UUIDs is the operator's word: the hardware must match it.
        const now2 = this.clock.nowMs();
        const r = new TelemetryRepo(db);
        if (!(await r.takeToken(tokenHash, node.id, now2))) throw badToken();
        const stored = await this.fleet.storedGpus(db, node.id);
        const mismatch = stored.find((g) => g.uuid !== syntheticGpuUuid(node.id, g.index) && !uuids.has(g.uuid));
        if (mismatch) {
          throw new DomainError('conflict', `gpus: the fleet spec names ${mismatch.uuid} as GPU ${mismatch.index} of node ${node.id}; the agent did not find it`, { field: 'gpus' });
        }
        revoked = await r.revokeNodeAgents(node.id, now2);
        await r.insertAgent({ id: agentId, nodeId: node.id, credentialHash: hashApiKey(credential), natsKey, createdAtMs: now2 });
        await new EventLog(db, this.cell).append(db, [{
          type: 'agent.enrolled', subject: node.id, tenantId: null, timeMs: now2,
          data: { agentId, nodeId: node.id, gpus: req.gpus.map((g) => g.uuid), driverVersion: req.driverVersion, revokedAgents: revoked },
        }]);
      }));
    for (const id of revoked) this.forgetAgent(id);
    this.remember(agentId, node.id, natsKey);
    this.unknownAgents.delete(agentId);
    // Missed heartbeats count from the enrolment: the agent's created_at, which the leader reads.
    this.conds = await this.fleet.conditions();
    return {
      agentId, credential, nodeId: node.id, siteId: node.siteId, intervalMs: this.opts.intervalMs,
      nats: this.natsEnrolment(agentId, node.siteId, node.id), command: this.commandFor(node.id),
    };
  }

  /** What a new agent is told about NATS: its subjects, its own NATS user and the command key (null: HTTP only). */
  private natsEnrolment(agentId: string, siteId: string, nodeId: string): EnrolResponse['nats'] {
    const nats = this.opts.nats;
    if (!nats) return null;
    const subject = telemetrySubject(nats.subjectPrefix, siteId, nodeId);
    const commandSubject = telemetrySubject(nats.commandPrefix, siteId, nodeId);
    return { subject, commandSubject, credentials: nats.agentCredentials?.(agentId, subject, commandSubject) ?? null, commandKey: nats.commandKey ?? null };
  }

  /**
   * Runs the enrolment's write; a node whose GPUs leases hold cannot take new UUIDs (the fleet's
   * re-wiring rule), and the agent is told so in enrolment terms, the token unspent.
   */
  private async recordOrExplain(nodeId: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (err instanceof DomainError && err.code === 'conflict' && Array.isArray(err.extensions['leases'])) {
        throw new DomainError('conflict', `node ${nodeId}: leases hold its GPUs now or later, so its GPU UUIDs cannot be replaced by the discovered ones. ` +
          'Enrol agents before a node is sold, or drain it (neocloud node drain) and enrol once its leases end; the token stays valid until it expires', { field: 'nodeId', leases: err.extensions['leases'] });
      }
      throw err;
    }
  }

  /** The agent a bearer credential belongs to; 401 when unknown or revoked. */
  async authenticate(authorization: string | undefined): Promise<AgentIdentity> {
    const m = /^Bearer (nc_agent_[A-Za-z0-9_-]{20,100})$/.exec(authorization ?? '');
    if (!m) throw new DomainError('unauthorized', 'Authorization: an agent credential (Bearer nc_agent_…) is required');
    const hash = hashApiKey(m[1]!);
    const now = this.clock.nowMs();
    const hit = this.authCache.get(hash);
    if (hit && now - hit.atMs < AUTH_CACHE_MS && this.byAgent.has(hit.id.agentId)) return hit.id;
    const rec = await this.repo.agentByCredential(hash);
    if (!rec) throw new DomainError('unauthorized', 'Authorization: unknown agent credential');
    if (rec.revokedAtMs !== null) {
      this.state.reject('revoked', 'Authorization', 'revoked');
      throw new DomainError('unauthorized', `Authorization: agent ${rec.id} was revoked`);
    }
    if (!this.byAgent.has(rec.id)) await this.learnAgent(rec);
    const id = { agentId: rec.id, nodeId: rec.nodeId };
    this.authCache.set(hash, { id, atMs: now });
    return id;
  }

  /** Revokes an agent (operator): its credential is refused from now on, over HTTP and NATS. */
  async revokeAgent(principal: Principal, agentId: string, idem?: IdempotencyContext): Promise<{ agentId: string; nodeId: string; revokedAt: string }> {
    requireAdmin(principal);
    const now = this.clock.nowMs();
    const rec = await this.repo.agentById(agentId);
    if (!rec) throw notFound('agent', agentId);
    const body = { agentId, nodeId: rec.nodeId, revokedAt: iso(rec.revokedAtMs ?? now)! };
    await this.repo.tx(async (r) => {
      if (await r.revokeAgent(agentId, now)) {
        await new EventLog(r.db, this.cell).append(r.db, [{ type: 'agent.revoked', subject: rec.nodeId, tenantId: null, timeMs: now, data: { agentId, nodeId: rec.nodeId } }]);
      }
      if (idem) await r.db.execute(idempotencyInsert({ ...idem, statusCode: 200, body, nowMs: now }));
    });
    this.forgetAgent(agentId);
    return body;
  }

  // ---- heartbeats --------------------------------------------------------------------------

  /** A heartbeat over HTTP from an authenticated agent; answers the node's command, or throws a 4xx naming the field. */
  heartbeat(agent: AgentIdentity, body: unknown): NodeCommand {
    if (!this.byAgent.has(agent.agentId)) {
      this.state.reject('revoked', 'Authorization', 'revoked');
      throw new DomainError('unauthorized', `Authorization: agent ${agent.agentId} was revoked`);
    }
    const r = this.state.ingest(body, agent.agentId, agent.nodeId, this.clock.nowMs());
    if (!r.ok) {
      if (r.reason === 'duplicate') return this.commandFor(agent.nodeId); // a retried POST: already taken
      if (r.reason === 'forged') throw new DomainError('forbidden', r.message, { field: r.field });
      throw new DomainError('validation', r.message, { field: r.field, reason: r.reason });
    }
    this.via.http++;
    this.observer?.(r.node);
    this.afterIngest(r.node, r.verdict);
    return this.commandFor(agent.nodeId);
  }

  /**
   * A heartbeat from NATS: `agentId` from its header, `sig` its HMAC-SHA256 under the agent's key,
   * `subject` where it was published (it must be the agent's own node's). Returns whether it was
   * taken; every refusal is counted, nothing throws.
   */
  ingestNats(subject: string, data: Uint8Array, agentId: string | undefined, sig: string | undefined): NatsAnswer | Promise<NatsAnswer> {
    if (!agentId) return this.rejectNats('revoked');
    const a = this.byAgent.get(agentId);
    // Not cached: enrolled on another control plane (or after this one loaded), or not an agent.
    if (!a) return this.ingestNatsUncached(subject, data, agentId, sig);
    return this.ingestNatsAs(a, subject, data, agentId, sig);
  }

  /**
   * A NATS heartbeat from an agent this process has not cached: looked up in the store (one read
   * per agent; ids it does not know are remembered UNKNOWN_AGENT_MS), remembered, then taken like
   * any other. Only then is it refused as `revoked`.
   */
  private async ingestNatsUncached(subject: string, data: Uint8Array, agentId: string, sig: string | undefined): Promise<NatsAnswer> {
    const now = this.clock.nowMs();
    const miss = this.unknownAgents.get(agentId);
    if (miss !== undefined && now - miss < UNKNOWN_AGENT_MS) return this.rejectNats('revoked');
    let rec: Awaited<ReturnType<TelemetryRepo['agentById']>>;
    try {
      rec = /^[A-Za-z0-9_-]{1,64}$/.test(agentId) ? await this.repo.agentById(agentId) : undefined;
    } catch (err) {
      this.onError(err);
      return this.rejectNats('revoked');
    }
    if (!rec || rec.revokedAtMs !== null) {
      if (this.unknownAgents.size >= UNKNOWN_AGENT_MAX) this.unknownAgents.clear();
      this.unknownAgents.set(agentId, now);
      return this.rejectNats('revoked');
    }
    // Another message of the same agent may have been looked up meanwhile; the newest record wins either way.
    if (!this.byAgent.has(rec.id)) await this.learnAgent(rec);
    return this.ingestNatsAs(this.byAgent.get(rec.id)!, subject, data, agentId, sig);
  }

  /** Caches an agent found in the store, after bringing the fleet (its node's UUIDs) up to date. */
  private async learnAgent(rec: { id: string; nodeId: string; natsKey: string }): Promise<void> {
    await this.refreshFleet?.().catch((err: unknown) => this.onError(err));
    this.unknownAgents.delete(rec.id);
    this.remember(rec.id, rec.nodeId, rec.natsKey);
  }

  private ingestNatsAs(a: { nodeId: string; natsKey: string }, subject: string, data: Uint8Array, agentId: string, sig: string | undefined): NatsAnswer {
    const given = sig ? Buffer.from(sig, 'hex') : null; // non-hex characters shorten it: refused below
    if (!given || given.length !== 32 || !timingSafeEqual(createHmac('sha256', a.natsKey).update(data).digest(), given)) return this.rejectNats('bad_signature');
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    } catch {
      return this.rejectNats('malformed');
    }
    const nats = this.opts.nats;
    const site = this.state.siteOf(a.nodeId);
    if (nats && site !== null && subject !== telemetrySubject(nats.subjectPrefix, site, a.nodeId)) return this.rejectNats('forged');
    const r = this.state.ingest(raw, agentId, a.nodeId, this.clock.nowMs());
    if (!r.ok) return { ok: false, reason: r.reason };
    this.via.nats++;
    this.observer?.(r.node);
    this.afterIngest(r.node, r.verdict);
    return { ok: true };
  }

  private rejectNats(reason: RejectReason): NatsAnswer {
    this.state.reject(reason, 'message', reason);
    return { ok: false, reason };
  }

  /** Compares a heartbeat's verdict with the node's recorded health and queues the change, if any. */
  /**
   * Compares a heartbeat's verdict with the node's recorded health and queues the change, if any:
   * a new verdict on a healthy node; a hardware fault replacing an impossible-reading verdict (the
   * reason that only the operator lifts is the one to show); a recovery after clean heartbeats
   * for the window of the recorded reason (readingRecoveryMs for impossible readings, else
   * recoveryWindowMs, null: the operator's call).
   */
  private afterIngest(node: NodeLive, verdict: string | null): void {
    const recorded = this.pending.has(node.nodeId) ? this.pending.get(node.nodeId)! : (this.conds.get(node.nodeId)?.healthReason ?? null);
    if (verdict !== null) {
      if (recorded === null || (isReadingFault(recorded) && !isReadingFault(verdict))) this.setHealth(node.nodeId, verdict, node.lastSeenMs);
      return;
    }
    if (recorded === null || node.cleanSinceMs === null) return;
    const window = isReadingFault(recorded) ? this.opts.readingRecoveryMs : this.opts.recoveryWindowMs;
    if (window !== null && node.lastSeenMs - node.cleanSinceMs >= window) this.setHealth(node.nodeId, null, node.lastSeenMs);
  }

  /**
   * Queues a health change of one node (reason null: recovered). `fenced`: a health leader's
   * decision (missed heartbeats), written only while this process still holds the leader's epoch;
   * one that lost it is dropped (counted in `health.fencedOff`), the new leader judges afresh.
   */
  private setHealth(nodeId: string, reason: string | null, sinceMs: number, fenced = false): void {
    this.pending.set(nodeId, reason);
    this.queue = this.queue.then(async () => {
      try {
        const c = this.conds.get(nodeId) ?? { nodeId, admin: null, healthReason: null, healthSinceMs: null };
        await this.fleet.setConditions([{ ...c, healthReason: reason, healthSinceMs: reason === null ? null : sinceMs }],
          { cause: reason === null ? 'recovered' : 'health', nodeId, reason }, fenced ? (db) => this.leader.fence(db) : undefined);
        this.conds = await this.fleet.conditions();
        this.publishCommand(nodeId);
      } catch (err) {
        if (err instanceof LostLeadership) this.health.fencedOff++;
        else this.onError(err);
      } finally {
        if (this.pending.get(nodeId) === reason) this.pending.delete(nodeId);
      }
    });
  }

  /** Waits until every queued health change is written (tests, shutdown). */
  async settle(): Promise<void> {
    let q: Promise<void>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  /**
   * The time-driven half of health, and the store's side of heartbeats. Every control plane:
   * writes the last-seen times it holds (flushLastSeen), drops agents another plane revoked, and
   * samples power for the history. The cell's health leader (claimed or renewed here) also takes
   * down the nodes whose agent no plane has heard from for `missedBeats` of its interval (reason
   * "missed heartbeats", unhealthy since it was last heard; a plane that just became leader counts
   * from then, so neither a restart nor a handover takes the fleet down). Call every few seconds
   * (serve: every half interval) or with a test clock. Returns the nodes it took down.
   */
  async tick(): Promise<string[]> {
    const now = this.clock.nowMs();
    await this.flushLastSeen().catch((err: unknown) => this.onError(err));
    await this.evictRevoked().catch((err: unknown) => this.onError(err));
    this.conds = await this.fleet.conditions();
    const leading = await this.leader.claim().catch((err: unknown) => { this.onError(err); return false; });
    const down: string[] = [];
    if (leading) {
      const beats = this.opts.missedBeats;
      const floorMs = this.leader.leaderSinceMs ?? now;
      for (const o of await this.repo.overdue(now, beats, this.opts.intervalMs, floorMs)) {
        if (!this.state.hasNode(o.nodeId)) continue;
        // Heard here since the last write (the store lags by up to lastSeenWriteMs): not overdue.
        const live = this.state.node(o.nodeId);
        const last = Math.max(o.heardMs, live?.agentId === o.agentId ? live.lastSeenMs : 0);
        if (now <= Math.max(last, floorMs) + beats * o.intervalMs) continue;
        const recorded = this.pending.has(o.nodeId) ? this.pending.get(o.nodeId)! : (this.conds.get(o.nodeId)?.healthReason ?? null);
        if (recorded !== null) continue;
        this.setHealth(o.nodeId, `missed heartbeats: none since ${iso(last)} (${beats} × ${o.intervalMs / 1000} s)`, last, true);
        this.health.missedVerdicts++;
        down.push(o.nodeId);
      }
    }
    const points = this.state.sample(now);
    await this.settle();
    await this.repo.savePower(points).catch((err: unknown) => this.onError(err));
    return down;
  }

  /**
   * Writes to the store when this process last heard each node, for the health leader (which may
   * be another process): only nodes heard since their last write by at least `lastSeenWriteMs`
   * (so a node costs at most one row write per that period, whatever its agent's interval), in
   * one statement per 5,000 nodes. Nothing on the ingest path: it reads the state kept anyway.
   */
  async flushLastSeen(): Promise<number> {
    const rows: { nodeId: string; lastSeenMs: number; intervalMs: number }[] = [];
    const marked: NodeLive[] = [];
    for (const n of this.state.nodes()) {
      if (n.lastSeenMs > n.storedSeenMs && (n.storedSeenMs === 0 || n.lastSeenMs - n.storedSeenMs >= this.opts.lastSeenWriteMs)) {
        rows.push({ nodeId: n.nodeId, lastSeenMs: n.lastSeenMs, intervalMs: n.intervalMs });
        marked.push(n);
      }
    }
    if (rows.length === 0) return 0;
    await this.repo.saveLastSeen(rows);
    rows.forEach((r, i) => { marked[i]!.storedSeenMs = r.lastSeenMs; });
    this.health.lastSeenWrites += rows.length;
    return rows.length;
  }

  /** Forgets agents revoked by any control plane since the last look (this process's own revocations are forgotten at once). */
  private async evictRevoked(): Promise<void> {
    for (const r of await this.repo.revokedSince(this.revokedSeenMs)) {
      if (this.byAgent.has(r.id)) this.forgetAgent(r.id);
      if (r.revokedAtMs > this.revokedSeenMs) this.revokedSeenMs = r.revokedAtMs;
    }
  }

  /**
   * Shutdown: waits for queued health changes, writes the last-seen times held, and gives the
   * health leadership up so another control plane takes it at its next tick. Never throws.
   */
  async close(): Promise<void> {
    await this.settle();
    await this.flushLastSeen().catch((err: unknown) => this.onError(err));
    if (this.leader.leading) await this.leader.release().catch((err: unknown) => this.onError(err));
  }

  // ---- operator ----------------------------------------------------------------------------

  /**
   * The operator's say on a node: `drain` (no new leases; running ones finish), `cordon` (out of
   * service now: its leases are re-placed like a failure's) or null (back to what the spec and its
   * health say). Reaches the agent on its next heartbeat's answer, and at once over NATS.
   */
  async setAdmin(principal: Principal, nodeId: string, admin: AdminCondition | null, idem?: IdempotencyContext): Promise<NodeTelemetryView> {
    requireAdmin(principal);
    return this.changeCondition(nodeId, (c) => ({ ...c, admin }), { cause: 'operator', nodeId, admin }, idem);
  }

  /** Clears a node's health verdict (operator): it returns to what the spec and the operator say. */
  async recover(principal: Principal, nodeId: string, idem?: IdempotencyContext): Promise<NodeTelemetryView> {
    requireAdmin(principal);
    this.siteOf(nodeId);
    const intervalMs = this.state.node(nodeId)?.intervalMs || this.opts.intervalMs;
    this.state.forget(nodeId); // its next heartbeat starts a clean record
    // And missed heartbeats count from now (for whichever control plane leads), not from its last heartbeat.
    await this.repo.saveLastSeen([{ nodeId, lastSeenMs: this.clock.nowMs(), intervalMs }]);
    return this.changeCondition(nodeId, (c) => ({ ...c, healthReason: null, healthSinceMs: null }), { cause: 'recovered', nodeId, by: 'operator' }, idem);
  }

  private async changeCondition(nodeId: string, f: (c: NodeCondition) => NodeCondition, cause: Record<string, unknown>, idem?: IdempotencyContext): Promise<NodeTelemetryView> {
    this.siteOf(nodeId);
    await this.settle();
    let view: NodeTelemetryView | undefined;
    this.queue = this.queue.then(async () => {
      const current = (await this.fleet.conditions()).get(nodeId) ?? { nodeId, admin: null, healthReason: null, healthSinceMs: null };
      const next = f(current);
      await this.fleet.setConditions([next], cause, async (db, { nodeStates }) => {
        if (!idem) return;
        view = this.nodeView(nodeId, next, nodeStates[nodeId] ?? 'unknown');
        await db.execute(idempotencyInsert({ ...idem, statusCode: 200, body: view, nowMs: this.clock.nowMs() }));
      });
      this.conds = await this.fleet.conditions();
    });
    await this.queue;
    this.publishCommand(nodeId);
    return this.node(nodeId);
  }

  private publishCommand(nodeId: string): void {
    if (!this.commandPublisher) return;
    const site = this.state.siteOf(nodeId);
    if (site !== null) this.commandPublisher(site, nodeId, this.commandFor(nodeId));
  }

  // ---- views -------------------------------------------------------------------------------

  private nodeView(nodeId: string, c: NodeCondition | undefined, state: string): NodeTelemetryView {
    const live = this.state.node(nodeId);
    const a = this.byNode.get(nodeId);
    const factor = this.facilityFactor(nodeId);
    return {
      nodeId, state, admin: c?.admin ?? null, healthReason: c?.healthReason ?? null, healthSince: iso(c?.healthSinceMs),
      agent: a ? { agentId: a.agentId, lastSeenAt: iso(live?.lastSeenMs), seq: live?.seq ?? null, acknowledged: live?.adminAck ?? null, intervalMs: live?.intervalMs ?? this.opts.intervalMs } : null,
      measured: live ? { gpuW: live.gpuW, facilityW: Math.round(live.gpuW * factor) } : null,
      gpus: (live?.gpus ?? []).map((g, i) => ({
        uuid: g.uuid, index: g.index, powerW: g.powerW, powerLimitW: g.powerLimitW, utilizationPct: g.utilizationPct, temperatureC: g.temperatureC, memoryUsedMiB: g.memoryUsedMiB,
        eccUncorrected: g.eccUncorrected, fault: live?.faults[i] ?? null,
      })),
      history: (live?.history ?? []).map((h) => ({ minute: iso(h.minuteMs)!, meanW: Math.round(h.meanW) })),
    };
  }

  private facilityFactor(nodeId: string): number {
    return this.state.facilityFactor(nodeId);
  }

  /** A node's conditions, agent and latest readings (operator). */
  node(nodeId: string): NodeTelemetryView {
    const state = this.state.nodeState(nodeId);
    if (state === null) throw notFound('node', nodeId);
    return this.nodeView(nodeId, this.conds.get(nodeId), state);
  }

  /** Measured power per site and hall, for GET /v1/fleet (W; facility = board × overhead × PUE). */
  measuredPower(): { totals: { gpuW: number; facilityW: number; reportingNodes: number }; sites: Record<string, { gpuW: number; facilityW: number; reportingNodes: number; halls: Record<string, { gpuW: number; facilityW: number; reportingNodes: number }> }> } {
    const f = this.fleet.current();
    const round = (p: { gpuW: number; facilityW: number; reportingNodes: number }) => ({ gpuW: Math.round(p.gpuW), facilityW: Math.round(p.facilityW), reportingNodes: p.reportingNodes });
    const sites: ReturnType<TelemetryService['measuredPower']>['sites'] = {};
    const totals = { gpuW: 0, facilityW: 0, reportingNodes: 0 };
    for (const s of f.sites) {
      const p = round(this.state.power('site', s.id));
      totals.gpuW += p.gpuW; totals.facilityW += p.facilityW; totals.reportingNodes += p.reportingNodes;
      sites[s.id] = { ...p, halls: Object.fromEntries(f.halls.filter((h) => h.siteId === s.id).map((h) => [h.id, round(this.state.power('hall', h.id))])) };
    }
    return { totals, sites };
  }

  /** Per-minute measured power of a site or hall since `sinceMs` (from the store). */
  powerHistory(scope: 'site' | 'hall', id: string, sinceMs: number): Promise<{ minute: string; meanW: number; peakW: number }[]> {
    return this.repo.powerHistory(scope, id, sinceMs).then((rows) => rows.map((r) => ({ minute: iso(r.minuteMs)!, meanW: r.meanW, peakW: r.peakW })));
  }

  metrics(): {
    accepted: number; samples: number; refusedReadings: number; via: { http: number; nats: number }; rejected: Record<RejectReason, number>; agents: number; nats: TelemetryOptions['nats'];
    health: { leader: boolean; lastSeenWrites: number; missedVerdicts: number; fencedOff: number };
  } {
    // The NATS settings without their secrets (credentials stay in the process).
    const nats = this.opts.nats && { subjectPrefix: this.opts.nats.subjectPrefix, commandPrefix: this.opts.nats.commandPrefix };
    return {
      accepted: this.state.accepted, samples: this.state.samples, refusedReadings: this.state.refusedReadings, via: { ...this.via }, rejected: { ...this.state.rejected },
      agents: this.byNode.size, nats, health: { leader: this.leader.leading, ...this.health },
    };
  }
}
