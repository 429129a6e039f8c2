/** Tenants and API keys: create tenants, issue, list and revoke keys, rotate the admin key, whoami. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { Idempotency, principalOf } from '../http-context.js';
import { NextCursor } from '../../shared/paging.js';
import { EmptyBody, Id, IdParam, PageQuery, errors, idemHeader, page, secured } from './common.js';

const TenantView = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String({ format: 'date-time' }) });
const KeyView = Type.Object({
  id: Type.String(),
  tenantId: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('admin'), Type.Literal('tenant')]),
  prefix: Type.Union([Type.String(), Type.Null()], { description: 'the first characters of the secret, to tell keys apart; never the secret' }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'recorded at most once a minute per key' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const Secret = Type.Union([Type.String(), Type.Null()], { description: 'the secret key, shown once; null when an idempotent retry replays the response' });
const KeyParams = Type.Object({ id: Id, keyId: Id });

export function tenantRoutes(app: FastifyInstance, cp: ControlPlane, idem: Idempotency): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/v1/whoami', {
    schema: {
      tags: ['tenants'], summary: 'Who the key belongs to: the operator or a tenant', ...secured,
      response: { 200: Type.Object({ kind: Type.Union([Type.Literal('admin'), Type.Literal('tenant')]), tenantId: Type.Union([Type.String(), Type.Null()]), keyId: Type.String() }), ...errors(401) },
    },
  }, async (req) => cp.tenants.whoami(principalOf(req)));

  r.get('/v1/me', {
    schema: {
      tags: ['tenants'], summary: 'Who the caller is and where the event log stands: a client decides what to show from this, and follows /v1/events from `eventCursor`', ...secured,
      response: {
        200: Type.Object({
          role: Type.Union([Type.Literal('operator'), Type.Literal('tenant')]),
          tenantId: Type.Union([Type.String(), Type.Null()]),
          tenantName: Type.Union([Type.String(), Type.Null()]),
          keyId: Type.String(),
          eventCursor: Type.String({ description: 'the event log\'s last sequence now: pass as `after` to GET /v1/events to see only what happens next' }),
          asOf: Type.String({ format: 'date-time' }),
        }), ...errors(401),
      },
    },
  }, async (req) => ({ ...await cp.tenants.me(principalOf(req)), eventCursor: await cp.eventFeed.head(), asOf: new Date(cp.clock.nowMs()).toISOString() }));

  r.post('/v1/tenants', {
    schema: {
      tags: ['tenants'], summary: 'Create a tenant; the response carries its API key once', ...secured, headers: idemHeader,
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ tenant: TenantView, apiKey: Secret }), ...errors(400, 401, 403, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await cp.tenants.create(principalOf(req), req.body.name, ctx) })));

  r.get('/v1/tenants', {
    schema: {
      tags: ['tenants'], summary: 'List tenants in creation order, a page at a time (a tenant sees itself)', ...secured, querystring: PageQuery,
      response: { 200: Type.Object({ tenants: Type.Array(TenantView), nextCursor: NextCursor }), ...errors(400, 401) },
    },
  }, async (req) => {
    const p = await cp.tenants.list(principalOf(req), page(req.query));
    return { tenants: p.items, nextCursor: p.nextCursor };
  });

  r.get('/v1/tenants/:id/keys', {
    schema: {
      tags: ['keys'], summary: 'A tenant\'s API keys, oldest first, a page at a time (operator, or the tenant itself)', ...secured, params: IdParam, querystring: PageQuery,
      response: { 200: Type.Object({ keys: Type.Array(KeyView), nextCursor: NextCursor }), ...errors(400, 401, 404) },
    },
  }, async (req) => {
    const p = await cp.tenants.listKeys(principalOf(req), req.params.id, page(req.query));
    return { keys: p.items, nextCursor: p.nextCursor };
  });

  r.post('/v1/tenants/:id/keys', {
    schema: {
      tags: ['keys'], summary: 'Issue another API key for a tenant (operator, or the tenant itself); the secret is in the response once', ...secured,
      params: IdParam, headers: idemHeader, body: EmptyBody,
      response: { 201: Type.Object({ tenantId: Type.String(), key: KeyView, apiKey: Secret }), ...errors(400, 401, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await cp.tenants.issueKey(principalOf(req), req.params.id, ctx) })));

  r.post('/v1/tenants/:id/keys/:keyId/revoke', {
    schema: {
      tags: ['keys'], summary: 'Revoke a tenant\'s API key at once, on every control plane (operator, or the tenant itself)', ...secured,
      params: KeyParams, headers: idemHeader, body: EmptyBody,
      response: { 200: KeyView, ...errors(400, 401, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await cp.tenants.revokeKey(principalOf(req), req.params.id, req.params.keyId, ctx) })));

  r.get('/v1/admin/keys', {
    schema: {
      tags: ['keys'], summary: 'The operator\'s admin keys, oldest first, a page at a time', ...secured, querystring: PageQuery,
      response: { 200: Type.Object({ keys: Type.Array(KeyView), nextCursor: NextCursor }), ...errors(400, 401, 403) },
    },
  }, async (req) => {
    const p = await cp.tenants.listAdminKeys(principalOf(req), page(req.query));
    return { keys: p.items, nextCursor: p.nextCursor };
  });

  r.post('/v1/admin/keys/rotate', {
    schema: {
      tags: ['keys'], summary: 'Rotate the admin key: a new key is returned once and the key used for this call is revoked at once', ...secured,
      headers: idemHeader, body: EmptyBody,
      response: { 201: Type.Object({ key: KeyView, apiKey: Secret, revokedKeyId: Type.String() }), ...errors(400, 401, 403, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await cp.tenants.rotateAdminKey(principalOf(req), ctx) })));
}
