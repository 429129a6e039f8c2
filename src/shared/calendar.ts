/** UTC calendar months as `YYYY-MM`, and half-open interval arithmetic. No floats, no local time. */

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

/** The first instant of the UTC month after the one holding `ms`. */
export function nextMonthStartMs(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Overlap of [a0, a1) and [b0, b1) in ms (0 when disjoint). */
export function overlapMs(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}
