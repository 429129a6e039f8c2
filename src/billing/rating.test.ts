/** Examples of the rating rules, worked by hand (the properties are in billing.property.test.ts). */
import { describe, expect, it } from 'vitest';
import type { Contract, UsageSum } from './billing-types.js';
import { rateMonth, type RatingInput } from './rating.js';

const base = { version: 1, tenantId: 't', createdAtMs: 0 };
const input = (contracts: Contract[], usage: UsageSum[], over: Partial<RatingInput> = {}): RatingInput => ({
  tenantId: 't', currency: 'USD', period: '2026-12', contracts, usage, reservedBilled: new Set(), prepaymentLeft: new Map(), creditsLeft: new Map(), slaMultiplierBps: 10_000n, ...over,
});
const reserved: Contract = {
  ...base, currency: 'USD', id: 'r', kind: 'reserved', startMs: Date.parse('2026-10-15T00:00:00Z'), endMs: Date.parse('2027-01-15T00:00:00Z'),
  terms: { gpuModel: 'H100-SXM', gpuCount: 1, priceMicrosPerGpuHour: 1_000_000n, prepaymentBps: 0 },
};

describe('reserved terms', () => {
  it('bill every month of the term once: months no final invoice billed are caught up, the next month in advance, nothing past the end', () => {
    const months = (billed: string[]) => rateMonth(input([reserved], [], { reservedBilled: new Set(billed.map((m) => `r/${m}`)) }))
      .filter((l) => l.kind === 'reserved').map((l) => [new Date(l.serviceStartMs).toISOString().slice(0, 10), l.amountMicros]);
    // Oct 15–31 = 17 days = 408 h × $1; Nov 720 h; Dec 744 h; Jan 1–15 = 336 h.
    expect(months([])).toEqual([['2026-10-15', 408_000_000n], ['2026-11-01', 720_000_000n], ['2026-12-01', 744_000_000n], ['2027-01-01', 336_000_000n]]);
    expect(months(['2026-10', '2026-11'])).toEqual([['2026-12-01', 744_000_000n], ['2027-01-01', 336_000_000n]]);
    expect(months(['2026-10', '2026-11', '2026-12', '2027-01'])).toEqual([]);
  });

  it('draws the prepaid share each month and the rest in the term\'s last month', () => {
    const c: Contract = { ...reserved, terms: { ...reserved.terms as { gpuModel: string; gpuCount: number; priceMicrosPerGpuHour: bigint }, prepaymentBps: 3333 } };
    // Prepaid: 33.33% of 2,208 h × $1 = $735.9264 → $735.93 at signing.
    const lines = rateMonth(input([c], [], { prepaymentLeft: new Map([['r', 735_930_000n]]) }));
    // Oct 408 × 33.33% = 135.9864 → 135.99; Nov 720 → 239.976 → 239.98; Dec 744 → 247.9752 → 247.98; Jan (last): the rest 735.93 − 623.95 = 111.98.
    expect(lines.filter((l) => l.kind === 'prepayment_applied').map((l) => l.amountMicros)).toEqual([-135_990_000n, -239_980_000n, -247_980_000n, -111_980_000n]);
  });
});

describe('currencies', () => {
  it('rounds JPY to the yen, at the lease\'s own (rate card) price', () => {
    // The lease was booked at the tenant's negotiated ¥375.5/GPU-h (the rate card); rating bills that price.
    const gpu: UsageSum = { type: 'gpu.seconds', model: 'H100-SXM', leaseClass: 'on-demand', priceMicros: 375_500_000n, leaseId: 'l', late: false, lateMonth: null, quantity: 5_400n * 1_000_000n };
    const jpy: Contract = { ...base, currency: 'JPY', id: 'od', kind: 'on-demand', startMs: 0, endMs: null, terms: { discountBps: 0, pricesMicrosPerGpuHour: { 'H100-SXM': 375_500_000n }, rates: {} } };
    // 1.5 GPU-h × ¥375.5 = ¥563.25 → ¥563
    expect(rateMonth(input([jpy], [gpu], { currency: 'JPY' })).map((l) => l.amountMicros)).toEqual([563_000_000n]);
  });
});
