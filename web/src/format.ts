/** Display formatting. Times are shown in UTC, as the API speaks them. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const count = (n: number): string => integer.format(n);

/** Money arrives as integer micro-dollars: round once to cents, then only integer arithmetic. */
export function dollars(micros: number): string {
  const cents = Math.round(micros / 10_000);
  const abs = Math.abs(cents);
  const whole = (abs - (abs % 100)) / 100;
  return `${cents < 0 ? '-' : ''}$${integer.format(whole)}.${String(abs % 100).padStart(2, '0')}`;
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
