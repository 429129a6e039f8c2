/** Turns a shape-valid request body into a LeaseRequest, checking what a schema cannot. */
import { invalid, parseTime } from '../shared/errors.js';
import { OWNER_TENANT_ID, type Principal } from '../tenancy/index.js';
import { DEFAULT_QUEUE_WAIT_HOURS, MAX_LEASE_HOURS, MAX_START_AHEAD_DAYS, type LeaseCreateBody } from './lease-schemas.js';
import type { LeaseRequest } from './lease-types.js';

const HOUR_MS = 3_600_000;
/** A start this far in the past is read as "now" (client clock skew); further back is an error. */
export const START_SKEW_MS = 60_000;
export const MIN_LEASE_MS = 60_000;

export function validateLeaseRequest(body: LeaseCreateBody, principal: Principal, nowMs: number, knownRegions: ReadonlySet<string>): LeaseRequest {
  let tenantId: string;
  if (body.class === 'internal' && principal.kind === 'admin') {
    // The owner's own work belongs to the owner's account, never to a customer.
    if (body.tenantId !== undefined && body.tenantId !== OWNER_TENANT_ID) {
      throw invalid('tenantId', `internal work belongs to the owner's account; omit tenantId (or give ${OWNER_TENANT_ID})`);
    }
    tenantId = OWNER_TENANT_ID;
  } else if (principal.kind === 'admin') {
    if (body.tenantId === undefined) throw invalid('tenantId', 'is required when the operator creates a lease (except class internal)');
    if (body.tenantId === OWNER_TENANT_ID) throw invalid('tenantId', 'the owner\'s account holds internal work only; use class internal');
    tenantId = body.tenantId;
  } else {
    if (body.tenantId !== undefined && body.tenantId !== principal.tenantId) {
      throw invalid('tenantId', 'only the operator may lease for another tenant');
    }
    tenantId = principal.tenantId;
  }

  if (body.class === 'internal' && principal.kind !== 'admin') {
    throw invalid('class', 'internal is the operator\'s own work; tenants lease reserved, on-demand or spot');
  }

  let startMs = nowMs;
  if (body.start !== undefined) {
    startMs = parseTime('start', body.start);
    if (startMs < nowMs - START_SKEW_MS) throw invalid('start', 'must not be in the past');
    if (startMs > nowMs + MAX_START_AHEAD_DAYS * 24 * HOUR_MS) throw invalid('start', `must be at most ${MAX_START_AHEAD_DAYS} days ahead`);
    startMs = Math.max(startMs, nowMs);
  }

  let endMs: number;
  if (body.end !== undefined && body.durationHours !== undefined) throw invalid('durationHours', 'give end or durationHours, not both');
  if (body.end !== undefined) {
    endMs = parseTime('end', body.end);
    if (endMs <= startMs) throw invalid('end', 'must be after start');
  } else if (body.durationHours !== undefined) {
    endMs = startMs + Math.round(body.durationHours * HOUR_MS);
  } else {
    throw invalid('end', 'end or durationHours is required');
  }
  const field = body.end !== undefined ? 'end' : 'durationHours';
  if (endMs - startMs < MIN_LEASE_MS) throw invalid(field, 'a lease lasts at least one minute');
  if (endMs - startMs > MAX_LEASE_HOURS * HOUR_MS) throw invalid(field, `a lease lasts at most ${MAX_LEASE_HOURS} hours (3 years)`);

  let queueUntilMs: number | null = null;
  if (body.queue === true) {
    // A queued request starts when capacity frees, and keeps the length it asked for.
    if (body.class === 'reserved') throw invalid('queue', 'a reserved block books its start; queue on-demand, spot or internal requests');
    if (body.start !== undefined && startMs > nowMs) throw invalid('start', 'a queued request starts when capacity frees; omit start');
    if (body.end !== undefined) throw invalid('end', 'a queued request keeps its length from when it is placed; give durationHours');
    queueUntilMs = nowMs + Math.round((body.maxWaitHours ?? DEFAULT_QUEUE_WAIT_HOURS) * HOUR_MS);
  } else if (body.maxWaitHours !== undefined) {
    throw invalid('maxWaitHours', 'only with queue: true');
  }

  const region = body.region ?? null;
  if (region !== null && !knownRegions.has(region)) throw invalid('region', `unknown region "${region}"`);

  return {
    tenantId,
    gpuModel: body.gpuModel,
    gpuCount: body.gpuCount,
    leaseClass: body.class ?? 'on-demand',
    placement: body.placement ?? 'any',
    region,
    startMs,
    endMs,
    queueUntilMs,
  };
}
