/**
 * Issue 7's defects, each as the request an attacker or a new user sent, over real HTTP, on
 * every store: authentication by route, key lifecycle (revocation takes effect at once, on
 * every control plane sharing the database), NUL and lone surrogates, depth, YAML limits, money
 * past 2^53, Fastify's own errors as problem+json, and empty POST bodies.
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../src/app/control-plane.js';
import { buildServer } from '../src/api/server.js';
import { ADMIN_KEY, STORE_KINDS, TEST_DATABASE_URL, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

/** Sends raw bytes and returns the status line, headers and body as text (for what fetch refuses to send). */
function raw(url: string, request: string): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => sock.end(request));
    let data = '';
    sock.on('data', (d) => { data += d.toString('latin1'); });
    sock.on('error', reject);
    sock.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body });
    });
  });
}

/** Counts of every table's rows: a rejected request must leave all of them as they were. */
async function rowCounts(s: TestServer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['tenants', 'api_keys', 'leases', 'lease_gpus', 'events', 'idempotency_keys', 'nodes', 'gpus']) {
    const r = await s.cp.handle.db.execute((await import('drizzle-orm')).sql.raw(`SELECT count(*)::int AS n FROM ${t}`));
    out[t] = (r as unknown as { rows: { n: number }[] }).rows[0]!.n;
  }
  return out;
}

