/**
 * Billing's domain values: contracts and their terms, usage, rated invoice lines. Plain data,
 * no storage. Money is `bigint` micros of the contract's currency; on the wire a decimal string.
 */
import type { Currency } from './money.js';

export const CONTRACT_KINDS = ['reserved', 'on-demand', 'spot', 'commitment', 'credits', 'tokens'] as const;
export type ContractKind = (typeof CONTRACT_KINDS)[number];

/** GPU time bought for a term, take-or-pay: billed monthly in advance whether used or not. */
export interface ReservedTerms {
  gpuModel: string;
  gpuCount: number;
  priceMicrosPerGpuHour: bigint;
  /** Share of the term's value invoiced at signing, in basis points (0–10,000), then drawn down month by month. */
  prepaymentBps: number;
}

/** On-demand or spot: the lease's own price (the price book) less a discount, or a negotiated price per GPU model. */
export interface RateTerms {
  discountBps: number;
  /** Price per GPU-hour per model; required for a currency the price book (USD) is not in. */
  pricesMicrosPerGpuHour: Record<string, bigint>;
  /** Prices of the other meters, per unit (GB-hour, GB). */
  rates: Partial<Record<'storage.gb_hours' | 'egress.gb', bigint>>;
}

/** A minimum spend per calendar month; a shortfall is billed as a true-up at the month's end. */
export interface CommitmentTerms { minimumMicrosPerMonth: bigint }

/** Prepaid credits: invoiced at signing, drawn down by later invoices, unusable after `expiresAt`. */
export interface CreditTerms { amountMicros: bigint; expiresAtMs: number }

/** Prices per million tokens, per model (for the model gateway). */
export interface TokenTerms { prices: Record<string, { inputMicrosPerMillion: bigint; outputMicrosPerMillion: bigint }> }

export type ContractTerms =
  | { kind: 'reserved'; terms: ReservedTerms }
  | { kind: 'on-demand' | 'spot'; terms: RateTerms }
  | { kind: 'commitment'; terms: CommitmentTerms }
  | { kind: 'credits'; terms: CreditTerms }
  | { kind: 'tokens'; terms: TokenTerms };

export type Contract = ContractTerms & {
  id: string;
  version: number;
  tenantId: string;
  currency: Currency;
  startMs: number;
  /** Null: open-ended (on-demand, spot, tokens). */
  endMs: number | null;
  createdAtMs: number;
};

/** Usage types and the unit their quantity is in. */
export const USAGE_UNITS = {
  'gpu.seconds': 'GPU-s',
  'tokens.input': 'tokens',
  'tokens.output': 'tokens',
  'storage.gb_hours': 'GB-h',
  'egress.gb': 'GB',
} as const;
export type UsageType = keyof typeof USAGE_UNITS;
export const USAGE_TYPES = Object.keys(USAGE_UNITS) as UsageType[];
/** Lost GPU time of a non-preemptible lease, written by the lease meter only; rated as an SLA credit. */
export const SLA_LOST_TYPE = 'sla.gpu_seconds_lost';

/** Usage summed for rating: one row per (type, model, class, price, lease, late). Quantity in micro-units. */
export interface UsageSum {
  type: UsageType | typeof SLA_LOST_TYPE;
  model: string | null;
  leaseClass: string | null;
  priceMicros: bigint | null;
  leaseId: string | null;
  /** The event's time is before the period: a late event whose own period is already invoiced. */
  late: boolean;
  /** For late usage: the month (`YYYY-MM`, UTC) its events are of; late sums are grouped by it. Null when not late. */
  lateMonth: string | null;
  quantity: bigint;
}

/**
 * `credit_balance`: what negative lines (SLA credits) left over after the month's charges, carried
 * to the next invoice (the invoice's total is then 0, never negative); `credit_balance_applied`:
 * a carried balance drawn by a later invoice.
 */
export const LINE_KINDS = [
  'usage', 'late_usage', 'reserved', 'prepayment', 'prepayment_applied', 'commitment_true_up', 'credits', 'credits_applied', 'sla_credit',
  'credit_balance', 'credit_balance_applied',
] as const;
export type LineKind = (typeof LINE_KINDS)[number];

/** A rated invoice line. `amountMicros` is already rounded (half-even, to the minor unit). */
export interface RatedLine {
  kind: LineKind;
  description: string;
  contractId: string | null;
  meter: string | null;
  model: string | null;
  quantity: bigint;
  unit: string;
  unitPriceMicros: bigint;
  amountMicros: bigint;
  /** The ledger account the line credits (a negative line debits it). */
  account: string;
  serviceStartMs: number;
  serviceEndMs: number;
  leaseIds: string[];
  /** Recognised ratably over the service period (the account is deferred revenue; `revenueAccount` receives it). */
  deferredTo: string | null;
}

/** Ledger accounts. Revenue is split by class and model (`revenue:on-demand:H100-SXM`). */
export const ACCOUNTS = {
  receivables: 'receivables',
  cash: 'cash',
  deferredRevenue: 'deferred_revenue',
  customerPrepayments: 'customer_prepayments',
  slaCreditExpense: 'sla_credit_expense',
  /** Liability: credit a tenant holds with us beyond what it owed (credit_balance lines), drawn by later invoices. */
  customerCreditBalance: 'customer_credit_balance',
  creditNotes: 'credit_notes',
  internalTransferCost: 'internal_transfer_cost',
  internalTransferIncome: 'internal_transfer_income',
} as const;
export const revenueAccount = (what: string, model?: string | null): string => `revenue:${what}${model ? `:${model}` : ''}`;

/**
 * What the books hold (a PostgreSQL bigint is at most 9,223,372,036,854,775,807), with a margin.
 * Ingestion refuses usage past these, so a month's close can always write what it accepted:
 * - an invoice line's quantity (micro-units) is at most one (tenant, month, type, model)'s usage;
 * - the value of a tenant's ingested usage in one month is at most a third of the line limit: an
 *   invoice can carry its month and late usage of the two months before (the 35-day window).
 */
export const MAX_LINE_QUANTITY_MICROS = 9_000_000_000_000_000_000n;
export const MAX_MONTH_USAGE_VALUE_MICROS = 3_000_000_000_000_000_000n;
