/** Display formatting. Times are shown in UTC, as the API speaks them. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const count = (n: number): string => integer.format(n);

/**
 * Money arrives as integer micro-dollars in a decimal string (totals can pass 2^53): parsed with
 * BigInt, rounded once to cents (half-up, away from zero), then only integer arithmetic.
 */
export function dollars(micros: string | bigint): string {
  if (typeof micros === 'string' && !/^-?\d+$/.test(micros)) return '—';
  const m = BigInt(micros);
  const abs = m < 0n ? -m : m;
  const cents = (abs + 5_000n) / 10_000n;
  return `${m < 0n && cents > 0n ? '-' : ''}$${integer.format(cents / 100n)}.${(cents % 100n).toString().padStart(2, '0')}`;
}

export const megawatts = (watts: number): string => `${(watts / 1_000_000).toFixed(2)} MW`;

export const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** "2026-12-01 00:00 UTC" (the suffix left out where a column header says UTC). */
export function utc(iso: string, suffix = true): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')}${suffix ? ' UTC' : ''}`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** A `datetime-local` input value (local wall time, minutes) for an instant. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value read as local time, as RFC 3339 UTC; null when empty or invalid. */
export function fromLocalInput(value: string): string | null {
  if (value === '') return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
