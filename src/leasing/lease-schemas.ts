/** Wire schemas for leases (TypeBox → JSON Schema, used for validation and OpenAPI). */
import { Type, type Static } from 'typebox';
import { GPU_MODEL_IDS } from '../fleet/index.js';
import { MicrosString, oneOf } from '../shared/validation.js';
import { LEASE_CLASSES, PLACEMENTS } from './lease-types.js';

/** 3 years: the longest term a lease may book. */
export const MAX_LEASE_HOURS = 26_304;
/** How far ahead a lease may start (future capacity blocks). */
export const MAX_START_AHEAD_DAYS = 366;
export const MAX_GPUS_PER_LEASE = 100_000;
/** A queued request waits at most this long (one week); 24 hours by default. */
export const MAX_QUEUE_WAIT_HOURS = 168;
export const DEFAULT_QUEUE_WAIT_HOURS = 24;

export const LeaseCreateBody = Type.Object({
  gpuModel: oneOf(GPU_MODEL_IDS, 'GPU model from the catalog'),
  gpuCount: Type.Integer({ minimum: 1, maximum: MAX_GPUS_PER_LEASE }),
  region: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'limit to one region' })),
  start: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339, default now' })),
  end: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339; or give durationHours' })),
  durationHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_LEASE_HOURS })),
  placement: Type.Optional(oneOf(PLACEMENTS, 'gang constraint, default any')),
  class: Type.Optional(oneOf(LEASE_CLASSES, 'default on-demand')),
  tenantId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'operator only: lease on behalf of this tenant (omit for class internal: it belongs to the owner\'s account)' })),
  queue: Type.Optional(Type.Boolean({ description: 'when nothing fits now, wait for capacity (202, state queued) instead of a 409; on-demand, spot and internal, starting now, with durationHours' })),
  maxWaitHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_QUEUE_WAIT_HOURS, description: `with queue: give up after this long (default ${DEFAULT_QUEUE_WAIT_HOURS})` })),
}, { additionalProperties: false });
export type LeaseCreateBody = Static<typeof LeaseCreateBody>;

export const LeaseGpuView = Type.Object({ uuid: Type.String(), nodeId: Type.String() });

export const LeaseView = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  state: oneOf(['queued', 'scheduled', 'active', 'released', 'expired', 'failed', 'preempting', 'preempted'] as const),
  gpuModel: Type.String(),
  gpuCount: Type.Integer(),
  class: Type.String(),
  placement: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  start: Type.String({ format: 'date-time' }),
  end: Type.String({ format: 'date-time' }),
  releasedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  failedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  stateReason: Type.Union([Type.String(), Type.Null()]),
  preemptedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  preemptedBy: Type.Union([Type.String(), Type.Null()]),
  priceMicrosPerGpuHour: MicrosString('the tenant\'s price per GPU-hour from the rate card, when booked (micros of `currency`)'),
  currency: Type.String({ description: 'ISO 4217 code of every amount of this lease (the tenant\'s billing currency)' }),
  totalMicros: MicrosString('price × GPUs × booked hours, rounded per calendar month to the minor unit as the invoices bill it'),
  actualEnd: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when its GPUs actually stopped being held (release, preemption, failure or end), once passed; null while it runs, ahead of it, or for a request that never left the queue' }),
  usedMs: Type.Integer({ minimum: 0, description: 'milliseconds its GPUs have been held so far' }),
  accruedMicros: MicrosString('price × GPUs × hours held so far (what it has run, beside the booked total)'),
  createdAt: Type.String({ format: 'date-time' }),
  queuedUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'a queued request waits for capacity until then' }),
  nodes: Type.Array(Type.String()),
  gpus: Type.Array(LeaseGpuView),
});
export type LeaseView = Static<typeof LeaseView>;

export const LeaseListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  before: Type.Optional(Type.String({ maxLength: 64, description: 'cursor: a lease id from the previous page' })),
}, { additionalProperties: false });

export const CapacityQuery = Type.Object({
  gpuModel: Type.Optional(oneOf(GPU_MODEL_IDS)),
  region: Type.Optional(Type.String({ maxLength: 63 })),
  start: Type.Optional(Type.String({ format: 'date-time' })),
  end: Type.Optional(Type.String({ format: 'date-time' })),
}, { additionalProperties: false });
export type CapacityQuery = Static<typeof CapacityQuery>;

export const LeaseEventView = Type.Object({
  id: Type.String(),
  leaseId: Type.String(),
  type: oneOf(['requested', 'queued', 'placed', 'started', 'preempting', 'preempted', 'released', 'expired', 'failed', 'moved', 'downtime'] as const),
  at: Type.String({ format: 'date-time' }),
  sequence: Type.String({ description: 'position in the event log (GET /v1/events)' }),
  detail: Type.Record(Type.String(), Type.Any()),
});
export type LeaseEventView = Static<typeof LeaseEventView>;

/** What POST /v1/leases would do now, without doing it (POST /v1/leases/quote). */
export const LeaseQuoteView = Type.Object({
  outcome: oneOf(['placed', 'queued', 'refused'] as const, 'placed: it fits now (start may be after a preemption notice); queued: it would wait (queue: true); refused: a 409'),
  gpuModel: Type.String(),
  gpuCount: Type.Integer(),
  class: Type.String(),
  placement: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  start: Type.String({ format: 'date-time' }),
  end: Type.String({ format: 'date-time' }),
  /** Backfilled preemptible work: preempted then (before end) by the booking it runs in front of. */
  preemptedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  priceMicrosPerGpuHour: MicrosString('the tenant\'s price per GPU-hour from the rate card (micros of `currency`)'),
  currency: Type.String({ description: 'ISO 4217 code of the price and total' }),
  priceBasis: Type.Union([Type.Literal('list'), Type.Literal('discount'), Type.Literal('negotiated'), Type.Literal('reserved-term'), Type.Null()], { description: 'where the price comes from: the list, the list less a contract discount, a negotiated price, or a reserved term that covers the lease (price 0); null when refused' }),
  totalMicros: MicrosString('price × GPUs × booked hours (the backfill window for backfilled work), rounded per calendar month to the minor unit as the invoices bill it'),
  nodes: Type.Integer({ description: 'nodes the gang would span' }),
  preempts: Type.Integer({ description: 'preemptible leases it would preempt (they get the notice period first)' }),
  largestSatisfiable: Type.Union([Type.Integer(), Type.Null()], { description: 'refused: the largest request of this shape that fits now' }),
  detail: Type.Union([Type.String(), Type.Null()]),
});
export type LeaseQuoteView = Static<typeof LeaseQuoteView>;
