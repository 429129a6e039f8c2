/**
 * Usage deduplication is per tenant (issue 18, finding 5): the key is `(tenant, source, id)` within
 * the 35-day window. Two tenants whose gateways happen to use the same CloudEvents `source` and `id`
 * each get their event counted, and neither reply mentions the other's event. Over HTTP, on PGlite
 * and, when TEST_DATABASE_URL is set, on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();

describe.each(STORE_KINDS)('usage dedup per tenant (%s)', (store) => {
  let s: TestServer;
  let acme: { id: string; key: string };
  let beta: { id: string; key: string };
  // The same source and id for both tenants; only the subject differs.
  const ev = (subject: string, id: string, quantity: string) => ({
    specversion: '1.0', id, source: '/gateway/shared', type: 'tokens.input', subject, time: iso(s.clock.nowMs()),
    data: { quantity, unit: 'tokens', model: 'llama-70b' },
  });
  const usage = (key: string, events: unknown[]) => s.call('POST', '/v1/usage', { key, body: { events } });
  const tokensOf = async (key: string): Promise<string | undefined> =>
    (await s.call('GET', '/v1/usage?period=2026-12', { key })).body.usage.find((u: { type: string }) => u.type === 'tokens.input')?.quantity;

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet() });
    acme = await createTenant(s, 'acme');
    beta = await createTenant(s, 'beta');
    // Both tenants can be billed for these tokens (a price per model), so nothing here depends on
    // whether ingest accepts usage it has no price for.
    for (const t of [acme, beta]) {
      const c = await s.call('POST', '/v1/contracts', { body: {
        tenantId: t.id, kind: 'tokens', start: iso(T0), terms: { prices: { 'llama-70b': { inputMicrosPerMillion: '500000', outputMicrosPerMillion: '1500000' } } },
      } });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
    }
    s.clock.set(T0 + 3_600_000);
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  it('counts the same (source, id) once per tenant: another tenant\'s event is never a duplicate', async () => {
    expect((await usage(acme.key, [ev(acme.id, 'req-1', '1000')])).body).toEqual({ accepted: 1, duplicates: 0 });
    // Tenant B, same source and id: its own event, accepted and counted for B.
    expect((await usage(beta.key, [ev(beta.id, 'req-1', '7000')])).body).toEqual({ accepted: 1, duplicates: 0 });
    // Each tenant's own retry is still a duplicate.
    expect((await usage(beta.key, [ev(beta.id, 'req-1', '7000')])).body).toEqual({ accepted: 0, duplicates: 1 });
    expect((await usage(acme.key, [ev(acme.id, 'req-1', '1000')])).body).toEqual({ accepted: 0, duplicates: 1 });
    expect(await tokensOf(acme.key)).toBe('1000000000');
    expect(await tokensOf(beta.key)).toBe('7000000000');
  });

  it('an operator batch carrying one (source, id) for two tenants stores both; repeated within the batch, once each', async () => {
    const r = await usage(s.adminKey, [ev(acme.id, 'req-2', '10'), ev(beta.id, 'req-2', '20'), ev(beta.id, 'req-2', '20'), ev(acme.id, 'req-2', '10')]);
    expect(r.body).toEqual({ accepted: 2, duplicates: 2 });
    expect(await tokensOf(acme.key)).toBe('1010000000');
    expect(await tokensOf(beta.key)).toBe('7020000000');
  });

  it('the same (source, id) sent by both tenants concurrently, ten times each: once per tenant', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? usage(acme.key, [ev(acme.id, 'req-3', '1')]) : usage(beta.key, [ev(beta.id, 'req-3', '1')]))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const accepted = (parity: number) => answers.filter((_, i) => i % 2 === parity).reduce((a, r) => a + r.body.accepted, 0);
    expect([accepted(0), accepted(1)]).toEqual([1, 1]);
    expect(await tokensOf(acme.key)).toBe('1011000000');
    expect(await tokensOf(beta.key)).toBe('7021000000');
  });
});
