/**
 * The world the fuzzer attacks: a small fleet whose H100s cost the price book's maximum (1,000
 * dollars per GPU-hour, so a large, long lease overflows a safe-integer total), two tenants with
 * leases (ids to hit, own and foreign), the dictionary of values that make generated requests land,
 * fixture-aware models of valid bodies, and the clean-up after a request that succeeded.
 */
import fc from 'fast-check';
import type { FleetSpec } from '../../src/fleet/index.js';
import { createTenant, smallFleet, type TestServer } from '../helpers.js';
import type { CaseContext, PrincipalKind } from './cases.js';
import type { JsonSchema, Operation } from './openapi.js';
import type { RawResponse } from './raw-http.js';

/** The highest price a fleet spec accepts (PriceSpec.maximum), micro-dollars per GPU-hour. */
export const MAX_PRICE_MICROS = 1_000_000_000;
const H = 3_600_000;

/** 512 H100 (two fabrics of 32 servers) at the maximum price, and one GB200 NVL72 rack. */
export function fuzzFleet(): FleetSpec {
  const spec = smallFleet({ h100PerFabric: 32, fabrics: 2 });
  spec.prices = (['reserved', 'on-demand', 'spot', 'internal'] as const).map((c) => ({ gpuModel: 'H100-SXM' as const, class: c, priceMicrosPerGpuHour: MAX_PRICE_MICROS }));
  return spec;
}

export interface World {
  tenant: { id: string; key: string };
  other: { id: string; key: string };
  ownLeases: string[];
  foreignLeases: string[];
}

const leaseBody = (over: Record<string, unknown>) => ({ gpuModel: 'GB200', gpuCount: 8, placement: 'same-nvlink', durationHours: 24, ...over });

