/**
 * Integer money and calendar helpers for billing. Every amount is a `bigint` of micros of the
 * contract's currency; nothing here uses a float. Rounding happens in one place —
 * `roundLine()` — at the invoice line, half-even (banker's rounding) to the currency's minor
 * unit (docs/decisions.md, "Billing (issue 11)").
 */
export const CURRENCIES = ['USD', 'JPY'] as const;
export type Currency = (typeof CURRENCIES)[number];

/** Micros per minor unit: a US cent is 10,000 µ$; the yen has no minor unit (ISO 4217 exponent 0). */
export const MINOR_UNIT_MICROS: Record<Currency, bigint> = { USD: 10_000n, JPY: 1_000_000n };

export const MICRO = 1_000_000n;
export const MS_PER_HOUR = 3_600_000n;
export const BPS = 10_000n;

/** num / den rounded half to even; den > 0. Exact for any bigint. */
export function divHalfEven(num: bigint, den: bigint): bigint {
  if (den <= 0n) throw new RangeError('divHalfEven: the denominator must be positive');
  const neg = num < 0n;
  const a = neg ? -num : num;
  let q = a / den;
  const r2 = (a % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}

/**
 * An invoice line's amount: `num / den` micros, rounded half-even to the currency's minor unit.
 * The only place billing rounds; rated quantities are summed exactly before it.
 */
export function roundLine(num: bigint, den: bigint, currency: Currency): bigint {
  const minor = MINOR_UNIT_MICROS[currency];
  return divHalfEven(num, den * minor) * minor;
}

/** `YYYY-MM` of a UTC instant. */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

export function monthStartMs(month: string): number {
  const ms = Date.parse(`${month}-01T00:00:00.000Z`);
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month) || !Number.isFinite(ms)) throw new RangeError(`not a month: ${month}`);
  return ms;
}

export function addMonths(month: string, n: number): string {
  const d = new Date(monthStartMs(month));
  d.setUTCMonth(d.getUTCMonth() + n);
  return monthOf(d.getTime());
}

export function monthEndMs(month: string): number {
  return monthStartMs(addMonths(month, 1));
}

/** Overlap of [a0, a1) and [b0, b1) in ms (0 when disjoint). */
export function overlapMs(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/** A decimal string of micros for the wire ("1890000" is 1.89 of the currency). */
export const str = (v: bigint): string => v.toString();
