/**
 * Node operations and measured power in the web console (issue 12), in a real browser (Debian's
 * Chromium via playwright-core) against a real server on a small fleet, at 1440×900 and 390×844:
 * the fleet drill-down says "No agent reporting" until an agent (in-process, fake GPUs, over HTTP)
 * enrols and posts a heartbeat, then shows the measured draw the API reports beside the leased
 * draw; the operator drains a node from its page after a confirmation (Cancel changes nothing), the
 * page and the API both say draining; a node its health took down shows why and is recovered the
 * same way; an enrolment token is shown once and enrols an agent; a tenant gets "Not available". No sideways scroll, no
 * console errors. Screenshots of the node page go to test-results/screens (`npm run screens`).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, DESKTOP, NO_CHROMIUM, PHONE, SCREENS, signedInTab } from './browser-kit.js';
import { Agent } from '../src/agent/agent.js';
import { fakeDiscovery } from '../src/agent/gpu-discovery.js';
import { ADMIN_KEY, createTenant, smallFleet, startServer, type TestServer } from './helpers.js';

if (NO_CHROMIUM) console.warn(`node console browser test skipped: ${NO_CHROMIUM}`);

const N1 = 'fab-1-n001';
const N2 = 'fab-1-n002';

let s: TestServer;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (NO_CHROMIUM) return;
  mkdirSync(SCREENS, { recursive: true });
  s = await startServer({ fleet: smallFleet({ fabrics: 1, h100PerFabric: 2 }), telemetry: { intervalMs: 10_000, missedBeats: 3 } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

async function signedIn(hash: string, size: { width: number; height: number }, key = ADMIN_KEY): Promise<Page> {
  return signedInTab(browser, s.url, key, hash, size, pageErrors);
}

const noSidewaysScroll = (page: Page): Promise<boolean> =>
  page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

/** The innermost elements reaching past the viewport's right edge (to name the culprit when the page scrolls sideways). */
const overflowing = (page: Page): Promise<string[]> => page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('#view *'))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !Array.from(e.children).some((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
  .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}[${e.getAttribute('data-col') ?? ''}] "${(e.textContent ?? '').slice(0, 40)}"`));

/** An agent for `nodeId` on 8 fake H100s, enrolled with a token the operator created through the API. */
async function enrolledAgent(nodeId: string): Promise<Agent> {
  const t = await s.call('POST', `/v1/nodes/${nodeId}/enrolment-tokens`, { body: {} });
  expect(t.status).toBe(201);
  const agent = new Agent({
    url: s.url, nodeId, token: t.body.token, stateDir: mkdtempSync(join(tmpdir(), `agent-${nodeId}-`)),
    discover: fakeDiscovery(nodeId, 8, 'H100-SXM', {}, () => s.clock.nowMs()), log: () => {}, now: () => s.clock.nowMs(),
  });
  await agent.enrol();
  return agent;
}

describe.skipIf(NO_CHROMIUM !== '')(NO_CHROMIUM ? `node console (skipped: ${NO_CHROMIUM})` : 'node console', () => {
  it('fleet and hall say "No agent reporting" until a heartbeat; then the measured draw the API reports, beside leased and cap', async () => {
    for (const size of [DESKTOP, PHONE]) {
      const page = await signedIn('fleet', size);
      const card = page.locator('[data-site="site-a"]');
      await card.locator('[data-measured="none"]').waitFor();
      expect(await card.locator('[data-measured="none"]').textContent()).toContain('No agent reporting');
      expect(await page.locator('[data-total="measured"] dd').textContent()).toBe('No agent reporting');
      await page.context().close();
    }

    const agent = await enrolledAgent(N1);
    expect(await agent.beat()).toBe('http');
    // A minute and more of heartbeats and telemetry ticks (the clock is the test's): a point of measured history.
    for (let i = 0; i < 7; i++) {
      s.clock.advanceMs(10_000);
      expect(await agent.beat()).toBe('http');
      expect(await s.cp.telemetry.tick()).toEqual([]);
    }
    const history = (await s.call('GET', '/v1/power/history?scope=site&id=site-a')).body.points as { minute: string; meanW: number; peakW: number }[];
    expect(history.length).toBeGreaterThan(0);
    const fleet = (await s.call('GET', '/v1/fleet')).body;
    const site = fleet.measured.sites['site-a'];
    expect(site.reportingNodes).toBe(1);
    expect(site.facilityW).toBeGreaterThan(0);

    for (const size of [DESKTOP, PHONE]) {
      const page = await signedIn('fleet', size);
      const m = page.locator('[data-site="site-a"] [data-measured="reporting"]');
      await m.waitFor();
      expect(Number(await m.getAttribute('data-measured-w'))).toBe(site.facilityW);
      expect(await m.textContent()).toContain(`${(site.facilityW / 1000).toFixed(1)} kW`);
      expect(await m.textContent()).toContain('1 node reporting');
      // The site: hall-1 reports, hall-2 (no agent) says so in words; leased beside measured.
      await page.locator('[data-site="site-a"] [data-drill]').click();
      const h1 = page.locator('[data-hall="hall-1"] [data-measured="reporting"]');
      await h1.waitFor();
      expect(Number(await h1.getAttribute('data-measured-w'))).toBe(site.halls['hall-1'].facilityW);
      expect(await page.locator('[data-hall="hall-1"] [role="meter"][aria-label="power leased now vs cap"]').count()).toBe(1);
      expect(await page.locator('[data-hall="hall-2"] [data-measured="none"]').textContent()).toContain('No agent reporting');
      // The site's measured history as the API gives it (board kW, one decimal).
      const chart = page.locator('[data-history="site-a"] [data-chart="power-history"][data-drawn]');
      await chart.waitFor();
      expect(JSON.parse((await chart.getAttribute('data-categories'))!)).toEqual(history.map((p) => p.minute));
      expect(JSON.parse((await chart.getAttribute('data-series'))!)).toEqual({
        Mean: history.map((p) => Math.round(p.meanW / 100) / 10), Peak: history.map((p) => Math.round(p.peakW / 100) / 10),
      });
      expect(await noSidewaysScroll(page), `site page at ${size.width}px`).toBe(true);
      // Down to the fabric: each node links to its page, which shows the node's own measured draw.
      await page.evaluate(() => { location.hash = '#/fleet/site-a/hall-1/fab-1'; });
      await page.locator(`tr[data-node="${N1}"] td[data-col="node"] a`).click();
      // In the drill-down: #/fleet/SITE/HALL/FABRIC/NODE, the way back above it.
      await page.locator(`[data-view="fleet"][data-node="${N1}"]`).waitFor();
      expect(await page.evaluate(() => location.hash)).toBe(`#/fleet/site-a/hall-1/fab-1/${N1}`);
      expect(await page.locator('nav.crumbs').textContent()).toBe(`Fleet › site-a › hall-1 › fab-1 › ${N1}`);
      const n1 = (await s.call('GET', `/v1/nodes/${N1}`)).body;
      expect(await page.locator('[data-fact="measured"] dd').textContent()).toBe(`${(n1.measured.facilityW / 1000).toFixed(1)} kW`);
      expect(await page.locator('[data-fact="agent"] dd').textContent()).toBe(n1.agent.agentId);
      expect(await page.locator('[data-fact="lastSeen"] dd').textContent()).toBe(`${n1.agent.lastSeenAt.slice(0, 16).replace('T', ' ')} UTC`);
      expect(await page.locator('tr[data-gpu]').count()).toBe(8);
      expect(JSON.parse((await page.locator('[data-chart="node-history"]').getAttribute('data-categories'))!)).toEqual(n1.history.map((p: { minute: string }) => p.minute));
      await page.locator('[data-chart="node-history"][data-drawn]').waitFor();
      expect(await noSidewaysScroll(page), `node page at ${size.width}px: ${(await overflowing(page)).join(', ')}`).toBe(true);
      await page.screenshot({ path: `${SCREENS}/operator-node-${size.width}.png`, fullPage: true });
      await page.context().close();
    }
    await agent.stop();
    expect(pageErrors).toEqual([]);
  });

  it('the operator drains a node after a confirmation (Cancel changes nothing); the page and the API say draining; resume undoes it', async () => {
    for (const size of [DESKTOP, PHONE]) {
      const page = await signedIn(`node/${N2}`, size);
      await page.locator(`[data-view="node"][data-node="${N2}"]`).waitFor();
      expect(await page.locator('[data-node-state]').textContent()).toBe('ready');
      expect(await page.locator('[data-fact="agent"] dd').textContent()).toBe('none enrolled');
      expect(await page.locator('[data-fact="measured"] dd').textContent()).toBe('No agent reporting');
      expect(await page.locator('button[data-command="resume"]').isDisabled()).toBe(true);

      // Cancel: nothing changes.
      await page.locator('button[data-command="drain"]').click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      expect(await dialog.textContent()).toContain(`Drain node ${N2}?`);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'detached' });
      expect((await s.call('GET', `/v1/nodes/${N2}`)).body).toMatchObject({ state: 'ready', admin: null });

      // Confirm: drained, on the page and in the API.
      await page.locator('button[data-command="drain"]').click();
      await dialog.getByRole('button', { name: 'Drain' }).click();
      await page.locator(`[data-view="node"][data-state="draining"]`).waitFor();
      expect(await page.locator('[data-node-state]').textContent()).toBe('draining');
      expect(await page.locator('[data-reason]').textContent()).toContain('Drained by the operator');
      expect((await s.call('GET', `/v1/nodes/${N2}`)).body).toMatchObject({ state: 'draining', admin: 'drain' });
      const nodes = (await s.call('GET', '/v1/fleet/nodes?siteId=site-a')).body.nodes as { id: string; state: string }[];
      expect(nodes.find((n) => n.id === N2)!.state).toBe('draining');
      expect(await noSidewaysScroll(page), `drained node at ${size.width}px`).toBe(true);
      await page.screenshot({ path: `${SCREENS}/operator-node-draining-${size.width}.png`, fullPage: true });

      // Resume: back to ready.
      await page.locator('button[data-command="resume"]').click();
      await dialog.getByRole('button', { name: 'Resume' }).click();
      await page.locator(`[data-view="node"][data-state="ready"]`).waitFor();
      expect((await s.call('GET', `/v1/nodes/${N2}`)).body).toMatchObject({ state: 'ready', admin: null });
      await page.context().close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('a node taken down by its health shows the reason; the operator recovers it after a confirmation', async () => {
    // N1's agent stopped beating at the end of the first test: three intervals later it is down.
    s.clock.advanceMs(31_000);
    expect(await s.cp.telemetry.tick()).toContain(N1);
    const down = (await s.call('GET', `/v1/nodes/${N1}`)).body;
    expect(down).toMatchObject({ state: 'down', admin: null });
    expect(down.healthReason).toMatch(/missed heartbeats/);
    for (const size of [DESKTOP, PHONE]) {
      const page = await signedIn(`node/${N1}`, size);
      await page.locator(`[data-view="node"][data-state="down"]`).waitFor();
      expect(await page.locator('[data-reason]').textContent()).toBe(`Down by health: ${down.healthReason} (since ${down.healthSince.slice(0, 16).replace('T', ' ')} UTC).`);
      expect(await page.locator('[data-fact="health"] dd').textContent()).toBe(down.healthReason);
      expect(await page.locator('button[data-command="resume"]').isDisabled()).toBe(true);
      expect(await noSidewaysScroll(page), `down node at ${size.width}px: ${(await overflowing(page)).join(', ')}`).toBe(true);
      await page.screenshot({ path: `${SCREENS}/operator-node-down-${size.width}.png`, fullPage: true });
      if (size === PHONE) {
        await page.locator('button[data-command="recover"]').click();
        await page.getByRole('dialog').getByRole('button', { name: 'Recover' }).click();
        await page.locator(`[data-view="node"][data-state="ready"]`).waitFor();
        expect(await page.locator('[data-reason]').count()).toBe(0);
        expect((await s.call('GET', `/v1/nodes/${N1}`)).body).toMatchObject({ state: 'ready', healthReason: null });
      }
      await page.context().close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('an enrolment token is shown once and enrols an agent; a tenant cannot open the node page', async () => {
    const page = await signedIn(`node/${N2}`, PHONE);
    await page.locator('button[data-command="token"]').click();
    const field = page.getByLabel('Enrolment token');
    await field.waitFor();
    const token = await field.inputValue();
    expect(token.length).toBeGreaterThan(10);
    expect(await noSidewaysScroll(page)).toBe(true);
    // The token works (once): an agent enrols with it.
    const agent = new Agent({
      url: s.url, nodeId: N2, token, stateDir: mkdtempSync(join(tmpdir(), `agent-${N2}-`)),
      discover: fakeDiscovery(N2, 8, 'H100-SXM', {}, () => s.clock.nowMs()), log: () => {}, now: () => s.clock.nowMs(),
    });
    await agent.enrol();
    expect((await s.call('GET', `/v1/nodes/${N2}`)).body.agent).not.toBeNull();
    await agent.stop();
    await page.context().close();

    const lab = await createTenant(s, 'nodes-lab');
    const t = await signedIn(`node/${N2}`, DESKTOP, lab.key);
    await t.locator('[data-view="forbidden"]').waitFor();
    expect(await t.locator('[data-view="forbidden"] h1').textContent()).toBe('Not available');
    expect(await t.locator('[data-command]').count()).toBe(0);
    await t.context().close();
    expect(pageErrors).toEqual([]);
  });
});
