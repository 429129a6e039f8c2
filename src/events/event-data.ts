/**
 * The lease events' payloads, declared once: the producer (src/leasing/lease-events.ts) builds
 * `data` of these types and every consumer (billing's meter, anything reading the log or NATS)
 * decodes with `decodeLeaseEvent`, which checks the payload against the same declaration. Kept in
 * the events domain, not in leasing, so consumers (billing, the relay) import it without importing
 * leasing, and leasing imports events as it already does (no cycle).
 *
 * Times are RFC 3339 strings (UTC, ms), money is a decimal string of micros, GPUs and nodes are
 * lists of ids. A field added later must be optional here: the log keeps what older code wrote.
 */
import { TYPE_PREFIX, type CloudEvent, type EventType, type NewEvent } from './event-log.js';

/** RFC 3339 time as written by the producer (`Date.prototype.toISOString`). */
export type IsoTime = string;

/** `data` of each lease event. Every payload carries its `leaseId` (also the event's subject). */
export type LeaseEventData = {
  /** What was asked for, as validated. `class`: a LeaseClass; `placement`: a Placement (src/leasing/lease-types.ts). */
  'lease.requested': { leaseId: string; tenantId: string; class: string; gpuModel: string; gpuCount: number; placement: string; region: string | null; start: IsoTime; end: IsoTime };
  /** Waiting for capacity until `queuedUntil`. */
  'lease.queued': { leaseId: string; queuedUntil: IsoTime; durationMs: number };
  /**
   * GPUs held for [start, end) at a price. `heldUntil`: when the GPUs go back, if known at
   * placement (a backfill's deadline), else `end`. `waitedSeconds`: how long it was queued.
   */
  'lease.placed': {
    leaseId: string; tenantId: string; class: string; gpuModel: string; gpuCount: number; placement: string; start: IsoTime; end: IsoTime; heldUntil?: IsoTime;
    priceMicrosPerGpuHour: string; totalMicros: string; gpus: string[]; nodes: string[]; waitedSeconds?: number;
  };
  /** Notice given: the GPUs go at `deadline`, to lease `by`. */
  'lease.preempting': { leaseId: string; deadline: IsoTime; by: string | null; cause: 'preemption' | 'backfill'; backfill?: true };
  'lease.released': { leaseId: string; releasedAt: IsoTime; heldUntil: IsoTime; wasQueued: boolean };
  /** Moved off nodes that went down: the GPUs it left and the ones it took. */
  'lease.moved': { leaseId: string; fromNodes: string[]; toNodes: string[]; downNodes: string[]; fromGpus: string[]; toGpus: string[] };
  /**
   * `gpuCount` of its GPUs (`gpus`, on `nodes`) were on a node that was unhealthy over [from, to),
   * within the lease's run (`from` ≥ its start). Billing does not bill that GPU time and credits it per the SLA.
   */
  'lease.downtime': { leaseId: string; from: IsoTime; to: IsoTime; durationMs: number; nodes: string[]; gpus: string[]; gpuCount: number };
  'lease.failed': { leaseId: string; reason: string; nodes: string[] };
  /** Its booked start passed with GPUs held: it runs from `start`. */
  'lease.started': { leaseId: string; start: IsoTime; gpus: string[] };
  /** Its GPUs went at `preemptedAt` (the deadline of its notice). */
  'lease.preempted': { leaseId: string; preemptedAt: IsoTime; by: string | null };
  /** The booked window ended at `end` (`ended`) or a queued request's wait ran out (`queue-timeout`). */
  'lease.expired': { leaseId: string; reason: 'ended' | 'queue-timeout'; end: IsoTime };
};

export type LeaseEventType = keyof LeaseEventData;

/** A lease event as the producer appends it. */
export type NewLeaseEvent<K extends LeaseEventType = LeaseEventType> = NewEvent & { type: K; data: LeaseEventData[K] };

/** A lease event read from the log, its payload checked: a union narrowed by `type`. */
export type LeaseEvent = {
  [K in LeaseEventType]: {
    type: K;
    /** CloudEvents `id`: what a consumer deduplicates on. */
    id: string;
    leaseId: string;
    tenantId: string | null;
    timeMs: number;
    sequence: number;
    data: LeaseEventData[K];
  };
}[LeaseEventType];

