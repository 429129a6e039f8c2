/**
 * Money is append-only in the database (issue 18, finding 7): payments and credit notes are never
 * changed or removed, usage taken by a final invoice never changes, and an invoice's status and
 * paid amount move only with the service's own rows (a payment row with its journal entry). Each
 * forbidden statement below is raw SQL against the store, on PGlite and, when TEST_DATABASE_URL is
 * set, on PostgreSQL; each one succeeded before migration 0016. The service's own flows (pay, credit
 * note, void, close) still pass.
 *
 * A forbidden statement runs in a transaction that is always rolled back, after its deferred
 * checks have run as at commit (`SET CONSTRAINTS ALL IMMEDIATE` after the statements fires them),
 * so one attempt never changes what the next one sees; the last test commits for real to show the
 * deferred checks refuse at commit too.
 */
import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgErrorCode } from '../src/store/index.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const H = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const rows = (r: unknown): any[] => (r as { rows: any[] }).rows;

class Rollback extends Error {}

/** The PostgreSQL error in a driver's error chain (code and message), if any. */
function pgError(err: unknown): { code: string; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return { code, message: String((e as { message?: unknown }).message) };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

describe.each(STORE_KINDS)('billing money is append-only in SQL (%s)', (store) => {
  let s: TestServer;
  const tenants: Record<'acme' | 'beta' | 'gamma', { id: string; key: string }> = {} as never;
  /** December invoices: A partly paid and credited, B unpaid (voided later), C unpaid (paid later); D: acme's January draft. */
  const inv: Record<'A' | 'B' | 'C' | 'D', string> = {} as never;

  const tokens = (tenantId: string, id: string, millions: number, timeMs: number) => ({
    specversion: '1.0', id, source: '/gateway/eu-1', type: 'tokens.input', subject: tenantId, time: iso(timeMs),
    data: { quantity: String(millions * 1_000_000), unit: 'tokens', model: 'llama-70b' },
  });

  /**
   * Runs statements in one transaction, then its deferred checks (as a commit would), then rolls
   * it back. Returns 'accepted' if all passed, else the refusal's SQLSTATE and message.
   */
  const attempt = async (...qs: SQL[]): Promise<string> => {
    try {
      await s.cp.handle.db.transaction(async (tx) => {
        for (const q of qs) await tx.execute(q);
        await tx.execute(sql`SET CONSTRAINTS ALL IMMEDIATE`);
        throw new Rollback();
      });
      return 'unreachable';
    } catch (err) {
      if (err instanceof Rollback) return 'accepted';
      const pe = pgError(err);
      return pe ? `${pe.code}: ${pe.message}` : `not a PostgreSQL error: ${String(err)}`;
    }
  };

  const one = async (q: SQL): Promise<any> => rows(await s.cp.handle.db.execute(q))[0];

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() });
    for (const name of ['acme', 'beta', 'gamma'] as const) {
      tenants[name] = await createTenant(s, name);
      // llama-70b input tokens at $0.50 per million.
      const c = await s.call('POST', '/v1/contracts', { body: {
        tenantId: tenants[name].id, kind: 'tokens', start: iso(T0), terms: { prices: { 'llama-70b': { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } },
      } });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
    }
    // December: acme 2M tokens ($1.00), beta 4M ($2.00), gamma 6M ($3.00).
    s.clock.set(T0 + H);
    for (const [name, m] of [['acme', 2], ['beta', 4], ['gamma', 6]] as const) {
      const u = await s.call('POST', '/v1/usage', { key: tenants[name].key, body: { events: [tokens(tenants[name].id, `dec-${name}`, m, T0 + H)] } });
      expect(u.body).toEqual({ accepted: 1, duplicates: 0 });
    }
    s.clock.set(Date.parse('2027-01-01T01:00:00Z'));
    const close = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
    expect(close.status, JSON.stringify(close.body)).toBe(200);
    const byTenant = new Map<string, any>(close.body.invoices.map((i: any) => [i.tenantId, i]));
    inv.A = byTenant.get(tenants.acme.id).id;
    inv.B = byTenant.get(tenants.beta.id).id;
    inv.C = byTenant.get(tenants.gamma.id).id;
    expect(byTenant.get(tenants.acme.id)).toMatchObject({ status: 'final', totalMicros: '1000000' });
    // A: $0.30 paid, $0.20 credited, $0.50 due.
    expect((await s.call('POST', `/v1/invoices/${inv.A}/payments`, { body: { amountMicros: '300000' } })).body).toMatchObject({ status: 'final', paidMicros: '300000' });
    expect((await s.call('POST', `/v1/invoices/${inv.A}/credit-notes`, { body: { amountMicros: '200000', reason: 'goodwill' } })).body).toMatchObject({ dueMicros: '500000' });
    // D: acme's January draft (2M tokens).
    const jan = await s.call('POST', '/v1/usage', { key: tenants.acme.key, body: { events: [tokens(tenants.acme.id, 'jan-acme', 2, s.clock.nowMs())] } });
    expect(jan.body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await s.call('POST', '/v1/invoices/refresh', { body: { period: '2027-01' } })).status).toBe(200);
    inv.D = (await s.call('GET', '/v1/invoices?period=2027-01', { key: tenants.acme.key })).body.invoices[0].id;
    expect((await one(sql`SELECT status FROM billing_invoices WHERE id = ${inv.D}`)).status).toBe('draft');
    // The usage December's invoice took is attached to it.
    expect((await one(sql`SELECT count(*)::int AS n FROM billing_usage_events WHERE invoice_id = ${inv.A}`)).n).toBe(1);
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  // [what is tried, the statements (one transaction), expected SQLSTATE, what the message must name]
  const forbidden: [string, () => SQL[], string, RegExp][] = [
    ['UPDATE a credit note\'s amount', () => [sql`UPDATE billing_credit_notes SET amount_micros = 1000000 WHERE invoice_id = ${inv.A}`], 'NC102', /billing_credit_notes is append-only/],
    ['UPDATE a credit note\'s reason', () => [sql`UPDATE billing_credit_notes SET reason = 'x' WHERE invoice_id = ${inv.A}`], 'NC102', /billing_credit_notes is append-only/],
    ['DELETE a credit note', () => [sql`DELETE FROM billing_credit_notes WHERE invoice_id = ${inv.A}`], 'NC102', /billing_credit_notes is append-only/],
    ['TRUNCATE billing_credit_notes', () => [sql`TRUNCATE billing_credit_notes`], 'NC102', /billing_credit_notes is append-only/],
    ['UPDATE a payment\'s amount', () => [sql`UPDATE billing_payments SET amount_micros = 1 WHERE invoice_id = ${inv.A}`], 'NC102', /billing_payments is append-only/],
    ['move a payment to another invoice', () => [sql`UPDATE billing_payments SET invoice_id = ${inv.B} WHERE invoice_id = ${inv.A}`], 'NC102', /billing_payments is append-only/],
    ['DELETE a payment', () => [sql`DELETE FROM billing_payments`], 'NC102', /billing_payments is append-only/],
    ['TRUNCATE billing_payments', () => [sql`TRUNCATE billing_payments`], 'NC102', /billing_payments is append-only/],
    ['TRUNCATE billing_credit_notes, billing_payments', () => [sql`TRUNCATE billing_credit_notes, billing_payments`], 'NC102', /append-only/],
    ['UPDATE billed usage\'s quantity', () => [sql`UPDATE billing_usage_events SET quantity = 1 WHERE invoice_id = ${inv.A}`], 'NC103', /billing_usage_events.*invoice .* is final/],
    ['detach billed usage (SET invoice_id = NULL: billed again as late usage)', () => [sql`UPDATE billing_usage_events SET invoice_id = NULL WHERE invoice_id = ${inv.A}`], 'NC103', /billing_usage_events.*invoice .* is final/],
    ['DELETE billed usage', () => [sql`DELETE FROM billing_usage_events WHERE invoice_id = ${inv.A}`], 'NC103', /billing_usage_events.*invoice .* is final/],
    ['TRUNCATE billing_usage_events', () => [sql`TRUNCATE billing_usage_events`], 'NC103', /billing_usage_events/],
    ['mark an invoice paid with no payment (status and paid_micros)', () => [sql`UPDATE billing_invoices SET status = 'paid', paid_micros = 800000 WHERE id = ${inv.A}`], 'NC103', /billing_invoices.*paid_micros.*payments/],
    ['raise paid_micros with no payment', () => [sql`UPDATE billing_invoices SET paid_micros = paid_micros + 1 WHERE id = ${inv.A}`], 'NC103', /billing_invoices.*paid_micros.*payments/],
    ['mark an invoice paid while money is due', () => [sql`UPDATE billing_invoices SET status = 'paid' WHERE id = ${inv.A}`], 'NC103', /billing_invoices.*paid only when/],
    ['void a partly paid, credited invoice', () => [sql`UPDATE billing_invoices SET status = 'void' WHERE id = ${inv.A}`], 'NC103', /billing_invoices.*void only/],
    ['set closed_at of a final invoice that stays final', () => [sql`UPDATE billing_invoices SET closed_at = now() WHERE id = ${inv.A}`], 'NC103', /billing_invoices/],
    ['a draft straight to paid', () => [sql`UPDATE billing_invoices SET status = 'paid', number = 'INV-FAKE' WHERE id = ${inv.D}`], 'NC103', /billing_invoices.*draft/],
    ['a draft straight to void', () => [sql`UPDATE billing_invoices SET status = 'void', number = 'INV-FAKE' WHERE id = ${inv.D}`], 'NC103', /billing_invoices.*draft/],
    ['a payment row alone (paid_micros not moved)', () => [
      sql`INSERT INTO billing_payments (id, invoice_id, tenant_id, amount_micros, received_at) VALUES ('pay_forged', ${inv.A}, ${tenants.acme.id}, 500000, now())`,
    ], 'NC103', /billing_payments.*paid_micros/],
    ['a payment and paid_micros with no journal entry', () => [
      sql`INSERT INTO billing_payments (id, invoice_id, tenant_id, amount_micros, received_at) VALUES ('pay_forged', ${inv.A}, ${tenants.acme.id}, 500000, now())`,
      sql`UPDATE billing_invoices SET status = 'paid', paid_micros = 800000, closed_at = now() WHERE id = ${inv.A}`,
    ], 'NC103', /payment pay_forged has no journal entry/],
    ['a payment recorded under another tenant', () => [
      sql`INSERT INTO billing_payments (id, invoice_id, tenant_id, amount_micros, received_at) VALUES ('pay_forged', ${inv.A}, ${tenants.beta.id}, 500000, now())`,
    ], 'NC103', /billing_payments.*tenant/],
    ['a payment on a draft', () => [
      sql`INSERT INTO billing_payments (id, invoice_id, tenant_id, amount_micros, received_at) VALUES ('pay_forged', ${inv.D}, ${tenants.acme.id}, 1, now())`,
      sql`UPDATE billing_invoices SET paid_micros = 1 WHERE id = ${inv.D}`,
    ], 'NC103', /billing_payments.*draft/],
    ['a credit note on a draft', () => [
      sql`INSERT INTO billing_credit_notes (id, invoice_id, tenant_id, amount_micros, reason, created_at) VALUES ('cn_forged', ${inv.D}, ${tenants.acme.id}, 1, 'x', now())`,
    ], 'NC103', /billing_credit_notes.*draft/],
    ['a credit note with no journal entry', () => [
      sql`INSERT INTO billing_credit_notes (id, invoice_id, tenant_id, amount_micros, reason, created_at) VALUES ('cn_forged', ${inv.A}, ${tenants.acme.id}, 500000, 'x', now())`,
    ], 'NC103', /credit note cn_forged has no journal entry/],
  ];

  it.each(forbidden)('refuses: %s', async (_name, qs, code, message) => {
    const before = await one(sql`SELECT (SELECT json_agg(i ORDER BY id) FROM billing_invoices i) AS i, (SELECT json_agg(p ORDER BY id) FROM billing_payments p) AS p,
      (SELECT json_agg(c ORDER BY id) FROM billing_credit_notes c) AS c, (SELECT count(*)::int FROM billing_usage_events WHERE invoice_id IS NOT NULL) AS u`);
    const r = await attempt(...qs());
    expect(r.slice(0, 5), r).toBe(code);
    expect(r).toMatch(message);
    expect(await one(sql`SELECT (SELECT json_agg(i ORDER BY id) FROM billing_invoices i) AS i, (SELECT json_agg(p ORDER BY id) FROM billing_payments p) AS p,
      (SELECT json_agg(c ORDER BY id) FROM billing_credit_notes c) AS c, (SELECT count(*)::int FROM billing_usage_events WHERE invoice_id IS NOT NULL) AS u`)).toEqual(before);
  });

  it('lets the service\'s own rows through: open usage, drafts, pay, credit note, void, close', async () => {
    // Open usage and drafts stay free (the meter and the draft refresh rewrite them).
    expect(await attempt(sql`UPDATE billing_usage_events SET quantity = quantity + 1 WHERE invoice_id IS NULL`, sql`DELETE FROM billing_usage_events WHERE invoice_id IS NULL`)).toBe('accepted');
    expect(await attempt(sql`UPDATE billing_invoices SET total_micros = 1 WHERE id = ${inv.D}`)).toBe('accepted');
    // A: paid in full (the rest), then credited once more after payment.
    const paid = await s.call('POST', `/v1/invoices/${inv.A}/payments`, { body: { amountMicros: '500000', reference: 'wire 1' } });
    expect(paid.body, JSON.stringify(paid.body)).toMatchObject({ status: 'paid', paidMicros: '800000', dueMicros: '0' });
    const cn = await s.call('POST', `/v1/invoices/${inv.A}/credit-notes`, { body: { amountMicros: '100000', reason: 'late refund' } });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    // B: voided unpaid.
    const v = await s.call('POST', `/v1/invoices/${inv.B}/void`, { body: {} });
    expect(v.body, JSON.stringify(v.body)).toMatchObject({ status: 'void' });
    // C: two payments, the second settles it.
    expect((await s.call('POST', `/v1/invoices/${inv.C}/payments`, { body: { amountMicros: '1000000' } })).body).toMatchObject({ status: 'final', paidMicros: '1000000' });
    expect((await s.call('POST', `/v1/invoices/${inv.C}/payments`, { body: { amountMicros: '2000000' } })).body).toMatchObject({ status: 'paid', paidMicros: '3000000' });
    // January closes: D is finalised with the usage it takes.
    s.clock.set(Date.parse('2027-02-01T01:00:00Z'));
    const close = await s.call('POST', '/v1/invoices/close', { body: { period: '2027-01' } });
    expect(close.status, JSON.stringify(close.body)).toBe(200);
    // A's credit note came after it was paid in full: its 100,000 µ went to the tenant's credit
    // balance (issue 18), which D's January invoice applies: 1,000,000 − 100,000.
    expect(close.body.invoices).toEqual([expect.objectContaining({ id: inv.D, status: 'final', totalMicros: '900000' })]);
    expect((await one(sql`SELECT count(*)::int AS n FROM billing_usage_events WHERE invoice_id = ${inv.D}`)).n).toBe(1);
    // The books still balance, and each invoice's paid amount is the sum of its payments.
    const tb = await s.call('GET', '/v1/ledger/trial-balance');
    expect(tb.body.currencies.every((c: any) => c.balanced)).toBe(true);
    const mismatched = rows(await s.cp.handle.db.execute(sql`SELECT i.id FROM billing_invoices i
      WHERE i.paid_micros <> coalesce((SELECT sum(amount_micros) FROM billing_payments p WHERE p.invoice_id = i.id), 0)`));
    expect(mismatched).toEqual([]);
  });

  it('refuses a forged payment at commit, with the deferred checks left deferred', async () => {
    // D is now final: a payment row alone, committed, is refused by the check at commit.
    const r = await s.cp.handle.db.execute(sql`INSERT INTO billing_payments (id, invoice_id, tenant_id, amount_micros, received_at) VALUES ('pay_commit', ${inv.D}, ${tenants.acme.id}, 1000000, now())`)
      .then(() => 'accepted', (err: unknown) => pgErrorCode(err));
    expect(r).toBe('NC103');
    expect(rows(await s.cp.handle.db.execute(sql`SELECT id FROM billing_payments WHERE invoice_id = ${inv.D}`))).toEqual([]);
  });
});
