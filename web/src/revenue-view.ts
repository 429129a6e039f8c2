/**
 * Revenue (operator): revenue by class and model and by tenant, the backlog (remaining performance
 * obligations) in total and per tenant with its take-or-pay share and the part due within 12
 * months, and the trial balance, all as of one instant (UTC, default now). Revenue is read from
 * the ledger's `revenue:*` accounts (credit balances, so recognised revenue, net of nothing else):
 * the whole book from one trial balance, each tenant's from the trial balance filtered to it.
 * Money accrued this month and not yet invoiced (on-demand, spot, tokens … per model) is the
 * server's sum of the month's draft invoices (GET /v1/billing/accrued), not a sum made here.
 */
import { api } from './api.js';
import { h } from './dom.js';
import { fromUtcInput, money, shareOf, toUtcInput, utc } from './format.js';
import { barChart } from './charts.js';
import { dataTable } from './tables.js';
import { getInvoices, type Accrued, type Backlog, type TrialBalance } from './billing-ui.js';
import { invoiceTable } from './billing-view.js';
import type { Page, ViewContext } from './view.js';
import { stat } from './widgets.js';

interface RevenueRow { tenantId: string | null; currency: string; cls: string; model: string; micros: bigint }

/** `revenue:<class>:<model>` (or `revenue:<kind>`) accounts of a trial balance, as credit balances. */
export function revenueRows(tb: TrialBalance, tenantId: string | null): RevenueRow[] {
  return tb.currencies.flatMap((c) => c.accounts
    .filter((a) => a.account.startsWith('revenue:'))
    .map((a) => {
      const [, cls = '', ...model] = a.account.split(':');
      return { tenantId, currency: c.currency, cls, model: model.join(':') || '—', micros: BigInt(a.creditMicros) - BigInt(a.debitMicros) };
    })
    .filter((r) => r.micros !== 0n));
}

