/**
 * BillingService: contracts, usage ingestion, the lease meter (the event log → GPU time), monthly
 * invoices, payments, credit notes, revenue recognition, the trial balance and the backlog. The
 * rules are in the pure modules (rating.ts, ledger.ts, meter.ts, backlog.ts); this class loads,
 * calls them and writes the result in one transaction per business fact.
 *
 * Exactly once, everywhere it matters:
 * - usage: (tenant, source, id) is the primary key; a batch is one INSERT … ON CONFLICT DO NOTHING with
 *   its stored idempotent response and the running totals that bound what a close must write
 *   (refused whole, in that statement, past a limit), acknowledged after commit (durable:
 *   synchronous commit);
 * - the meter: reads the log through `consumeLog` (src/events/log-consumer.ts), which advances
 *   the cursor in the transaction that writes the GPU time it read, under a row lock every
 *   control plane's meter takes first;
 * - invoices: a month's invoice per tenant is unique; finalising takes the open usage events in
 *   the same statement that marks them, and posts its journal entry (unique by kind and ref) in
 *   the same transaction.
 */
import { consumeLog, consumerCursor, decodeLeaseEvent, ensureConsumer, type LeaseEvent } from '../events/index.js';
import { GPU_CATALOG } from '../fleet/index.js';
import type { Clock } from '../shared/clock.js';
import { DomainError, invalid, notFound, parseTime } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { decodeCursor, PAGE_DEFAULT, pageOf, type Page } from '../shared/paging.js';
import { OWNER_TENANT_ID, type IdempotencyContext, type Principal } from '../tenancy/index.js';
import { requireAdmin } from '../tenancy/index.js';
import { backlogOf } from './backlog.js';
import { BillingRepo, termsJson, UsageOverLimit, type BillTo, type InvoiceRecord, type StoredLine, type UsagePrice, type UsageRow, type UsageTotal } from './billing-repo.js';
import type { Contract, ContractTerms, RatedLine, UsageSum, UsageType } from './billing-types.js';
import { ACCOUNTS, MAX_LINE_QUANTITY_MICROS, MAX_MONTH_USAGE_VALUE_MICROS, USAGE_UNITS } from './billing-types.js';
import type { ContractAmendBody, ContractCreateBody, ContractTermsBody, ContractViewT, UsageBatchBody } from './billing-wire.js';
import { creditNoteEntry, internalTransferEntry, invoiceEntry, paymentEntry, recognitionEntry, voidEntry, type Schedule } from './ledger.js';
import { applyLeaseEvent, meterRunning, type MeterState, type MeteredUsage } from './meter.js';
import { addMonths, BPS, MINOR_UNIT_MICROS, monthEndMs, monthOf, monthStartMs, overlapMs, roundLine, type Currency } from './money.js';
import { assertBookable, gpuTimeValue, invoiceTotal, rateMonth, usageUnitPrice } from './rating.js';
import { renderInvoiceHtml } from './invoice-html.js';
import { tenantTerms } from './rate-terms.js';
import type { TenantTerms } from '../pricing/index.js';
import { lineDisplay } from './line-display.js';
import type { BillingProfile } from './billing-repo.js';
import type { BillingProfileBody, BillingProfileViewT } from './billing-wire.js';

/** Usage older than this is refused: duplicates are recognised within it (Stripe refuses past 35 days; OpenMeter keeps 32). */
export const DEDUP_WINDOW_MS = 35 * 86_400_000;
/** Usage stamped further ahead than this is refused (clock skew allowance). */
export const FUTURE_SKEW_MS = 5 * 60_000;
const METER_CONSUMER = 'lease-meter';
const METER_BATCH = 2_000;
/** Tenants finalised at once when a month closes. */
const CLOSE_CONCURRENCY = 4;
const MAX_QUANTITY_MICROS = MAX_LINE_QUANTITY_MICROS;

/** Why one tenant's month (or a step after the invoices) could not be closed; the others were. */
export interface CloseFailure { tenantId: string | null; step: 'invoice' | 'internal_transfer' | 'recognition'; detail: string }

/** A failure as a client may read it: a domain error's message, else no internals (SQL, parameters) — those go to the log. */
const errorDetail = (err: unknown): string => (err instanceof DomainError ? err.message : 'internal error while closing this tenant\'s month (logged by the control plane)').slice(0, 500);
const ceilDiv = (n: bigint, d: bigint): bigint => (n + d - 1n) / d;
/**
 * The running totals that bound what a close must write (migration 0017) are written by the
 * ingest statement only once what a control plane accepted for a total since it last wrote it
 * reaches these amounts (10^9 tokens or GB; $100M): writing them for every batch made every batch
 * update the same hot rows, and ingest 10–15% slower. The exact total is then at most the stored
 * one plus, per control plane, less than these (and what a crashed plane had not written): far
 * inside the slack between the limits (MAX_LINE_QUANTITY_MICROS = 9 × 10^18 < 2^63 − 1 by
 * 2.2 × 10^17, i.e. 220 planes' worth; MAX_MONTH_USAGE_VALUE_MICROS = 3 × 10^18, a third of it), so
 * what was accepted can still always be written by a close. A single event past a threshold is
 * written at once, so the per-event and near-limit refusals are exact.
 */
const TOTALS_SYNC_QUANTITY_MICROS = 1_000_000_000_000_000n;
const TOTALS_SYNC_VALUE_MICROS = 100_000_000_000_000n;
/** Lost the race to post an entry another control plane posted first: roll this transaction back. */
class AlreadyPosted extends Error {}

export interface BillingOptions {
  cell: string;
  /** SLA credit = lost GPU-hours × price × this (basis points; default 10,000: the lost time at its price). */
  slaMultiplierBps?: bigint;
  /** What an internal GPU-hour is worth to finance (USD micros; default 2,000,000 = $2.00). */
  transferPriceMicrosPerGpuHour?: bigint;
  /** Writes time-driven lease events that are due (the lease sweep), before a month is closed. */
  catchUpLog?: () => Promise<unknown>;
  /** Whether a tenant exists. */
  tenantExists: (id: string) => Promise<boolean>;
  /** Currencies of a tenant's leases held at or after an instant (leasing's, through the composition root). */
  leaseCurrencies?: (tenantId: string, sinceMs: number) => Promise<string[]>;
  /** A tenant's display name (an invoice is addressed to it when its profile has no legal name). */
  tenantName?: (id: string) => Promise<string | undefined>;
  /** Days from an invoice's issue to its due date, unless the tenant's profile says otherwise (default 30: net 30). */
  paymentTermsDays?: number;
  /** Who issues the invoices (the printable invoice's seller; default "neocloud"). */
  sellerName?: string;
}

/** Net 30: the default payment terms (days from issue to due). */
export const DEFAULT_PAYMENT_TERMS_DAYS = 30;
const DAY_MS = 86_400_000;

const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function contractView(c: Contract): ContractViewT {
  // A reserved term's whole value, rounded as its invoices round it (rating.ts gpuTimeValue): the console shows it, never recomputes it.
  const valueMicros = c.kind === 'reserved' && c.endMs !== null ? gpuTimeValue(c.terms.gpuCount, c.terms.priceMicrosPerGpuHour, c.endMs - c.startMs, c.currency).toString() : null;
  return {
    id: c.id, version: c.version, tenantId: c.tenantId, kind: c.kind, currency: c.currency, start: isoOf(c.startMs)!, end: isoOf(c.endMs),
    terms: termsJson(c), createdAt: isoOf(c.createdAtMs)!, valueMicros,
  };
}

const lineView = (l: StoredLine | (RatedLine & { lineNo: number })): Record<string, unknown> => ({
  lineNo: l.lineNo, kind: l.kind, description: l.description, contractId: l.contractId, meter: l.meter, model: l.model,
  quantity: l.quantity.toString(), unit: l.unit, unitPriceMicros: l.unitPriceMicros.toString(), amountMicros: l.amountMicros.toString(), account: l.account,
  ...lineDisplay(l.unit, l.quantity),
  serviceStart: isoOf(l.serviceStartMs), serviceEnd: isoOf(l.serviceEndMs), leaseIds: l.leaseIds,
});

const invoiceSummary = (i: InvoiceRecord): Record<string, unknown> => ({
  id: i.id, tenantId: i.tenantId, kind: i.kind, period: i.period, currency: i.currency, status: i.status, number: i.number,
  totalMicros: i.totalMicros.toString(), paidMicros: i.paidMicros.toString(), createdAt: isoOf(i.createdAtMs), finalizedAt: isoOf(i.finalizedAtMs), closedAt: isoOf(i.closedAtMs),
  contractId: i.contractId,
});

/**
 * Stored open usage plus running leases' GPU time from where the meter stopped up to `untilMs`
 * (meter.ts `meterRunning`, the same rule a month's close writes), merged into the sums the rater
 * reads. Nothing is written: a draft only shows it.
 */
