/**
 * The control plane's side of the node agents: enrolment (one-time token per node id → an
 * agent with its own credential, the discovered GPUs checked against the fleet and recorded),
 * heartbeats from either transport into TelemetryState, the health rule applied as node conditions
 * (FleetService.setConditions: the same diff, events and failure path as a fleet apply), the
 * operator's drain/cordon/recover, and measured power beside leased power.
 *
 * State changes caused by heartbeats run one at a time on a queue, off the ingest path: ingest only
 * reads and updates memory, so a flood of heartbeats never waits on the database.
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
import type { Db } from '../store/index.js';
import { idempotencyInsert, type IdempotencyContext, type Principal, requireAdmin } from '../tenancy/index.js';
import { TelemetryRepo } from './telemetry-repo.js';
import { TelemetryState, type NodeLive, type RejectReason } from './telemetry-state.js';

export interface TelemetryOptions {
  /** Heartbeat interval agents are told, ms (default 10 s). */
  intervalMs: number;
  /** Intervals without a heartbeat after which a node is down (default 3). */
  missedBeats: number;
  /** A node down for health comes back by itself after this long of clean heartbeats; null: only the operator recovers it (default). */
  recoveryWindowMs: number | null;
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
  intervalMs: 10_000, missedBeats: 3, recoveryWindowMs: null, tokenTtlMs: 24 * 3_600_000, nats: null,
};

