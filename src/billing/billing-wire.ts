/**
 * Billing on the wire: request schemas (TypeBox, validated strictly at the boundary) and the
 * views the API answers with. Money is a decimal string of micros of the contract's currency.
 */
import { Type, type Static } from 'typebox';
import { PageQueryProps } from '../shared/paging.js';
import { MicrosString, oneOf } from '../shared/validation.js';
import { CONTRACT_KINDS } from './billing-types.js';
import { CURRENCIES } from './money.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Amount = (d: string) => MicrosString(d, { nonNegative: true, of: 'micros of the contract\'s currency' });
const Bps = (d: string) => Type.Integer({ minimum: 0, maximum: 10_000, description: `${d}, basis points (10,000 = 100%)` });
const Month = Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$', description: 'a calendar month, YYYY-MM (UTC)' });

export const ContractTermsBody = Type.Object({
  gpuModel: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'reserved: the GPU model' })),
  gpuCount: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'reserved: GPUs reserved' })),
  priceMicrosPerGpuHour: Type.Optional(Amount('reserved: price per GPU-hour')),
  prepaymentBps: Type.Optional(Bps('reserved: share of the term\'s value invoiced at signing')),
  discountBps: Type.Optional(Bps('on-demand / spot: discount on the price book')),
  pricesMicrosPerGpuHour: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Amount('on-demand / spot: negotiated price per GPU-hour of a model'))),
  rates: Type.Optional(Type.Object({ 'storage.gb_hours': Type.Optional(Amount('per GB-hour')), 'egress.gb': Type.Optional(Amount('per GB')) }, { additionalProperties: false })),
  minimumMicrosPerMonth: Type.Optional(Amount('commitment: minimum spend per calendar month')),
  amountMicros: Type.Optional(Amount('credits: prepaid credits bought')),
  expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'credits: when unused credits lapse' })),
  prices: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Object({
    inputMicrosPerMillion: Amount('tokens: price per million input tokens'), outputMicrosPerMillion: Amount('tokens: price per million output tokens'),
  }, { additionalProperties: false }))),
}, { additionalProperties: false, description: 'the terms of the contract\'s kind (see each field)' });
export type ContractTermsBody = Static<typeof ContractTermsBody>;

export const ContractCreateBody = Type.Object({
  tenantId: Id,
  kind: oneOf(CONTRACT_KINDS),
  currency: Type.Optional(oneOf(CURRENCIES, 'ISO 4217; default USD')),
  start: Type.String({ format: 'date-time' }),
  end: Type.Optional(Type.String({ format: 'date-time', description: 'required for reserved and commitment terms' })),
  terms: ContractTermsBody,
}, { additionalProperties: false });
export type ContractCreateBody = Static<typeof ContractCreateBody>;

export const ContractAmendBody = Type.Object({
  end: Type.Optional(Type.String({ format: 'date-time' })),
  terms: Type.Optional(ContractTermsBody),
}, { additionalProperties: false, description: 'a new version: the fields given replace the current version\'s' });
export type ContractAmendBody = Static<typeof ContractAmendBody>;

export const ContractView = Type.Object({
  id: Type.String(), version: Type.Integer(), tenantId: Type.String(), kind: Type.String(), currency: Type.String(),
  start: Type.String(), end: Type.Union([Type.String(), Type.Null()]), terms: Type.Record(Type.String(), Type.Any()), createdAt: Type.String(),
  prepaymentInvoiceId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  valueMicros: Type.Union([Type.String(), Type.Null()], { description: 'a reserved term\'s whole value (GPUs × price × hours, rounded to the minor unit as its invoices round); null for other kinds' }),
});
export type ContractViewT = Static<typeof ContractView>;

