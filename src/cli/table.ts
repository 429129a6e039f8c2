import { formatMoney } from '../shared/money-format.js';

/** Plain-text tables for people; scripts use --json. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (/^-?[\d.,%$]+$/.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Integer micro-dollars (a decimal string) as dollars, exactly as the server rounded them (src/shared/money-format.ts). */
export function usd(micros: string | bigint, currency = 'USD'): string {
  if (typeof micros === 'string' && !/^-?\d+$/.test(micros)) throw new Error(`not an integer amount of micros: "${micros}"`);
  return formatMoney(micros, currency);
}

export function mw(watts: number): string {
  return `${(watts / 1_000_000).toFixed(2)} MW`;
}
