/**
 * The lease meter end to end (HTTP, the real event log, the controlled clock), on PGlite and on
 * PostgreSQL when TEST_DATABASE_URL is set: GPU time is never billed past a lease's end, even
 * when a draft is refreshed before the sweep logs the end (issue 18, finding 4); downtime inside a
 * lease is not billed and is credited per the SLA (finding 6). Expected figures come from the
 * lease's booked window and the producer's own log entries, not from the meter.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { fakeDiscovery } from '../src/agent/gpu-discovery.js';
import { createTenant, smallFleet, startServer, STORE_KINDS, T0, type TestServer } from './helpers.js';

const M = 60_000;
const H = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const JAN = Date.parse('2027-01-01T00:00:00.000Z');

/** The tenant's final December invoice, after closing the month as the operator. */
async function closeDecember(s: TestServer, tenantId: string): Promise<any> {
  s.clock.set(JAN + M);
  const close = await s.call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
  expect(close.status, JSON.stringify(close.body)).toBe(200);
  const list = await s.call('GET', `/v1/invoices?tenantId=${tenantId}&period=2026-12`);
  const monthly = list.body.invoices.filter((i: any) => i.kind === 'monthly');
  expect(monthly).toHaveLength(1);
  const inv = await s.call('GET', `/v1/invoices/${monthly[0].id}`);
  expect(inv.body.status).toBe('final');
  return inv.body;
}

/** Sum of the quantities (micro-GPU-seconds, as the lines store them) of one kind of line. */
const qty = (inv: any, kind: string): bigint => inv.lines.filter((l: any) => l.kind === kind).reduce((a: bigint, l: any) => a + BigInt(l.quantity), 0n);

