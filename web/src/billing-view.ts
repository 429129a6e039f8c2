/**
 * Billing (tenant): spend to date this month (the draft invoice, brought up to date by the API on
 * read), the contracts in force with their commitments and the spend against them, and the
 * invoices with a printable copy of each. Every figure comes from the billing API (one
 * GET /v1/billing/summary for the month, so the headline and the invoice row are one field); the
 * console formats them and only subtracts what the backlog leaves from a server-sent value.
 */
import { api, apiAll } from './api.js';
import { coalesce, h } from './dom.js';
import { money, shareOf, utc } from './format.js';
import { dataTable } from './tables.js';
import { printableButton, type Backlog, type BillingSummary, type ContractView, type InvoiceSummary } from './billing-ui.js';
import type { Page, ViewContext } from './view.js';
import { stat } from './widgets.js';

/** A reserved term's whole value, as the server computed it (ContractView.valueMicros). */
const termValue = (c: ContractView): bigint | null => (c.valueMicros === null || c.valueMicros === undefined ? null : BigInt(c.valueMicros));

const bps = (v: unknown): string => (typeof v === 'number' ? `${(v / 100).toFixed(2).replace(/\.?0+$/, '')}%` : '—');

/** What the contract promises, in words. */
function termsText(c: ContractView): string {
  const t = c.terms;
  const m = (v: unknown): string => (typeof v === 'string' ? money(v, c.currency) : '—');
  switch (c.kind) {
    case 'reserved': return `${String(t['gpuCount'])} × ${String(t['gpuModel'])} at ${m(t['priceMicrosPerGpuHour'])}/GPU-h, take-or-pay${t['prepaymentBps'] ? `, ${bps(t['prepaymentBps'])} prepaid` : ''}`;
    case 'commitment': return `minimum ${m(t['minimumMicrosPerMonth'])} a month`;
    case 'credits': return `${m(t['amountMicros'])} prepaid credits, expire ${typeof t['expiresAt'] === 'string' ? utc(t['expiresAt']) : '—'}`;
    case 'on-demand': case 'spot': return t['discountBps'] ? `${bps(t['discountBps'])} off the price book` : 'price book';
    case 'tokens': return `token prices for ${Object.keys((t['prices'] ?? {}) as object).join(', ') || '—'}`;
    default: return c.kind;
  }
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const body = h('div');
  const load = async (): Promise<void> => {
    // The month in one answer: the draft brought up to date, and the invoices with its row from the same record.
    const [contracts, summary, backlog] = await Promise.all([
      apiAll<ContractView>('/v1/contracts', 'contracts'),
      api<BillingSummary>('GET', '/v1/billing/summary'),
      api<Backlog>('GET', '/v1/backlog'),
    ]);
    const { period, draft, invoices, currency } = summary;
    const usageSpend = BigInt(summary.usageMicros);
    const remaining = new Map(backlog.contracts.map((r) => [r.contractId, r]));

    body.replaceChildren(
      h('dl', { class: 'totals' },
        stat(`Spend to date, ${period}${draft ? ' (draft invoice)' : ''}`, money(summary.spendToDateMicros, currency), 'spendToDate'),
        stat('Usage this month', money(summary.usageMicros, currency), 'usageThisMonth'),
        stat('Due on final invoices', money(summary.dueMicros, currency), 'due'),
        ...backlog.totals.map((t) => stat(`Committed ahead (${t.currency})`, money(t.remainingMicros, t.currency), `backlog-${t.currency}`))),
      h('section', { class: 'panel', 'data-billing': 'contracts' },
        h('h2', {}, 'Contracts and commitments'),
        dataTable({
          cls: 'contracts', rows: contracts, rowAttrs: (c) => ({ 'data-contract': c.id }), empty: 'No contracts: usage is billed at the price book.',
          columns: [
            { label: 'Kind', key: 'kind', cell: (c) => h('strong', {}, c.kind) },
            { label: 'Terms', key: 'terms', cell: (c) => termsText(c) },
            { label: 'Term (UTC)', key: 'term', cls: 'nowrap', cell: (c) => `${utc(c.start, false)} → ${c.end ? utc(c.end, false) : 'open'}` },
            { label: 'Commitment', key: 'commitment', cls: 'num', cell: (c) => {
              const v = termValue(c);
              if (v !== null) return `${money(v, c.currency)} term`;
              if (c.kind === 'commitment') return `${money(String(c.terms['minimumMicrosPerMonth']), c.currency)} / month`;
              if (c.kind === 'credits') return money(String(c.terms['amountMicros']), c.currency);
              return '—';
            } },
            { label: 'Spend against it', key: 'against', cls: 'num', cell: (c) => {
              const r = remaining.get(c.id);
              const v = termValue(c);
              if (c.kind === 'commitment') {
                const min = BigInt(String(c.terms['minimumMicrosPerMonth']));
                return `${money(usageSpend, c.currency)} this month (${shareOf(usageSpend, min)})`;
              }
              if (v !== null) return `${money(v - BigInt(r?.remainingMicros ?? '0'), c.currency)} delivered`;
              if (c.kind === 'credits') return `${money(BigInt(String(c.terms['amountMicros'])) - BigInt(r?.remainingMicros ?? '0'), c.currency)} used`;
              return '—';
            } },
            { label: 'Remaining', key: 'remaining', cls: 'num', cell: (c) => { const r = remaining.get(c.id); return r ? money(r.remainingMicros, r.currency) : '—'; } },
          ],
        })),
      h('section', { class: 'panel', 'data-billing': 'draft' },
        h('h2', {}, `This month so far (${period}, draft)`),
        draft ? dataTable({
          cls: 'lines', rows: draft.lines, empty: 'Nothing billed yet this month.',
          columns: [
            { label: 'Line', key: 'description', cell: (l) => l.description },
            // As the server computed them for display: GPU-hours beside a price per GPU-hour.
            { label: 'Quantity', key: 'quantity', cls: 'num', cell: (l) => (l.displayQuantity === null ? '' : `${l.displayQuantity} ${l.displayUnit ?? ''}`) },
            { label: 'Unit price', key: 'price', cls: 'num', cell: (l) => (l.priceUnit === null ? '' : `${money(l.unitPriceMicros, draft.currency)} ${l.priceUnit}`) },
            { label: 'Amount', key: 'amount', cls: 'num', cell: (l) => money(l.amountMicros, draft.currency) },
          ],
        }) : h('p', { class: 'muted empty' }, 'Nothing billed yet this month.')),
      h('section', { class: 'panel', 'data-billing': 'invoices' },
        h('h2', {}, 'Invoices'),
        invoiceTable(invoices, ctx)),
    );
  };
  const refresh = coalesce(load, ctx.onError);
  ctx.onEvents((events) => { if (events.length === 0 || events.some((e) => e.type.startsWith('dev.neocloud.lease.'))) refresh(); });
  await load();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Billing'), h('span', { class: 'muted' }, ctx.session().tenantName ?? '')),
    body);
}

