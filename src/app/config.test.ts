import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const fails = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  it('has defaults for everything optional', () => {
    expect(loadConfig({})).toEqual({
      PORT: 7070, HOST: '127.0.0.1', NEOCLOUD_DATA_DIR: '.neocloud/data', NEOCLOUD_PREEMPTION_NOTICE_S: 300,
      NEOCLOUD_INTERNAL_POLICY: 'sell-first', LOG_LEVEL: 'info', NEOCLOUD_CELL: 'default',
      NEOCLOUD_HEARTBEAT_S: 10, NEOCLOUD_MISSED_HEARTBEATS: 3, NEOCLOUD_POWER_ADMISSION: 'tdp', NEOCLOUD_POWER_MARGIN_PCT: 20,
      NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: '2000000', NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS: 10_000,
      NEOCLOUD_DRAFT_REFRESH_S: 30, NEOCLOUD_PAYMENT_TERMS_DAYS: 30, NEOCLOUD_SELLER_NAME: 'neocloud',
      NEOCLOUD_MAX_KEYS_PER_TENANT: 100, NEOCLOUD_MAX_CONNECTIONS: 10_000,
    });
  });
  it('checks the limits: keys per tenant and open connections', () => {
    expect(loadConfig({ NEOCLOUD_MAX_KEYS_PER_TENANT: '5', NEOCLOUD_MAX_CONNECTIONS: '500' })).toMatchObject({ NEOCLOUD_MAX_KEYS_PER_TENANT: 5, NEOCLOUD_MAX_CONNECTIONS: 500 });
    expect(fails({ NEOCLOUD_MAX_KEYS_PER_TENANT: '0' })).toMatch(/^NEOCLOUD_MAX_KEYS_PER_TENANT: must be an integer from 1 to 100000/);
    expect(fails({ NEOCLOUD_MAX_CONNECTIONS: 'lots' })).toMatch(/^NEOCLOUD_MAX_CONNECTIONS: must be an integer from 1 to 1000000/);
  });
  it('keeps drafts at most 30 s behind and checks the invoice settings', () => {
    expect(loadConfig({ NEOCLOUD_DRAFT_REFRESH_S: '5', NEOCLOUD_PAYMENT_TERMS_DAYS: '14' })).toMatchObject({ NEOCLOUD_DRAFT_REFRESH_S: 5, NEOCLOUD_PAYMENT_TERMS_DAYS: 14 });
    expect(fails({ NEOCLOUD_DRAFT_REFRESH_S: '600' })).toMatch(/^NEOCLOUD_DRAFT_REFRESH_S: must be an integer number of seconds from 1 to 30/);
    expect(fails({ NEOCLOUD_PAYMENT_TERMS_DAYS: '-1' })).toMatch(/^NEOCLOUD_PAYMENT_TERMS_DAYS:/);
    expect(fails({ NEOCLOUD_SELLER_NAME: 'a\u0007b' })).toMatch(/^NEOCLOUD_SELLER_NAME:/);
  });
  it('checks the agent settings', () => {
    expect(loadConfig({ NEOCLOUD_HEARTBEAT_S: '5', NEOCLOUD_HEALTH_RECOVERY_S: '600' })).toMatchObject({ NEOCLOUD_HEARTBEAT_S: 5, NEOCLOUD_HEALTH_RECOVERY_S: 600 });
    expect(fails({ NEOCLOUD_HEARTBEAT_S: '0' })).toMatch(/^NEOCLOUD_HEARTBEAT_S: must be an integer number of seconds from 1 to 3600/);
    expect(fails({ NEOCLOUD_MISSED_HEARTBEATS: '1' })).toMatch(/^NEOCLOUD_MISSED_HEARTBEATS:/);
  });
  it('reads valid values and lets flags win', () => {
    const c = loadConfig({ PORT: '8080', NEOCLOUD_PREEMPTION_NOTICE_S: '0', NEOCLOUD_INTERNAL_POLICY: 'internal-first', DATABASE_URL: 'postgres://u@h/db' }, { PORT: '9090' });
    expect(c).toMatchObject({ PORT: 9090, NEOCLOUD_PREEMPTION_NOTICE_S: 0, NEOCLOUD_INTERNAL_POLICY: 'internal-first', DATABASE_URL: 'postgres://u@h/db' });
  });
  it('fails fast naming the variable, never NaN or a silent default', () => {
    expect(fails({ NEOCLOUD_PREEMPTION_NOTICE_S: 'abc' })).toMatch(/^NEOCLOUD_PREEMPTION_NOTICE_S: must be an integer number of seconds.*got "abc"/);
    expect(fails({ NEOCLOUD_PREEMPTION_NOTICE_S: '1.5' })).toMatch(/^NEOCLOUD_PREEMPTION_NOTICE_S:/);
    expect(fails({ NEOCLOUD_PREEMPTION_NOTICE_S: '-1' })).toMatch(/^NEOCLOUD_PREEMPTION_NOTICE_S:/);
    expect(fails({ NEOCLOUD_INTERNAL_POLICY: 'internal_first' })).toMatch(/^NEOCLOUD_INTERNAL_POLICY: must be sell-first or internal-first/);
    expect(fails({ PORT: '70000' })).toMatch(/^PORT:/);
    expect(fails({ PORT: 'http' })).toMatch(/^PORT:/);
    expect(fails({ LOG_LEVEL: 'verbose' })).toMatch(/^LOG_LEVEL:/);
    expect(fails({ DATABASE_URL: 'mysql://x' })).toMatch(/^DATABASE_URL:/);
    expect(fails({ NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: '2.5' })).toMatch(/^NEOCLOUD_TRANSFER_PRICE_MICROS_PER_GPU_HOUR: must be an integer number of micro-dollars/);
    expect(fails({ NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS: '-1' })).toMatch(/^NEOCLOUD_SLA_CREDIT_MULTIPLIER_BPS:/);
    const key = fails({ NEOCLOUD_ADMIN_KEY: 'short' });
    expect(key).toMatch(/^NEOCLOUD_ADMIN_KEY:/);
    expect(key).not.toContain('short'); // a secret is never echoed
  });
});
