/** The HTTP API over real HTTP (port 0), on PGlite. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createTenant, smallFleet, startServer, T0, type TestServer } from './helpers.js';

const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
let s: TestServer;
let acme: { id: string; key: string };
let beta: { id: string; key: string };

beforeAll(async () => {
  s = await startServer({ fleet: smallFleet() });
  acme = await createTenant(s, 'acme');
  beta = await createTenant(s, 'beta');
});
afterAll(async () => s?.close());

const lease = (key: string, body: Record<string, unknown>, idem?: string) =>
  s.call('POST', '/v1/leases', { key, body: { gpuModel: 'H100-SXM', ...('end' in body ? {} : { durationHours: 1 }), ...body }, ...(idem ? { idem } : {}) });
const countLeases = async () => (await s.call('GET', '/v1/leases?limit=500')).body.leases.length as number;

describe('auth', () => {
  it('needs a bearer key on /v1 and answers problem+json', async () => {
    const r = await s.call('GET', '/v1/leases', { key: null });
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({ type: 'https://neocloud.dev/problems/unauthorized', status: 401 });
    expect((await s.call('GET', '/v1/leases', { key: 'nc_live_nope' })).status).toBe(401);
  });

  it('keeps operator routes from tenants', async () => {
    expect((await s.call('GET', '/v1/fleet', { key: acme.key })).status).toBe(403);
    expect((await s.call('POST', '/v1/tenants', { key: acme.key, body: { name: 'evil' } })).status).toBe(403);
    expect((await s.call('PUT', '/v1/fleet', { key: acme.key, body: smallFleet() })).status).toBe(403);
  });

  it('a tenant lists only itself', async () => {
    const r = await s.call('GET', '/v1/tenants', { key: acme.key });
    expect(r.body.tenants.map((t: { name: string }) => t.name)).toEqual(['acme']);
  });
});

describe('tenants and idempotency', () => {
  it('returns the API key once; a retry replays the tenant without the secret and creates nothing', async () => {
    const first = await s.call('POST', '/v1/tenants', { body: { name: 'gamma' }, idem: 'tenant-gamma' });
    expect(first.status).toBe(201);
    expect(first.body.apiKey).toMatch(/^nc_live_/);
    const again = await s.call('POST', '/v1/tenants', { body: { name: 'gamma' }, idem: 'tenant-gamma' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.tenant.id).toBe(first.body.tenant.id);
    expect(again.body.apiKey).toBeNull();
    const list = await s.call('GET', '/v1/tenants');
    expect(list.body.tenants.filter((t: { name: string }) => t.name === 'gamma')).toHaveLength(1);
    // The key works.
    expect((await s.call('GET', '/v1/leases', { key: first.body.apiKey })).status).toBe(200);
  });

  it('refuses a key reused for a different request (422) and a POST without a key (400)', async () => {
    await s.call('POST', '/v1/tenants', { body: { name: 'delta' }, idem: 'k-delta' });
    const r = await s.call('POST', '/v1/tenants', { body: { name: 'epsilon' }, idem: 'k-delta' });
    expect(r.status).toBe(422);
    expect(r.body.field).toBe('Idempotency-Key');
    const n = await s.call('POST', '/v1/tenants', { body: { name: 'zeta' }, idem: null });
    expect(n.status).toBe(400);
    expect(n.body).toMatchObject({ type: 'https://neocloud.dev/problems/idempotency-key-required', field: 'Idempotency-Key' });
    expect((await s.call('GET', '/v1/tenants')).body.tenants.some((t: { name: string }) => t.name === 'zeta')).toBe(false);
  });

  it('refuses a duplicate tenant name, regardless of case and of how the same letters are encoded', async () => {
    const r = await s.call('POST', '/v1/tenants', { body: { name: 'acme' } });
    expect(r.status).toBe(409);
    expect(r.body.field).toBe('name');
    const upper = await s.call('POST', '/v1/tenants', { body: { name: '  ACME ' } });
    expect(upper.status).toBe(409);
    expect(upper.body.detail).toContain('"acme"');
    // "Café" typed with a combining accent is the same name as with the precomposed é.
    expect((await s.call('POST', '/v1/tenants', { body: { name: 'Caf\u00e9' } })).status).toBe(201);
    expect((await s.call('POST', '/v1/tenants', { body: { name: 'cafe\u0301' } })).status).toBe(409);
    const names = (await s.call('GET', '/v1/tenants')).body.tenants.map((t: { name: string }) => t.name.toLowerCase());
    expect(names.filter((n: string) => n === 'acme')).toHaveLength(1);
  });

  it('refuses control and invisible formatting characters in a tenant name (400 naming the field), writing nothing', async () => {
    const before = (await s.call('GET', '/v1/tenants')).body.tenants.length;
    for (const name of ['ac\u202Eemca', 'a\u200Bcme', 'tab\there', 'bell\u0007', 'c1\u0085', 'b\uFEFFom', 'iso\u2066late']) {
      const r = await s.call('POST', '/v1/tenants', { body: { name } });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(r.body).toMatchObject({ field: 'name' });
      expect(r.body.detail).toMatch(/U\+[0-9A-F]{4}/);
    }
    expect((await s.call('GET', '/v1/tenants')).body.tenants.length).toBe(before);
  });

  it('issues another key for a tenant', async () => {
    const r = await s.call('POST', `/v1/tenants/${beta.id}/keys`, { body: {} });
    expect(r.status).toBe(201);
    expect((await s.call('GET', '/v1/tenants', { key: r.body.apiKey })).body.tenants[0].id).toBe(beta.id);
    expect((await s.call('POST', '/v1/tenants/ten_missing/keys', { body: {} })).status).toBe(404);
  });
});

describe('leases', () => {
  it('creates a lease with concrete GPUs, nodes and an integer price', async () => {
    const r = await lease(acme.key, { gpuCount: 16, placement: 'same-fabric', class: 'reserved' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ tenantId: acme.id, state: 'active', gpuCount: 16, class: 'reserved', placement: 'same-fabric' });
    expect(r.body.gpus).toHaveLength(16);
    expect(r.body.nodes).toHaveLength(2);
    expect(new Set(r.body.nodes.map((n: string) => n.split('-n')[0])).size).toBe(1);
    // H100 reserved list price 1.89 $/GPU-h × 16 × 1 h
    expect(r.body.priceMicrosPerGpuHour).toBe('1890000'); // money is a decimal string
    expect(r.body.totalMicros).toBe('30240000');
    const got = await s.call('GET', `/v1/leases/${r.body.id}`, { key: acme.key });
    expect(got.status).toBe(200);
    expect(got.body.gpus).toEqual(expect.arrayContaining(r.body.gpus));
    await s.call('POST', `/v1/leases/${r.body.id}/release`, { key: acme.key, body: {} });
  });

  it('hides another tenant’s lease exactly as a missing one', async () => {
    const mine = await lease(acme.key, { gpuCount: 1 });
    const theirs = await s.call('GET', `/v1/leases/${mine.body.id}`, { key: beta.key });
    const missing = await s.call('GET', '/v1/leases/lease_00000000000000000000000000000000', { key: beta.key });
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(theirs.body.type).toBe(missing.body.type);
    expect(theirs.body.detail.replace(mine.body.id, 'X')).toBe(missing.body.detail.replace('lease_00000000000000000000000000000000', 'X'));
    expect((await s.call('POST', `/v1/leases/${mine.body.id}/release`, { key: beta.key, body: {} })).status).toBe(404);
    const list = await s.call('GET', '/v1/leases', { key: beta.key });
    expect(list.body.leases.some((l: { id: string }) => l.id === mine.body.id)).toBe(false);
    expect((await s.call('POST', `/v1/leases/${mine.body.id}/release`, { key: acme.key, body: {} })).body.state).toBe('released');
  });

  it('replays a retried create and books nothing twice', async () => {
    const before = await countLeases();
    const a = await lease(acme.key, { gpuCount: 8 }, 'lease-retry-1');
    const b = await lease(acme.key, { gpuCount: 8 }, 'lease-retry-1');
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await countLeases()).toBe(before + 1);
    // Concurrent duplicates: still one lease.
    const [c, d] = await Promise.all([lease(acme.key, { gpuCount: 8 }, 'lease-race'), lease(acme.key, { gpuCount: 8 }, 'lease-race')]);
    expect(c.body.id).toBe(d.body.id);
    expect(await countLeases()).toBe(before + 2);
    for (const id of [a.body.id, c.body.id]) await s.call('POST', `/v1/leases/${id}/release`, { key: acme.key, body: {} });
  });

  it('replays a retried create even when the capacity it took is now gone', async () => {
    const all = await lease(acme.key, { gpuCount: 64 }, 'take-all');
    expect(all.status).toBe(201);
    const retry = await lease(acme.key, { gpuCount: 64 }, 'take-all');
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(all.body.id);
    const other = await lease(acme.key, { gpuCount: 64 }, 'take-all-2');
    expect(other.status).toBe(409);
    const mismatch = await lease(acme.key, { gpuCount: 63 }, 'take-all');
    expect(mismatch.status).toBe(422);
    await s.call('POST', `/v1/leases/${all.body.id}/release`, { key: acme.key, body: {} });
  });

  it('a lease next week does not block today; overlapping it is refused with the largest that fits', async () => {
    const nextWeek = T0 + 7 * 24 * H;
    const all = await lease(acme.key, { gpuCount: 64, start: iso(nextWeek), end: iso(nextWeek + 24 * H) });
    expect(all.status).toBe(201);
    expect(all.body.state).toBe('scheduled');
    const today = await lease(beta.key, { gpuCount: 64, durationHours: 24 });
    expect(today.status).toBe(201);
    const clash = await lease(beta.key, { gpuCount: 8, start: iso(nextWeek + H), durationHours: 1 });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ type: 'https://neocloud.dev/problems/insufficient-capacity', largestSatisfiable: 0 });
    const cap = await s.call('GET', `/v1/capacity?gpuModel=H100-SXM&start=${iso(nextWeek)}&end=${iso(nextWeek + H)}`, { key: beta.key });
    expect(cap.body.freeGpus).toBe(0);
    // Fabric domains are fleet internals: the operator's report has them, a tenant's does not (test/console-api.test.ts).
    const later = await s.call('GET', `/v1/capacity?gpuModel=H100-SXM&start=${iso(nextWeek + 48 * H)}&end=${iso(nextWeek + 49 * H)}`);
    expect(later.body.freeGpus).toBe(64);
    expect(later.body.sites[0].fabrics.map((f: { fabricId: string; freeGpus: number }) => [f.fabricId, f.freeGpus])).toEqual([['fab-1', 32], ['fab-2', 32]]);
    await s.call('POST', `/v1/leases/${all.body.id}/release`, { key: acme.key, body: {} });
    await s.call('POST', `/v1/leases/${today.body.id}/release`, { key: beta.key, body: {} });
  });

  it('says how large a request could be met', async () => {
    const r = await lease(acme.key, { gpuCount: 40, placement: 'same-fabric' });
    expect(r.status).toBe(409);
    expect(r.body.largestSatisfiable).toBe(32);
    expect(r.body.detail).toMatch(/largest request that fits is 32 GPUs/);
  });

  it('moves through scheduled → active → expired with the clock, and refuses a second release', async () => {
    const r = await lease(acme.key, { gpuCount: 2, start: iso(s.clock.nowMs() + H), durationHours: 1 });
    expect(r.body.state).toBe('scheduled');
    s.clock.advanceMs(H);
    expect((await s.call('GET', `/v1/leases/${r.body.id}`, { key: acme.key })).body.state).toBe('active');
    s.clock.advanceMs(H);
    expect((await s.call('GET', `/v1/leases/${r.body.id}`, { key: acme.key })).body.state).toBe('expired');
    const rel = await s.call('POST', `/v1/leases/${r.body.id}/release`, { key: acme.key, body: {} });
    expect(rel.status).toBe(409);
  });

  it('pages through the list with a cursor', async () => {
    const p1 = await s.call('GET', '/v1/leases?limit=2');
    expect(p1.body.leases).toHaveLength(2);
    const p2 = await s.call('GET', `/v1/leases?limit=2&before=${p1.body.nextCursor}`);
    expect(p2.body.leases[0].id).not.toBe(p1.body.leases[0].id);
    expect(p2.body.leases.some((l: { id: string }) => p1.body.leases.some((m: { id: string }) => m.id === l.id))).toBe(false);
  });
});

describe('bad input answers 400 problem+json naming the field, and writes nothing', () => {
  const cases: [string, Record<string, unknown> | string, string][] = [
    ['wrong type', { gpuModel: 'H100-SXM', gpuCount: '8', durationHours: 1 }, 'gpuCount'],
    ['unknown GPU model', { gpuModel: 'H900', gpuCount: 8, durationHours: 1 }, 'gpuModel'],
    ['negative count', { gpuModel: 'H100-SXM', gpuCount: -1, durationHours: 1 }, 'gpuCount'],
    ['zero count', { gpuModel: 'H100-SXM', gpuCount: 0, durationHours: 1 }, 'gpuCount'],
    ['huge count', { gpuModel: 'H100-SXM', gpuCount: 1e12, durationHours: 1 }, 'gpuCount'],
    ['fractional count', { gpuModel: 'H100-SXM', gpuCount: 1.5, durationHours: 1 }, 'gpuCount'],
    ['huge duration', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1e9 }, 'durationHours'],
    ['unknown field', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, colour: 'red' }, 'colour'],
    ['end before start', { gpuModel: 'H100-SXM', gpuCount: 1, start: iso(T0 + 10 * H), end: iso(T0 + 9 * H) }, 'end'],
    ['no end', { gpuModel: 'H100-SXM', gpuCount: 1 }, 'end'],
    ['end and duration', { gpuModel: 'H100-SXM', gpuCount: 1, end: iso(T0 + 40 * H), durationHours: 1 }, 'durationHours'],
    ['start in the past', { gpuModel: 'H100-SXM', gpuCount: 1, start: '2020-01-01T00:00:00Z', durationHours: 1 }, 'start'],
    ['start not a date', { gpuModel: 'H100-SXM', gpuCount: 1, start: 'tomorrow', durationHours: 1 }, 'start'],
    ['bad placement', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, placement: 'same-planet' }, 'placement'],
    ['bad class', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, class: 'free' }, 'class'],
    ['unknown region', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, region: 'mars-1' }, 'region'],
    ['missing model', { gpuCount: 1, durationHours: 1 }, 'gpuModel'],
    ['null body field', { gpuModel: null, gpuCount: 1, durationHours: 1 }, 'gpuModel'],
    ['other tenant', { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, tenantId: 'ten_someone' }, 'tenantId'],
    ['malformed JSON', '{"gpuModel": ', 'body'],
  ];
  for (const [name, body, field] of cases) {
    it(name, async () => {
      const before = await countLeases();
      const r = await s.call('POST', '/v1/leases', { key: acme.key, body });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(r.body.type).toBe('https://neocloud.dev/problems/validation');
      expect(r.body.field).toBe(field);
      expect(r.body.detail).toContain(field);
      expect(await countLeases()).toBe(before);
    });
  }

  it('the operator must name the tenant, and a real one', async () => {
    const r = await s.call('POST', '/v1/leases', { body: { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1 } });
    expect(r.body.field).toBe('tenantId');
    const r2 = await s.call('POST', '/v1/leases', { body: { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1, tenantId: 'ten_nobody' } });
    expect(r2.status).toBe(400);
    expect(r2.body.field).toBe('tenantId');
  });

  it('capacity query errors name the parameter', async () => {
    const r = await s.call('GET', '/v1/capacity?gpuModel=H9000', { key: acme.key });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/gpuModel/);
    const r2 = await s.call('GET', `/v1/capacity?start=${iso(T0 + H)}&end=${iso(T0)}`, { key: acme.key });
    expect(r2.body.field).toBe('end');
  });
});

describe('fleet apply', () => {
  it('applies idempotently from YAML or JSON and names bad fields', async () => {
    const spec = smallFleet();
    const again = await s.call('PUT', '/v1/fleet', { body: spec });
    expect(again.status).toBe(200);
    expect(again.body.changed).toBe(false);
    const yaml = await s.call('PUT', '/v1/fleet', { body: YAML.stringify(spec), headers: { 'content-type': 'application/yaml' } });
    expect(yaml.body.changed).toBe(false);
    const bad = structuredClone(spec);
    (bad.sites[0]!.halls[0]!.fabrics[0] as { kind: string }).kind = 'carrier-pigeon';
    const r = await s.call('PUT', '/v1/fleet', { body: bad });
    expect(r.status).toBe(400);
    expect(r.body.field).toBe('sites[0].halls[0].fabrics[0].kind');
  });

  it('refuses to remove a node that holds a lease, now or in the future, and allows it once free', async () => {
    const future = await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', start: iso(s.clock.nowMs() + 48 * H), durationHours: 1, region: 'us-east' });
    expect(future.status).toBe(201);
    const node = future.body.nodes[0] as string;
    const fabricId = node.replace(/-n\d+$/, '');
    const smaller = smallFleet();
    // Remove the whole fabric domain that holds the leased node.
    smaller.sites[0]!.halls[0]!.fabrics = smaller.sites[0]!.halls[0]!.fabrics.filter((f) => f.id !== fabricId);
    const refused = await s.call('PUT', '/v1/fleet', { body: smaller });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain(node);
    expect(refused.body.leases).toContain(future.body.id);
    // Nothing was written.
    const f = await s.call('GET', '/v1/fleet');
    expect(f.body.totals.installedGpus).toBe(64 + 72);
    await s.call('POST', `/v1/leases/${future.body.id}/release`, { key: acme.key, body: {} });
    const ok = await s.call('PUT', '/v1/fleet', { body: smaller });
    expect(ok.status).toBe(200);
    expect(ok.body.changed).toBe(true);
    expect((await s.call('GET', '/v1/fleet')).body.totals.installedGpus).toBeLessThan(64 + 72);
    expect((await s.call('PUT', '/v1/fleet', { body: smallFleet() })).body.changed).toBe(true);
  });

  it('drained nodes take no new leases', async () => {
    const spec = smallFleet();
    spec.nodeStates = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`fab-1-n00${i + 1}`, 'draining' as const]));
    await s.call('PUT', '/v1/fleet', { body: spec });
    const r = await lease(acme.key, { gpuCount: 40 });
    expect(r.status).toBe(409);
    expect(r.body.largestSatisfiable).toBe(32);
    await s.call('PUT', '/v1/fleet', { body: smallFleet() });
  });

  it('overview reports power and leased share', async () => {
    const l = await lease(acme.key, { gpuCount: 8 });
    const f = await s.call('GET', '/v1/fleet');
    expect(f.body.totals.leasedGpus).toBe(8);
    expect(f.body.totals.leasedW).toBe(8 * 1594);
    expect(f.body.sites[0].usage.byModel['H100-SXM']).toEqual({ installed: 64, leased: 8 });
    await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: {} });
  });
});

describe('service endpoints', () => {
  it('health, readiness, metrics, OpenAPI and docs', async () => {
    expect((await s.call('GET', '/healthz', { key: null })).body).toEqual({ status: 'ok' });
    expect((await s.call('GET', '/readyz', { key: null })).body).toMatchObject({ status: 'ready', store: 'pglite' });
    const m = await s.call('GET', '/metrics', { key: null });
    expect(m.body).toContain('neocloud_leases_created_total');
    expect(m.body).toContain('neocloud_gpus{');
    const o = await s.call('GET', '/openapi.json', { key: null });
    expect(o.body.openapi).toBe('3.1.0');
    expect(Object.keys(o.body.paths)).toEqual(expect.arrayContaining(['/v1/leases', '/v1/leases/{id}', '/v1/leases/{id}/release', '/v1/capacity', '/v1/fleet', '/v1/tenants']));
    const d = await fetch(`${s.url}/docs`, { redirect: 'follow' });
    expect(d.status).toBe(200);
    expect(await d.text()).toMatch(/swagger/i);
    const nf = await s.call('GET', '/v1/nope');
    expect(nf.status).toBe(404);
    expect(nf.headers.get('content-type')).toMatch(/problem\+json/);
  });
});

describe('scheduler status', () => {
  it('reports utilization, fragmentation, the largest gang per level and the calendar ahead', async () => {
    const a = await lease(acme.key, { gpuCount: 3, placement: 'same-nvlink' }); // breaks one node
    const b = await lease(acme.key, { gpuCount: 16, start: iso(s.clock.nowMs() + 2 * H), durationHours: 1 });
    const st = await s.call('GET', '/v1/scheduler/status');
    expect(st.status).toBe(200);
    expect(st.body.inServiceGpus).toBe(64 + 72);
    expect(st.body.leasedGpus).toBe(3);
    expect(st.body.utilization).toBeCloseTo(3 / 136, 6);
    // 5 free GPUs sit on the broken node: 5 / 133 of the free GPUs are on partly used nodes.
    expect(st.body.fragmentation).toBeCloseTo(5 / 133, 6);
    const h100 = st.body.largestGang.find((g: { gpuModel: string }) => g.gpuModel === 'H100-SXM');
    expect(h100).toMatchObject({ freeGpus: 61, nvlink: 8, fabric: 32, site: 61, any: 61 });
    expect(st.body.largestGang.find((g: { gpuModel: string }) => g.gpuModel === 'GB200')).toMatchObject({ nvlink: 72 });
    expect(st.body.queue).toEqual({ scheduledLeases: 1, scheduledGpus: 16, startingWithin24h: 1, queuedRequests: 0, queuedGpus: 0, oldestQueuedSince: null });
    expect((await s.call('GET', '/v1/scheduler/status', { key: acme.key })).status).toBe(403);
    for (const l of [a, b]) await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: {} });
  });
});

describe('node failures', () => {
  it('moves leases off a node that goes down, and fails them when nothing else fits', async () => {
    const a = await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', region: 'us-east' });
    const node = a.body.nodes[0] as string;
    const down = smallFleet();
    down.nodeStates = { [node]: 'down' };
    const applied = await s.call('PUT', '/v1/fleet', { body: down });
    expect(applied.status).toBe(200);
    expect(applied.body.nodesDown).toEqual([node]);
    const moved = await s.call('GET', `/v1/leases/${a.body.id}`, { key: acme.key });
    expect(moved.body.state).toBe('active');
    expect(moved.body.nodes).toHaveLength(1);
    expect(moved.body.nodes[0]).not.toBe(node);
    const ev = await s.call('GET', `/v1/leases/${a.body.id}/events`, { key: acme.key });
    expect(ev.body.events.map((e: { type: string }) => e.type)).toEqual(['requested', 'placed', 'started', 'moved']);
    expect(ev.body.events.find((e: { type: string }) => e.type === 'moved')).toMatchObject({ type: 'moved', detail: { fromNodes: [node], toNodes: moved.body.nodes, downNodes: [node] } });
    expect((await s.call('GET', `/v1/leases/${a.body.id}/events`, { key: beta.key })).status).toBe(404);
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);

    // Fill every other H100, then take the lease's new node down too: nothing fits any more.
    const fill = await lease(beta.key, { gpuCount: 48 });
    expect(fill.status).toBe(201);
    s.clock.advanceMs(60_000);
    down.nodeStates = { [node]: 'down', [moved.body.nodes[0]]: 'down' };
    const second = await s.call('PUT', '/v1/fleet', { body: down });
    expect(second.body).toMatchObject({ nodesDown: [moved.body.nodes[0]] });
    const failed = await s.call('GET', `/v1/leases/${a.body.id}`, { key: acme.key });
    expect(failed.body.state).toBe('failed');
    expect(failed.body.stateReason).toMatch(/went down/);
    const ev2 = await s.call('GET', `/v1/leases/${a.body.id}/events`, { key: acme.key });
    expect(ev2.body.events.map((e: { type: string }) => e.type).filter((t: string) => t === 'moved' || t === 'failed')).toEqual(['moved', 'failed']);
    expect((await s.call('POST', `/v1/leases/${a.body.id}/release`, { key: acme.key, body: {} })).status).toBe(409);
    await s.call('POST', `/v1/leases/${fill.body.id}/release`, { key: beta.key, body: {} });
    await s.call('PUT', '/v1/fleet', { body: smallFleet() });
  });
});

describe('a lease moved off a GPU can move back onto it', () => {
  it('keeps both spans of the same GPU as history (moved off, moved back later)', async () => {
    const a = await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink' });
    const n1 = a.body.nodes[0] as string;
    const fill = await lease(beta.key, { gpuCount: 48 }); // leaves exactly one other H100 node free
    expect(fill.status).toBe(201);
    const spec = smallFleet();
    spec.nodeStates = { [n1]: 'down' };
    expect((await s.call('PUT', '/v1/fleet', { body: spec })).status).toBe(200);
    const n2 = (await s.call('GET', `/v1/leases/${a.body.id}`, { key: acme.key })).body.nodes[0] as string;
    expect(n2).not.toBe(n1);
    s.clock.advanceMs(60_000);
    spec.nodeStates = { [n2]: 'down' }; // n1 is back; it is the only place left
    const back = await s.call('PUT', '/v1/fleet', { body: spec });
    expect(back.status).toBe(200);
    const after = await s.call('GET', `/v1/leases/${a.body.id}`, { key: acme.key });
    expect(after.body).toMatchObject({ state: 'active', nodes: [n1] });
    const ev = await s.call('GET', `/v1/leases/${a.body.id}/events`, { key: acme.key });
    expect(ev.body.events.map((e: { type: string }) => e.type).filter((t: string) => t === 'moved')).toEqual(['moved', 'moved']);
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    // Releasing it cuts the live span; its two spans cut before they ran (empty ranges) stay as history.
    for (const [k, id] of [[acme.key, a.body.id], [beta.key, fill.body.id]] as const) {
      expect((await s.call('POST', `/v1/leases/${id}/release`, { key: k, body: {} })).status).toBe(200);
    }
    expect(await s.cp.leaseRepo.loadLiveHolds(s.clock.nowMs())).toEqual([]);
    await s.call('PUT', '/v1/fleet', { body: smallFleet() });
  });
});
describe('node failures honour the hold, not the booked end', () => {
  it('re-places a backfilled spot lease up to its deadline, and holds the new GPUs only until then', async () => {
    const now = s.clock.nowMs();
    // A reserved block books all 64 H100s from +2 h; spot work backfills in front of it until then.
    const block = await lease(acme.key, { gpuCount: 64, class: 'reserved', start: iso(now + 2 * H), durationHours: 8 });
    expect(block.status).toBe(201);
    const spot = await lease(beta.key, { gpuCount: 8, class: 'spot', durationHours: 10, placement: 'same-nvlink' });
    expect(spot.status).toBe(201);
    expect(spot.body.state).toBe('preempting');
    const deadline = spot.body.preemptedAt as string;
    // Its node goes down. Free GPUs exist until the block starts (7 other nodes), not until the spot lease's booked end.
    const node = spot.body.nodes[0] as string;
    const down = smallFleet();
    down.nodeStates = { [node]: 'down' };
    expect((await s.call('PUT', '/v1/fleet', { body: down })).status).toBe(200);
    const after = await s.call('GET', `/v1/leases/${spot.body.id}`, { key: beta.key });
    expect(after.body.state).toBe('preempting'); // moved, not failed
    expect(after.body.nodes[0]).not.toBe(node);
    // The new GPUs are held until the deadline only: read the stored hold ranges directly.
    const holds = await s.cp.leaseRepo.loadLiveHolds(s.clock.nowMs());
    const mine = holds.find((h) => h.leaseId === spot.body.id)!;
    expect(new Date(mine.endMs).toISOString()).toBe(deadline);
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    for (const [k, id] of [[acme.key, block.body.id], [beta.key, spot.body.id]] as const) await s.call('POST', `/v1/leases/${id}/release`, { key: k, body: {} });
    await s.call('PUT', '/v1/fleet', { body: smallFleet() });
  });
});

describe('spot preemption', () => {
  it('preempts the cheapest spot lease in the gang’s domain with notice; the new lease starts when it ends', async () => {
    const spot: { body: { id: string; nodes: string[] } }[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await lease(beta.key, { gpuCount: 8, placement: 'same-nvlink', class: 'spot', durationHours: 10 });
      expect(r.status).toBe(201);
      spot.push(r);
    }
    // Spot never preempts spot.
    expect((await lease(acme.key, { gpuCount: 8, class: 'spot' })).status).toBe(409);
    const now = s.clock.nowMs();
    const od = await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', durationHours: 2 });
    expect(od.status).toBe(201);
    expect(od.body).toMatchObject({ state: 'scheduled', start: iso(now + 300_000), end: iso(now + 300_000 + 2 * H) });
    const victims = [];
    for (const v of spot) {
      const g = await s.call('GET', `/v1/leases/${v.body.id}`, { key: beta.key });
      if (g.body.preemptedBy) victims.push(g.body);
    }
    expect(victims).toHaveLength(1);
    expect(victims[0]).toMatchObject({ state: 'preempting', preemptedBy: od.body.id, preemptedAt: iso(now + 300_000) });
    expect(victims[0].nodes).toEqual(od.body.nodes);
    const ev = await s.call('GET', `/v1/leases/${victims[0].id}/events`, { key: beta.key });
    expect(ev.body.events.find((e: { type: string }) => e.type === 'preempting')).toMatchObject({ type: 'preempting', detail: { by: od.body.id, deadline: iso(now + 300_000), cause: 'preemption' } });

    // A 16-GPU same-fabric gang takes two spot leases of one fabric.
    const res = await lease(acme.key, { gpuCount: 16, placement: 'same-fabric', class: 'reserved', durationHours: 1 });
    expect(res.status).toBe(201);
    const fabrics = new Set(res.body.nodes.map((n: string) => n.replace(/-n\d+$/, '')));
    expect(fabrics.size).toBe(1);

    s.clock.advanceMs(300_000);
    expect((await s.call('GET', `/v1/leases/${victims[0].id}`, { key: beta.key })).body.state).toBe('preempted');
    expect((await s.call('GET', `/v1/leases/${od.body.id}`, { key: acme.key })).body.state).toBe('active');
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    // The view survives a restart of the in-memory index.
    await s.cp.leases.reload();
    expect((await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', class: 'spot' })).status).toBe(409);
    for (const l of [...spot, od, res]) await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: l === od || l === res ? acme.key : beta.key, body: {} });
  });
});

describe('internal work', () => {
  it('is the operator’s, earns no rent, and yields to on-demand under the default policy', async () => {
    const denied = await lease(acme.key, { gpuCount: 8, class: 'internal' });
    expect(denied.status).toBe(400);
    expect(denied.body.field).toBe('class');
    const internal: { body: { id: string } }[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await s.call('POST', '/v1/leases', { body: { gpuModel: 'H100-SXM', gpuCount: 8, placement: 'same-nvlink', class: 'internal', durationHours: 10 } });
      expect(r.status).toBe(201);
      expect(r.body.totalMicros).toBe('0');
      expect(r.body.tenantId).toBe('ten_owner'); // the owner's account, not a customer's
      internal.push(r);
    }
    // No customer sees the owner's work or its account; the operator cannot book it for a customer.
    for (const k of [acme.key, beta.key]) {
      expect((await s.call('GET', '/v1/leases?limit=500', { key: k })).body.leases.some((l: { class: string }) => l.class === 'internal')).toBe(false);
      expect((await s.call('GET', `/v1/leases/${internal[0]!.body.id}`, { key: k })).status).toBe(404);
      expect((await s.call('POST', `/v1/leases/${internal[0]!.body.id}/release`, { key: k, body: {} })).status).toBe(404);
    }
    expect((await s.call('GET', '/v1/tenants')).body.tenants.some((t: { id: string }) => t.id === 'ten_owner')).toBe(false);
    const forCustomer = await s.call('POST', '/v1/leases', { body: { tenantId: beta.id, gpuModel: 'H100-SXM', gpuCount: 8, class: 'internal', durationHours: 1 } });
    expect(forCustomer.status).toBe(400);
    expect(forCustomer.body.field).toBe('tenantId');
    expect((await s.call('POST', '/v1/tenants/ten_owner/keys', { body: {} })).status).toBe(404);
    const now = s.clock.nowMs();
    const od = await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', durationHours: 1 });
    expect(od.status).toBe(201);
    expect(od.body.start).toBe(iso(now + 300_000));
    let preempted = 0;
    for (const l of internal) if ((await s.call('GET', `/v1/leases/${l.body.id}`)).body.state === 'preempting') preempted++;
    expect(preempted).toBe(1);
    // With internal work first, on-demand no longer preempts it.
    s.cp.leases.internalFirst = true;
    try {
      expect((await lease(acme.key, { gpuCount: 8, placement: 'same-nvlink', durationHours: 1 })).status).toBe(409);
    } finally {
      s.cp.leases.internalFirst = false;
    }
    for (const l of [...internal, od]) await s.call('POST', `/v1/leases/${l.body.id}/release`, { body: {} });
  });
});

describe('spot backfill', () => {
  it('runs spot work on GPUs booked for later, until that booking starts — the booking is never delayed', async () => {
    const start = s.clock.nowMs() + 4 * H;
    const block = await lease(acme.key, { gpuCount: 64, class: 'reserved', start: iso(start), durationHours: 2 });
    expect(block.status).toBe(201);
    // A 10-hour spot request cannot have 10 hours, but it can have the 4 idle hours before the block.
    const spot = await lease(beta.key, { gpuCount: 16, class: 'spot', durationHours: 10 });
    expect(spot.status).toBe(201);
    expect(spot.body).toMatchObject({ state: 'preempting', preemptedAt: iso(start), preemptedBy: block.body.id });
    expect(spot.body.totalMicros).toBe(String(1_350_000 * 16 * 4)); // billed for the 4 hours it can run
    const ev = await s.call('GET', `/v1/leases/${spot.body.id}/events`, { key: beta.key });
    expect(ev.body.events.find((e: { type: string }) => e.type === 'preempting')).toMatchObject({ type: 'preempting', detail: { backfill: true, by: block.body.id } });
    // On-demand work is not backfilled into the block: it would delay it.
    expect((await lease(beta.key, { gpuCount: 8, durationHours: 10 })).status).toBe(409);
    s.clock.advanceMs(4 * H);
    expect((await s.call('GET', `/v1/leases/${spot.body.id}`, { key: beta.key })).body.state).toBe('preempted');
    expect((await s.call('GET', `/v1/leases/${block.body.id}`, { key: acme.key })).body).toMatchObject({ state: 'active', start: iso(start) });
    expect(await s.cp.leaseRepo.findOverlaps()).toEqual([]);
    await s.call('POST', `/v1/leases/${block.body.id}/release`, { key: acme.key, body: {} });
  });

  it('backfills internal work the same way, unless internal work comes first (then it is never cut short)', async () => {
    const start = s.clock.nowMs() + 2 * H;
    const block = await lease(acme.key, { gpuCount: 64, class: 'reserved', start: iso(start), durationHours: 2 });
    expect(block.status).toBe(201);
    const internal = { gpuModel: 'H100-SXM', gpuCount: 8, class: 'internal', durationHours: 10 };
    s.cp.leases.internalFirst = true;
    try {
      expect((await s.call('POST', '/v1/leases', { body: internal })).status).toBe(409);
    } finally {
      s.cp.leases.internalFirst = false;
    }
    const bf = await s.call('POST', '/v1/leases', { body: internal });
    expect(bf.status).toBe(201);
    expect(bf.body).toMatchObject({ class: 'internal', state: 'preempting', preemptedAt: iso(start), preemptedBy: block.body.id, totalMicros: '0' });
    for (const l of [bf, block]) await s.call('POST', `/v1/leases/${l.body.id}/release`, { body: {} });
  });
});
