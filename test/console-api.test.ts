/**
 * The API the console reads (issue 10): GET /v1/me, what a lease actually ran beside what it
 * booked (actualEnd, usedMs, accruedMicros), and capacity as a tenant sees it (no fleet internals).
 * Real server on port 0, PGlite, a manual clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, smallFleet, startServer, T0, type TestServer } from './helpers.js';

const H = 3_600_000;
const MIN = 60_000;
let s: TestServer;
let acme: { id: string; key: string };

beforeAll(async () => {
  s = await startServer({ fleet: smallFleet() });
  acme = await createTenant(s, 'acme');
});
afterAll(async () => s?.close());

/** price × GPUs × ms / 1 h, rounded half up: recomputed here with BigInt, not by the server's code. */
/** price × GPUs × time within one month, rounded half-even to the cent (the rate card's charge rule, written again here). */
const accrued = (priceMicros: string, gpus: number, ms: number): string => {
  const num = BigInt(priceMicros) * BigInt(gpus) * BigInt(ms);
  const den = BigInt(H) * 10_000n;
  const q = num / den;
  const twice = 2n * (num - q * den);
  return ((twice > den || (twice === den && q % 2n === 1n) ? q + 1n : q) * 10_000n).toString();
};

describe('GET /v1/me', () => {
  it('names the operator and a tenant (with its name), and the event log head', async () => {
    const op = await s.call('GET', '/v1/me');
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({ role: 'operator', tenantId: null, tenantName: null, asOf: new Date(s.clock.nowMs()).toISOString() });
    expect(op.body.keyId).toMatch(/^key_/);
    const me = await s.call('GET', '/v1/me', { key: acme.key });
    expect(me.body).toMatchObject({ role: 'tenant', tenantId: acme.id, tenantName: 'acme' });
    expect((await s.call('GET', '/v1/me', { key: null })).status).toBe(401);

    // The cursor is the log's head: reading after it finds nothing until something happens.
    const cursor = op.body.eventCursor as string;
    expect(cursor).toMatch(/^\d+$/);
    expect((await s.call('GET', `/v1/events?after=${cursor}`)).body.events).toEqual([]);
    const l = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 } });
    const after = (await s.call('GET', `/v1/events?after=${cursor}`)).body.events as { subject: string; type: string }[];
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((e) => e.subject === `lease/${l.body.id}` || e.subject.includes(l.body.id))).toBe(true);
    await s.call('POST', `/v1/leases/${l.body.id}/release`, { key: acme.key, body: {} });
  });
});

describe('what a lease ran beside what it booked', () => {
  it('a lease released after 3 minutes: actual end, 3 minutes used, 3 minutes of money; the booked total unchanged', async () => {
    const r = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 16, durationHours: 2 } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ actualEnd: null, usedMs: 0, accruedMicros: '0' });
    s.clock.advanceMs(90_000);
    const mid = await s.call('GET', `/v1/leases/${r.body.id}`, { key: acme.key });
    expect(mid.body).toMatchObject({ state: 'active', actualEnd: null, usedMs: 90_000, accruedMicros: accrued(r.body.priceMicrosPerGpuHour, 16, 90_000) });
    s.clock.advanceMs(90_000);
    const rel = await s.call('POST', `/v1/leases/${r.body.id}/release`, { key: acme.key, body: {} });
    expect(rel.body).toMatchObject({ state: 'released', actualEnd: new Date(T0 + 3 * MIN).toISOString(), usedMs: 3 * MIN, totalMicros: r.body.totalMicros });
    expect(rel.body.accruedMicros).toBe(accrued(r.body.priceMicrosPerGpuHour, 16, 3 * MIN));
    expect(BigInt(rel.body.accruedMicros)).toBeLessThan(BigInt(rel.body.totalMicros));
    s.clock.advanceMs(H);
    expect((await s.call('GET', `/v1/leases/${r.body.id}`, { key: acme.key })).body.usedMs).toBe(3 * MIN);
  });

  it('a cancelled queued request ran nothing and accrued nothing', async () => {
    const all = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'GB200', gpuCount: 72, durationHours: 1 } });
    expect(all.status).toBe(201);
    const q = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'GB200', gpuCount: 72, durationHours: 3, queue: true } });
    expect(q.status).toBe(202);
    s.clock.advanceMs(5 * MIN);
    const c = await s.call('POST', `/v1/leases/${q.body.id}/release`, { key: acme.key, body: {} });
    expect(c.body).toMatchObject({ state: 'released', actualEnd: null, usedMs: 0, accruedMicros: '0' });
    expect(BigInt(c.body.totalMicros)).toBeGreaterThan(0n);
    await s.call('POST', `/v1/leases/${all.body.id}/release`, { key: acme.key, body: {} });
  });

  it('a preempted spot lease accrues up to its preemption deadline, not its booked end', async () => {
    const free = (await s.call('GET', '/v1/capacity?gpuModel=H100-SXM')).body.freeGpus as number;
    const spot = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: free, durationHours: 4, class: 'spot' } });
    expect(spot.status).toBe(201);
    s.clock.advanceMs(MIN);
    const od = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 } });
    expect(od.status).toBe(201);
    const preempting = (await s.call('GET', `/v1/leases/${spot.body.id}`, { key: acme.key })).body;
    expect(preempting.state).toBe('preempting');
    const deadline = Date.parse(preempting.preemptedAt);
    expect(deadline).toBeGreaterThan(s.clock.nowMs());
    expect(deadline).toBeLessThan(Date.parse(preempting.end));
    s.clock.advanceMs(10 * MIN);
    const done = (await s.call('GET', `/v1/leases/${spot.body.id}`, { key: acme.key })).body;
    expect(done.state).toBe('preempted');
    const ran = deadline - Date.parse(spot.body.start);
    expect(done).toMatchObject({ actualEnd: preempting.preemptedAt, usedMs: ran, accruedMicros: accrued(spot.body.priceMicrosPerGpuHour, free, ran) });
    await s.call('POST', `/v1/leases/${od.body.id}/release`, { key: acme.key, body: {} });
  });
});