export function invoiceTable(invoices: InvoiceSummary[], ctx: ViewContext, withTenant = false): HTMLElement {
  return dataTable({
    cls: 'invoices', rows: invoices, rowAttrs: (i) => ({ 'data-invoice': i.id, 'data-status': i.status }), empty: 'No invoices yet.',
    columns: [
      { label: 'Invoice', key: 'number', cls: 'mono', cell: (i) => i.number ?? 'draft' },
      ...(withTenant ? [{ label: 'Tenant', key: 'tenant', cell: (i: InvoiceSummary) => ctx.tenantName(i.tenantId) }] : []),
      { label: 'Period', key: 'period', cell: (i) => `${i.period}${i.kind === 'monthly' ? '' : ` · ${i.kind}`}` },
      { label: 'State', key: 'status', cell: (i) => h('span', { class: `badge ${i.status}` }, i.status) },
      { label: 'Total', key: 'total', cls: 'num', cell: (i) => money(i.totalMicros, i.currency) },
      { label: 'Paid', key: 'paid', cls: 'num', cell: (i) => money(i.paidMicros, i.currency) },
      { label: '', key: 'print', cls: 'actions', cell: (i) => printableButton(i, ctx.onError) },
    ],
  });
}

export const billingPage: Page = { route: 'billing', title: 'Billing', roles: ['tenant'], render };
