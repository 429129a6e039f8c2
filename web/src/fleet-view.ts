/**
 * Fleet (operator), drilled down: the fleet (#/fleet: totals, GPUs per site, one card per site) →
 * a site (#/fleet/SITE: halls with power leased now against cap, a heatmap of how much of each
 * node is leased per fabric domain, fabric domains) → a hall (#/fleet/SITE/HALL: the same for its
 * fabric domains) → a fabric domain (#/fleet/SITE/HALL/FABRIC: its nodes). Halls and sites at or above NEAR_CAP of their power cap are flagged. Power figures are
 * "power leased now": GPUs held × facility watts per GPU (the same figure the Scheduler page shows).
 * Beside it, the draw measured by the node agents (GET /v1/fleet's `measured`, facility watts, so
 * the two compare), "No agent reporting" where none reports, and a site's or hall's measured
 * history (GET /v1/power/history). Each node of a fabric links to its page
 * (#/fleet/SITE/HALL/FABRIC/NODE, drawn by node-view.ts).
 */
import { api } from './api.js';
import { barChart, heatmap, lineChart } from './charts.js';
import { coalesce, h, setChildren } from './dom.js';
import { count, kilowatts, megawatts, percent, utc } from './format.js';
import { nodeDetail } from './node-view.js';
import { dataTable } from './tables.js';
import type { FleetOverview, FleetSite, MeasuredPower } from './types.js';
import type { Page, ViewContext } from './view.js';
import { fact, powerMeter, stat } from './widgets.js';

/** Share of a power cap from which a hall or site is flagged "near cap". */
export const NEAR_CAP = 0.9;

interface NodeNow { id: string; siteId: string; hallId: string; fabricId: string; gpuModel: string; state: string; gpus: number; leasedGpus: number; leasedW: number }
interface NodesNow { asOf: string; halls: { hallId: string; siteId: string; powerCapW: number; leasedW: number }[]; nodes: NodeNow[] }

const nearCap = (usedW: number, capW: number): boolean => capW > 0 && usedW / capW >= NEAR_CAP;
const capWarning = (what: string, usedW: number, capW: number): HTMLElement | null =>
  nearCap(usedW, capW) ? h('span', { class: 'badge warn-badge', 'data-warning': 'near-cap' }, `${what} at ${percent(usedW / capW)} of its power cap`) : null;
/**
 * Measured draw (facility watts, from the node agents) against the cap, beside the leased meter;
 * "No agent reporting" in words when no node of the scope reports. data-measured-w carries the
 * facility watts for tests (absent when nothing reports).
 */
export function measuredMeter(m: MeasuredPower | undefined, capW: number): HTMLElement {
  if (!m || m.reportingNodes === 0) {
    return h('div', { class: 'measured none', 'data-measured': 'none' },
      h('div', { class: 'power-label' }, h('span', {}, 'Measured draw now'), h('span', { class: 'no-agent' }, 'No agent reporting')));
  }
  return h('div', { class: 'measured', 'data-measured': 'reporting', 'data-measured-w': m.facilityW },
    powerMeter('Measured draw now vs cap', m.facilityW, capW),
    h('p', { class: 'muted small' }, `${kilowatts(m.facilityW)} at the facility (${kilowatts(m.gpuW)} GPU boards) · ${count(m.reportingNodes)} node${m.reportingNodes === 1 ? '' : 's'} reporting`));
}

const siteHref = (s: string): string => `#/fleet/${encodeURIComponent(s)}`;
const hallHref = (s: string, hl: string): string => `${siteHref(s)}/${encodeURIComponent(hl)}`;

