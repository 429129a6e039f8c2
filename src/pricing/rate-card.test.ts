import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { LIST_TERMS, PriceBook, RateCard, weightMicros, type TenantTerms } from './rate-card.js';

const H = 3_600_000;
const T = Date.parse('2026-12-01T00:00:00Z');
const card = new RateCard(new PriceBook([{ gpuModel: 'H100-SXM', leaseClass: 'on-demand', priceMicrosPerGpuHour: 2_490_000 }]));
const req = { gpuModel: 'H100-SXM' as const, leaseClass: 'on-demand' as const, region: null, gpuCount: 8, startMs: T, endMs: T + 90 * 60_000 };
const terms = (over: Partial<TenantTerms>): TenantTerms => ({ ...LIST_TERMS, ...over });
const od = (over: Partial<NonNullable<TenantTerms['onDemand']>>): TenantTerms['onDemand'] => ({ contractId: 'ctr_od', discountBps: 0, pricesMicrosPerGpuHour: {}, rates: {}, ...over });

describe('the rate card', () => {
  it('a tenant with no contract pays the list price; the fleet\'s book overrides the catalog', () => {
    expect(card.quote(LIST_TERMS, req)).toMatchObject({ priceMicrosPerGpuHour: 2_490_000n, totalMicros: 29_880_000n, currency: 'USD', basis: 'list', contractId: null });
    // spot: not in this book, so the catalog's list price
    expect(card.gpuPrice(LIST_TERMS, { ...req, leaseClass: 'spot' }).priceMicrosPerGpuHour).toBe(1_350_000n);
  });
  it('a 10%-off on-demand contract prices $2.241 (the issue\'s $2.49 list), and the quote is what the invoice will bill', () => {
    const q = card.quote(terms({ onDemand: od({ discountBps: 1000 }) }), req);
    expect(q).toMatchObject({ priceMicrosPerGpuHour: 2_241_000n, basis: 'discount', contractId: 'ctr_od' });
    // 8 GPUs × 1.5 h × $2.241 = $26.892 → $26.89
    expect(q.totalMicros).toBe(26_890_000n);
  });
  it('a negotiated price wins over the discount; $2.50 × 8 × 1.5 h = $30.00 (not $29.88)', () => {
    const q = card.quote(terms({ onDemand: od({ discountBps: 1000, pricesMicrosPerGpuHour: { 'H100-SXM': 2_500_000n } }) }), req);
    expect(q).toMatchObject({ priceMicrosPerGpuHour: 2_500_000n, basis: 'negotiated', totalMicros: 30_000_000n });
  });
  it('spot terms price spot leases only', () => {
    const t = terms({ spot: od({ contractId: 'ctr_spot', discountBps: 5000 }) });
    expect(card.gpuPrice(t, { ...req, leaseClass: 'spot' })).toMatchObject({ priceMicrosPerGpuHour: 675_000n, contractId: 'ctr_spot' });
    expect(card.gpuPrice(t, req)).toMatchObject({ priceMicrosPerGpuHour: 2_490_000n, basis: 'list' });
  });
  it('a reserved term covers a reserved lease only when it spans the window with enough GPUs', () => {
    const t = terms({ reserved: [{ contractId: 'ctr_r', gpuModel: 'H100-SXM', gpuCount: 8, startMs: T, endMs: T + 24 * H, priceMicrosPerGpuHour: 1_000_000n }] });
    const r = { ...req, leaseClass: 'reserved' as const };
    expect(card.quote(t, r)).toMatchObject({ priceMicrosPerGpuHour: 0n, totalMicros: 0n, basis: 'reserved-term', contractId: 'ctr_r' });
    expect(card.gpuPrice(t, { ...r, gpuCount: 9 }).basis).toBe('list');
    expect(card.gpuPrice(t, { ...r, endMs: T + 25 * H }).basis).toBe('list');
    expect(card.gpuPrice(t, { ...r, gpuModel: 'B200' }).basis).toBe('list');
    // an on-demand lease is never covered by a reserved term
    expect(card.gpuPrice(t, req).basis).toBe('list');
  });
  it('a JPY tenant is quoted its yen price, rounded to the yen; without one it is refused naming the model (no USD values in a yen quote)', () => {
    const jpy = terms({ currency: 'JPY', onDemand: od({ pricesMicrosPerGpuHour: { 'H100-SXM': 375_500_000n } }) });
    // 8 × 1.5 h × ¥375.5 = ¥4,506
    expect(card.quote(jpy, req)).toMatchObject({ currency: 'JPY', priceMicrosPerGpuHour: 375_500_000n, totalMicros: 4_506_000_000n });
    let err: unknown;
    try { card.quote(jpy, { ...req, leaseClass: 'spot' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).extensions).toMatchObject({ field: 'gpuModel' });
    expect((err as DomainError).message).toMatch(/JPY.*spot.*H100-SXM/);
  });
  it('internal work is priced at the list whatever the tenant\'s terms', () => {
    expect(card.gpuPrice(terms({ currency: 'JPY' }), { ...req, leaseClass: 'internal' })).toMatchObject({ currency: 'USD', basis: 'list' });
  });
  it('weighs prices of different currencies in USD terms (preemption), never to bill', () => {
    expect(weightMicros(2_000_000n, 'USD')).toBe(2_000_000n);
    expect(weightMicros(300_000_000n, 'JPY')).toBe(2_010_000n);
  });
  it('prices metered usage only where the tenant has a price', () => {
    const t = terms({ onDemand: od({ rates: { 'egress.gb': 50_000n } }), tokens: { m1: { contractId: 'ctr_t', inputMicrosPerMillion: 100n, outputMicrosPerMillion: 300n } } });
    expect(card.usagePrice(t, "tokens.output", "m1")).toEqual({ unitPriceMicros: 300n, perMicroUnits: 10n ** 12n, contractId: "ctr_t" });
    expect(card.usagePrice(t, 'tokens.output', 'm2')).toBeNull();
    expect(card.usagePrice(t, "egress.gb", null)).toEqual({ unitPriceMicros: 50_000n, perMicroUnits: 1_000_000n, contractId: "ctr_od" });
    expect(card.usagePrice(t, 'storage.gb_hours', null)).toBeNull();
    expect(card.usagePrice(LIST_TERMS, 'tokens.input', 'm1')).toBeNull();
  });
  it('refuses, naming gpuCount, a total the books cannot hold', () => {
    let err: unknown;
    const dear = terms({ onDemand: od({ pricesMicrosPerGpuHour: { 'H100-SXM': 10n ** 15n } }) });
    try { card.quote(dear, { ...req, gpuCount: 100_000, endMs: T + 24 * H }); } catch (e) { err = e; }
    expect((err as DomainError).extensions).toMatchObject({ field: 'gpuCount' });
  });
});
