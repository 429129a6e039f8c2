/**
 * The rate card: what a GPU-hour, a token or a gigabyte costs a tenant. Leasing (quote, lease,
 * preemption's victim weights), billing (invoice lines, usage admission), the console and the CLI
 * all ask this module; none computes a price of its own (docs/decisions.md, "Issue 18: one rate
 * card"). Pure: no database, no clock — a tenant's terms are handed in (billing turns its
 * contracts into `TenantTerms`; see billing's `tenantTerms()`).
 *
 * The GPU-hour rule, for a lease of class C on model M booked over [start, end):
 * - internal: the list price (the owner's own work; never invoiced);
 * - reserved: 0 when the tenant's reserved terms for M that span the whole window have GPUs left
 *   for it (their GPU count, less those of its reserved leases they already cover over the
 *   window); the term's fee is billed on its own, take-or-pay; else the list price;
 * - on-demand and spot: the tenant's negotiated price for M in its C contract, else the list
 *   price less the contract's discount (`roundUnitPrice`).
 * List prices are the fleet's price book (USD). A tenant billed in another currency needs a
 * negotiated price for what it books: the rate card has no exchange rates to invent one with,
 * so such a request is refused, naming the model and class.
 *
 * A lease keeps the price it was booked at (the quote is a promise): a contract signed later
 * prices later leases. The invoice bills the lease's price, so quote, lease view and invoice agree.
 */
import type { GpuModelId, PriceEntry } from '../fleet/index.js';
import { GPU_CATALOG } from '../fleet/index.js';
import { DomainError } from '../shared/errors.js';
import { BPS, gpuTimeCharge, MAX_MICROS, MICRO, roundUnitPrice, type Currency } from './money.js';

export type PricedClass = 'reserved' | 'on-demand' | 'spot' | 'internal';

/** An on-demand or spot contract's GPU terms. */
export interface GpuRateTerms {
  contractId: string;
  discountBps: number;
  /** Negotiated prices per GPU model, micros of the tenant's currency per GPU-hour. */
  pricesMicrosPerGpuHour: Readonly<Record<string, bigint>>;
  /** Other meters' prices per unit (GB-hour, GB), micros. */
  rates: Readonly<Partial<Record<'storage.gb_hours' | 'egress.gb', bigint>>>;
}

export interface ReservedTerm {
  contractId: string;
  gpuModel: string;
  gpuCount: number;
  startMs: number;
  endMs: number;
  priceMicrosPerGpuHour: bigint;
}

export interface TokenPrice { contractId: string; inputMicrosPerMillion: bigint; outputMicrosPerMillion: bigint }

/** What one tenant has agreed to, in force at the moment asked about. */
export interface TenantTerms {
  currency: Currency;
  onDemand: GpuRateTerms | null;
  spot: GpuRateTerms | null;
  reserved: readonly ReservedTerm[];
  /** Per model id. */
  tokens: Readonly<Record<string, TokenPrice>>;
  /**
   * GPUs of this tenant's reserved leases already covered by its terms (booked at 0) that overlap
   * the window being priced, per model (the lease service counts them for a reserved request).
   * Without it a term is assumed unused.
   */
  reservedInUse?: Readonly<Record<string, number>>;
}

/** A tenant with no contract: list prices, in USD. */
export const LIST_TERMS: TenantTerms = Object.freeze({ currency: 'USD', onDemand: null, spot: null, reserved: [], tokens: {} });

export type PriceBasis = 'list' | 'discount' | 'negotiated' | 'reserved-term';

export interface GpuPrice {
  priceMicrosPerGpuHour: bigint;
  currency: Currency;
  basis: PriceBasis;
  /** The contract the price comes from (null: the list). */
  contractId: string | null;
}

/** What a quote is asked for: a class of GPU time on a model, in a region, for a window. */
export interface QuoteRequest {
  gpuModel: GpuModelId;
  leaseClass: PricedClass;
  region: string | null;
  gpuCount: number;
  startMs: number;
  /** End of the billed window (a backfilled lease is billed to its preemption, not its booked end). */
  endMs: number;
}

