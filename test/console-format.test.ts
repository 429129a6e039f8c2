/** The console's pure formatting (web/src/format.ts): UTC 24-hour time fields and money, checked by property. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dollars, fromUtcInput, span, toUtcInput } from '../web/src/format.js';

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
});
