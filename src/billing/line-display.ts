/**
 * How an invoice line's quantity reads beside its unit price: computed once here, on the server,
 * and shown as sent by the console, the CLI and the printable invoice (none of them recompute).
 *
 * A line keeps its exact `quantity` (micro-units of `unit`) and `unitPriceMicros`; the price is per
 * the unit it was set in (GPU time per GPU-hour, tokens per million, storage per GB-hour, egress
 * per GB), so the quantity is shown in that same unit:
 * - GPU time (`GPU-s`, micro-GPU-seconds) in GPU-hours, four decimals (0.0001 GPU-h = 0.36 s),
 *   rounded half-even; the amount is rated from the exact quantity, so quantity × price may differ
 *   from the amount by less than half a cent;
 * - tokens in millions of tokens, GB-h and GB as they are: up to six decimals, exact.
 * A line without a quantity (a prepayment, a true-up, credits) has none to show.
 */
import { divHalfEven } from './money.js';

export interface LineDisplay {
  /** The quantity in `displayUnit`, a plain decimal string ("11.4992"); null when the line has no quantity. */
  displayQuantity: string | null;
  /** "GPU-h", "M tokens", "GB-h", "GB"; null with no quantity. */
  displayUnit: string | null;
  /** What `unitPriceMicros` is per: "per GPU-h", "per M tokens", …; null with no quantity. */
  priceUnit: string | null;
}

/** Micro-units per display unit, and the decimals shown (null: exact, trailing zeros dropped). */
const UNITS: Record<string, { unit: string; microPer: bigint; decimals: number | null }> = {
  'GPU-s': { unit: 'GPU-h', microPer: 3_600n * 1_000_000n, decimals: 4 },
  tokens: { unit: 'M tokens', microPer: 1_000_000n * 1_000_000n, decimals: null },
  'GB-h': { unit: 'GB-h', microPer: 1_000_000n, decimals: null },
  GB: { unit: 'GB', microPer: 1_000_000n, decimals: null },
};

function decimal(v: bigint, decimals: number): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const scale = 10n ** BigInt(decimals);
  const frac = decimals ? `.${(a % scale).toString().padStart(decimals, '0')}` : '';
  return `${neg ? '-' : ''}${a / scale}${frac}`;
}

export function lineDisplay(unit: string, quantityMicro: bigint): LineDisplay {
  const u = UNITS[unit];
  if (!u || unit === '') return { displayQuantity: null, displayUnit: null, priceUnit: null };
  let text: string;
  if (u.decimals !== null) {
    text = decimal(divHalfEven(quantityMicro * 10n ** BigInt(u.decimals), u.microPer), u.decimals);
  } else {
    // Exact: the quantity has at most 6 decimals of the unit, so in millions at most 12.
    const places = (u.microPer.toString().length - 1);
    text = decimal(quantityMicro, places).replace(/\.?0+$/, '');
    if (text === '' || text === '-') text = '0';
  }
  return { displayQuantity: text, displayUnit: u.unit, priceUnit: `per ${u.unit}` };
}