function siteCard(s: FleetSite, m: MeasuredPower | undefined): HTMLElement {
  const leased = s.usage?.leasedGpus ?? 0;
  const usedW = s.usage?.leasedW ?? 0;
  const models = Object.entries(s.gpusByModel).map(([model, n]) =>
    h('li', {}, h('span', {}, model), h('span', { class: 'num' }, `${count(n ?? 0)} (${count(s.usage?.byModel[model]?.leased ?? 0)} leased)`)));
  const states = (['ready', 'draining', 'down'] as const).map((st) =>
    h('li', { class: `node-${st}` }, h('span', {}, st), h('span', { class: 'num' }, count(s.nodesByState[st]))));
  return h('article', { class: 'card', 'data-site': s.id },
    h('header', {},
      h('h3', {}, h('a', { href: siteHref(s.id) }, s.name)),
      h('span', { class: 'muted' }, `${s.id} · ${s.region}`),
      s.runnableGpus < s.installedGpus ? h('span', { class: 'badge' }, 'power-bound') : null,
      capWarning('Site', usedW, s.powerCapW)),
    powerMeter('Power leased now vs cap', usedW, s.powerCapW),
    measuredMeter(m, s.powerCapW),
    h('dl', { class: 'facts' },
      fact('PUE', s.pue.toFixed(2), 'pue'),
      fact('Installed GPUs', count(s.installedGpus), 'installedGpus'),
      fact('Runnable under cap', count(s.runnableGpus), 'runnableGpus'),
      fact('Leased now', count(leased), 'leasedGpus'),
      fact('Utilization of runnable', percent(s.runnableGpus ? leased / s.runnableGpus : 0), 'utilization')),
    h('div', { class: 'lists' },
      h('div', {}, h('h4', {}, 'GPUs by model'), h('ul', { class: 'kv' }, ...models)),
      h('div', {}, h('h4', {}, 'Nodes'), h('ul', { class: 'kv' }, ...states))),
    h('p', {}, h('a', { href: siteHref(s.id), 'data-drill': s.id }, 'Halls, fabrics and nodes →')));
}

async function overview(el: HTMLElement): Promise<void> {
  const f = await api<FleetOverview>('GET', '/v1/fleet');
  const t = f.totals;
  const sites = [...f.sites].sort((a, b) => a.id.localeCompare(b.id));
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Fleet'), h('span', { class: 'muted' }, `control plane time ${utc(f.asOf)}`)),
    h('dl', { class: 'totals' },
      stat('Installed GPUs', count(t.installedGpus), 'installedGpus'),
      stat('Runnable under power caps', count(t.runnableGpus), 'runnableGpus'),
      stat('Leased now', count(t.leasedGpus), 'leasedGpus'),
      stat('Utilization of runnable', percent(t.runnableGpus ? t.leasedGpus / t.runnableGpus : 0), 'utilization'),
      stat('Power leased now / cap', `${(t.leasedW / 1_000_000).toFixed(2)} / ${megawatts(t.powerCapW)}`, 'power'),
      stat('Measured draw now', f.measured && f.measured.totals.reportingNodes > 0 ? `${megawatts(f.measured.totals.facilityW)} (${count(f.measured.totals.reportingNodes)} nodes)` : 'No agent reporting', 'measured')),
    h('p', { class: 'muted note' }, 'Utilization here is leased GPUs over the GPUs the power caps can run at once; the Scheduler page gives it over in-service GPUs.'),
    h('section', { class: 'panel' },
      h('h2', {}, 'GPUs per site'),
      barChart({
        label: 'GPUs per site: installed, runnable under power caps, leased now', key: 'fleet-sites',
        categories: sites.map((s) => s.id),
        series: [
          { name: 'Installed', values: sites.map((s) => s.installedGpus), color: '#9aa5b1' },
          { name: 'Runnable under power', values: sites.map((s) => s.runnableGpus), color: '#2563a8' },
          { name: 'Leased now', values: sites.map((s) => s.usage?.leasedGpus ?? 0), color: '#d97706' },
        ],
      })),
    h('div', { class: 'cards' }, ...sites.map((x) => siteCard(x, f.measured?.sites[x.id]))));
}

/** Measured power per minute (mean and peak of the GPUs' board power) of a site or hall, or a line saying there is none yet. */
function powerHistory(scope: string, points: { minute: string; meanW: number; peakW: number }[]): HTMLElement {
  return h('section', { class: 'panel', 'data-history': scope },
    h('h2', {}, `Measured power, last 24 h (${scope})`),
    points.length === 0
      ? h('p', { class: 'muted' }, 'No measured history yet: no agent has reported here, or not for a full minute.')
      : lineChart({
        label: `Measured GPU board power of ${scope} per minute, mean and peak, kW`, key: 'power-history', unit: 'kW',
        times: points.map((p) => p.minute),
        series: [
          { name: 'Mean', values: points.map((p) => Math.round(p.meanW / 100) / 10), color: '#2563a8' },
          { name: 'Peak', values: points.map((p) => Math.round(p.peakW / 100) / 10), color: '#d97706' },
        ],
      }));
}

