/**
 * The control plane's settings: one schema for every variable, checked at start. A bad value
 * stops the process with a line naming the variable (`NEOCLOUD_PREEMPTION_NOTICE_S: must be an
 * integer number of seconds from 0 to 86400, got "abc"`), instead of NaN or a silent default.
 * Command-line flags (`--port`, `--host`, `--data-dir`) win over the environment.
 */
import { Type, type Static } from 'typebox';
import { strictAjv } from '../shared/validation.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65_535, description: 'port to listen on (0: any free port)' }),
  HOST: Type.String({ minLength: 1, maxLength: 255, description: 'interface to bind' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL; unset: embedded PGlite' })),
  NEOCLOUD_DATA_DIR: Type.String({ minLength: 1, description: 'PGlite data folder' }),
  NEOCLOUD_ADMIN_KEY: Type.Optional(Type.String({ minLength: 32, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', description: 'pin the operator admin key' })),
  NEOCLOUD_PREEMPTION_NOTICE_S: Type.Integer({ minimum: 0, maximum: 86_400, description: 'notice a preempted lease gets, seconds' }),
  NEOCLOUD_INTERNAL_POLICY: Type.Union([Type.Literal('sell-first'), Type.Literal('internal-first')]),
  LOG_LEVEL: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
  NEOCLOUD_CELL: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'this control plane\'s cell (event log partition)' }),
  NATS_URL: Type.Optional(Type.String({ pattern: '^(nats|tls)://', description: 'publish the event log to NATS JetStream; take agent heartbeats from it' })),
  NEOCLOUD_HEARTBEAT_S: Type.Integer({ minimum: 1, maximum: 3600, description: 'heartbeat interval agents are told, seconds' }),
  NEOCLOUD_MISSED_HEARTBEATS: Type.Integer({ minimum: 2, maximum: 100, description: 'intervals without a heartbeat before a node is down' }),
  NEOCLOUD_POWER_ADMISSION: Type.Union([Type.Literal('tdp'), Type.Literal('measured')]),
  NEOCLOUD_POWER_MARGIN_PCT: Type.Integer({ minimum: 0, maximum: 100, description: 'safety margin over measured draw for measured admission, percent' }),
  NEOCLOUD_HEALTH_RECOVERY_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 * 30, description: 'clean heartbeats for this long bring a node back by itself (unset: the operator recovers it)' })),
  NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: Type.String({ pattern: '^[0-9]{1,13}$', description: 'what an internal GPU-hour is worth to finance, USD micros' }),
  NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'SLA credit = lost GPU-hours × price × this / 10,000' }),
  NEOCLOUD_DRAFT_REFRESH_S: Type.Integer({ minimum: 1, maximum: 30, description: 'how often draft invoices are brought up to date, seconds (a tenant\'s spend to date is at most this behind)' }),
  NEOCLOUD_PAYMENT_TERMS_DAYS: Type.Integer({ minimum: 0, maximum: 365, description: 'days from an invoice\'s issue to its due date, unless a tenant\'s billing profile says otherwise' }),
  NEOCLOUD_SELLER_NAME: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'who issues the invoices (the printable invoice\'s seller)' }),
  NEOCLOUD_MAX_KEYS_PER_TENANT: Type.Integer({ minimum: 1, maximum: 100_000, description: 'live API keys a tenant may hold at once' }),
  NEOCLOUD_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'open HTTP connections the server accepts; more are refused and logged' }),
}, { additionalProperties: false });
export type Config = Static<typeof ConfigSchema>;

export const CONFIG_DEFAULTS = {
  PORT: '7070', HOST: '127.0.0.1', NEOCLOUD_DATA_DIR: '.neocloud/data', NEOCLOUD_PREEMPTION_NOTICE_S: '300',
  NEOCLOUD_INTERNAL_POLICY: 'sell-first', LOG_LEVEL: 'info', NEOCLOUD_CELL: 'default',
  NEOCLOUD_HEARTBEAT_S: '10', NEOCLOUD_MISSED_HEARTBEATS: '3', NEOCLOUD_POWER_ADMISSION: 'tdp', NEOCLOUD_POWER_MARGIN_PCT: '20',
  NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: '2000000', NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS: '10000',
  NEOCLOUD_DRAFT_REFRESH_S: '30', NEOCLOUD_PAYMENT_TERMS_DAYS: '30', NEOCLOUD_SELLER_NAME: 'neocloud',
  NEOCLOUD_MAX_KEYS_PER_TENANT: '100', NEOCLOUD_MAX_CONNECTIONS: '10000',
} as const;