export interface Quote extends GpuPrice {
  /** The window's GPU time at that price, rounded as the invoices will (`gpuTimeCharge`). */
  totalMicros: bigint;
  /** The price in USD micros, to weigh leases of different currencies against each other (preemption). */
  weightMicrosPerGpuHour: bigint;
}

/**
 * Where lease prices come from. The engine asks a Quoter and never computes a price itself; the
 * lease service hands it the requesting tenant's (`RateCard.forTenant`).
 */
export interface Quoter {
  quote(q: QuoteRequest): Quote;
}

/**
 * Reference USD value of one unit of each currency, micros: only to rank leases priced in
 * different currencies (preemption weighs victims by what they pay); never used to bill.
 */
export const REFERENCE_USD_MICROS: Record<Currency, bigint> = { USD: MICRO, JPY: 6_700n };

/** A price in USD micros for weighing (`REFERENCE_USD_MICROS`), rounded half-even to the micro. */
export function weightMicros(priceMicros: bigint, currency: Currency): bigint {
  return currency === 'USD' ? priceMicros : roundUnitPrice(priceMicros * REFERENCE_USD_MICROS[currency], MICRO);
}

/** The fleet's list prices per model and class (USD), falling back to the catalog's. */
export class PriceBook {
  private readonly byKey = new Map<string, bigint>();
  constructor(entries: readonly PriceEntry[]) {
    for (const e of entries) this.byKey.set(`${e.gpuModel}/${e.leaseClass}`, BigInt(e.priceMicrosPerGpuHour));
  }
  /** The list price in USD micros per GPU-hour. Regions share one list today (docs/decisions.md). */
  listMicrosPerGpuHour(model: GpuModelId, leaseClass: PricedClass, _region: string | null = null): bigint {
    return this.byKey.get(`${model}/${leaseClass}`) ?? BigInt(GPU_CATALOG[model].listPriceMicrosPerGpuHour[leaseClass]);
  }
}

const noPrice = (terms: TenantTerms, model: string, cls: string): DomainError =>
  new DomainError('conflict', `gpuModel: the tenant is billed in ${terms.currency} and has no ${cls} price for ${model} in its contracts (list prices are in USD); ask the operator for a ${terms.currency} price`, { field: 'gpuModel' });

export class RateCard {
  constructor(readonly book: PriceBook) {}

  /** A tenant's price per GPU-hour for a lease (the rule at the top of this file). */
  gpuPrice(terms: TenantTerms, q: Omit<QuoteRequest, 'endMs'> & { endMs: number }): GpuPrice {
    const cur = terms.currency;
    const list = (): GpuPrice => {
      if (cur !== 'USD') throw noPrice(terms, q.gpuModel, q.leaseClass);
      return { priceMicrosPerGpuHour: this.book.listMicrosPerGpuHour(q.gpuModel, q.leaseClass, q.region), currency: 'USD', basis: 'list', contractId: null };
    };
    if (q.leaseClass === 'internal') return { priceMicrosPerGpuHour: this.book.listMicrosPerGpuHour(q.gpuModel, 'internal', q.region), currency: 'USD', basis: 'list', contractId: null };
    if (q.leaseClass === 'reserved') {
      // Terms spanning the whole window cover, together, their GPUs; leases they already cover
      // over any part of the window use them up (a term of 8 GPUs covers 8 at a time, not 8 per lease).
      const spanning = terms.reserved.filter((t) => t.gpuModel === q.gpuModel && t.startMs <= q.startMs && q.endMs <= t.endMs);
      const capacity = spanning.reduce((a, t) => a + t.gpuCount, 0);
      const inUse = terms.reservedInUse?.[q.gpuModel] ?? 0;
      if (spanning.length > 0 && inUse + q.gpuCount <= capacity) return { priceMicrosPerGpuHour: 0n, currency: cur, basis: 'reserved-term', contractId: spanning[0]!.contractId };
      return list();
    }
    const rc = q.leaseClass === 'spot' ? terms.spot : terms.onDemand;
    const negotiated = rc?.pricesMicrosPerGpuHour[q.gpuModel];
    if (rc && negotiated !== undefined) return { priceMicrosPerGpuHour: negotiated, currency: cur, basis: 'negotiated', contractId: rc.contractId };
    const l = list();
    if (!rc || rc.discountBps === 0) return l;
    return { priceMicrosPerGpuHour: roundUnitPrice(l.priceMicrosPerGpuHour * (BPS - BigInt(rc.discountBps)), BPS), currency: cur, basis: 'discount', contractId: rc.contractId };
  }

