/**
 * Node agents and node operations: enrolment tokens (operator), enrolment (the token in the body
 * authenticates it), heartbeats (the agent's own credential), drain/cordon/resume/recover and a
 * node's telemetry (operator), agent revocation, telemetry counters and power history.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { parseTime } from '../../shared/errors.js';
import { oneOf } from '../../shared/validation.js';
import { requireAdmin } from '../../tenancy/index.js';
import { EnrolLimiter } from '../../telemetry/index.js';
import { Idempotency, agentOf, principalOf, requireIdempotencyKey } from '../http-context.js';
import { EmptyBody, Id, IdParam, errors, idemHeader, secured } from './common.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const AdminStateSchema = Type.Union([Type.Literal('none'), Type.Literal('drain'), Type.Literal('cordon')]);
const NodeCommandView = Type.Object({
  nodeId: Type.String(), adminState: AdminStateSchema, nodeState: Type.String({ description: 'ready, draining or down' }),
  reason: Nullable(Type.String({ description: 'why its health took it down' })),
}, { description: 'what the node\'s agent is told: the operator\'s state and the node\'s' });

const NodeView = Type.Object({
  nodeId: Type.String(), state: Type.String(),
  admin: Nullable(Type.Union([Type.Literal('drain'), Type.Literal('cordon')])),
  healthReason: Nullable(Type.String()), healthSince: Nullable(Type.String({ format: 'date-time' })),
  agent: Nullable(Type.Object({
    agentId: Type.String(), lastSeenAt: Nullable(Type.String({ format: 'date-time' })), seq: Nullable(Type.Integer()),
    acknowledged: Nullable(AdminStateSchema), intervalMs: Type.Integer(),
  })),
  measured: Nullable(Type.Object({ gpuW: Type.Number({ description: 'sum of the GPUs\' board power, W' }), facilityW: Type.Number({ description: 'board power × server overhead × PUE, W' }) })),
  gpus: Type.Array(Type.Object({
    uuid: Type.String(), index: Type.Integer(), powerW: Nullable(Type.Number()), powerLimitW: Nullable(Type.Number()), utilizationPct: Nullable(Type.Number()),
    temperatureC: Nullable(Type.Number()), memoryUsedMiB: Nullable(Type.Number()), eccUncorrected: Nullable(Type.Number()),
    fault: Nullable(Type.String({ description: 'why the GPU\'s latest sample was faulty: its impossible readings, each refused (null above) — e.g. "GPU 3 (GPU-…): power.draw 5200 W is outside 0–1400 W"; null: every reading possible' })),
  })),
  history: Type.Array(Type.Object({ minute: Type.String({ format: 'date-time' }), meanW: Type.Number() })),
}, { description: 'a node\'s conditions, its agent and its latest readings' });

const DiscoveredGpuSchema = Type.Object({
  index: Type.Integer({ minimum: 0, maximum: 63 }),
  uuid: Type.String({ pattern: '^GPU-[0-9a-fA-F-]{8,60}$' }),
  name: Type.String({ minLength: 1, maxLength: 100 }),
  model: Nullable(Type.String({ maxLength: 32 })),
  serial: Nullable(Type.String({ maxLength: 64 })),
  pciBusId: Nullable(Type.String({ maxLength: 32 })),
}, { additionalProperties: false });

const EnrolBody = Type.Object({
  nodeId: Id,
  token: Type.String({ minLength: 10, maxLength: 200 }),
  gpus: Type.Array(DiscoveredGpuSchema, { maxItems: 16 }),
  driverVersion: Nullable(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });

const EnrolView = Type.Object({
  agentId: Type.String(), credential: Type.String({ description: 'the agent\'s own credential, shown once' }), nodeId: Type.String(), siteId: Type.String(),
  intervalMs: Type.Integer(), command: NodeCommandView,
  nats: Nullable(Type.Object({
    subject: Type.String({ description: 'the only subject this agent may publish (its heartbeats)' }),
    commandSubject: Type.String({ description: 'the only subject this agent may subscribe to (its commands)' }),
    credentials: Nullable(Type.Object({
      jwt: Type.String({ description: 'the agent\'s NATS user JWT, signed by the control plane\'s account' }),
      seed: Type.String({ description: 'its nkey seed (shown once, like the credential)' }),
      inboxPrefix: Type.String({ description: 'the reply inbox prefix its JWT allows' }),
    })),
    commandKey: Nullable(Type.String({ description: 'Ed25519 public key (base64) that signs every command sent to this agent' })),
  })),
});

const TokenView = Type.Object({
  tokenId: Type.String(), nodeId: Type.String(),
  token: Nullable(Type.String({ description: 'the one-time enrolment token, shown once (null when an idempotent retry replays the answer)' })),
  expiresAt: Type.String({ format: 'date-time' }),
});

export function agentRoutes(app: FastifyInstance, cp: ControlPlane, idem: Idempotency): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const t = cp.telemetry;
  const enrolLimits = new EnrolLimiter(cp.clock);

  r.post('/v1/nodes/:id/enrolment-tokens', {
    schema: {
      tags: ['agents'], summary: 'Create a one-time token with which the agent of this node enrols (operator); the token is in the answer once', ...secured,
      params: IdParam, headers: idemHeader, body: EmptyBody, response: { 201: TokenView, ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await t.createToken(principalOf(req), req.params.id, ctx) })));

  r.post('/v1/agent/enrol', {
    config: { public: true },
    schema: {
      tags: ['agents'], summary: 'Enrol a node agent with its one-time token and the GPUs it discovered; answers its own credential once. The GPUs must match the fleet (count, model) and become its UUIDs',
      headers: idemHeader, body: EnrolBody, response: { 201: EnrolView, ...errors(400, 401, 409, 429) },
    },
  }, async (req, reply) => {
    requireIdempotencyKey(req);
    enrolLimits.attempt(req.body.nodeId, req.ip);
    return reply.code(201).send(await t.enrol(req.body));
  });

  r.post('/v1/agent/heartbeats', {
    config: { agent: true },
    schema: {
      tags: ['agents'], summary: 'A heartbeat with one sample per GPU, from the node\'s agent (its credential as bearer); answers the node\'s command. The fallback when no NATS is configured',
      security: [{ bearer: [] }], headers: idemHeader,
      // Any JSON: the heartbeat is checked field by field by the same validator as NATS messages, so every refusal is counted.
      body: Type.Unknown({ description: 'a heartbeat (src/agent/agent-wire.ts: v, nodeId, agentId, seq, sentAtMs, intervalMs, adminState, discoveryError, gpus[]); bad ones are refused, naming the field, and counted' }),
      response: { 200: NodeCommandView, ...errors(400, 401, 403) },
    },
  }, async (req) => {
    requireIdempotencyKey(req);
    return t.heartbeat(agentOf(req), req.body);
  });

  const ops = [
    ['drain', 'Drain a node: no new leases; running ones finish. Reaches its agent'],
    ['cordon', 'Cordon a node: out of service now (its leases are re-placed like a failure\'s). Reaches its agent'],
    ['resume', 'Undo drain or cordon: the node returns to what the spec and its health say'],
    ['recover', 'Clear a node\'s health verdict (after repair): it returns to service unless drained, cordoned or down in the spec'],
  ] as const;
  for (const [op, summary] of ops) {
    r.post(`/v1/nodes/:id/${op}`, {
      schema: { tags: ['nodes'], summary, ...secured, params: IdParam, headers: idemHeader, body: EmptyBody, response: { 200: NodeView, ...errors(400, 401, 403, 404, 409, 422) } },
    }, async (req, reply) => idem.run(req, reply, async (ctx) => {
      const p = principalOf(req);
      const body = op === 'recover' ? await t.recover(p, req.params.id, ctx) : await t.setAdmin(p, req.params.id, op === 'resume' ? null : op, ctx);
      return { status: 200, body };
    }));
  }

  r.get('/v1/nodes/:id', {
    schema: { tags: ['nodes'], summary: 'A node: state, conditions, its agent, latest readings per GPU and the last hour of measured power (operator)', ...secured, params: IdParam, response: { 200: NodeView, ...errors(401, 403, 404) } },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return t.node(req.params.id);
  });

  r.post('/v1/agents/:id/revoke', {
    schema: {
      tags: ['agents'], summary: 'Revoke a node agent\'s credential at once (operator)', ...secured, params: IdParam, headers: idemHeader, body: EmptyBody,
      response: { 200: Type.Object({ agentId: Type.String(), nodeId: Type.String(), revokedAt: Type.String({ format: 'date-time' }) }), ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await t.revokeAgent(principalOf(req), req.params.id, ctx) })));

  r.get('/v1/telemetry', {
    schema: { tags: ['agents'], summary: 'Telemetry counters: heartbeats and GPU samples taken, refusals by reason, agents enrolled (operator)', ...secured },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return t.metrics();
  });

  r.get('/v1/power/history', {
    schema: {
      tags: ['agents'], summary: 'Measured power per minute (mean and peak of the GPUs\' board power, W) of a site or hall (operator)', ...secured,
      querystring: Type.Object({ scope: oneOf(['site', 'hall'] as const), id: Id, since: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
    },
  }, async (req) => {
    requireAdmin(principalOf(req));
    const since = req.query.since ? parseTime('since', req.query.since) : cp.clock.nowMs() - 24 * 3_600_000;
    return { scope: req.query.scope, id: req.query.id, points: await t.powerHistory(req.query.scope, req.query.id, since) };
  });
}
