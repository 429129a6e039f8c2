/**
 * Capacity: free GPUs for a window, optionally one model and region; times entered in UTC,
 * 24-hour. The operator sees sites and fabric domains (with their model and hall) and power; a
 * tenant sees what it may buy: free and power-runnable GPUs per site, region and model, never
 * fleet internals (the API gives a tenant nothing more).
 */
import { ApiError, api } from './api.js';
import { barChart } from './charts.js';
import { h } from './dom.js';
import { count, fromUtcInput, megawatts, toUtcInput, utc } from './format.js';
import { dataTable } from './tables.js';
import { GPU_MODELS, type CapacityReport, type FabricCapacity, type SiteCapacity } from './types.js';
import type { Page, ViewContext } from './view.js';
import { fact, stat } from './widgets.js';

const HOUR_MS = 3_600_000;

interface TenantCapacity {
  gpuModel: string | null; region: string | null; start: string; end: string; freeGpus: number; availableGpus: number;
  sites: { siteId: string; region: string; freeGpus: number; availableGpus: number; freeByModel: Partial<Record<string, number>> }[];
}

const field = (label: string, control: HTMLElement): HTMLElement => h('label', { class: 'field' }, h('span', {}, label), control);
const bySite = <T extends { siteId: string }>(a: T, b: T): number => a.siteId.localeCompare(b.siteId);

function operatorSite(s: SiteCapacity): HTMLElement {
  return h('article', { class: 'card', 'data-site': s.siteId },
    h('header', {}, h('h3', {}, s.siteId), h('span', { class: 'muted' }, s.region)),
    h('dl', { class: 'facts' },
      fact('Installed GPUs', count(s.installedGpus), 'installedGpus'),
      fact('Free GPUs', count(s.freeGpus), 'freeGpus'),
      fact('Runnable under power', count(s.availableGpus), 'availableGpus'),
      fact('Peak power leased', `${megawatts(s.peakLeasedW)} / ${megawatts(s.powerCapW)}`, 'power')),
    dataTable<FabricCapacity>({
      cls: 'fabrics', rows: s.fabrics, rowAttrs: (f) => ({ 'data-fabric': f.fabricId }),
      columns: [
        { label: 'Fabric', key: 'fabric', cls: 'mono', cell: (f) => f.fabricId },
        { label: 'Model', key: 'model', cell: (f) => f.gpuModel },
        { label: 'Hall', key: 'hall', cell: (f) => f.hallId },
        { label: 'Installed', key: 'installedGpus', cls: 'num', cell: (f) => count(f.installedGpus) },
        { label: 'Free GPUs', key: 'freeGpus', cls: 'num', cell: (f) => count(f.freeGpus) },
        { label: 'Free nodes', key: 'freeNodes', cls: 'num', cell: (f) => count(f.freeNodes) },
      ],
    }));
}

function operatorReport(r: CapacityReport): HTMLElement[] {
  const sites = [...r.sites].sort(bySite);
  const fabrics = sites.flatMap((s) => s.fabrics);
  return [
    h('dl', { class: 'totals' },
      stat('Installed GPUs', count(r.installedGpus), 'installedGpus'),
      stat('Free for the window', count(r.freeGpus), 'freeGpus'),
      stat('Runnable under power headroom', count(r.availableGpus), 'availableGpus')),
    h('section', { class: 'panel' },
      h('h2', {}, 'Free vs installed per fabric domain'),
      barChart({
        label: 'GPUs per fabric domain: free for the window vs installed', key: 'capacity-fabrics',
        categories: fabrics.map((f) => `${f.fabricId} (${f.gpuModel})`),
        series: [{ name: 'Free', values: fabrics.map((f) => f.freeGpus), color: '#2f855a' }, { name: 'Installed', values: fabrics.map((f) => f.installedGpus), color: '#9aa5b1' }],
      })),
    h('div', { class: 'cards' }, ...sites.map(operatorSite)),
  ];
}

