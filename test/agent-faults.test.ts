/**
 * Faults are per GPU and named (issue 24, behaviour 3), over HTTP against a real control plane on
 * every store. Each impossible reading the outside probe sent (memory.used 4294967295, power −1 W
 * and 5,200 W, −60 °C, 101 % utilisation, an ECC count of 2^64 − 1) used to refuse the whole
 * heartbeat (400), so the talking agent's node went down for "missed heartbeats" and stayed down.
 * Now: the heartbeat is taken (200), that field is refused (null), the GPU is marked faulty with
 * the reason, the node is down with that reason (never "missed heartbeats"), and it comes back by
 * itself after 30 s of sane readings. Structural garbage is still a 400 naming the field.
 * No sleeps: ManualClock and `telemetry.tick()`.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { fakeDiscovery, fakeGpuUuid } from '../src/agent/gpu-discovery.js';
import { STORE_KINDS, smallFleet, startServer, type TestServer } from './helpers.js';

const N1 = 'fab-1-n001';

/** One bad value on GPU 3, as JSON text (the ECC one is beyond a double's integers, so it is spliced in as written). */
const CASES: { name: string; field: string; json: string; reason: string }[] = [
  { name: 'memory.used = 4294967295 MiB', field: 'memoryUsedMiB', json: '4294967295', reason: 'memory.used 4294967295 MiB is outside 0–81920 MiB' },
  { name: 'power −1 W', field: 'powerW', json: '-1', reason: 'power.draw -1 W is outside 0–1400 W' },
  { name: 'power 5,200 W', field: 'powerW', json: '5200', reason: 'power.draw 5200 W is outside 0–1400 W' },
  { name: 'temperature −60 °C', field: 'temperatureC', json: '-60', reason: 'temperature.gpu -60 °C is outside -40–150 °C' },
  { name: 'utilisation 101 %', field: 'utilizationPct', json: '101', reason: 'utilization.gpu 101 % is outside 0–100 %' },
  { name: 'ECC 18446744073709551615', field: 'eccUncorrected', json: '18446744073709551615', reason: 'ecc.errors.uncorrected.volatile.total 18446744073709552000 is not a count from 0 to 1000000' },
];

