/**
 * Issue 18 (findings 2, 3, 6): usage is accepted only if the month's close can bill it, a close
 * survives one tenant's failure and two control planes closing at once, credits beyond the
 * charges are carried as a balance, and late usage is billed for the month it happened in. On
 * PGlite and PostgreSQL (TEST_DATABASE_URL); the race is real only on PostgreSQL (PGlite has one
 * connection), where two control planes share one database too.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/app/control-plane.js';
import { createTenant, startServer, STORE_KINDS, T0, TEST_DATABASE_URL, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const rows = (r: unknown): any[] => (r as { rows: any[] }).rows;
const JAN1 = Date.parse('2027-01-01T00:00:00Z');
const FEB1 = Date.parse('2027-02-01T00:00:00Z');
const TOKENS = { m1: { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } };

let seq = 0;
const tok = (tenantId: string, tokens: string | number, time: number, type = 'tokens.input', model = 'm1') => ({
  specversion: '1.0', id: `ev-${seq++}`, source: '/gw', type, subject: tenantId, time: iso(time), data: { quantity: String(tokens), unit: 'tokens', model },
});

async function contract(s: TestServer, body: Record<string, unknown>): Promise<void> {
  const r = await s.call('POST', '/v1/contracts', { body: { start: iso(T0), ...body } });
  if (r.status !== 201) throw new Error(`contract: ${r.status} ${JSON.stringify(r.body)}`);
}

const trialBalanced = async (s: TestServer): Promise<boolean> => {
  const tb = (await s.call('GET', '/v1/ledger/trial-balance')).body;
  return tb.currencies.length > 0 && tb.currencies.every((c: any) => c.balanced === true);
};
const accountBalance = async (s: TestServer, account: string, tenantId?: string): Promise<bigint> => {
  const tb = (await s.call('GET', `/v1/ledger/trial-balance${tenantId ? `?tenantId=${tenantId}` : ''}`)).body;
  const a = tb.currencies.flatMap((c: any) => c.accounts).find((x: any) => x.account === account);
  return a ? BigInt(a.debitMicros) - BigInt(a.creditMicros) : 0n;
};

describe.each(STORE_KINDS)('ingest refuses what it cannot bill; credits carried; late usage (%s)', (store) => {
  let s: TestServer;
  let big: { id: string; key: string };
  let huge: { id: string; key: string };
  let bare: { id: string; key: string };
  let pricey: { id: string; key: string };
  let cred: { id: string; key: string };
  const stored = async (): Promise<number> => Number(rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n FROM billing_usage_events`))[0].n);

  beforeAll(async () => {
    s = await startServer({ store });
    big = await createTenant(s, 'big');
    huge = await createTenant(s, 'huge');
    bare = await createTenant(s, 'bare');
    pricey = await createTenant(s, 'pricey');
    cred = await createTenant(s, 'cred');
    for (const t of [big, huge, cred]) await contract(s, { tenantId: t.id, kind: 'tokens', terms: { prices: TOKENS } });
    // The highest token price a contract may carry ($1,000,000 per million tokens).
    await contract(s, { tenantId: pricey.id, kind: 'tokens', terms: { prices: { m1: { inputMicrosPerMillion: '1000000000000', outputMicrosPerMillion: '1' } } } });
    s.clock.set(Date.parse('2026-12-10T00:00:00Z'));
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('refuses usage the tenant has no price for, naming the field, and writes nothing', async () => {
    const now = s.clock.nowMs();
    const before = await stored();
    const cases: [string, { id: string; key: string }, unknown, string][] = [
      ['tokens, no tokens contract', bare, tok(bare.id, 1000, now), 'events[1].data.model'],
      ['tokens of a model the contract does not price', big, tok(big.id, 1000, now, 'tokens.output', 'm2'), 'events[1].data.model'],
      ['egress, no on-demand rate', big, { ...tok(big.id, 5, now), type: 'egress.gb', data: { quantity: '5', unit: 'GB' } }, 'events[1].type'],
      ['storage, no on-demand rate', bare, { ...tok(bare.id, 5, now), type: 'storage.gb_hours', data: { quantity: '5', unit: 'GB-h' } }, 'events[1].type'],
    ];
    for (const [name, t, bad, field] of cases) {
      // The first event of each batch is fine on its own (for `big`); the batch is refused whole.
      const r = await s.call('POST', '/v1/usage', { key: t.key, body: { events: [tok(big.id, 1000, now), bad] } });
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(t === big ? 400 : 403);
      if (t !== big) {
        const o = await s.call('POST', '/v1/usage', { body: { events: [bad] } });
        expect([o.status, o.body.field], name).toEqual([400, field.replace('[1]', '[0]')]);
        expect(o.headers.get('content-type')).toMatch(/problem\+json/);
        continue;
      }
      expect(r.body.field, name).toBe(field);
      expect(r.body.detail, name).toContain(field);
    }
    // One event whose own value passes what a month may hold: 9 × 10^12 tokens at $10^6 per million ($9 × 10^12 > $3 × 10^12).
    const v = await s.call('POST', '/v1/usage', { key: pricey.key, body: { events: [tok(pricey.id, '9000000000000', now)] } });
    expect([v.status, v.body.field]).toEqual([400, 'events[0].data.quantity']);
    expect(await stored()).toBe(before);
  });

  it('two events of 9 × 10^12 tokens: the second is refused (the line would overflow); the month closes', async () => {
    const now = s.clock.nowMs();
    const a = await s.call('POST', '/v1/usage', { key: big.key, body: { events: [tok(big.id, '9000000000000', now)] } });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    // The batch's first event is of another line (output tokens); its second is the overflow.
    const b = await s.call('POST', '/v1/usage', { key: big.key, body: { events: [tok(big.id, '1', now, 'tokens.output'), tok(big.id, '9000000000000', now)] } });
    expect([b.status, b.body.field], JSON.stringify(b.body)).toEqual([400, 'events[1].data.quantity']);
    expect(b.body.detail).toContain('more than');
    // The line is full: even one more token is refused; another line of the same month is its own total.
    expect((await s.call('POST', '/v1/usage', { key: big.key, body: { events: [tok(big.id, '1', now)] } })).body.field).toBe('events[0].data.quantity');
    expect((await s.call('POST', '/v1/usage', { key: big.key, body: { events: [tok(big.id, '1000', now, 'tokens.output')] } })).status).toBe(200);
  });

  it('a 10,000-event batch of large quantities is refused whole; the drafts still refresh', async () => {
    const now = s.clock.nowMs();
    const batch = (q: string) => ({ events: Array.from({ length: 10_000 }, () => tok(huge.id, q, now)) });
    const before = await stored();
    const r = await s.call('POST', '/v1/usage', { body: batch('1000000000') }); // 10^13 tokens in all: 10^19 micro-tokens
    // 9,000 events reach 9 × 10^18 micro-tokens exactly; the next one passes it.
    expect([r.status, r.body.field]).toEqual([400, 'events[9000].data.quantity']);
    expect(await stored()).toBe(before);
    // Exactly what a line holds: accepted, and the draft carries it.
    expect((await s.call('POST', '/v1/usage', { body: batch('900000000') })).status).toBe(200);
    const refresh = await s.call('POST', '/v1/invoices/refresh', { body: { period: '2026-12' } });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(200);
    const draft = (await s.call('GET', `/v1/invoices?tenantId=${huge.id}&period=2026-12`)).body.invoices[0];
    const full = (await s.call('GET', `/v1/invoices/${draft.id}`)).body;
    expect(full.lines.map((l: any) => l.quantity)).toEqual(['9000000000000000000']);
  }, 60_000);

  it('an SLA credit larger than the charges: the invoice is 0 and the rest is carried to the next invoice; late usage is billed for its month', async () => {
    const dec10 = Date.parse('2026-12-10T00:00:00Z');
    // December: 2M input tokens ($1.00) and an SLA credit for 1 lost H100-hour at $2.00 (written as the lease meter would).
    expect((await s.call('POST', '/v1/usage', { key: cred.key, body: { events: [tok(cred.id, 2_000_000, dec10)] } })).status).toBe(200);
    await s.cp.handle.db.execute(sql`INSERT INTO billing_usage_events (source, id, tenant_id, type, time, quantity, model, lease_id, lease_class, price_micros, received_at)
      VALUES ('/cells/test/meter', 'sla-1', ${cred.id}, 'sla.gpu_seconds_lost', ${iso(dec10)}::timestamptz, 3600000000, 'H100-SXM', 'lease_sla', 'on-demand', 2000000, now())`);
    s.clock.set(JAN1 + 3_600_000);
    const close = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
    expect(close.status, JSON.stringify(close.body)).toBe(200);
    expect(close.body.failed).toEqual([]);
    const dec = (await s.call('GET', `/v1/invoices/${close.body.invoices.find((i: any) => i.tenantId === cred.id).id}`)).body;
    expect([dec.status, dec.totalMicros, dec.dueMicros]).toEqual(['final', '0', '0']);
    expect(dec.lines.map((l: any) => [l.kind, l.amountMicros])).toEqual([['usage', '1000000'], ['sla_credit', '-2000000'], ['credit_balance', '1000000']]);
    expect(await trialBalanced(s)).toBe(true);
    expect(await accountBalance(s, 'customer_credit_balance', cred.id)).toBe(-1_000_000n); // a liability: a credit of $1.00
    // The big tenant's full line closed too.
    expect(close.body.invoices.find((i: any) => i.tenantId === big.id).status).toBe('final');

    // January: a late December event (4M input tokens, $2.00) and 2M output tokens ($3.00).
    const late = await s.call('POST', '/v1/usage', { key: cred.key, body: { events: [tok(cred.id, 4_000_000, Date.parse('2026-12-31T23:00:00Z')), tok(cred.id, 2_000_000, JAN1 + 1_800_000, 'tokens.output')] } });
    expect(late.status).toBe(200);
    s.clock.set(FEB1 + 3_600_000);
    const jan = await s.call('POST', '/v1/invoices/close', { body: { period: '2027-01' } });
    expect(jan.body.failed).toEqual([]);
    const inv = (await s.call('GET', `/v1/invoices/${jan.body.invoices.find((i: any) => i.tenantId === cred.id).id}`)).body;
    expect(inv.lines.map((l: any) => [l.kind, l.amountMicros, l.serviceStart, l.serviceEnd])).toEqual([
      ['usage', '3000000', iso(JAN1), iso(FEB1)],
      // Late usage of December: its service period is December, not two months before the invoice.
      ['late_usage', '2000000', iso(T0), iso(JAN1)],
      ['credit_balance_applied', '-1000000', iso(JAN1), iso(FEB1)],
    ]);
    expect(inv.totalMicros).toBe('4000000');
    expect(await accountBalance(s, 'customer_credit_balance', cred.id)).toBe(0n);
    expect(await trialBalanced(s)).toBe(true);
  }, 60_000);
});

describe.each(STORE_KINDS)('one tenant cannot stop the close (%s)', (store) => {
  let s: TestServer;
  let good: { id: string; key: string };
  let bad: { id: string; key: string };

  beforeAll(async () => {
    s = await startServer({ store });
    good = await createTenant(s, 'good');
    bad = await createTenant(s, 'bad');
    await contract(s, { tenantId: good.id, kind: 'tokens', terms: { prices: TOKENS } });
    // A reserved term: the close recognises its December fee (a post-close step).
    await contract(s, { tenantId: good.id, kind: 'reserved', end: '2027-03-01T00:00:00Z', terms: { gpuModel: 'H100-SXM', gpuCount: 1, priceMicrosPerGpuHour: '1000000' } });
    s.clock.set(Date.parse('2026-12-10T00:00:00Z'));
    expect((await s.call('POST', '/v1/usage', { key: good.key, body: { events: [tok(good.id, 2_000_000, s.clock.nowMs())] } })).status).toBe(200);
    // Usage that cannot be rated (no price), as data written before ingestion checked prices.
    await s.cp.handle.db.execute(sql`INSERT INTO billing_usage_events (source, id, tenant_id, type, time, quantity, model, received_at)
      VALUES ('/old', 'bad-1', ${bad.id}, 'tokens.input', ${iso(s.clock.nowMs())}::timestamptz, 1000000, 'unpriced', now())`);
    s.clock.set(JAN1 + 3_600_000);
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('finalises the other tenants, runs the post-close steps, and names the tenant that failed', async () => {
    const r = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.failed).toHaveLength(1);
    expect(r.body.failed[0]).toMatchObject({ tenantId: bad.id, step: 'invoice' });
    expect(r.body.failed[0].detail).toContain('no token price for model unpriced');
    expect(r.body.invoices.map((i: any) => [i.tenantId, i.status])).toEqual([[good.id, 'final']]);
    // Recognition ran: December's reserved fee (744 GPU-h × $1) is revenue.
    expect(await accountBalance(s, 'revenue:reserved:H100-SXM', good.id)).toBe(-744_000_000n);
    expect(await trialBalanced(s)).toBe(true);
    // Nothing of the failed tenant was written.
    const left = rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n FROM billing_invoices WHERE tenant_id = ${bad.id}`))[0].n;
    expect(Number(left)).toBe(0);
  });

  it('the CLI prints the failed tenant and exits 1', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const out = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--url', s.url, '--api-key', s.adminKey, 'invoices', 'close', '2026-12'],
      { cwd: root, env: { ...process.env, NEOCLOUD_URL: '', NEOCLOUD_API_KEY: '' } }).then(() => ({ code: 0, stdout: '' }), (err: { code: number; stdout: string }) => err);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('NOT closed');
    expect(out.stdout).toContain(bad.id);
  }, 60_000);
});

describe.each(STORE_KINDS)('closing a month at once from many requests and two control planes (%s)', (store) => {
  let s: TestServer;
  let other: ControlPlane | undefined;
  const tenants: { id: string; key: string }[] = [];

  beforeAll(async () => {
    s = await startServer({ store });
    for (let i = 0; i < 6; i++) {
      const t = await createTenant(s, `race-${i}`);
      tenants.push(t);
      await contract(s, { tenantId: t.id, kind: 'tokens', terms: { prices: TOKENS } });
    }
    await contract(s, { tenantId: tenants[0]!.id, kind: 'reserved', end: '2027-03-01T00:00:00Z', terms: { gpuModel: 'H100-SXM', gpuCount: 1, priceMicrosPerGpuHour: '1000000' } });
    s.clock.set(Date.parse('2026-12-10T00:00:00Z'));
    for (const [i, t] of tenants.entries()) expect((await s.call('POST', '/v1/usage', { body: { events: [tok(t.id, 1_000_000 * (i + 1), s.clock.nowMs())] } })).status).toBe(200);
    s.clock.set(JAN1 + 3_600_000);
    if (store === 'postgres') other = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: s.schema, clock: s.clock, adminKey: s.adminKey, initialFleet: false });
  }, 60_000);
  afterAll(async () => {
    await other?.close();
    await s?.close();
  });

  it('8 concurrent closes (and the other plane\'s): no 5xx, one final invoice per tenant, the same answer, the books balanced', async () => {
    const admin = { kind: 'admin' as const, keyId: 'race' };
    const [answers, fromOther] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, () => s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } }))),
      other ? Promise.all([other.billing.closePeriod(admin, '2026-12'), other.billing.closePeriod(admin, '2026-12')]) : Promise.resolve([]),
    ]);
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    const bodies = [...answers.map((a) => a.body), ...fromOther];
    for (const b of bodies) expect(b.failed).toEqual([]);
    const ids = (b: { invoices: any[] }) => b.invoices.map((i: any) => `${i.tenantId}:${i.id}:${i.status}`).sort();
    for (const b of bodies) expect(ids(b)).toEqual(ids(bodies[0]!));
    expect(bodies[0]!.invoices).toHaveLength(tenants.length);
    const per = rows(await s.cp.handle.db.execute(sql`SELECT tenant_id, count(*)::int AS n FROM billing_invoices WHERE kind = 'monthly' AND period = '2026-12' AND status = 'final' GROUP BY tenant_id`));
    expect(per.map((r) => [r.tenant_id, Number(r.n)]).sort()).toEqual(tenants.map((t) => [t.id, 1]).sort());
    expect(await trialBalanced(s)).toBe(true);
    // Each fact posted once: one invoice entry per tenant, December's reserved fee recognised once.
    const entries = rows(await s.cp.handle.db.execute(sql`SELECT count(*)::int AS n FROM billing_journal_entries WHERE kind = 'invoice' AND ref IN (SELECT id FROM billing_invoices WHERE kind = 'monthly')`));
    expect(Number(entries[0].n)).toBe(tenants.length);
    expect(await accountBalance(s, 'revenue:reserved:H100-SXM')).toBe(-744_000_000n);
  }, 60_000);
});