function withRunning(stored: readonly UsageSum[], running: readonly MeterState[], untilMs: number, periodStartMs: number): UsageSum[] {
  const out = stored.map((u) => ({ ...u }));
  const key = (u: Pick<UsageSum, 'type' | 'model' | 'leaseClass' | 'priceMicros' | 'leaseId' | 'late' | 'lateMonth'>): string =>
    `${u.type}|${u.model}|${u.leaseClass}|${u.priceMicros}|${u.leaseId}|${u.late}|${u.lateMonth}`;
  const at = new Map(out.map((u, i) => [key(u), i]));
  for (const st of running) {
    for (const m of meterRunning(st, untilMs).usage) {
      const late = m.timeMs < periodStartMs;
      const u: UsageSum = { type: m.type, model: m.model, leaseClass: m.leaseClass, priceMicros: m.priceMicros, leaseId: m.leaseId, late, lateMonth: late ? monthOf(m.timeMs) : null, quantity: m.quantity };
      const i = at.get(key(u));
      if (i === undefined) {
        at.set(key(u), out.length);
        out.push(u);
      } else out[i]!.quantity += u.quantity;
    }
  }
  return out;
}

/** Parses a non-negative decimal quantity (≤ 6 decimals) into micro-units. */
export function parseQuantity(field: string, q: string | number): bigint {
  const text = typeof q === 'number' ? (Number.isSafeInteger(q) ? String(q) : '') : q;
  const m = /^(-?)(\d{1,19})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw invalid(field, `must be a non-negative number with at most 6 decimals (a string, or a safe integer), got ${JSON.stringify(q).slice(0, 40)}`);
  if (m[1] === '-' && /[1-9]/.test(`${m[2]}${m[3] ?? ''}`)) throw invalid(field, 'must not be negative');
  const v = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0'));
  if (v > MAX_QUANTITY_MICROS) throw invalid(field, 'is too large');
  return v;
}

/**
 * The highest contract prices: a GPU-hour at most $1,000 (the fleet spec's own list-price bound;
 * ¥200,000 in yen), a unit of metered usage (a million tokens, a GB-hour, a GB) at most 10^12 µ
 * ($1,000,000). Past these one tenant's month could pass what the books hold (2^63 − 1 µ); with
 * them a USD month of GPU time stays inside the books for any tenant below 12 million GPUs (in
 * yen, 60,000 GPUs all month at the highest price). Beyond that, `assertBookable` refuses that
 * tenant's invoice by name and no other's.
 */
const MAX_GPU_HOUR_PRICE_MICROS_BY: Record<Currency, bigint> = { USD: 1_000_000_000n, JPY: 200_000_000_000n };
const MAX_UNIT_PRICE_MICROS = 1_000_000_000_000n;
function bounded(field: string, v: string, max: bigint): bigint {
  const a = BigInt(v);
  if (a > max) throw invalid(field, `must be at most ${max} micros (a higher price could make a month's invoice pass what the books hold)`);
  return a;
}

/** An amount billed or settled as it is (a minimum, credits bought, a payment, a credit note) must be whole minor units: invoices hold nothing finer. */
function wholeMinor(field: string, v: string | bigint, currency: Currency): bigint {
  const a = BigInt(v);
  if (a % MINOR_UNIT_MICROS[currency] !== 0n) throw invalid(field, `must be a whole number of ${currency === 'JPY' ? 'yen' : 'cents'} (a multiple of ${MINOR_UNIT_MICROS[currency]} micros)`);
  return a;
}

export class BillingService {
  private readonly sla: bigint;
  private readonly transferPrice: bigint;
  private readonly tenantCache = new Set<string>();
  /**
   * Per running total (tenant, month, type, model): what this process accepted and has not yet
   * written to `billing_usage_totals` (below the TOTALS_SYNC_* thresholds). See their comment.
   */
  private readonly unsyncedTotals = new Map<string, { q: bigint; v: bigint }>();
  /** The stored running totals as this process last wrote them (month rows keyed with type '*'). */
  private readonly storedTotals = new Map<string, { q: bigint; v: bigint }>();
  /** Per `tenant/period`: the inputs (BillingRepo.draftInputs) its draft was last rated from in this process. */
  private readonly draftRatedFrom = new Map<string, string>();

  constructor(private readonly repo: BillingRepo, private readonly clock: Clock, private readonly o: BillingOptions) {
    this.sla = o.slaMultiplierBps ?? 10_000n;
    this.transferPrice = o.transferPriceMicrosPerGpuHour ?? 2_000_000n;
  }

  async init(): Promise<void> {
    await ensureConsumer(this.repo.db, { consumer: METER_CONSUMER, cell: this.o.cell });
  }

  private async knownTenant(id: string): Promise<boolean> {
    if (this.tenantCache.has(id)) return true;
    const ok = await this.o.tenantExists(id);
    if (ok) this.tenantCache.add(id);
    return ok;
  }

  // ---------------------------------------------------------------- contracts

  private parseTerms(kind: Contract['kind'], t: ContractTermsBody, currency: Currency, startMs: number, endMs: number | null): ContractTerms {
    const need = <T>(v: T | undefined, name: string): T => {
      if (v === undefined) throw invalid(`terms.${name}`, `is required for a ${kind} contract`);
      return v;
    };
    const allowed: Record<Contract['kind'], string[]> = {
      reserved: ['gpuModel', 'gpuCount', 'priceMicrosPerGpuHour', 'prepaymentBps'],
      'on-demand': ['discountBps', 'pricesMicrosPerGpuHour', 'rates'], spot: ['discountBps', 'pricesMicrosPerGpuHour'],
      commitment: ['minimumMicrosPerMonth'], credits: ['amountMicros', 'expiresAt'], tokens: ['prices'],
    };
    for (const k of Object.keys(t)) if (!allowed[kind].includes(k)) throw invalid(`terms.${k}`, `is not a term of a ${kind} contract (allowed: ${allowed[kind].join(', ')})`);
    const models = (m: Record<string, string> | undefined, name: string): Record<string, bigint> => {
      const out: Record<string, bigint> = {};
      for (const [k, v] of Object.entries(m ?? {})) {
        if (!(k in GPU_CATALOG)) throw invalid(`terms.${name}.${k}`, `is not a GPU model (${Object.keys(GPU_CATALOG).join(', ')})`);
        out[k] = bounded(`terms.${name}.${k}`, v, MAX_GPU_HOUR_PRICE_MICROS_BY[currency]);
      }
      return out;
    };
    switch (kind) {
      case 'reserved': {
        const gpuModel = need(t.gpuModel, 'gpuModel');
        if (!(gpuModel in GPU_CATALOG)) throw invalid('terms.gpuModel', `is not a GPU model (${Object.keys(GPU_CATALOG).join(', ')})`);
        if (endMs === null) throw invalid('end', 'is required for a reserved term');
        const terms = { gpuModel, gpuCount: need(t.gpuCount, 'gpuCount'), priceMicrosPerGpuHour: bounded('terms.priceMicrosPerGpuHour', need(t.priceMicrosPerGpuHour, 'priceMicrosPerGpuHour'), MAX_GPU_HOUR_PRICE_MICROS_BY[currency]), prepaymentBps: t.prepaymentBps ?? 0 };
        // The whole term's value must fit the books (a bigint column).
        if (BigInt(terms.gpuCount) * terms.priceMicrosPerGpuHour * BigInt(endMs - startMs) / 3_600_000n > 9_000_000_000_000_000_000n) throw invalid('terms.gpuCount', 'the term\'s value is larger than the books can hold');
        return { kind, terms };
      }
      case 'on-demand':
      case 'spot': {
        const rates: Partial<Record<'storage.gb_hours' | 'egress.gb', bigint>> = {};
        if (t.rates?.['storage.gb_hours'] !== undefined) rates['storage.gb_hours'] = bounded('terms.rates.storage.gb_hours', t.rates['storage.gb_hours'], MAX_UNIT_PRICE_MICROS);
        if (t.rates?.['egress.gb'] !== undefined) rates['egress.gb'] = bounded('terms.rates.egress.gb', t.rates['egress.gb'], MAX_UNIT_PRICE_MICROS);
        const prices = models(t.pricesMicrosPerGpuHour, 'pricesMicrosPerGpuHour');
        if (currency !== 'USD' && Object.keys(prices).length === 0) throw invalid('terms.pricesMicrosPerGpuHour', `is required in ${currency}: the price book is in USD`);
        return { kind, terms: { discountBps: t.discountBps ?? 0, pricesMicrosPerGpuHour: prices, rates } };
      }
      case 'commitment':
        if (endMs === null) throw invalid('end', 'is required for a commitment');
        return { kind, terms: { minimumMicrosPerMonth: wholeMinor('terms.minimumMicrosPerMonth', need(t.minimumMicrosPerMonth, 'minimumMicrosPerMonth'), currency) } };
      case 'credits': {
        const expiresAtMs = parseTime('terms.expiresAt', need(t.expiresAt, 'expiresAt'));
        if (expiresAtMs <= startMs) throw invalid('terms.expiresAt', 'must be after the start');
        return { kind, terms: { amountMicros: wholeMinor('terms.amountMicros', need(t.amountMicros, 'amountMicros'), currency), expiresAtMs } };
      }
      case 'tokens': {
        const prices: Record<string, { inputMicrosPerMillion: bigint; outputMicrosPerMillion: bigint }> = {};
        for (const [m, p] of Object.entries(need(t.prices, 'prices'))) {
          prices[m] = {
            inputMicrosPerMillion: bounded(`terms.prices.${m}.inputMicrosPerMillion`, p.inputMicrosPerMillion, MAX_UNIT_PRICE_MICROS),
            outputMicrosPerMillion: bounded(`terms.prices.${m}.outputMicrosPerMillion`, p.outputMicrosPerMillion, MAX_UNIT_PRICE_MICROS),
          };
        }
        return { kind, terms: { prices } };
      }
    }
  }

