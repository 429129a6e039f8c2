/** The console's pure formatting (web/src/format.ts): UTC 24-hour time fields and money (the one rule shared with the CLI and the invoice), checked by property. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dollars, fromUtcInput, money, shareOf, span, toUtcInput } from '../web/src/format.js';
import { formatMoney } from '../src/shared/money-format.js';
import { usd } from '../src/cli/table.js';

const MIN = 60_000;
const YEAR_2000 = Date.UTC(2000, 0, 1);
const YEAR_2100 = Date.UTC(2100, 0, 1);

describe('UTC time fields', () => {
  it('round-trip any minute as UTC, 24-hour, whatever the machine\'s zone', () => {
    fc.assert(fc.property(fc.integer({ min: YEAR_2000 / MIN, max: YEAR_2100 / MIN }), (minute) => {
      const ms = minute * MIN;
      const field = toUtcInput(ms);
      expect(field).toMatch(/^\d{4}-\d\d-\d\d ([01]\d|2[0-3]):[0-5]\d$/);
      expect(fromUtcInput(field)).toBe(new Date(ms).toISOString());
      expect(fromUtcInput(field.replace(' ', 'T'))).toBe(new Date(ms).toISOString());
    }));
  });

  it('refuse what is not a UTC minute (undefined: the caller names the field); empty is "not given"', () => {
    for (const bad of ['2026-02-30 10:00', '2026-12-01 24:00', '2026-12-01 10:60', '2026-13-01 00:00', '12/01/2026 10:00 PM', '2026-12-01', 'now']) {
      expect(fromUtcInput(bad), bad).toBeUndefined();
    }
    expect(fromUtcInput('')).toBeNull();
    expect(fromUtcInput('  ')).toBeNull();
  });

  it('spans read as minutes, hours, days', () => {
    expect([span(0), span(5 * MIN), span(65 * MIN), span(49 * 60 * MIN), span(-MIN)]).toEqual(['0 min', '5 min', '1 h 5 min', '2 d 1 h', '0 min']);
  });
});

describe('money: one display rule for the console, the CLI and the printable invoice (src/shared/money-format.ts)', () => {
  /** The rule, restated independently: exact, the minor unit's digits always, further non-zero digits up to the micro. */
  const expected = (micros: bigint, minor: number, sym: string): string => {
    const a = micros < 0n ? -micros : micros;
    let frac = String(a % 1_000_000n).padStart(6, '0');
    while (frac.length > minor && frac.endsWith('0')) frac = frac.slice(0, -1);
    return `${micros < 0n ? '-' : ''}${sym}${(a / 1_000_000n).toLocaleString('en-US')}${frac ? `.${frac}` : ''}`;
  };

  it('shows an amount the server rounded to the cent exactly, past 2^53, never rounding it again', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), (cents) => {
      const micros = cents * 10_000n;
      const text = dollars(micros.toString());
      expect(text).toBe(`${cents < 0n ? '-' : ''}$${((cents < 0n ? -cents : cents) / 100n).toLocaleString('en-US')}.${String((cents < 0n ? -cents : cents) % 100n).padStart(2, '0')}`);
      expect(money(micros, 'USD')).toBe(text);
      expect(formatMoney(micros, 'USD')).toBe(text);
    }));
    expect(dollars('39840000')).toBe('$39.84');
    expect(dollars('0')).toBe('$0.00');
    expect(dollars('1.5')).toBe('—');
    expect(money('-2688000000')).toBe('-$2,688.00');
  });

  it('shows what is finer than the minor unit (a unit price) with as many decimals as it has, up to six: nothing is lost or rounded', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), (micros) => {
      expect(money(micros, 'USD')).toBe(expected(micros, 2, '$'));
      expect(money(micros.toString(), 'JPY')).toBe(expected(micros, 0, '¥'));
      // Exact: the text parses back to the same micros.
      const [w, f = ''] = money(micros, 'USD').replace(/[-$,]/g, '').split('.');
      expect(BigInt(w!) * 1_000_000n + BigInt(f.padEnd(6, '0'))).toBe(micros < 0n ? -micros : micros);
    }));
    // Before issue 18 these were rounded half-up (4999 µ$ showed "$0.00", a $2.241 price "$2.24", ¥1.5 "¥2").
    expect(dollars('4999')).toBe('$0.004999');
    expect(dollars('2241000')).toBe('$2.241');
    expect(money('1500000', 'JPY')).toBe('¥1.5');
    expect(money('1234000000', 'JPY')).toBe('¥1,234');
    expect(money('x', 'JPY')).toBe('—');
  });

  it('the CLI and the printable invoice use the same function', () => {
    expect(usd('2241000')).toBe(formatMoney('2241000', 'USD'));
    expect(usd('-1190400000')).toBe('-$1,190.40');
  });
});

describe('shares', () => {
  it('shares of bigint amounts to one decimal, rounded half-up, without floats', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 24n }), (part, whole) => {
      const tenths = (part * 2000n + whole) / (2n * whole);
      expect(shareOf(part, whole)).toBe(`${tenths / 10n}.${tenths % 10n}%`);
      // Within half a tenth of a percent of the exact share.
      const diff = tenths * whole * 2n - part * 2000n;
      expect(diff <= whole && diff > -whole).toBe(true);
    }));
    expect(shareOf('1', '3')).toBe('33.3%');
    expect(shareOf('2', '3')).toBe('66.7%');
    expect(shareOf('5', '5')).toBe('100.0%');
    expect(shareOf('1', '0')).toBe('—');
  });
});