/** How long a verified agent credential is trusted without a store read (revocations in this process evict at once). */
const AUTH_CACHE_MS = 10_000;

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
  gpus: { uuid: string; index: number; powerW: number | null; powerLimitW: number | null; utilizationPct: number | null; temperatureC: number | null; memoryUsedMiB: number | null; eccUncorrected: number | null }[];
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
  private startedAtMs = 0;
  /**
   * Per node: when its missed-heartbeat count starts if no heartbeat has been seen since (its
   * enrolment or the operator's recover); otherwise the control plane's start.
   */
  private readonly graceFromMs = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  /** Health changes queued or running, by node: the reason being written (null: a recovery). */
  private readonly pending = new Map<string, string | null>();
  /** Called after each heartbeat taken, either transport (benchmarks measure heartbeat-to-visible with it); null: nothing. */
  observer: ((node: NodeLive) => void) | null = null;
  /** Set by the NATS adapter: sends a command to a node's agent. */
  commandPublisher: ((siteId: string, nodeId: string, cmd: NodeCommand) => void) | null = null;
  readonly opts: TelemetryOptions;
  /** Errors of queued health changes (logged by the caller's logger). */
  onError: (err: unknown) => void = (err) => console.error('telemetry:', err);

  constructor(private readonly repo: TelemetryRepo, private readonly fleet: FleetService, private readonly clock: Clock, private readonly cell: string, opts: Partial<TelemetryOptions> = {}) {
    this.opts = { ...TELEMETRY_DEFAULTS, ...opts };
  }

  async init(): Promise<void> {
    this.startedAtMs = this.clock.nowMs();
    for (const a of await this.repo.liveAgents()) this.remember(a.id, a.nodeId, a.natsKey);
    this.conds = await this.fleet.conditions();
    this.state.setFleet(this.fleet.current());
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
    this.graceFromMs.set(node.id, this.clock.nowMs());
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
    if (!this.byAgent.has(rec.id)) this.remember(rec.id, rec.nodeId, rec.natsKey);
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
  ingestNats(subject: string, data: Uint8Array, agentId: string | undefined, sig: string | undefined): { ok: true } | { ok: false; reason: RejectReason } {
    const a = agentId ? this.byAgent.get(agentId) : undefined;
    if (!a || !agentId) return this.rejectNats('revoked');
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

  private rejectNats(reason: RejectReason): { ok: false; reason: RejectReason } {
    this.state.reject(reason, 'message', reason);
    return { ok: false, reason };
  }

  /** Compares a heartbeat's verdict with the node's recorded health and queues the change, if any. */
  private afterIngest(node: NodeLive, verdict: string | null): void {
    const recorded = this.pending.has(node.nodeId) ? this.pending.get(node.nodeId)! : (this.conds.get(node.nodeId)?.healthReason ?? null);
    if (verdict !== null && recorded === null) {
      this.setHealth(node.nodeId, verdict, node.lastSeenMs);
    } else if (verdict === null && recorded !== null && this.opts.recoveryWindowMs !== null && node.cleanSinceMs !== null &&
      node.lastSeenMs - node.cleanSinceMs >= this.opts.recoveryWindowMs) {
      this.setHealth(node.nodeId, null, node.lastSeenMs);
    }
  }

  /** Queues a health change of one node (reason null: recovered). */
  private setHealth(nodeId: string, reason: string | null, sinceMs: number): void {
    this.pending.set(nodeId, reason);
    this.queue = this.queue.then(async () => {
      try {
        const c = this.conds.get(nodeId) ?? { nodeId, admin: null, healthReason: null, healthSinceMs: null };
        await this.fleet.setConditions([{ ...c, healthReason: reason, healthSinceMs: reason === null ? null : sinceMs }],
          { cause: reason === null ? 'recovered' : 'health', nodeId, reason });
        this.conds = await this.fleet.conditions();
        this.publishCommand(nodeId);
      } catch (err) {
        this.onError(err);
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
   * The time-driven half of health: nodes with an agent that sent nothing for `missedBeats`
   * intervals go down (reason "missed heartbeats", unhealthy since the last one seen; a control
   * plane that just started counts from its start). Also samples power for the history. Call
   * every few seconds (serve) or with a test clock. Returns the nodes it took down.
   */
  async tick(): Promise<string[]> {
    const now = this.clock.nowMs();
    this.conds = await this.fleet.conditions();
    const down: string[] = [];
    for (const nodeId of this.byNode.keys()) {
      const live = this.state.node(nodeId);
      const last = Math.max(live?.lastSeenMs ?? 0, this.graceFromMs.get(nodeId) ?? this.startedAtMs);
      const interval = live?.intervalMs ?? this.opts.intervalMs;
      const recorded = this.pending.has(nodeId) ? this.pending.get(nodeId)! : (this.conds.get(nodeId)?.healthReason ?? null);
      if (recorded === null && now > last + this.opts.missedBeats * interval && this.state.hasNode(nodeId)) {
        this.setHealth(nodeId, `missed heartbeats: none since ${iso(last)} (${this.opts.missedBeats} × ${interval / 1000} s)`, last);
        down.push(nodeId);
      }
    }
    const points = this.state.sample(now);
    await this.settle();
    await this.repo.savePower(points).catch((err: unknown) => this.onError(err));
    return down;
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
    this.state.forget(nodeId); // its next heartbeat starts a clean record
    this.graceFromMs.set(nodeId, this.clock.nowMs()); // and missed heartbeats count from now, not from the control plane's start
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
      gpus: (live?.gpus ?? []).map((g) => ({ uuid: g.uuid, index: g.index, powerW: g.powerW, powerLimitW: g.powerLimitW, utilizationPct: g.utilizationPct, temperatureC: g.temperatureC, memoryUsedMiB: g.memoryUsedMiB, eccUncorrected: g.eccUncorrected })),
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

  metrics(): { accepted: number; samples: number; via: { http: number; nats: number }; rejected: Record<RejectReason, number>; agents: number; nats: TelemetryOptions['nats'] } {
    const nats = this.opts.nats && { subjectPrefix: this.opts.nats.subjectPrefix, commandPrefix: this.opts.nats.commandPrefix };
    return { accepted: this.state.accepted, samples: this.state.samples, via: { ...this.via }, rejected: { ...this.state.rejected }, agents: this.byNode.size, nats };
  }
}
