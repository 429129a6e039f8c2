/**
 * Billing (tenant): spend to date this month (the draft invoice, recomputed by the API on read),
 * the contracts in force with their commitments and the spend against them, and the invoices with
 * a printable copy of each. Every figure comes from the billing API; the console only adds up
 * decimal-string micros with BigInt.
 */
import { api } from './api.js';
import { coalesce, h } from './dom.js';
import { money, shareOf, utc } from './format.js';
import { dataTable } from './tables.js';
import { getInvoices, monthOf, printableButton, sum, type Backlog, type ContractView, type InvoiceDetail, type InvoiceSummary } from './billing-ui.js';
import type { Page, ViewContext } from './view.js';
import { stat } from './widgets.js';

const MS_PER_HOUR = 3_600_000n;

/** A reserved term's whole value: GPUs × price per GPU-hour × its hours (micros, truncated to the micro). */
function termValue(c: ContractView): bigint | null {
  const t = c.terms;
  if (c.kind !== 'reserved' || c.end === null || typeof t['priceMicrosPerGpuHour'] !== 'string') return null;
  const ms = BigInt(Date.parse(c.end) - Date.parse(c.start));
  return (BigInt(Number(t['gpuCount'])) * BigInt(t['priceMicrosPerGpuHour']) * ms) / MS_PER_HOUR;
}

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
    const period = monthOf(ctx.serverNowMs());
    const [contracts, invoices, backlog] = await Promise.all([
      api<{ contracts: ContractView[] }>('GET', '/v1/contracts').then((r) => r.contracts),
      getInvoices(),
      api<Backlog>('GET', '/v1/backlog'),
    ]);
    // The month's draft, read by id so the API brings it up to date with the usage so far.
    const draftRow = invoices.find((i) => i.kind === 'monthly' && i.period === period && i.status === 'draft');
    const draft = draftRow ? await api<InvoiceDetail>('GET', `/v1/invoices/${encodeURIComponent(draftRow.id)}`) : null;
    const finalMonth = invoices.find((i) => i.kind === 'monthly' && i.period === period && i.status !== 'draft' && i.status !== 'void');
    const currency = draft?.currency ?? contracts[0]?.currency ?? 'USD';
    const usageSpend = draft ? sum(draft.lines.filter((l) => l.kind === 'usage').map((l) => l.amountMicros)) : 0n;
    const open = invoices.filter((i) => i.status === 'final');
    const due = sum(open.map((i) => i.totalMicros)) - sum(open.map((i) => i.paidMicros));
    const remaining = new Map(backlog.contracts.map((r) => [r.contractId, r]));

    body.replaceChildren(
      h('dl', { class: 'totals' },
        stat(`Spend to date, ${period} (draft invoice)`, draft ? money(draft.totalMicros, currency) : finalMonth ? money(finalMonth.totalMicros, finalMonth.currency) : money(0n, currency), 'spendToDate'),
        stat('Usage this month', money(usageSpend, currency), 'usageThisMonth'),
        stat('Due on final invoices', money(due, currency), 'due'),
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
            { label: 'Quantity', key: 'quantity', cls: 'num', cell: (l) => `${quantity(l.quantity)} ${l.unit}` },
            { label: 'Amount', key: 'amount', cls: 'num', cell: (l) => money(l.amountMicros, draft.currency) },
          ],
        }) : h('p', { class: 'muted empty' }, 'No draft invoice for this month yet: the control plane brings drafts up to date every 10 minutes.')),
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

/** A quantity in micro-units as a decimal with up to 6 places ("158520", "2.5"). */
export function quantity(micro: string): string {
  const q = BigInt(micro);
  const neg = q < 0n;
  const a = neg ? -q : q;
  const frac = (a % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${(a / 1_000_000n).toLocaleString('en-US')}${frac ? `.${frac}` : ''}`;
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