/** A usage event, CloudEvents-shaped: `id` + `source` deduplicate, `subject` is the tenant. */
export const UsageEventBody = Type.Object({
  specversion: Type.Optional(Type.Literal('1.0')),
  id: Type.String({ minLength: 1, maxLength: 256 }),
  source: Type.String({ minLength: 1, maxLength: 512 }),
  type: Type.String({ minLength: 1, maxLength: 64, description: 'tokens.input | tokens.output | storage.gb_hours | egress.gb (gpu.seconds comes from the lease log)' }),
  subject: Type.String({ minLength: 1, maxLength: 64, description: 'the tenant id' }),
  time: Type.String({ format: 'date-time' }),
  datacontenttype: Type.Optional(Type.Literal('application/json')),
  data: Type.Object({
    quantity: Type.Union([Type.String({ maxLength: 40 }), Type.Integer()], { description: 'a non-negative amount in the unit, up to 6 decimals (a string, or an integer)' }),
    unit: Type.String({ maxLength: 16, description: 'tokens (tokens.*), GB-h (storage.gb_hours), GB (egress.gb)' }),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'the model (required for tokens)' })),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
export type UsageEventBody = Static<typeof UsageEventBody>;

export const MAX_USAGE_BATCH = 10_000;
export const UsageBatchBody = Type.Object({ events: Type.Array(UsageEventBody, { minItems: 1, maxItems: MAX_USAGE_BATCH }) }, { additionalProperties: false });
export type UsageBatchBody = Static<typeof UsageBatchBody>;

export const UsageQuery = Type.Object({ period: Type.Optional(Month), tenantId: Type.Optional(Id) }, { additionalProperties: false });
export const InvoiceListQuery = Type.Object({
  tenantId: Type.Optional(Id), period: Type.Optional(Month), status: Type.Optional(oneOf(['draft', 'final', 'paid', 'void'] as const)),
  ...PageQueryProps,
}, { additionalProperties: false });
export const PeriodBody = Type.Object({ period: Month }, { additionalProperties: false });
export const RefreshBody = Type.Object({ period: Type.Optional(Month), tenantId: Type.Optional(Id) }, { additionalProperties: false });
export const PaymentBody = Type.Object({ amountMicros: MicrosString('amount received'), reference: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false });
export const CreditNoteBody = Type.Object({ amountMicros: MicrosString('amount credited'), reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });
export const AsOfQuery = Type.Object({ asOf: Type.Optional(Type.String({ format: 'date-time' })), tenantId: Type.Optional(Id) }, { additionalProperties: false });
export const RecognizeBody = Type.Object({ asOf: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false });
export const EntriesQuery = Type.Object({ tenantId: Type.Optional(Id), kind: Type.Optional(Type.String({ maxLength: 32 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false });

/** Printable text: no control characters (they would break the invoice's layout or a CSV export). */
const Text = (max: number, d: string) => Type.String({ minLength: 1, maxLength: max, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: d });
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);

/**
 * A tenant's billing profile, as the operator sets it (PATCH: the fields given replace the stored
 * ones, `null` clears one). Every field is optional: an invoice shows what there is.
 */
export const BillingProfileBody = Type.Object({
  legalName: Type.Optional(Nullable(Text(200, 'the customer\'s legal name, as invoiced (default: the tenant\'s name)'))),
  addressLines: Type.Optional(Type.Array(Text(200, 'a street address line'), { maxItems: 3, description: 'street address, up to 3 lines ([] clears)' })),
  city: Type.Optional(Nullable(Text(100, 'city'))),
  postalCode: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$', description: 'postal code: letters, digits, spaces and dashes (at most 16)' }))),
  country: Type.Optional(Nullable(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2 country code, upper case (US, JP, DE)' }))),
  taxId: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 .-]{0,39}$', description: 'tax or VAT id: letters, digits, spaces, dots and dashes (at most 40)' }))),
  paymentTermsDays: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 365, description: 'days from issue to due (default: the control plane\'s NEOCLOUD_PAYMENT_TERMS_DAYS, 30)' }))),
}, { additionalProperties: false });
export type BillingProfileBody = Static<typeof BillingProfileBody>;

export const BillingProfileView = Type.Object({
  tenantId: Type.String(), tenantName: Type.String(), legalName: Type.Union([Type.String(), Type.Null()]), addressLines: Type.Array(Type.String()),
  city: Type.Union([Type.String(), Type.Null()]), postalCode: Type.Union([Type.String(), Type.Null()]), country: Type.Union([Type.String(), Type.Null()]),
  taxId: Type.Union([Type.String(), Type.Null()]), paymentTermsDays: Type.Integer({ description: 'the terms in force: the profile\'s, else the control plane\'s default' }),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
});
export type BillingProfileViewT = Static<typeof BillingProfileView>;