describe('capacity as a tenant sees it', () => {
  it('free and runnable GPUs per site and model; no halls, fabrics, installed counts or power', async () => {
    const op = (await s.call('GET', '/v1/capacity')).body;
    expect(op.sites[0].fabrics.length).toBeGreaterThan(0);
    expect(op.sites[0].fabrics.map((f: { gpuModel: string }) => f.gpuModel)).toEqual(expect.arrayContaining(['H100-SXM', 'GB200']));
    const t = await s.call('GET', '/v1/capacity', { key: acme.key });
    expect(t.status).toBe(200);
    const text = JSON.stringify(t.body);
    for (const internal of ['hall', 'fab-', 'fabrics', 'installedGpus', 'powerCapW', 'peakLeasedW']) expect(text).not.toContain(internal);
    expect(t.body.freeGpus).toBe(op.freeGpus);
    expect(t.body.sites).toEqual([{
      siteId: 'site-a', region: 'us-east', freeGpus: op.sites[0].freeGpus, availableGpus: op.sites[0].availableGpus,
      freeByModel: op.sites[0].freeByModel,
    }]);
    // Per model adds up to the site's free GPUs, counted from the operator's fabric rows.
    const byModel: Record<string, number> = {};
    for (const f of op.sites[0].fabrics as { gpuModel: string; freeGpus: number }[]) byModel[f.gpuModel] = (byModel[f.gpuModel] ?? 0) + f.freeGpus;
    expect(t.body.sites[0].freeByModel).toEqual(byModel);
  });
});

describe('GET /v1/fleet/nodes (the operator\'s drill-down)', () => {
  it('operator only; a bad siteId is a 400 naming it; an unknown site has no nodes', async () => {
    expect((await s.call('GET', '/v1/fleet/nodes', { key: acme.key })).status).toBe(403);
    expect((await s.call('GET', '/v1/fleet/nodes', { key: null })).status).toBe(401);
    const bad = await s.call('GET', '/v1/fleet/nodes?siteId=%00');
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('siteId');
    expect((await s.call('GET', '/v1/fleet/nodes?nope=1')).status).toBe(400);
    expect((await s.call('GET', '/v1/fleet/nodes?siteId=nowhere')).body).toMatchObject({ halls: [], nodes: [] });
  });

  it('every node with its GPUs leased now, adding up to what the leases hold and to the fleet overview', async () => {
    const a = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 12, durationHours: 1 } });
    const b = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'GB200', gpuCount: 4, durationHours: 1, start: new Date(s.clock.nowMs() + H).toISOString() } });
    expect([a.status, b.status]).toEqual([201, 201]);
    const r = await s.call('GET', '/v1/fleet/nodes');
    expect(r.status).toBe(200);
    const nodes = r.body.nodes as { id: string; hallId: string; leasedGpus: number; gpus: number; leasedW: number }[];
    // Leased now per node, counted from the live leases' GPU lists (the future lease holds nothing yet).
    const live = (await s.call('GET', '/v1/leases?limit=500')).body.leases.filter((l: { state: string }) => l.state === 'active' || l.state === 'preempting');
    const perNode = new Map<string, number>();
    for (const l of live) for (const g of l.gpus as { nodeId: string }[]) perNode.set(g.nodeId, (perNode.get(g.nodeId) ?? 0) + 1);
    for (const n of nodes) expect(n.leasedGpus, n.id).toBe(perNode.get(n.id) ?? 0);
    const overview = (await s.call('GET', '/v1/fleet')).body;
    expect(nodes.reduce((x, n) => x + n.leasedGpus, 0)).toBe(overview.totals.leasedGpus);
    expect(nodes.reduce((x, n) => x + n.gpus, 0)).toBe(overview.totals.installedGpus);
    const halls = r.body.halls as { hallId: string; leasedW: number; powerCapW: number }[];
    expect(halls.map((hl) => hl.hallId).sort()).toEqual(['hall-1', 'hall-2']);
    for (const hl of halls) expect(hl.leasedW).toBe(nodes.filter((n) => n.hallId === hl.hallId).reduce((x, n) => x + n.leasedW, 0));
    expect(halls.reduce((x, hl) => x + hl.leasedW, 0)).toBe(overview.totals.leasedW);
    await s.call('POST', `/v1/leases/${a.body.id}/release`, { key: acme.key, body: {} });
    await s.call('POST', `/v1/leases/${b.body.id}/release`, { key: acme.key, body: {} });
  });
});
