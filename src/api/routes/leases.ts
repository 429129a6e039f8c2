/** Lease routes: create (201, or 202 queued), list, show, events, release, and free capacity for a window. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { CapacityQuery, LeaseCreateBody, LeaseEventView, LeaseListQuery, LeaseQuoteView, LeaseView } from '../../leasing/index.js';
import { DomainError } from '../../shared/errors.js';
import { Idempotency, principalOf } from '../http-context.js';
import type { Metrics } from '../metrics.js';
import { EmptyBody, IdParam, errors, idemHeader, secured } from './common.js';

export function leaseRoutes(app: FastifyInstance, cp: ControlPlane, idem: Idempotency, metrics: Metrics): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

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

  // Changes nothing (a dry run of POST /v1/leases), so it takes no Idempotency-Key.
  r.post('/v1/leases/quote', {
    schema: {
      tags: ['leases'], summary: 'What POST /v1/leases would do now, without doing it: window, price, nodes, leases it would preempt, or the largest request that fits', ...secured,
      body: LeaseCreateBody, response: { 200: LeaseQuoteView, ...errors(400, 401, 422) },
    },
  }, async (req) => cp.leases.quote(principalOf(req), req.body));

  r.get('/v1/leases', {
    schema: {
      tags: ['leases'], summary: 'List leases, newest first', ...secured, querystring: LeaseListQuery,
      response: { 200: Type.Object({ leases: Type.Array(LeaseView), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401) },
    },
  }, async (req) => cp.leases.list(principalOf(req), req.query.limit ?? 100, req.query.before));

  r.get('/v1/leases/:id', {
    schema: { tags: ['leases'], summary: 'One lease with its GPUs and nodes', ...secured, params: IdParam, response: { 200: LeaseView, ...errors(400, 401, 404) } },
  }, async (req) => cp.leases.get(principalOf(req), req.params.id));

  r.get('/v1/leases/:id/events', {
    schema: {
      tags: ['leases'], summary: 'What happened to a lease: re-placed after a node failure, failed, preempting, placed from the queue', ...secured, params: IdParam,
      response: { 200: Type.Object({ events: Type.Array(LeaseEventView) }), ...errors(400, 401, 404) },
    },
  }, async (req) => ({ events: await cp.leases.listEvents(principalOf(req), req.params.id) }));

  r.post('/v1/leases/:id/release', {
    schema: {
      tags: ['leases'], summary: 'Release a lease: its GPUs are free from now (a queued request is cancelled)', ...secured, params: IdParam, headers: idemHeader,
      body: EmptyBody,
      response: { 200: LeaseView, ...errors(400, 401, 404, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await cp.leases.release(principalOf(req), req.params.id, ctx) })));

  r.get('/v1/capacity', {
    schema: { tags: ['leases'], summary: 'Free GPUs per site and fabric domain for a window (default: the next hour); a tenant gets free and runnable GPUs per site and model, never halls, fabrics or power', ...secured, querystring: CapacityQuery, response: { 200: Type.Unknown({ description: 'capacity report' }), ...errors(400, 401) } },
  }, async (req) => cp.leases.capacity(req.query, principalOf(req)));
}
