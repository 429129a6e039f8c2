/** Plain-text tables for people; scripts use --json. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (/^-?[\d.,%$]+$/.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Integer micro-dollars as dollars with cents, without going through floats for the integer part. */
export function usd(micros: number): string {
  const neg = micros < 0;
  const cents = Math.round(Math.abs(micros) / 10_000);
  const s = `${Math.floor(cents / 100).toLocaleString('en-US')}.${String(cents % 100).padStart(2, '0')}`;
  return `${neg ? '-' : ''}$${s}`;
}

export function mw(watts: number): string {
  return `${(watts / 1_000_000).toFixed(2)} MW`;
}
