/** Display formatting. Times are shown and entered in UTC, 24-hour, as the API speaks them. */
import { formatMoney } from '../../src/shared/money-format.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const count = (n: number): string => integer.format(n);

/** Integer micro-dollars (a decimal string) as dollars: the one display rule, src/shared/money-format.ts. */
export const dollars = (micros: string | bigint): string => formatMoney(micros, 'USD');

export const megawatts = (watts: number): string => `${(watts / 1_000_000).toFixed(2)} MW`;

/** Watts as kW with one decimal (a node's or a small hall's draw). */
export const kilowatts = (watts: number): string => `${(watts / 1000).toFixed(1)} kW`;

export const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** Hours from milliseconds, two decimals ("0.05 h"). */
export const hours = (ms: number): string => `${(ms / 3_600_000).toFixed(2)} h`;

/** "2026-12-01 00:00 UTC" (the suffix left out where a column header says UTC). */
export function utc(iso: string, suffix = true): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')}${suffix ? ' UTC' : ''}`;
}

/** "14:03:09 UTC" for an instant in ms. */
export const utcClock = (ms: number): string => `${new Date(ms).toISOString().slice(11, 19)} UTC`;

/** A UTC time field's value for an instant: "2026-12-01 09:30" (24-hour, minutes). */
export const toUtcInput = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/**
 * A UTC time field's value ("YYYY-MM-DD HH:MM", a "T" also accepted) as RFC 3339; null when empty,
 * undefined when it does not parse (the caller names the field).
 */
export function fromUtcInput(value: string): string | null | undefined {
  const v = value.trim();
  if (v === '') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(v);
  if (!m) return undefined;
  const [y, mo, d, hh, mm] = m.slice(1).map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, hh, mm);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || hh > 23 || mm > 59) return undefined;
  return back.toISOString();
}

/** "3 min", "2 h 5 min", "1 d 4 h": an age or a wait. */
export function span(ms: number): string {
  const min = Math.max(0, Math.floor(ms / 60_000));
  if (min < 60) return `${min} min`;
  const hr = Math.floor(min / 60);
  if (hr < 48) return `${hr} h${min % 60 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(hr / 24)} d${hr % 24 ? ` ${hr % 24} h` : ''}`;
}

/**
 * Money of a currency from integer micros (a decimal string), as the server rounded it: shown
 * exactly, never rounded here (src/shared/money-format.ts, used by the CLI and the invoice too).
 */
export const money = (micros: string | bigint, currency = 'USD'): string => formatMoney(micros, currency);

/** `part` as a share of `whole` (both integer micros), one decimal, computed with BigInt: "62.5%". */
export function shareOf(part: string | bigint, whole: string | bigint): string {
  const w = BigInt(whole);
  if (w === 0n) return '—';
  const tenths = (BigInt(part) * 2000n + w) / (2n * w);
  return `${tenths / 10n}.${tenths % 10n}%`;
}
