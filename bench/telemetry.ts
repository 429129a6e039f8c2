/**
 * Telemetry ingest (issue #12): simulated agents (in-process publishers, not processes) for a
 * 100,000-GPU fleet (12,500 HGX nodes × 8 H100) publish signed heartbeats — one sample per GPU —
 * to NATS JetStream; the control plane's durable consumer verifies each (agent MAC, subject,
 * every field) and makes it visible in its state (TelemetryState: latest per node, power per hall
 * and site). Heartbeat-to-visible = the consumer's clock when the state holds the heartbeat −
 * the publisher's `sentAtMs` (same process, same clock).
 *
 * Phases, all on one control plane:
 *   baseline   the ingest path alone (TelemetryService.ingestNats on the same messages, no NATS)
 *   steady     1 heartbeat per node per 10 s (10,000 samples/s) for --steady-s seconds
 *   sustained  every node once a second (100,000 samples/s, the target) for --sustained-s seconds
 *   burst      --burst-rounds rounds of every node, published as fast as JetStream acks them
 *
 *   npm run bench -- telemetry [--nodes 12500] [--steady-s 20] [--sustained-s 10] [--burst-rounds 6] [--window 4096] [--publish core|js]
 *
 * Needs NATS JetStream (NATS_URL, default nats://127.0.0.1:4222). The stream (memory storage) and
 * consumer are the bench's own, deleted at the end. With `--nats-auth`, the bench starts a
 * nats-server of its own in operator mode (test/nats-server.ts) trusting a fresh authority, as
 * production runs: the consumer connects as the control plane's user, the simulated agents as one
 * user allowed to publish telemetry only, and taken heartbeats are answered with signed receipts.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import * as hdr from 'hdr-histogram-js';
import { Worker } from 'node:worker_threads';
import { connect } from 'nats';
import { natsSigningKey, signHeartbeat } from '../src/agent/agent.js';
import { NatsAuthority, natsConnectAuth } from '../src/shared/nats-auth.js';
import { startNatsServer } from '../test/nats-server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import { syntheticGpuUuid, type FleetSpec } from '../src/fleet/index.js';
import { hashApiKey } from '../src/shared/ids.js';
import { NatsTelemetry, TelemetryRepo } from '../src/telemetry/index.js';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

/** `nodes` HGX H100 nodes over 5 sites × 2 halls × 5 fabrics. */
function fleet(nodes: number): FleetSpec {
  const perFabric = Math.ceil(nodes / 50);
  return {
    sites: Array.from({ length: 5 }, (_, s) => ({
      id: `s${s}`, region: `r${s}`, powerCapMw: 100, pue: 1.2,
      halls: Array.from({ length: 2 }, (_, h) => ({
        id: `s${s}-h${h}`, powerCapMw: 50,
        fabrics: Array.from({ length: 5 }, (_, f) => ({ id: `s${s}-h${h}-f${f}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: perFabric }] })),
      })),
    })),
  };
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;

export async function main(args: string[]): Promise<void> {
  const nodesWanted = Number(arg(args, 'nodes', '12500'));
  const steadyS = Number(arg(args, 'steady-s', '20'));
  const sustainedS = Number(arg(args, 'sustained-s', '10'));
  const burstRounds = Number(arg(args, 'burst-rounds', '6'));
  const window = Number(arg(args, 'window', '4096'));
  // js: each simulated agent's publish waits for JetStream's ack (what a real agent does, once per
  // 10 s); core: the same message and Nats-Msg-Id as a plain publish the stream captures, flushed
  // every `window` messages — 12,500 agents' ack round trips in one process on 2 cores measure
  // the simulator, not the control plane.
  const mode = arg(args, 'publish', 'core');
  const authed = args.includes('--nats-auth');
  const auth = authed ? await NatsAuthority.from(await NatsAuthority.generate()) : null;
  const ownServer = auth ? await startNatsServer(auth) : null;
  const natsUrl = ownServer?.url ?? (process.env['NATS_URL'] || 'nats://127.0.0.1:4222');
  const cell = `bench-${randomBytes(3).toString('hex')}`;

  const t0 = performance.now();
  const cp = await ControlPlane.open({ initialFleet: fleet(nodesWanted), cell });
  const f = cp.fleet.current();
  const nodes = f.nodes.slice(0, nodesWanted);
  const siteOf = new Map(f.nodes.map((n) => [n.id, n.siteId]));
  process.stdout.write(`fleet: ${nodes.length} nodes, ${nodes.length * 8} GPUs, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  // Agents as if enrolled: one credential each (rows written in bulk; the enrolment path is tested elsewhere).
  const agents = nodes.map((n) => {
    const credential = `nc_agent_${randomBytes(24).toString('base64url')}`;
    return { id: `agt_${n.id}`, nodeId: n.id, credential, key: natsSigningKey(credential) };
  });
  await new TelemetryRepo(cp.handle.db).insertAgents(agents.map((a) => ({ id: a.id, nodeId: a.nodeId, credentialHash: hashApiKey(a.credential), natsKey: a.key, createdAtMs: Date.now() })));
  await cp.telemetry.init();
  const consumer = await new NatsTelemetry(cp.telemetry, { servers: natsUrl, batch: 2_000, auth }, cell).start();
  const memBase = process.memoryUsage();

  // Heartbeats: the GPU part per node built once (8 samples, ~1.3 KB); seq and time per message.
  const gpuJson = nodes.map((n) => JSON.stringify(Array.from({ length: 8 }, (_, i) => ({
    uuid: syntheticGpuUuid(n.id, i), index: i, powerW: 400 + ((i * 37) % 250), powerLimitW: 700, utilizationPct: 80, memoryUsedMiB: 60_000,
    memoryTotalMiB: 81_559, temperatureC: 60, eccUncorrected: 0, xids: [], recoveryAction: 'None',
  }))));
  const subjects = nodes.map((n) => `${consumer.subjectPrefix}.${siteOf.get(n.id)}.${n.id}`);
  // Visible: the consumer's state took it. Latency in microseconds.
  let hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  let visible = 0;
  cp.telemetry.observer = (n) => {
    visible++;
    hist.recordValue(Math.max(1, Math.round((Date.now() - n.sentAtMs) * 1000)));
  };
  const results: Record<string, unknown>[] = [];
  const report = (phase: string, msgs: number, seconds: number, extra: Record<string, unknown> = {}): void => {
    const r = {
      phase, heartbeats: msgs, seconds: Number(seconds.toFixed(2)), heartbeatsPerS: Math.round(msgs / seconds), gpuSamplesPerS: Math.round((msgs * 8) / seconds),
      p50ms: hist.totalCount ? Number((hist.getValueAtPercentile(50) / 1000).toFixed(1)) : null,
      p99ms: hist.totalCount ? Number((hist.getValueAtPercentile(99) / 1000).toFixed(1)) : null,
      maxms: hist.totalCount ? Number((hist.maxValue / 1000).toFixed(1)) : null, ...extra,
    };
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const reset = (): void => {
    hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
    visible = 0;
  };

  // Baseline: the same verification and ingest, called directly (no NATS), 4 rounds of messages
  // built as the publisher worker builds them.
  {
    let seq = 1;
    const enc = new TextEncoder();
    const message = (i: number): { subject: string; data: Uint8Array; agentId: string; sig: string; seq: number } => {
      const a = agents[i]!;
      const s = seq++;
      const data = enc.encode(`{"v":1,"nodeId":"${a.nodeId}","agentId":"${a.id}","seq":${s},"sentAtMs":${Date.now()},"intervalMs":10000,"adminState":"none","discoveryError":null,"gpus":${gpuJson[i]}}`);
      return { subject: subjects[i]!, data, agentId: a.id, sig: signHeartbeat(a.key, data), seq: s };
    };
    const msgs = Array.from({ length: nodes.length * 4 }, (_, k) => message(k % nodes.length));
    reset();
    const observer = cp.telemetry.observer;
    cp.telemetry.observer = null; // built ahead: their age is not a latency
    const b0 = performance.now();
    let ok = 0;
    for (const m of msgs) {
      const r = cp.telemetry.ingestNats(m.subject, m.data, m.agentId, m.sig); // every agent is cached: answered at once
      if ('ok' in r && r.ok) ok++;
    }
    report('baseline: ingest path alone (no NATS)', ok, (performance.now() - b0) / 1000);
    cp.telemetry.observer = observer;
  }

  const worker = new Worker(new URL('./telemetry-publisher.mjs', import.meta.url), {
    workerData: { natsUrl, creds: auth?.user('bench-agents', { pub: [`${consumer.subjectPrefix}.>`], sub: ['_INBOX.>'] }) ?? null, mode, window, gpuJson, seqStart: nodes.length * 10, agents: agents.map((a, i) => ({ id: a.id, nodeId: a.nodeId, key: a.key, subject: subjects[i] })) },
  });
  const replies: ((m: Record<string, number>) => void)[] = [];
  worker.on('message', (m: Record<string, number>) => replies.shift()?.(m));
  const ask = (job: Record<string, unknown>): Promise<Record<string, number>> => new Promise((r) => { replies.push(r); worker.postMessage(job); });
  await new Promise<void>((r) => replies.push(() => r()));
  const waitVisible = async (target: number, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (visible < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };

  for (const [phase, rate, secs] of [
    ['steady: 1 heartbeat/node/10 s', nodes.length / 10, steadyS],
    ['sustained: 1 heartbeat/node/s (target 100,000 samples/s)', nodes.length, sustainedS],
  ] as const) {
    if (secs <= 0) continue;
    reset();
    const s0 = performance.now();
    const r = await ask({ cmd: 'paced', rate, seconds: secs });
    await waitVisible(r['sent']!, 60_000);
    report(phase, visible, (performance.now() - s0) / 1000, { offeredPerS: Math.round(rate), published: r['sent'], failedPublishes: r['failed'], consumerPending: await consumer.pending() });
  }

  if (burstRounds > 0) {
    reset();
    const b0 = performance.now();
    const r = await ask({ cmd: 'burst', rounds: burstRounds });
    await waitVisible(r['sent']!, 120_000);
    report(`burst: ${burstRounds} rounds of every node, unpaced`, visible, (performance.now() - b0) / 1000, { publishSeconds: Number(r['publishSeconds']!.toFixed(2)), failedPublishes: r['failed'] });
  }
  await ask({ cmd: 'stop' });
  await worker.terminate();

  const mem = process.memoryUsage();
  const m = cp.telemetry.metrics();
  process.stdout.write(`${JSON.stringify({
    memory: { rssBefore: mb(memBase.rss), rssAfter: mb(mem.rss), heapUsedBefore: mb(memBase.heapUsed), heapUsedAfter: mb(mem.heapUsed) },
    telemetry: { accepted: m.accepted, samples: m.samples, rejected: Object.fromEntries(Object.entries(m.rejected).filter(([, v]) => v > 0)), consumerErrors: consumer.counters.errors },
    measuredSiteW: cp.telemetry.measuredPower().totals,
    publish: mode, natsAuth: authed, receipts: consumer.counters.receipts,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`,
  })}\n`);

  const nc = await connect({ servers: natsUrl, ...(await natsConnectAuth(auth?.controlPlaneUser('bench'))) });
  const jsm = await nc.jetstreamManager();
  await consumer.stop();
  await jsm.streams.delete(consumer.stream).catch(() => undefined);
  await nc.close();
  await cp.close();
  await ownServer?.stop();
}