const breadcrumb = (...parts: [string, string | null][]): HTMLElement => h('nav', { class: 'crumbs', 'aria-label': 'Fleet drill-down' },
  ...parts.flatMap(([label, href], i) => [i ? h('span', { class: 'muted' }, ' › ') : null, href ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label)]));

/** A site (hallId null) or one hall of it: halls' power, the heatmap and the fabric domains. */
async function sitePage(el: HTMLElement, siteId: string, hallId: string | null): Promise<void> {
  const [data, fleet, history] = await Promise.all([
    api<NodesNow>('GET', `/v1/fleet/nodes?siteId=${encodeURIComponent(siteId)}`),
    api<FleetOverview>('GET', '/v1/fleet'),
    api<{ points: { minute: string; meanW: number; peakW: number }[] }>('GET', `/v1/power/history?scope=${hallId === null ? 'site' : 'hall'}&id=${encodeURIComponent(hallId ?? siteId)}`),
  ]);
  const measured = fleet.measured?.sites[siteId];
  const halls = data.halls.filter((hl) => hallId === null || hl.hallId === hallId).sort((a, b) => a.hallId.localeCompare(b.hallId));
  const inScope = data.nodes.filter((n) => hallId === null || n.hallId === hallId);
  const fabricIds = [...new Set(inScope.map((n) => n.fabricId))].sort();
  const fabrics = fabricIds.map((id) => {
    const nodes = inScope.filter((n) => n.fabricId === id).sort((a, b) => a.id.localeCompare(b.id));
    const gpus = nodes.reduce((a, n) => a + n.gpus, 0);
    const leased = nodes.reduce((a, n) => a + n.leasedGpus, 0);
    return { id, hallId: nodes[0]!.hallId, gpuModel: nodes[0]!.gpuModel, nodes, gpus, leased };
  }).sort((a, b) => a.hallId.localeCompare(b.hallId) || a.id.localeCompare(b.id));
  const width = Math.max(0, ...fabrics.map((f) => f.nodes.length));
  setChildren(el, 
    hallId === null ? breadcrumb(['Fleet', '#/fleet'], [siteId, null]) : breadcrumb(['Fleet', '#/fleet'], [siteId, siteHref(siteId)], [hallId, null]),
    h('div', { class: 'view-head' }, h('h1', {}, hallId === null ? `Site ${siteId}` : `Hall ${hallId}`), h('span', { class: 'muted' }, `control plane time ${utc(data.asOf)}`)),
    halls.length === 0 ? h('p', { class: 'muted' }, 'No such site or hall.') : null,
    h('section', { class: 'panel' },
      h('h2', {}, 'Halls: power leased and measured now vs cap'),
      h('div', { class: 'halls' }, ...halls.map((hl) => h('div', { class: 'hall', 'data-hall': hl.hallId },
        h('div', { class: 'hall-head' }, h('a', { href: hallHref(siteId, hl.hallId) }, h('strong', {}, hl.hallId)), capWarning('Hall', hl.leasedW, hl.powerCapW)),
        powerMeter('Power leased now vs cap', hl.leasedW, hl.powerCapW),
        measuredMeter(measured?.halls[hl.hallId], hl.powerCapW))))),
    powerHistory(hallId ?? siteId, history.points),
    h('section', { class: 'panel' },
      h('h2', {}, 'Share of each node leased, per fabric domain'),
      heatmap({
        label: `Share of each node's GPUs leased now, per fabric domain of ${siteId}`, key: 'site-heatmap', valueName: 'leased',
        rows: fabrics.map((f) => f.id), cols: Array.from({ length: width }, (_, i) => `n${i + 1}`),
        cells: fabrics.map((f) => Array.from({ length: width }, (_, i) => {
          const n = f.nodes[i];
          return n && n.gpus ? n.leasedGpus / n.gpus : null;
        })),
      })),
    h('section', { class: 'panel flush' },
      h('h2', { class: 'pad' }, 'Fabric domains'),
      dataTable({
        cls: 'fabric-list', rows: fabrics, rowAttrs: (f) => ({ 'data-fabric': f.id }),
        columns: [
          { label: 'Fabric', key: 'fabric', cell: (f) => h('a', { href: `${hallHref(siteId, f.hallId)}/${encodeURIComponent(f.id)}`, class: 'mono' }, f.id) },
          { label: 'Hall', key: 'hall', cell: (f) => h('a', { href: hallHref(siteId, f.hallId) }, f.hallId) },
          { label: 'Model', key: 'model', cell: (f) => f.gpuModel },
          { label: 'Nodes (ready)', key: 'nodes', cls: 'num', cell: (f) => `${count(f.nodes.length)} (${count(f.nodes.filter((n) => n.state === 'ready').length)})` },
          { label: 'GPUs leased / installed', key: 'gpus', cls: 'num', cell: (f) => `${count(f.leased)} / ${count(f.gpus)}` },
          { label: 'Utilization', key: 'utilization', cls: 'num', cell: (f) => percent(f.gpus ? f.leased / f.gpus : 0) },
        ],
      })));
}

