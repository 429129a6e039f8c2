/**
 * Billing's tables (owned by src/billing): contracts (versioned), usage events (deduplicated per
 * tenant by CloudEvents `source` + `id`), the lease meter's state and its cursor into the event log,
 * invoices and their lines, payments, credit notes, the double-entry journal and revenue
 * schedules. Hand-written SQL appended to the migrations (0014, 0016) adds what Drizzle cannot
 * say: journal entries balance (a deferred constraint trigger); journal lines, final invoices,
 * payments, credit notes and the usage a final invoice took are immutable, and an invoice's status
 * and paid amount move only with its payments (triggers; docs/decisions.md, "Issue 18: append-only
 * money"); amounts are checked.
 *
 * Money: integer micros of the contract's currency (1 USD = 1,000,000; 1 JPY = 1,000,000), as
 * `bigint`. Usage quantities: integer micro-units of the meter's unit (a GPU-second is 1,000,000).
 */
import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, numeric, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tenants } from '../tenancy/tenancy-schema.js';
import { ts } from '../store/columns.js';

/** One row per contract version; the highest version of an id is in force. */
export const contracts = pgTable('billing_contracts', {
  id: text('id').notNull(),
  version: integer('version').notNull(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  /** reserved | on-demand | spot | commitment | credits | tokens */
  kind: text('kind').notNull(),
  currency: text('currency').notNull(),
  startAt: ts('start_at').notNull(),
  endAt: ts('end_at'),
  /** Kind-specific terms, validated at the boundary (contract-types.ts); money inside is decimal strings. */
  terms: jsonb('terms').notNull(),
  createdAt: ts('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.id, t.version] }), index('billing_contracts_tenant_idx').on(t.tenantId)]);

/**
 * Usage events: the rating input. Primary key (tenant_id, source, id) is the deduplication key:
 * per tenant, so one tenant's event never makes another's a duplicate (0016). Events older than
 * the 35-day window are refused at the boundary, so the key covers the window. `invoice_id` is set
 * when a final invoice takes the event (exactly once, in its transaction); from then on the row
 * never changes (trigger in 0016).
 */
export const usageEvents = pgTable('billing_usage_events', {
  source: text('source').notNull(),
  id: text('id').notNull(),
  tenantId: text('tenant_id').notNull(),
  type: text('type').notNull(),
  time: ts('time').notNull(),
  /** Micro-units of the type's unit (GPU-seconds, tokens, GB-hours, GB). */
  quantity: bigint('quantity', { mode: 'bigint' }).notNull(),
  /** The model (GPU or language model) the usage is of, if any. */
  model: text('model'),
  /** For GPU time: the lease, its class and its price per GPU-hour (micros). */
  leaseId: text('lease_id'),
  leaseClass: text('lease_class'),
  priceMicros: bigint('price_micros', { mode: 'bigint' }),
  receivedAt: ts('received_at').notNull(),
  invoiceId: text('invoice_id'),
}, (t) => [
  primaryKey({ columns: [t.tenantId, t.source, t.id] }),
  index('billing_usage_open_idx').on(t.tenantId, t.time).where(sql`invoice_id IS NULL`),
  index('billing_usage_invoice_idx').on(t.invoiceId).where(sql`invoice_id IS NOT NULL`),
]);

/**
 * Running totals of ingested usage per (tenant, month of the event, type, model '' for none), and
 * per (tenant, month) with type '*' (value only): kept by the ingest statement, compared with the
 * limits in billing-types.ts (migration 0017). numeric, so a sum past a bigint is seen, not an error.
 */
export const usageTotals = pgTable('billing_usage_totals', {
  tenantId: text('tenant_id').notNull(),
  period: text('period').notNull(),
  type: text('type').notNull(),
  model: text('model').notNull(),
  /** Micro-units of the type's unit (0 on the '*' row). */
  quantity: numeric('quantity').notNull(),
  /** Micros of the contract's currency at the price when ingested, rounded up per group. */
  valueMicros: numeric('value_micros').notNull(),
}, (t) => [primaryKey({ name: 'billing_usage_totals_pk', columns: [t.tenantId, t.period, t.type, t.model] })]);

/** A lease as the meter knows it from the log: what it costs and how far its GPU time is metered. */
export const leaseMeters = pgTable('billing_lease_meters', {
  leaseId: text('lease_id').primaryKey(),
  tenantId: text('tenant_id').notNull(),
  leaseClass: text('lease_class').notNull(),
  gpuModel: text('gpu_model').notNull(),
  gpuCount: integer('gpu_count').notNull(),
  priceMicros: bigint('price_micros', { mode: 'bigint' }).notNull(),
  bookedEnd: ts('booked_end').notNull(),
  /** Metered up to here (null: not started). */
  meteredUntil: ts('metered_until'),
  /** Set when the lease stopped running (released, expired, preempted, failed). */
  stoppedAt: ts('stopped_at'),
}, (t) => [index('billing_lease_meters_running_idx').on(t.meteredUntil).where(sql`stopped_at IS NULL AND metered_until IS NOT NULL`)]);

/**
 * draft → final → paid | void. Final invoices are immutable but for paid_micros (growing, always the
 * sum of the payments), closed_at and the status moving to paid (paid + credited = total) or void
 * (nothing paid or credited): triggers in 0014, replaced in 0016.
 */
export const invoices = pgTable('billing_invoices', {
  id: text('id').primaryKey(),
  tenantId: text('tenant_id').notNull().references(() => tenants.id),
  /** monthly | prepayment | credits */
  kind: text('kind').notNull(),
  /** The month billed, `YYYY-MM`. */
  period: text('period').notNull(),
  currency: text('currency').notNull(),
  status: text('status').notNull(),
  /** Human-readable sequential number, set when final (`INV-2026-12-000001`). */
  number: text('number'),
  totalMicros: bigint('total_micros', { mode: 'bigint' }).notNull(),
  paidMicros: bigint('paid_micros', { mode: 'bigint' }).notNull().default(sql`0`),
  createdAt: ts('created_at').notNull(),
  finalizedAt: ts('finalized_at'),
  closedAt: ts('closed_at'),
  /** For a prepayment or credits invoice: the contract it bills. */
  contractId: text('contract_id'),
  /** The addressee, seller and payment terms as they were when it was finalised (migration 0023); null on drafts. */
  billTo: jsonb('bill_to'),
}, (t) => [
  index('billing_invoices_tenant_idx').on(t.tenantId, t.period),
  uniqueIndex('billing_invoices_monthly_uq').on(t.tenantId, t.period, t.currency).where(sql`kind = 'monthly'`),
]);

export const invoiceLines = pgTable('billing_invoice_lines', {
  invoiceId: text('invoice_id').notNull().references(() => invoices.id),
  lineNo: integer('line_no').notNull(),
  /** billing-types.ts LINE_KINDS: usage, late_usage, reserved, prepayment(_applied), commitment_true_up, credits(_applied), sla_credit, credit_balance(_applied) */
  kind: text('kind').notNull(),
  description: text('description').notNull(),
  contractId: text('contract_id'),
  meter: text('meter'),
  model: text('model'),
  /** Quantity in micro-units of the meter's unit. */
  quantity: bigint('quantity', { mode: 'bigint' }).notNull(),
  unit: text('unit').notNull(),
  /** Unit price in micros per unit (per GPU-hour for GPU time, per million tokens for tokens). */
  unitPriceMicros: bigint('unit_price_micros', { mode: 'bigint' }).notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  /** The ledger account this line credits (a negative line debits it). */
  account: text('account').notNull(),
  serviceStart: ts('service_start').notNull(),
  serviceEnd: ts('service_end').notNull(),
  leaseIds: jsonb('lease_ids').notNull(),
}, (t) => [primaryKey({ columns: [t.invoiceId, t.lineNo] })]);

/** Append-only (0016): against a final invoice of the same tenant, with its journal entry (kind `payment`, ref = id). */
export const payments = pgTable('billing_payments', {
  id: text('id').primaryKey(),
  invoiceId: text('invoice_id').notNull().references(() => invoices.id),
  tenantId: text('tenant_id').notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  receivedAt: ts('received_at').notNull(),
  reference: text('reference'),
}, (t) => [index('billing_payments_invoice_idx').on(t.invoiceId)]);

/** Append-only (0016): against a final or paid invoice of the same tenant, with its journal entry (kind `credit_note`, ref = id). */
export const creditNotes = pgTable('billing_credit_notes', {
  id: text('id').primaryKey(),
  invoiceId: text('invoice_id').notNull().references(() => invoices.id),
  tenantId: text('tenant_id').notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  reason: text('reason').notNull(),
  createdAt: ts('created_at').notNull(),
}, (t) => [index('billing_credit_notes_invoice_idx').on(t.invoiceId)]);

/**
 * The journal: append-only (trigger), each entry's lines sum to zero (deferred constraint
 * trigger). `(kind, ref)` is unique, so one business fact posts once however often it is retried.
 */
export const journalEntries = pgTable('billing_journal_entries', {
  id: text('id').primaryKey(),
  kind: text('kind').notNull(),
  ref: text('ref').notNull(),
  tenantId: text('tenant_id'),
  currency: text('currency').notNull(),
  /** The accounting date (what a trial balance "as of" compares). */
  effectiveAt: ts('effective_at').notNull(),
  memo: text('memo').notNull(),
  createdAt: ts('created_at').notNull(),
}, (t) => [uniqueIndex('billing_journal_kind_ref_uq').on(t.kind, t.ref), index('billing_journal_effective_idx').on(t.effectiveAt)]);

/** Debits positive, credits negative. */
export const journalLines = pgTable('billing_journal_lines', {
  entryId: text('entry_id').notNull().references(() => journalEntries.id),
  lineNo: integer('line_no').notNull(),
  account: text('account').notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  contractId: text('contract_id'),
}, (t) => [primaryKey({ columns: [t.entryId, t.lineNo] }), index('billing_journal_lines_account_idx').on(t.account)]);

/** Billed revenue deferred over a service period, recognised ratably (recognised_micros grows to amount_micros). */
export const revenueSchedules = pgTable('billing_revenue_schedules', {
  id: text('id').primaryKey(),
  invoiceId: text('invoice_id').notNull(),
  tenantId: text('tenant_id').notNull(),
  currency: text('currency').notNull(),
  contractId: text('contract_id'),
  /** The revenue account credited as it is recognised. */
  account: text('account').notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  recognizedMicros: bigint('recognized_micros', { mode: 'bigint' }).notNull().default(sql`0`),
  serviceStart: ts('service_start').notNull(),
  serviceEnd: ts('service_end').notNull(),
}, (t) => [index('billing_revenue_schedules_open_idx').on(t.serviceStart).where(sql`recognized_micros <> amount_micros`)]);

/**
 * A tenant's billing profile (migration 0019): the addressee of its invoices. Optional; without
 * one an invoice is addressed to the tenant's name. `payment_terms_days` overrides the control
 * plane's default terms (net 30, NEOCLOUD_PAYMENT_TERMS_DAYS) for this tenant.
 */
export const billingProfiles = pgTable('billing_profiles', {
  tenantId: text('tenant_id').primaryKey().references(() => tenants.id),
  legalName: text('legal_name'),
  addressLines: jsonb('address_lines').notNull().default(sql`'[]'::jsonb`),
  city: text('city'),
  postalCode: text('postal_code'),
  country: text('country'),
  taxId: text('tax_id'),
  paymentTermsDays: integer('payment_terms_days'),
  updatedAt: ts('updated_at').notNull(),
});
