/**
 * The control plane as a real child process: `neocloud serve` run from the TypeScript sources
 * through tsx (no build), on port 0. For what an in-process server cannot show: SIGKILL and a
 * restart on the same data. Every child spawned here is tracked so a suite's afterAll can kill
 * the survivors of a failed test (`killSurvivors`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Server settings a child must not inherit from the test's environment. */
const SERVER_ENV = ['PORT', 'HOST', 'DATABASE_URL', 'NEOCLOUD_DATA_DIR', 'NEOCLOUD_ADMIN_KEY', 'LOG_LEVEL'];
/** Diagnostics only: the last this-many characters of the child's stdout and stderr. */
const OUTPUT_TAIL_CHARS = 16_000;
const POLL_MS = 50;

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** performance.now() when spawned, when it printed its URL, and when /readyz first answered 200. */
  readonly spawnedAt: number;
  readonly listeningAt: number;
  readonly readyAt: number;
  /** The child's recent stdout and stderr, for failure messages. */
  output(): string;
  /** SIGKILL, then wait until the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (the server's graceful stop); SIGKILL after `withinMs`. Resolves to the exit code (null if killed). */
  stop(withinMs?: number): Promise<number | null>;
}

const live = new Set<ChildProcess>();

/** Kills every child still running (afterAll, whatever the tests did). */
export async function killSurvivors(): Promise<void> {
  await Promise.all([...live].map(async (c) => {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGKILL');
      await gone;
    }
    live.delete(c);
  }));
}

/**
 * Starts `neocloud serve --port 0` with `env` on top of this process's environment (minus the
 * server settings above), waits for the URL it prints on stdout, then for `/readyz` to answer 200.
 * Rejects with the child's output if it exits first or is not ready within `readyWithinMs`.
 */
export async function spawnServer(o: { env: Record<string, string>; args?: string[]; readyWithinMs?: number }): Promise<ServerProcess> {
  const spawnedAt = performance.now();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SERVER_ENV) delete env[k];
  Object.assign(env, o.env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', ...(o.args ?? [])], {
    cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => { live.delete(child); res({ code, signal }); });
  });
  let out = '';
  const append = (chunk: Buffer): void => { out = (out + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS); };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const output = (): string => out;
  const deadline = Date.now() + (o.readyWithinMs ?? 60_000);

  const url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string): void => { cleanup(); child.kill('SIGKILL'); reject(new Error(`server ${why}\n--- output ---\n${out}`)); };
    const onData = (): void => {
      const m = /control plane on (http:\/\/\S+)/.exec(out);
      if (m) { cleanup(); resolve(m[1]!); }
    };
    const onExit = (code: number | null, signal: string | null): void => fail(`exited before listening (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail('printed no URL in time'), Math.max(0, deadline - Date.now()));
    const cleanup = (): void => { clearTimeout(timer); child.stdout.off('data', onData); child.off('exit', onExit); };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    onData();
  });

  const listeningAt = performance.now();
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited before ready\n--- output ---\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready in time\n--- output ---\n${out}`);
    }
    await new Promise((res) => setTimeout(res, POLL_MS));
  }

  const readyAt = performance.now();
  return {
    url, pid: child.pid!, spawnedAt, listeningAt, readyAt, output,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop(withinMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
