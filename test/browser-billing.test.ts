/**
 * The console's billing pages in a real browser (Debian's Chromium via playwright-core), following
 * test/browser.test.ts: a real server with the demo fleet, its clock fixed and moved by the test,
 * the browser in Tokyo time, at 1440×900 and 390×844. A tenant sees its spend to date, its
 * contracts with their commitments and its invoices (with a printable copy); the operator sees
 * revenue by class, model and tenant, the backlog and the trial balance as of a date; a tenant
 * cannot open Revenue. Expected figures come from the API (or by hand), formatted here with
 * BigInt independently of the console's code. Screenshots: `npm run screens`.
 */
import { mkdirSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, DESKTOP, NO_CHROMIUM, PHONE, SCREENS, signedInTab } from './browser-kit.js';
import { readFleetSpecFile, DEMO_FLEET_PATH } from '../src/app/control-plane.js';
import { T0, createTenant, startServer, type TestServer } from './helpers.js';

const H = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();


let s: TestServer;
let browser: Browser;
let lab: { id: string; key: string };
let reservedId = '';
let commitmentId = '';
let decemberId = '';
let prepaymentId = '';
const pageErrors: string[] = [];

/**
 * Dollars from micros (a decimal string) by the one display rule, with BigInt, independently of
 * src/shared/money-format.ts: shown exactly, cents always, further digits only where they are not zero.
 */
const usd = (micros: string | bigint): string => {
  const m = BigInt(micros);
  const a = m < 0n ? -m : m;
  const frac = String(a % 1_000_000n).padStart(6, '0').replace(/0{1,4}$/, '');
  return `${m < 0n ? '-' : ''}$${(a / 1_000_000n).toLocaleString('en-US')}.${frac}`;
};

