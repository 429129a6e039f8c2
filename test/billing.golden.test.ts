/**
 * The golden month, written out by hand: one tenant's December 2026 — a reserved term with a
 * prepayment, on-demand leases (one released early), a spot lease preempted with notice, a
 * failure credit, tokens with a duplicate and a late event — ends in this final invoice and this
 * ledger, to the micro. Every figure below is computed in the comments, not by the code under test.
 * Runs over HTTP on PGlite, and on PostgreSQL when TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const H = 3_600_000;
const M = 60_000;
const iso = (ms: number): string => new Date(ms).toISOString();

describe.each(STORE_KINDS)('golden month (%s)', (store) => {
  let s: TestServer;
  let acme: { id: string; key: string };
  const leaseIds: Record<string, string> = {};

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() }); // 8 HGX H100 nodes = 64 H100-SXM, list prices: on-demand $2.49, spot $1.35, reserved $1.89
    acme = await createTenant(s, 'acme');
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  const lease = async (body: Record<string, unknown>, key = acme.key): Promise<any> => {
    const r = await s.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', ...body } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const usage = (events: unknown[], key = acme.key) => s.call('POST', '/v1/usage', { key, body: { events } });
  const tok = (id: string, type: string, tokens: number, time: number) => ({
    specversion: '1.0', id, source: '/gateway/eu-1', type, subject: acme.id, time: iso(time), data: { quantity: String(tokens), unit: 'tokens', model: 'llama-70b' },
  });

  it('bills the month exactly', async () => {
    // ---- contracts, signed at T0 = 2026-12-01T00:00Z
    // Reserved: 8 × H100 at $2.00/GPU-h for 2026-12-01 → 2027-03-01 (31 + 31 + 28 = 90 days = 2,160 h).
    // Value 8 × 2.00 × 2,160 = $34,560.00; 25% prepaid at signing = $8,640.00 (a final invoice at once).
    const reserved = await s.call('POST', '/v1/contracts', { body: {
      tenantId: acme.id, kind: 'reserved', start: iso(T0), end: '2027-03-01T00:00:00.000Z',
      terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: '2000000', prepaymentBps: 2500 },
    } });
    expect(reserved.status, JSON.stringify(reserved.body)).toBe(201);
    const prepay = await s.call('GET', `/v1/invoices/${reserved.body.prepaymentInvoiceId}`);
    expect(prepay.body).toMatchObject({ kind: 'prepayment', status: 'final', totalMicros: '8640000000' });
    // On-demand at 10% off the price book: $2.49 → $2.241 per GPU-hour.
    expect((await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'on-demand', start: iso(T0), terms: { discountBps: 1000 } } })).status).toBe(201);
    // Tokens: llama-70b $0.50 per million input, $1.50 per million output.
    expect((await s.call('POST', '/v1/contracts', { body: {
      tenantId: acme.id, kind: 'tokens', start: iso(T0), terms: { prices: { 'llama-70b': { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } },
    } })).status).toBe(201);

    // ---- leases
    // A: on-demand 8 GPUs from T0+1h for 10 h, released after 5 h 30 min 15 s = 19,815 s → 158,520 GPU-s.
    s.clock.set(T0 + H);
    const a = await lease({ gpuCount: 8, durationHours: 10 });
    s.clock.set(T0 + H + 5.5 * H + 15_000);
    expect((await s.call('POST', `/v1/leases/${a.id}/release`, { key: acme.key, body: {} })).status).toBe(200);
    // B: on-demand 8 GPUs booked (at T0+1h) for T0+2h → T0+6h, runs to its end: 4 h → 115,200 GPU-s.
    s.clock.set(T0 + H + 20 * 60_000);
    const b = await lease({ gpuCount: 8, start: iso(T0 + 2 * H), end: iso(T0 + 6 * H) });
    // S: spot 48 GPUs at T0+10h for 24 h, at the spot list price $1.35.
    s.clock.set(T0 + 10 * H);
    const sp = await lease({ gpuCount: 48, class: 'spot', durationHours: 24 });
    // C: on-demand 32 GPUs at T0+12h: only 16 are free, so S is preempted with 5 minutes' notice and
    // C starts at T0+12h05 for 6 h (booked end T0+18h05). S ran T0+10h → T0+12h05 = 7,500 s × 48 = 360,000 GPU-s.
    s.clock.set(T0 + 12 * H);
    const c = await lease({ gpuCount: 32, durationHours: 6 });
    expect(c.start).toBe(iso(T0 + 12 * H + 5 * M));
    expect((await s.call('GET', `/v1/leases/${sp.id}`, { key: acme.key })).body.state).toBe('preempting');
    // At T0+14h05 every H100 node goes down: C cannot move and fails after 2 h → 230,400 GPU-s run,
    // and loses 4 h of its booked time (≤ the 24 h cap) × 32 GPUs = 128 GPU-h: an SLA credit.
    s.clock.set(T0 + 14 * H + 5 * M);
    await s.cp.leases.sweep();
    const down = smallFleet();
    down.nodeStates = Object.fromEntries(Array.from({ length: 2 }, (_, f) => Array.from({ length: 4 }, (_, n) => [`fab-${f + 1}-n00${n + 1}`, 'down' as const])).flat());
    expect((await s.call('PUT', '/v1/fleet', { body: down })).status).toBe(200);
    expect((await s.call('GET', `/v1/leases/${c.id}`, { key: acme.key })).body.state).toBe('failed');
    s.clock.set(T0 + 15 * H);
    expect((await s.call('PUT', '/v1/fleet', { body: smallFleet() })).status).toBe(200);
    // R: a reserved-class lease, 8 GPUs for 24 h on 2026-12-02: covered by the reserved term (rated $0).
    const r = await lease({ gpuCount: 8, class: 'reserved', start: '2026-12-02T00:00:00.000Z', end: '2026-12-03T00:00:00.000Z' });
    // I: internal work, 8 GPUs for 1 h (operator, owner's account): never invoiced; $2.00 transfer price → 8 × 2.00 = $16.00.
    const i = await lease({ gpuCount: 8, class: 'internal', durationHours: 1 }, s.adminKey);
    Object.assign(leaseIds, { a: a.id, b: b.id, sp: sp.id, c: c.id, r: r.id, i: i.id });

    // ---- tokens: 2.5M input + 1M output on Dec 10; the output event sent twice counts once.
    s.clock.set(Date.parse('2026-12-10T12:00:00Z'));
    const t1 = await usage([tok('t-1', 'tokens.input', 2_500_000, s.clock.nowMs()), tok('t-2', 'tokens.output', 1_000_000, s.clock.nowMs())]);
    expect(t1.body).toEqual({ accepted: 2, duplicates: 0 });
    expect((await usage([tok('t-2', 'tokens.output', 1_000_000, s.clock.nowMs())])).body).toEqual({ accepted: 0, duplicates: 1 });
    // A late event: 1M input tokens at Dec 31 23:30, arriving Jan 1 00:20 — December is still open, so it lands there.
    s.clock.set(Date.parse('2027-01-01T00:20:00Z'));
    expect((await usage([tok('t-late', 'tokens.input', 1_000_000, Date.parse('2026-12-31T23:30:00Z'))])).body).toEqual({ accepted: 1, duplicates: 0 });

    // ---- close December
    const close = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
    expect(close.status, JSON.stringify(close.body)).toBe(200);
    expect(close.body.invoices).toHaveLength(1);
    const inv = (await s.call('GET', `/v1/invoices/${close.body.invoices[0].id}`, { key: acme.key })).body;
    expect(inv).toMatchObject({ status: 'final', period: '2026-12', currency: 'USD' });
    const got = inv.lines.map((l: any) => [l.kind, l.model, l.quantity, l.amountMicros]);
    expect(got).toEqual([
      // on-demand: 158,520 + 115,200 + 230,400 = 504,120 GPU-s = 140.0333… GPU-h × $2.241 = $313.8147 → $313.81 (half-even, once, at the line)
      ['usage', 'H100-SXM', '504120000000', '313810000'],
      // reserved-class lease R: 8 × 86,400 s = 691,200 GPU-s, covered by the term
      ['usage', 'H100-SXM', '691200000000', '0'],
      // spot: 360,000 GPU-s = 100 GPU-h × $1.35 = $135.00
      ['usage', 'H100-SXM', '360000000000', '135000000'],
      // input tokens 2.5M + 1M (late, still December) = 3.5M × $0.50/M = $1.75; output 1M × $1.50/M = $1.50
      ['usage', 'llama-70b', '3500000000000', '1750000'],
      ['usage', 'llama-70b', '1000000000000', '1500000'],
      // SLA: 128 GPU-h = 460,800 GPU-s lost × $2.241 × 1.0 = $286.848 → −$286.85
      ['sla_credit', 'H100-SXM', '460800000000', '-286850000'],
      // reserved December in full (term began in it): 8 × $2.00 × 744 h = $11,904.00; 25% drawn from the prepayment
      ['reserved', 'H100-SXM', String(8n * 744n * 3_600_000_000n), '11904000000'],
      ['prepayment_applied', 'H100-SXM', '0', '-2976000000'],
      // January in advance: 8 × $2.00 × 744 h = $11,904.00, 25% prepaid
      ['reserved', 'H100-SXM', String(8n * 744n * 3_600_000_000n), '11904000000'],
      ['prepayment_applied', 'H100-SXM', '0', '-2976000000'],
    ]);
    // The lease ids behind the lines.
    expect(inv.lines[0].leaseIds).toEqual([a.id, b.id, c.id].sort());
    expect(inv.lines[2].leaseIds).toEqual([sp.id]);
    // 313.81 + 0 + 135.00 + 1.75 + 1.50 − 286.85 + 11,904 − 2,976 + 11,904 − 2,976 = $18,021.21
    expect(inv.totalMicros).toBe('18021210000');
    expect(inv.dueMicros).toBe('18021210000');

    // ---- the ledger as of 2027-01-01T00:00Z (December's invoice and recognition are dated then)
    const tb = (await s.call('GET', `/v1/ledger/trial-balance?asOf=2027-01-01T00:00:00.000Z`)).body;
    const usd = tb.currencies.find((x: any) => x.currency === 'USD');
    const bal = Object.fromEntries(usd.accounts.map((x: any) => [x.account, BigInt(x.debitMicros) - BigInt(x.creditMicros)]));
    expect(bal).toEqual({
      // 8,640.00 prepayment + 18,021.21 December
      receivables: 26_661_210_000n,
      // 8,640.00 prepaid − 2 × 2,976.00 applied
      customer_prepayments: -2_688_000_000n,
      // 2 × 11,904 billed in advance − December's 11,904 recognised (its service period is over)
      deferred_revenue: -11_904_000_000n,
      'revenue:reserved:H100-SXM': -11_904_000_000n,
      'revenue:on-demand:H100-SXM': -313_810_000n,
      'revenue:spot:H100-SXM': -135_000_000n,
      'revenue:tokens:llama-70b': -3_250_000n,
      sla_credit_expense: 286_850_000n,
      // internal: 8 GPU-h × $2.00
      internal_transfer_cost: 16_000_000n,
      internal_transfer_income: -16_000_000n,
    });
    expect(usd.balanced).toBe(true);
    expect(usd.debitsMicros).toBe(String(26_661_210_000n + 286_850_000n + 16_000_000n));

    // ---- backlog as of Jan 1: the reserved term's 59 days left = 1,416 h × 8 × $2.00 = $22,656.00, all take-or-pay, all within 12 months
    const bl = (await s.call('GET', '/v1/backlog?asOf=2027-01-01T00:00:00.000Z', { key: acme.key })).body;
    expect(bl.totals).toEqual([{ currency: 'USD', remainingMicros: '22656000000', takeOrPayMicros: '22656000000', within12MonthsMicros: '22656000000', beyond12MonthsMicros: '0' }]);

    // ---- a second close changes nothing; a late event after the close goes to January as an adjustment
    const again = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
    expect(again.body.invoices.map((x: any) => x.id)).toEqual([inv.id]);
    s.clock.set(Date.parse('2027-01-02T00:00:00Z'));
    expect((await usage([tok('t-late-2', 'tokens.input', 1_000_000, Date.parse('2026-12-31T23:40:00Z'))])).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await s.call('GET', `/v1/invoices/${inv.id}`, { key: acme.key })).body.totalMicros).toBe('18021210000');
    const refresh = await s.call('POST', '/v1/invoices/refresh', { body: { period: '2027-01' } });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(200);
    const jan = (await s.call('GET', '/v1/invoices?period=2027-01', { key: acme.key })).body.invoices[0];
    const janFull = (await s.call('GET', `/v1/invoices/${jan.id}`, { key: acme.key })).body;
    expect(janFull.status).toBe('draft');
    // 1M late input tokens × $0.50/M = $0.50 on a late_usage line
    expect(janFull.lines.filter((l: any) => l.kind === 'late_usage').map((l: any) => l.amountMicros)).toEqual(['500000']);

    // ---- pay the prepayment; the printable invoice
    const paid = await s.call('POST', `/v1/invoices/${prepay.body.id}/payments`, { body: { amountMicros: '8640000000', reference: 'wire 42' } });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', dueMicros: '0' });
    const html = await fetch(`${s.url}/v1/invoices/${inv.id}/html`, { headers: { authorization: `Bearer ${acme.key}` } });
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    const page = await html.text();
    expect(page).toContain('$18,021.21');
    expect(page).toContain(inv.number);
  }, 120_000);
});
