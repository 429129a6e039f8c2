/**
 * Money and its rounding rules, written once. Every amount is a `bigint` of micros of a currency
 * (1,000,000 micros = one unit: a dollar, a yen); nothing here uses a float. There is one rule
 * per purpose (docs/decisions.md, "Issue 18: one rate card"):
 *
 * | purpose                                   | rule                                         | function          |
 * |-------------------------------------------|----------------------------------------------|-------------------|
 * | a unit price derived from another (discount) | half-even to the micro                    | `roundUnitPrice`  |
 * | a charge (quote, accrued, invoice line)   | half-even to the currency's minor unit       | `roundCharge`     |
 * | GPU time of one lease                     | per lease and UTC calendar month, then summed | `gpuTimeCharge`  |
 * | revenue recognised ratably                | cumulative share, truncated toward 0, to the micro | `ratableShare` |
 * | display                                   | none: amounts are shown as the server sent them (web/src/format.ts) |   |
 *
 * Rounding GPU time per lease and month is what makes a quote equal its invoices: the quote sums
 * the same per-month pieces the monthly invoices bill.
 */
import { nextMonthStartMs } from '../shared/calendar.js';

export const CURRENCIES = ['USD', 'JPY'] as const;
export type Currency = (typeof CURRENCIES)[number];

/** Micros per minor unit: a US cent is 10,000 µ$; the yen has no minor unit (ISO 4217 exponent 0). */
export const MINOR_UNIT_MICROS: Record<Currency, bigint> = { USD: 10_000n, JPY: 1_000_000n };

export const MICRO = 1_000_000n;
export const MS_PER_HOUR = 3_600_000n;
export const BPS = 10_000n;
/** The largest amount the store's `bigint` columns hold (2^63 − 1). */
export const MAX_MICROS = 9_223_372_036_854_775_807n;

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

/** A charge of `num / den` micros, rounded half-even to the currency's minor unit. */
export function roundCharge(num: bigint, den: bigint, currency: Currency): bigint {
  const minor = MINOR_UNIT_MICROS[currency];
  return divHalfEven(num, den * minor) * minor;
}

/** A unit price of `num / den` micros (a discounted price), rounded half-even to the micro. */
export function roundUnitPrice(num: bigint, den: bigint): bigint {
  return divHalfEven(num, den);
}

/**
 * The ratable share of `amount` after `elapsed` of `total` (total > 0), truncated toward zero at
 * the micro so that what is recognised never runs ahead of time; the last instant gives it all.
 */
export function ratableShare(amount: bigint, elapsed: bigint, total: bigint): bigint {
  if (elapsed >= total) return amount;
  return (amount * elapsed) / total;
}

/** `gpuCount` GPUs at `price` per GPU-hour for `ms`: the exact value, as micros × MS_PER_HOUR (divide by MS_PER_HOUR). */
export const gpuTimeNum = (priceMicrosPerGpuHour: bigint, gpuCount: number | bigint, ms: number | bigint): bigint =>
  priceMicrosPerGpuHour * BigInt(gpuCount) * BigInt(ms);

/**
 * What one lease's GPU time over [startMs, endMs) costs: each UTC calendar month's part rounded
 * half-even to the minor unit, then summed — exactly what the monthly invoices of a lease that
 * runs its window bill. Throws RangeError past what the books hold (callers name their field).
 */
export function gpuTimeCharge(priceMicrosPerGpuHour: bigint, gpuCount: number, startMs: number, endMs: number, currency: Currency): bigint {
  let total = 0n;
  for (let a = startMs; a < endMs;) {
    const b = Math.min(endMs, nextMonthStartMs(a));
    total += roundCharge(gpuTimeNum(priceMicrosPerGpuHour, gpuCount, b - a), MS_PER_HOUR, currency);
    a = b;
  }
  if (total > MAX_MICROS) throw new RangeError(`${total} µ is more than the books hold (${MAX_MICROS} µ)`);
  return total;
}

/** A decimal string of micros for the wire ("1890000" is 1.89 of the currency). */
export const str = (v: bigint): string => v.toString();
