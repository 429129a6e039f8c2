/** The console's pure formatting (web/src/format.ts): UTC 24-hour time fields and money, checked by property. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dollars, fromUtcInput, money, shareOf, span, toUtcInput } from '../web/src/format.js';

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

describe('money', () => {
  it('shows integer micro-dollars as dollars and cents, half-up, exactly past 2^53', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 24n }), (micros) => {
      const cents = (micros + 5_000n) / 10_000n;
      const text = dollars(micros.toString());
      expect(text.replace(/[$,]/g, '')).toBe(`${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`);
    }));
    expect(dollars('39840000')).toBe('$39.84');
    expect(dollars('4999')).toBe('$0.00');
    expect(dollars('5000')).toBe('$0.01');
    expect(dollars('1.5')).toBe('—');
  });

  it('shows yen as whole yen and USD as dollars; negative amounts (credits) keep their sign', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), (micros) => {
      const abs = micros < 0n ? -micros : micros;
      const yen = (abs + 500_000n) / 1_000_000n;
      const text = money(micros.toString(), 'JPY');
      expect(text).toBe(`${micros < 0n && yen > 0n ? '-' : ''}¥${yen.toLocaleString('en-US')}`);
      expect(money(micros, 'USD')).toBe(dollars(micros));
    }));
    expect(money('-2688000000')).toBe('-$2,688.00');
    expect(money('1500000', 'JPY')).toBe('¥2');
    expect(money('x', 'JPY')).toBe('—');
  });

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
