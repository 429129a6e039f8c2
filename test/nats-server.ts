/**
 * A nats-server of the test's own: a free port, JetStream in a temp folder, and (given an
 * authority) the control plane's operator-mode configuration, so tests run the authentication
 * production runs. The binary is `nats-server` on PATH or /usr/sbin/nats-server (NATS_SERVER_BIN
 * to name another); `.ci/run` installs it where missing. Tests that need it fail when it is
 * missing: they never skip silently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsAuthority } from '../src/shared/nats-auth.js';

export function natsServerBin(): string {
  const named = process.env['NATS_SERVER_BIN'];
  if (named) return named;
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) if (existsSync(p)) return p;
  return 'nats-server';
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface NatsServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts nats-server with JetStream; with `authority` (or the text `neocloud nats-config` printed),
 * in operator mode: only JWTs its account signed connect.
 */
export async function startNatsServer(authority: NatsAuthority | string | null): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'neocloud-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, [`listen: 127.0.0.1:${port}`, `jetstream { store_dir: "${join(dir, 'js')}", max_mem: 2GB, max_file: 8GB }`, typeof authority === 'string' ? authority : (authority?.serverConfig() ?? '')].join('\n'));
  const child: ChildProcess = spawn(natsServerBin(), ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(`nats-server (${natsServerBin()}) did not start: ${err.message}; install it (apt-get install nats-server) or set NATS_SERVER_BIN`))));
  const ready = (async () => {
    const deadline = Date.now() + 10_000;
    while (!/Server is ready/.test(out)) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${out.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`nats-server not ready after 10 s: ${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await Promise.race([ready, spawnError]);
  return {
    url: `nats://127.0.0.1:${port}`, port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