for (const kind of STORE_KINDS) {
  describe(`security and bad input on ${kind}`, () => {
    let s: TestServer;
    let acme: { id: string; key: string };
    let beta: { id: string; key: string };

    beforeAll(async () => {
      // $1,000/GPU-h on-demand H100: the money-overflow case needs a price that high.
      s = await startServer({ store: kind, fleet: { ...smallFleet({ h100PerFabric: 40 }), prices: [{ gpuModel: 'H100-SXM', class: 'on-demand', priceMicrosPerGpuHour: 1_000_000_000 }] } });
      acme = await createTenant(s, 'acme');
      beta = await createTenant(s, 'beta');
    });
    afterAll(async () => s?.close());

    it('authenticates by the matched route, not the URL text: a percent-encoded path needs a key like any other', async () => {
      for (const path of ['/%761/gpu-models', '/v%31/gpu-models', '/%76%31/leases', '/v1/%6Ceases', '/v1//gpu-models', '/V1/gpu-models']) {
        const r = await s.call('GET', path, { key: null });
        expect([401, 404], path).toContain(r.status);
        expect(r.headers.get('content-type'), path).toMatch(/application\/problem\+json/);
      }
      expect((await s.call('GET', '/%761/gpu-models', { key: null })).status).toBe(401);
      expect((await s.call('GET', '/%761/gpu-models', { key: acme.key })).status).toBe(200);
      // Public routes stay public.
      for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
        expect((await s.call('GET', path, { key: null })).status, path).toBeLessThan(400);
      }
    });

    it('rejects NUL and lone surrogates anywhere with a 400 naming the field, and writes nothing', async () => {
      const before = await rowCounts(s);
      const cases: [string, string, unknown, string][] = [
        ['POST', '/v1/tenants', { name: 'a\u0000b' }, 'name'],
        ['POST', '/v1/tenants', { name: 'surr\ud800' }, 'name'],
        ['POST', '/v1/tenants', { name: '\udc00' }, 'name'],
        ['POST', '/v1/leases', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, tenantId: '\u0000' }, 'tenantId'],
        ['POST', '/v1/leases', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, region: 'us\u0000' }, 'region'],
        ['GET', '/v1/leases/%00', undefined, 'id'],
        ['GET', '/v1/leases/%ED%A0%80', undefined, 'path'], // not UTF-8: refused while decoding the path
        ['GET', '/v1/leases?before=%00', undefined, 'before'],
        ['POST', '/v1/leases/%00/release', {}, 'id'],
        ['GET', '/v1/tenants/%00/keys', undefined, 'id'],
      ];
      for (const [method, path, body, field] of cases) {
        const r = await s.call(method, path, body === undefined ? {} : { body });
        expect(r.status, `${method} ${path}`).toBe(400);
        expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(r.body.field, `${method} ${path}`).toBe(field);
      }
      // A well-formed astral character (a surrogate pair) is fine.
      const ok = await s.call('POST', '/v1/tenants', { body: { name: 'emoji 😀 corp' } });
      expect(ok.status).toBe(201);
      const after = await rowCounts(s);
      expect({ ...after, tenants: after['tenants']! - 1, api_keys: after['api_keys']! - 1, idempotency_keys: after['idempotency_keys']! - 1 }).toEqual(before);
    });

    it('refuses a 100,000-deep body on every POST (no stack overflow), naming the field', async () => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      for (const path of ['/v1/tenants', `/v1/tenants/${acme.id}/keys`, '/v1/leases', '/v1/admin/keys/rotate']) {
        const r = await s.call('POST', path, { body: deep });
        expect(r.status, path).toBe(400);
        expect(r.body.field, path).toBe('body');
      }
      const nested = `{"name":${'['.repeat(50)}"x"${']'.repeat(50)}}`;
      const r = await s.call('POST', '/v1/tenants', { body: nested });
      expect(r.status).toBe(400);
      expect(r.body.field).toMatch(/^name/);
      expect((await s.call('GET', '/healthz', { key: null })).status).toBe(200);
    });

    it('takes YAML only where a spec is applied, only from the operator, with alias and size limits', async () => {
      const yamlHeaders = { 'content-type': 'application/yaml' };
      // A tenant cannot make the server parse YAML at all, on any route.
      expect((await s.call('POST', '/v1/leases', { key: acme.key, body: 'gpuModel: H100-SXM\ngpuCount: 1\ndurationHours: 1\n', headers: yamlHeaders })).status).toBe(415);
      expect((await s.call('PUT', '/v1/fleet', { key: acme.key, body: 'sites: []\n', headers: yamlHeaders })).status).toBe(403);
      // The operator: a self-referencing alias and an exponential alias bomb are refused.
      const selfRef = await s.call('PUT', '/v1/fleet', { body: 'a: &a [*a, *a]\n', headers: yamlHeaders });
      expect(selfRef.status).toBe(400);
      expect(selfRef.body.field).toBe('body');
      let bomb = 'a0: &a0 [x, x]\n';
      for (let i = 1; i < 30; i++) bomb += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`;
      const b = await s.call('PUT', '/v1/fleet', { body: bomb, headers: yamlHeaders });
      expect(b.status).toBe(400);
      expect(b.body.detail).toMatch(/alias|YAML/i);
      // Over the YAML size limit: 413, before parsing.
      const big = `bogus: 1\n#${'x'.repeat(3 * 1024 * 1024)}\n`;
      expect((await s.call('PUT', '/v1/fleet', { body: big, headers: yamlHeaders })).status).toBe(413);
      // Every other body over 1 MB: 413.
      expect((await s.call('POST', '/v1/tenants', { body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }) })).status).toBe(413);
    });

    it('carries money past 2^53 exactly as decimal strings (400 GPUs × 26,304 h × $1,000/GPU-h)', async () => {
      const r = await s.call('POST', '/v1/leases', { body: { tenantId: acme.id, gpuModel: 'H100-SXM', gpuCount: 400, durationHours: 26_304, class: 'on-demand' } });
      expect(r.status).toBe(201);
      expect(r.body.priceMicrosPerGpuHour).toBe('1000000000');
      expect(r.body.totalMicros).toBe('10521600000000000');
      expect(BigInt(r.body.totalMicros) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
      const got = await s.call('GET', `/v1/leases/${r.body.id}`);
      expect(got.body.totalMicros).toBe('10521600000000000');
      expect((await s.call('POST', `/v1/leases/${r.body.id}/release`, { body: {} })).status).toBe(200);
      const fleet = await s.call('GET', '/v1/fleet');
      expect(fleet.body.prices.find((p: { gpuModel: string; leaseClass: string }) => p.gpuModel === 'H100-SXM' && p.leaseClass === 'on-demand').priceMicrosPerGpuHour).toBe('1000000000');
    });

    it("answers Fastify's and Node's own errors as problem+json", async () => {
      const badUrl = await s.call('GET', '/v1/leases/%E0%A4%A', { key: acme.key });
      expect(badUrl.status).toBe(400);
      expect(badUrl.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(badUrl.body.field).toBe('path');
      const long = await s.call('GET', `/v1/leases/${'a'.repeat(500)}`, { key: acme.key });
      expect(long.status).toBe(414);
      expect(long.body.type).toBe('https://neocloud.dev/problems/uri-too-long');
      expect(long.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const wrongType = await s.call('POST', '/v1/tenants', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(wrongType.status).toBe(415);
      expect(wrongType.body.field).toBe('Content-Type');
      const text = await s.call('POST', '/v1/tenants', { body: '{"name":"x"}', headers: { 'content-type': 'text/plain' } });
      expect(text.status).toBe(415);
      const none = await s.call('POST', '/v1/tenants', {});
      expect(none.status).toBe(400);
      expect(none.body).toMatchObject({ field: 'body', detail: expect.stringMatching(/is required/) });
      const proto = await s.call('POST', '/v1/tenants', { body: '{"__proto__":{"admin":true},"name":"x"}' });
      expect(proto.status).toBe(400);
      expect(proto.body.field).toBe('__proto__');
      // A field written twice means two things (JSON.parse keeps the last): refused, naming it, nothing written.
      const before = (await s.call('GET', '/v1/tenants')).body.tenants.length;
      const twice = await s.call('POST', '/v1/tenants', { body: '{"name":"dup-a","name":"dup-b"}' });
      expect(twice.status).toBe(400);
      expect(twice.body).toMatchObject({ field: 'name', detail: expect.stringMatching(/appears twice/) });
      const deepTwice = await s.call('POST', '/v1/leases', { key: acme.key, body: '{"gpuModel":"H100-SXM","gpuCount":1,"durationHours":1,"gpuCount":512}' });
      expect(deepTwice.status).toBe(400);
      expect(deepTwice.body.field).toBe('gpuCount');
      expect((await s.call('GET', '/v1/tenants')).body.tenants.length).toBe(before);
      // JSON is UTF-8: a body declared in another charset is a 415, not UTF-8 read as something else.
      for (const ct of ['application/json; charset=utf-16', 'application/json;charset="latin1"']) {
        const r = await s.call('POST', '/v1/tenants', { body: '{"name":"cs"}', headers: { 'content-type': ct } });
        expect(r.status, ct).toBe(415);
        expect(r.body).toMatchObject({ field: 'Content-Type', detail: expect.stringMatching(/charset/) });
      }
      expect((await s.call('POST', '/v1/tenants', { body: '{"name":"cs-ok"}', headers: { 'content-type': 'application/json; charset=UTF-8' } })).status).toBe(201);
      // Bytes that are not UTF-8 are refused, not stored as U+FFFD.
      for (const bytes of [[0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80]]) {
        const r = await fetch(`${s.url}/v1/tenants`, {
          method: 'POST', body: Buffer.concat([Buffer.from('{"name":"bad'), Buffer.from(bytes), Buffer.from('"}')]),
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'idempotency-key': `utf8-${bytes.join('-')}` },
        });
        expect(r.status, bytes.join(',')).toBe(400);
        expect(await r.json()).toMatchObject({ field: 'body', detail: expect.stringMatching(/UTF-8/) });
      }
      const broken = await s.call('POST', '/v1/tenants', { body: '{"name":' });
      expect(broken.status).toBe(400);
      expect(broken.body).toMatchObject({ field: 'body', detail: expect.stringMatching(/not valid JSON \(/) });
      const badCursor = await s.call('GET', '/v1/leases?before=lease_nonexistent', { key: acme.key });
      expect(badCursor.status).toBe(400);
      expect(badCursor.body.field).toBe('before');
      const emptyJson = await s.call('POST', '/v1/tenants', { body: '', headers: { 'content-type': 'application/json' } });
      expect(emptyJson.status).toBe(400);
      expect(emptyJson.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const headers = await raw(s.url, `GET /v1/leases HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(headers.status).toBe(431);
      expect(headers.headers).toMatch(/application\/problem\+json/i);
      expect(JSON.parse(headers.body)).toMatchObject({ status: 431 });
      const garbage = await raw(s.url, 'NOT HTTP AT ALL\r\n\r\n');
      expect(garbage.status).toBe(400);
      expect(JSON.parse(garbage.body)).toMatchObject({ status: 400, field: 'request' });
    });

    it('refuses a capacity window far from now naming the field (year 9999 was a 500)', async () => {
      for (const [q, field] of [['start=9999-12-31T23:30:00Z', 'start'], ['end=0001-01-01T00:00:00Z', 'end'], ['start=1970-01-01T00:00:00Z', 'start'], ['end=2026-06-30T23%3A59%3A60Z', 'end']] as const) {
        const r = await s.call('GET', `/v1/capacity?${q}`, { key: acme.key });
        expect(r.status, q).toBe(400);
        expect(r.body.field, q).toBe(field);
      }
    });

    it('needs a JSON body on every POST: a release without one is refused and releases nothing', async () => {
      const l = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1 } });
      expect(l.status).toBe(201);
      const r = await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key });
      expect(r.status).toBe(400);
      expect(r.body.field).toBe('body');
      expect((await s.call('GET', `/v1/leases/${l.body.id}`, { key: acme.key })).body.state).toBe('active');
      expect((await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: { now: true } })).status).toBe(400);
      expect((await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: {} })).body.state).toBe('released');
    });

    it('replays a retried key issue without issuing a second key (a replay never runs the request again)', async () => {
      const before = (await s.call('GET', `/v1/tenants/${beta.id}/keys`)).body.keys.length as number;
      const first = await s.call('POST', `/v1/tenants/${beta.id}/keys`, { body: {}, idem: 'issue-once' });
      const again = await s.call('POST', `/v1/tenants/${beta.id}/keys`, { body: {}, idem: 'issue-once' });
      expect([first.status, again.status]).toEqual([201, 201]);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.key.id).toBe(first.body.key.id);
      expect(again.body.apiKey).toBeNull();
      expect((await s.call('GET', `/v1/tenants/${beta.id}/keys`)).body.keys.length).toBe(before + 1);
    });

    it('lists keys (prefix, created, last used; never the secret), issues and revokes them at once', async () => {
      const who = await s.call('GET', '/v1/whoami', { key: acme.key });
      expect(who.body).toMatchObject({ kind: 'tenant', tenantId: acme.id });
      const made = await s.call('POST', `/v1/tenants/${acme.id}/keys`, { key: acme.key, body: {} });
      expect(made.status).toBe(201);
      const secret: string = made.body.apiKey;
      expect(secret.startsWith(made.body.key.prefix)).toBe(true);
      expect((await s.call('GET', '/v1/leases', { key: secret })).status).toBe(200); // now cached as valid
      const listed = await s.call('GET', `/v1/tenants/${acme.id}/keys`, { key: acme.key });
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).not.toContain(secret);
      const mine = listed.body.keys.find((k: { id: string }) => k.id === made.body.key.id);
      expect(mine).toMatchObject({ role: 'tenant', tenantId: acme.id, revokedAt: null });
      expect(mine.lastUsedAt).not.toBeNull();
      // Another tenant can neither list nor revoke it; it looks missing.
      expect((await s.call('GET', `/v1/tenants/${acme.id}/keys`, { key: beta.key })).status).toBe(404);
      expect((await s.call('POST', `/v1/tenants/${acme.id}/keys/${made.body.key.id}/revoke`, { key: beta.key, body: {} })).status).toBe(404);
      expect((await s.call('POST', `/v1/tenants/${beta.id}/keys/${made.body.key.id}/revoke`, { key: beta.key, body: {} })).status).toBe(404);
      expect((await s.call('GET', '/v1/leases', { key: secret })).status).toBe(200);
      // Revoked: refused on the very next request (no cache window).
      const rev = await s.call('POST', `/v1/tenants/${acme.id}/keys/${made.body.key.id}/revoke`, { key: acme.key, body: {} });
      expect(rev.status).toBe(200);
      expect(rev.body.revokedAt).not.toBeNull();
      expect((await s.call('GET', '/v1/leases', { key: secret })).status).toBe(401);
      expect((await s.call('GET', '/v1/leases', { key: acme.key })).status).toBe(200);
      // Tenants cannot reach the admin keys.
      expect((await s.call('GET', '/v1/admin/keys', { key: acme.key })).status).toBe(403);
      expect((await s.call('POST', '/v1/admin/keys/rotate', { key: acme.key, body: {} })).status).toBe(403);
    });
  });
}

describe('admin key rotation', () => {
  it('returns a new key once and revokes the one used, at once', async () => {
    const s = await startServer({ fleet: smallFleet() });
    try {
      const rot = await s.call('POST', '/v1/admin/keys/rotate', { body: {} });
      expect(rot.status).toBe(201);
      expect(rot.body.apiKey).toMatch(/^nc_adm_/);
      expect((await s.call('GET', '/v1/fleet')).status).toBe(401); // the old key
      const listed = await s.call('GET', '/v1/admin/keys', { key: rot.body.apiKey });
      expect(listed.status).toBe(200);
      expect(listed.body.keys.find((k: { id: string }) => k.id === rot.body.revokedKeyId).revokedAt).not.toBeNull();
      expect((await s.call('GET', '/v1/fleet', { key: rot.body.apiKey })).status).toBe(200);
      // A restart with the rotated key still pinned keeps it revoked.
      expect(await s.cp.tenants.ensureAdminKey(ADMIN_KEY)).toBeNull();
      expect((await s.call('GET', '/v1/fleet')).status).toBe(401);
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)('revocation across control planes (PostgreSQL: set TEST_DATABASE_URL)', () => {
  it('a key revoked on one control plane is refused at once by another that had it cached', async () => {
    const a = await startServer({ store: 'postgres', fleet: smallFleet() });
    const cpB = await ControlPlane.open({ databaseUrl: TEST_DATABASE_URL, pgSchema: a.schema, clock: a.clock, adminKey: ADMIN_KEY, initialFleet: false });
    const appB = await buildServer(cpB);
    await appB.listen({ port: 0, host: '127.0.0.1' });
    const urlB = `http://127.0.0.1:${(appB.server.address() as AddressInfo).port}`;
    try {
      const t = await createTenant(a, 'gamma');
      const viaB = () => fetch(`${urlB}/v1/leases`, { headers: { authorization: `Bearer ${t.key}` } }).then((r) => r.status);
      expect(await viaB()).toBe(200); // B has verified and cached it
      const keys = await a.call('GET', `/v1/tenants/${t.id}/keys`);
      const rev = await a.call('POST', `/v1/tenants/${t.id}/keys/${keys.body.keys[0].id}/revoke`, { body: {} });
      expect(rev.status).toBe(200);
      // The NOTIFY arrives asynchronously: poll B briefly (bounded), never sleep a fixed time.
      let status = 200;
      for (let i = 0; i < 100 && status === 200; i++) {
        status = await viaB();
        if (status === 200) await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(401);
    } finally {
      await appB.close();
      await cpB.close();
      await a.close();
    }
  });
});

describe('idempotent retries are answered, not re-run, and log no errors', () => {
  it('10 concurrent creates with one key: one lease, ten 201s, no error in the server log', async () => {
    const logged: string[] = [];
    const cp = await ControlPlane.open({ adminKey: ADMIN_KEY, initialFleet: smallFleet() });
    const app = await buildServer(cp, { logger: { level: 'error', stream: { write: (line: string) => { logged.push(line); } } } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const post = (path: string, key: string, idem: string, body: unknown) => fetch(url + path, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': idem }, body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() as { id?: string; tenant?: { id: string }; apiKey?: string } }));
      const t = await post('/v1/tenants', ADMIN_KEY, 't', { name: 'acme' });
      const rs = await Promise.all(Array.from({ length: 10 }, () => post('/v1/leases', t.body.apiKey!, 'par-1', { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 2 })));
      expect(rs.map((r) => r.status)).toEqual(Array(10).fill(201));
      expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
      const keys = await Promise.all(Array.from({ length: 5 }, () => post(`/v1/tenants/${t.body.tenant!.id}/keys`, ADMIN_KEY, 'k-1', {})));
      expect(keys.map((r) => r.status)).toEqual(Array(5).fill(201));
      expect(logged.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
    } finally {
      await app.close();
      await cp.close();
    }
  });
});
