/**
 * Billing's storage: rows to domain values and back. Tenant-facing reads take a TenantScope that
 * goes into the SQL WHERE. Writes that must happen once (an invoice's journal entry, a usage
 * event, the meter's progress) are keyed so a retry finds them already there.
 */
import { and, asc, desc, eq, gt, inArray, isNull, lte, sql } from 'drizzle-orm';
import { IdempotencyRepo, type IdempotencyRecord, type TenantScope } from '../tenancy/index.js';
import { iso, pgErrorCode, pgTextArray, type Db } from '../store/index.js';
import type { Contract, ContractTerms, RatedLine, UsageSum } from './billing-types.js';
import type { JournalDraft, JournalLine, Schedule } from './ledger.js';
import type { MeterState, MeteredUsage } from './meter.js';
import type { Currency } from './money.js';
import * as t from './billing-schema.js';

type Rows<T> = { rows: T[] };
const rowsOf = <T>(r: unknown): T[] => (r as Rows<T>).rows;
const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(String(v)));
const ms = (v: unknown): number => (v instanceof Date ? v.getTime() : new Date(String(v)).getTime());

/** A usage event as ingested, validated. */
export interface UsageRow {
  source: string;
  id: string;
  tenantId: string;
  type: string;
  timeMs: number;
  quantity: bigint;
  model: string | null;
  leaseId: string | null;
  leaseClass: string | null;
  priceMicros: bigint | null;
}

/** The price of ingested usage of one (tenant, month `YYYY-MM`, type, model): `priceMicros` per `perMicroUnits` of quantity. */
/**
 * A running total's key and price for one priced insert; `carried*`: what this process accepted
 * for the key earlier without writing it to the totals (BillingService's unsynced amounts), added now.
 */
export interface UsagePrice {
  tenantId: string; period: string; type: string; model: string | null; priceMicros: bigint; perMicroUnits: bigint;
  carriedQuantityMicros?: bigint; carriedValueMicros?: bigint;
}

/** A running total of ingested usage: per (tenant, month, type, model), or the tenant's month (`type` '*': value only). */
export interface UsageTotal { tenantId: string; period: string; type: string; model: string | null; quantityMicros: bigint; valueMicros: bigint }

/** SQLSTATE raised by `billing_usage_over_limit` (migration 0017). */
const PG_USAGE_OVER_LIMIT = 'NC104';

/** A batch of usage refused: `total` is the first running total it would have taken past its limit. */
export class UsageOverLimit extends Error {
  constructor(readonly total: UsageTotal) { super(`usage over limit: ${total.tenantId} ${total.period} ${total.type}`); }
}

