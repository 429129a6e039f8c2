/**
 * What the console's browser tests share: Debian's Chromium through playwright-core (launch flags,
 * the skip reason when it is absent), the two viewport sizes, the screenshot folder, and a tab
 * signed in with an API key that records page and console errors.
 */
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };
export const SCREENS = 'test-results/screens';

// `npm test`'s pretest (scripts/ensure-chromium.mjs) installs Chromium where it may; without one a
// suite is reported as skipped, with this reason in its name, rather than failing at launch.
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
export const NO_CHROMIUM = existsSync(CHROMIUM_PATH) ? '' : `no Chromium at ${CHROMIUM_PATH} (npm test's pretest installs Debian's chromium where it may; or set CHROMIUM_PATH)`;

/** A new tab at `hash`, signed in with `key` (UTC+9 browser clock, so UTC display is checked); its errors go to `errors`. */
export async function signedInTab(browser: Browser, url: string, key: string, hash: string, size: { width: number; height: number }, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-US', viewport: size });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  await page.goto(`${url}/#/${hash}`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#as-of[data-as-of]').waitFor();
  return page;
}