describe.each(STORE_KINDS)('impossible readings are the GPU\'s fault, not the heartbeat\'s (%s)', (store) => {
  let s: TestServer;
  let cred: { agentId: string; credential: string };
  let seq = 1e15; // above the enrolling agent's (its clock's ms): these hand-made heartbeats are the node's only ones

  beforeAll(async () => {
    s = await startServer({ store, fleet: smallFleet({ fabrics: 1, h100PerFabric: 2 }), telemetry: { intervalMs: 10_000, missedBeats: 3 } });
    const tok = await s.call('POST', `/v1/nodes/${N1}/enrolment-tokens`, { body: {} });
    const stateDir = mkdtempSync(join(tmpdir(), 'agent-faults-'));
    const agent = new Agent({ url: s.url, nodeId: N1, token: tok.body.token, stateDir, discover: fakeDiscovery(N1, 8, 'H100-SXM', {}, () => s.clock.nowMs()), log: () => undefined, now: () => s.clock.nowMs() });
    await agent.enrol();
    cred = JSON.parse(readFileSync(join(stateDir, 'agent.json'), 'utf8'));
  });
  afterAll(async () => { await s?.close(); });

  /** A heartbeat of 8 sane H100 samples as JSON text, GPU 3's `field` replaced by `json` when given. */
  function body(bad?: { field: string; json: string }): string {
    const gpus = Array.from({ length: 8 }, (_, i) => ({
      uuid: fakeGpuUuid(N1, i), index: i, powerW: 350, powerLimitW: 700, utilizationPct: 50, memoryUsedMiB: 40_000, memoryTotalMiB: 81_920,
      temperatureC: 55, eccUncorrected: 0, xids: [], recoveryAction: 'None', ...(bad && i === 3 ? { [bad.field]: '@BAD@' } : {}),
    }));
    const text = JSON.stringify({ v: 1, nodeId: N1, agentId: cred.agentId, seq: ++seq, sentAtMs: s.clock.nowMs(), intervalMs: 10_000, adminState: 'none', discoveryError: null, gpus });
    return bad ? text.replace('"@BAD@"', bad.json) : text;
  }

  async function post(text: string): Promise<{ status: number; body: any }> {
    const r = await fetch(`${s.url}/v1/agent/heartbeats`, {
      method: 'POST', body: text,
      headers: { authorization: `Bearer ${cred.credential}`, 'content-type': 'application/json', 'idempotency-key': `hb-${seq}-${Math.random()}` },
    });
    return { status: r.status, body: await r.json() };
  }

  const node = async (): Promise<any> => (await s.call('GET', `/v1/nodes/${N1}`)).body;

  it.each(CASES)('$name: the heartbeat is taken, the field refused, GPU 3 faulty with the reason; the node is down for it and back after 30 s of sane readings', async ({ field, json, reason }) => {
    expect((await post(body())).status).toBe(200);
    await s.cp.telemetry.settle();
    expect((await node()).state).toBe('ready');

    const r = await post(body({ field, json }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await s.cp.telemetry.settle();
    const uuid = fakeGpuUuid(N1, 3);
    const down = await node();
    expect(down).toMatchObject({ state: 'down', healthReason: `impossible reading: GPU 3 (${uuid}): ${reason}` });
    expect(down.gpus[3]).toMatchObject({ uuid, fault: `GPU 3 (${uuid}): ${reason}`, [field]: null });
    // The other GPUs' readings are kept; none of them is faulty; the impossible watts count nowhere.
    expect(down.gpus.filter((g: { fault: string | null }) => g.fault !== null)).toHaveLength(1);
    expect(down.gpus[2]).toMatchObject({ powerW: 350, fault: null });
    expect(down.measured.gpuW).toBe(field === 'powerW' ? 7 * 350 : 8 * 350);

    // The agent keeps talking, sanely from now on: never "missed heartbeats"; back after 30 s of sane readings.
    for (let i = 1; i <= 4; i++) {
      s.clock.advanceMs(10_000);
      expect((await post(body())).status).toBe(200);
      expect(await s.cp.telemetry.tick()).toEqual([]);
      const n = await node();
      expect(n.healthReason ?? '').not.toMatch(/missed heartbeats/);
      expect(n.state).toBe(i < 4 ? 'down' : 'ready');
    }
    const back = await node();
    expect(back).toMatchObject({ state: 'ready', healthReason: null });
    expect(back.gpus[3]).toMatchObject({ fault: null, powerW: 350 });
    s.clock.advanceMs(10_000);
  });

  it('a talking agent whose every heartbeat has an impossible reading is down for that reason, never for missed heartbeats', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await post(body({ field: 'powerW', json: '5200' }))).status).toBe(200);
      expect(await s.cp.telemetry.tick()).toEqual([]);
      s.clock.advanceMs(10_000);
    }
    const n = await node();
    expect(n.state).toBe('down');
    expect(n.healthReason).toMatch(/^impossible reading: GPU 3 .*power\.draw 5200 W/);
    // A hardware fault outranks it (only the operator lifts that one).
    const ecc = body().replace(/("index":5,.*?"eccUncorrected":)0/, '$11');
    expect((await post(ecc)).status).toBe(200);
    await s.cp.telemetry.settle();
    expect((await node()).healthReason).toMatch(/^uncorrectable ECC errors \(1\) on GPU GPU-/);
    expect((await s.call('POST', `/v1/nodes/${N1}/recover`, { body: {} })).status).toBe(200);
    expect((await post(body())).status).toBe(200);
    await s.cp.telemetry.settle();
    expect((await node()).state).toBe('ready');
    const m = (await s.call('GET', '/v1/telemetry')).body;
    expect(m.refusedReadings).toBeGreaterThanOrEqual(CASES.length + 5);
  });

  it('structural garbage is still a 400 naming the field, and counted', async () => {
    const before = (await s.call('GET', '/v1/telemetry')).body.rejected.malformed;
    const cases: [string, RegExp][] = [
      [body({ field: 'powerW', json: '"lots"' }), /^gpus\[3\]\.powerW: must be a number or null/],
      [body({ field: 'xids', json: '[1.5]' }), /^gpus\[3\]\.xids: /],
      [body({ field: 'recoveryAction', json: '"Reset\\u0007"' }), /^gpus\[3\]\.recoveryAction: .*control characters/],
      [body({ field: 'index', json: '99' }), /^gpus\[3\]\.index: must be an integer from 0 to 63/],
      [body({ field: 'powerW', json: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' }), /./],
    ];
    for (const [text, detail] of cases) {
      const r = await post(text);
      expect(r.status, text.slice(0, 80)).toBe(400);
      expect(r.body.detail).toMatch(detail);
    }
    const nul = await post(body().replace('"discoveryError":null', '"discoveryError":"nvidia-smi\\u0000"'));
    expect(nul.status).toBe(400);
    expect(nul.body.detail).toMatch(/discoveryError/);
    expect((await s.call('GET', '/v1/telemetry')).body.rejected.malformed - before).toBeGreaterThanOrEqual(4);
  });
});
