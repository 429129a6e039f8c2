/** The event log over HTTP: read by cursor (operator: everything; a tenant: its own). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { MAX_EVENTS_PER_PAGE } from '../../events/index.js';
import { principalOf } from '../http-context.js';
import { errors, secured } from './common.js';

const CloudEventView = Type.Object({
  specversion: Type.Literal('1.0'),
  id: Type.String(), source: Type.String(), type: Type.String({ description: 'dev.neocloud.lease.placed, …' }), subject: Type.String(),
  time: Type.String({ format: 'date-time' }), datacontenttype: Type.Literal('application/json'),
  sequence: Type.String({ description: 'gap-free position in the cell\'s log, a decimal string' }),
  tenantid: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Any()),
}, { description: 'a CloudEvents 1.0 event' });

export function eventRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/v1/events', {
    schema: {
      tags: ['events'], ...secured,
      summary: 'The event log after a cursor, in order: every lease state change (requested, queued, placed, started, preempting, preempted, released, expired, failed, moved) and fleet changes. A tenant sees only its own leases\' events.',
      querystring: Type.Object({
        after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'return events with a larger sequence (0: from the start)' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENTS_PER_PAGE, default: 100 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ events: Type.Array(CloudEventView), next: Type.String({ description: 'the cursor for the next page' }) }), ...errors(400, 401) },
    },
  }, async (req) => cp.eventFeed.read(principalOf(req), req.query.after ?? 0, req.query.limit ?? 100));
}