/** A lease event in the log whose payload does not match its declaration (a producer bug, or a hand-edited row). */
export class EventPayloadError extends Error {
  constructor(readonly eventId: string, readonly field: string, detail: string) {
    super(`event ${eventId}: data.${field} ${detail}`);
  }
}

type Kind = 'string' | 'number' | 'boolean' | 'time' | 'strings' | 'string?null';
/** Each payload field's kind; `?` marks an optional field. The mapped type makes the compiler demand every field of every type. */
type Spec<T> = { [F in keyof T]-?: undefined extends T[F] ? `${Kind}?` : Kind };

const SPECS: { [K in LeaseEventType]: Spec<LeaseEventData[K]> } = {
  'lease.requested': { leaseId: 'string', tenantId: 'string', class: 'string', gpuModel: 'string', gpuCount: 'number', placement: 'string', region: 'string?null', start: 'time', end: 'time' },
  'lease.queued': { leaseId: 'string', queuedUntil: 'time', durationMs: 'number' },
  'lease.placed': {
    leaseId: 'string', tenantId: 'string', class: 'string', gpuModel: 'string', gpuCount: 'number', placement: 'string', start: 'time', end: 'time', heldUntil: 'time?',
    priceMicrosPerGpuHour: 'string', totalMicros: 'string', gpus: 'strings', nodes: 'strings', waitedSeconds: 'number?',
  },
  'lease.preempting': { leaseId: 'string', deadline: 'time', by: 'string?null', cause: 'string', backfill: 'boolean?' },
  'lease.released': { leaseId: 'string', releasedAt: 'time', heldUntil: 'time', wasQueued: 'boolean' },
  'lease.moved': { leaseId: 'string', fromNodes: 'strings', toNodes: 'strings', downNodes: 'strings', fromGpus: 'strings', toGpus: 'strings' },
  'lease.downtime': { leaseId: 'string', from: 'time', to: 'time', durationMs: 'number', nodes: 'strings', gpus: 'strings', gpuCount: 'number' },
  'lease.failed': { leaseId: 'string', reason: 'string', nodes: 'strings' },
  'lease.started': { leaseId: 'string', start: 'time', gpus: 'strings' },
  'lease.preempted': { leaseId: 'string', preemptedAt: 'time', by: 'string?null' },
  'lease.expired': { leaseId: 'string', reason: 'string', end: 'time' },
};

/** Money in the payload: decimal micros, checked beyond "a string" so `BigInt()` cannot throw later. */
const DECIMAL_FIELDS = new Set(['priceMicrosPerGpuHour', 'totalMicros']);

const COMPILED = Object.fromEntries(Object.entries(SPECS).map(([type, spec]) => [type, Object.entries(spec as Record<string, string>).map(([field, kind]): FieldCheck => ({
  field, kind: (kind.endsWith('?') ? kind.slice(0, -1) : kind) as Kind, optional: kind.endsWith('?'), decimal: DECIMAL_FIELDS.has(field),
}))])) as Record<LeaseEventType, FieldCheck[]>;

/** RFC 3339 as the producers write it (`toISOString`): checked by shape, not by parsing a Date per field. */
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;
const DECIMAL = /^-?\d+$/;

function check(id: string, field: string, k: Kind, optional: boolean, decimal: boolean, v: unknown): string | null {
  if (v === undefined) return optional ? null : 'is missing';
  switch (k) {
    case 'string': return typeof v === 'string' && (!decimal || DECIMAL.test(v)) ? null : decimal ? 'must be a decimal string' : 'must be a string';
    case 'string?null': return v === null || typeof v === 'string' ? null : 'must be a string or null';
    case 'number': return typeof v === 'number' && Number.isFinite(v) ? null : 'must be a finite number';
    case 'boolean': return typeof v === 'boolean' ? null : 'must be a boolean';
    case 'time': return typeof v === 'string' && RFC3339.test(v) && Number.isFinite(Date.parse(v)) ? null : 'must be an RFC 3339 time';
    case 'strings': {
      if (!Array.isArray(v)) return 'must be a list of strings';
      for (const x of v) if (typeof x !== 'string') return 'must be a list of strings';
      return null;
    }
  }
  return `has an unknown kind ${k} (event ${id})`;
}