  /** Creates a contract (operator). A reserved term with a prepayment, or credits, are invoiced at signing (a final invoice, posted). */
  async createContract(p: Principal, body: ContractCreateBody, idem?: IdempotencyContext): Promise<ContractViewT> {
    requireAdmin(p);
    if (body.tenantId === OWNER_TENANT_ID || !(await this.knownTenant(body.tenantId))) throw new DomainError('validation', `tenantId: no tenant ${body.tenantId}`, { field: 'tenantId' });
    const now = this.clock.nowMs();
    const currency = (body.currency ?? 'USD') as Currency;
    const startMs = parseTime('start', body.start);
    const endMs = body.end === undefined ? null : parseTime('end', body.end);
    if (endMs !== null && endMs <= startMs) throw invalid('end', 'must be after start');
    const terms = this.parseTerms(body.kind, body.terms, currency, startMs, endMs);
    const c = { ...terms, id: newId('ctr'), version: 1, tenantId: body.tenantId, currency, startMs, endMs, createdAtMs: now } as Contract;
    // Leases carry the currency they were priced in; one not yet fully invoiced (held since the
    // start of last month) in another currency would be billed in the wrong unit. Read before the
    // transaction: leasing's store is another connection (PGlite has one).
    const held = await this.o.leaseCurrencies?.(body.tenantId, monthStartMs(addMonths(monthOf(now), -1))) ?? [];
    const foreign = held.find((x) => x !== currency);
    if (foreign) throw new DomainError('conflict', `currency: tenant ${body.tenantId} has ${foreign} leases not yet invoiced; a ${currency} contract can be signed once they are (one currency per tenant)`, { field: 'currency' });
    // The addressee of an invoice at signing, read before the transaction (tenancy's connection).
    const billTo = await this.billTo(body.tenantId);
    const view = await this.repo.tx(async (s) => {
      const existing = await s.contracts(body.tenantId);
      const other = existing.find((x) => x.currency !== currency);
      if (other) throw new DomainError('conflict', `currency: tenant ${body.tenantId} is billed in ${other.currency} (contract ${other.id}); one currency per tenant`, { field: 'currency' });
      await s.insertContract(c, termsJson(c));
      const invoiceId = await this.invoiceAtSigning(s, c, now, billTo);
      const v = { ...contractView(c), prepaymentInvoiceId: invoiceId };
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: v }, now);
      return v;
    });
    return view;
  }

  /** The prepayment of a reserved term, or credits bought: a final invoice at signing. */
  private async invoiceAtSigning(s: BillingRepo, c: Contract, now: number, billTo: BillTo): Promise<string | null> {
    let line: RatedLine | null = null;
    const end = c.endMs ?? now;
    if (c.kind === 'reserved' && c.terms.prepaymentBps > 0 && c.endMs !== null) {
      const value = gpuTimeValue(c.terms.gpuCount, c.terms.priceMicrosPerGpuHour, c.endMs - c.startMs, c.currency);
      const amount = roundLine(value * BigInt(c.terms.prepaymentBps), BPS, c.currency);
      line = {
        kind: 'prepayment', description: `Prepayment: ${c.terms.prepaymentBps / 100}% of the reserved term (${c.terms.gpuCount} × ${c.terms.gpuModel}, value ${value} µ)`,
        contractId: c.id, meter: null, model: c.terms.gpuModel, quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: amount, account: ACCOUNTS.customerPrepayments,
        serviceStartMs: c.startMs, serviceEndMs: end, leaseIds: [], deferredTo: null,
      };
    } else if (c.kind === 'credits') {
      line = {
        kind: 'credits', description: `Prepaid credits (expire ${new Date(c.terms.expiresAtMs).toISOString().slice(0, 10)})`, contractId: c.id, meter: null, model: null,
        quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: c.terms.amountMicros, account: ACCOUNTS.customerPrepayments,
        serviceStartMs: c.startMs, serviceEndMs: c.terms.expiresAtMs, leaseIds: [], deferredTo: null,
      };
    }
    if (!line || line.amountMicros === 0n) return null;
    const inv: InvoiceRecord = {
      id: newId('inv'), tenantId: c.tenantId, kind: c.kind === 'credits' ? 'credits' : 'prepayment', period: monthOf(now), currency: c.currency, status: 'draft', number: null,
      totalMicros: 0n, paidMicros: 0n, createdAtMs: now, finalizedAtMs: null, closedAtMs: null, contractId: c.id,
    };
    await s.insertInvoice(inv);
    await s.writeLines(inv.id, [line]);
    const number = await s.finalize(inv.id, line.amountMicros, now, inv.period, billTo);
    await s.post(invoiceEntry({ id: inv.id, tenantId: c.tenantId, currency: c.currency, atMs: now, number }, [line]), newId('je'), now);
    return inv.id;
  }

  /** A new version of a contract (operator): its end and terms replaced; invoices from now on rate with it. */
  async amendContract(p: Principal, id: string, body: ContractAmendBody, idem?: IdempotencyContext): Promise<ContractViewT> {
    requireAdmin(p);
    const now = this.clock.nowMs();
    return this.repo.tx(async (s) => {
      const top = await s.lockContract(id);
      const versions = await s.contractVersions(id, null);
      const cur = versions[versions.length - 1];
      if (!cur || top === 0) throw notFound('contract', id);
      const endMs = body.end === undefined ? cur.endMs : parseTime('end', body.end);
      if (endMs !== null && endMs <= cur.startMs) throw invalid('end', 'must be after the contract\'s start');
      const terms = body.terms === undefined ? { kind: cur.kind, terms: cur.terms } as ContractTerms : this.parseTerms(cur.kind, body.terms, cur.currency, cur.startMs, endMs);
      const next = { ...terms, id, version: top + 1, tenantId: cur.tenantId, currency: cur.currency, startMs: cur.startMs, endMs, createdAtMs: now } as Contract;
      // Usage already accepted must stay billable: an amendment that takes away the price of open
      // usage (a token model, a storage or egress rate, or the months it covers) is refused, so that
      // nothing accepted can later fail a close.
      const open = await s.openUsageKeys(cur.tenantId);
      if (open.length > 0) {
        const after = (await s.contracts(cur.tenantId)).map((c) => (c.id === id ? next : c));
        for (const k of open) {
          const type = k.type as Exclude<UsageType, 'gpu.seconds'>;
          if (usageUnitPrice(this.inForce(after, k.period), type, k.model) === null) {
            const field = k.model !== null ? `terms.prices.${k.model}` : `terms.rates.${k.type}`;
            throw new DomainError('conflict', `${field}: tenant ${cur.tenantId} has ${k.type} usage of ${k.period}${k.model ? ` for ${k.model}` : ''} not yet invoiced that this amendment would leave without a price; amend after the month is closed, or keep its price`, { field });
          }
        }
      }
      await s.insertContract(next, termsJson(next));
      const v = contractView(next);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: v }, now);
      return v;
    });
  }

  /** A tenant's terms in force at `atMs`, for the rate card (leasing prices leases with them). */
  async termsOf(tenantId: string, atMs: number): Promise<TenantTerms> {
    return tenantTerms(await this.repo.contracts(tenantId), atMs);
  }

  /** A page of contracts in force (latest versions), by id (src/shared/paging.ts); a tenant's own only. */
  async listContracts(p: Principal, tenantId: string | undefined, page: { limit: number; cursor?: string | undefined }): Promise<Page<ContractViewT>> {
    const scope = p.kind === 'tenant' ? p.tenantId : (tenantId ?? null);
    const after = decodeCursor(page.cursor, ['string']) as [string] | undefined;
    const r = pageOf(await this.repo.contractPage(scope, after?.[0], page.limit + 1), page.limit, (c) => [c.id]);
    return { items: r.items.map(contractView), nextCursor: r.nextCursor };
  }

  async getContract(p: Principal, id: string): Promise<Record<string, unknown>> {
    const versions = await this.repo.contractVersions(id, p.kind === 'tenant' ? p.tenantId : null);
    const cur = versions[versions.length - 1];
    if (!cur) throw notFound('contract', id);
    return { ...contractView(cur), versions: versions.map(contractView) };
  }

  // ---------------------------------------------------------------- usage

  /**
   * Validates a whole batch (any bad event refuses it all, naming `events[i].field`), then writes
   * it in one statement; answers after commit. Duplicates (same source and id, in the batch or
   * stored) count once.
   */
  async ingest(p: Principal, body: UsageBatchBody, idem?: IdempotencyContext): Promise<{ accepted: number; duplicates: number }> {
    const now = this.clock.nowMs();
    const rows: UsageRow[] = new Array(body.events.length);
    const subjects = new Set<string>();
    for (let i = 0; i < body.events.length; i++) {
      const e = body.events[i]!;
      const f = `events[${i}]`;
      const unit = USAGE_UNITS[e.type as keyof typeof USAGE_UNITS];
      if (unit === undefined) throw invalid(`${f}.type`, `unknown usage type "${e.type.slice(0, 64)}" (tokens.input, tokens.output, storage.gb_hours, egress.gb)`);
      if (e.type === 'gpu.seconds') throw invalid(`${f}.type`, 'gpu.seconds is metered from the lease event log, not ingested (it would count twice)');
      if (e.data.unit !== unit) throw invalid(`${f}.data.unit`, `${e.type} is measured in "${unit}", got "${e.data.unit.slice(0, 16)}"`);
      const quantity = parseQuantity(`${f}.data.quantity`, e.data.quantity);
      if (e.type.startsWith('tokens.') && e.data.model === undefined) throw invalid(`${f}.data.model`, 'is required for tokens');
      const timeMs = parseTime(`${f}.time`, e.time);
      if (timeMs > now + FUTURE_SKEW_MS) throw invalid(`${f}.time`, 'is more than 5 minutes in the future');
      if (timeMs < now - DEDUP_WINDOW_MS) throw invalid(`${f}.time`, 'is older than the 35-day window in which duplicates are recognised');
      if (p.kind === 'tenant' && e.subject !== p.tenantId) throw new DomainError('forbidden', `${f}.subject: a tenant key may report only its own usage (${p.tenantId})`, { field: `${f}.subject` });
      if (!subjects.has(e.subject)) {
        if (e.subject === OWNER_TENANT_ID && p.kind === 'tenant') throw invalid(`${f}.subject`, 'is not a tenant');
        if (p.kind === 'admin' && !(await this.knownTenant(e.subject))) throw invalid(`${f}.subject`, `no tenant ${e.subject.slice(0, 64)}`);
        subjects.add(e.subject);
      }
      rows[i] = { source: e.source, id: e.id, tenantId: e.subject, type: e.type, timeMs, quantity, model: e.data.model ?? null, leaseId: null, leaseClass: null, priceMicros: null };
    }
    // `adds`: what this batch adds per running total (duplicates included: an upper bound).
    const { prices, adds } = await this.priceUsage(rows);
    // Totals written now: those whose amount not yet written passes the sync threshold.
    // Near a limit (as far as this process last saw the stored total) every batch writes, so the
    // refusal there is exact; a tenant's month near its value limit writes all its totals.
    const monthAdds = new Map<string, bigint>();
    for (const [k, a] of adds) {
      const p = prices.get(k)!;
      const mk = usageKey(p.tenantId, p.period, '*', null);
      monthAdds.set(mk, (monthAdds.get(mk) ?? 0n) + a.v + (this.unsyncedTotals.get(k)?.v ?? 0n));
    }
    const sync: UsagePrice[] = [];
    for (const [k, a] of adds) {
      const p = prices.get(k)!;
      const c = this.unsyncedTotals.get(k) ?? { q: 0n, v: 0n };
      const seen = this.storedTotals.get(k);
      const mk = usageKey(p.tenantId, p.period, '*', null);
      const monthSeen = this.storedTotals.get(mk)?.v ?? 0n;
      if (c.q + a.q >= TOTALS_SYNC_QUANTITY_MICROS || c.v + a.v >= TOTALS_SYNC_VALUE_MICROS
        || (seen !== undefined && seen.q + c.q + a.q > MAX_LINE_QUANTITY_MICROS - TOTALS_SYNC_QUANTITY_MICROS)
        || monthSeen + monthAdds.get(mk)! > MAX_MONTH_USAGE_VALUE_MICROS - TOTALS_SYNC_VALUE_MICROS) {
        sync.push({ ...p, carriedQuantityMicros: c.q, carriedValueMicros: c.v });
      }
    }
    let accepted: number;
    try {
      if (sync.length === 0) accepted = await this.repo.insertUsage(rows, now, idem);
      else {
        const r = await this.repo.insertPricedUsage(rows, now, idem, sync, { lineQuantityMicros: MAX_LINE_QUANTITY_MICROS, monthValueMicros: MAX_MONTH_USAGE_VALUE_MICROS });
        accepted = r.accepted;
        for (const t of r.totals) this.storedTotals.set(usageKey(t.tenantId, t.period, t.type, t.model), { q: t.quantityMicros, v: t.valueMicros });
      }
    } catch (err) {
      if (err instanceof UsageOverLimit) throw overLimit(rows, prices, err.total);
      throw err;
    }
    // Committed: synced totals now hold what was carried; the rest is carried further.
    const synced = new Set(sync.map((p) => usageKey(p.tenantId, p.period, p.type, p.model)));
    for (const [k, a] of adds) {
      if (synced.has(k)) this.unsyncedTotals.delete(k);
      else {
        const c = this.unsyncedTotals.get(k) ?? { q: 0n, v: 0n };
        this.unsyncedTotals.set(k, { q: c.q + a.q, v: c.v + a.v });
      }
    }
    // Bounded memory; what is dropped was below the thresholds (see TOTALS_SYNC_*).
    if (this.unsyncedTotals.size > 100_000) this.unsyncedTotals.clear();
    if (this.storedTotals.size > 100_000) this.storedTotals.clear();
    return { accepted, duplicates: rows.length - accepted };
  }

  /**
   * The price of each event's usage (rating.ts `usageUnitPrice`, with the contracts rateMonth
   * will use for the event's month), keyed `tenant/month/type/model`. Refuses, naming the field,
   * an event the tenant has no price for, or whose own value passes what a month may hold.
   */
  private async priceUsage(rows: readonly UsageRow[]): Promise<{ prices: Map<string, UsagePrice>; adds: Map<string, { q: bigint; v: bigint }> }> {
    const byTenant = new Map<string, Contract[]>();
    for (const c of await this.repo.contractsOf([...new Set(rows.map((r) => r.tenantId))])) byTenant.set(c.tenantId, [...(byTenant.get(c.tenantId) ?? []), c]);
    const inForce = new Map<string, Contract[]>();
    const prices = new Map<string, UsagePrice>();
    const adds = new Map<string, { q: bigint; v: bigint }>();
    // The month of each event, without formatting a date per event (a batch is almost always one month).
    let period = '';
    let periodStart = 0;
    let periodEnd = -1;
    for (let i = 0; i < rows.length; i++) {
      const u = rows[i]!;
      if (u.timeMs < periodStart || u.timeMs >= periodEnd) {
        period = monthOf(u.timeMs);
        periodStart = monthStartMs(period);
        periodEnd = monthEndMs(period);
      }
      const key = usageKey(u.tenantId, period, u.type, u.model);
      let p = prices.get(key);
      if (!p) {
        const tk = `${u.tenantId}/${period}`;
        let cs = inForce.get(tk);
        if (!cs) inForce.set(tk, cs = this.inForce(byTenant.get(u.tenantId) ?? [], period));
        const type = u.type as Exclude<UsageType, 'gpu.seconds'>;
        const price = usageUnitPrice(cs, type, u.model);
        if (!price) {
          if (u.model !== null) throw invalid(`events[${i}].data.model`, `tenant ${u.tenantId} has no ${type} price for model ${u.model.slice(0, 128)} in its contracts for ${period}: usage that cannot be billed is refused`);
          throw invalid(`events[${i}].type`, `tenant ${u.tenantId} has no ${type} rate in its on-demand contract for ${period}: usage that cannot be billed is refused`);
        }
        prices.set(key, p = { tenantId: u.tenantId, period, type: u.type, model: u.model, priceMicros: price.priceMicros, perMicroUnits: price.perMicroUnits });
      }
      const value = ceilDiv(u.quantity * p.priceMicros, p.perMicroUnits);
      if (value > MAX_MONTH_USAGE_VALUE_MICROS) {
        throw invalid(`events[${i}].data.quantity`, `its value (${value} µ) is more than the ${MAX_MONTH_USAGE_VALUE_MICROS} µ a tenant's month of usage may hold`);
      }
      const a = adds.get(key);
      if (a) { a.q += u.quantity; a.v += value; } else adds.set(key, { q: u.quantity, v: value });
    }
    return { prices, adds };
  }

  async usageSummary(p: Principal, period: string | undefined, tenantId?: string): Promise<Record<string, unknown>> {
    const m = period ?? monthOf(this.clock.nowMs());
    const scope = p.kind === 'tenant' ? p.tenantId : (tenantId ?? null);
    const rows = await this.repo.usageSummary(scope, monthStartMs(m), monthEndMs(m));
    return {
      period: m,
      usage: rows.map((r) => ({ tenantId: r.tenantId, type: r.type, model: r.model, events: r.events, quantity: r.quantity.toString(), unit: (USAGE_UNITS as Record<string, string>)[r.type] ?? 'GPU-s', quantityIsMicroUnits: true })),
    };
  }

  // ---------------------------------------------------------------- the lease meter

  /**
   * Meters the next batch of the cell's log (up to METER_BATCH events after the meter's cursor)
   * through `consumeLog`: the GPU time it implies is written and the cursor moved in one
   * transaction, under the cursor's row lock that every control plane's meter takes first.
   * `untilMs`: when caught up, also meter running leases up to min(then, each lease's end) (a
   * draft, a month's close), under the same lock. Returns whether more of the log is waiting.
   */
  async meterOnce(untilMs?: number): Promise<{ read: number; more: boolean }> {
    const source = `/cells/${this.o.cell}/meter`;
    const now = this.clock.nowMs();
    const r = await consumeLog(this.repo.db, { consumer: METER_CONSUMER, cell: this.o.cell, batch: METER_BATCH }, async (tx, log, more) => {
      const s = new BillingRepo(tx);
      const events = log.map(decodeLeaseEvent).filter((e): e is LeaseEvent => e !== null);
      const states = await s.meters([...new Set(events.map((e) => e.leaseId))]);
      const touched = new Map<string, MeterState>();
      const usage: MeteredUsage[] = [];
      for (const e of events) {
        const r = applyLeaseEvent(states.get(e.leaseId) ?? null, e);
        if (r.state) {
          states.set(e.leaseId, r.state);
          touched.set(e.leaseId, r.state);
        }
        usage.push(...r.usage);
      }
      await s.saveMeters([...touched.values()]);
      await s.insertMetered(usage, source, now);
      if (!more && untilMs !== undefined) {
        const runUsage: MeteredUsage[] = [];
        const next: MeterState[] = [];
        for (const st of await s.runningMeters(untilMs)) {
          const r = meterRunning(st, untilMs);
          if (r.usage.length === 0) continue;
          next.push(r.state);
          runUsage.push(...r.usage);
        }
        await s.saveMeters(next);
        await s.insertMetered(runUsage, source, now);
      }
    });
    return { read: r.read, more: r.more };
  }

  /** Meters the whole log (and running leases up to `untilMs`). */
  async meterCatchUp(untilMs?: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.meterOnce(untilMs);
      total += r.read;
      if (!r.more) return total;
    }
  }

  async meterCursor(): Promise<number> {
    return consumerCursor(this.repo.db, { consumer: METER_CONSUMER, cell: this.o.cell });
  }

  // ---------------------------------------------------------------- invoices

  private inForce(contracts: readonly Contract[], period: string): Contract[] {
    const a = monthStartMs(period);
    const b = monthEndMs(addMonths(period, 1));
    return contracts.filter((c) => overlapMs(c.startMs, c.endMs ?? Infinity, a, b) > 0 || (c.kind === 'credits' && c.terms.expiresAtMs > a && c.startMs < b));
  }

  /** Rates a tenant's month; `attachTo`: the invoice that takes the open usage (finalising), or null (a draft). */
  private async rate(s: BillingRepo, tenantId: string, period: string, attachTo: string | null, runningUntilMs?: number): Promise<{ lines: RatedLine[]; currency: Currency }> {
    const all = await s.contracts(tenantId);
    const currency = (all[0]?.currency ?? 'USD') as Currency;
    const left = await s.prepaidLeft(tenantId);
    const stored = await s.openUsage(tenantId, monthStartMs(period), monthEndMs(period), attachTo);
    const usage = runningUntilMs === undefined ? stored : withRunning(stored, await s.runningMetersOf(tenantId), runningUntilMs, monthStartMs(period));
    const lines = rateMonth({
      tenantId, currency, period, contracts: this.inForce(all, period), usage, reservedBilled: await s.reservedBilled(tenantId),
      prepaymentLeft: left, creditsLeft: left, slaMultiplierBps: this.sla, creditBalance: await s.creditBalance(tenantId),
    });
    assertBookable(tenantId, lines);
    return { lines, currency };
  }

  /**
   * Recomputes a tenant's draft for `period` from the usage so far and its running leases' time up
   * to now (valued, not written: the meter writes GPU time when a lease stops or a month closes),
   * so the draft follows the event log as far as the meter has read it. No-op once final. Cheap
   * when nothing changed: with no running lease and the same inputs as the last rating in this
   * process (BillingRepo.draftInputs), the stored draft is returned as it is.
   */
  async refreshDraft(tenantId: string, period: string): Promise<InvoiceRecord | null> {
    // No draft for a tenant that does not exist (an operator's `?tenantId=` typo): nothing to bill.
    if (tenantId === OWNER_TENANT_ID || !(await this.knownTenant(tenantId))) return null;
    const now = this.clock.nowMs();
    const key = `${tenantId}/${period}`;
    let ratedFrom: string | null = null;
    const out = await this.repo.tx(async (s) => {
      const inputs = await s.draftInputs(tenantId, monthEndMs(period));
      const contracts = await s.contracts(tenantId);
      const currency = (contracts[0]?.currency ?? 'USD') as Currency;
      const unchanged = inputs.running === 0 && this.draftRatedFrom.get(key) === inputs.fingerprint;
      if (unchanged) return (await s.monthlyInvoice(tenantId, period, currency, false)) ?? null;
      // Created if missing (ON CONFLICT DO NOTHING) and locked: two planes refreshing at once get one draft.
      const mine = newMonthlyDraft(newId('inv'), tenantId, period, currency, now);
      const inv = await s.lockMonthlyInvoice(mine);
      if (inv.status !== 'draft') return inv;
      const { lines } = await this.rate(s, tenantId, period, null, Math.min(now, monthEndMs(period)));
      // Remembered once this transaction commits (a rolled-back rating must not be skipped next time).
      ratedFrom = inputs.fingerprint;
      if (lines.length === 0 && inv.id === mine.id) {
        await s.deleteDraft(inv.id);
        return null;
      }
      await s.writeLines(inv.id, lines);
      const total = invoiceTotal(lines);
      await s.setDraftTotal(inv.id, total);
      return { ...inv, totalMicros: total };
    });
    if (ratedFrom !== null) this.draftRatedFrom.set(key, ratedFrom);
    return out;
  }

  /** Refreshes the drafts of every tenant with open usage or contracts (operator; also run periodically by `serve`). */
  async refreshDrafts(p: Principal, period?: string, tenantId?: string): Promise<{ period: string; drafts: number; failed?: { tenantId: string; detail: string }[] }> {
    requireAdmin(p);
    const m = period ?? monthOf(this.clock.nowMs());
    // The log only: running leases are valued to now by each draft, not written (refreshDraft).
    await this.meterCatchUp();
    let n = 0;
    // One tenant whose draft cannot be rated (usage it has no price for, a month past the books)
    // never stops the others: its draft keeps its last rating and the tenant's own reads say why.
    const failed: { tenantId: string; detail: string }[] = [];
    for (const t of tenantId ? [tenantId] : await this.draftTenants(m)) {
      try {
        if (await this.refreshDraft(t, m)) n++;
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        failed.push({ tenantId: t, detail: err.message });
      }
    }
    return { period: m, drafts: n, ...(failed.length ? { failed } : {}) };
  }

  /** Tenants a draft of `period` may bill: those with open usage or contracts in force, and those with a lease running now. */
  private async draftTenants(period: string): Promise<string[]> {
    const set = new Set([...await this.tenantsToBill(period), ...await this.repo.tenantsRunning()]);
    set.delete(OWNER_TENANT_ID);
    return [...set].sort();
  }

  private async tenantsToBill(period: string): Promise<string[]> {
    const set = new Set(await this.repo.tenantsWithOpenUsage(monthEndMs(period)));
    for (const c of this.inForce(await this.repo.contracts(null), period)) set.add(c.tenantId);
    set.delete(OWNER_TENANT_ID);
    return [...set].sort();
  }

  /** Finalises one tenant's month: usage taken, lines rated and frozen, journal posted, deferred revenue scheduled. */
  async finalizeMonth(tenantId: string, period: string): Promise<InvoiceRecord | null> {
    const now = this.clock.nowMs();
    const p1 = monthEndMs(period);
    // Read before the transaction: the tenant's name is tenancy's (another connection; PGlite has one).
    const billTo = await this.billTo(tenantId);
    return this.repo.tx(async (s) => {
      const contracts = await s.contracts(tenantId);
      const currency = (contracts[0]?.currency ?? 'USD') as Currency;
      const inv = await s.lockMonthlyInvoice(newMonthlyDraft(newId('inv'), tenantId, period, currency, now));
      if (inv.status !== 'draft') return inv;
      const { lines } = await this.rate(s, tenantId, period, inv.id);
      if (lines.length === 0) {
        await s.deleteDraft(inv.id);
        return null;
      }
      await s.writeLines(inv.id, lines);
      const total = invoiceTotal(lines);
      const number = await s.finalize(inv.id, total, now, period, billTo);
      // Dated at the end of the month it bills: a trial balance as of that instant includes it.
      await s.post(invoiceEntry({ id: inv.id, tenantId, currency, atMs: p1, number }, lines), newId('je'), now);
      const schedules: Schedule[] = lines.filter((l) => l.deferredTo !== null && l.amountMicros !== 0n).map((l) => ({
        id: newId('rs'), tenantId, currency, contractId: l.contractId, account: l.deferredTo!, amountMicros: l.amountMicros, recognizedMicros: 0n,
        serviceStartMs: l.serviceStartMs, serviceEndMs: l.serviceEndMs,
      }));
      await s.insertSchedules(schedules, inv.id);
      return { ...inv, status: 'final', number, totalMicros: total, finalizedAtMs: now };
    });
  }

  /**
   * Closes a month (operator): the log is caught up (due lease events written, then metered,
   * running leases metered to the month's end), every tenant's invoice finalised, internal GPU
   * time valued at the transfer price, and revenue recognised up to the month's end. Idempotent:
   * a second close finds the invoices final and changes nothing; two at once (two control
   * planes) give one close and the same answer.
   *
   * Tenants are independent: one whose month cannot be finalised (its transaction rolled back) is
   * named in `failed` with the reason, and the others, the internal transfer and the recognition
   * still run. A close with failures can be retried once the cause is fixed.
   */
  async closePeriod(p: Principal, period: string): Promise<{ period: string; invoices: Record<string, unknown>[]; failed: CloseFailure[] }> {
    requireAdmin(p);
    const p1 = monthEndMs(period);
    if (this.clock.nowMs() < p1) throw new DomainError('conflict', `period: ${period} has not ended yet (it ends ${new Date(p1).toISOString()})`, { field: 'period' });
    await this.o.catchUpLog?.();
    await this.meterCatchUp(p1);
    // Tenants are independent (one transaction each): a few at a time keep a PostgreSQL pool busy.
    const tenants = await this.tenantsToBill(period);
    const done: (InvoiceRecord | null)[] = new Array(tenants.length).fill(null);
    const failed: CloseFailure[] = [];
    let next = 0;
    // Each worker catches its own tenants' failures, so none rejects and all are awaited.
    await Promise.allSettled(Array.from({ length: CLOSE_CONCURRENCY }, async () => {
      while (next < tenants.length) {
        const k = next++;
        try {
          done[k] = await this.finalizeMonth(tenants[k]!, period);
        } catch (err) {
          if (!(err instanceof DomainError)) console.error(`billing: closing ${period} for tenant ${tenants[k]!} failed:`, err);
          failed.push({ tenantId: tenants[k]!, step: 'invoice', detail: errorDetail(err) });
        }
      }
    }));
    const out = done.filter((i): i is InvoiceRecord => i !== null).map(invoiceSummary);
    try {
      await this.internalTransfer(period);
    } catch (err) {
      failed.push({ tenantId: null, step: 'internal_transfer', detail: errorDetail(err) });
    }
    try {
      await this.recognize(p1);
    } catch (err) {
      failed.push({ tenantId: null, step: 'recognition', detail: errorDetail(err) });
    }
    failed.sort((a, b) => ((a.tenantId ?? '\uffff') < (b.tenantId ?? '\uffff') ? -1 : 1));
    return { period, invoices: out, failed };
  }

  /**
   * Internal GPU time of the month, valued at the transfer price: never invoiced, posted once for
   * finance. Once posted, later internal usage of the month stays open and is valued with the
   * next month's. Two closes at once: the one that posts second rolls back (its usage stays open).
   */
  private async internalTransfer(period: string): Promise<void> {
    const now = this.clock.nowMs();
    const ref = `${this.o.cell}:${period}`;
    try {
      await this.repo.tx(async (s) => {
        if ((await s.entryLines('internal_transfer', ref)).length > 0) return;
        const usage = await s.openUsage(OWNER_TENANT_ID, monthStartMs(period), monthEndMs(period), `internal:${ref}`);
        const gpuMicroS = usage.filter((u) => u.type === 'gpu.seconds').reduce((a, u) => a + u.quantity, 0n);
        const value = roundLine(gpuMicroS * this.transferPrice, 3_600_000_000n, 'USD');
        if (value > 0n && !(await s.post(internalTransferEntry({ ref, currency: 'USD', atMs: monthEndMs(period), amountMicros: value, memo: `internal GPU time ${period} at the transfer price` }), newId('je'), now))) {
          throw new AlreadyPosted();
        }
      });
    } catch (err) {
      if (!(err instanceof AlreadyPosted)) throw err;
    }
  }

  /**
   * Invoices, newest month first. A tenant's listing (or the operator's for one tenant) that can
   * show this month's draft first brings that draft up to date (refreshDraft: cheap when nothing
   * changed), so the row carries the same total as reading the draft or the Billing page's summary.
   */
  async listInvoices(p: Principal, f: { tenantId?: string | undefined; period?: string | undefined; status?: string | undefined; limit?: number | undefined; cursor?: string | undefined }): Promise<Page<Record<string, unknown>>> {
    const after = decodeCursor(f.cursor, ['string', 'string', 'ms', 'string']) as [string, string, number, string] | undefined;
    const tenant = p.kind === 'tenant' ? p.tenantId : f.tenantId;
    const month = monthOf(this.clock.nowMs());
    if (tenant !== undefined && tenant !== OWNER_TENANT_ID && (f.period === undefined || f.period === month) && (f.status === undefined || f.status === 'draft')) {
      await this.meterCatchUp();
      // A draft that cannot be rated now (usage with no price: a 409 when read) must not hide the tenant's other invoices.
      await this.refreshDraft(tenant, month).catch((err: unknown) => { if (!(err instanceof DomainError)) throw err; });
    }
    const limit = f.limit ?? PAGE_DEFAULT;
    const rows = await this.repo.invoices({ scope: p.kind === 'tenant' ? p.tenantId : null, tenantId: f.tenantId, period: f.period, status: f.status, limit: limit + 1, after });
    const r = pageOf(rows, limit, (i) => [i.period, i.tenantId, i.createdAtMs, i.id]);
    return { items: r.items.map(invoiceSummary), nextCursor: r.nextCursor };
  }

  /** One invoice with its lines, payments and credit notes; a draft is recomputed first. */
  async getInvoice(p: Principal, id: string): Promise<Record<string, unknown>> {
    const scope = p.kind === 'tenant' ? p.tenantId : null;
    let inv = await this.repo.invoice(id, scope);
    if (!inv) throw notFound('invoice', id);
    if (inv.status === 'draft' && inv.kind === 'monthly') {
      await this.meterCatchUp();
      inv = (await this.refreshDraft(inv.tenantId, inv.period)) ?? inv;
    }
    return this.invoiceDetail(inv);
  }

  /**
   * Who an invoice is addressed to and on what terms, now: frozen into it when it is finalised,
   * so a later change of the tenant's billing profile never rewrites an issued invoice.
   */
  private async billTo(tenantId: string): Promise<BillTo> {
    const [profile, name] = await Promise.all([this.repo.profile(tenantId), this.o.tenantName?.(tenantId)]);
    return {
      customer: {
        tenantId, name: profile?.legalName ?? name ?? tenantId, addressLines: profile?.addressLines ?? [], city: profile?.city ?? null,
        postalCode: profile?.postalCode ?? null, country: profile?.country ?? null, taxId: profile?.taxId ?? null,
      },
      seller: { name: this.o.sellerName ?? 'neocloud' },
      paymentTermsDays: profile?.paymentTermsDays ?? this.termsDays(),
    };
  }

  /** An invoice as the API shows it: its lines (with display quantities), payments, credit notes, addressee, issue and due dates. */
  private async invoiceDetail(inv: InvoiceRecord): Promise<Record<string, unknown>> {
    const id = inv.id;
    const [lines, payments, notes, current] = await Promise.all([
      this.repo.lines(id), this.repo.paymentsOf(id), this.repo.creditNotesOf(id), inv.billTo ? Promise.resolve(inv.billTo) : this.billTo(inv.tenantId),
    ]);
    const credited = notes.reduce((a, n) => a + n.amountMicros, 0n);
    const termsDays = current.paymentTermsDays;
    // Issued when finalised (a draft is not issued yet); due `termsDays` after issue.
    return {
      ...invoiceSummary(inv),
      // Never negative: a credit note past what was due went to the tenant's credit balance.
      dueMicros: (inv.status === 'void' || inv.totalMicros - inv.paidMicros - credited < 0n ? 0n : inv.totalMicros - inv.paidMicros - credited).toString(),
      issuedAt: isoOf(inv.finalizedAtMs), paymentTermsDays: termsDays, dueAt: inv.finalizedAtMs === null ? null : isoOf(inv.finalizedAtMs + termsDays * DAY_MS),
      customer: current.customer,
      seller: current.seller,
      lines: lines.map(lineView),
      payments: payments.map((x) => ({ id: x.id, amountMicros: x.amountMicros.toString(), receivedAt: isoOf(x.receivedAtMs), reference: x.reference })),
      creditNotes: notes.map((n) => ({ id: n.id, amountMicros: n.amountMicros.toString(), reason: n.reason, createdAt: isoOf(n.createdAtMs) })),
    };
  }

  private termsDays(): number {
    return this.o.paymentTermsDays ?? DEFAULT_PAYMENT_TERMS_DAYS;
  }

  /**
   * What a tenant's Billing page shows, in one answer so every figure on it is the same number:
   * the month's draft brought up to date (refreshDraft), spend to date (that draft's total, the
   * same field its row in `invoices` carries), usage this month (its usage lines), and what final
   * invoices leave due (total − paid − credit notes). A tenant sees its own; the operator names one.
   */
  async billingSummary(p: Principal, tenantId?: string): Promise<Record<string, unknown>> {
    const tenant = p.kind === 'tenant' ? p.tenantId : tenantId;
    if (tenant === undefined) throw invalid('tenantId', 'is required for the operator');
    const now = this.clock.nowMs();
    const period = monthOf(now);
    await this.meterCatchUp();
    // A draft that cannot be rated now (usage with no price) leaves the last rated one, and says why.
    let draftError: string | null = null;
    const draftRec = await this.refreshDraft(tenant, period).catch(async (err: unknown) => {
      if (!(err instanceof DomainError)) throw err;
      draftError = err.message;
      const cur = (await this.repo.contracts(tenant))[0]?.currency ?? 'USD';
      return (await this.repo.monthlyInvoice(tenant, period, cur, false)) ?? null;
    });
    const draft = draftRec && draftRec.status === 'draft' ? await this.invoiceDetail(draftRec) : null;
    const invoices = (await this.repo.invoices({ scope: tenant, limit: 1000 })).map((i) => (draft && i.id === draft['id'] ? invoiceSummary(draftRec!) : invoiceSummary(i)));
    const contracts = await this.repo.contracts(tenant);
    const currency = draftRec?.currency ?? contracts[0]?.currency ?? 'USD';
    const month = draftRec ?? (await this.repo.monthlyInvoice(tenant, period, currency, false)) ?? null;
    const usage = draft ? (draft['lines'] as { kind: string; amountMicros: string }[]).filter((l) => l.kind === 'usage').reduce((a, l) => a + BigInt(l.amountMicros), 0n) : 0n;
    const due = await this.repo.dueOnFinal(tenant);
    return {
      tenantId: tenant, period, asOf: new Date(now).toISOString(), currency,
      spendToDateMicros: (month && month.status !== 'void' ? month.totalMicros : 0n).toString(),
      spendToDateInvoiceId: month?.id ?? null,
      usageMicros: usage.toString(), dueMicros: (due.get(currency) ?? 0n).toString(),
      draft, draftError, invoices,
    };
  }

  /**
   * Accrued, not yet invoiced: every draft of the month (brought up to date first) summed per
   * currency and revenue account (`revenue:on-demand:H100-SXM`), from the drafts' usage lines
   * (operator). The Revenue page shows these beside recognised revenue.
   */
  async accrued(p: Principal, period?: string): Promise<Record<string, unknown>> {
    requireAdmin(p);
    const m = period ?? monthOf(this.clock.nowMs());
    await this.refreshDrafts(p, m);
    const rows = await this.repo.draftUsageByAccount(m);
    const byCur = new Map<string, typeof rows>();
    for (const r of rows) byCur.set(r.currency, [...(byCur.get(r.currency) ?? []), r]);
    return {
      period: m, asOf: new Date(this.clock.nowMs()).toISOString(),
      currencies: [...byCur].map(([currency, accts]) => ({
        currency, totalMicros: accts.reduce((a, x) => a + x.amountMicros, 0n).toString(),
        accounts: accts.map((a) => {
          const [, cls = '', ...model] = a.account.split(':');
          return { account: a.account, class: cls, model: model.join(':') || null, amountMicros: a.amountMicros.toString(), tenants: a.tenants };
        }),
      })),
    };
  }

  // ---------------------------------------------------------------- billing profiles

  private profileView(tenantId: string, name: string, b: BillingProfile | undefined): BillingProfileViewT {
    return {
      tenantId, tenantName: name, legalName: b?.legalName ?? null, addressLines: b?.addressLines ?? [], city: b?.city ?? null, postalCode: b?.postalCode ?? null,
      country: b?.country ?? null, taxId: b?.taxId ?? null, paymentTermsDays: b?.paymentTermsDays ?? this.termsDays(), updatedAt: isoOf(b?.updatedAtMs ?? null),
    };
  }

  /** A tenant's billing profile (the operator, or the tenant itself). */
  async getProfile(p: Principal, tenantId: string): Promise<BillingProfileViewT> {
    if (p.kind === 'tenant' && p.tenantId !== tenantId) throw notFound('tenant', tenantId);
    const name = await this.o.tenantName?.(tenantId);
    if (name === undefined || tenantId === OWNER_TENANT_ID) throw notFound('tenant', tenantId);
    return this.profileView(tenantId, name, await this.repo.profile(tenantId));
  }

  /** Sets fields of a tenant's billing profile (operator): the fields given replace the stored ones, `null` clears one. */
  async setProfile(p: Principal, tenantId: string, body: BillingProfileBody, idem?: IdempotencyContext): Promise<BillingProfileViewT> {
    requireAdmin(p);
    const name = await this.o.tenantName?.(tenantId);
    if (name === undefined || tenantId === OWNER_TENANT_ID) throw notFound('tenant', tenantId);
    const now = this.clock.nowMs();
    return this.repo.tx(async (s) => {
      const cur = await s.profile(tenantId, true);
      const pick = <K extends keyof BillingProfileBody>(k: K, fallback: NonNullable<BillingProfileBody[K]> | null): BillingProfileBody[K] | null =>
        (body[k] === undefined ? fallback : body[k]) as BillingProfileBody[K] | null;
      const next: BillingProfile = {
        tenantId, legalName: pick('legalName', cur?.legalName ?? null) ?? null, addressLines: body.addressLines ?? cur?.addressLines ?? [],
        city: pick('city', cur?.city ?? null) ?? null, postalCode: pick('postalCode', cur?.postalCode ?? null) ?? null,
        country: pick('country', cur?.country ?? null) ?? null, taxId: pick('taxId', cur?.taxId ?? null) ?? null,
        paymentTermsDays: pick('paymentTermsDays', cur?.paymentTermsDays ?? null) ?? null, updatedAtMs: now,
      };
      await s.saveProfile(next);
      const v = this.profileView(tenantId, name, next);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 200, body: v }, now);
      return v;
    });
  }

  async invoiceHtml(p: Principal, id: string): Promise<string> {
    return renderInvoiceHtml(await this.getInvoice(p, id));
  }

  private async payable(s: BillingRepo, id: string): Promise<{ inv: InvoiceRecord; credited: bigint }> {
    const inv = await s.lockInvoice(id);
    if (!inv) throw notFound('invoice', id);
    const credited = (await s.creditNotesOf(id)).reduce((a, n) => a + n.amountMicros, 0n);
    return { inv, credited };
  }

  /** Records a payment against a final invoice (operator); fully paid → `paid`. */
  async pay(p: Principal, id: string, body: { amountMicros: string; reference?: string | undefined }, idem?: IdempotencyContext): Promise<Record<string, unknown>> {
    requireAdmin(p);
    const amount = BigInt(body.amountMicros);
    if (amount <= 0n) throw invalid('amountMicros', 'must be positive');
    const now = this.clock.nowMs();
    await this.repo.tx(async (s) => {
      const { inv, credited } = await this.payable(s, id);
      if (inv.status !== 'final') throw new DomainError('conflict', `invoice ${id} is ${inv.status}; payments are recorded against final invoices`);
      const due = inv.totalMicros - inv.paidMicros - credited;
      if (amount > due) throw invalid('amountMicros', `is more than the ${due} µ due`);
      wholeMinor('amountMicros', amount, inv.currency);
      const pid = newId('pay');
      await s.insertPayment({ id: pid, invoiceId: id, tenantId: inv.tenantId, amountMicros: amount, atMs: now, reference: body.reference ?? null });
      await s.post(paymentEntry({ id: pid, tenantId: inv.tenantId, currency: inv.currency, atMs: now, amountMicros: amount, invoiceNumber: inv.number ?? id }), newId('je'), now);
      await s.setPaid(id, inv.paidMicros + amount, amount === due ? 'paid' : 'final', now);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 200, body: { invoiceId: id, paymentId: pid } }, now);
    });
    return this.getInvoice(p, id);
  }

  /** Voids an unpaid final invoice (operator): its entry and recognised revenue reversed. */
  async voidInvoice(p: Principal, id: string, idem?: IdempotencyContext): Promise<Record<string, unknown>> {
    requireAdmin(p);
    const now = this.clock.nowMs();
    await this.repo.tx(async (s) => {
      const { inv, credited } = await this.payable(s, id);
      if (inv.status !== 'final' || inv.paidMicros !== 0n || credited !== 0n) throw new DomainError('conflict', `invoice ${id} is ${inv.status}${inv.paidMicros ? ' and partly paid' : ''}${credited ? ' and credited' : ''}; only an unpaid, uncredited final invoice can be voided (else issue a credit note)`);
      const posted = await s.entryLines('invoice', id);
      const schedules = await s.schedulesOf(id);
      await s.post(voidEntry({ id, tenantId: inv.tenantId, currency: inv.currency, atMs: now, number: inv.number ?? id }, posted, schedules), newId('je'), now);
      for (const sc of schedules) await s.setRecognized(sc.id, 0n, 0n);
      await s.setVoid(id, now);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 200, body: { invoiceId: id, status: 'void' } }, now);
    });
    return this.getInvoice(p, id);
  }

  /** A credit note against a final or paid invoice (operator): the correction, since the invoice itself cannot change. */
  async creditNote(p: Principal, id: string, body: { amountMicros: string; reason: string }, idem?: IdempotencyContext): Promise<Record<string, unknown>> {
    requireAdmin(p);
    const amount = BigInt(body.amountMicros);
    if (amount <= 0n) throw invalid('amountMicros', 'must be positive');
    const now = this.clock.nowMs();
    await this.repo.tx(async (s) => {
      const { inv, credited } = await this.payable(s, id);
      if (inv.status !== 'final' && inv.status !== 'paid') throw new DomainError('conflict', `invoice ${id} is ${inv.status}; credit notes are issued against final or paid invoices`);
      if (amount > inv.totalMicros - credited) throw invalid('amountMicros', `is more than the ${inv.totalMicros - credited} µ not yet credited`);
      wholeMinor('amountMicros', amount, inv.currency);
      // What the invoice still asks for is credited against it; the rest (an invoice already paid)
      // is owed to the customer: a credit balance the next invoice applies (never a negative due).
      const due = inv.totalMicros - inv.paidMicros - credited;
      const toBalance = amount > due ? amount - (due > 0n ? due : 0n) : 0n;
      const cid = newId('cn');
      await s.insertCreditNote({ id: cid, invoiceId: id, tenantId: inv.tenantId, amountMicros: amount, atMs: now, reason: body.reason });
      await s.post(creditNoteEntry({ id: cid, tenantId: inv.tenantId, currency: inv.currency, atMs: now, amountMicros: amount, toBalanceMicros: toBalance, invoiceNumber: inv.number ?? id }), newId('je'), now);
      if (idem) await s.saveIdempotent(idem.principal, idem.key, { requestHash: idem.requestHash, statusCode: 201, body: { invoiceId: id, creditNoteId: cid } }, now);
    });
    return this.getInvoice(p, id);
  }

  // ---------------------------------------------------------------- ledger

  /** Recognises deferred revenue ratably up to `asOfMs` (each schedule's delta posted once, with its progress). */
  async recognize(asOfMs: number): Promise<number> {
    const now = this.clock.nowMs();
    let posted = 0;
    let after = '';
    for (;;) {
      const { n, last } = await this.repo.tx(async (s) => {
        const open = await s.openSchedules(asOfMs, after, 500);
        let k = 0;
        for (const sc of open) {
          const e = recognitionEntry(sc, asOfMs);
          if (!e) continue;
          const target = sc.recognizedMicros + e.lines[0]!.amountMicros;
          if (await s.post(e, newId('je'), now)) {
            await s.setRecognized(sc.id, target);
            k++;
          }
        }
        return { n: k, last: open.length === 500 ? open[open.length - 1]!.id : null };
      });
      posted += n;
      if (last === null) return posted;
      after = last;
    }
  }

  async recognizeNow(p: Principal, asOf?: string): Promise<{ asOf: string; entries: number }> {
    requireAdmin(p);
    const ms = asOf === undefined ? this.clock.nowMs() : parseTime('asOf', asOf);
    if (ms > this.clock.nowMs()) throw invalid('asOf', 'must not be in the future');
    return { asOf: new Date(ms).toISOString(), entries: await this.recognize(ms) };
  }

  /** Balances of every account as of a date, per currency (operator). Debits positive; each currency's total is zero. */
  async trialBalance(p: Principal, asOf?: string, tenantId?: string): Promise<Record<string, unknown>> {
    requireAdmin(p);
    const ms = asOf === undefined ? this.clock.nowMs() : parseTime('asOf', asOf);
    const rows = await this.repo.balances(ms, tenantId);
    const byCur = new Map<string, { account: string; balanceMicros: bigint }[]>();
    for (const r of rows) byCur.set(r.currency, [...(byCur.get(r.currency) ?? []), r]);
    return {
      asOf: new Date(ms).toISOString(), tenantId: tenantId ?? null,
      currencies: [...byCur].map(([currency, accts]) => {
        const debits = accts.filter((a) => a.balanceMicros > 0n).reduce((x, a) => x + a.balanceMicros, 0n);
        const credits = -accts.filter((a) => a.balanceMicros < 0n).reduce((x, a) => x + a.balanceMicros, 0n);
        return {
          currency, debitsMicros: debits.toString(), creditsMicros: credits.toString(), balanced: debits === credits,
          accounts: accts.map((a) => ({ account: a.account, debitMicros: (a.balanceMicros > 0n ? a.balanceMicros : 0n).toString(), creditMicros: (a.balanceMicros < 0n ? -a.balanceMicros : 0n).toString() })),
        };
      }),
    };
  }

  async journal(p: Principal, f: { tenantId?: string | undefined; kind?: string | undefined; limit?: number | undefined }): Promise<Record<string, unknown>[]> {
    requireAdmin(p);
    return (await this.repo.entries({ limit: f.limit ?? 100, tenantId: f.tenantId, kind: f.kind })).map((e) => ({
      id: e.id, kind: e.kind, ref: e.ref, tenantId: e.tenantId, currency: e.currency, effectiveAt: isoOf(e.effectiveAtMs), memo: e.memo,
      lines: e.lines.map((l) => ({ account: l.account, amountMicros: l.amountMicros.toString(), contractId: l.contractId })),
    }));
  }

  // ---------------------------------------------------------------- backlog

  /** Remaining performance obligations as of a date: per contract, per tenant and in total (per currency). */
  async backlog(p: Principal, asOf?: string, tenantId?: string): Promise<Record<string, unknown>> {
    const ms = asOf === undefined ? this.clock.nowMs() : parseTime('asOf', asOf);
    const scope = p.kind === 'tenant' ? p.tenantId : (tenantId ?? null);
    const rows = backlogOf(await this.repo.contracts(scope), ms, await this.repo.prepaidLeft(scope));
    const sum = (key: string, list: typeof rows): Record<string, string>[] => {
      const m = new Map<string, { remaining: bigint; top: bigint; within: bigint; beyond: bigint; currency: string; key: string }>();
      for (const r of list) {
        const k = `${key === 'tenant' ? r.tenantId : ''}/${r.currency}`;
        const a = m.get(k) ?? { remaining: 0n, top: 0n, within: 0n, beyond: 0n, currency: r.currency, key: r.tenantId };
        a.remaining += r.remainingMicros; a.top += r.takeOrPayMicros; a.within += r.within12MonthsMicros; a.beyond += r.beyond12MonthsMicros;
        m.set(k, a);
      }
      return [...m.values()].map((a) => ({
        ...(key === 'tenant' ? { tenantId: a.key } : {}), currency: a.currency, remainingMicros: a.remaining.toString(), takeOrPayMicros: a.top.toString(),
        within12MonthsMicros: a.within.toString(), beyond12MonthsMicros: a.beyond.toString(),
      }));
    };
    return {
      asOf: new Date(ms).toISOString(),
      totals: sum('total', rows),
      byTenant: sum('tenant', rows),
      contracts: rows.map((r) => ({
        contractId: r.contractId, tenantId: r.tenantId, kind: r.kind, currency: r.currency, remainingMicros: r.remainingMicros.toString(), takeOrPayMicros: r.takeOrPayMicros.toString(),
        within12MonthsMicros: r.within12MonthsMicros.toString(), beyond12MonthsMicros: r.beyond12MonthsMicros.toString(),
      })),
    };
  }
}

