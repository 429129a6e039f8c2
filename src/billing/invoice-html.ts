/** A printable invoice (HTML, print styles, no scripts): what `GET /v1/invoices/{id}/html` answers. */
import { MINOR_UNIT_MICROS, type Currency } from './money.js';

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Micros as the currency's major unit with its minor digits (USD: 1234.56; JPY: 1234). Exact, bigint. */
export function formatMoney(micros: string, currency: string): string {
  const v = BigInt(micros);
  const neg = v < 0n;
  const a = neg ? -v : v;
  const whole = (a / 1_000_000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const digits = currency === 'JPY' ? 0 : 2;
  const minor = MINOR_UNIT_MICROS[currency as Currency] ?? 10_000n;
  const frac = digits ? `.${((a % 1_000_000n) / minor).toString().padStart(digits, '0')}` : '';
  return `${neg ? '−' : ''}${currency === 'JPY' ? '¥' : '$'}${whole}${frac}`;
}

export function renderInvoiceHtml(inv: Record<string, unknown>): string {
  const cur = String(inv['currency']);
  const lines = (inv['lines'] as Record<string, unknown>[]) ?? [];
  const rows = lines.map((l) => `<tr><td>${esc(l['lineNo'])}</td><td>${esc(l['description'])}${(l['leaseIds'] as string[]).length ? `<div class="leases">leases: ${esc((l['leaseIds'] as string[]).join(', '))}</div>` : ''}</td>
<td class="n">${esc(l['unit'] ? `${(Number(BigInt(String(l['quantity'])) / 1000n) / 1000).toLocaleString('en-US')} ${l['unit']}` : '')}</td><td class="n">${l['unit'] ? esc(formatMoney(String(l['unitPriceMicros']), cur)) : ''}</td><td class="n">${esc(formatMoney(String(l['amountMicros']), cur))}</td></tr>`).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invoice ${esc(inv['number'] ?? inv['id'])}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
.n{text-align:right;white-space:nowrap}.leases{color:#666;font-size:11px}.status{font-weight:bold;text-transform:uppercase}@media print{body{margin:0}}</style></head><body>
<h1>Invoice ${esc(inv['number'] ?? '(draft)')}</h1>
<p>Tenant <b>${esc(inv['tenantId'])}</b> · period ${esc(inv['period'])} · ${esc(inv['kind'])} · <span class="status">${esc(inv['status'])}</span> · currency ${esc(cur)}</p>
<table><thead><tr><th>#</th><th>Description</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead><tbody>
${rows}
</tbody><tfoot><tr><th></th><th>Total</th><th></th><th></th><th class="n">${esc(formatMoney(String(inv['totalMicros']), cur))}</th></tr>
<tr><td></td><td>Paid</td><td></td><td></td><td class="n">${esc(formatMoney(String(inv['paidMicros']), cur))}</td></tr>
<tr><td></td><td>Due</td><td></td><td></td><td class="n">${esc(formatMoney(String(inv['dueMicros'] ?? '0'), cur))}</td></tr></tfoot></table>
<p>Amounts are rounded half-even to the ${cur === 'JPY' ? 'yen' : 'cent'} per line. GPU time is billed per second for what ran.</p>
</body></html>`;
}
