/** `neocloud serve`: the control plane process. */
import { ControlPlane } from '../app/control-plane.js';
import { buildServer } from '../api/server.js';

/** How often waiting lease requests are tried again, besides after each release. */
const QUEUE_EVERY_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;
const IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

export async function serve(o: { port: number; host: string; dataDir: string }): Promise<void> {
  const databaseUrl = process.env['DATABASE_URL'] || undefined;
  const notice = process.env['NEOCLOUD_PREEMPTION_NOTICE_S'];
  const cp = await ControlPlane.open({
    databaseUrl, dataDir: databaseUrl ? undefined : o.dataDir, adminKey: process.env['NEOCLOUD_ADMIN_KEY'] || undefined,
    preemptionNoticeS: notice ? Number(notice) : undefined,
    internalPolicy: process.env['NEOCLOUD_INTERNAL_POLICY'] === 'internal-first' ? 'internal-first' : 'sell-first',
  });
  const app = await buildServer(cp, {
    logger: { level: process.env['LOG_LEVEL'] ?? 'info', redact: ['req.headers.authorization'] },
  });
  const address = await app.listen({ port: o.port, host: o.host });
  const shownHost = o.host === '0.0.0.0' || o.host === '::' ? 'localhost' : o.host;
  const url = address.replace(/\/\/[^:]+:/, `//${shownHost}:`);
  // Printed to stdout directly, never through the logger: the key must not reach log storage.
  process.stdout.write(`\nneocloud control plane on ${url} (store: ${cp.handle.kind}${databaseUrl ? '' : `, data in ${o.dataDir}`})\n`);
  process.stdout.write(`  console  ${url}/\n  API docs ${url}/docs\n`);
  if (cp.demoFleetLoaded) process.stdout.write('  loaded the demo fleet (examples/demo-fleet.yaml)\n');
  if (cp.newAdminKey) {
    process.stdout.write(`\n  operator admin key (shown once — store it now):\n    ${cp.newAdminKey}\n` +
      `  export NEOCLOUD_API_KEY=${cp.newAdminKey}\n\n`);
  }
  const timer = setInterval(() => {
    cp.leases.prune();
    cp.store.pruneIdempotency(cp.clock.nowMs() - IDEMPOTENCY_RETENTION_MS).catch((err: unknown) => app.log.warn({ err }, 'idempotency prune failed'));
  }, PRUNE_EVERY_MS);
  timer.unref();
  // Queued requests: capacity also frees without a release (lease ends, preemptions, nodes back).
  let running = false;
  const queueTimer = setInterval(() => {
    if (running) return;
    running = true;
    cp.leases.runQueue()
      .catch((err: unknown) => app.log.warn({ err }, 'queue pass failed'))
      .finally(() => { running = false; });
  }, QUEUE_EVERY_MS);
  queueTimer.unref();
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    clearInterval(queueTimer);
    await app.close();
    await cp.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
