/** Scheduler status for the operator. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { requireAdmin } from '../../tenancy/index.js';
import { principalOf } from '../http-context.js';
import { errors, secured } from './common.js';

export function schedulerRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get('/v1/scheduler/status', {
    schema: { tags: ['scheduler'], summary: 'Utilization, fragmentation (largest gang per level and fabric), power and the calendar ahead', ...secured, response: { 200: Type.Unknown({ description: 'scheduler status' }), ...errors(401, 403) } },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return cp.leases.schedulerStatus();
  });
}
