/**
 * Backlog: remaining performance obligations (ASC 606 ¶120, IFRS 15 ¶120) — revenue contracted
 * but not yet recognised — per contract, with the take-or-pay share and the part expected within
 * the next 12 months. Pure.
 *
 * - Reserved terms: the value of the term still ahead (GPUs × price × hours after `asOf`), all
 *   take-or-pay; recognised ratably, so what is ahead in time is what is not yet recognised.
 * - Commitments: the monthly minimum for the rest of the term (take-or-pay: owed used or not).
 * - Prepaid credits: their unapplied balance until expiry (paid, not take-or-pay: breakage).
 * On-demand, spot and token contracts promise no quantity and add nothing.
 */
import type { Contract } from './billing-types.js';
import { roundLine, type Currency } from './money.js';
import { gpuTimeValue } from './rating.js';

export interface BacklogRow {
  contractId: string;
  tenantId: string;
  kind: string;
  currency: Currency;
  remainingMicros: bigint;
  takeOrPayMicros: bigint;
  within12MonthsMicros: bigint;
  beyond12MonthsMicros: bigint;
}

/** The same calendar instant 12 months after `ms` (UTC). */
export function plus12Months(ms: number): number {
  const d = new Date(ms);
  d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d.getTime();
}

export function backlogOf(contracts: readonly Contract[], asOfMs: number, creditsLeft: ReadonlyMap<string, bigint>): BacklogRow[] {
  const horizon = plus12Months(asOfMs);
  const rows: BacklogRow[] = [];
  for (const c of contracts) {
    let remaining = 0n;
    let within = 0n;
    let takeOrPay = false;
    if (c.kind === 'reserved' && c.endMs !== null) {
      const from = Math.max(asOfMs, c.startMs);
      if (c.endMs <= from) continue;
      remaining = gpuTimeValue(c.terms.gpuCount, c.terms.priceMicrosPerGpuHour, c.endMs - from, c.currency);
      within = gpuTimeValue(c.terms.gpuCount, c.terms.priceMicrosPerGpuHour, Math.max(0, Math.min(c.endMs, horizon) - from), c.currency);
      takeOrPay = true;
    } else if (c.kind === 'commitment' && c.endMs !== null) {
      const from = Math.max(asOfMs, c.startMs);
      if (c.endMs <= from) continue;
      // Monthly minimum pro-rated by time (a month is 1/12 of a 365.25-day year here; the invoice pro-rates by the calendar month).
      const perMs = (ms: number): bigint => roundLine(c.terms.minimumMicrosPerMonth * 12n * BigInt(ms), 31_557_600_000n, c.currency);
      remaining = perMs(c.endMs - from);
      within = perMs(Math.max(0, Math.min(c.endMs, horizon) - from));
      takeOrPay = true;
    } else if (c.kind === 'credits') {
      if (c.terms.expiresAtMs <= asOfMs) continue;
      remaining = creditsLeft.get(c.id) ?? 0n;
      within = c.terms.expiresAtMs <= horizon ? remaining : remaining; // credits are expected to be used within their life; shown within 12 months
    } else {
      continue;
    }
    if (remaining === 0n) continue;
    rows.push({
      contractId: c.id, tenantId: c.tenantId, kind: c.kind, currency: c.currency, remainingMicros: remaining,
      takeOrPayMicros: takeOrPay ? remaining : 0n, within12MonthsMicros: within, beyond12MonthsMicros: remaining - within,
    });
  }
  return rows;
}

