/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * server holding the demo fleet, at desktop (1440×900) and phone (390×844) sizes. The server's
 * clock is fixed at T0 = 2026-12-01T00:00Z and moved by the tests; the browser runs in Tokyo time
 * (UTC+9) so a local-time slip would show. Every page is screenshotted at both sizes under
 * test-results/screens (ignored by git): `npm run screens`.
 *
 * Each issue-10 defect has a test named "defect N: …".
 */
import { mkdirSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, DESKTOP, NO_CHROMIUM, PHONE, SCREENS } from './browser-kit.js';
import { readFleetSpecFile, DEMO_FLEET_PATH } from '../src/app/control-plane.js';
import { ADMIN_KEY, T0, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

const WAIT = { timeout: 15_000 };
const MIN = 60_000;

if (NO_CHROMIUM) console.warn(`web console browser test skipped: ${NO_CHROMIUM}`);

let s: TestServer;
let browser: Browser;
let tenant: { id: string; key: string };
/** Page errors and console errors of every tab, checked at the end of each test. */
const pageErrors: string[] = [];

beforeAll(async () => {
  if (NO_CHROMIUM) return;
  mkdirSync(SCREENS, { recursive: true });
  s = await startServer({ fleet: readFleetSpecFile(DEMO_FLEET_PATH) });
  tenant = await createTenant(s, 'acme-research');
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/**
 * A fresh tab (own sessionStorage) on `server` at `hash`. Console errors count as page errors,
 * except failed responses the test expects (`allow`: status codes Chromium may log).
 */
async function openConsole(server: TestServer = s, hash = '', o: { size?: { width: number; height: number }; allow?: number[] } = {}): Promise<Page> {
  const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-US', viewport: o.size ?? DESKTOP });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const allowed = (o.allow ?? []).some((code) => msg.text().includes(`status of ${code}`));
    if (!allowed) pageErrors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${server.url}/${hash}`);
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens a console signed in as `key` at `hash`, waits for that page to render. */
async function signedIn(key: string, hash: string, o: { size?: { width: number; height: number }; allow?: number[]; server?: TestServer } = {}): Promise<Page> {
  const page = await openConsole(o.server ?? s, `#/${hash}`, o);
  await signIn(page, key);
  await page.locator('#as-of[data-as-of]').waitFor();
  return page;
}

const text = async (page: Page, selector: string): Promise<string> => {
  const loc = page.locator(selector).first();
  await loc.waitFor();
  return (await loc.textContent()) ?? '';
};

/**
 * Dollars as the console should show them, computed independently of the console's code: money is
 * a decimal string of integer micro-dollars, parsed with BigInt, shown exactly (the one display
 * rule, src/shared/money-format.ts): cents always, further digits only where they are not zero.
 */
const usd = (micros: string | bigint): string => {
  const m = BigInt(micros);
  const frac = String(m % 1_000_000n).padStart(6, '0').replace(/0{1,4}$/, '');
  return `$${(m / 1_000_000n).toLocaleString('en-US')}.${frac}`;
};

/** The page never scrolls sideways (tables may scroll inside their own container). */
const noSidewaysScroll = (page: Page): Promise<boolean> =>
  page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

/** Every chart's text as drawn on screen: the smallest rendered text height (px) and how wide the chart is against its panel. */
async function chartMetrics(page: Page): Promise<{ charts: number; minTextPx: number; minFill: number }> {
  return page.evaluate(() => {
    const charts = Array.from(document.querySelectorAll<HTMLElement>('.echart[data-drawn]'));
    let minTextPx = Infinity;
    let minFill = Infinity;
    for (const c of charts) {
      for (const t of Array.from(c.querySelectorAll('svg text'))) {
        const r = (t as SVGTextElement).getBoundingClientRect();
        if (r.width > 0 && (t.textContent ?? '').trim()) minTextPx = Math.min(minTextPx, r.height);
      }
      const panel = c.parentElement!;
      const style = getComputedStyle(panel);
      const inner = panel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      minFill = Math.min(minFill, c.querySelector('svg')!.getBoundingClientRect().width / inner);
    }
    return { charts: charts.length, minTextPx, minFill };
  });
}

const lease = (body: Record<string, unknown>, key?: string) => s.call('POST', '/v1/leases', key ? { body, key } : { body: { tenantId: tenant.id, ...body } }).then((r) => {
  if (r.status !== 201 && r.status !== 202) throw new Error(`lease create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; state: string; totalMicros: string; priceMicrosPerGpuHour: string; start: string; end: string; nodes: string[]; gpus: { uuid: string; nodeId: string }[] };
});
const release = (id: string) => s.call('POST', `/v1/leases/${id}/release`, { body: {} });
const row = (page: Page, id: string) => page.locator(`tr[data-lease="${id}"]`);
const cell = (page: Page, id: string, col: string) => row(page, id).locator(`td[data-col="${col}"]`);

describe.skipIf(NO_CHROMIUM !== '')(NO_CHROMIUM ? `web console (skipped: ${NO_CHROMIUM})` : 'web console', () => {
  it('shows the problem detail for a wrong key and stays signed out', async () => {
    const page = await openConsole(s, '', { allow: [401] });
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

  it('a tenant creates a lease through the form: live quote, the largest request that fits, the result with GPUs and nodes, then sees it in the list', async () => {
    const page = await signedIn(tenant.key, 'new-lease');
    const quote = page.locator('.quote');
    await page.getByLabel('GPU model').selectOption('H100-SXM');
    await page.getByLabel('GPU count').fill('100000');
    await page.getByLabel('Placement').selectOption('same-fabric');
    await page.getByLabel('Duration (hours)').fill('2');
    // Too large: refused, with the largest request of that shape that fits (from the API's own quote).
    const apiQuote = await s.call('POST', '/v1/leases/quote', { key: tenant.key, body: { gpuModel: 'H100-SXM', gpuCount: 100000, placement: 'same-fabric', durationHours: 2, class: 'on-demand' } });
    expect(apiQuote.body.outcome).toBe('refused');
    const largest = apiQuote.body.largestSatisfiable as number;
    expect(largest).toBeGreaterThan(0);
    await expect.poll(() => quote.getAttribute('data-quote'), WAIT).toBe('refused');
    expect(await quote.locator('[data-largest]').getAttribute('data-largest')).toBe(String(largest));
    await quote.getByRole('button', { name: `Use ${largest.toLocaleString('en-US')} GPUs` }).click();
    await expect.poll(() => page.getByLabel('GPU count').inputValue(), WAIT).toBe(String(largest));
    await expect.poll(() => quote.getAttribute('data-quote'), WAIT).toBe('placed');

    // 16 GPUs: the quote's total is price × 16 × 2 h, the price from the API.
    await page.getByLabel('GPU count').fill('16');
    const q16 = await s.call('POST', '/v1/leases/quote', { key: tenant.key, body: { gpuModel: 'H100-SXM', gpuCount: 16, placement: 'same-fabric', durationHours: 2 } });
    const total = usd(BigInt(q16.body.priceMicrosPerGpuHour) * 16n * 2n);
    await expect.poll(() => quote.locator('[data-fact="total"] dd').textContent(), WAIT).toBe(total);
    expect(await quote.locator('[data-fact="nodes"] dd').textContent()).toBe(String(q16.body.nodes));
    expect(await quote.locator('[data-fact="window"] dd').textContent()).toBe('2026-12-01 00:00 → 2026-12-01 02:00');

    await page.getByRole('button', { name: 'Create lease' }).click();
    const created = page.locator('[data-created]');
    await created.waitFor();
    const id = (await created.getAttribute('data-created'))!;
    const stored = (await s.call('GET', `/v1/leases/${id}`, { key: tenant.key })).body;
    expect(stored).toMatchObject({ tenantId: tenant.id, gpuModel: 'H100-SXM', gpuCount: 16, placement: 'same-fabric', state: 'active', totalMicros: (BigInt(q16.body.priceMicrosPerGpuHour) * 32n).toString() });
    expect(await created.locator('[data-node]').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-node')))).toEqual(stored.nodes);
    const shownGpus = (await created.locator('.gpu-ids').allTextContents()).flatMap((t) => t.split(' '));
    expect(shownGpus.sort()).toEqual(stored.gpus.map((g: { uuid: string }) => g.uuid).sort());

    await page.getByRole('link', { name: 'Leases', exact: true }).click();
    await row(page, id).waitFor();
    expect(await cell(page, id, 'state').textContent()).toBe('active');
    expect(await cell(page, id, 'gpus').textContent()).toBe('16 × H100-SXMsame-fabric');
    expect(await cell(page, id, 'booked').textContent()).toBe(total);
    await release(id);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defect 7: release asks first (Keep it changes nothing), then releases; defect 1: actual end, hours used and accrued money beside booked', async () => {
    const l = await lease({ gpuModel: 'GB200', gpuCount: 72, placement: 'same-nvlink', durationHours: 2, class: 'reserved' });
    const page = await signedIn(tenant.key, 'leases');
    await row(page, l.id).waitFor();
    expect(await cell(page, l.id, 'booked').textContent()).toBe(usd(l.totalMicros));
    expect(await cell(page, l.id, 'accrued').textContent()).toBe('$0.00');

    const dialog = page.getByRole('dialog');
    await row(page, l.id).getByRole('button', { name: 'Release' }).click();
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain(usd(l.totalMicros));
    expect(await dialog.textContent()).toContain('cannot be undone');
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await s.call('GET', `/v1/leases/${l.id}`)).body.state).toBe('active');

    s.clock.advanceMs(3 * MIN);
    await row(page, l.id).getByRole('button', { name: 'Release' }).click();
    await dialog.getByRole('button', { name: 'Release lease' }).click();
    await expect.poll(() => row(page, l.id).getAttribute('data-state'), WAIT).toBe('released');
    const after = (await s.call('GET', `/v1/leases/${l.id}`)).body;
    expect(after.state).toBe('released');
    // 3 minutes of 72 GPUs at the lease's price, recomputed here: booked stays the 2-hour total.
    const accrued = (BigInt(l.priceMicrosPerGpuHour) * 72n * 3n + 30n) / 60n;
    expect(await cell(page, l.id, 'accrued').textContent()).toBe(usd(accrued));
    expect(await cell(page, l.id, 'booked').textContent()).toBe(usd(l.totalMicros));
    expect(await cell(page, l.id, 'ran').textContent()).toBe('0.05 hreleased 2026-12-01 00:03');
    expect(await row(page, l.id).getByRole('button', { name: 'Release' }).count()).toBe(0);
    expect(await page.getByRole('alert').isHidden()).toBe(true);

    // The lease's page says the same, with the booked window beside it.
    await row(page, l.id).getByRole('link', { name: l.id }).click();
    const detail = page.locator(`[data-view="lease"][data-lease="${l.id}"]`);
    await detail.waitFor();
    expect(await detail.locator('[data-fact="actualEnd"] dd').textContent()).toBe('2026-12-01 00:03 UTC');
    expect(await detail.locator('[data-fact="end"] dd').textContent()).toBe('2026-12-01 02:00 UTC');
    expect(await detail.locator('[data-fact="usedHours"] dd').textContent()).toBe('0.05 h');
    expect(await detail.locator('[data-fact="accrued"] dd').textContent()).toBe(usd(accrued));
    expect(await detail.locator('[data-fact="booked"] dd').textContent()).toBe(usd(l.totalMicros));
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defect 1: a cancelled queued request shows nothing ran and $0.00 accrued', async () => {
    const lab = await createTenant(s, 'queue-lab');
    const rack = await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 72, placement: 'same-nvlink', durationHours: 1 });
    const waiting = await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 288, durationHours: 3, queue: true, maxWaitHours: 6 });
    expect(waiting.state).toBe('queued');
    const page = await signedIn(lab.key, 'leases');
    await row(page, waiting.id).waitFor();
    const until = (waiting as unknown as { queuedUntil: string }).queuedUntil.slice(0, 16).replace('T', ' ');
    expect(await cell(page, waiting.id, 'window').textContent()).toBe(`waiting for capacity until ${until}`);
    await row(page, waiting.id).getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel request' }).click();
    await expect.poll(() => row(page, waiting.id).getAttribute('data-state'), WAIT).toBe('released');
    expect(await cell(page, waiting.id, 'ran').textContent()).toBe('never ran');
    expect(await cell(page, waiting.id, 'accrued').textContent()).toBe('$0.00');
    await release(rack.id);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('live: a lease created and released through the API appears and changes without a reload; "as of" moves; the fleet\'s Leased now follows (defect 6)', async () => {
    const page = await signedIn(tenant.key, 'leases');
    const admin = await signedIn(s.adminKey, 'fleet');
    const leasedNow = admin.locator('[data-total="leasedGpus"] dd');
    const before = Number((await text(admin, '[data-total="leasedGpus"] dd')).replace(/,/g, ''));
    const asOf0 = await page.locator('#as-of').getAttribute('data-as-of');
    await page.evaluate(() => { (window as unknown as { marker: number }).marker = 1; });

    const l = await lease({ gpuModel: 'H200', gpuCount: 8, durationHours: 1 });
    await row(page, l.id).waitFor();
    expect(await cell(page, l.id, 'state').textContent()).toBe('active');
    await expect.poll(() => leasedNow.textContent(), WAIT).toBe((before + 8).toLocaleString('en-US'));
    expect(await page.locator('#as-of').getAttribute('data-as-of')).not.toBe(asOf0);
    expect(await page.locator('#as-of').textContent()).toMatch(/^Live · as of \d\d:\d\d:\d\d UTC$/);

    await release(l.id);
    await expect.poll(() => row(page, l.id).getAttribute('data-state'), WAIT).toBe('released');
    await expect.poll(() => leasedNow.textContent(), WAIT).toBe(before.toLocaleString('en-US'));
    // Same document all along: no reload.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await page.context().close();
    await admin.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defect 6: releasing a lease already released elsewhere shows the 409 and refreshes the row (no live Release left)', async () => {
    const l = await lease({ gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 });
    const page = await openConsole(s, '#/leases', { allow: [409] });
    // Hold the live feed still so the row is stale when clicked.
    await page.route('**/v1/events?*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ events: [], next: '0' }) }));
    await signIn(page, tenant.key);
    await row(page, l.id).waitFor();
    expect((await release(l.id)).status).toBe(200);
    expect(await row(page, l.id).getAttribute('data-state')).toBe('active');
    await row(page, l.id).getByRole('button', { name: 'Release' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Release lease' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/released/i);
    await expect.poll(() => row(page, l.id).getAttribute('data-state'), WAIT).toBe('released');
    expect(await row(page, l.id).getByRole('button', { name: 'Release' }).count()).toBe(0);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defect 9: a preempting lease shows its preemption deadline, in the list and on its page, with the cause in its timeline', async () => {
    const lab = await createTenant(s, 'spot-lab');
    // Spot on every free H200 in Osaka: an on-demand request there must preempt it (after notice).
    const free = (await s.call('POST', '/v1/leases/quote', { body: { tenantId: lab.id, gpuModel: 'H200', gpuCount: 100000, durationHours: 4, class: 'spot', region: 'ap-northeast' } })).body.largestSatisfiable as number;
    expect(free).toBeGreaterThan(0);
    const spot = await lease({ tenantId: lab.id, gpuModel: 'H200', gpuCount: free, durationHours: 4, class: 'spot', region: 'ap-northeast' });
    const od = await lease({ gpuModel: 'H200', gpuCount: 8, durationHours: 1, region: 'ap-northeast' });
    const now = (await s.call('GET', `/v1/leases/${spot.id}`)).body;
    expect(now.state).toBe('preempting');
    const deadline = now.preemptedAt as string;
    const shown = `${deadline.slice(0, 16).replace('T', ' ')}`;
    const page = await signedIn(lab.key, 'leases');
    await row(page, spot.id).waitFor();
    expect(await cell(page, spot.id, 'ran').locator('[data-deadline]').textContent()).toBe(`preempted at ${shown}`);
    await row(page, spot.id).getByRole('link', { name: spot.id }).click();
    const detail = page.locator(`[data-view="lease"][data-lease="${spot.id}"]`);
    await detail.waitFor();
    expect(await detail.locator('.notice[data-deadline]').textContent()).toContain(`at ${shown} UTC`);
    const events = (await s.call('GET', `/v1/leases/${spot.id}/events`, { key: lab.key })).body.events as { type: string }[];
    expect(await detail.locator('ol.timeline li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-event')))).toEqual(events.map((e) => e.type));
    expect(events.map((e) => e.type)).toContain('preempting');
    // The timeline reads as words: money in dollars, no raw micros, tenant ids or GPU UUID lists.
    const timeline = (await detail.locator('ol.timeline').textContent()) ?? '';
    expect(timeline).not.toMatch(/Micros|tenantId|GPU-[0-9a-f]{8}-/);
    await release(od.id);
    await release(spot.id);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('operator lease management: filters by tenant, class, model and state, search by id and node; the lease page shows nodes and GPU ids', async () => {
    const other = await createTenant(s, 'filter-lab');
    const a = await lease({ gpuModel: 'H200', gpuCount: 16, durationHours: 1, class: 'reserved' });
    const b = await lease({ tenantId: other.id, gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 });
    const page = await signedIn(s.adminKey, 'leases');
    await row(page, a.id).waitFor();
    await row(page, b.id).waitFor();
    expect(await cell(page, b.id, 'tenant').textContent()).toBe('filter-lab');

    const ids = () => page.locator('tr[data-lease]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-lease')));
    await page.getByLabel('Tenant').selectOption(other.id);
    await expect.poll(ids, WAIT).toEqual([b.id]);
    await page.getByLabel('Tenant').selectOption('');
    await page.getByLabel('Class').selectOption('reserved');
    await page.getByLabel('Model').selectOption('H200');
    expect(await ids()).toContain(a.id);
    expect(await ids()).not.toContain(b.id);
    const all = (await s.call('GET', '/v1/leases?limit=500')).body.leases as { id: string; class: string; gpuModel: string; state: string }[];
    expect((await ids()).sort()).toEqual(all.filter((l) => l.class === 'reserved' && l.gpuModel === 'H200').map((l) => l.id).sort());
    await page.getByLabel('State').selectOption('released');
    expect(await ids()).not.toContain(a.id);
    await page.getByLabel('Class').selectOption('');
    await page.getByLabel('Model').selectOption('');
    await page.getByLabel('State').selectOption('');
    await page.getByLabel('Search leases').fill(b.nodes[0]!);
    await expect.poll(async () => (await ids()).includes(b.id), WAIT).toBe(true);
    expect(await ids()).not.toContain(a.id);
    await page.getByLabel('Search leases').fill(a.id);
    await expect.poll(ids, WAIT).toEqual([a.id]);
    // A lease not among those loaded (the list answers empty here) is still found by its id.
    const page2 = await signedIn(s.adminKey, 'leases');
    await row(page2, a.id).waitFor();
    await page2.route('**/v1/leases?*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ leases: [], nextCursor: null }) }));
    await page2.evaluate(() => { location.hash = '#/tenants'; });
    await page2.locator('[data-view="tenants"] table').waitFor();
    await page2.evaluate(() => { location.hash = '#/leases'; });
    await page2.locator('[data-view="leases"] .empty').waitFor();
    await page2.getByLabel('Search leases').fill(a.id);
    await row(page2, a.id).waitFor();
    await page2.context().close();

    await row(page, a.id).getByRole('link', { name: a.id }).click();
    const detail = page.locator(`[data-view="lease"][data-lease="${a.id}"]`);
    await detail.waitFor();
    expect(await detail.locator('[data-fact="tenant"] dd').textContent()).toBe('acme-research');
    expect(await detail.locator('[data-node]').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-node')))).toEqual(a.nodes);
    const gpus = (await detail.locator('.gpu-ids').allTextContents()).flatMap((t) => t.split(' '));
    expect(gpus.sort()).toEqual(a.gpus.map((g) => g.uuid).sort());
    const events = (await s.call('GET', `/v1/leases/${a.id}/events`)).body.events as { type: string }[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['requested', 'placed']));
    expect(await detail.locator('ol.timeline li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-event')))).toEqual(events.map((e) => e.type));
    await release(a.id);
    await release(b.id);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('queue and calendar: a waiting request with its age and why; a booked lease on the calendar under its site', async () => {
    const lab = await createTenant(s, 'cal-lab');
    const rack = await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 72, placement: 'same-nvlink', durationHours: 1 });
    const waiting = await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 288, durationHours: 3, queue: true, maxWaitHours: 6 });
    const later = await lease({ tenantId: lab.id, gpuModel: 'H200', gpuCount: 8, start: new Date(T0 + 2 * 86_400_000).toISOString(), durationHours: 24, class: 'reserved' });
    expect(later.state).toBe('scheduled');
    s.clock.advanceMs(5 * MIN);
    const page = await signedIn(s.adminKey, 'queue');
    const q = row(page, waiting.id);
    await q.waitFor();
    expect(await q.locator('td[data-col="age"]').textContent()).toBe('5 min');
    expect(await q.locator('td[data-col="tenant"]').textContent()).toBe('cal-lab');
    const quote = (await s.call('POST', '/v1/leases/quote', { body: { tenantId: lab.id, gpuModel: 'GB200', gpuCount: 288, durationHours: 3 } })).body;
    expect(quote.outcome).toBe('refused');
    expect(await q.locator('td[data-col="why"]').textContent()).toContain(quote.detail);
    expect(await q.locator('td[data-col="why"] [data-largest]').getAttribute('data-largest')).toBe(String(quote.largestSatisfiable));
    const nodes = (await s.call('GET', '/v1/fleet/nodes')).body.nodes as { id: string; siteId: string }[];
    const site = nodes.find((n) => n.id === later.nodes[0])!.siteId;
    await page.locator(`.cal-site[data-site="${site}"] .cal-row[data-lease="${later.id}"]`).waitFor();
    await release(waiting.id);
    await release(rack.id);
    await release(later.id);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('fleet drill-down: site → hall power against cap (warned near the cap) → fabric heatmap → nodes', async () => {
    const own = await startServer({ fleet: readFleetSpecFile(DEMO_FLEET_PATH) });
    try {
      const lab = await createTenant(own, 'power-lab');
      // Fill Osaka (power-bound) as far as its caps allow: some hall or the site gets near its cap.
      const q = (await own.call('POST', '/v1/leases/quote', { body: { tenantId: lab.id, gpuModel: 'H200', gpuCount: 100000, durationHours: 1, region: 'ap-northeast' } })).body;
      const big = await own.call('POST', '/v1/leases', { body: { tenantId: lab.id, gpuModel: 'H200', gpuCount: q.largestSatisfiable, durationHours: 1, region: 'ap-northeast' } });
      expect(big.status).toBe(201);
      const data = (await own.call('GET', '/v1/fleet/nodes?siteId=jp-osaka')).body as { halls: { hallId: string; powerCapW: number; leasedW: number }[]; nodes: { id: string; hallId: string; fabricId: string; leasedGpus: number; gpus: number }[] };
      const nearHalls = data.halls.filter((hl) => hl.leasedW / hl.powerCapW >= 0.9).map((hl) => hl.hallId).sort();

      const page = await signedIn(ADMIN_KEY, 'fleet', { server: own });
      await page.locator('[data-site="jp-osaka"] [data-drill]').click();
      await page.locator('[data-view="fleet"] [data-hall]').first().waitFor();
      const shownNear = await page.locator('[data-hall]:has([data-warning="near-cap"])').evaluateAll((hs) => hs.map((x) => x.getAttribute('data-hall')).sort());
      expect(shownNear).toEqual(nearHalls);
      const siteWarned = (await own.call('GET', '/v1/fleet')).body.sites.find((x: { id: string }) => x.id === 'jp-osaka');
      expect(nearHalls.length + (siteWarned.usage.leasedW / siteWarned.powerCapW >= 0.9 ? 1 : 0)).toBeGreaterThan(0);

      const heat = page.locator('[data-chart="site-heatmap"]');
      await heat.waitFor();
      const rows = JSON.parse((await heat.getAttribute('data-rows'))!) as string[];
      const cells = JSON.parse((await heat.getAttribute('data-cells'))!) as (number | null)[][];
      const fab = rows[0]!;
      const fabNodes = data.nodes.filter((n) => n.fabricId === fab).sort((a, b) => a.id.localeCompare(b.id));
      expect(cells[0]!.slice(0, fabNodes.length)).toEqual(fabNodes.map((n) => n.leasedGpus / n.gpus));

      // Down to the hall, then the fabric domain.
      const hallOf = (await own.call('GET', '/v1/fleet/nodes?siteId=jp-osaka')).body.nodes.find((n: { fabricId: string }) => n.fabricId === fab).hallId as string;
      await page.locator(`tr[data-fabric="${fab}"] td[data-col="hall"] a`).click();
      await page.locator(`[data-view="fleet"] h1:text-is("Hall ${hallOf}")`).waitFor();
      expect(await page.locator('tr[data-fabric]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-fabric')))).toEqual(
        [...new Set(data.nodes.filter((n) => n.hallId === hallOf).map((n) => n.fabricId))].sort());
      await page.locator(`tr[data-fabric="${fab}"] td[data-col="fabric"] a`).click();
      await page.locator('tr[data-node]').first().waitFor();
      expect(await page.locator('tr[data-node]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-node')))).toEqual(fabNodes.map((n) => n.id));
      const n0 = fabNodes[0]!;
      expect(await page.locator(`tr[data-node="${n0.id}"] td[data-col="gpus"]`).textContent()).toBe(`${n0.leasedGpus} / ${n0.gpus}`);
      await page.context().close();
    } finally {
      await own.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('defect 8: a tenant signs in without probing operator routes, cannot reach operator pages, and sees no fleet internals on Capacity', async () => {
    const lab = await createTenant(s, 'role-lab');
    const page = await openConsole(s, '#/scheduler');
    const failed: string[] = [];
    const asked: string[] = [];
    page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    await signIn(page, lab.key);
    await page.locator('[data-view="forbidden"]').waitFor();
    expect(await page.locator('[data-view="forbidden"]').textContent()).toContain('for the operator');
    expect(await text(page, '#who')).toBe('tenant role-lab');
    for (const route of ['fleet', 'scheduler', 'queue', 'tenants']) {
      expect(await page.locator(`#tab-${route}`).count(), route).toBe(0);
      await page.evaluate((r) => { location.hash = `#/${r}`; }, route);
      await page.locator('[data-view="forbidden"]').waitFor();
    }
    await page.getByRole('link', { name: 'Capacity' }).click();
    await page.locator('.result[data-model="any"] table.offer').waitFor();
    const shown = await page.locator('[data-view="capacity"]').textContent();
    for (const internal of ['hall', 'Hall', 'roce', 'MW', 'Installed']) expect(shown, internal).not.toContain(internal);
    expect(failed).toEqual([]);
    expect(asked.filter((p) => /^\/v1\/(fleet|scheduler|admin)/.test(p))).toEqual([]);

    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('neocloud.apiKey'))).toBeNull();
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defect 5: capacity takes UTC 24-hour times, a valid query clears the old error, and All models names each fabric\'s model', async () => {
    const page = await signedIn(s.adminKey, 'capacity');
    await page.locator('.result[data-model="any"]').waitFor();
    // The default window starts at the control plane's time (the test holds it near T0), in UTC.
    const serverNow = (await s.call('GET', '/v1/me')).body.asOf as string;
    expect(await page.getByLabel('Start (UTC)').inputValue()).toBe(serverNow.slice(0, 16).replace('T', ' '));
    const models = await page.locator('.result table.fabrics td[data-col="model"]').allTextContents();
    expect(new Set(models)).toEqual(new Set(['H100-SXM', 'GB200', 'H200', 'MI300X'].filter((m) => models.includes(m))));
    expect(models.length).toBeGreaterThan(0);

    await page.getByLabel('Start (UTC)').fill('2026-12-01 01:00');
    await page.getByLabel('End (UTC)').fill('2026-12-01 00:00');
    await page.getByRole('button', { name: 'Show capacity' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('end');
    await page.getByLabel('GPU model').selectOption('H200');
    await page.getByLabel('Start (UTC)').fill('2026-12-01 00:00'); // Tokyo is UTC+9: read as UTC, not local
    await page.getByLabel('End (UTC)').fill('2026-12-01 13:00');
    await page.getByRole('button', { name: 'Show capacity' }).click();
    await page.locator('.result[data-model="H200"]').waitFor();
    expect(await text(page, '.result > h2')).toBe('H200, 2026-12-01 00:00 UTC → 2026-12-01 13:00 UTC');
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    const api = (await s.call('GET', '/v1/capacity?gpuModel=H200&start=2026-12-01T00:00:00Z&end=2026-12-01T13:00:00Z')).body;
    expect(await text(page, '.result [data-total="freeGpus"] dd')).toBe(api.freeGpus.toLocaleString('en-US'));
    await page.context().close();
    expect(pageErrors.filter((e) => !e.includes('status of 400'))).toEqual([]);
    pageErrors.length = 0;
  });

  it('defect 10: one name for power leased now on Fleet and Scheduler, one site order, and utilization says what it is of', async () => {
    const page = await signedIn(s.adminKey, 'fleet');
    await page.locator('[data-view="fleet"] .card[data-site]').first().waitFor();
    const fleetSites = await page.locator('.card[data-site]').evaluateAll((cs) => cs.map((c) => c.getAttribute('data-site')));
    expect(await page.locator('[data-view="fleet"]').textContent()).toContain('Power leased now');
    expect(await page.locator('[data-total="utilization"] dt').textContent()).toBe('Utilization of runnable');
    await page.getByRole('link', { name: 'Scheduler' }).click();
    await page.locator('[data-view="scheduler"] tr[data-site]').first().waitFor();
    expect(await page.locator('tr[data-site]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-site')))).toEqual(fleetSites);
    const sched = await page.locator('[data-view="scheduler"]').textContent();
    expect(sched).toContain('Power leased now');
    expect(sched).not.toContain('Power used');
    expect(await page.locator('[data-total="utilization"] dt').textContent()).toBe('Utilization (of in-service GPUs)');
    // The figures are the API's: totals, per-site leased GPUs, largest gang per model.
    const st = (await s.call('GET', '/v1/scheduler/status')).body;
    expect(await text(page, '[data-total="inServiceGpus"] dd')).toBe(st.inServiceGpus.toLocaleString('en-US'));
    expect(await text(page, '[data-total="leasedGpus"] dd')).toBe(st.leasedGpus.toLocaleString('en-US'));
    expect(await text(page, '[data-total="utilization"] dd')).toBe(`${(st.utilization * 100).toFixed(1)}%`);
    const chart = page.locator('[data-chart="scheduler-sites"]');
    expect(JSON.parse((await chart.getAttribute('data-categories'))!)).toEqual(fleetSites);
    const leased = JSON.parse((await chart.getAttribute('data-series'))!)['Leased now'] as number[];
    expect(leased.reduce((a, b) => a + b, 0)).toBe(st.leasedGpus);
    for (const g of st.largestGang as { gpuModel: string; nvlink: number }[]) {
      expect(await page.locator(`table.gangs tr[data-model="${g.gpuModel}"] td[data-col="nvlink"]`).textContent()).toBe(g.nvlink.toLocaleString('en-US'));
    }
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('operator creates a tenant in the console (key shown once, it works) and leases for it and for internal work', async () => {
    const page = await signedIn(s.adminKey, 'tenants');
    await page.getByLabel('Tenant name').fill('console-made');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    const secret = page.getByLabel('New API key');
    await secret.waitFor();
    const key = await secret.inputValue();
    const me = await s.call('GET', '/v1/me', { key });
    expect(me.body).toMatchObject({ role: 'tenant', tenantName: 'console-made' });
    await page.locator(`tr[data-tenant="${me.body.tenantId}"]`).waitFor();
    // Its keys are one click away: the key just shown is listed there by id, never the secret.
    await page.locator(`tr[data-tenant="${me.body.tenantId}"]`).getByRole('link', { name: 'Keys' }).click();
    const keys = page.locator(`[data-keys="tenant"][data-tenant="${me.body.tenantId}"]`);
    await keys.locator(`tr[data-key="${me.body.keyId}"]`).waitFor();
    expect(await page.locator('[data-view="keys"]').textContent()).not.toContain(key);

    await page.getByRole('link', { name: 'New lease' }).click();
    await page.getByLabel('Lease for').selectOption(me.body.tenantId);
    await page.getByLabel('GPU model').selectOption('H200');
    await page.getByLabel('GPU count').fill('8');
    await expect.poll(() => page.locator('.quote').getAttribute('data-quote'), WAIT).toBe('placed');
    await page.getByRole('button', { name: 'Create lease' }).click();
    const id = (await page.locator('[data-created]').getAttribute('data-created'))!;
    expect((await s.call('GET', `/v1/leases/${id}`, { key })).body).toMatchObject({ tenantId: me.body.tenantId, gpuCount: 8, gpuModel: 'H200' });

    await page.getByLabel('Lease for').selectOption('__internal__');
    await page.getByRole('button', { name: 'Create lease' }).click();
    await expect.poll(() => page.locator('[data-created]').getAttribute('data-created'), WAIT).not.toBe(id);
    const internalId = (await page.locator('[data-created]').getAttribute('data-created'))!;
    expect((await s.call('GET', `/v1/leases/${internalId}`)).body).toMatchObject({ tenantId: 'ten_owner', class: 'internal' });
    await release(id);
    await release(internalId);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('defects 2, 3 and 4: every page at 1440 and 390 px: no sideways scroll, nothing cut off, readable charts that fill their panel; screenshots', async () => {
    // A fleet with leases of several classes, a queued request and a future reservation, so every page has rows.
    const lab = await createTenant(s, 'screens-lab');
    const made = [
      await lease({ tenantId: lab.id, gpuModel: 'H100-SXM', gpuCount: 512, durationHours: 8, class: 'reserved', placement: 'same-site' }),
      await lease({ tenantId: lab.id, gpuModel: 'H200', gpuCount: 64, durationHours: 2, class: 'spot', placement: 'same-fabric' }),
      await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 72, durationHours: 4, placement: 'same-nvlink' }),
      await lease({ tenantId: lab.id, gpuModel: 'H200', gpuCount: 16, start: new Date(T0 + 3 * 86_400_000).toISOString(), durationHours: 48, class: 'reserved' }),
      await lease({ tenantId: lab.id, gpuModel: 'GB200', gpuCount: 288, durationHours: 2, queue: true }),
    ];
    const routes = ['fleet', 'fleet/jp-osaka', 'fleet/jp-osaka/os-h1', 'fleet/jp-osaka/os-h1/os-h1-roce1', 'fleet/jp-osaka/os-h1/os-h1-roce1/os-h1-roce1-n001', 'node/os-h1-roce1-n001', 'leases', `lease/${made[0]!.id}`, 'new-lease', 'capacity', 'queue', 'scheduler', 'tenants', 'keys'];
    const tenantRoutes = ['leases', `lease/${made[1]!.id}`, 'new-lease', 'capacity', 'keys'];
    for (const [who, key, list] of [['operator', s.adminKey, routes], ['tenant', lab.key, tenantRoutes]] as const) {
      for (const size of [DESKTOP, PHONE]) {
        const page = await signedIn(key, list[0]!, { size });
        for (const route of list) {
          await page.evaluate((r) => { location.hash = `#/${r}`; }, route);
          const name = route.split('/')[0]!;
          await page.locator(`[data-view="${name}"]:not(:has(> p.muted:only-child))`).waitFor();
          await page.waitForFunction(() => Array.from(document.querySelectorAll('.echart')).every((c) => c.hasAttribute('data-drawn')));
          await page.evaluate(() => document.fonts.ready);
          const tag = `${who} ${route} at ${size.width}px`;
          expect(await noSidewaysScroll(page), `no sideways scroll: ${tag}`).toBe(true);
          // Nothing cut off: every button shows all its text.
          const clipped = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('#view button, .topbar a'))
            .filter((b) => b.offsetParent !== null && (b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > document.documentElement.clientWidth + 1) && !b.closest('nav'))
            .map((b) => b.textContent));
          expect(clipped, `clipped: ${tag}`).toEqual([]);
          // Every table fits its container: nothing hidden behind a sideways scroll (defect 3: the
          // phone showed only ID and State).
          const wide = await page.evaluate(() => Array.from(document.querySelectorAll('#view table'))
            .filter((t) => t.scrollWidth > t.parentElement!.clientWidth + 1).map((t) => t.className));
          expect(wide, `tables wider than their container: ${tag}`).toEqual([]);
          const m = await chartMetrics(page);
          if (m.charts > 0) {
            expect(m.minTextPx, `chart text: ${tag}`).toBeGreaterThanOrEqual(11);
            expect(m.minFill, `chart width: ${tag}`).toBeGreaterThan(0.9);
          }
          if (route === 'leases') {
            // The table fits its panel on a desktop; on a phone each lease is a card with its columns named.
            const fits = await page.evaluate(() => {
              const t = document.querySelector('table.leases')!;
              return t.scrollWidth <= t.parentElement!.clientWidth;
            });
            expect(fits, `leases table fits: ${tag}`).toBe(true);
            const r = page.locator(`tr[data-lease="${made[0]!.id}"]`);
            if (who === 'operator') {
              for (const col of ['state', 'booked', 'accrued', 'ran']) expect(await r.locator(`td[data-col="${col}"]`).isVisible(), `${col}: ${tag}`).toBe(true);
            }
          }
          await page.screenshot({ path: `${SCREENS}/${who}-${route.replace(/\//g, '_').replace(/lease_[0-9a-f]+/, 'detail')}-${size.width}.png`, fullPage: true });
        }
        // Sign out stays on screen.
        const box = await page.getByRole('link', { name: 'Sign out' }).boundingBox();
        expect(box && box.x + box.width <= size.width).toBe(true);
        await page.context().close();
      }
    }
    for (const l of made) await release(l.id);
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

  it('issue 24: a strict Content-Security-Policy holds: the pages with charts, a chart tooltip and the API docs load with no violation', async () => {
    const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-US', viewport: DESKTOP });
    // Recorded from the page itself (an init script is injected by the browser, not subject to the policy).
    await context.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    const violations = (): Promise<string[]> => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    const res = await page.goto(`${s.url}/#/fleet`);
    expect(res!.headers()['content-security-policy']).toContain("script-src 'self';");
    await signIn(page, s.adminKey);
    await page.locator('#as-of[data-as-of]').waitFor();
    // Every chart, hovered: ECharts writes its tooltips as HTML with style attributes (allowed by
    // style-src-attr, and only that); an axis tooltip's markup has them.
    let tooltips = 0;
    for (const route of ['fleet', 'fleet/jp-osaka', 'fleet/jp-osaka/os-h1', 'scheduler']) {
      await page.evaluate((r) => { location.hash = `#/${r}`; }, route);
      await page.locator(`[data-view="${route.split('/')[0]}"]`).waitFor();
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.echart')).every((c) => c.hasAttribute('data-drawn')));
      for (const chart of await page.locator('.echart[data-drawn]').all()) {
        await chart.scrollIntoViewIfNeeded();
        const box = (await chart.boundingBox())!;
        for (const fx of [0.3, 0.5, 0.7]) await page.mouse.move(box.x + box.width * fx, box.y + box.height * 0.5);
        if (await chart.evaluate((c) => Array.from(c.querySelectorAll('div')).some((d) => d.style.display !== 'none' && (d.textContent ?? '').trim() !== ''))) tooltips++;
      }
    }
    expect(tooltips).toBeGreaterThan(2);
    expect(await violations()).toEqual([]);
    // The API docs (Swagger UI) under their own policy.
    await page.goto(`${s.url}/docs`);
    await page.locator('.swagger-ui .information-container').waitFor();
    expect(await violations()).toEqual([]);
    expect(errors.filter((e) => /Content Security Policy|Refused to/.test(e))).toEqual([]);
    await context.close();
  });
});