  /** A priced quote for a window: the price, and its total rounded as the invoices round it. */
  quote(terms: TenantTerms, q: QuoteRequest): Quote {
    return priced(this.gpuPrice(terms, q), q.gpuCount, q.startMs, q.endMs);
  }

  /** The quoter the engine uses for one tenant's request. */
  forTenant(terms: TenantTerms): Quoter {
    return { quote: (q) => this.quote(terms, q) };
  }

  /** The unit price of a metered usage for a tenant (`usagePrice`). */
  usagePrice(terms: TenantTerms, type: string, model: string | null): UsagePrice | null {
    return usagePrice(terms, type, model);
  }
}

export interface UsagePrice {
  /** Micros of the tenant's currency per `perMicroUnits` micro-units of the usage's quantity. */
  unitPriceMicros: bigint;
  /** Tokens are priced per million (10^12 micro-tokens); storage (GB-hour) and egress (GB) per unit (10^6). */
  perMicroUnits: bigint;
  contractId: string;
}

/**
 * The unit price of a metered usage for a tenant, or null when the tenant has none: usage the
 * platform cannot bill is refused when it arrives. Tokens: the tenant's token price for the model
 * (the first tokens contract that prices it); storage and egress: its on-demand contract's rates.
 */
export function usagePrice(terms: TenantTerms, type: string, model: string | null): UsagePrice | null {
  if (type === 'tokens.input' || type === 'tokens.output') {
    const p = model === null ? undefined : terms.tokens[model];
    if (!p) return null;
    return { unitPriceMicros: type === 'tokens.input' ? p.inputMicrosPerMillion : p.outputMicrosPerMillion, perMicroUnits: MICRO * MICRO, contractId: p.contractId };
  }
  if (type === 'storage.gb_hours' || type === 'egress.gb') {
    const r = terms.onDemand?.rates[type];
    return r === undefined || !terms.onDemand ? null : { unitPriceMicros: r, perMicroUnits: MICRO, contractId: terms.onDemand.contractId };
  }
  return null;
}

/** A price made into a quote for `gpuCount` GPUs over [startMs, endMs). An amount past the books is a 400 naming `gpuCount`. */
export function priced(p: GpuPrice, gpuCount: number, startMs: number, endMs: number): Quote {
  let totalMicros: bigint;
  try {
    totalMicros = gpuTimeCharge(p.priceMicrosPerGpuHour, gpuCount, startMs, Math.max(startMs, endMs), p.currency);
  } catch {
    throw new DomainError('validation', `gpuCount: price × GPUs × hours is more than one lease can be billed (${MAX_MICROS} µ); book fewer GPUs or a shorter window`, { field: 'gpuCount' });
  }
  return { ...p, totalMicros, weightMicrosPerGpuHour: weightMicros(p.priceMicrosPerGpuHour, p.currency) };
}

/** Today's quoter for a tenant with no contract (the simulator, benches): list prices in USD. */
export class PriceBookQuoter implements Quoter {
  private readonly card: RateCard;
  constructor(book: PriceBook) {
    this.card = new RateCard(book);
  }
  quote(q: QuoteRequest): Quote {
    return this.card.quote(LIST_TERMS, q);
  }
}
