/**
 * HTTP routes, one module per domain: each handler validates (by schema), calls one service
 * method and answers. Business rules live in the services.
 */
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../../app/control-plane.js';
import { Idempotency } from '../http-context.js';
import type { Metrics } from '../metrics.js';
import { agentRoutes } from './agents.js';
import { billingRoutes } from './billing.js';
import { eventRoutes } from './events.js';
import { fleetRoutes } from './fleet.js';
import { leaseRoutes } from './leases.js';
import { schedulerRoutes } from './scheduler.js';
import { tenantRoutes } from './tenants.js';

export function registerRoutes(app: FastifyInstance, cp: ControlPlane, metrics: Metrics): void {
  const idem = new Idempotency(cp);
  fleetRoutes(app, cp);
  tenantRoutes(app, cp, idem);
  leaseRoutes(app, cp, idem, metrics);
  schedulerRoutes(app, cp);
  eventRoutes(app, cp);
  agentRoutes(app, cp, idem);
  billingRoutes(app, cp, idem);
}