/** Tenants `acme` (the fuzzing tenant) and `beta` (the foreign one); GB200 leases, the H100s left free. */
export async function seedWorld(s: TestServer): Promise<World> {
  const tenant = await createTenant(s, 'acme');
  const other = await createTenant(s, 'beta');
  const mk = async (key: string, over: Record<string, unknown>): Promise<string> => {
    const r = await s.call('POST', '/v1/leases', { key, body: leaseBody(over) });
    if (r.status !== 201) throw new Error(`seed lease: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id as string;
  };
  const ownLeases = [
    await mk(tenant.key, {}),
    await mk(tenant.key, { start: new Date(s.clock.nowMs() + 48 * H).toISOString() }),
    await mk(tenant.key, { gpuCount: 1 }),
  ];
  await s.call('POST', `/v1/leases/${ownLeases[2]}/release`, { key: tenant.key, body: {} });
  const foreignLeases = [await mk(other.key, { gpuCount: 16, placement: 'same-site' })];
  // Prices for the usage the fuzzer sends (usage a tenant has no price for is refused).
  for (const t of [tenant, other]) {
    const start = new Date(s.clock.nowMs() - 40 * 86_400_000).toISOString();
    for (const body of [
      { tenantId: t.id, kind: 'tokens', start, terms: { prices: { m1: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } } },
      { tenantId: t.id, kind: 'on-demand', start, terms: { rates: { 'storage.gb_hours': '100', 'egress.gb': '50000' } } },
    ]) {
      const r = await s.call('POST', '/v1/contracts', { body });
      if (r.status !== 201) throw new Error(`seed contract: ${r.status} ${JSON.stringify(r.body)}`);
    }
  }
  return { tenant, other, ownLeases, foreignLeases };
}

const enumOf = (schema: JsonSchema | undefined, prop: string): string[] =>
  (((schema?.['properties'] as Record<string, JsonSchema> | undefined)?.[prop]?.['enum']) ?? []) as string[];

export function caseContext(s: TestServer, w: World, ops: Operation[]): CaseContext {
  const fleet = s.cp.fleet.current();
  const nowMs = s.clock.nowMs();
  const models = [...new Set(fleet.nodes.map((n) => n.gpuModel))];
  const gpusOf = (m: string) => fleet.gpus.filter((g) => g.model === m).length;
  const perFabric = [...new Set(fleet.nodes.map((n) => n.fabricId))].map((f) => fleet.gpus.filter((g) => fleet.nodes.find((n) => n.id === g.nodeId)?.fabricId === f).length);
  const numbers = [...new Set([1, 8, 72, ...perFabric, ...models.map(gpusOf), fleet.gpus.length])].sort((a, b) => a - b);
  const strings = [
    w.tenant.id, w.other.id, ...w.ownLeases, ...w.foreignLeases, 'acme', 'beta', ...models,
    ...fleet.sites.flatMap((x) => [x.id, x.region]), ...fleet.halls.map((x) => x.id), ...fleet.nodes.slice(0, 4).map((x) => x.id),
  ];
  const leaseSchema = ops.find((o) => o.key === 'POST /v1/leases')?.body?.schema;
  const placements = enumOf(leaseSchema, 'placement');
  const classes = enumOf(leaseSchema, 'class');
  const iso = (ms: number) => new Date(ms).toISOString();
  const hours = fc.oneof(fc.constantFrom(1 / 60, 1, 24, 8_760, 26_304), fc.double({ min: 0.02, max: 26_304, noNaN: true }));
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

  /** A lease request that the fixture can place: a fleet model, a count up to its GPUs, a window. */
  const leaseModel = (p: PrincipalKind): fc.Arbitrary<unknown> => fc.constantFrom(...models).chain((gpuModel) => fc.record({
    gpuModel: fc.constant(gpuModel),
    gpuCount: fc.oneof(fc.constantFrom(...numbers.filter((n) => n <= gpusOf(gpuModel))), fc.integer({ min: 1, max: gpusOf(gpuModel) })),
    placement: opt(fc.constantFrom(...placements)),
    class: opt(fc.constantFrom(...classes.filter((c) => p === 'operator' || c !== 'internal'))),
    window: fc.oneof(
      hours.map((h) => ({ durationHours: h })),
      fc.tuple(fc.integer({ min: 0, max: 300 * 24 }), hours).map(([s0, h]) => ({ start: iso(nowMs + s0 * H), end: iso(nowMs + s0 * H + Math.max(1, Math.round(h * H))) })),
    ),
    queue: opt(fc.record({ queue: fc.constant(true), maxWaitHours: opt(fc.constantFrom(1, 24, 168)) })),
    region: opt(fc.constantFrom(...fleet.sites.map((x) => x.region))),
    tenantId: p === 'operator' ? fc.constantFrom(w.tenant.id, w.other.id) : opt(fc.constant(w.tenant.id)),
  })).map(({ window, queue, ...rest }) => {
    const body: Record<string, unknown> = { ...rest, ...window, ...(queue && 'durationHours' in window ? queue : {}) };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    if (body['maxWaitHours'] === undefined) delete body['maxWaitHours'];
    return body;
  });

  const nodeIds = fleet.nodes.map((n) => n.id);
  const fleetModel = (): fc.Arbitrary<unknown> => fc.record({
    states: fc.dictionary(fc.constantFrom(...nodeIds), fc.constantFrom('in-service', 'draining', 'down'), { maxKeys: 2 }),
    price: fc.option(fc.integer({ min: 0, max: MAX_PRICE_MICROS }), { nil: undefined }),
  }).map(({ states, price }) => {
    const spec = fuzzFleet();
    if (Object.keys(states).length > 0) spec.nodeStates = states as FleetSpec['nodeStates'];
    if (price !== undefined) spec.prices = spec.prices!.map((e) => ({ ...e, priceMicrosPerGpuHour: price }));
    return spec;
  });

  let nameSeq = 0;
  return {
    dict: { nowMs, strings, numbers },
    keys: { operator: s.adminKey, tenant: w.tenant.key },
    ids: {
      leases: { own: w.ownLeases, foreign: w.foreignLeases },
      tenants: { own: [w.tenant.id], foreign: [w.other.id] },
    },
    missingIds: ['lease_00000000000000000000000000000000', 'ten_00000000000000000000000000000000'],
    models: {
      'POST /v1/leases': leaseModel,
      'POST /v1/tenants': () => fc.oneof(fc.constant(null).map(() => `fz-${nameSeq++}`), fc.constantFrom('acme', ' acme ', 'Åcme', '名前')).map((name) => ({ name })),
      'PUT /v1/fleet': fleetModel,
      'POST /v1/leases/{id}/release': () => fc.constant({}),
      // Billing: batches of usage events near the server's clock, and contracts of every kind.
      'POST /v1/usage': (p: PrincipalKind) => fc.array(fc.record({
        id: fc.oneof(fc.constant(null).map(() => `fz-ev-${nameSeq++}`), fc.constantFrom('fz-dup-1', 'fz-dup-2')),
        source: fc.constantFrom('/fuzz', '/fuzz/2'),
        type: fc.constantFrom('tokens.input', 'tokens.output', 'storage.gb_hours', 'egress.gb'),
        subject: p === 'operator' ? fc.constantFrom(w.tenant.id, w.other.id) : fc.constant(w.tenant.id),
        time: fc.integer({ min: -3_600_000, max: 60_000 }).map((d) => new Date(nowMs + d).toISOString()),
        quantity: fc.oneof(fc.nat({ max: 1_000_000 }), fc.constantFrom('0.5', '12.000001', '1000')),
      }).map((e) => ({
        specversion: '1.0', id: e.id, source: e.source, type: e.type, subject: e.subject, time: e.time,
        data: { quantity: e.quantity, unit: e.type.startsWith('tokens') ? 'tokens' : e.type === 'egress.gb' ? 'GB' : 'GB-h', ...(e.type.startsWith('tokens') ? { model: 'm1' } : {}) },
      })), { minLength: 1, maxLength: 5 }).map((events) => ({ events })),
      'POST /v1/contracts': () => fc.oneof(
        fc.record({ gpuCount: fc.integer({ min: 1, max: 64 }), bps: fc.integer({ min: 0, max: 10_000 }) }).map((r) => ({
          tenantId: w.tenant.id, kind: 'reserved', start: new Date(nowMs).toISOString(), end: new Date(nowMs + 90 * 86_400_000).toISOString(),
          terms: { gpuModel: 'H100-SXM', gpuCount: r.gpuCount, priceMicrosPerGpuHour: '2000000', prepaymentBps: r.bps },
        })),
        fc.integer({ min: 0, max: 10_000 }).map((d) => ({ tenantId: w.tenant.id, kind: 'on-demand', start: new Date(nowMs).toISOString(), terms: { discountBps: d } })),
        fc.constant({ tenantId: w.tenant.id, kind: 'credits', start: new Date(nowMs).toISOString(), terms: { amountMicros: '100000000', expiresAt: new Date(nowMs + 86_400_000).toISOString() } }),
        fc.constant({ tenantId: w.other.id, kind: 'commitment', start: new Date(nowMs).toISOString(), end: new Date(nowMs + 60 * 86_400_000).toISOString(), terms: { minimumMicrosPerMonth: '5000000000' } }),
      ),
    },
    // A valid spec with 200,000 servers per node group is a legitimate (slow) apply, not a defect.
    clamps: { 'PUT /v1/fleet': { count: 8 } },
    usedIdemKeys: {},
  };
}

/**
 * Puts the world back after a request that succeeded, so later cases still find free H100s, the
 * fixture's fleet and working keys: a created lease is released, an applied fleet spec replaced by
 * the fixture's, a revoked or rotated key replaced. Ids in the answer join the ones cases use.
 */
export function afterSuccess(s: TestServer, w: World, ctx: CaseContext): (op: string, method: string, res: RawResponse) => Promise<void> {
  const as = (key: string) => ({ key });
  return async (op, method, res) => {
    let body: unknown;
    try { body = JSON.parse(res.body.toString('utf8')); } catch { /* not JSON */ }
    harvestIds(body, ctx);
    if (method === 'GET') return;
    const admin = () => as(ctx.keys.operator);
    if (op === 'POST /v1/leases') {
      const id = (body as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string') await s.call('POST', `/v1/leases/${encodeURIComponent(id)}/release`, { ...admin(), body: {} });
    } else if (op === 'PUT /v1/fleet') {
      const r = await s.call('PUT', '/v1/fleet', { ...admin(), body: fuzzFleet() });
      if (r.status !== 200) throw new Error(`restoring the fuzz fleet: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // A case may have revoked or rotated a key the fuzzer calls with.
    if ((await s.call('GET', '/v1/tenants', admin())).status === 401) {
      const fresh = /"(nc_adm_[A-Za-z0-9_-]{30,})"/.exec(res.body.toString('utf8'))?.[1] ?? `nc_adm_fuzz-${Date.now()}-0123456789abcdefghijklmnopqrstuv`;
      await s.cp.tenants.ensureAdminKey(fresh);
      ctx.keys.operator = fresh;
      if ((await s.call('GET', '/v1/tenants', admin())).status !== 200) throw new Error('fuzz: lost the operator key and could not mint another');
    }
    if ((await s.call('GET', '/v1/tenants', as(ctx.keys.tenant))).status === 401) {
      const r = await s.call('POST', `/v1/tenants/${w.tenant.id}/keys`, { ...admin(), body: {} });
      if (r.status !== 201) throw new Error(`fuzz: could not issue the tenant another key: ${r.status} ${JSON.stringify(r.body)}`);
      ctx.keys.tenant = r.body.apiKey as string;
    }
  };
}

/** Ids such as `key_<32 hex>` found in an answer, filed under the collection their prefix starts (`keys`). */
function harvestIds(v: unknown, ctx: CaseContext, depth = 0): void {
  if (depth > 6) return;
  if (typeof v === 'string') {
    const m = /^([a-z]+)_[0-9a-f]{32}$/.exec(v);
    if (!m) return;
    const coll = Object.keys(ctx.ids).find((k) => k.startsWith(m[1]!)) ?? `${m[1]}s`;
    const e = (ctx.ids[coll] ??= { own: [], foreign: [] });
    if (!e.own.includes(v) && !e.foreign.includes(v) && e.own.length < 20) e.own.push(v);
  } else if (Array.isArray(v)) v.slice(0, 20).forEach((x) => harvestIds(x, ctx, depth + 1));
  else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => harvestIds(x, ctx, depth + 1));
}