describe.each(STORE_KINDS)('the lease meter, end to end (%s)', (store) => {
  let s: TestServer | undefined;
  const agents: Agent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    await s?.close();
    s = undefined;
  });

  it('8 GPUs × 1 min, a draft refreshed after the end but before the sweep: the final invoice bills exactly 480,000,000 µGPU-s', async () => {
    s = await startServer({ store, fleet: smallFleet() });
    const acme = await createTenant(s, 'acme');
    s.clock.set(T0 + H);
    const lease = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, end: iso(T0 + H + M) } });
    expect(lease.status, JSON.stringify(lease.body)).toBe(201);
    expect([lease.body.start, lease.body.end]).toEqual([iso(T0 + H), iso(T0 + H + M)]);
    // 779 ms after the end (the finding's 486,232,000 = 8 × 60.779 s), nothing has swept yet.
    s.clock.set(T0 + H + M + 779);
    const refresh = await s.call('POST', '/v1/invoices/refresh', { body: { period: '2026-12', tenantId: acme.id } });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(200);
    const draftId = (await s.call('GET', `/v1/invoices?tenantId=${acme.id}&period=2026-12`)).body.invoices[0].id;
    const draft = await s.call('GET', `/v1/invoices/${draftId}`);
    expect(draft.body.status).toBe('draft');
    expect(qty(draft.body, 'usage')).toBe(480_000_000n);
    // Later the sweep logs the end (at the booked end), and the month closes.
    s.clock.set(T0 + 2 * H);
    await s.cp.leases.sweep();
    const inv = await closeDecember(s, acme.id);
    expect(inv.lines.filter((l: any) => l.meter === 'gpu.seconds').map((l: any) => [l.kind, l.quantity])).toEqual([['usage', '480000000']]);
  }, 60_000);

  it('a spot lease preempted at its deadline, metered past it by a draft before the sweep logs it: billed to the deadline', async () => {
    s = await startServer({ store, fleet: smallFleet() }); // 64 H100-SXM
    const acme = await createTenant(s, 'acme');
    s.clock.set(T0 + H);
    const spot = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 64, class: 'spot', durationHours: 10 } });
    expect(spot.status, JSON.stringify(spot.body)).toBe(201);
    // An on-demand lease preempts it with notice: the spot lease's GPUs go at the deadline.
    s.clock.set(T0 + 2 * H);
    const od = await s.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 } });
    expect(od.status, JSON.stringify(od.body)).toBe(201);
    const deadline = Date.parse(od.body.start);
    expect(deadline).toBeGreaterThan(T0 + 2 * H);
    // A draft 20 minutes after the deadline, before any sweep.
    s.clock.set(deadline + 20 * M);
    expect((await s.call('POST', '/v1/invoices/refresh', { body: { period: '2026-12', tenantId: acme.id } })).status).toBe(200);
    const inv = await closeDecember(s, acme.id);
    // Spot: 64 GPUs from T0+1h to the deadline. On-demand: 8 GPUs for its hour (it started at the deadline).
    const spotMicro = 64n * BigInt(deadline - (T0 + H)) * 1000n;
    const odMicro = 8n * 3_600n * 1_000_000n;
    const lines = inv.lines.filter((l: any) => l.meter === 'gpu.seconds');
    expect(Object.fromEntries(lines.map((l: any) => [l.description.includes('spot') ? 'spot' : 'on-demand', BigInt(l.quantity)]))).toEqual({ spot: spotMicro, 'on-demand': odMicro });
  }, 60_000);

  it('an on-demand lease whose node went silent: the downtime is not billed and is credited per the SLA', async () => {
    s = await startServer({ store, fleet: smallFleet({ fabrics: 1, h100PerFabric: 2 }), telemetry: { intervalMs: 10_000, missedBeats: 3 } });
    const srv = s;
    const acme = await createTenant(srv, 'acme');
    const nodes = ['fab-1-n001', 'fab-1-n002'];
    const byNode = new Map<string, Agent>();
    for (const nodeId of nodes) {
      const tok = await srv.call('POST', `/v1/nodes/${nodeId}/enrolment-tokens`, { body: {} });
      const agent = new Agent({
        url: srv.url, nodeId, token: tok.body.token, stateDir: mkdtempSync(join(tmpdir(), `meter-${nodeId}-`)),
        discover: fakeDiscovery(nodeId, 8, 'H100-SXM', {}, () => srv.clock.nowMs()), log: () => undefined, now: () => srv.clock.nowMs(),
      });
      agents.push(agent);
      byNode.set(nodeId, agent);
      await agent.enrol();
      await agent.beat();
    }
    const lease = await srv.call('POST', '/v1/leases', { key: acme.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 2, placement: 'same-nvlink' } });
    expect(lease.status, JSON.stringify(lease.body)).toBe(201);
    const start = Date.parse(lease.body.start);
    const silent = lease.body.nodes[0] as string;
    const live = byNode.get(nodes.find((n) => n !== silent)!)!;
    // The lease's node stops beating; after 3 missed intervals it is down and the lease moves.
    srv.clock.advanceMs(5 * M);
    for (let i = 0; i < 4; i++) {
      srv.clock.advanceMs(9_000);
      await live.beat();
      await srv.cp.telemetry.tick();
    }
    const moved = await srv.call('GET', `/v1/leases/${lease.body.id}`, { key: acme.key });
    expect(moved.body.nodes).not.toContain(silent);
    const log = (await srv.call('GET', `/v1/leases/${lease.body.id}/events`, { key: acme.key })).body.events;
    const dt = log.find((e: any) => e.type === 'downtime').detail;
    const downMs = BigInt(Date.parse(dt.to) - Date.parse(dt.from));
    expect(dt.gpuCount).toBe(8);
    expect(downMs).toBeGreaterThan(0n);
    // Released one hour after its start.
    srv.clock.set(start + H);
    expect((await srv.call('POST', `/v1/leases/${lease.body.id}/release`, { key: acme.key, body: {} })).status).toBe(200);
    const inv = await closeDecember(srv, acme.id);
    // Billed: 8 GPUs × (1 h − the downtime). Credited: 8 × the downtime, plus the 15-minute restart per moved GPU.
    expect(qty(inv, 'usage')).toBe(8n * (3_600_000n - downMs) * 1000n);
    expect(qty(inv, 'sla_credit')).toBe(8n * downMs * 1000n + 8n * 15n * 60n * 1_000_000n);
  }, 60_000);
});
