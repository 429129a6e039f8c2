/**
 * Limits a tenant or a stranger could push (issue 24, behaviour 4): keys per tenant, paging on
 * every list, money bounded to what the ledger holds, enrolment attempts per node and per address,
 * security headers on every answer, and a connection limit that refuses and logs instead of
 * running the process out of file descriptors.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { ManualClock } from '../src/shared/clock.js';
import { PAGE_DEFAULT, PAGE_MAX } from '../src/shared/paging.js';
import { DEFAULT_MAX_KEYS_PER_TENANT } from '../src/tenancy/index.js';
import { ADMIN_KEY, STORE_KINDS, T0, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Every row of a paged list, following `nextCursor`; also returns the pages' sizes. */
async function allPages(s: TestServer, path: string, field: string, key?: string): Promise<{ rows: { id: string }[]; sizes: number[] }> {
  const rows: { id: string }[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 100; guard++) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await s.call('GET', cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`, key ? { key } : {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    rows.push(...r.body[field]);
    sizes.push(r.body[field].length);
    expect(r.body).toHaveProperty('nextCursor');
    cursor = r.body.nextCursor;
    if (cursor === null) return { rows, sizes };
  }
  throw new Error('more than 100 pages');
}

describe.each(STORE_KINDS)('keys per tenant (%s)', (store) => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ store, fleet: false, maxKeysPerTenant: 3 }); });
  afterAll(async () => { await s.close(); });

  it('refuses a key beyond the limit with a 409 naming it; a revoked key makes room', async () => {
    const acme = await createTenant(s, 'acme'); // its first key
    for (let i = 0; i < 2; i++) expect((await s.call('POST', `/v1/tenants/${acme.id}/keys`, { key: acme.key, body: {} })).status).toBe(201);
    const over = await s.call('POST', `/v1/tenants/${acme.id}/keys`, { key: acme.key, body: {} });
    expect(over.status).toBe(409);
    expect(over.headers.get('content-type')).toContain('application/problem+json');
    expect(over.body).toMatchObject({ type: 'https://neocloud.dev/problems/limit-reached', limit: 'keysPerTenant', max: 3, field: 'keys' });
    expect(over.body.detail).toMatch(/3 live API keys.*keys per tenant: 3, NEOCLOUD_MAX_KEYS_PER_TENANT/);
    // The operator is held to it too, and nothing was written.
    expect((await s.call('POST', `/v1/tenants/${acme.id}/keys`, { body: {} })).status).toBe(409);
    const keys = (await s.call('GET', `/v1/tenants/${acme.id}/keys`)).body.keys as { id: string; revokedAt: string | null }[];
    expect(keys).toHaveLength(3);
    const spare = keys.find((k) => k.id !== keys[0]!.id)!;
    expect((await s.call('POST', `/v1/tenants/${acme.id}/keys/${spare.id}/revoke`, { body: {} })).status).toBe(200);
    expect((await s.call('POST', `/v1/tenants/${acme.id}/keys`, { body: {} })).status).toBe(201);
    expect((await s.call('POST', `/v1/tenants/${acme.id}/keys`, { body: {} })).status).toBe(409);
  });

  it('holds under concurrent requests: exactly the limit is issued', async () => {
    const beta = await createTenant(s, 'beta');
    const answers = await Promise.all(Array.from({ length: 10 }, () => s.call('POST', `/v1/tenants/${beta.id}/keys`, { key: beta.key, body: {} })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, ...Array<number>(8).fill(409)]);
    const keys = (await s.call('GET', `/v1/tenants/${beta.id}/keys`)).body.keys as { revokedAt: string | null }[];
    expect(keys.filter((k) => k.revokedAt === null)).toHaveLength(3);
  });
});

describe('keys per tenant: the default', () => {
  it(`is ${DEFAULT_MAX_KEYS_PER_TENANT}`, async () => {
    const s = await startServer({ fleet: false });
    try {
      expect(DEFAULT_MAX_KEYS_PER_TENANT).toBe(100);
      const t = await createTenant(s, 'many');
      for (let i = 1; i < 100; i++) expect((await s.call('POST', `/v1/tenants/${t.id}/keys`, { key: t.key, body: {} })).status).toBe(201);
      const over = await s.call('POST', `/v1/tenants/${t.id}/keys`, { key: t.key, body: {} });
      expect(over.status).toBe(409);
      expect(over.body.max).toBe(100);
    } finally {
      await s.close();
    }
  });
});

describe.each(STORE_KINDS)('paging every list (%s)', (store) => {
  let s: TestServer;
  const tenants: { id: string; key: string }[] = [];
  beforeAll(async () => {
    s = await startServer({ store, fleet: false, maxKeysPerTenant: 20 });
    for (let i = 0; i < 5; i++) {
      tenants.push(await createTenant(s, `tenant-${i}`));
      // Two tenants in the same millisecond: the id breaks the tie.
      if (i !== 2) s.clock.advanceMs(1_000);
    }
  });
  afterAll(async () => { await s.close(); });

  it('tenants: limit rows per page, a cursor to the next, every tenant once in creation order', async () => {
    const first = await s.call('GET', '/v1/tenants?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.tenants).toHaveLength(2);
    expect(typeof first.body.nextCursor).toBe('string');
    const { rows, sizes } = await allPages(s, '/v1/tenants?limit=2', 'tenants');
    expect(sizes).toEqual([2, 2, 1]);
    // Creation order, then id (two were created in the same millisecond).
    const byKey = [...rows as unknown as { id: string; createdAt: string }[]].sort((x, y) => x.createdAt.localeCompare(y.createdAt) || (x.id < y.id ? -1 : 1));
    expect(rows).toEqual(byKey);
    expect(new Set(rows.map((t) => t.id))).toEqual(new Set(tenants.map((t) => t.id)));
    // Without a limit: the default page, and the last page says so.
    const all = await s.call('GET', '/v1/tenants');
    expect(all.body.tenants).toHaveLength(5);
    expect(all.body.nextCursor).toBeNull();
    // A tenant sees itself, on one page.
    const own = await s.call('GET', '/v1/tenants?limit=1', { key: tenants[1]!.key });
    expect(own.body).toEqual({ tenants: [expect.objectContaining({ id: tenants[1]!.id })], nextCursor: null });
  });

  it(`limit is 1 to ${PAGE_MAX} (default ${PAGE_DEFAULT}); a cursor the list did not give out is a 400 naming it`, async () => {
    expect(PAGE_DEFAULT).toBe(100);
    for (const bad of ['limit=0', `limit=${PAGE_MAX + 1}`, 'limit=x']) {
      const r = await s.call('GET', `/v1/tenants?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.field).toBe('limit');
    }
    for (const bad of ['bm90LWpzb24', Buffer.from('["x"]').toString('base64url'), Buffer.from('[-1,"x"]').toString('base64url'), Buffer.from('[1e300,"x"]').toString('base64url'), 'a+b']) {
      const r = await s.call('GET', `/v1/tenants?cursor=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.detail).toMatch(/^(querystring )?cursor: /);
    }
    for (const path of [`/v1/tenants/${tenants[0]!.id}/keys`, '/v1/admin/keys', '/v1/contracts', '/v1/invoices']) {
      expect((await s.call('GET', `${path}?limit=${PAGE_MAX + 1}`)).status, path).toBe(400);
      expect((await s.call('GET', `${path}?cursor=bm90LWpzb24`)).status, path).toBe(400);
    }
  });

  it('keys (a tenant\'s and the admin keys): paged, and a cursor never reaches another tenant\'s keys', async () => {
    const [a, b] = [tenants[0]!, tenants[1]!];
    for (let i = 0; i < 4; i++) {
      await s.call('POST', `/v1/tenants/${a.id}/keys`, { key: a.key, body: {} });
      await s.call('POST', `/v1/tenants/${b.id}/keys`, { key: b.key, body: {} });
      s.clock.advanceMs(10);
    }
    const { rows, sizes } = await allPages(s, `/v1/tenants/${a.id}/keys?limit=2`, 'keys', a.key);
    expect(sizes).toEqual([2, 2, 1]);
    expect(new Set(rows.map((k) => k.id)).size).toBe(5);
    // B's cursor (a position in B's list) on A's list: A's keys after that position, never B's.
    const bFirst = await s.call('GET', `/v1/tenants/${b.id}/keys?limit=1`, { key: b.key });
    const mixed = await s.call('GET', `/v1/tenants/${a.id}/keys?cursor=${bFirst.body.nextCursor}`, { key: a.key });
    expect(mixed.status).toBe(200);
    expect(mixed.body.keys.every((k: { tenantId: string }) => k.tenantId === a.id)).toBe(true);
    const admin = await s.call('GET', '/v1/admin/keys?limit=1');
    expect(admin.body.keys).toHaveLength(1);
    expect(admin.body.nextCursor).toBeNull();
  });

  it('contracts and invoices: paged, newest month first for invoices, a tenant\'s own only', async () => {
    for (const t of tenants.slice(0, 3)) {
      const c = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '500000000', expiresAt: '2027-12-01T00:00:00Z' } } });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const d = await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'on-demand', start: iso(T0), terms: { discountBps: 500 } } });
      expect(d.status, JSON.stringify(d.body)).toBe(201);
    }
    const contracts = await allPages(s, '/v1/contracts?limit=4', 'contracts');
    expect(contracts.sizes).toEqual([4, 2]);
    expect(new Set(contracts.rows.map((c) => c.id)).size).toBe(6);
    const own = await allPages(s, '/v1/contracts?limit=1', 'contracts', tenants[0]!.key);
    expect(own.sizes).toEqual([1, 1]);
    const allInvoices = (await s.call('GET', '/v1/invoices?limit=1000')).body.invoices as { id: string; period: string }[];
    expect(allInvoices.length).toBeGreaterThanOrEqual(3);
    const invoices = await allPages(s, '/v1/invoices?limit=2', 'invoices');
    expect(invoices.rows.map((i) => i.id)).toEqual(allInvoices.map((i) => i.id));
    expect(invoices.sizes.every((n) => n <= 2)).toBe(true);
    const mine = await allPages(s, '/v1/invoices?limit=1', 'invoices', tenants[2]!.key);
    expect(mine.rows.length).toBeGreaterThanOrEqual(1);
    expect(mine.rows.every((i) => (i as unknown as { tenantId: string }).tenantId === tenants[2]!.id)).toBe(true);
  });
});

describe('money bounded to what the ledger holds (a bigint: 2^63 − 1)', () => {
  let s: TestServer;
  let acme: { id: string; key: string };
  beforeAll(async () => {
    s = await startServer({ fleet: false });
    acme = await createTenant(s, 'acme');
  });
  afterAll(async () => { await s.close(); });

  it('refuses a 19-digit price or amount above 2^63 − 1 with a 400 naming the field', async () => {
    const over = '9223372036854775808';
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'reserved', end: '2027-01-01T00:00:00Z', terms: { gpuModel: 'H100-SXM', gpuCount: 1, priceMicrosPerGpuHour: over } }, 'terms.priceMicrosPerGpuHour'],
      [{ kind: 'on-demand', terms: { pricesMicrosPerGpuHour: { 'H100-SXM': '9999999999999999999' } } }, 'terms.pricesMicrosPerGpuHour.H100-SXM'],
      [{ kind: 'commitment', end: '2027-01-01T00:00:00Z', terms: { minimumMicrosPerMonth: over } }, 'terms.minimumMicrosPerMonth'],
      [{ kind: 'credits', terms: { amountMicros: over, expiresAt: '2027-12-01T00:00:00Z' } }, 'terms.amountMicros'],
      [{ kind: 'tokens', terms: { prices: { m1: { inputMicrosPerMillion: '1', outputMicrosPerMillion: over } } } }, 'terms.prices.m1.outputMicrosPerMillion'],
    ];
    for (const [body, field] of cases) {
      const r = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, start: iso(T0), ...body } });
      expect(r.status, field).toBe(400);
      expect(r.body.field).toBe(field);
      expect(r.body.detail).toContain('9223372036854775807');
    }
    expect((await s.call('GET', '/v1/contracts')).body.contracts).toEqual([]);
    // The largest value the ledger holds passes the wire bound (a commitment's minimum may be that
    // large); prices have a tighter bound of their own (issue 18: $1,000 per GPU-hour).
    const max = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'commitment', start: iso(T0), end: '2027-01-01T00:00:00Z', terms: { minimumMicrosPerMonth: '9223372036854770000' } } });
    expect(max.status, JSON.stringify(max.body)).toBe(201);
    const price = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'on-demand', start: iso(T0), terms: { pricesMicrosPerGpuHour: { 'H100-SXM': '9223372036854775807' } } } });
    expect([price.status, price.body.field]).toEqual([400, 'terms.pricesMicrosPerGpuHour.H100-SXM']);
  });

  it('bounds payments and credit notes the same way', async () => {
    const c = await s.call('POST', '/v1/contracts', { body: { tenantId: acme.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '500000000', expiresAt: '2027-12-01T00:00:00Z' } } });
    expect(c.status).toBe(201);
    const inv = (await s.call('GET', '/v1/invoices')).body.invoices[0] as { id: string };
    for (const [path, body] of [[`/v1/invoices/${inv.id}/payments`, { amountMicros: '-9223372036854775809' }], [`/v1/invoices/${inv.id}/credit-notes`, { amountMicros: '9223372036854775808', reason: 'x' }]] as const) {
      const r = await s.call('POST', path, { body });
      expect(r.status, path).toBe(400);
      expect(r.body.field).toBe('amountMicros');
    }
  });
});

describe('enrolment attempts are limited per node and per address', () => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ fleet: smallFleet({ fabrics: 1, h100PerFabric: 2 }) }); });
  afterAll(async () => { await s.close(); });

  const enrol = (nodeId: string): Promise<Response> => fetch(`${s.url}/v1/agent/enrol`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `e-${Math.random()}` },
    body: JSON.stringify({ nodeId, token: 'nc_enrol_not-a-token', driverVersion: null, gpus: [] }),
  });

  it('a node: 5 attempts, then 429 with Retry-After until a minute has passed', async () => {
    const node = s.cp.fleet.current().nodes[0]!.id;
    for (let i = 0; i < 5; i++) expect((await enrol(node)).status).toBe(401);
    const limited = await enrol(node);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    const doc = await limited.json() as { type: string; detail: string };
    expect(doc.type).toBe('https://neocloud.dev/problems/rate-limited');
    expect(doc.detail).toMatch(/enrolment: too many attempts for node/);
    // A valid token does not get past the limit either (it is checked first).
    const tok = (await s.call('POST', `/v1/nodes/${node}/enrolment-tokens`, { body: {} })).body.token as string;
    const real = await fetch(`${s.url}/v1/agent/enrol`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'e-real' }, body: JSON.stringify({ nodeId: node, token: tok, driverVersion: null, gpus: [] }) });
    expect(real.status).toBe(429);
    s.clock.advanceMs(59_000);
    expect((await enrol(node)).status).toBe(429);
    s.clock.advanceMs(1_000);
    expect((await enrol(node)).status).toBe(401);
  });

  it('an address: 120 attempts at once (any nodes), then 429', async () => {
    s.clock.advanceMs(3_600_000); // every bucket full again
    const answers: number[] = [];
    for (let i = 0; i < 120; i++) answers.push((await enrol(`probe-${i}`)).status);
    expect(answers.every((st) => st === 401)).toBe(true);
    const limited = await enrol('a-fresh-node');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    s.clock.advanceMs(500);
    expect((await enrol('a-fresh-node')).status).toBe(401);
  });
});

describe('security headers on every answer', () => {
  let s: TestServer;
  beforeAll(async () => { s = await startServer({ fleet: false }); });
  afterAll(async () => { await s.close(); });

  const common = (h: Headers): void => {
    expect(h.get('x-content-type-options')).toBe('nosniff');
    expect(h.get('x-frame-options')).toBe('DENY');
    expect(h.get('referrer-policy')).toBe('no-referrer');
    expect(h.get('content-security-policy')).toContain("frame-ancestors 'none'");
  };
  const directive = (csp: string, name: string): string => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? '';

  it('the console: scripts from its own origin only, no inline script, no eval', async () => {
    for (const path of ['/', '/index.html']) {
      const r = await fetch(s.url + path);
      expect(r.status).toBe(200);
      common(r.headers);
      const csp = r.headers.get('content-security-policy')!;
      expect(directive(csp, 'script-src')).toBe("script-src 'self'");
      expect(directive(csp, 'default-src')).toBe("default-src 'self'");
      expect(directive(csp, 'connect-src')).toBe("connect-src 'self'");
      expect(directive(csp, 'object-src')).toBe("object-src 'none'");
      expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline|\*/);
    }
  });

  it('API answers, errors and 404s: nothing may load', async () => {
    for (const [path, key] of [['/v1/whoami', ADMIN_KEY], ['/v1/whoami', null], ['/v1/nowhere', ADMIN_KEY], ['/healthz', null]] as const) {
      const r = await s.call('GET', path, { key });
      common(r.headers);
      expect(r.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    }
  });

  it('the printable invoice: only its own stylesheet, allowed by its hash', async () => {
    const t = await createTenant(s, 'acme');
    await s.call('POST', '/v1/contracts', { body: { tenantId: t.id, kind: 'credits', start: iso(T0), terms: { amountMicros: '500000000', expiresAt: '2027-12-01T00:00:00Z' } } });
    const inv = (await s.call('GET', '/v1/invoices')).body.invoices[0] as { id: string };
    const r = await s.call('GET', `/v1/invoices/${inv.id}/html`);
    expect(r.status).toBe(200);
    common(r.headers);
    const css = /<style>([\s\S]*?)<\/style>/.exec(String(r.body))![1]!;
    const hash = `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;
    const csp = r.headers.get('content-security-policy')!;
    expect(directive(csp, 'default-src')).toBe("default-src 'none'");
    expect(directive(csp, 'style-src')).toBe(`style-src ${hash}`);
    // The console opens it as a blob: document, which inherits the console's policy: the same hash is there.
    expect(directive((await fetch(`${s.url}/`)).headers.get('content-security-policy')!, 'style-src')).toContain(hash);
  });
});

describe('a connection limit', () => {
  it('refuses connections over NEOCLOUD_MAX_CONNECTIONS at once, with one clear log line, and serves again when they close', async () => {
    const cp = await ControlPlane.open({ clock: new ManualClock(T0), adminKey: ADMIN_KEY, initialFleet: false });
    const lines: string[] = [];
    const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const app = await buildServer(cp, { logger: { level: 'warn', stream }, maxConnections: 2 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const open = (): Promise<net.Socket> => new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => resolve(sock));
      sock.once('error', reject);
    });
    const connections = (): Promise<number> => new Promise((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    try {
      const held = [await open(), await open()];
      await expect.poll(connections).toBe(2);
      const third = await open();
      // Closed by the server as it is accepted: no request is read from it.
      await new Promise<void>((resolve) => { if (third.destroyed || third.readableEnded) resolve(); else third.once('close', () => resolve()); third.resume(); });
      await expect.poll(() => lines.join('')).toMatch(/connection refused: the server already holds 2 open connections \(NEOCLOUD_MAX_CONNECTIONS\)/);
      expect(lines.join('')).not.toMatch(/EMFILE/);
      for (const h of held) h.destroy();
      await expect.poll(connections).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
      await cp.close();
    }
  });
});
