/**
 * Money as people read it, written once for the web console (bundled by esbuild from here), the
 * CLI and the printable invoice. Pure: no imports, no floats, no rounding.
 *
 * The one display rule (docs/decisions.md, "Issue 18: bills a person can read"): an amount is
 * integer micros of its currency (a decimal string on the wire) that the server has already
 * rounded to the currency's minor unit; it is shown exactly, with the minor unit's digits (USD:
 * cents, two; JPY: none, ISO 4217 exponent 0) and any further non-zero digits it carries, up to
 * the micro. So a unit price of 2,241,000 µ$ reads "$2.241" and an invoice total never moves by
 * a cent between the console, the CLI and the printable copy: nothing here rounds.
 */

/** Digits of the minor unit per currency (ISO 4217 exponent); unknown currencies show two. */
const MINOR_DIGITS: Record<string, number> = { USD: 2, JPY: 0 };
const SYMBOL: Record<string, string> = { USD: '$', JPY: '¥' };

const group = (digits: string): string => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * `micros` of `currency` as text: "$1,234.56", "$2.241", "¥1,234", "-$2,688.00"; "—" for what is
 * not an integer. A currency without a symbol is suffixed ("1,234.56 EUR").
 */
export function formatMoney(micros: string | bigint, currency = 'USD'): string {
  if (typeof micros === 'string' && !/^-?\d+$/.test(micros)) return '—';
  const v = BigInt(micros);
  const neg = v < 0n;
  const a = neg ? -v : v;
  const minor = MINOR_DIGITS[currency] ?? 2;
  // The six micro digits, trailing zeros dropped down to the minor unit's digits (never below).
  let frac = (a % 1_000_000n).toString().padStart(6, '0');
  while (frac.length > minor && frac.endsWith('0')) frac = frac.slice(0, -1);
  const text = `${group((a / 1_000_000n).toString())}${frac ? `.${frac}` : ''}`;
  const sym = SYMBOL[currency];
  return `${neg ? '-' : ''}${sym === undefined ? `${text} ${currency}` : `${sym}${text}`}`;
}