async function call(method: string, path: string, o: { key?: string; body?: unknown } = {}): Promise<any> {
  const r = await s.call(method, path, o);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

beforeAll(async () => {
  if (NO_CHROMIUM) return;
  mkdirSync(SCREENS, { recursive: true });
  s = await startServer({ fleet: readFleetSpecFile(DEMO_FLEET_PATH) });
  lab = await createTenant(s, 'billing-lab');
  // At T0 = 2026-12-01: a reserved term, 8 × H100-SXM at $2.00/GPU-h to 2027-03-01 (90 days = 2,160 h):
  // $34,560.00, 25 % prepaid at signing = $8,640.00; a commitment of $1,000.00 a month for a year.
  const reserved = await call('POST', '/v1/contracts', { body: {
    tenantId: lab.id, kind: 'reserved', start: iso(T0), end: '2027-03-01T00:00:00.000Z',
    terms: { gpuModel: 'H100-SXM', gpuCount: 8, priceMicrosPerGpuHour: '2000000', prepaymentBps: 2500 },
  } });
  reservedId = reserved.id;
  prepaymentId = reserved.prepaymentInvoiceId;
  commitmentId = (await call('POST', '/v1/contracts', { body: {
    tenantId: lab.id, kind: 'commitment', start: iso(T0), end: '2027-12-01T00:00:00.000Z', terms: { minimumMicrosPerMonth: '1000000000' },
  } })).id;
  // December: an on-demand lease of 8 GPUs for 10 h at the price book.
  s.clock.set(T0 + H);
  await call('POST', '/v1/leases', { key: lab.key, body: { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 10 } });
  // Close December on 2027-01-01, then an on-demand lease in January (its draft is this month's spend).
  s.clock.set(Date.parse('2027-01-01T00:20:00Z'));
  const close = await call('POST', '/v1/invoices/close', { body: { period: '2026-12' } });
  decemberId = close.invoices.find((i: any) => i.tenantId === lab.id).id;
  s.clock.set(Date.parse('2027-01-02T00:00:00Z'));
  await call('POST', '/v1/leases', { key: lab.key, body: { gpuModel: 'H100-SXM', gpuCount: 4, durationHours: 5 } });
  s.clock.set(Date.parse('2027-01-03T00:00:00Z'));
  await call('POST', '/v1/invoices/refresh', { body: { period: '2027-01' } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

async function signedIn(key: string, hash: string, size = DESKTOP): Promise<Page> {
  return signedInTab(browser, s.url, key, hash, size, pageErrors);
}

/** Waits for the page's view to have rendered (not "Loading…") and its charts to be drawn. */
async function settled(page: Page, view: string): Promise<void> {
  await page.locator(`[data-view="${view}"]:not(:has(> p.muted:only-child))`).waitFor();
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.echart')).every((c) => c.hasAttribute('data-drawn')));
}

/** Nothing scrolls sideways, no table is wider than its container, no button cut off, chart text ≥ 11 px. */
async function fits(page: Page, tag: string): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), `sideways scroll: ${tag}`).toBe(true);
  const wide = await page.evaluate(() => Array.from(document.querySelectorAll('#view table')).filter((t) => t.scrollWidth > t.parentElement!.clientWidth + 1).map((t) => t.className));
  expect(wide, `tables wider than their container: ${tag}`).toEqual([]);
  const clipped = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('#view button'))
    .filter((b) => b.offsetParent !== null && (b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
    .map((b) => b.textContent));
  expect(clipped, `buttons cut off: ${tag}`).toEqual([]);
  const minText = await page.evaluate(() => Math.min(Infinity, ...Array.from(document.querySelectorAll('.echart svg text'))
    .map((t) => t.getBoundingClientRect()).filter((r) => r.width > 0).map((r) => r.height)));
  expect(minText, `chart text: ${tag}`).toBeGreaterThanOrEqual(11);
}

const cellText = (page: Page, row: string, col: string): Promise<string> =>
  page.locator(`${row} td[data-col="${col}"]`).first().innerText().then((t) => t.replace(/^.*\n/, '').trim());

describe.skipIf(NO_CHROMIUM !== '')(NO_CHROMIUM ? `console billing pages (skipped: ${NO_CHROMIUM})` : 'console billing pages', () => {
  it('a tenant sees its spend to date, its contracts against their commitments and its invoices, with a printable copy', async () => {
    const draft = (await call('GET', '/v1/invoices?period=2027-01&status=draft', { key: lab.key })).invoices[0];
    const draftFull = await call('GET', `/v1/invoices/${draft.id}`, { key: lab.key });
    const december = await call('GET', `/v1/invoices/${decemberId}`, { key: lab.key });
    expect(december.status).toBe('final');
    // January's usage: 4 GPUs × 5 h = 20 GPU-h at the price book, nonzero.
    expect(BigInt(draftFull.totalMicros)).toBeGreaterThan(0n);
    for (const size of [DESKTOP, PHONE]) {
      const tag = `${size.width}px`;
      const page = await signedIn(lab.key, 'billing', size);
      await settled(page, 'billing');
      expect(await page.locator('[data-total="spendToDate"] dd').innerText(), tag).toBe(usd(draftFull.totalMicros));
      // Finding 8: the headline and the draft's invoice row are one number; quantities in GPU-hours beside prices per GPU-hour.
      expect(await cellText(page, `tr[data-invoice="${draft.id}"]`, 'total'), tag).toBe(usd(draftFull.totalMicros));
      const gpuLine = draftFull.lines.find((l: any) => l.kind === 'usage' && l.unit === 'GPU-s');
      expect(gpuLine.displayUnit).toBe('GPU-h');
      expect(await cellText(page, 'table.lines tbody tr', 'quantity'), tag).toBe(`${gpuLine.displayQuantity} GPU-h`);
      expect(await cellText(page, 'table.lines tbody tr', 'price'), tag).toBe(`${usd(gpuLine.unitPriceMicros)} per GPU-h`);
      // The reserved term: $34,560.00 (by hand above), and the commitment's minimum a month.
      const reserved = `tr[data-contract="${reservedId}"]`;
      expect(await cellText(page, reserved, 'commitment'), tag).toBe('$34,560.00 term');
      expect(await cellText(page, reserved, 'terms'), tag).toContain('25% prepaid');
      const backlog = await call('GET', '/v1/backlog', { key: lab.key });
      const left = backlog.contracts.find((c: any) => c.contractId === reservedId).remainingMicros;
      expect(await cellText(page, reserved, 'remaining'), tag).toBe(usd(left));
      expect(await cellText(page, reserved, 'against'), tag).toBe(`${usd(34_560_000_000n - BigInt(left))} delivered`);
      const usage = draftFull.lines.filter((l: any) => l.kind === 'usage').reduce((a: bigint, l: any) => a + BigInt(l.amountMicros), 0n);
      expect(await cellText(page, `tr[data-contract="${commitmentId}"]`, 'commitment'), tag).toBe('$1,000.00 / month');
      expect(await cellText(page, `tr[data-contract="${commitmentId}"]`, 'against'), tag).toContain(`${usd(usage)} this month`);
      // Invoices: December's final one and the prepayment, with their totals.
      const dec = `tr[data-invoice="${decemberId}"]`;
      expect(await cellText(page, dec, 'number'), tag).toBe(december.number);
      expect(await cellText(page, dec, 'status'), tag).toBe('final');
      expect(await cellText(page, dec, 'total'), tag).toBe(usd(december.totalMicros));
      expect(await cellText(page, `tr[data-invoice="${prepaymentId}"]`, 'total'), tag).toBe('$8,640.00');
      await fits(page, `tenant billing ${tag}`);
      await page.screenshot({ path: `${SCREENS}/tenant-billing-${size.width}.png`, fullPage: true });
      if (size === DESKTOP) {
        const [tab] = await Promise.all([page.context().waitForEvent('page'), page.locator(`button[data-printable="${decemberId}"]`).click()]);
        await tab.waitForURL(/^blob:/);
        const printed = await tab.locator('body').innerText();
        expect(printed).toContain(december.number);
        // Addressed to the customer by name (not its id), with issue and due dates and terms.
        expect(printed).toMatch(/Bill to\s+billing-lab/);
        expect(printed).toMatch(/Issued\s+2027-01-01\s+Due\s+2027-01-31\s+Terms\s+net 30 days/);
      }
      await page.context().close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('the operator sees revenue by class, model and tenant, the backlog and the trial balance as of a date; a tenant cannot open Revenue', async () => {
    const tb = await call('GET', '/v1/ledger/trial-balance');
    const usdBook = tb.currencies.find((c: any) => c.currency === 'USD');
    expect(usdBook.balanced).toBe(true);
    const onDemand = usdBook.accounts.find((a: any) => a.account === 'revenue:on-demand:H100-SXM');
    expect(onDemand, JSON.stringify(usdBook.accounts)).toBeDefined();
    const backlog = await call('GET', '/v1/backlog');
    const mine = backlog.byTenant.find((b: any) => b.tenantId === lab.id);
    for (const size of [DESKTOP, PHONE]) {
      const tag = `${size.width}px`;
      const page = await signedIn(s.adminKey, 'revenue', size);
      await settled(page, 'revenue');
      // Trial balance: the on-demand revenue account's credit, and the book's totals.
      expect(await cellText(page, '[data-revenue="trial-balance"] tr[data-account="revenue:on-demand:H100-SXM"]', 'credit'), tag).toBe(usd(onDemand.creditMicros));
      expect(await page.locator('[data-revenue="trial-balance"] [data-currency="USD"] p').innerText(), tag)
        .toBe(`USD: debits ${usd(usdBook.debitsMicros)}, credits ${usd(usdBook.creditsMicros)} — balanced`);
      // Accrued this month and not yet invoiced: the server's sum of January's drafts (on-demand money while leases run).
      const accrued = await call('GET', '/v1/billing/accrued');
      const odAccrued = accrued.currencies.find((c: any) => c.currency === 'USD').accounts.find((a: any) => a.account === 'revenue:on-demand:H100-SXM');
      expect(BigInt(odAccrued.amountMicros)).toBeGreaterThan(0n);
      expect(await cellText(page, 'table.revenue-accrued tr[data-account="revenue:on-demand:H100-SXM"]', 'accrued'), tag).toBe(usd(odAccrued.amountMicros));
      // Revenue by class and model, and by tenant: the same ledger account.
      expect(await cellText(page, 'table.revenue-classes tr[data-account="revenue:on-demand:H100-SXM"]', 'revenue'), tag).toBe(usd(onDemand.creditMicros));
      expect(await page.locator(`table.revenue-tenants tr[data-tenant="${lab.id}"]`).count(), tag).toBeGreaterThan(0);
      const categories = JSON.parse((await page.locator('[data-chart="revenue-by-class"]').getAttribute('data-categories'))!);
      const values = JSON.parse((await page.locator('[data-chart="revenue-by-class"]').getAttribute('data-series'))!)['Revenue (USD)'];
      // Whole dollars per class, from the ledger's accounts summed over models.
      const onDemandUsd = Number(usdBook.accounts.filter((a: any) => a.account.startsWith('revenue:on-demand:'))
        .reduce((x: bigint, a: any) => x + BigInt(a.creditMicros) - BigInt(a.debitMicros), 0n) / 1_000_000n);
      expect(values[categories.indexOf('on-demand')]).toBe(onDemandUsd);
      // Backlog per tenant: remaining, take-or-pay (all of it: a reserved term and a commitment), ≤ 12 months, beyond.
      const row = `table.backlog tr[data-tenant="${lab.id}"]`;
      expect(await cellText(page, row, 'remaining'), tag).toBe(usd(mine.remainingMicros));
      expect(await cellText(page, row, 'takeOrPay'), tag).toBe(`${usd(mine.takeOrPayMicros)} (100.0%)`);
      expect(await cellText(page, row, 'within'), tag).toBe(usd(mine.within12MonthsMicros));
      await fits(page, `operator revenue ${tag}`);
      await page.screenshot({ path: `${SCREENS}/operator-revenue-${size.width}.png`, fullPage: true });
      if (size === DESKTOP) {
        // As of 2026-12-15: December's invoice (dated at the month's end) is not yet in the books.
        await page.getByLabel('As of (UTC)').fill('2026-12-15 00:00');
        await page.getByRole('button', { name: 'Show' }).click();
        await page.locator('[data-revenue="trial-balance"] h2', { hasText: '2026-12-15 00:00 UTC' }).waitFor();
        expect(await page.locator('[data-revenue="trial-balance"] tr[data-account="revenue:on-demand:H100-SXM"]').count()).toBe(0);
        const early = await call('GET', `/v1/backlog?asOf=${encodeURIComponent('2026-12-15T00:00:00.000Z')}`);
        expect(await cellText(page, row, 'remaining')).toBe(usd(early.byTenant.find((b: any) => b.tenantId === lab.id).remainingMicros));
      }
      await page.context().close();
    }
    // A tenant: no Revenue tab, and the route answers "Not available" without asking the ledger.
    const page = await signedIn(lab.key, 'billing');
    await settled(page, 'billing');
    const asked: string[] = [];
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    expect(await page.locator('#tab-revenue').count()).toBe(0);
    await page.evaluate(() => { location.hash = '#/revenue'; });
    await page.locator('[data-view="forbidden"]').waitFor();
    expect(await page.locator('[data-view="forbidden"]').innerText()).toContain('Revenue is for the operator');
    expect(asked.filter((p) => p.startsWith('/v1/ledger'))).toEqual([]);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });
});
