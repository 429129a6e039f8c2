/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * server holding the demo fleet. The server's clock is fixed at T0 = 2026-12-01T00:00Z.
 */
import { existsSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { readFleetSpecFile, DEMO_FLEET_PATH } from '../src/app/control-plane.js';
import { ADMIN_KEY, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 15_000 };

// `npm test`'s pretest (scripts/ensure-chromium.mjs) installs Chromium where it may; without one the
// suite is reported as skipped, with the reason in its name, rather than failing at launch.
const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
const NO_CHROMIUM = existsSync(CHROMIUM_PATH) ? '' : `no Chromium at ${CHROMIUM_PATH} (npm test's pretest installs Debian's chromium where it may; or set CHROMIUM_PATH)`;
if (NO_CHROMIUM) console.warn(`web console browser test skipped: ${NO_CHROMIUM}`);

let s: TestServer;
let browser: Browser;
let tenant: { id: string; key: string };
const pageErrors: string[] = [];

beforeAll(async () => {
  if (NO_CHROMIUM) return;
  s = await startServer({ fleet: readFleetSpecFile(DEMO_FLEET_PATH) });
  tenant = await createTenant(s, 'acme-research');
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/** A fresh tab (own sessionStorage) on `server` at `hash`. Tokyo time (UTC+9, no DST) makes local → UTC conversion visible. */
async function openConsole(server: TestServer = s, hash = ''): Promise<Page> {
  const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${server.url}/${hash}`);
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const text = async (page: Page, selector: string): Promise<string> => {
  const loc = page.locator(selector);
  await loc.waitFor();
  return (await loc.textContent()) ?? '';
};

/**
 * Dollars as the console should show them, computed independently of the console's code: money is
 * a decimal string of integer micro-dollars, parsed with BigInt; cents rounded half-up.
 */
const usd = (micros: string): string => {
  const cents = (BigInt(micros) + 5_000n) / 10_000n;
  return `$${(cents / 100n).toLocaleString('en-US')}.${String(cents % 100n).padStart(2, '0')}`;
};

/** The page never scrolls sideways (tables may scroll inside their own container). */
const noSidewaysScroll = (page: Page): Promise<boolean> =>
  page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

describe.skipIf(NO_CHROMIUM !== '')(NO_CHROMIUM ? `web console (skipped: ${NO_CHROMIUM})` : 'web console', () => {
  it('shows the problem detail for a wrong key and stays signed out', async () => {
    const page = await openConsole();
    await signIn(page, 'nc_adm_not-a-real-key-000000000000000000000000000');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Authorization: the API key is not valid');
    expect(await page.locator('#sign-in').isVisible()).toBe(true);
    expect(await page.locator('#tabs').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('neocloud.apiKey'))).toBeNull();
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('shows the fleet overview to the operator: both sites, totals and the chart', async () => {
    const page = await openConsole();
    await signIn(page, s.adminKey);
    await page.locator('[data-site="us-east-oh"]').waitFor();
    await page.locator('[data-site="jp-osaka"]').waitFor();
    expect(await text(page, '[data-total="installedGpus"] dd')).toBe('3,360');
    expect(await text(page, '[data-total="runnableGpus"] dd')).toBe('3,207');
    expect(await text(page, '[data-total="leasedGpus"] dd')).toBe('0');
    expect(await text(page, '#who')).toBe('operator');

    const osaka = page.locator('[data-site="jp-osaka"]');
    expect(await osaka.locator('h3').textContent()).toBe('Osaka 1');
    expect(await osaka.textContent()).toContain('ap-northeast');
    expect(await osaka.locator('[data-fact="installedGpus"] dd').textContent()).toBe('1,024');
    expect(await osaka.locator('[data-fact="runnableGpus"] dd').textContent()).toBe('871');
    expect(await osaka.locator('[data-fact="pue"] dd').textContent()).toBe('1.35');
    expect(await osaka.textContent()).toContain('0.00 MW / 1.50 MW');
    expect(await page.locator('[data-site="us-east-oh"] [data-fact="installedGpus"] dd').textContent()).toBe('2,336');

    const chart = page.locator('svg.chart');
    expect(await chart.count()).toBe(1);
    expect(await chart.locator('g.group').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-group')))).toEqual(['us-east-oh', 'jp-osaka']);
    expect(await chart.locator('g[data-group="jp-osaka"] rect.bar').evaluateAll((rs) =>
      rs.map((r) => [r.getAttribute('data-series'), r.getAttribute('data-value')]))).toEqual([
      ['Installed', '1024'], ['Runnable under power', '871'], ['Leased now', '0'],
    ]);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('lists a lease created through the API and releases it from the console', async () => {
    const created = await s.call('POST', '/v1/leases', { body: { tenantId: tenant.id, gpuModel: 'H100-SXM', gpuCount: 16, durationHours: 2 } });
    expect(created.status).toBe(201);
    const lease = created.body as { id: string; state: string; totalMicros: string; priceMicrosPerGpuHour: string };
    expect(lease.state).toBe('active');
    expect([typeof lease.totalMicros, typeof lease.priceMicrosPerGpuHour]).toEqual(['string', 'string']);
    expect(BigInt(lease.totalMicros)).toBe(BigInt(lease.priceMicrosPerGpuHour) * 16n * 2n);

    const page = await openConsole();
    await signIn(page, s.adminKey);
    await page.locator('[data-site="us-east-oh"]').waitFor();
    await page.getByRole('link', { name: 'Leases' }).click();
    const row = page.locator(`tr[data-lease="${lease.id}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 8)).toEqual([
      lease.id, 'active', '16 × H100-SXM', 'on-demand', 'any', '2026-12-01 00:00', '2026-12-01 02:00', usd(lease.totalMicros),
    ]);

    await row.getByRole('button', { name: 'Release' }).click();
    await expect.poll(() => row.getAttribute('data-state'), WAIT).toBe('released');
    expect(await row.locator('.state').textContent()).toBe('released');
    expect(await row.getByRole('button', { name: 'Release' }).count()).toBe(0);
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    const after = await s.call('GET', `/v1/leases/${lease.id}`);
    expect(after.body.state).toBe('released');
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('shows free capacity per site and fabric for a model and window', async () => {
    // One H200 node (8 GPUs) held from T0 for two hours, so the window's free count differs from installed.
    const held = await s.call('POST', '/v1/leases', { body: { tenantId: tenant.id, gpuModel: 'H200', gpuCount: 8, durationHours: 2 } });
    expect(held.status).toBe(201);

    const page = await openConsole();
    await signIn(page, s.adminKey);
    await page.locator('[data-site="us-east-oh"]').waitFor();
    await page.getByRole('link', { name: 'Capacity' }).click();
    await page.locator('.result[data-model="any"]').waitFor();

    await page.getByLabel('GPU model').selectOption('H200');
    await page.getByLabel('Start (local time)').fill('2026-12-01T09:00'); // Tokyo = 00:00 UTC
    await page.getByLabel('End (local time)').fill('2026-12-01T10:00');
    await page.getByRole('button', { name: 'Show capacity' }).click();
    await page.locator('.result[data-model="H200"]').waitFor();

    expect(await text(page, '.result > h2')).toBe('H200, 2026-12-01 00:00 UTC → 2026-12-01 01:00 UTC');
    expect(await text(page, '.result [data-total="installedGpus"] dd')).toBe('1,024');
    expect(await text(page, '.result [data-total="freeGpus"] dd')).toBe('1,016');
    const osaka = page.locator('.result [data-site="jp-osaka"]');
    expect(await osaka.locator('[data-fact="installedGpus"] dd').textContent()).toBe('1,024');
    expect(await osaka.locator('[data-fact="freeGpus"] dd').textContent()).toBe('1,016');
    expect(await page.locator('.result [data-site="us-east-oh"]').count()).toBe(0);
    const fabrics = await osaka.locator('tr[data-fabric]').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
    expect(fabrics).toHaveLength(4);
    expect(fabrics.map((f) => f[2])).toEqual(['256', '256', '256', '256']);
    expect(fabrics.reduce((a, f) => a + Number(f[3]), 0)).toBe(1016);

    const chart = page.locator('.result svg.chart');
    expect(await chart.locator('g.group').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-group'))))
      .toEqual(['os-h1-roce1', 'os-h1-roce2', 'os-h1-roce3', 'os-h1-roce4']);
    expect(await chart.locator('rect.bar[data-series="Installed"]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-value'))))
      .toEqual(['256', '256', '256', '256']);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('gives a tenant key its own leases and capacity but no fleet tab, and signs out', async () => {
    const other = await createTenant(s, 'other-lab');
    const mine = await s.call('POST', '/v1/leases', { body: { tenantId: tenant.id, gpuModel: 'GB200', gpuCount: 72, durationHours: 1 } });
    const theirs = await s.call('POST', '/v1/leases', { body: { tenantId: other.id, gpuModel: 'GB200', gpuCount: 72, durationHours: 1 } });
    expect([mine.status, theirs.status]).toEqual([201, 201]);

    const page = await openConsole();
    await signIn(page, tenant.key);
    const row = page.locator(`tr[data-lease="${mine.body.id}"]`);
    await row.waitFor();
    expect(await row.locator('td').nth(2).textContent()).toBe('72 × GB200');
    expect(await page.locator(`tr[data-lease="${theirs.body.id}"]`).count()).toBe(0);
    expect(await text(page, '#who')).toBe('tenant acme-research');
    expect(await page.locator('#tab-fleet').isHidden()).toBe(true);
    expect(await page.getByRole('link', { name: 'Capacity' }).isVisible()).toBe(true);

    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor();
    expect(await page.locator('#tabs').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('neocloud.apiKey'))).toBeNull();
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('shows the scheduler status to the operator: totals, sites, largest gangs and fabric domains', async () => {
    const lab = await createTenant(s, 'sched-lab');
    const created = await s.call('POST', '/v1/leases', { body: { tenantId: lab.id, gpuModel: 'H100-SXM', gpuCount: 16, durationHours: 2 } });
    expect(created.status).toBe(201);
    expect(created.body.state).toBe('active');

    // Leased now = every lease live at T0 (this one plus those earlier tests still hold), from the leases API.
    const listed = await s.call('GET', '/v1/leases?limit=100');
    expect(listed.status).toBe(200);
    const live = (listed.body.leases as { state: string; gpuCount: number }[]).filter((l) => l.state === 'active');
    const leasedNow = live.reduce((a, l) => a + l.gpuCount, 0);
    expect(leasedNow).toBeGreaterThanOrEqual(16);
    const status = await s.call('GET', '/v1/scheduler/status');
    expect(status.status).toBe(200);
    expect(status.body.inServiceGpus).toBe(3360);
    expect(status.body.leasedGpus).toBe(leasedNow);
    const shown = leasedNow.toLocaleString('en-US');
    const utilization = `${((leasedNow / 3360) * 100).toFixed(1)}%`;

    const page = await openConsole();
    await signIn(page, s.adminKey);
    await page.locator('[data-site="us-east-oh"]').waitFor();
    const tab = page.getByRole('link', { name: 'Scheduler' });
    expect(await tab.isVisible()).toBe(true);
    await tab.click();
    const view = page.locator('[data-view="scheduler"]');
    await expect.poll(() => view.locator('[data-total="inServiceGpus"] dd').textContent(), WAIT).toBe('3,360');
    expect(await page.evaluate(() => location.hash)).toBe('#/scheduler');
    expect(await tab.getAttribute('aria-current')).toBe('page');
    expect(await view.locator('[data-total="leasedGpus"] dd').textContent()).toBe(shown);
    expect(await view.locator('[data-total="utilization"] dd').textContent()).toBe(utilization);
    expect(await view.locator('[data-total="scheduled"] dd').textContent()).toBe('0 · 0 GPUs');
    expect(await view.locator('[data-total="startingWithin24h"] dd').textContent()).toBe('0');

    const chart = view.locator('svg.chart');
    for (const site of ['us-east-oh', 'jp-osaka']) {
      expect(await chart.locator(`g.group[data-site="${site}"]`).count()).toBe(1);
      expect(await view.locator(`tr[data-site="${site}"]`).count()).toBe(1);
    }
    expect(await chart.locator('g[data-site="jp-osaka"] rect.bar[data-series="In service"]').getAttribute('data-value')).toBe('1024');
    const siteLeased = await chart.locator('rect.bar[data-series="Leased now"]').evaluateAll((rs) =>
      rs.reduce((a, r) => a + Number(r.getAttribute('data-value')), 0));
    expect(siteLeased).toBe(leasedNow);

    const h200 = view.locator('table.gangs tr[data-model="H200"]');
    expect(await h200.locator('td[data-col="nvlink"]').textContent()).toBe('8');
    expect(await view.locator('table.fabric-domains tr[data-fabric="os-h1-roce1"] td[data-col="installedGpus"]').textContent()).toBe('256');
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    await page.context().close();

    // A tenant key sees no Scheduler tab, and #/scheduler falls back to its leases.
    const tenantPage = await openConsole();
    await tenantPage.goto(`${s.url}/#/scheduler`);
    await signIn(tenantPage, lab.key);
    await tenantPage.locator('[data-view="leases"]').waitFor();
    expect(await tenantPage.locator('#tab-scheduler').isHidden()).toBe(true);
    expect(await tenantPage.locator('[data-view="scheduler"]').count()).toBe(0);
    await tenantPage.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('shows a queued request waiting for capacity (leases and scheduler) and cancels it', async () => {
    const q = await createTenant(s, 'queue-lab');
    // One NVL72 rack leased: a request for all four racks' GPUs must wait.
    const rack = await s.call('POST', '/v1/leases', { body: { tenantId: q.id, gpuModel: 'GB200', gpuCount: 72, placement: 'same-nvlink', durationHours: 1 } });
    expect(rack.status).toBe(201);
    const waiting = await s.call('POST', '/v1/leases', { body: { tenantId: q.id, gpuModel: 'GB200', gpuCount: 288, durationHours: 3, queue: true, maxWaitHours: 6 } });
    expect(waiting.status).toBe(202);
    expect(waiting.body.state).toBe('queued');

    const page = await openConsole();
    await signIn(page, q.key);
    await page.locator('[data-view="leases"]').waitFor();
    const row = page.locator(`tr[data-lease="${waiting.body.id}"]`);
    await row.waitFor();
    expect(await row.locator('.state').textContent()).toBe('queued');
    expect(await row.locator('td').nth(5).textContent()).toBe('waiting for capacity until 2026-12-01 06:00');

    const admin = await openConsole();
    await signIn(admin, s.adminKey);
    await admin.locator('[data-site="us-east-oh"]').waitFor();
    await admin.getByRole('link', { name: 'Scheduler' }).click();
    const view = admin.locator('[data-view="scheduler"]');
    await expect.poll(() => view.locator('[data-total="queued"] dd').textContent(), WAIT).toBe('1 · 288 GPUs');
    await admin.context().close();

    await row.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => row.getAttribute('data-state'), WAIT).toBe('released');
    expect((await s.call('GET', `/v1/leases/${waiting.body.id}`)).body).toMatchObject({ state: 'released', gpus: [] });
    await s.call('POST', `/v1/leases/${rack.body.id}/release`, { body: {} });
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('lets a tenant create a key, use it and revoke it (401 at once), and signs out when the key in use is revoked', async () => {
    const lab = await createTenant(s, 'keys-lab');
    const me = await s.call('GET', '/v1/whoami', { key: lab.key });
    expect(me.body).toMatchObject({ kind: 'tenant', tenantId: lab.id });
    const firstKeyId = me.body.keyId as string;

    const page = await openConsole(s, '#/keys');
    // A tenant's page load must not probe operator routes: no 403 (or any other failure) on the way.
    const failed: string[] = [];
    page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
    await signIn(page, lab.key);
    const view = page.locator('[data-view="keys"] [data-keys="tenant"]');
    const first = view.locator(`tr[data-key="${firstKeyId}"]`);
    await first.waitFor();
    expect(await first.locator('.in-use').textContent()).toBe('in use');
    expect(await page.getByRole('link', { name: 'API keys' }).getAttribute('aria-current')).toBe('page');

    await view.getByRole('button', { name: 'Create key' }).click();
    const secret = view.getByLabel('New API key');
    await secret.waitFor();
    const newKey = await secret.inputValue();
    expect(await view.locator('[data-secret]').textContent()).toContain('Shown once');
    const who = await s.call('GET', '/v1/whoami', { key: newKey });
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ kind: 'tenant', tenantId: lab.id });
    const newKeyId = who.body.keyId as string;
    expect((await s.call('GET', '/v1/leases', { key: newKey })).status).toBe(200);
    const row = view.locator(`tr[data-key="${newKeyId}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('active');
    const prefix = (await row.locator('[data-col="prefix"]').textContent() ?? '').replace(/…$/, '');
    expect(prefix.length).toBeGreaterThan(4);
    expect(newKey.startsWith(prefix) && prefix !== newKey).toBe(true);

    for (const size of [{ width: 1440, height: 900 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(size);
      expect(await noSidewaysScroll(page), `no sideways scroll at ${size.width}px`).toBe(true);
    }

    const dialog = page.getByRole('dialog');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await dialog.waitFor();
    expect(await dialog.locator('.warn').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await expect.poll(() => row.getAttribute('data-state'), WAIT).toBe('revoked');
    expect(await row.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect((await s.call('GET', '/v1/leases', { key: newKey })).status).toBe(401);

    // Cancel leaves the key alone.
    await first.getByRole('button', { name: 'Revoke' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await s.call('GET', '/v1/leases', { key: lab.key })).status).toBe(200);

    // Revoking the key in use warns first, then signs out.
    await first.getByRole('button', { name: 'Revoke' }).click();
    await dialog.waitFor();
    expect(await dialog.locator('.warn').textContent()).toContain('signed in with');
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await page.locator('#sign-in').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(`${firstKeyId}) was revoked`);
    expect(await page.evaluate(() => sessionStorage.getItem('neocloud.apiKey'))).toBeNull();
    expect((await s.call('GET', '/v1/leases', { key: lab.key })).status).toBe(401);
    expect(failed).toEqual([]);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it("lets the operator manage a tenant's keys and rotate the admin key: the old key gets 401, the console goes on with the new one", async () => {
    // A server of its own: rotating revokes ADMIN_KEY, which the other tests use.
    const own = await startServer({ fleet: smallFleet() });
    try {
      const lab = await createTenant(own, 'rotate-lab');
      const adminKeyId = (await own.call('GET', '/v1/whoami')).body.keyId as string;
      const page = await openConsole(own, '#/keys');
      await signIn(page, ADMIN_KEY);
      const admin = page.locator('[data-view="keys"] [data-keys="admin"]');
      await admin.locator(`tr[data-key="${adminKeyId}"][data-in-use]`).waitFor();

      // A tenant's keys, picked from the list: create one, use it, revoke it.
      await page.getByLabel('Tenant keys').selectOption(lab.id);
      const tenantKeys = page.locator(`[data-keys="tenant"][data-tenant="${lab.id}"]`);
      await expect.poll(() => tenantKeys.locator('tr[data-key]').count(), WAIT).toBe(1);
      await tenantKeys.getByRole('button', { name: 'Create key' }).click();
      const issuedField = tenantKeys.getByLabel('New API key');
      await issuedField.waitFor();
      const issued = await issuedField.inputValue();
      const issuedWho = await own.call('GET', '/v1/whoami', { key: issued });
      expect(issuedWho.body).toMatchObject({ kind: 'tenant', tenantId: lab.id });
      const issuedRow = tenantKeys.locator(`tr[data-key="${issuedWho.body.keyId}"]`);
      await issuedRow.getByRole('button', { name: 'Revoke' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
      await expect.poll(() => issuedRow.getAttribute('data-state'), WAIT).toBe('revoked');
      expect((await own.call('GET', '/v1/leases', { key: issued })).status).toBe(401);
      expect((await own.call('GET', '/v1/leases', { key: lab.key })).status).toBe(200);

      // Rotate: confirm, the new key is shown once and the console switches to it.
      await admin.getByRole('button', { name: 'Rotate admin key' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      expect(await dialog.locator('.warn').textContent()).toContain(adminKeyId);
      await dialog.getByRole('button', { name: 'Rotate admin key' }).click();
      const secret = admin.getByLabel('New API key');
      await secret.waitFor();
      const newKey = await secret.inputValue();
      expect(newKey).not.toBe(ADMIN_KEY);
      expect(await page.evaluate(() => sessionStorage.getItem('neocloud.apiKey'))).toBe(newKey);
      expect((await own.call('GET', '/v1/fleet', { key: ADMIN_KEY })).status).toBe(401);
      const rotated = await own.call('GET', '/v1/whoami', { key: newKey });
      expect(rotated.body).toMatchObject({ kind: 'admin', tenantId: null });
      await admin.locator(`tr[data-key="${rotated.body.keyId}"][data-in-use]`).waitFor();
      expect(await admin.locator(`.revoked-keys tr[data-key="${adminKeyId}"]`).getAttribute('data-state')).toBe('revoked');

      // The console goes on with the new key.
      await page.getByRole('link', { name: 'Fleet' }).click();
      await page.locator('[data-view="fleet"] [data-site="site-a"]').waitFor();
      await page.getByRole('link', { name: 'Scheduler' }).click();
      await page.locator('[data-view="scheduler"] [data-total="inServiceGpus"]').waitFor();
      expect(await page.getByRole('alert').isHidden()).toBe(true);
      expect(await text(page, '#who')).toBe('operator');
      await page.context().close();
    } finally {
      await own.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