const INTEGER_KEYS = new Set(['PORT', 'NEOCLOUD_PREEMPTION_NOTICE_S', 'NEOCLOUD_HEARTBEAT_S', 'NEOCLOUD_MISSED_HEARTBEATS', 'NEOCLOUD_HEALTH_RECOVERY_S', 'NEOCLOUD_POWER_MARGIN_PCT', 'NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS', 'NEOCLOUD_DRAFT_REFRESH_S', 'NEOCLOUD_PAYMENT_TERMS_DAYS', 'NEOCLOUD_MAX_KEYS_PER_TENANT', 'NEOCLOUD_MAX_CONNECTIONS']);

/** What each variable must be, in words, for the error line. */
const EXPECT: Record<keyof Config, string> = {
  PORT: 'an integer port from 0 to 65535',
  HOST: 'a host name or address',
  DATABASE_URL: 'a postgres:// or postgresql:// URL (or unset for embedded storage)',
  NEOCLOUD_DATA_DIR: 'a folder path',
  NEOCLOUD_ADMIN_KEY: '32 to 256 visible ASCII characters',
  NEOCLOUD_PREEMPTION_NOTICE_S: 'an integer number of seconds from 0 to 86400',
  NEOCLOUD_INTERNAL_POLICY: 'sell-first or internal-first',
  LOG_LEVEL: LOG_LEVELS.join(', '),
  NEOCLOUD_CELL: 'lowercase letters, digits and dashes (at most 63)',
  NATS_URL: 'a nats:// or tls:// URL (or unset)',
  NEOCLOUD_HEARTBEAT_S: 'an integer number of seconds from 1 to 3600',
  NEOCLOUD_MISSED_HEARTBEATS: 'an integer from 2 to 100',
  NEOCLOUD_POWER_ADMISSION: 'tdp (leased TDP never exceeds a cap) or measured (measured draw plus the margin)',
  NEOCLOUD_POWER_MARGIN_PCT: 'an integer percent from 0 to 100',
  NEOCLOUD_HEALTH_RECOVERY_S: 'an integer number of seconds from 1 to 2592000 (or unset)',
  NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: 'an integer number of micro-dollars per GPU-hour (at most 13 digits)',
  NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS: 'an integer number of basis points from 0 to 1000000 (10000 = the lost time at its price)',
  NEOCLOUD_DRAFT_REFRESH_S: 'an integer number of seconds from 1 to 30',
  NEOCLOUD_PAYMENT_TERMS_DAYS: 'an integer number of days from 0 to 365',
  NEOCLOUD_SELLER_NAME: '1 to 200 printable characters',
  NEOCLOUD_MAX_KEYS_PER_TENANT: 'an integer from 1 to 100000',
  NEOCLOUD_MAX_CONNECTIONS: 'an integer from 1 to 1000000 (keep it below the process\'s open-file limit, ulimit -n, less the database pool)',
};

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const validate = strictAjv.compile(ConfigSchema);

/**
 * Reads the settings from `env` (empty values count as unset), with `flags` overriding, and
 * validates them all. Throws a ConfigError naming the first bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Partial<Record<'PORT' | 'HOST' | 'NEOCLOUD_DATA_DIR', string>> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties) as (keyof Config)[]) {
    const given = flags[key as keyof typeof flags] ?? (env[key] === '' ? undefined : env[key]);
    const value = given ?? (CONFIG_DEFAULTS as Record<string, string>)[key];
    if (value === undefined) continue;
    raw[key] = INTEGER_KEYS.has(key) ? (/^\s*-?\d+\s*$/.test(value) ? Number(value) : value) : value;
  }
  if (!validate(raw)) {
    const err = validate.errors?.[0];
    const key = (err?.instancePath.replace(/^\//, '') || String(err?.params['additionalProperty'] ?? 'config')) as keyof Config;
    const shown = raw[key] === undefined ? '' : `, got ${JSON.stringify(key === 'NEOCLOUD_ADMIN_KEY' ? '(hidden)' : raw[key])}`;
    throw new ConfigError(key, `${key}: must be ${EXPECT[key] ?? 'valid'}${shown}`);
  }
  return raw as Config;
}