function tenantReport(r: TenantCapacity): HTMLElement[] {
  const rows = [...r.sites].sort(bySite).flatMap((s) => Object.entries(s.freeByModel).map(([model, free]) => ({ site: s, model, free: free ?? 0 })));
  return [
    h('dl', { class: 'totals' },
      stat('Free for the window', count(r.freeGpus), 'freeGpus'),
      stat('Runnable under power', count(r.availableGpus), 'availableGpus')),
    h('section', { class: 'panel' },
      h('h2', {}, 'Free GPUs per region and model'),
      dataTable({
        cls: 'offer', rows, rowAttrs: (x) => ({ 'data-site': x.site.siteId, 'data-model': x.model }),
        columns: [
          { label: 'Region', key: 'region', cell: (x) => x.site.region },
          { label: 'Site', key: 'site', cell: (x) => x.site.siteId },
          { label: 'Model', key: 'model', cell: (x) => x.model },
          { label: 'Free GPUs', key: 'freeGpus', cls: 'num', cell: (x) => count(x.free) },
        ],
        empty: 'No GPUs match this query.',
      }),
      h('p', { class: 'muted small' }, 'Free: on a ready node and held by no lease at any moment of the window. Power limits may run fewer at once (runnable).')),
  ];
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const operator = ctx.session().role === 'operator';
  // The default window is the next hour on the control plane's clock.
  const now = Math.floor(ctx.serverNowMs() / 60_000) * 60_000;
  const model = h('select', { name: 'gpuModel' }, h('option', { value: '' }, 'any'), ...GPU_MODELS.map((m) => h('option', { value: m }, m)));
  const region = h('input', { name: 'region', type: 'text', placeholder: 'any', autocomplete: 'off' });
  const start = h('input', { name: 'start', type: 'text', value: toUtcInput(now), autocomplete: 'off', spellcheck: 'false', placeholder: 'YYYY-MM-DD HH:MM' });
  const end = h('input', { name: 'end', type: 'text', value: toUtcInput(now + HOUR_MS), autocomplete: 'off', spellcheck: 'false', placeholder: 'YYYY-MM-DD HH:MM' });
  const form = h('form', { class: 'panel query' },
    field('GPU model', model), field('Region', region), field('Start (UTC)', start), field('End (UTC)', end),
    h('button', { type: 'submit' }, 'Show capacity'));
  const result = h('div', { class: 'result', 'aria-live': 'polite' });

  // Only the latest query may render: an earlier answer can arrive after a later one.
  let seq = 0;
  const query = async (): Promise<void> => {
    const mine = ++seq;
    const q = new URLSearchParams();
    if (model.value) q.set('gpuModel', model.value);
    if (region.value.trim()) q.set('region', region.value.trim());
    for (const [name, input] of [['start', start], ['end', end]] as const) {
      const v = fromUtcInput(input.value);
      if (v === undefined) throw new ApiError(400, 'Invalid request', `${name}: write it as YYYY-MM-DD HH:MM (UTC, 24-hour)`);
      if (v) q.set(name, v);
    }
    const r = await api<CapacityReport | TenantCapacity>('GET', `/v1/capacity?${q.toString()}`);
    if (mine !== seq) return;
    // A valid answer makes an earlier error stale: it goes.
    ctx.clearError();
    result.dataset['model'] = r.gpuModel ?? 'any';
    const scope = `${r.gpuModel ?? 'All models'}${r.region ? ` in ${r.region}` : ''}`;
    result.replaceChildren(
      h('h2', {}, `${scope}, ${utc(r.start)} → ${utc(r.end)}`),
      ...(r.sites.length === 0 ? [h('p', { class: 'muted' }, 'No GPUs match this query.')]
        : operator ? operatorReport(r as CapacityReport) : tenantReport(r as TenantCapacity)));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    query().catch(ctx.onError);
  });
  ctx.onEvents((events) => {
    if (events.some((e) => e.type.startsWith('dev.neocloud.lease.') || e.type.startsWith('dev.neocloud.fleet.'))) query().catch(ctx.onError);
  });

  el.replaceChildren(h('div', { class: 'view-head' }, h('h1', {}, 'Capacity'), h('span', { class: 'muted' }, 'times in UTC, 24-hour')), form, result);
  await query();
}

export const capacityPage: Page = { route: 'capacity', title: 'Capacity', roles: ['operator', 'tenant'], render };
