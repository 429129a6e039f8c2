/** Fleet overview (operator only): totals, a GPUs-per-site chart, and one card per site. */
import { api } from './api.js';
import { groupedBarChart } from './chart.js';
import { h } from './dom.js';
import { count, megawatts, percent, utc } from './format.js';
import type { FleetOverview, FleetSite } from './types.js';
import { fact, powerMeter, stat } from './widgets.js';

function siteCard(s: FleetSite): HTMLElement {
  const leased = s.usage?.leasedGpus ?? 0;
  const models = Object.entries(s.gpusByModel).map(([model, n]) =>
    h('li', {}, h('span', {}, model), h('span', { class: 'num' }, `${count(n ?? 0)} (${count(s.usage?.byModel[model]?.leased ?? 0)} leased)`)));
  const states = (['ready', 'draining', 'down'] as const).map((st) =>
    h('li', { class: `node-${st}` }, h('span', {}, st), h('span', { class: 'num' }, count(s.nodesByState[st]))));
  return h('article', { class: 'card', 'data-site': s.id },
    h('header', {},
      h('h3', {}, s.name),
      h('span', { class: 'muted' }, `${s.id} · ${s.region}`),
      s.runnableGpus < s.installedGpus ? h('span', { class: 'badge' }, 'power-bound') : null),
    powerMeter('Power leased vs cap', s.usage?.leasedW ?? 0, s.powerCapW),
    h('dl', { class: 'facts' },
      fact('PUE', s.pue.toFixed(2), 'pue'),
      fact('Installed GPUs', count(s.installedGpus), 'installedGpus'),
      fact('Runnable under cap', count(s.runnableGpus), 'runnableGpus'),
      fact('Leased now', count(leased), 'leasedGpus')),
    h('div', { class: 'lists' },
      h('div', {}, h('h4', {}, 'GPUs by model'), h('ul', { class: 'kv' }, ...models)),
      h('div', {}, h('h4', {}, 'Nodes'), h('ul', { class: 'kv' }, ...states))));
}

export async function renderFleet(el: HTMLElement): Promise<void> {
  const f = await api<FleetOverview>('GET', '/v1/fleet');
  const t = f.totals;
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Fleet'), h('span', { class: 'muted' }, `as of ${utc(f.asOf)}`)),
    h('dl', { class: 'totals' },
      stat('Installed GPUs', count(t.installedGpus), 'installedGpus'),
      stat('Runnable under power caps', count(t.runnableGpus), 'runnableGpus'),
      stat('Leased now', count(t.leasedGpus), 'leasedGpus'),
      stat('Share leased now', percent(t.leasedShare), 'leasedShare'),
      stat('Power leased / cap', `${(t.leasedW / 1_000_000).toFixed(2)} / ${megawatts(t.powerCapW)}`, 'power')),
    h('section', { class: 'panel' },
      h('h2', {}, 'GPUs per site'),
      groupedBarChart({
        label: 'GPUs per site: installed, runnable under power caps, leased now',
        series: [{ name: 'Installed', cls: 's-installed' }, { name: 'Runnable under power', cls: 's-runnable' }, { name: 'Leased now', cls: 's-leased' }],
        groups: f.sites.map((s) => ({ label: s.id, values: [s.installedGpus, s.runnableGpus, s.usage?.leasedGpus ?? 0] })),
      })),
    h('div', { class: 'cards' }, ...f.sites.map(siteCard)),
  );
}
