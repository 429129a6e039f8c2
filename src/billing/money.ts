/**
 * Billing's money and calendar helpers. The rounding rules live in the rate card's module
 * (src/pricing/money.ts: one rule per purpose); an invoice line's amount is a charge
 * (`roundLine` = `roundCharge`: half-even to the currency's minor unit).
 */
export { BPS, CURRENCIES, divHalfEven, MICRO, MINOR_UNIT_MICROS, MS_PER_HOUR, str, type Currency } from '../pricing/index.js';
export { roundCharge as roundLine } from '../pricing/index.js';
export { addMonths, monthEndMs, monthOf, monthStartMs, overlapMs } from '../shared/calendar.js';
