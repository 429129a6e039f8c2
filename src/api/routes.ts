/**
 * HTTP routes: translate, delegate, answer. Business rules live in the services.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../app/control-plane.js';
import { FleetSpecSchema, fleetCapacity, gpuModelSummary, type FleetSpec } from '../fleet/index.js';
import {
  CapacityQuery, LeaseCreateBody, LeaseEventView, LeaseListQuery, LeaseView, capacityReport, usageNow,
} from '../leasing/index.js';
import { DomainError, invalid } from '../shared/errors.js';
import { schedulerStatus } from '../scheduler/index.js';
import { requireAdmin } from '../tenancy/index.js';
import { Idempotency, principalOf } from './http-context.js';
import type { Metrics } from './metrics.js';

const ProblemSchema = Type.Object({
  type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String(),
}, { additionalProperties: true, description: 'RFC 9457 problem document' });

const errors = (...codes: number[]): Record<number, typeof ProblemSchema> =>
  Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const idemHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'required: a unique key per intended change (e.g. a UUID)' })) });
const TenantView = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String({ format: 'date-time' }) });
const DAY_MS = 86_400_000;

export function registerRoutes(app: FastifyInstance, cp: ControlPlane, metrics: Metrics): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const idem = new Idempotency(cp);
  const secured = { security: [{ bearer: [] }] };

  // ---- fleet ----
  r.put('/v1/fleet', {
    schema: {
      tags: ['fleet'], summary: 'Apply a fleet spec (idempotent; YAML or JSON)', ...secured,
      body: FleetSpecSchema,
      response: { 200: Type.Object({ changed: Type.Boolean(), summary: Type.Record(Type.String(), Type.Any()), nodesDown: Type.Optional(Type.Array(Type.String())) }), ...errors(400, 401, 403, 409) },
    },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return cp.fleet.apply(req.body as FleetSpec);
  });

  r.get('/v1/fleet', {
    schema: { tags: ['fleet'], summary: 'Fleet overview: sites, power used and capped, GPUs by model and state, leased now', ...secured },
  }, async (req) => {
    requireAdmin(principalOf(req));
    const fleet = cp.fleet.current();
    const topo = cp.leases.topology;
    const now = cp.clock.nowMs();
    const capacity = fleetCapacity(fleet, topo);
    const usage = new Map(usageNow(topo, cp.leases.index, now).map((u) => [u.siteId, u]));
    const sites = capacity.map((s) => ({ ...s, usage: usage.get(s.id) }));
    const installed = sites.reduce((a, s) => a + s.installedGpus, 0);
    const leased = sites.reduce((a, s) => a + (s.usage?.leasedGpus ?? 0), 0);
    return {
      asOf: new Date(now).toISOString(),
      totals: {
        sites: sites.length, nodes: fleet.nodes.length, installedGpus: installed, runnableGpus: sites.reduce((a, s) => a + s.runnableGpus, 0),
        leasedGpus: leased, leasedShare: installed === 0 ? 0 : leased / installed,
        powerCapW: sites.reduce((a, s) => a + s.powerCapW, 0), leasedW: sites.reduce((a, s) => a + (s.usage?.leasedW ?? 0), 0),
      },
      sites,
      prices: fleet.prices,
    };
  });

  r.get('/v1/gpu-models', { schema: { tags: ['fleet'], summary: 'The GPU catalog', ...secured } }, async () => gpuModelSummary());

  // ---- tenants ----
  r.post('/v1/tenants', {
    schema: {
      tags: ['tenants'], summary: 'Create a tenant; the response carries its API key once', ...secured, headers: idemHeader,
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ tenant: TenantView, apiKey: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await cp.tenants.create(principalOf(req), req.body.name, ctx) })));

  r.get('/v1/tenants', { schema: { tags: ['tenants'], summary: 'List tenants (a tenant sees itself)', ...secured, response: { 200: Type.Object({ tenants: Type.Array(TenantView) }) } } },
    async (req) => ({ tenants: await cp.tenants.list(principalOf(req)) }));

  r.post('/v1/tenants/:id/keys', {
    schema: {
      tags: ['tenants'], summary: 'Issue another API key for a tenant', ...secured, params: IdParam, headers: idemHeader,
      response: { 201: Type.Object({ tenantId: Type.String(), apiKey: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await cp.tenants.issueKey(principalOf(req), req.params.id, ctx) })));

  // ---- leases ----
  r.post('/v1/leases', {
    schema: {
      tags: ['leases'], summary: 'Lease GPUs now or for a future window, as a topology-constrained gang', ...secured,
      headers: idemHeader, body: LeaseCreateBody, response: { 201: LeaseView, 202: LeaseView, ...errors(400, 401, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => {
    try {
      const view = await cp.leases.create(principalOf(req), req.body, ctx);
      if (view.state === 'queued') return { status: 202, body: view };
      metrics.leasesCreated.inc({ gpu_model: view.gpuModel, class: view.class });
      return { status: 201, body: view };
    } catch (err) {
      if (err instanceof DomainError && err.code === 'insufficient_capacity') metrics.leaseRejections.inc({ gpu_model: req.body.gpuModel });
      throw err;
    }
  }, { optimistic: true }));

  r.get('/v1/leases', {
    schema: {
      tags: ['leases'], summary: 'List leases, newest first', ...secured, querystring: LeaseListQuery,
      response: { 200: Type.Object({ leases: Type.Array(LeaseView), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
    },
  }, async (req) => cp.leases.list(principalOf(req), req.query.limit ?? 100, req.query.before));

  r.get('/v1/leases/:id', {
    schema: { tags: ['leases'], summary: 'One lease with its GPUs and nodes', ...secured, params: IdParam, response: { 200: LeaseView, ...errors(401, 404) } },
  }, async (req) => cp.leases.get(principalOf(req), req.params.id));

  r.get('/v1/leases/:id/events', {
    schema: {
      tags: ['leases'], summary: 'What happened to a lease: re-placed after a node failure, failed', ...secured, params: IdParam,
      response: { 200: Type.Object({ events: Type.Array(LeaseEventView) }), ...errors(401, 404) },
    },
  }, async (req) => ({ events: await cp.leases.listEvents(principalOf(req), req.params.id) }));

  r.post('/v1/leases/:id/release', {
    schema: {
      tags: ['leases'], summary: 'Release a lease: its GPUs are free from now', ...secured, params: IdParam, headers: idemHeader,
      body: Type.Optional(Type.Object({}, { additionalProperties: false })),
      response: { 200: LeaseView, ...errors(400, 401, 404, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await cp.leases.release(principalOf(req), req.params.id, ctx) })));

  // ---- scheduler ----
  r.get('/v1/scheduler/status', {
    schema: { tags: ['scheduler'], summary: 'Utilization, fragmentation (largest gang per level and fabric), power and the calendar ahead', ...secured },
  }, async (req) => {
    requireAdmin(principalOf(req));
    const now = cp.clock.nowMs();
    return schedulerStatus(cp.fleet.current(), cp.leases.index.allHolds(), now, await cp.store.queuedLeases(now));
  });

  // ---- capacity ----
  r.get('/v1/capacity', {
    schema: { tags: ['leases'], summary: 'Free GPUs per site and fabric domain for a window (default: the next hour)', ...secured, querystring: CapacityQuery },
  }, async (req) => {
    principalOf(req);
    const now = cp.clock.nowMs();
    const startMs = req.query.start ? Date.parse(req.query.start) : now;
    const endMs = req.query.end ? Date.parse(req.query.end) : startMs + 3_600_000;
    if (endMs <= startMs) throw invalid('end', 'must be after start');
    if (endMs - startMs > 3 * 366 * DAY_MS) throw invalid('end', 'window is at most 3 years');
    return capacityReport(cp.leases.topology, cp.leases.index, {
      gpuModel: req.query.gpuModel ?? null, region: req.query.region ?? null, startMs, endMs,
    });
  });
}
