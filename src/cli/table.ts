/** Plain-text tables for people; scripts use --json. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (/^-?[\d.,%$]+$/.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/**
 * Integer micro-dollars (a decimal string on the wire, since totals can pass 2^53) as dollars:
 * cents rounded half-up (away from zero) from the micros, thousands separated, all in bigint.
 */
export function usd(micros: string | bigint): string {
  if (typeof micros === 'string' && !/^-?\d+$/.test(micros)) throw new Error(`not an integer amount of micro-dollars: "${micros}"`);
  const m = BigInt(micros);
  const abs = m < 0n ? -m : m;
  const cents = (abs + 5_000n) / 10_000n;
  const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${m < 0n && cents > 0n ? '-' : ''}$${whole}.${(cents % 100n).toString().padStart(2, '0')}`;
}

export function mw(watts: number): string {
  return `${(watts / 1_000_000).toFixed(2)} MW`;
}