/** Chart scale only: whole currency units as a JS number (exact below 2^53 units); tables use BigInt strings. */
const chartUnits = (micros: bigint): number => Number(micros / 1_000_000n);

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const asOfField = h('input', { name: 'asOf', type: 'text', inputmode: 'numeric', autocomplete: 'off', value: toUtcInput(ctx.serverNowMs()), 'aria-label': 'As of (UTC)', placeholder: 'YYYY-MM-DD HH:MM' });
  const show = h('button', { type: 'submit' }, 'Show');
  const form = h('form', { class: 'inline-form', 'data-revenue': 'as-of' }, h('label', {}, 'As of (UTC) ', asOfField), show);
  const body = h('div');

  const load = async (asOf: string): Promise<void> => {
    const q = `asOf=${encodeURIComponent(asOf)}`;
    const [tb, backlog, invoices, accrued] = await Promise.all([
      api<TrialBalance>('GET', `/v1/ledger/trial-balance?${q}`),
      api<Backlog>('GET', `/v1/backlog?${q}`),
      getInvoices(),
      api<Accrued>('GET', '/v1/billing/accrued'),
    ]);
    const accruedRows = accrued.currencies.flatMap((c) => c.accounts.map((a) => ({ ...a, currency: c.currency })));
    // One trial balance per tenant with invoices: revenue by tenant × class × model from the ledger.
    const billed = [...new Set(invoices.map((i) => i.tenantId))].sort();
    const perTenant = (await Promise.all(billed.map((t) => api<TrialBalance>('GET', `/v1/ledger/trial-balance?${q}&tenantId=${encodeURIComponent(t)}`).then((x) => revenueRows(x, t))))).flat();
    const book = revenueRows(tb, null).sort((a, b) => a.currency.localeCompare(b.currency) || a.cls.localeCompare(b.cls) || a.model.localeCompare(b.model));
    const totals = new Map<string, bigint>();
    for (const r of book) totals.set(r.currency, (totals.get(r.currency) ?? 0n) + r.micros);
    // The chart: USD revenue per class (summed over models, so its few labels read on a phone); the table splits by model.
    const byClass = new Map<string, bigint>();
    for (const r of book) if (r.currency === 'USD') byClass.set(r.cls, (byClass.get(r.cls) ?? 0n) + r.micros);
    const byTenant = perTenant.sort((a, b) => ctx.tenantName(a.tenantId!).localeCompare(ctx.tenantName(b.tenantId!)) || a.cls.localeCompare(b.cls) || a.model.localeCompare(b.model));

    body.replaceChildren(
      h('dl', { class: 'totals' },
        ...[...totals].map(([cur, v]) => stat(`Revenue recognised (${cur})`, money(v, cur), `revenue-${cur}`)),
        ...accrued.currencies.map((c) => stat(`Accrued ${accrued.period}, not yet invoiced (${c.currency})`, money(c.totalMicros, c.currency), `accrued-${c.currency}`)),
        ...backlog.totals.map((t) => stat(`Backlog (${t.currency})`, money(t.remainingMicros, t.currency), `backlog-${t.currency}`)),
        ...backlog.totals.map((t) => stat(`Take-or-pay share (${t.currency})`, shareOf(t.takeOrPayMicros, t.remainingMicros), `takeOrPay-${t.currency}`))),
      h('section', { class: 'panel', 'data-revenue': 'by-class' },
        h('h2', {}, 'Revenue by class and model'),
        byClass.size ? barChart({
          label: 'Revenue recognised by class, whole US dollars', key: 'revenue-by-class',
          categories: [...byClass.keys()],
          series: [{ name: 'Revenue (USD)', values: [...byClass.values()].map(chartUnits), color: '#2563a8' }],
        }) : h('p', { class: 'muted' }, 'No revenue recognised yet.'),
        dataTable({
          cls: 'revenue-classes', rows: book, rowAttrs: (r) => ({ 'data-account': `revenue:${r.cls}:${r.model}` }), empty: '',
          columns: [
            { label: 'Class', key: 'class', cell: (r) => r.cls },
            { label: 'Model', key: 'model', cell: (r) => r.model },
            { label: 'Revenue', key: 'revenue', cls: 'num', cell: (r) => money(r.micros, r.currency) },
          ],
        })),
      h('section', { class: 'panel', 'data-revenue': 'accrued' },
        h('h2', {}, `Accrued this month (${accrued.period}, draft invoices as of ${utc(accrued.asOf)})`),
        dataTable({
          cls: 'revenue-accrued', rows: accruedRows, rowAttrs: (r) => ({ 'data-account': r.account }), empty: 'Nothing accrued this month yet.',
          columns: [
            { label: 'Class', key: 'class', cell: (r) => r.class },
            { label: 'Model', key: 'model', cell: (r) => r.model ?? '—' },
            { label: 'Tenants', key: 'tenants', cls: 'num', cell: (r) => String(r.tenants) },
            { label: 'Accrued', key: 'accrued', cls: 'num', cell: (r) => money(r.amountMicros, r.currency) },
          ],
        })),
      h('section', { class: 'panel', 'data-revenue': 'by-tenant' },
        h('h2', {}, 'Revenue by tenant'),
        dataTable({
          cls: 'revenue-tenants', rows: byTenant, rowAttrs: (r) => ({ 'data-tenant': r.tenantId ?? '' }), empty: 'No revenue recognised yet.',
          columns: [
            { label: 'Tenant', key: 'tenant', cell: (r) => h('strong', {}, ctx.tenantName(r.tenantId!)) },
            { label: 'Class', key: 'class', cell: (r) => r.cls },
            { label: 'Model', key: 'model', cell: (r) => r.model },
            { label: 'Revenue', key: 'revenue', cls: 'num', cell: (r) => money(r.micros, r.currency) },
          ],
        })),
      h('section', { class: 'panel', 'data-revenue': 'backlog' },
        h('h2', {}, 'Backlog (remaining performance obligations)'),
        dataTable({
          cls: 'backlog', rows: backlog.byTenant, rowAttrs: (r) => ({ 'data-tenant': r.tenantId ?? '' }), empty: 'No contracted obligations ahead.',
          columns: [
            { label: 'Tenant', key: 'tenant', cell: (r) => h('strong', {}, ctx.tenantName(r.tenantId!)) },
            { label: 'Remaining', key: 'remaining', cls: 'num', cell: (r) => money(r.remainingMicros, r.currency) },
            { label: 'Take-or-pay', key: 'takeOrPay', cls: 'num', cell: (r) => `${money(r.takeOrPayMicros, r.currency)} (${shareOf(r.takeOrPayMicros, r.remainingMicros)})` },
            { label: '≤ 12 months', key: 'within', cls: 'num', cell: (r) => money(r.within12MonthsMicros, r.currency) },
            { label: 'Beyond', key: 'beyond', cls: 'num', cell: (r) => money(r.beyond12MonthsMicros, r.currency) },
          ],
        })),
      h('section', { class: 'panel', 'data-revenue': 'trial-balance' },
        h('h2', {}, `Trial balance as of ${utc(tb.asOf)}`),
        ...(tb.currencies.length === 0 ? [h('p', { class: 'muted' }, 'No journal entries yet.')] : tb.currencies.map((c) => h('div', { 'data-currency': c.currency },
          h('p', { class: c.balanced ? 'muted' : 'error' }, `${c.currency}: debits ${money(c.debitsMicros, c.currency)}, credits ${money(c.creditsMicros, c.currency)} — ${c.balanced ? 'balanced' : 'NOT balanced'}`),
          dataTable({
            cls: 'trial-balance', rows: c.accounts, rowAttrs: (a) => ({ 'data-account': a.account }),
            columns: [
              { label: 'Account', key: 'account', cls: 'mono', cell: (a) => a.account },
              { label: 'Debit', key: 'debit', cls: 'num', cell: (a) => (a.debitMicros === '0' ? '' : money(a.debitMicros, c.currency)) },
              { label: 'Credit', key: 'credit', cls: 'num', cell: (a) => (a.creditMicros === '0' ? '' : money(a.creditMicros, c.currency)) },
            ],
          }))))),
      h('section', { class: 'panel', 'data-revenue': 'invoices' },
        h('h2', {}, 'Invoices'),
        invoiceTable(invoices, ctx, true)),
    );
  };

  let current = new Date(ctx.serverNowMs()).toISOString();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = fromUtcInput(asOfField.value);
    if (!v) { ctx.onError(new Error('As of (UTC): write a date and time as YYYY-MM-DD HH:MM')); return; }
    current = v;
    show.disabled = true;
    load(v).then(ctx.clearError, ctx.onError).finally(() => { show.disabled = false; });
  });
  // Invoices and journal entries are not in the event log: re-read on the 30 s tick (an empty batch).
  ctx.onEvents((events) => { if (events.length === 0) load(current).catch(ctx.onError); });
  await load(current);
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Revenue')),
    h('section', { class: 'panel' }, form),
    body);
}

export const revenuePage: Page = { route: 'revenue', title: 'Revenue', roles: ['operator'], render };
