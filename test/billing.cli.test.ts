/**
 * `neocloud contracts | usage | invoices | ledger | backlog` against a real server: the CLI run
 * as a process from the TypeScript sources (tsx), as a person (tables) and as a script (--json).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startServer, T0, type TestServer } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('billing CLI', () => {
  let s: TestServer;
  let acme: { id: string; key: string };
  const cli = async (key: string, ...args: string[]): Promise<string> => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--url', s.url, '--api-key', key, ...args], { cwd: ROOT, env: { ...process.env, NEOCLOUD_URL: '', NEOCLOUD_API_KEY: '' } });
    return stdout;
  };

  beforeAll(async () => {
    s = await startServer();
    acme = await createTenant(s, 'acme');
  });
  afterAll(async () => { await s?.close(); });

  it('signs a contract, sends usage, closes a month and shows the invoice, ledger and backlog', async () => {
    const made = JSON.parse(await cli(s.adminKey, '--json', 'contracts', 'create', '--tenant', acme.id, '--kind', 'reserved', '--start', new Date(T0).toISOString(),
      '--end', '2027-12-01T00:00:00Z', '--terms', '{"gpuModel":"H100-SXM","gpuCount":8,"priceMicrosPerGpuHour":"2000000","prepaymentBps":1000}'));
    expect(made).toMatchObject({ tenantId: acme.id, kind: 'reserved', version: 1 });
    expect(await cli(acme.key, 'contracts', 'list')).toContain(made.id);
    await cli(s.adminKey, 'contracts', 'create', '--tenant', acme.id, '--kind', 'tokens', '--start', new Date(T0).toISOString(), '--terms', '{"prices":{"m1":{"inputMicrosPerMillion":"500000","outputMicrosPerMillion":"1500000"}}}');

    const dir = mkdtempSync(join(tmpdir(), 'nc-usage-'));
    const file = join(dir, 'usage.json');
    writeFileSync(file, JSON.stringify([{ id: 'u1', source: '/gw', type: 'tokens.input', subject: acme.id, time: new Date(T0).toISOString(), data: { quantity: '2000000', unit: 'tokens', model: 'm1' } }]));
    expect(await cli(acme.key, 'usage', 'send', file)).toContain('accepted 1, duplicates 0');
    expect(await cli(acme.key, 'usage', 'send', file)).toContain('accepted 0, duplicates 1');
    expect(await cli(acme.key, 'usage', 'show', '--period', '2026-12')).toMatch(/tokens\.input\s+m1\s+1\s+2,000,000\s+tokens/);

    // The customer's legal name, address and terms from its billing profile: frozen into the invoice when it is issued.
    const profile = JSON.parse(await cli(s.adminKey, '--json', 'tenants', 'set-billing', acme.id, '--legal-name', 'Acme Robotics, Inc.', '--address', '1 Main St', '--address', 'Suite 200',
      '--city', 'Springfield', '--postal-code', '12345', '--country', 'US', '--tax-id', 'US-12-3456789', '--terms-days', '45'));
    expect(profile).toMatchObject({ tenantId: acme.id, legalName: 'Acme Robotics, Inc.', addressLines: ['1 Main St', 'Suite 200'], paymentTermsDays: 45 });
    expect(await cli(acme.key, 'tenants', 'billing', acme.id)).toContain('terms: net 45 days');

    s.clock.set(Date.parse('2027-01-01T01:00:00Z'));
    expect(await cli(s.adminKey, 'invoices', 'close', '2026-12')).toContain('closed 2026-12: 1 invoices');
    const list = JSON.parse(await cli(acme.key, '--json', 'invoices', 'list', '--period', '2026-12'));
    const monthly = list.invoices.find((i: { kind: string }) => i.kind === 'monthly');
    // 2M input tokens × $0.50/M = $1.00; December and January reserved: 8 × $2 × 744 h = $11,904.00 each, 10% of each drawn from the prepayment.
    const shown = await cli(acme.key, 'invoices', 'show', monthly.id);
    expect(shown).toContain('$1.00');
    expect(shown).toContain('$11,904.00');
    expect(shown).toContain('-$1,190.40');
    // Issue 18, finding 8: quantities in the unit the price is per, labelled, as the server computed them (744 h × 8 GPUs).
    expect(shown).toMatch(/5952\.0000 GPU-h\s+\$2\.00 per GPU-h\s+\$11,904\.00/);
    expect(shown).toMatch(/2 M tokens\s+\$0\.50 per M tokens\s+\$1\.00/);
    expect(shown).not.toContain('GPU-s');
    expect(shown).toContain('bill to: Acme Robotics, Inc. · issued 2027-01-01 · due 2027-02-15 · net 45 days');
    // The printable invoice: the customer's legal name and address from its billing profile, issue and due dates, terms, the seller.
    // Renamed after the invoice was issued: the issued invoice keeps the addressee it was issued to.
    await cli(s.adminKey, '--json', 'tenants', 'set-billing', acme.id, '--legal-name', 'Renamed Later LLC', '--terms-days', '90');
    const html = await cli(acme.key, 'invoices', 'html', monthly.id);
    expect(html).toContain('<!doctype html>');
    expect(html).toContain('<span data-customer="name">Acme Robotics, Inc.</span>');
    expect(html).toMatch(/1 Main St<br>Suite 200<br>12345 Springfield<br>US<br>Tax id US-12-3456789/);
    expect(html).toContain('<dd data-date="issued">2027-01-01</dd><dt>Due</dt><dd data-date="due">2027-02-15</dd><dt>Terms</dt><dd data-date="terms">net 45 days</dd>');
    expect(html).toContain('<b>From</b><br>neocloud');
    expect(html).toMatch(/5952\.0000 GPU-h<\/td><td class="n">\$2\.00 per GPU-h/);
    expect(html).not.toContain(acme.id.replace(/^/, 'Tenant <b>'));
    const tb = await cli(s.adminKey, 'ledger', 'trial-balance');
    expect(tb).toContain('(balanced)');
    expect(tb).toContain('revenue:reserved:H100-SXM');
    expect(await cli(s.adminKey, 'ledger', 'entries', '--kind', 'invoice')).toContain('receivables');
    // Backlog as of now (Jan 1 01:00): 11 months less an hour of the term left; all take-or-pay.
    const bl = JSON.parse(await cli(acme.key, '--json', 'backlog'));
    expect(bl.totals[0].remainingMicros).toBe(bl.totals[0].takeOrPayMicros);
    expect(await cli(acme.key, 'backlog')).toContain('take-or-pay');
  }, 120_000);
});
