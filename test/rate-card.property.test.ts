/**
 * One price, end to end (issue 18): for random tenants' contracts (none, a discount, a negotiated
 * price, a reserved term, a JPY price) and a lease of each class run to its end — across a month
 * boundary or not — the quote's total, the lease's booked total, its accrued money once ended and
 * what its monthly invoices bill for its GPU time are the same amount, to the minor unit. The
 * invoiced amount is read from the closed invoices' lines (the rating code), the quote from the
 * quote endpoint (the rate card through the engine): two paths that must agree.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/shared/clock.js';
import { createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const H = 3_600_000;
const T = Date.parse('2026-11-30T12:00:00.000Z');
const SEED = Number(process.env['PROPERTY_SEED'] ?? 1818);
const RUNS = Number(process.env['PROPERTY_RUNS'] ?? 4);
const iso = (ms: number): string => new Date(ms).toISOString();

type Terms = { kind: 'none' } | { kind: 'discount'; bps: number } | { kind: 'negotiated'; price: bigint } | { kind: 'reserved-term' } | { kind: 'jpy'; price: bigint };
interface Case { cls: 'on-demand' | 'spot' | 'reserved'; terms: Terms; gpus: number; startOffsetMs: number; durationMs: number }

const caseArb: fc.Arbitrary<Case> = fc.record({
  cls: fc.constantFrom('on-demand' as const, 'spot' as const, 'reserved' as const),
  terms: fc.oneof(
    fc.constant<Terms>({ kind: 'none' }),
    fc.integer({ min: 1, max: 9_999 }).map((bps): Terms => ({ kind: 'discount', bps })),
    fc.bigInt({ min: 1n, max: 9_999_999n }).map((price): Terms => ({ kind: 'negotiated', price })),
    fc.constant<Terms>({ kind: 'reserved-term' }),
    fc.bigInt({ min: 1n, max: 999_999_999n }).map((price): Terms => ({ kind: 'jpy', price })),
  ),
  gpus: fc.integer({ min: 1, max: 7 }),
  startOffsetMs: fc.integer({ min: 0, max: 20 * H }),
  durationMs: fc.integer({ min: 60_000, max: 40 * H }),
});

/** The contracts a case asks for, matching its class (a JPY tenant needs a yen price for what it books). */
function contractsOf(c: Case, tenantId: string): Record<string, unknown>[] {
  const start = iso(T - 24 * H);
  const kind = c.cls === 'spot' ? 'spot' : 'on-demand';
  switch (c.terms.kind) {
    case 'none': return [];
    case 'discount': return c.cls === 'reserved' ? [] : [{ tenantId, kind, start, terms: { discountBps: c.terms.bps } }];
    case 'negotiated': return c.cls === 'reserved' ? [] : [{ tenantId, kind, start, terms: { pricesMicrosPerGpuHour: { 'H100-SXM': c.terms.price.toString() } } }];
    case 'reserved-term': return [{ tenantId, kind: 'reserved', start, end: iso(T + 30 * 24 * H), terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: '1000000' } }];
    case 'jpy': return c.cls === 'reserved'
      ? [{ tenantId, kind: 'reserved', currency: 'JPY', start, end: iso(T + 30 * 24 * H), terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: c.terms.price.toString() } }]
      : [{ tenantId, kind, currency: 'JPY', start, terms: { pricesMicrosPerGpuHour: { 'H100-SXM': c.terms.price.toString() } } }];
  }
}

describe('the rate card: quote = lease = accrued = invoiced', () => {
  let s: TestServer | undefined;
  afterEach(async () => { await s?.close(); s = undefined; });

  it('for random contracts and leases run to their end, to the minor unit', async () => {
    await fc.assert(fc.asyncProperty(fc.array(caseArb, { minLength: 1, maxLength: 8 }), async (cases) => {
      await s?.close();
      s = await startServer({ store: 'pglite', fleet: smallFleet(), clock: new ManualClock(T) });
      const srv = s;
      const leases: { c: Case; id: string; key: string; tenantId: string; quoteTotal: string; currency: string }[] = [];
      for (const [i, c] of cases.entries()) {
        const t = await createTenant(srv, `t${i}`);
        for (const body of contractsOf(c, t.id)) {
          const r = await srv.call('POST', '/v1/contracts', { body });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
        }
        const body = { gpuModel: 'H100-SXM', gpuCount: c.gpus, class: c.cls, placement: 'any', start: iso(T + c.startOffsetMs), end: iso(T + c.startOffsetMs + c.durationMs) };
        const q = await srv.call('POST', '/v1/leases/quote', { key: t.key, body });
        expect(q.status, JSON.stringify(q.body)).toBe(200);
        expect(q.body.outcome).toBe('placed');
        const l = await srv.call('POST', '/v1/leases', { key: t.key, body });
        expect(l.status, JSON.stringify(l.body)).toBe(201);
        // The lease is what it was quoted.
        expect([l.body.priceMicrosPerGpuHour, l.body.totalMicros, l.body.currency]).toEqual([q.body.priceMicrosPerGpuHour, q.body.totalMicros, q.body.currency]);
        const expectBasis = c.cls === 'reserved'
          ? (c.terms.kind === 'reserved-term' || c.terms.kind === 'jpy' ? 'reserved-term' : 'list')
          : ({ none: 'list', discount: 'discount', negotiated: 'negotiated', 'reserved-term': 'list', jpy: 'negotiated' } as const)[c.terms.kind];
        expect(q.body.priceBasis).toBe(expectBasis);
        expect(q.body.currency).toBe(c.terms.kind === 'jpy' ? 'JPY' : 'USD');
        leases.push({ c, id: l.body.id, key: t.key, tenantId: t.id, quoteTotal: q.body.totalMicros, currency: q.body.currency });
      }
      // Every lease runs to its end; the sweep logs the ends; November and December are closed.
      srv.clock.set(Date.parse('2027-01-01T01:00:00.000Z'));
      await srv.cp.leases.sweep();
      for (const period of ['2026-11', '2026-12']) {
        const r = await srv.call('POST', '/v1/invoices/close', { body: { period } });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
      for (const x of leases) {
        const view = await srv.call('GET', `/v1/leases/${x.id}`, { key: x.key });
        expect(view.body.accruedMicros, `lease ${x.id} accrued`).toBe(x.quoteTotal);
        let invoiced = 0n;
        const list = await srv.call('GET', '/v1/invoices', { key: x.key });
        for (const inv of list.body.invoices as { id: string; kind: string; status: string; currency: string }[]) {
          if (inv.kind !== 'monthly') continue;
          expect(inv.status).toBe('final');
          expect(inv.currency).toBe(x.currency);
          const full = await srv.call('GET', `/v1/invoices/${inv.id}`, { key: x.key });
          for (const line of full.body.lines as { meter: string | null; leaseIds: string[]; amountMicros: string }[]) {
            if (line.meter === 'gpu.seconds' && line.leaseIds.includes(x.id)) invoiced += BigInt(line.amountMicros);
          }
        }
        expect(invoiced.toString(), `lease ${x.id} (${JSON.stringify(x.c, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}) invoiced`).toBe(x.quoteTotal);
      }
    }), { seed: SEED, numRuns: RUNS, endOnFailure: true });
  }, 600_000);
});