async function fabricPage(el: HTMLElement, siteId: string, hallId: string, fabricId: string): Promise<void> {
  const data = await api<NodesNow>('GET', `/v1/fleet/nodes?siteId=${encodeURIComponent(siteId)}`);
  const nodes = data.nodes.filter((n) => n.fabricId === fabricId && n.hallId === hallId).sort((a, b) => a.id.localeCompare(b.id));
  el.replaceChildren(
    breadcrumb(['Fleet', '#/fleet'], [siteId, siteHref(siteId)], [hallId, hallHref(siteId, hallId)], [fabricId, null]),
    h('div', { class: 'view-head' }, h('h1', {}, `Fabric ${fabricId}`), h('span', { class: 'muted' }, `${nodes.length} nodes · ${nodes[0]?.gpuModel ?? ''}`)),
    h('section', { class: 'panel flush' }, dataTable({
      cls: 'nodes-table', rows: nodes, rowAttrs: (n) => ({ 'data-node': n.id, 'data-state': n.state }),
      empty: 'No nodes in this fabric domain.',
      columns: [
        { label: 'Node', key: 'node', cls: 'mono', cell: (n) => h('a', { href: `${hallHref(siteId, hallId)}/${encodeURIComponent(fabricId)}/${encodeURIComponent(n.id)}` }, n.id) },
        { label: 'State', key: 'state', cell: (n) => h('span', { class: `node-state node-${n.state}` }, n.state) },
        { label: 'GPUs leased / installed', key: 'gpus', cls: 'num', cell: (n) => `${count(n.leasedGpus)} / ${count(n.gpus)}` },
        { label: 'Utilization', key: 'utilization', cls: 'num', cell: (n) => percent(n.gpus ? n.leasedGpus / n.gpus : 0) },
        { label: 'Power leased now', key: 'power', cls: 'num', cell: (n) => `${(n.leasedW / 1000).toFixed(1)} kW` },
      ],
    })));
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  // #/fleet, #/fleet/SITE, #/fleet/SITE/HALL, #/fleet/SITE/HALL/FABRIC, #/fleet/SITE/HALL/FABRIC/NODE
  const [site, hall, fabric, node] = ctx.params;
  if (site && hall && fabric && node) {
    await nodeDetail(el, ctx, node, [['Fleet', '#/fleet'], [site, siteHref(site)], [hall, hallHref(site, hall)], [fabric, `${hallHref(site, hall)}/${encodeURIComponent(fabric)}`]]);
    return;
  }
  const draw = (): Promise<void> => (site && hall && fabric ? fabricPage(el, site, hall, fabric) : site ? sitePage(el, site, hall ?? null) : overview(el));
  const refresh = coalesce(draw, ctx.onError);
  ctx.onEvents(refresh);
  await draw();
}

export const fleetPage: Page = { route: 'fleet', title: 'Fleet', roles: ['operator'], render };
