/** `neocloud serve`: the control plane process. */
import { ConfigError, loadConfig, type Config } from '../app/config.js';
import { ControlPlane } from '../app/control-plane.js';
import { buildServer } from '../api/server.js';
import { NatsRelay } from '../events/index.js';
import { NatsTelemetry } from '../telemetry/index.js';
import { loadNatsAuthority } from '../app/nats-authority.js';

/** How often waiting lease requests are tried again, besides after each release. */
const QUEUE_EVERY_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;
const IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

/** `flags`: command-line values (strings), which win over the environment; see src/app/config.ts. */
export async function serve(flags: { port?: string | undefined; host?: string | undefined; dataDir?: string | undefined }): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, {
      ...(flags.port !== undefined ? { PORT: flags.port } : {}),
      ...(flags.host !== undefined ? { HOST: flags.host } : {}),
      ...(flags.dataDir !== undefined ? { NEOCLOUD_DATA_DIR: flags.dataDir } : {}),
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`neocloud: invalid setting: ${err.message}\n`);
    process.exit(2);
  }
  const databaseUrl = config.DATABASE_URL;
  const o = { port: config.PORT, host: config.HOST, dataDir: config.NEOCLOUD_DATA_DIR };
  const cp = await ControlPlane.open({
    databaseUrl, dataDir: databaseUrl ? undefined : o.dataDir, adminKey: config.NEOCLOUD_ADMIN_KEY,
    preemptionNoticeS: config.NEOCLOUD_PREEMPTION_NOTICE_S,
    internalPolicy: config.NEOCLOUD_INTERNAL_POLICY,
    cell: config.NEOCLOUD_CELL,
    powerAdmissionMargin: config.NEOCLOUD_POWER_ADMISSION === 'measured' ? config.NEOCLOUD_POWER_MARGIN_PCT / 100 : null,
    telemetry: {
      intervalMs: config.NEOCLOUD_HEARTBEAT_S * 1000, missedBeats: config.NEOCLOUD_MISSED_HEARTBEATS,
      recoveryWindowMs: config.NEOCLOUD_HEALTH_RECOVERY_S === undefined ? null : config.NEOCLOUD_HEALTH_RECOVERY_S * 1000,
    },
    transferPriceMicrosPerGpuHour: BigInt(config.NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR),
    slaMultiplierBps: BigInt(config.NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS),
    paymentTermsDays: config.NEOCLOUD_PAYMENT_TERMS_DAYS,
    sellerName: config.NEOCLOUD_SELLER_NAME,
    maxKeysPerTenant: config.NEOCLOUD_MAX_KEYS_PER_TENANT,
  });
  const app = await buildServer(cp, {
    logger: { level: config.LOG_LEVEL, redact: ['req.headers.authorization'] },
    maxConnections: config.NEOCLOUD_MAX_CONNECTIONS,
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
    cp.idempotency.prune(cp.clock.nowMs() - IDEMPOTENCY_RETENTION_MS).catch((err: unknown) => app.log.warn({ err }, 'idempotency prune failed'));
  }, PRUNE_EVERY_MS);
  timer.unref();
  // Time-driven lease events (started, expired, preempted) first, then queued requests: capacity
  // also frees without a release (lease ends, preemptions, nodes back).
  let running = false;
  const queueTimer = setInterval(() => {
    if (running) return;
    running = true;
    cp.leases.refreshIfChangedElsewhere()
      .catch((err: unknown) => app.log.warn({ err }, 'refresh from other control planes failed'))
      .then(() => cp.leases.sweep())
      .catch((err: unknown) => app.log.warn({ err }, 'event sweep failed'))
      .then(() => cp.leases.runQueue())
      .catch((err: unknown) => app.log.warn({ err }, 'queue pass failed'))
      // Billing's lease meter reads the log by its cursor (exactly once across control planes).
      .then(() => cp.billing.meterCatchUp())
      .catch((err: unknown) => app.log.warn({ err }, 'lease meter failed'))
      .finally(() => { running = false; });
  }, QUEUE_EVERY_MS);
  queueTimer.unref();
  // Draft invoices of the current month follow the event log, at most NEOCLOUD_DRAFT_REFRESH_S
  // (default 30 s) behind: a tenant's spend to date on the console lags its leases by no more
  // (reading a draft, or the Billing page's summary, also brings it up to date). A tenant with
  // nothing new and no running lease costs one small query (BillingService.refreshDraft).
  let drafting = false;
  const draftTimer = setInterval(() => {
    if (drafting) return;
    drafting = true;
    cp.billing.refreshDrafts({ kind: 'admin', keyId: 'serve' })
      .catch((err: unknown) => app.log.warn({ err }, 'draft invoice refresh failed'))
      .finally(() => { drafting = false; });
  }, config.NEOCLOUD_DRAFT_REFRESH_S * 1000);
  draftTimer.unref();
  // With NATS: every connection carries a NATS user the control plane's authority signed (the
  // server must trust it: `neocloud nats-config` prints its settings), agents get theirs at
  // enrolment, and commands to agents are signed (src/shared/nats-auth.ts).
  const natsAuth = config.NATS_URL ? await loadNatsAuthority(cp.settings) : null;
  // The event log to NATS JetStream, only when asked for (src/events/nats-relay.ts).
  const relay = config.NATS_URL ? new NatsRelay(cp.handle.db, cp.eventLog, { servers: config.NATS_URL, logger: app.log, auth: natsAuth }).start() : null;
  // Agent heartbeats from NATS JetStream when it is configured (HTTP always works too).
  cp.telemetry.onError = (err) => app.log.warn({ err }, 'telemetry health change failed');
  const natsTelemetry = config.NATS_URL
    ? await new NatsTelemetry(cp.telemetry, { servers: config.NATS_URL, logger: app.log, auth: natsAuth }, config.NEOCLOUD_CELL).start().catch((err: unknown) => {
      app.log.warn({ err }, 'telemetry over NATS unavailable; agents use HTTP');
      return null;
    })
    : null;
  // Missed heartbeats and the power history: a few times per heartbeat interval.
  let ticking = false;
  const healthTimer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    cp.telemetry.tick()
      .then(() => cp.refreshPowerCredit())
      .catch((err: unknown) => app.log.warn({ err }, 'telemetry tick failed')).finally(() => { ticking = false; });
  }, Math.max(1_000, Math.round(config.NEOCLOUD_HEARTBEAT_S * 1000 / 2)));
  healthTimer.unref();
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    clearInterval(queueTimer);
    clearInterval(draftTimer);
    clearInterval(healthTimer);
    await natsTelemetry?.stop();
    await relay?.stop();
    await app.close();
    await cp.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