/** The DETAIL of a PostgreSQL error (pg and PGlite), looking through wrappers like pgErrorCode. */
function pgErrorDetail(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const d = (e as { detail?: unknown }).detail;
    if (typeof d === 'string') return d;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface InvoiceRecord {
  id: string;
  tenantId: string;
  kind: 'monthly' | 'prepayment' | 'credits';
  period: string;
  currency: Currency;
  status: 'draft' | 'final' | 'paid' | 'void';
  number: string | null;
  totalMicros: bigint;
  paidMicros: bigint;
  createdAtMs: number;
  finalizedAtMs: number | null;
  closedAtMs: number | null;
  contractId: string | null;
  /** Frozen at finalisation: who it is addressed to and on what terms (null on a draft). */
  billTo?: BillTo | null;
}

/** An invoice's addressee and terms as issued. */
export interface BillTo {
  customer: { tenantId: string; name: string; addressLines: string[]; city: string | null; postalCode: string | null; country: string | null; taxId: string | null };
  seller: { name: string };
  paymentTermsDays: number;
}

export interface StoredLine extends RatedLine { lineNo: number }

/** A tenant's billing profile (billing_profiles): the addressee of its invoices. */
export interface BillingProfile {
  tenantId: string;
  legalName: string | null;
  addressLines: string[];
  city: string | null;
  postalCode: string | null;
  country: string | null;
  taxId: string | null;
  /** Null: the control plane's default terms. */
  paymentTermsDays: number | null;
  updatedAtMs: number;
}

function contractFromRow(r: typeof t.contracts.$inferSelect): Contract {
  const terms = r.terms as Record<string, unknown>;
  const base = { id: r.id, version: r.version, tenantId: r.tenantId, currency: r.currency as Currency, startMs: r.startAt.getTime(), endMs: r.endAt ? r.endAt.getTime() : null, createdAtMs: r.createdAt.getTime() };
  const bigMap = (m: unknown): Record<string, bigint> => Object.fromEntries(Object.entries((m ?? {}) as Record<string, string>).map(([k, v]) => [k, BigInt(v)]));
  switch (r.kind) {
    case 'reserved':
      return { ...base, kind: 'reserved', terms: { gpuModel: String(terms['gpuModel']), gpuCount: Number(terms['gpuCount']), priceMicrosPerGpuHour: BigInt(String(terms['priceMicrosPerGpuHour'])), prepaymentBps: Number(terms['prepaymentBps'] ?? 0) } };
    case 'on-demand':
    case 'spot':
      return { ...base, kind: r.kind, terms: { discountBps: Number(terms['discountBps'] ?? 0), pricesMicrosPerGpuHour: bigMap(terms['pricesMicrosPerGpuHour']), rates: bigMap(terms['rates']) } };
    case 'commitment':
      return { ...base, kind: 'commitment', terms: { minimumMicrosPerMonth: BigInt(String(terms['minimumMicrosPerMonth'])) } };
    case 'credits':
      return { ...base, kind: 'credits', terms: { amountMicros: BigInt(String(terms['amountMicros'])), expiresAtMs: Date.parse(String(terms['expiresAt'])) } };
    default: {
      const prices = Object.fromEntries(Object.entries((terms['prices'] ?? {}) as Record<string, { inputMicrosPerMillion: string; outputMicrosPerMillion: string }>)
        .map(([k, v]) => [k, { inputMicrosPerMillion: BigInt(v.inputMicrosPerMillion), outputMicrosPerMillion: BigInt(v.outputMicrosPerMillion) }]));
      return { ...base, kind: 'tokens', terms: { prices } };
    }
  }
}

/** A contract from a raw `SELECT *` row (snake_case columns). */
function contractOfRaw(x: Record<string, unknown>): Contract {
  return contractFromRow({
    id: String(x['id']), version: Number(x['version']), tenantId: String(x['tenant_id']), kind: String(x['kind']), currency: String(x['currency']),
    startAt: new Date(ms(x['start_at'])), endAt: x['end_at'] === null ? null : new Date(ms(x['end_at'])), terms: typeof x['terms'] === 'string' ? JSON.parse(x['terms']) : x['terms'],
    createdAt: new Date(ms(x['created_at'])),
  });
}

/** Terms as stored (JSON, money as decimal strings; credits' expiry as an RFC 3339 time). */
export function termsJson(c: ContractTerms): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(c.terms, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
  if (c.kind === 'credits') {
    out['expiresAt'] = new Date(c.terms.expiresAtMs).toISOString();
    delete out['expiresAtMs'];
  }
  return out;
}

function invoiceFromRow(r: typeof t.invoices.$inferSelect): InvoiceRecord {
  return {
    id: r.id, tenantId: r.tenantId, kind: r.kind as InvoiceRecord['kind'], period: r.period, currency: r.currency as Currency, status: r.status as InvoiceRecord['status'],
    number: r.number, totalMicros: r.totalMicros, paidMicros: r.paidMicros, createdAtMs: r.createdAt.getTime(),
    finalizedAtMs: r.finalizedAt ? r.finalizedAt.getTime() : null, closedAtMs: r.closedAt ? r.closedAt.getTime() : null, contractId: r.contractId,
    billTo: (r.billTo as BillTo | null) ?? null,
  };
}

/** Contract rows read with raw SQL, as domain values. */
function contractsOf(r: unknown): Contract[] {
  return rowsOf<Record<string, unknown>>(r).map(contractOfRaw);
}

export class BillingRepo {
  constructor(readonly db: Db) {}

  tx<T>(fn: (r: BillingRepo) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new BillingRepo(tx as unknown as Db)));
  }

  saveIdempotent(principal: string, key: string, rec: IdempotencyRecord, nowMs: number): Promise<void> {
    return new IdempotencyRepo(this.db).save(principal, key, rec, nowMs);
  }

  // ---- contracts

  async insertContract(c: Contract, termsStored: Record<string, unknown>): Promise<void> {
    await this.db.insert(t.contracts).values({
      id: c.id, version: c.version, tenantId: c.tenantId, kind: c.kind, currency: c.currency, startAt: new Date(c.startMs),
      endAt: c.endMs === null ? null : new Date(c.endMs), terms: termsStored, createdAt: new Date(c.createdAtMs),
    });
  }

  /** The latest version of every contract (of one tenant, or all). */
  async contracts(scope: TenantScope): Promise<Contract[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT ON (id) * FROM billing_contracts ${scope === null ? sql`` : sql`WHERE tenant_id = ${scope}`} ORDER BY id, version DESC`);
    return contractsOf(r);
  }

  /** The latest version of every contract of these tenants (one statement for a usage batch). */
  async contractsOf(tenantIds: readonly string[]): Promise<Contract[]> {
    if (tenantIds.length === 0) return [];
    const r = await this.db.execute(sql`SELECT DISTINCT ON (id) * FROM billing_contracts WHERE tenant_id = ANY(${pgTextArray([...tenantIds])}::text[]) ORDER BY id, version DESC`);
    return contractsOf(r);
  }

  /** A page of the latest versions by contract id: those after `afterId`, at most `limit` (of one tenant, or all). */
  async contractPage(scope: TenantScope, afterId: string | undefined, limit: number): Promise<Contract[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT ON (id) * FROM billing_contracts WHERE true
      ${scope === null ? sql`` : sql`AND tenant_id = ${scope}`} ${afterId === undefined ? sql`` : sql`AND id > ${afterId}`}
      ORDER BY id, version DESC LIMIT ${limit}`);
    return contractsOf(r);
  }

  async contractVersions(id: string, scope: TenantScope): Promise<Contract[]> {
    const rows = await this.db.select().from(t.contracts).where(and(eq(t.contracts.id, id), scope === null ? undefined : eq(t.contracts.tenantId, scope))).orderBy(asc(t.contracts.version));
    return rows.map(contractFromRow);
  }

  /** Locks a contract's versions (a new version is numbered after them). */
  async lockContract(id: string): Promise<number> {
    const r = await this.db.execute(sql`SELECT max(version) AS v FROM (SELECT version FROM billing_contracts WHERE id = ${id} FOR UPDATE) x`);
    return Number(rowsOf<{ v: number | null }>(r)[0]?.v ?? 0);
  }

  // ---- usage

  /**
   * Inserts a batch, skipping events whose (tenant, source, id) is already stored (or repeated in
   * the batch), in one statement with the stored idempotent response; returns how many were new.
   * The key is per tenant: another tenant's event with the same source and id is not a duplicate.
   * Durable at commit. Rows go in key order: two batches sharing duplicates then wait on each
   * other's keys in the same order instead of deadlocking (found by the ingest benchmark: 40P01
   * with 5% duplicates).
   */
  async insertUsage(rows: readonly UsageRow[], receivedAtMs: number, idem?: { principal: string; key: string; requestHash: string }): Promise<number> {
    const col = (f: (u: UsageRow) => string | null): string => pgTextArray(rows.map(f));
    const ins = sql`INSERT INTO billing_usage_events (source, id, tenant_id, type, time, quantity, model, lease_id, lease_class, price_micros, received_at)
      SELECT s, i, te, ty, tm::timestamptz, q::bigint, mo, le, lc, pr::bigint, ${iso(receivedAtMs)}::timestamptz
      FROM unnest(${col((u) => u.source)}::text[], ${col((u) => u.id)}::text[], ${col((u) => u.tenantId)}::text[], ${col((u) => u.type)}::text[],
        ${col((u) => iso(u.timeMs))}::text[], ${col((u) => u.quantity.toString())}::text[], ${col((u) => u.model)}::text[], ${col((u) => u.leaseId)}::text[],
        ${col((u) => u.leaseClass)}::text[], ${col((u) => (u.priceMicros === null ? null : u.priceMicros.toString()))}::text[]) AS x(s, i, te, ty, tm, q, mo, le, lc, pr)
      ORDER BY te COLLATE "C", s COLLATE "C", i COLLATE "C"
      ON CONFLICT (tenant_id, source, id) DO NOTHING RETURNING 1`;
    if (!idem) {
      const r = await this.db.execute(sql`WITH ins AS (${ins}) SELECT count(*)::int AS n FROM ins`);
      return Number(rowsOf<{ n: number }>(r)[0]?.n ?? 0);
    }
    // The stored response is built from the same count, in the same statement.
    const r = await this.db.execute(sql`WITH ins AS (${ins}), n AS (SELECT count(*)::int AS n FROM ins),
      idem AS (INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)
        SELECT ${idem.principal}, ${idem.key}, ${idem.requestHash}, 200, jsonb_build_object('accepted', n.n, 'duplicates', ${rows.length} - n.n), ${iso(receivedAtMs)}::timestamptz FROM n)
      SELECT n FROM n`);
    return Number(rowsOf<{ n: number }>(r)[0]?.n ?? 0);
  }

  /**
   * Inserts a batch of priced usage like `insertUsage`, and in the same statement adds what was
   * new (duplicates excluded) to the running totals per (tenant, month of the event, type, model)
   * — quantity, and value at `prices` (one per key of the batch) — and to the tenant's month
   * (type '*': value only). If a total passes `limits`, the statement raises NC104 (migration
   * 0017) and nothing of it is written: this throws `UsageOverLimit` with that total. One
   * statement, so the totals' row locks (concurrent batches for a tenant add up in turn and
   * cannot both slip under a limit) are held only until its commit. Rows go in key order (no
   * deadlock between batches). Returns how many events were new.
   */
  async insertPricedUsage(rows: readonly UsageRow[], receivedAtMs: number, idem: { principal: string; key: string; requestHash: string } | undefined,
    prices: readonly UsagePrice[], limits: { lineQuantityMicros: bigint; monthValueMicros: bigint }): Promise<{ accepted: number; totals: UsageTotal[] }> {
    const col = (f: (u: UsageRow) => string | null): string => pgTextArray(rows.map(f));
    const pcol = (f: (p: UsagePrice) => string): string => pgTextArray(prices.map(f));
    const ins = sql`INSERT INTO billing_usage_events (source, id, tenant_id, type, time, quantity, model, lease_id, lease_class, price_micros, received_at)
      SELECT s, i, te, ty, tm::timestamptz, q::bigint, mo, NULL::text, NULL::text, NULL::bigint, ${iso(receivedAtMs)}::timestamptz
      FROM unnest(${col((u) => u.source)}::text[], ${col((u) => u.id)}::text[], ${col((u) => u.tenantId)}::text[], ${col((u) => u.type)}::text[],
        ${col((u) => iso(u.timeMs))}::text[], ${col((u) => u.quantity.toString())}::text[], ${col((u) => u.model)}::text[]) AS x(s, i, te, ty, tm, q, mo)
      ORDER BY te COLLATE "C", s COLLATE "C", i COLLATE "C"
      ON CONFLICT (tenant_id, source, id) DO NOTHING RETURNING tenant_id, type, model, time, quantity`;
    const idemCte = idem ? sql`, idem AS (INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)
        SELECT ${idem.principal}, ${idem.key}, ${idem.requestHash}, 200, jsonb_build_object('accepted', n.n, 'duplicates', ${rows.length} - n.n), ${iso(receivedAtMs)}::timestamptz FROM n)` : sql``;
    try {
      const r = await this.db.execute(sql`WITH ins AS (${ins}), n AS (SELECT count(*)::int AS n FROM ins)${idemCte},
        g0 AS (SELECT tenant_id, date_trunc('month', time AT TIME ZONE 'UTC') AS m, type, coalesce(model, '') AS model, sum(quantity) AS q FROM ins GROUP BY 1, 2, 3, 4),
        g AS (SELECT tenant_id, to_char(m, 'YYYY-MM') AS period, type, model, q FROM g0),
        v AS (SELECT p.te AS tenant_id, p.pe AS period, p.ty AS type, p.mo AS model, coalesce(g.q, 0) + p.cq AS q, ceil(coalesce(g.q, 0) * p.price / p.per) + p.cv AS v
          FROM unnest(${pcol((p) => p.tenantId)}::text[], ${pcol((p) => p.period)}::text[], ${pcol((p) => p.type)}::text[], ${pcol((p) => p.model ?? '')}::text[],
            ${pcol((p) => p.priceMicros.toString())}::numeric[], ${pcol((p) => p.perMicroUnits.toString())}::numeric[],
            ${pcol((p) => (p.carriedQuantityMicros ?? 0n).toString())}::numeric[], ${pcol((p) => (p.carriedValueMicros ?? 0n).toString())}::numeric[]) AS p(te, pe, ty, mo, price, per, cq, cv)
            LEFT JOIN g ON p.te = g.tenant_id AND p.pe = g.period AND p.ty = g.type AND p.mo = g.model),
        up AS (INSERT INTO billing_usage_totals AS t (tenant_id, period, type, model, quantity, value_micros)
          SELECT * FROM (SELECT tenant_id, period, type, model, q, v FROM v UNION ALL SELECT tenant_id, period, '*', '', 0, sum(v) FROM v GROUP BY 1, 2) a
          ORDER BY tenant_id COLLATE "C", period, type, model
          ON CONFLICT (tenant_id, period, type, model) DO UPDATE SET quantity = t.quantity + excluded.quantity, value_micros = t.value_micros + excluded.value_micros
          RETURNING tenant_id, period, type, model, quantity, value_micros),
        over AS (SELECT * FROM up WHERE quantity > ${limits.lineQuantityMicros.toString()}::numeric OR value_micros > ${limits.monthValueMicros.toString()}::numeric LIMIT 1)
        SELECT (SELECT n FROM n) AS n, (SELECT billing_usage_over_limit(json_build_object('tenantId', tenant_id, 'period', period, 'type', type, 'model', model,
          'quantity', quantity::text, 'value', value_micros::text)::text) FROM over) AS refused,
          (SELECT json_agg(json_build_array(tenant_id, period, type, model, quantity::text, value_micros::text)) FROM up)::text AS totals`);
      const row = rowsOf<{ n: number; totals: string | null }>(r)[0];
      const totals = (JSON.parse(row?.totals ?? '[]') as [string, string, string, string, string, string][]).map(([tenantId, period, type, model, q, v]) => ({
        tenantId, period, type, model: model === '' ? null : model, quantityMicros: BigInt(q), valueMicros: BigInt(v),
      }));
      return { accepted: Number(row?.n ?? 0), totals };
    } catch (err) {
      if (pgErrorCode(err) !== PG_USAGE_OVER_LIMIT) throw err;
      const o = JSON.parse(pgErrorDetail(err) ?? '{}') as { tenantId: string; period: string; type: string; model: string; quantity: string; value: string };
      throw new UsageOverLimit({ tenantId: o.tenantId, period: o.period, type: o.type, model: o.model === '' ? null : o.model, quantityMicros: BigInt(o.quantity), valueMicros: BigInt(o.value) });
    }
  }

  async insertMetered(list: readonly MeteredUsage[], source: string, receivedAtMs: number): Promise<void> {
    if (list.length === 0) return;
    await this.insertUsage(list.map((u) => ({
      source, id: u.id, tenantId: u.tenantId, type: u.type, timeMs: u.timeMs, quantity: u.quantity, model: u.model, leaseId: u.leaseId, leaseClass: u.leaseClass, priceMicros: u.priceMicros,
    })), receivedAtMs);
  }

  /** Usage summed per type and model in [fromMs, toMs) (by event time). */
  async usageSummary(scope: TenantScope, fromMs: number, toMs: number): Promise<{ tenantId: string; type: string; model: string | null; events: number; quantity: bigint }[]> {
    const r = await this.db.execute(sql`SELECT tenant_id, type, model, count(*)::int AS n, sum(quantity)::text AS q FROM billing_usage_events
      WHERE time >= ${iso(fromMs)}::timestamptz AND time < ${iso(toMs)}::timestamptz ${scope === null ? sql`` : sql`AND tenant_id = ${scope}`}
      GROUP BY tenant_id, type, model ORDER BY tenant_id, type, model`);
    return rowsOf<{ tenant_id: string; type: string; model: string | null; n: number; q: string }>(r).map((x) => ({ tenantId: x.tenant_id, type: x.type, model: x.model, events: Number(x.n), quantity: BigInt(x.q) }));
  }

  async countUsage(): Promise<number> {
    const r = await this.db.execute(sql`SELECT count(*)::int AS n FROM billing_usage_events`);
    return Number(rowsOf<{ n: number }>(r)[0]?.n ?? 0);
  }

  /**
   * Usage not yet on a final invoice, with an event time before `endMs`, summed for rating.
   * `attachTo`: mark those events as taken by that invoice, in the same statement, so the lines
   * are computed from exactly the events the invoice takes (an event committed later stays open
   * and goes to the next invoice).
   */
  /** The (type, model, month) of a tenant's ingested usage not yet on a final invoice: what its contracts must still price. */
  async openUsageKeys(tenantId: string): Promise<{ type: string; model: string | null; period: string }[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT type, model, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM') AS period FROM billing_usage_events
      WHERE tenant_id = ${tenantId} AND invoice_id IS NULL AND type IN ('tokens.input', 'tokens.output', 'storage.gb_hours', 'egress.gb')`);
    return rowsOf<{ type: string; model: string | null; period: string }>(r);
  }

  async openUsage(tenantId: string, startMs: number, endMs: number, attachTo: string | null): Promise<UsageSum[]> {
    const pick = attachTo === null
      ? sql`SELECT type, model, lease_class, price_micros, lease_id, time, quantity FROM billing_usage_events
          WHERE tenant_id = ${tenantId} AND invoice_id IS NULL AND time < ${iso(endMs)}::timestamptz`
      : sql`UPDATE billing_usage_events SET invoice_id = ${attachTo}
          WHERE tenant_id = ${tenantId} AND invoice_id IS NULL AND time < ${iso(endMs)}::timestamptz
          RETURNING type, model, lease_class, price_micros, lease_id, time, quantity`;
    // Late events (before the period) are summed per month they are of (their line's service period).
    const r = await this.db.execute(sql`WITH u AS (${pick})
      SELECT type, model, lease_class, price_micros::text AS price, lease_id,
        CASE WHEN time < ${iso(startMs)}::timestamptz THEN to_char(time AT TIME ZONE 'UTC', 'YYYY-MM') END AS late_month, sum(quantity)::text AS q
      FROM u GROUP BY 1, 2, 3, 4, 5, 6`);
    return rowsOf<{ type: string; model: string | null; lease_class: string | null; price: string | null; lease_id: string | null; late_month: string | null; q: string }>(r).map((x) => ({
      type: x.type as UsageSum['type'], model: x.model, leaseClass: x.lease_class, priceMicros: x.price === null ? null : BigInt(x.price), leaseId: x.lease_id,
      late: x.late_month !== null, lateMonth: x.late_month, quantity: BigInt(x.q),
    }));
  }

  /** Tenants with usage not yet invoiced before `endMs`. */
  async tenantsWithOpenUsage(endMs: number): Promise<string[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT tenant_id FROM billing_usage_events WHERE invoice_id IS NULL AND time < ${iso(endMs)}::timestamptz`);
    return rowsOf<{ tenant_id: string }>(r).map((x) => x.tenant_id);
  }

  // ---- the lease meter

  async meters(leaseIds: readonly string[]): Promise<Map<string, MeterState>> {
    const m = new Map<string, MeterState>();
    if (leaseIds.length === 0) return m;
    const rows = await this.db.select().from(t.leaseMeters).where(inArray(t.leaseMeters.leaseId, [...leaseIds])).for('update');
    for (const r of rows) m.set(r.leaseId, meterFromRow(r));
    return m;
  }

  /** Running leases (started, not stopped) metered to before `beforeMs` and before the end of their window, locked. */
  async runningMeters(beforeMs: number): Promise<MeterState[]> {
    const rows = await this.db.select().from(t.leaseMeters)
      .where(and(isNull(t.leaseMeters.stoppedAt), sql`${t.leaseMeters.meteredUntil} IS NOT NULL AND ${t.leaseMeters.meteredUntil} < ${iso(beforeMs)}::timestamptz
        AND ${t.leaseMeters.meteredUntil} < ${t.leaseMeters.bookedEnd}`)).for('update');
    return rows.map(meterFromRow);
  }

  /** A tenant's running leases' meters, unlocked (a draft values their time so far without writing it). */
  async runningMetersOf(tenantId: string): Promise<MeterState[]> {
    const rows = await this.db.select().from(t.leaseMeters)
      .where(and(eq(t.leaseMeters.tenantId, tenantId), isNull(t.leaseMeters.stoppedAt), sql`${t.leaseMeters.meteredUntil} IS NOT NULL`));
    return rows.map(meterFromRow);
  }

  /** Upserts meter states in one statement (arrays, not a parameter per value: ~5× faster for a batch of the log). */
  async saveMeters(list: readonly MeterState[]): Promise<void> {
    if (list.length === 0) return;
    const col = (f: (m: MeterState) => string | null): string => pgTextArray(list.map(f));
    const t = (ms: number | null): string | null => (ms === null ? null : iso(ms));
    await this.db.execute(sql`INSERT INTO billing_lease_meters (lease_id, tenant_id, lease_class, gpu_model, gpu_count, price_micros, booked_end, metered_until, stopped_at)
      SELECT l, te, c, m, n::int, p::bigint, be::timestamptz, mu::timestamptz, st::timestamptz
      FROM unnest(${col((m) => m.leaseId)}::text[], ${col((m) => m.tenantId)}::text[], ${col((m) => m.leaseClass)}::text[], ${col((m) => m.gpuModel)}::text[],
        ${col((m) => String(m.gpuCount))}::text[], ${col((m) => m.priceMicros.toString())}::text[], ${col((m) => iso(m.bookedEndMs))}::text[],
        ${col((m) => t(m.meteredUntilMs))}::text[], ${col((m) => t(m.stoppedAtMs))}::text[]) AS x(l, te, c, m, n, p, be, mu, st)
      ON CONFLICT (lease_id) DO UPDATE SET lease_class = excluded.lease_class, gpu_model = excluded.gpu_model, gpu_count = excluded.gpu_count,
        price_micros = excluded.price_micros, booked_end = excluded.booked_end, metered_until = excluded.metered_until, stopped_at = excluded.stopped_at`);
  }

  // ---- invoices

  async invoice(id: string, scope: TenantScope): Promise<InvoiceRecord | undefined> {
    const [r] = await this.db.select().from(t.invoices).where(and(eq(t.invoices.id, id), scope === null ? undefined : eq(t.invoices.tenantId, scope)));
    return r ? invoiceFromRow(r) : undefined;
  }

  async lockInvoice(id: string): Promise<InvoiceRecord | undefined> {
    const [r] = await this.db.select().from(t.invoices).where(eq(t.invoices.id, id)).for('update');
    return r ? invoiceFromRow(r) : undefined;
  }

  async monthlyInvoice(tenantId: string, period: string, currency: string, lock: boolean): Promise<InvoiceRecord | undefined> {
    const q = this.db.select().from(t.invoices).where(and(eq(t.invoices.tenantId, tenantId), eq(t.invoices.period, period), eq(t.invoices.currency, currency), eq(t.invoices.kind, 'monthly')));
    const [r] = lock ? await q.for('update') : await q;
    return r ? invoiceFromRow(r) : undefined;
  }

  /**
   * The tenant's monthly invoice for (period, currency), locked until the transaction ends; a
   * draft is created first if there is none. Race-safe: the insert skips on the monthly unique
   * index (a concurrent creator's row: we wait for its transaction, then lock what it left), so
   * two control planes closing or refreshing at once never fail on a duplicate key.
   */
  async lockMonthlyInvoice(draft: InvoiceRecord): Promise<InvoiceRecord> {
    // One statement when we create it (the inserted row is ours, locked); a second to lock one
    // that exists (ours to wait for when another transaction is creating it).
    const made = await this.db.execute(sql`INSERT INTO billing_invoices (id, tenant_id, kind, period, currency, status, number, total_micros, paid_micros, created_at, contract_id)
      VALUES (${draft.id}, ${draft.tenantId}, 'monthly', ${draft.period}, ${draft.currency}, 'draft', NULL, 0, 0, ${iso(draft.createdAtMs)}::timestamptz, NULL)
      ON CONFLICT (tenant_id, period, currency) WHERE kind = 'monthly' DO NOTHING RETURNING id`);
    if (rowsOf<{ id: string }>(made).length === 1) return draft;
    const inv = await this.monthlyInvoice(draft.tenantId, draft.period, draft.currency, true);
    if (!inv) throw new Error(`billing: monthly invoice of ${draft.tenantId} for ${draft.period} vanished`);
    return inv;
  }

  /**
   * Invoices, newest month first, then by tenant, creation and id; `after` is the previous page's
   * last row (period, tenant, creation ms, id).
   */
  async invoices(f: { scope: TenantScope; tenantId?: string | undefined; period?: string | undefined; status?: string | undefined; limit: number; after?: readonly [string, string, number, string] | undefined }): Promise<InvoiceRecord[]> {
    const a = f.after;
    const rows = await this.db.select().from(t.invoices).where(and(
      f.scope === null ? undefined : eq(t.invoices.tenantId, f.scope),
      f.tenantId === undefined ? undefined : eq(t.invoices.tenantId, f.tenantId),
      f.period === undefined ? undefined : eq(t.invoices.period, f.period),
      f.status === undefined ? undefined : eq(t.invoices.status, f.status),
      a === undefined ? undefined
        : sql`(${t.invoices.period} < ${a[0]} OR (${t.invoices.period} = ${a[0]} AND (${t.invoices.tenantId}, ${t.invoices.createdAt}, ${t.invoices.id}) > (${a[1]}, ${iso(a[2])}::timestamptz, ${a[3]})))`,
    )).orderBy(desc(t.invoices.period), asc(t.invoices.tenantId), asc(t.invoices.createdAt), asc(t.invoices.id)).limit(f.limit);
    return rows.map(invoiceFromRow);
  }

  async insertInvoice(inv: InvoiceRecord): Promise<void> {
    await this.db.insert(t.invoices).values({
      id: inv.id, tenantId: inv.tenantId, kind: inv.kind, period: inv.period, currency: inv.currency, status: 'draft', number: null, totalMicros: inv.totalMicros,
      paidMicros: 0n, createdAt: new Date(inv.createdAtMs), contractId: inv.contractId,
    });
  }

  /** Replaces a draft's lines (the database refuses it for any other status). */
  async writeLines(invoiceId: string, lines: readonly RatedLine[]): Promise<void> {
    await this.db.delete(t.invoiceLines).where(eq(t.invoiceLines.invoiceId, invoiceId));
    for (let i = 0; i < lines.length; i += 500) {
      await this.db.insert(t.invoiceLines).values(lines.slice(i, i + 500).map((l, j) => ({
        invoiceId, lineNo: i + j + 1, kind: l.kind, description: l.description, contractId: l.contractId, meter: l.meter, model: l.model, quantity: l.quantity, unit: l.unit,
        unitPriceMicros: l.unitPriceMicros, amountMicros: l.amountMicros, account: l.account, serviceStart: new Date(l.serviceStartMs), serviceEnd: new Date(l.serviceEndMs), leaseIds: l.leaseIds,
      })));
    }
  }

  async setDraftTotal(invoiceId: string, totalMicros: bigint): Promise<void> {
    await this.db.update(t.invoices).set({ totalMicros }).where(and(eq(t.invoices.id, invoiceId), eq(t.invoices.status, 'draft')));
  }

  /** draft → final, numbered from the invoice number sequence. */
  async finalize(invoiceId: string, totalMicros: bigint, atMs: number, period: string, billTo: BillTo): Promise<string> {
    const r = await this.db.execute(sql`UPDATE billing_invoices SET status = 'final', total_micros = ${totalMicros.toString()}::bigint, finalized_at = ${iso(atMs)}::timestamptz,
      bill_to = ${JSON.stringify(billTo)}::jsonb,
      number = 'INV-' || ${period} || '-' || lpad(nextval('billing_invoice_number_seq')::text, 6, '0')
      WHERE id = ${invoiceId} AND status = 'draft' RETURNING number`);
    const n = rowsOf<{ number: string }>(r)[0]?.number;
    if (!n) throw new Error(`invoice ${invoiceId} is not a draft`);
    return n;
  }

  async setPaid(invoiceId: string, paidMicros: bigint, status: 'final' | 'paid', atMs: number): Promise<void> {
    await this.db.update(t.invoices).set({ paidMicros, status, closedAt: status === 'paid' ? new Date(atMs) : null }).where(eq(t.invoices.id, invoiceId));
  }

  async setVoid(invoiceId: string, atMs: number): Promise<void> {
    await this.db.update(t.invoices).set({ status: 'void', closedAt: new Date(atMs) }).where(eq(t.invoices.id, invoiceId));
  }

  async deleteDraft(invoiceId: string): Promise<void> {
    await this.db.delete(t.invoiceLines).where(eq(t.invoiceLines.invoiceId, invoiceId));
    await this.db.delete(t.invoices).where(and(eq(t.invoices.id, invoiceId), eq(t.invoices.status, 'draft')));
  }

  async lines(invoiceId: string): Promise<StoredLine[]> {
    const rows = await this.db.select().from(t.invoiceLines).where(eq(t.invoiceLines.invoiceId, invoiceId)).orderBy(asc(t.invoiceLines.lineNo));
    return rows.map((r) => ({
      lineNo: r.lineNo, kind: r.kind as RatedLine['kind'], description: r.description, contractId: r.contractId, meter: r.meter, model: r.model, quantity: r.quantity, unit: r.unit,
      unitPriceMicros: r.unitPriceMicros, amountMicros: r.amountMicros, account: r.account, serviceStartMs: r.serviceStart.getTime(), serviceEndMs: r.serviceEnd.getTime(),
      leaseIds: r.leaseIds as string[], deferredTo: null,
    }));
  }

  /** Reserved months already billed on final (or paid) invoices: `${contractId}/${YYYY-MM}`. */
  async reservedBilled(tenantId: string): Promise<Set<string>> {
    const r = await this.db.execute(sql`SELECT l.contract_id, to_char(l.service_start AT TIME ZONE 'UTC', 'YYYY-MM') AS m
      FROM billing_invoice_lines l JOIN billing_invoices i ON i.id = l.invoice_id
      WHERE i.tenant_id = ${tenantId} AND i.status IN ('final', 'paid') AND l.kind = 'reserved'`);
    return new Set(rowsOf<{ contract_id: string; m: string }>(r).map((x) => `${x.contract_id}/${x.m}`));
  }

  /**
   * Per contract: what prepayment or credits invoices billed, less what later invoices applied
   * (lines `prepayment_applied`, `credits_applied`), over final and paid invoices.
   */
  async prepaidLeft(tenantId: TenantScope): Promise<Map<string, bigint>> {
    const r = await this.db.execute(sql`SELECT l.contract_id, sum(l.amount_micros)::text AS s
      FROM billing_invoice_lines l JOIN billing_invoices i ON i.id = l.invoice_id
      WHERE ${tenantId === null ? sql`TRUE` : sql`i.tenant_id = ${tenantId}`} AND i.status IN ('final', 'paid') AND l.kind IN ('prepayment', 'credits', 'prepayment_applied', 'credits_applied') AND l.contract_id IS NOT NULL
      GROUP BY l.contract_id`);
    return new Map(rowsOf<{ contract_id: string; s: string }>(r).map((x) => [x.contract_id, BigInt(x.s)]));
  }

  /** A tenant's credit balance carried forward and not yet drawn: `credit_balance` less `credit_balance_applied` lines of its final and paid invoices. */
  async creditBalance(tenantId: string): Promise<bigint> {
    // Carried by invoices (credit_balance lines, less those applied) and by credit notes past
    // what their invoice still asked for (the credit note's journal entry credits the balance).
    const r = await this.db.execute(sql`SELECT (
        (SELECT coalesce(sum(l.amount_micros), 0) FROM billing_invoice_lines l JOIN billing_invoices i ON i.id = l.invoice_id
          WHERE i.tenant_id = ${tenantId} AND i.status IN ('final', 'paid') AND l.kind IN ('credit_balance', 'credit_balance_applied'))
        - (SELECT coalesce(sum(jl.amount_micros), 0) FROM billing_journal_lines jl JOIN billing_journal_entries e ON e.id = jl.entry_id
          WHERE e.tenant_id = ${tenantId} AND e.kind = 'credit_note' AND jl.account = 'customer_credit_balance')
      )::text AS s`);
    return BigInt(rowsOf<{ s: string }>(r)[0]?.s ?? '0');
  }

  async insertPayment(p: { id: string; invoiceId: string; tenantId: string; amountMicros: bigint; atMs: number; reference: string | null }): Promise<void> {
    await this.db.insert(t.payments).values({ id: p.id, invoiceId: p.invoiceId, tenantId: p.tenantId, amountMicros: p.amountMicros, receivedAt: new Date(p.atMs), reference: p.reference });
  }

  async insertCreditNote(c: { id: string; invoiceId: string; tenantId: string; amountMicros: bigint; atMs: number; reason: string }): Promise<void> {
    await this.db.insert(t.creditNotes).values({ id: c.id, invoiceId: c.invoiceId, tenantId: c.tenantId, amountMicros: c.amountMicros, reason: c.reason, createdAt: new Date(c.atMs) });
  }

  async creditNotesOf(invoiceId: string): Promise<{ id: string; amountMicros: bigint; reason: string; createdAtMs: number }[]> {
    const rows = await this.db.select().from(t.creditNotes).where(eq(t.creditNotes.invoiceId, invoiceId)).orderBy(asc(t.creditNotes.createdAt));
    return rows.map((r) => ({ id: r.id, amountMicros: r.amountMicros, reason: r.reason, createdAtMs: r.createdAt.getTime() }));
  }

  async paymentsOf(invoiceId: string): Promise<{ id: string; amountMicros: bigint; receivedAtMs: number; reference: string | null }[]> {
    const rows = await this.db.select().from(t.payments).where(eq(t.payments.invoiceId, invoiceId)).orderBy(asc(t.payments.receivedAt));
    return rows.map((r) => ({ id: r.id, amountMicros: r.amountMicros, receivedAtMs: r.receivedAt.getTime(), reference: r.reference }));
  }

  /** Tenants with a lease running now (as far as the meter has read the log). */
  async tenantsRunning(): Promise<string[]> {
    const r = await this.db.execute(sql`SELECT DISTINCT tenant_id FROM billing_lease_meters WHERE stopped_at IS NULL AND metered_until IS NOT NULL`);
    return rowsOf<{ tenant_id: string }>(r).map((x) => x.tenant_id);
  }

  /** What a tenant's final (unpaid or part-paid) invoices leave due, per currency: total − paid − credit notes. */
  async dueOnFinal(tenantId: string): Promise<Map<string, bigint>> {
    const r = await this.db.execute(sql`SELECT i.currency, sum(i.total_micros - i.paid_micros - coalesce((SELECT sum(c.amount_micros) FROM billing_credit_notes c WHERE c.invoice_id = i.id), 0))::text AS d
      FROM billing_invoices i WHERE i.tenant_id = ${tenantId} AND i.status = 'final' GROUP BY i.currency`);
    return new Map(rowsOf<{ currency: string; d: string }>(r).map((x) => [x.currency, BigInt(x.d)]));
  }

  // ---- billing profiles

  async profile(tenantId: string, lock = false): Promise<BillingProfile | undefined> {
    const q = this.db.select().from(t.billingProfiles).where(eq(t.billingProfiles.tenantId, tenantId));
    const [r] = lock ? await q.for('update') : await q;
    return r ? {
      tenantId: r.tenantId, legalName: r.legalName, addressLines: r.addressLines as string[], city: r.city, postalCode: r.postalCode, country: r.country,
      taxId: r.taxId, paymentTermsDays: r.paymentTermsDays, updatedAtMs: r.updatedAt.getTime(),
    } : undefined;
  }

  async saveProfile(p: BillingProfile): Promise<void> {
    const v = {
      legalName: p.legalName, addressLines: p.addressLines, city: p.city, postalCode: p.postalCode, country: p.country, taxId: p.taxId,
      paymentTermsDays: p.paymentTermsDays, updatedAt: new Date(p.updatedAtMs),
    };
    await this.db.insert(t.billingProfiles).values({ tenantId: p.tenantId, ...v }).onConflictDoUpdate({ target: t.billingProfiles.tenantId, set: v });
  }

  // ---- what a draft depends on

  /**
   * A fingerprint of everything a tenant's draft for [startMs, endMs) is rated from besides the
   * clock: its open usage (count and newest arrival), its contract versions, and its final
   * invoices (prepayments and credits left, reserved months billed). Equal fingerprints and no
   * running lease: the draft is as it was, and need not be rated again.
   */
  async draftInputs(tenantId: string, endMs: number): Promise<{ fingerprint: string; running: number }> {
    const r = await this.db.execute(sql`SELECT
      (SELECT count(*)::text || '/' || coalesce(max(received_at)::text, '') FROM billing_usage_events WHERE tenant_id = ${tenantId} AND invoice_id IS NULL AND time < ${iso(endMs)}::timestamptz) AS u,
      (SELECT count(*)::text || '/' || coalesce(max(created_at)::text, '') FROM billing_contracts WHERE tenant_id = ${tenantId}) AS c,
      (SELECT count(*)::text || '/' || coalesce(max(finalized_at)::text, '') || '/' || coalesce(max(closed_at)::text, '') FROM billing_invoices WHERE tenant_id = ${tenantId} AND status <> 'draft') AS i,
      (SELECT count(*)::int FROM billing_lease_meters WHERE tenant_id = ${tenantId} AND stopped_at IS NULL AND metered_until IS NOT NULL) AS running`);
    const x = rowsOf<{ u: string; c: string; i: string; running: number }>(r)[0]!;
    return { fingerprint: `${x.u}|${x.c}|${x.i}`, running: Number(x.running) };
  }

  /** The usage lines of every draft of `period`, summed per currency and revenue account (what is accrued, not yet invoiced). */
  async draftUsageByAccount(period: string): Promise<{ currency: string; account: string; amountMicros: bigint; tenants: number }[]> {
    const r = await this.db.execute(sql`SELECT i.currency, l.account, sum(l.amount_micros)::text AS a, count(DISTINCT i.tenant_id)::int AS n
      FROM billing_invoice_lines l JOIN billing_invoices i ON i.id = l.invoice_id
      WHERE i.status = 'draft' AND i.kind = 'monthly' AND i.period = ${period} AND l.kind = 'usage'
      GROUP BY i.currency, l.account ORDER BY i.currency, l.account`);
    return rowsOf<{ currency: string; account: string; a: string; n: number }>(r).map((x) => ({ currency: x.currency, account: x.account, amountMicros: BigInt(x.a), tenants: Number(x.n) }));
  }

  // ---- journal

  /**
   * Posts an entry; returns false if (kind, ref) was posted already, or when it moves no money
   * (every line 0: an invoice of GPU time a reserved term covers) — nothing written.
   */
  async post(d: JournalDraft, id: string, nowMs: number): Promise<boolean> {
    if (d.lines.length === 0) return false;
    const r = await this.db.insert(t.journalEntries).values({
      id, kind: d.kind, ref: d.ref, tenantId: d.tenantId, currency: d.currency, effectiveAt: new Date(d.effectiveAtMs), memo: d.memo, createdAt: new Date(nowMs),
    }).onConflictDoNothing().returning({ id: t.journalEntries.id });
    if (r.length === 0) return false;
    await this.db.insert(t.journalLines).values(d.lines.map((l, i) => ({ entryId: id, lineNo: i + 1, account: l.account, amountMicros: l.amountMicros, contractId: l.contractId })));
    return true;
  }

  async entryLines(kind: string, ref: string): Promise<JournalLine[]> {
    const r = await this.db.execute(sql`SELECT l.account, l.amount_micros::text AS a, l.contract_id FROM billing_journal_lines l JOIN billing_journal_entries e ON e.id = l.entry_id
      WHERE e.kind = ${kind} AND e.ref = ${ref} ORDER BY l.line_no`);
    return rowsOf<{ account: string; a: string; contract_id: string | null }>(r).map((x) => ({ account: x.account, amountMicros: BigInt(x.a), contractId: x.contract_id }));
  }

  /** Balances per (currency, account) of entries effective at or before `asOfMs`, optionally of one tenant. */
  async balances(asOfMs: number, tenantId?: string): Promise<{ currency: string; account: string; balanceMicros: bigint }[]> {
    const r = await this.db.execute(sql`SELECT e.currency, l.account, sum(l.amount_micros)::text AS b
      FROM billing_journal_lines l JOIN billing_journal_entries e ON e.id = l.entry_id
      WHERE e.effective_at <= ${iso(asOfMs)}::timestamptz ${tenantId === undefined ? sql`` : sql`AND e.tenant_id = ${tenantId}`}
      GROUP BY e.currency, l.account ORDER BY e.currency, l.account`);
    return rowsOf<{ currency: string; account: string; b: string }>(r).map((x) => ({ currency: x.currency, account: x.account, balanceMicros: BigInt(x.b) }));
  }

  async entries(f: { limit: number; tenantId?: string | undefined; kind?: string | undefined }): Promise<(JournalDraft & { id: string })[]> {
    const heads = await this.db.select().from(t.journalEntries).where(and(
      f.tenantId === undefined ? undefined : eq(t.journalEntries.tenantId, f.tenantId), f.kind === undefined ? undefined : eq(t.journalEntries.kind, f.kind),
    )).orderBy(desc(t.journalEntries.effectiveAt), desc(t.journalEntries.createdAt)).limit(f.limit);
    if (heads.length === 0) return [];
    const lines = await this.db.select().from(t.journalLines).where(inArray(t.journalLines.entryId, heads.map((h) => h.id))).orderBy(asc(t.journalLines.entryId), asc(t.journalLines.lineNo));
    const by = new Map<string, JournalLine[]>();
    for (const l of lines) {
      const a = by.get(l.entryId) ?? [];
      a.push({ account: l.account, amountMicros: l.amountMicros, contractId: l.contractId });
      by.set(l.entryId, a);
    }
    return heads.map((h) => ({
      id: h.id, kind: h.kind as JournalDraft['kind'], ref: h.ref, tenantId: h.tenantId, currency: h.currency, effectiveAtMs: h.effectiveAt.getTime(), memo: h.memo, lines: by.get(h.id) ?? [],
    }));
  }

  // ---- revenue schedules

  async insertSchedules(list: readonly Schedule[], invoiceId: string): Promise<void> {
    if (list.length === 0) return;
    await this.db.insert(t.revenueSchedules).values(list.map((s) => ({
      id: s.id, invoiceId, tenantId: s.tenantId, currency: s.currency, contractId: s.contractId, account: s.account, amountMicros: s.amountMicros,
      recognizedMicros: 0n, serviceStart: new Date(s.serviceStartMs), serviceEnd: new Date(s.serviceEndMs),
    })));
  }

  /** Schedules with revenue left to recognise that have started by `asOfMs`, locked. */
  async openSchedules(asOfMs: number, afterId: string, limit: number): Promise<Schedule[]> {
    const rows = await this.db.select().from(t.revenueSchedules)
      .where(and(sql`${t.revenueSchedules.recognizedMicros} <> ${t.revenueSchedules.amountMicros}`, lte(t.revenueSchedules.serviceStart, new Date(asOfMs)), gt(t.revenueSchedules.id, afterId)))
      .orderBy(asc(t.revenueSchedules.id)).limit(limit).for('update', { skipLocked: true });
    return rows.map(scheduleFromRow);
  }

  async schedulesOf(invoiceId: string): Promise<Schedule[]> {
    const rows = await this.db.select().from(t.revenueSchedules).where(eq(t.revenueSchedules.invoiceId, invoiceId)).for('update');
    return rows.map(scheduleFromRow);
  }

  async setRecognized(id: string, recognizedMicros: bigint, amountMicros?: bigint): Promise<void> {
    await this.db.update(t.revenueSchedules).set({ recognizedMicros, ...(amountMicros === undefined ? {} : { amountMicros }) }).where(eq(t.revenueSchedules.id, id));
  }
}

function meterFromRow(r: typeof t.leaseMeters.$inferSelect): MeterState {
  return {
    leaseId: r.leaseId, tenantId: r.tenantId, leaseClass: r.leaseClass, gpuModel: r.gpuModel, gpuCount: r.gpuCount, priceMicros: r.priceMicros,
    bookedEndMs: r.bookedEnd.getTime(), meteredUntilMs: r.meteredUntil ? r.meteredUntil.getTime() : null, stoppedAtMs: r.stoppedAt ? r.stoppedAt.getTime() : null,
  };
}

function scheduleFromRow(r: typeof t.revenueSchedules.$inferSelect): Schedule {
  return {
    id: r.id, tenantId: r.tenantId, currency: r.currency, contractId: r.contractId, account: r.account, amountMicros: r.amountMicros, recognizedMicros: r.recognizedMicros,
    serviceStartMs: r.serviceStart.getTime(), serviceEndMs: r.serviceEnd.getTime(),
  };
}

export { big, ms };
