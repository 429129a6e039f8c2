/** Capacity: free GPUs per site and fabric domain for a window, optionally one model and region. */
import { api } from './api.js';
import { groupedBarChart } from './chart.js';
import { h } from './dom.js';
import { count, fromLocalInput, megawatts, toLocalInput, utc } from './format.js';
import { GPU_MODELS, type CapacityReport, type SiteCapacity } from './types.js';
import type { ViewContext } from './view.js';
import { fact, stat } from './widgets.js';

const HOUR_MS = 3_600_000;

function field(label: string, control: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), control);
}

function siteSection(s: SiteCapacity): HTMLElement {
  return h('article', { class: 'card', 'data-site': s.siteId },
    h('header', {}, h('h3', {}, s.siteId), h('span', { class: 'muted' }, s.region)),
    h('dl', { class: 'facts' },
      fact('Installed GPUs', count(s.installedGpus), 'installedGpus'),
      fact('Free GPUs', count(s.freeGpus), 'freeGpus'),
      fact('Runnable under power', count(s.availableGpus), 'availableGpus'),
      fact('Peak power leased', `${megawatts(s.peakLeasedW)} / ${megawatts(s.powerCapW)}`, 'power')),
    h('table', { class: 'fabrics' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Fabric'), h('th', { scope: 'col' }, 'Hall'),
        ...['Installed', 'Free GPUs', 'Free nodes'].map((c) => h('th', { scope: 'col', class: 'num' }, c)))),
      h('tbody', {}, ...s.fabrics.map((f) => h('tr', { 'data-fabric': f.fabricId },
        h('td', { class: 'mono' }, f.fabricId),
        h('td', {}, f.hallId),
        h('td', { class: 'num' }, count(f.installedGpus)),
        h('td', { class: 'num' }, count(f.freeGpus)),
        h('td', { class: 'num' }, count(f.freeNodes)))))));
}

function report(r: CapacityReport): HTMLElement[] {
  const scope = `${r.gpuModel ?? 'All models'}${r.region ? ` in ${r.region}` : ''}`;
  const head = h('h2', {}, `${scope}, ${utc(r.start)} → ${utc(r.end)}`);
  if (r.sites.length === 0) return [head, h('p', { class: 'muted' }, 'No GPUs match this query.')];
  return [
    head,
    h('dl', { class: 'totals' },
      stat('Installed GPUs', count(r.installedGpus), 'installedGpus'),
      stat('Free for the window', count(r.freeGpus), 'freeGpus'),
      stat('Runnable under power headroom', count(r.availableGpus), 'availableGpus')),
    h('section', { class: 'panel' },
      h('h2', {}, 'Free vs installed per fabric'),
      groupedBarChart({
        label: 'GPUs per fabric domain: free for the window vs installed',
        series: [{ name: 'Free', cls: 's-free' }, { name: 'Installed', cls: 's-installed' }],
        groups: r.sites.flatMap((s) => s.fabrics.map((f) => ({ label: f.fabricId, values: [f.freeGpus, f.installedGpus] }))),
      })),
    h('div', { class: 'cards' }, ...r.sites.map(siteSection)),
  ];
}

export async function renderCapacity(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const model = h('select', { name: 'gpuModel' },
    h('option', { value: '' }, 'any'), ...GPU_MODELS.map((m) => h('option', { value: m }, m)));
  const region = h('input', { name: 'region', type: 'text', placeholder: 'any', autocomplete: 'off' });
  const start = h('input', { name: 'start', type: 'datetime-local', value: toLocalInput(now) });
  const end = h('input', { name: 'end', type: 'datetime-local', value: toLocalInput(now + HOUR_MS) });
  const form = h('form', { class: 'panel query' },
    field('GPU model', model), field('Region', region), field('Start (local time)', start), field('End (local time)', end),
    h('button', { type: 'submit' }, 'Show capacity'));
  const result = h('div', { class: 'result', 'aria-live': 'polite' });

  // Only the latest query may render: an earlier answer can arrive after a later one.
  let seq = 0;
  const query = async (): Promise<void> => {
    const mine = ++seq;
    const q = new URLSearchParams();
    if (model.value) q.set('gpuModel', model.value);
    if (region.value.trim()) q.set('region', region.value.trim());
    const s = fromLocalInput(start.value);
    const e = fromLocalInput(end.value);
    if (s) q.set('start', s);
    if (e) q.set('end', e);
    const r = await api<CapacityReport>('GET', `/v1/capacity?${q.toString()}`);
    if (mine !== seq) return;
    result.dataset['model'] = r.gpuModel ?? 'any';
    result.replaceChildren(...report(r));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    query().catch(ctx.onError);
  });

  el.replaceChildren(h('div', { class: 'view-head' }, h('h1', {}, 'Capacity')), form, result);
  await query();
}
