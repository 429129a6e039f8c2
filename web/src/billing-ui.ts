/**
 * Billing on the wire, as the console reads it (src/billing/billing-wire.ts is the authority), and
 * the pieces the Billing and Revenue pages share. Money is integer micros of the currency as a
 * decimal string; it is only ever parsed with BigInt.
 */
import { api, apiAll, apiKey, ApiError } from './api.js';
import { h } from './dom.js';

export interface ContractView {
  id: string; version: number; tenantId: string; kind: string; currency: string;
  start: string; end: string | null; terms: Record<string, unknown>; createdAt: string;
  /** A reserved term's whole value, from the server (null for other kinds). */
  valueMicros: string | null;
}
export interface InvoiceSummary {
  id: string; tenantId: string; kind: string; period: string; currency: string; status: 'draft' | 'final' | 'paid' | 'void';
  number: string | null; totalMicros: string; paidMicros: string; createdAt: string; finalizedAt: string | null; contractId: string | null;
}
export interface InvoiceLine {
  lineNo: number; kind: string; description: string; contractId: string | null; model: string | null;
  quantity: string; unit: string; unitPriceMicros: string; amountMicros: string; leaseIds: string[];
  /** Shown as sent (src/billing/line-display.ts): the quantity in the unit the price is per. */
  displayQuantity: string | null; displayUnit: string | null; priceUnit: string | null;
}
export interface InvoiceDetail extends InvoiceSummary { dueMicros: string; lines: InvoiceLine[] }
/** GET /v1/billing/summary: a tenant's month so far; every figure is the server's. */
export interface BillingSummary {
  tenantId: string; period: string; asOf: string; currency: string;
  spendToDateMicros: string; spendToDateInvoiceId: string | null; usageMicros: string; dueMicros: string;
  draft: InvoiceDetail | null; invoices: InvoiceSummary[];
}
/** GET /v1/billing/accrued: the month's drafts per currency and revenue account. */
export interface Accrued {
  period: string; asOf: string;
  currencies: { currency: string; totalMicros: string; accounts: { account: string; class: string; model: string | null; amountMicros: string; tenants: number }[] }[];
}
export interface BacklogSum { tenantId?: string; currency: string; remainingMicros: string; takeOrPayMicros: string; within12MonthsMicros: string; beyond12MonthsMicros: string }
export interface Backlog { asOf: string; totals: BacklogSum[]; byTenant: BacklogSum[]; contracts: (BacklogSum & { contractId: string; tenantId: string; kind: string })[] }
export interface TrialBalance {
  asOf: string;
  currencies: { currency: string; debitsMicros: string; creditsMicros: string; balanced: boolean; accounts: { account: string; debitMicros: string; creditMicros: string }[] }[];
}

/** The calendar month (UTC) of an instant: "2026-12". */
export const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);

/** The sum of decimal-string micros, as a bigint. */
export const sum = (xs: readonly string[]): bigint => xs.reduce((a, x) => a + BigInt(x), 0n);

/**
 * "Printable" for an invoice: the HTML invoice needs the API key (a header a plain link cannot
 * send), so the tab is opened at the click (never popup-blocked) and given the page once fetched.
 */
export function printableButton(inv: InvoiceSummary, onError: (err: unknown) => void): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'secondary small', 'data-printable': inv.id, 'aria-label': `Printable invoice ${inv.number ?? inv.id}` }, 'Printable');
  b.addEventListener('click', () => {
    const tab = window.open('about:blank', '_blank');
    fetch(`/v1/invoices/${encodeURIComponent(inv.id)}/html`, { headers: { Authorization: `Bearer ${apiKey.get() ?? ''}`, Accept: 'text/html' } })
      .then(async (res) => {
        if (!res.ok) throw new ApiError(res.status, 'Invoice', `the printable invoice could not be read (HTTP ${res.status})`);
        const url = URL.createObjectURL(new Blob([await res.text()], { type: 'text/html' }));
        if (tab) tab.location.href = url; else window.location.href = url;
      })
      .catch((err: unknown) => { tab?.close(); onError(err); });
  });
  return b;
}

/** Every invoice `query` selects (`&tenantId=…`), following the pages. */
export const getInvoices = (query = ''): Promise<InvoiceSummary[]> =>
  apiAll<InvoiceSummary>(query ? `/v1/invoices?${query.replace(/^&/, '')}` : '/v1/invoices', 'invoices');
