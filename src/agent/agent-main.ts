/**
 * `neocloud agent`: the node agent's command line. Kept apart from the control plane's CLI: it
 * loads node:util's argument parser and the agent only (the `nats` client only when NATS_URL is
 * set), never Fastify, PGlite or the engine.
 *
 *   neocloud agent --once --json                      one discovery and sample, printed (no control plane)
 *   neocloud agent --node-id N --token T              enrol, then heartbeat every 10 s
 *   neocloud agent --fake-gpus 8 --model H200 …       generated GPUs, for machines without any
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { GPU_MODEL_IDS, type GpuModelId } from '../fleet/gpu-catalog.js';
import { Agent, heartbeatOf } from './agent.js';
import { fakeDiscovery, nvidiaSmiDiscovery, type FakeFaults } from './gpu-discovery.js';
import { isKnownModel } from './nvidia-smi.js';

const USAGE = `usage: neocloud agent [options]
  --url URL            control plane (env NEOCLOUD_URL, default http://localhost:7070)
  --node-id ID         this node's id in the fleet (env NEOCLOUD_NODE_ID, default the host name)
  --token TOKEN        one-time enrolment token from the operator (env NEOCLOUD_AGENT_TOKEN)
  --state-dir DIR      credential and applied state (env NEOCLOUD_AGENT_STATE_DIR, default .neocloud/agent)
  --interval-s S       heartbeat interval (default: the control plane's, 10 s)
  --nats-url URL       NATS JetStream for heartbeats (env NATS_URL; unset: HTTP)
  --nvidia-smi PATH    the nvidia-smi binary (default from PATH)
  --fake-gpus N        generate N GPUs instead of running nvidia-smi
  --model M            model of the fake GPUs (${GPU_MODEL_IDS.join(', ')})
  --fake-fault F       missing:I | ecc:I | xid:I:CODE (repeatable; fake GPUs only)
  --once               discover and sample once, print, exit (with --json: as JSON)
  --json               JSON output`;

function fail(msg: string): never {
  process.stderr.write(`neocloud agent: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

export async function agentMain(argv: string[]): Promise<void> {
  let a;
  try {
    a = parseArgs({
      args: argv, allowPositionals: false, options: {
        url: { type: 'string' }, 'node-id': { type: 'string' }, token: { type: 'string' }, 'state-dir': { type: 'string' },
        'interval-s': { type: 'string' }, 'nats-url': { type: 'string' }, 'nvidia-smi': { type: 'string' },
        'fake-gpus': { type: 'string' }, model: { type: 'string' }, 'fake-fault': { type: 'string', multiple: true },
        once: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (a.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const env = process.env;
  const nodeId = a['node-id'] ?? env['NEOCLOUD_NODE_ID'] ?? hostname().split('.')[0]!;
  let discover = nvidiaSmiDiscovery(a['nvidia-smi'] ?? 'nvidia-smi');
  if (a['fake-gpus'] !== undefined) {
    const n = Number(a['fake-gpus']);
    if (!Number.isInteger(n) || n < 0 || n > 16) fail('--fake-gpus: an integer from 0 to 16');
    const model = a.model ?? 'H100-SXM';
    if (!isKnownModel(model)) fail(`--model: one of ${GPU_MODEL_IDS.join(', ')}`);
    const faults: FakeFaults = { missing: [], ecc: [], xid: [] };
    for (const f of a['fake-fault'] ?? []) {
      const m = /^(missing|ecc):(\d+)$|^xid:(\d+):(\d+)$/.exec(f);
      if (!m) fail(`--fake-fault: "${f}" is not missing:I, ecc:I or xid:I:CODE`);
      if (m[1] === 'missing') faults.missing!.push(Number(m[2]));
      else if (m[1] === 'ecc') faults.ecc!.push(Number(m[2]));
      else faults.xid!.push({ index: Number(m[3]), code: Number(m[4]) });
    }
    discover = fakeDiscovery(nodeId, n, model as GpuModelId, faults);
  }

  if (a.once) {
    const d = await discover();
    const sample = heartbeatOf(d, { agentId: '(not enrolled)', nodeId }, 1, 10_000, 'none', d.atMs);
    const out = { nodeId, discovery: d, sample };
    if (a.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else {
      process.stdout.write(d.error ? `discovery failed: ${d.error}\n` : `${d.gpus.length} GPUs on ${nodeId} (driver ${d.driverVersion ?? '?'})\n`);
      for (const g of d.gpus) process.stdout.write(`  ${g.index} ${g.uuid} ${g.name} → ${g.model ?? '(unknown model)'}  ${g.powerDrawW ?? '?'} W / ${g.powerLimitW ?? '?'} W  ${g.temperatureC ?? '?'} °C\n`);
      for (const p of d.problems) process.stdout.write(`  problem: ${p}\n`);
    }
    process.exitCode = d.error ? 1 : 0;
    return;
  }

  const intervalS = a['interval-s'] === undefined ? undefined : Number(a['interval-s']);
  if (intervalS !== undefined && !(intervalS >= 0.1 && intervalS <= 3600)) fail('--interval-s: seconds from 0.1 to 3600');
  const agent = new Agent({
    url: a.url ?? env['NEOCLOUD_URL'] ?? 'http://localhost:7070', nodeId,
    token: a.token ?? env['NEOCLOUD_AGENT_TOKEN'], stateDir: a['state-dir'] ?? env['NEOCLOUD_AGENT_STATE_DIR'] ?? '.neocloud/agent',
    discover, intervalMs: intervalS === undefined ? undefined : Math.round(intervalS * 1000),
    natsUrl: a['nats-url'] ?? (env['NATS_URL'] || undefined),
  });
  const stop = (): void => { void agent.stop().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Enrolment is retried (the control plane may not be up yet); a refusal with a token is final.
  for (let wait = 1_000; ; wait = Math.min(wait * 2, 30_000)) {
    try {
      await agent.start();
      return;
    } catch (err) {
      const msg = (err as Error).message;
      if (/refused \(4\d\d\)|no credential/.test(msg)) {
        process.stderr.write(`neocloud agent: ${msg}\n`);
        process.exit(1);
      }
      process.stderr.write(`neocloud agent: ${msg}; retrying in ${wait / 1000} s\n`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
