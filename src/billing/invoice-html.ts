/**
 * A printable invoice (HTML, print styles, no scripts): what `GET /v1/invoices/{id}/html` answers.
 * It shows the invoice detail as BillingService.getInvoice built it: the seller, the customer (its
 * billing profile's legal name and address, else the tenant's name), issue and due dates and the
 * payment terms, and each line's display quantity and unit beside its price per that unit
 * (line-display.ts). Money is formatted by the one display rule (src/shared/money-format.ts).
 */
import { formatMoney } from '../shared/money-format.js';

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const day = (iso: unknown): string => (typeof iso === 'string' ? iso.slice(0, 10) : '');

type J = Record<string, unknown>;

/**
 * The printable invoice's one stylesheet, inline so the page prints on its own. The server's
 * Content-Security-Policy allows exactly this text by its SHA-256 (src/api/security-headers.ts):
 * change it freely, the hash follows.
 */
export const INVOICE_CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
.n{text-align:right;white-space:nowrap}.leases{color:#666;font-size:11px}.status{font-weight:bold;text-transform:uppercase}.parties{display:flex;flex-wrap:wrap;gap:2em;margin:1em 0}
.parties div{min-width:14em}dl.dates{display:grid;grid-template-columns:max-content auto;gap:2px 1em;margin:1em 0}dl.dates dt{color:#555}dl.dates dd{margin:0}.wrap{overflow-x:auto}@media print{body{margin:0}}`;

export function renderInvoiceHtml(inv: J): string {
  const cur = String(inv['currency']);
  const m = (v: unknown): string => esc(formatMoney(String(v ?? '0'), cur));
  const lines = (inv['lines'] as J[] | undefined) ?? [];
  const customer = (inv['customer'] as J | undefined) ?? { name: inv['tenantId'], addressLines: [] };
  const seller = (inv['seller'] as J | undefined) ?? { name: 'neocloud' };
  const rows = lines.map((l) => {
    const leases = (l['leaseIds'] as string[] | undefined) ?? [];
    const qty = l['displayQuantity'] === null || l['displayQuantity'] === undefined ? '' : `${esc(l['displayQuantity'])} ${esc(l['displayUnit'])}`;
    const price = l['priceUnit'] ? `${m(l['unitPriceMicros'])} ${esc(l['priceUnit'])}` : '';
    return `<tr><td>${esc(l['lineNo'])}</td><td>${esc(l['description'])}${leases.length ? `<div class="leases">leases: ${esc(leases.join(', '))}</div>` : ''}</td>` +
      `<td class="n">${qty}</td><td class="n">${price}</td><td class="n">${m(l['amountMicros'])}</td></tr>`;
  }).join('\n');
  const address = [
    ...((customer['addressLines'] as string[] | undefined) ?? []),
    [customer['postalCode'], customer['city']].filter(Boolean).join(' '),
    customer['country'],
  ].filter((x) => typeof x === 'string' && x !== '').map((x) => `${esc(x)}<br>`).join('');
  const issued = inv['issuedAt'] ? day(inv['issuedAt']) : 'not issued (draft)';
  const due = inv['dueAt'] ? day(inv['dueAt']) : '—';
  const terms = typeof inv['paymentTermsDays'] === 'number' ? `net ${inv['paymentTermsDays']} days` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Invoice ${esc(inv['number'] ?? inv['id'])}</title>
<style>${INVOICE_CSS}</style></head><body>
<h1>Invoice ${esc(inv['number'] ?? '(draft)')}</h1>
<section class="parties"><div data-party="seller"><b>From</b><br>${esc(seller['name'])}</div>
<div data-party="customer"><b>Bill to</b><br><span data-customer="name">${esc(customer['name'])}</span><br>${address}${customer['taxId'] ? `Tax id ${esc(customer['taxId'])}<br>` : ''}<span class="muted">account ${esc(inv['tenantId'])}</span></div></section>
<dl class="dates"><dt>Issued</dt><dd data-date="issued">${esc(issued)}</dd><dt>Due</dt><dd data-date="due">${esc(due)}</dd><dt>Terms</dt><dd data-date="terms">${esc(terms)}</dd>
<dt>Period</dt><dd>${esc(inv['period'])} (${esc(inv['kind'])})</dd><dt>Status</dt><dd class="status">${esc(inv['status'])}</dd><dt>Currency</dt><dd>${esc(cur)}</dd></dl>
<div class="wrap"><table><thead><tr><th>#</th><th>Description</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead><tbody>
${rows}
</tbody><tfoot><tr><th></th><th>Total</th><th></th><th></th><th class="n">${m(inv['totalMicros'])}</th></tr>
<tr><td></td><td>Paid</td><td></td><td></td><td class="n">${m(inv['paidMicros'])}</td></tr>
<tr><td></td><td>Due</td><td></td><td></td><td class="n">${m(inv['dueMicros'])}</td></tr></tfoot></table></div>
<p>Amounts are rounded half-even to the ${cur === 'JPY' ? 'yen' : 'cent'} per line, from the exact quantity. GPU time is metered per millisecond and shown in GPU-hours to four decimals.</p>
</body></html>`;
}