/** Each type's fields, compiled once: the decoder runs for every event the meter reads. */
interface FieldCheck { field: string; kind: Kind; optional: boolean; decimal: boolean }

const LEASE_PREFIX = `${TYPE_PREFIX}lease.`;

/**
 * Entries older than these declarations: migration 0007 moved `lease_events` into the log with
 * their `detail` as it was (a `placed` from the queue carried only `waitedSeconds` and `nodes`, a
 * `replaced` — now `moved` — no GPU lists, `preempting` no `cause`, stops no time of their own).
 * Fields the envelope states (the lease, the tenant, the time) are filled from it, and lists
 * added later are empty; what cannot be known (a placement's price) is not invented: such an
 * entry is still refused. A field the entry has always wins.
 */
const LEGACY_DEFAULTS: { [K in LeaseEventType]?: (e: CloudEvent) => Partial<LeaseEventData[K]> } = {
  'lease.requested': (e) => ({ leaseId: e.subject, ...(e.tenantid === null ? {} : { tenantId: e.tenantid }) }),
  'lease.queued': (e) => ({ leaseId: e.subject }),
  'lease.placed': (e) => ({ leaseId: e.subject, ...(e.tenantid === null ? {} : { tenantId: e.tenantid }), gpus: [], nodes: [] }),
  'lease.preempting': (e) => ({ leaseId: e.subject, by: null, cause: e.data['backfill'] === true ? 'backfill' : 'preemption' }),
  'lease.released': (e) => ({ leaseId: e.subject, releasedAt: e.time, heldUntil: typeof e.data['releasedAt'] === 'string' ? e.data['releasedAt'] : e.time, wasQueued: false }),
  'lease.moved': (e) => ({ leaseId: e.subject, fromNodes: [], toNodes: [], downNodes: [], fromGpus: [], toGpus: [] }),
  'lease.downtime': (e) => ({ leaseId: e.subject }),
  'lease.failed': (e) => ({ leaseId: e.subject, nodes: [] }),
  'lease.started': (e) => ({ leaseId: e.subject, start: e.time, gpus: [] }),
  'lease.preempted': (e) => ({ leaseId: e.subject, preemptedAt: e.time, by: null }),
  'lease.expired': (e) => ({ leaseId: e.subject, end: e.time }),
};

/** The event type without the CloudEvents prefix (`lease.placed`); what NATS subjects and the lease view use. */
export function shortType(e: Pick<CloudEvent, 'type'>): string {
  return e.type.startsWith(TYPE_PREFIX) ? e.type.slice(TYPE_PREFIX.length) : e.type;
}

export function isLeaseEventType(t: string): t is LeaseEventType {
  return Object.prototype.hasOwnProperty.call(SPECS, t);
}

/**
 * The one decoder for consumers: a lease event with its payload checked against LeaseEventData,
 * or null for an event that is not a lease event (fleet, node, agent; a lease type this code does
 * not know). Throws EventPayloadError naming the field when a lease event's payload is malformed:
 * a consumer must not act on a guess (the meter would bill NaN).
 */
export function decodeLeaseEvent(e: CloudEvent): LeaseEvent | null {
  if (!e.type.startsWith(LEASE_PREFIX)) return null;
  const type = shortType(e);
  if (!isLeaseEventType(type)) return null;
  const checks = COMPILED[type];
  let data = e.data as Record<string, unknown>;
  // Legacy entries miss fields the envelope states: merged only then (an object copy per event otherwise).
  const legacy = LEGACY_DEFAULTS[type];
  if (legacy && checks.some((c) => !c.optional && data[c.field] === undefined)) data = { ...legacy(e), ...data };
  for (const c of checks) {
    const bad = check(e.id, c.field, c.kind, c.optional, c.decimal, data[c.field]);
    if (bad) throw new EventPayloadError(e.id, c.field, bad);
  }
  return { type, id: e.id, leaseId: e.subject, tenantId: e.tenantid, timeMs: Date.parse(e.time), sequence: Number(e.sequence), data } as LeaseEvent;
}

/** Every lease event type; declared as EventType[], so a payload declared for a type the log does not know fails to compile. */
export const LEASE_EVENT_TYPES: readonly EventType[] = Object.keys(SPECS) as LeaseEventType[];
