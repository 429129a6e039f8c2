/**
 * Billing routes: contracts, usage ingestion and summaries, invoices (list, show, printable HTML,
 * close a month, refresh drafts, payments, void, credit notes), the ledger (operator) and the
 * backlog. Each handler calls one BillingService method.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import {
  AsOfQuery, BillingProfileBody, BillingProfileView, ContractAmendBody, ContractCreateBody, ContractView, CreditNoteBody, EntriesQuery, InvoiceListQuery, PaymentBody, PeriodBody, RecognizeBody, RefreshBody,
  UsageBatchBody, UsageQuery,
} from '../../billing/index.js';
import { Idempotency, principalOf } from '../http-context.js';
import { NextCursor, PageQueryProps } from '../../shared/paging.js';
import { EmptyBody, Id, IdParam, errors, idemHeader, page, secured } from './common.js';

/** A batch of 10,000 usage events is ~2.5 MB of JSON. */
export const USAGE_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
const Any = Type.Unknown();

export function billingRoutes(app: FastifyInstance, cp: ControlPlane, idem: Idempotency): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const b = cp.billing;

  r.post('/v1/contracts', {
    schema: {
      tags: ['billing'], summary: 'Sign a contract for a tenant (operator): reserved term, on-demand or spot rates, commitment, prepaid credits, token prices. A reserved term with a prepayment, or credits, are invoiced at once', ...secured,
      headers: idemHeader, body: ContractCreateBody, response: { 201: ContractView, ...errors(400, 401, 403, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await b.createContract(principalOf(req), req.body, ctx) })));

  r.post('/v1/contracts/:id/versions', {
    schema: {
      tags: ['billing'], summary: 'Amend a contract (operator): a new version with a new end or terms', ...secured, params: IdParam,
      headers: idemHeader, body: ContractAmendBody, response: { 201: ContractView, ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await b.amendContract(principalOf(req), req.params.id, req.body, ctx) })));

  r.get('/v1/contracts', {
    schema: {
      tags: ['billing'], summary: 'Contracts in force (latest versions); a tenant sees its own', ...secured,
      querystring: Type.Object({ tenantId: Type.Optional(Id), ...PageQueryProps }, { additionalProperties: false }),
      response: { 200: Type.Object({ contracts: Type.Array(ContractView), nextCursor: NextCursor }), ...errors(400, 401) },
    },
  }, async (req) => {
    const p = await b.listContracts(principalOf(req), req.query.tenantId, page(req.query));
    return { contracts: p.items, nextCursor: p.nextCursor };
  });

  r.get('/v1/contracts/:id', {
    schema: { tags: ['billing'], summary: 'A contract with all its versions', ...secured, params: IdParam, response: { 200: Any, ...errors(400, 401, 404) } },
  }, async (req) => b.getContract(principalOf(req), req.params.id));

  r.post('/v1/usage', {
    bodyLimit: USAGE_BODY_LIMIT_BYTES,
    schema: {
      tags: ['billing'], ...secured,
      summary: 'Report usage in a batch of CloudEvents (≤ 10,000): `id` + `source` deduplicate per tenant within 35 days, `subject` is the tenant, times ≤ 5 minutes ahead. The whole batch is refused if one event is bad, if the tenant has no price for it in its contracts, or if it would take a month\'s total past what an invoice can hold; acknowledged events are durable',
      headers: idemHeader, body: UsageBatchBody,
      response: { 200: Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() }), ...errors(400, 401, 403, 413, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await b.ingest(principalOf(req), req.body, ctx) }), { optimistic: true, bodyFingerprint: (x) => JSON.stringify(x) }));

  r.get('/v1/usage', {
    schema: { tags: ['billing'], summary: 'Usage of a month by tenant, type and model (quantities in micro-units)', ...secured, querystring: UsageQuery, response: { 200: Any, ...errors(400, 401) } },
  }, async (req) => b.usageSummary(principalOf(req), req.query.period, req.query.tenantId));

  r.get('/v1/invoices', {
    schema: { tags: ['billing'], summary: 'Invoices, newest month first, a page at a time; a tenant sees its own', ...secured, querystring: InvoiceListQuery, response: { 200: Type.Object({ invoices: Type.Array(Any), nextCursor: NextCursor }), ...errors(400, 401) } },
  }, async (req) => {
    const p = await b.listInvoices(principalOf(req), req.query);
    return { invoices: p.items, nextCursor: p.nextCursor };
  });

  r.get('/v1/invoices/:id', {
    schema: { tags: ['billing'], summary: 'An invoice with its lines (quantities, unit prices, lease ids), payments and credit notes; a draft is brought up to date first', ...secured, params: IdParam, response: { 200: Any, ...errors(400, 401, 404, 409) } },
  }, async (req) => b.getInvoice(principalOf(req), req.params.id));

  r.get('/v1/invoices/:id/html', {
    schema: { tags: ['billing'], summary: 'The invoice as a printable HTML page', ...secured, params: IdParam, response: { 200: Type.String(), ...errors(400, 401, 404, 409) } },
  }, async (req, reply) => reply.type('text/html; charset=utf-8').send(await b.invoiceHtml(principalOf(req), req.params.id)));

  r.post('/v1/invoices/close', {
    schema: {
      tags: ['billing'], summary: 'Close a month (operator): meter the log, finalise every tenant\'s invoice, value internal time, recognise revenue. Idempotent and safe to run from two control planes at once. A tenant whose month cannot be finalised is named in `failed` ({tenantId, step, detail}) and the others are still closed', ...secured,
      headers: idemHeader, body: PeriodBody, response: { 200: Any, ...errors(400, 401, 403, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async () => ({ status: 200, body: await b.closePeriod(principalOf(req), req.body.period) })));

  r.post('/v1/invoices/refresh', {
    schema: {
      tags: ['billing'], summary: 'Bring draft invoices up to date with the usage so far (operator; `serve` also does it)', ...secured,
      headers: idemHeader, body: RefreshBody, response: { 200: Any, ...errors(400, 401, 403, 409, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async () => ({ status: 200, body: await b.refreshDrafts(principalOf(req), req.body.period, req.body.tenantId) })));

  r.post('/v1/invoices/:id/payments', {
    schema: { tags: ['billing'], summary: 'Record a payment against a final invoice (operator)', ...secured, params: IdParam, headers: idemHeader, body: PaymentBody, response: { 200: Any, ...errors(400, 401, 403, 404, 409, 422) } },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await b.pay(principalOf(req), req.params.id, req.body, ctx) })));

  r.post('/v1/invoices/:id/void', {
    schema: { tags: ['billing'], summary: 'Void an unpaid final invoice (operator): its journal entry is reversed', ...secured, params: IdParam, headers: idemHeader, body: EmptyBody, response: { 200: Any, ...errors(400, 401, 403, 404, 409, 422) } },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await b.voidInvoice(principalOf(req), req.params.id, ctx) })));

  r.post('/v1/invoices/:id/credit-notes', {
    schema: { tags: ['billing'], summary: 'Issue a credit note against a final or paid invoice (operator): the correction, since a final invoice cannot change', ...secured, params: IdParam, headers: idemHeader, body: CreditNoteBody, response: { 201: Any, ...errors(400, 401, 403, 404, 409, 422) } },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 201, body: await b.creditNote(principalOf(req), req.params.id, req.body, ctx) })));

  r.get('/v1/ledger/trial-balance', {
    schema: { tags: ['ledger'], summary: 'Trial balance as of a date (operator): every account\'s balance per currency; debits equal credits', ...secured, querystring: AsOfQuery, response: { 200: Any, ...errors(400, 401, 403) } },
  }, async (req) => b.trialBalance(principalOf(req), req.query.asOf, req.query.tenantId));

  r.get('/v1/ledger/entries', {
    schema: { tags: ['ledger'], summary: 'Journal entries, newest first (operator)', ...secured, querystring: EntriesQuery, response: { 200: Type.Object({ entries: Type.Array(Any) }), ...errors(400, 401, 403) } },
  }, async (req) => ({ entries: await b.journal(principalOf(req), req.query) }));

  r.post('/v1/ledger/recognize', {
    schema: { tags: ['ledger'], summary: 'Recognise deferred revenue ratably up to a date (operator; closing a month does it too)', ...secured, headers: idemHeader, body: RecognizeBody, response: { 200: Any, ...errors(400, 401, 403, 422) } },
  }, async (req, reply) => idem.run(req, reply, async () => ({ status: 200, body: await b.recognizeNow(principalOf(req), req.body.asOf) })));

  r.get('/v1/billing/summary', {
    schema: {
      tags: ['billing'], ...secured,
      summary: 'A tenant\'s month so far, in one answer: the draft brought up to date, spend to date (the draft\'s total, the same field as its row in `invoices`), usage this month, due on final invoices. A tenant sees its own; the operator names `tenantId`',
      querystring: Type.Object({ tenantId: Type.Optional(Id) }, { additionalProperties: false }), response: { 200: Any, ...errors(400, 401, 404, 409) },
    },
  }, async (req) => b.billingSummary(principalOf(req), req.query.tenantId));

  r.get('/v1/billing/accrued', {
    schema: {
      tags: ['billing'], ...secured,
      summary: 'Accrued, not yet invoiced (operator): the month\'s drafts, brought up to date, summed per currency and revenue account (on-demand, spot, … by model)',
      querystring: Type.Object({ period: Type.Optional(Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM (UTC); default this month' })) }, { additionalProperties: false }),
      response: { 200: Any, ...errors(400, 401, 403, 409) },
    },
  }, async (req) => b.accrued(principalOf(req), req.query.period));

  r.get('/v1/tenants/:id/billing-profile', {
    schema: { tags: ['billing'], summary: 'A tenant\'s billing profile: the invoice\'s addressee and payment terms (operator, or the tenant itself)', ...secured, params: IdParam, response: { 200: BillingProfileView, ...errors(400, 401, 404) } },
  }, async (req) => b.getProfile(principalOf(req), req.params.id));

  r.patch('/v1/tenants/:id/billing-profile', {
    schema: {
      tags: ['billing'], ...secured, params: IdParam, headers: idemHeader, body: BillingProfileBody,
      summary: 'Set a tenant\'s billing profile (operator): legal name, address lines, city, postal code, country, tax id, payment terms. Fields given replace the stored ones; null clears one',
      response: { 200: BillingProfileView, ...errors(400, 401, 403, 404, 422) },
    },
  }, async (req, reply) => idem.run(req, reply, async (ctx) => ({ status: 200, body: await b.setProfile(principalOf(req), req.params.id, req.body, ctx) })));

  r.get('/v1/backlog', {
    schema: { tags: ['billing'], summary: 'Remaining performance obligations as of a date: per contract, per tenant and in total, with the take-or-pay share and the part within 12 months', ...secured, querystring: AsOfQuery, response: { 200: Any, ...errors(400, 401) } },
  }, async (req) => b.backlog(principalOf(req), req.query.asOf, req.query.tenantId));
}