const usageKey = (tenantId: string, period: string, type: string, model: string | null): string => `${tenantId}\u0000${period}\u0000${type}\u0000${model ?? ''}`;

function newMonthlyDraft(id: string, tenantId: string, period: string, currency: Currency, now: number): InvoiceRecord {
  return { id, tenantId, kind: 'monthly', period, currency, status: 'draft', number: null, totalMicros: 0n, paidMicros: 0n, createdAtMs: now, finalizedAtMs: null, closedAtMs: null, contractId: null };
}

/**
 * The refusal of a batch that would pass a running total's limit, naming the first event at which
 * it does: the total before the batch is the one after it less the batch's share of that key (an
 * event already stored, a duplicate, counted in the share makes this a little early, never wrong
 * about which total).
 */
function overLimit(rows: readonly UsageRow[], prices: ReadonlyMap<string, UsagePrice>, t: UsageTotal): DomainError {
  const month = t.type === '*';
  const seen = new Set<string>();
  const mine: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const u = rows[i]!;
    const k = `${u.source}\u0000${u.id}`;
    if (seen.has(k) || u.tenantId !== t.tenantId || monthOf(u.timeMs) !== t.period) continue;
    if (!month && (u.type !== t.type || (u.model ?? null) !== t.model)) continue;
    seen.add(k);
    mine.push(i);
  }
  const valueOf = (u: UsageRow): bigint => {
    const p = prices.get(usageKey(u.tenantId, t.period, u.type, u.model))!;
    return ceilDiv(u.quantity * p.priceMicros, p.perMicroUnits);
  };
  const share = mine.reduce((a, i) => a + (month ? valueOf(rows[i]!) : rows[i]!.quantity), 0n);
  let run = (month ? t.valueMicros : t.quantityMicros) - share;
  const limit = month ? MAX_MONTH_USAGE_VALUE_MICROS : MAX_LINE_QUANTITY_MICROS;
  let at = mine[mine.length - 1] ?? 0;
  for (const i of mine) {
    run += month ? valueOf(rows[i]!) : rows[i]!.quantity;
    if (run > limit) { at = i; break; }
  }
  const what = month
    ? `the value of tenant ${t.tenantId}'s usage in ${t.period} would reach ${t.valueMicros} µ, more than the ${limit} µ one month may hold`
    : `tenant ${t.tenantId}'s ${t.type}${t.model === null ? '' : ` of ${t.model}`} in ${t.period} would reach ${t.quantityMicros} micro-units, more than the ${limit} one invoice line may hold`;
  return invalid(`events[${at}].data.quantity`, `${what}; the batch is refused`);
}
