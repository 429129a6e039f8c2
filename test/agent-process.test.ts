/**
 * `neocloud agent --fake-gpus 8` as a real process against `neocloud serve` as a real process:
 * over real NATS JetStream (a nats-server of the test's own, configured the way an operator does
 * it: `neocloud nats-config` prints the settings that trust the control plane's authority) and
 * over the HTTP fallback (no NATS_URL). The agent enrols with a token, its
 * heartbeats reach the node (and arrive by the transport asked for), a drain reaches it, and
 * killing it takes the node down. Real time here (the processes' own clocks), so the interval is
 * short; what is waited for is polled with a deadline, never slept on. The rules themselves, on
 * a test clock, are in test/agent.test.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { startNatsServer } from './nats-server.js';
import { killSurvivors, spawnServer, type ServerProcess } from './server-process.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_KEY = 'nc_adm_agent-process-test-key-0123456789abcdefghij';
const NODE = 'oh-h1-ib1-n001';

async function until<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const agents = new Set<ChildProcess>();
afterAll(async () => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
  await killSurvivors();
});

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
  if (method === 'POST') { headers['idempotency-key'] = randomBytes(8).toString('hex'); headers['content-type'] = 'application/json'; }
  const r = await fetch(`${server.url}${path}`, { method, headers, body: method === 'POST' ? JSON.stringify(body ?? {}) : null });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

function startAgent(server: ServerProcess, token: string, nats: string | null): { child: ChildProcess; output: () => string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NATS_URL'];
  if (nats) env['NATS_URL'] = nats;
  const child = spawn(process.execPath, [
    '--import', 'tsx', 'src/cli/main.ts', 'agent', '--fake-gpus', '8', '--model', 'H100-SXM', '--node-id', NODE,
    '--token', token, '--url', server.url, '--state-dir', mkdtempSync(join(tmpdir(), 'agent-proc-')), '--interval-s', '0.5',
  ], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  agents.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  return { child, output: () => out };
}

const transports = [
  { name: 'NATS JetStream', nats: true },
  { name: 'the HTTP fallback', nats: false },
];

describe.each(transports)('an agent process over $name', ({ nats }) => {
  it('enrols, heart-beats, hears a drain, and its death takes the node down', async () => {
    const cell = `agt-${randomBytes(4).toString('hex')}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'cp-agent-'));
    const env: Record<string, string> = {
      NEOCLOUD_ADMIN_KEY: ADMIN_KEY, LOG_LEVEL: 'warn', NEOCLOUD_DATA_DIR: dataDir,
      NEOCLOUD_HEARTBEAT_S: '1', NEOCLOUD_CELL: cell,
    };
    // The operator's steps: print the authority's settings, give them to nats-server, then serve with NATS_URL.
    let natsServer: Awaited<ReturnType<typeof startNatsServer>> | null = null;
    if (nats) {
      const printed = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'nats-config', '--data-dir', dataDir], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
      expect(printed.status, printed.stderr).toBe(0);
      expect(printed.stdout).toMatch(/^operator: /m);
      natsServer = await startNatsServer(printed.stdout);
      env['NATS_URL'] = natsServer.url;
    }
    const NATS_URL = natsServer?.url ?? null;
    const server = await spawnServer({ env });
    try {
      const tok = await api(server, 'POST', `/v1/nodes/${NODE}/enrolment-tokens`);
      const agent = startAgent(server, tok.token, NATS_URL);
      await until('the agent enrolled', () => /enrolled node/.test(agent.output()));
      if (nats) await until('the agent chose NATS', () => /heartbeats over NATS JetStream \(neocloud\.telemetry\./.test(agent.output()));
      const seen = await until('heartbeats visible on the node', async () => {
        const n = await api(server, 'GET', `/v1/nodes/${NODE}`);
        return n.agent?.seq !== null && n.gpus.length === 8 ? n : null;
      });
      expect(seen.measured.gpuW).toBeGreaterThan(0);
      const t = await api(server, 'GET', '/v1/telemetry');
      expect(nats ? t.via.nats : t.via.http).toBeGreaterThan(0);
      expect(nats ? t.via.http : t.via.nats).toBe(0);
      const fleet = await api(server, 'GET', '/v1/fleet');
      expect(fleet.measured.sites['us-east-oh'].reportingNodes).toBe(1);

      await api(server, 'POST', `/v1/nodes/${NODE}/drain`);
      await until('the drain reached the agent', () => /command: drain/.test(agent.output()));
      await until('the agent acknowledged the drain', async () => (await api(server, 'GET', `/v1/nodes/${NODE}`)).agent.acknowledged === 'drain');

      agent.child.kill('SIGKILL');
      const down = await until('the node down after missed heartbeats', async () => {
        const n = await api(server, 'GET', `/v1/nodes/${NODE}`);
        return n.state === 'down' ? n : null;
      }, 20_000);
      expect(down.healthReason).toMatch(/missed heartbeats/);
      if (nats) {
        // Anonymous clients are refused by this server: the stream is the control plane's alone.
        await expect(connect({ servers: NATS_URL!, reconnect: false, timeout: 2_000 })).rejects.toThrow(/Authorization Violation/i);
      }
    } finally {
      await server.stop();
      await natsServer?.stop();
    }
  }, 120_000);
});
