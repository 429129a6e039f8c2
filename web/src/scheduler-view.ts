/**
 * Scheduler (operator only): utilization and fragmentation of the live fleet, power per hall, the
 * largest gang each placement level can still take per model, free GPUs per fabric domain, and
 * the leases booked to start later.
 */
import { api } from './api.js';
import { barChart } from './charts.js';
import { coalesce, h } from './dom.js';
import { count, percent, utc } from './format.js';
import type { LargestGang, SchedulerFabric, SchedulerHall, SchedulerSite, SchedulerStatus } from './types.js';
import { powerMeter, stat } from './widgets.js';
import type { Page, ViewContext } from './view.js';

const GANG_LEVELS = [['nvlink', 'NVLink'], ['fabric', 'Fabric'], ['site', 'Site'], ['any', 'Any']] as const;

function table(cls: string, columns: [string, string][], rows: HTMLTableRowElement[]): HTMLElement {
  // Each cell names its column, so on a phone the rows stack into labelled cards (tables.ts).
  for (const r of rows) Array.from(r.cells).forEach((td, i) => { td.dataset['label'] = columns[i]?.[0] ?? ''; });
  return h('div', { class: 'table-wrap' },
    h('table', { class: `stack ${cls}` },
      h('thead', {}, h('tr', {}, ...columns.map(([c, align]) => h('th', { scope: 'col', class: align || undefined }, c)))),
      h('tbody', {}, ...rows)));
}

const num = (n: number, key?: string): HTMLTableCellElement => h('td', { class: 'num', 'data-col': key }, count(n));

function siteRow(s: SchedulerSite): HTMLTableRowElement {
  return h('tr', { 'data-site': s.siteId },
    h('td', {}, s.siteId),
    num(s.inServiceGpus, 'inServiceGpus'),
    num(s.leasedGpus, 'leasedGpus'),
    h('td', { class: 'num', 'data-col': 'utilization' }, percent(s.utilization)));
}

function hallItem(hl: SchedulerHall): HTMLElement {
  return h('div', { class: 'hall', 'data-hall': hl.hallId },
    h('div', { class: 'hall-head' },
      h('strong', {}, hl.hallId),
      h('span', { class: 'muted' }, `${hl.siteId} · ${count(hl.leasedGpus)} / ${count(hl.inServiceGpus)} GPUs leased`)),
    powerMeter('Power leased now vs cap', hl.powerUsedW, hl.powerCapW));
}

function gangRow(g: LargestGang): HTMLTableRowElement {
  return h('tr', { 'data-model': g.gpuModel },
    h('td', {}, g.gpuModel),
    num(g.freeGpus, 'freeGpus'),
    ...GANG_LEVELS.map(([level]) => num(g[level], level)));
}

function fabricRow(f: SchedulerFabric): HTMLTableRowElement {
  return h('tr', { 'data-fabric': f.fabricId },
    h('td', { class: 'mono' }, f.fabricId),
    h('td', {}, f.gpuModel),
    num(f.freeGpus, 'freeGpus'),
    num(f.wholeNodeGpus, 'wholeNodeGpus'),
    num(f.installedGpus, 'installedGpus'));
}

async function renderScheduler(el: HTMLElement, ctx: ViewContext): Promise<void> {
  ctx.onEvents(() => refresh());
  const draw = async (): Promise<void> => {
    const st = await api<SchedulerStatus>('GET', '/v1/scheduler/status');
    const q = st.queue;
    // Sites in one order on every page: by id.
    st.sites.sort((a, b) => a.siteId.localeCompare(b.siteId));
    st.halls.sort((a, b) => a.siteId.localeCompare(b.siteId) || a.hallId.localeCompare(b.hallId));
    el.replaceChildren(
      h('div', { class: 'view-head' }, h('h1', {}, 'Scheduler'), h('span', { class: 'muted' }, `as of ${utc(st.asOf)}`)),
      h('dl', { class: 'totals' },
        stat('In-service GPUs', count(st.inServiceGpus), 'inServiceGpus'),
        stat('Leased now', count(st.leasedGpus), 'leasedGpus'),
        stat('Utilization (of in-service GPUs)', percent(st.utilization), 'utilization'),
        stat('Fragmentation', percent(st.fragmentation), 'fragmentation'),
        stat('Scheduled leases', `${count(q.scheduledLeases)} · ${count(q.scheduledGpus)} GPUs`, 'scheduled'),
        stat('Starting within 24 h', count(q.startingWithin24h), 'startingWithin24h'),
        stat('Waiting for capacity', `${count(q.queuedRequests)} · ${count(q.queuedGpus)} GPUs`, 'queued')),
      h('p', { class: 'muted note' },
        `Utilization is leased GPUs over in-service GPUs (on ready nodes), not over installed ones (${count(st.installedGpus)}) nor over those power caps can run (see Fleet). Fragmentation is the share of free GPUs on partly used nodes. `,
        h('span', { class: 'nowrap' }, `Data as of ${utc(st.asOf)}.`)),
      h('section', { class: 'panel' },
        h('h2', {}, 'Utilization per site'),
        barChart({
          label: 'GPUs per site: leased now vs in service', key: 'scheduler-sites',
          categories: st.sites.map((s) => s.siteId),
          series: [
            { name: 'Leased now', values: st.sites.map((s) => s.leasedGpus), color: '#d97706' },
            { name: 'In service', values: st.sites.map((s) => s.inServiceGpus), color: '#9aa5b1' },
          ],
        }),
        table('sites', [['Site', ''], ['In service', 'num'], ['Leased now', 'num'], ['Utilization', 'num']], st.sites.map(siteRow))),
      h('section', { class: 'panel' },
        h('h2', {}, 'Power per hall'),
        h('div', { class: 'halls' }, ...st.halls.map(hallItem))),
      h('section', { class: 'panel' },
        h('h2', {}, 'Largest gang it can still take'),
        table('gangs', [['GPU model', ''], ['Free GPUs', 'num'], ...GANG_LEVELS.map(([, name]): [string, string] => [name, 'num'])],
          st.largestGang.map(gangRow))),
      h('section', { class: 'panel' },
        h('h2', {}, 'Fabric domains'),
        table('fabric-domains', [['Fabric', ''], ['Model', ''], ['Free GPUs', 'num'], ['On whole free nodes', 'num'], ['Installed', 'num']],
          st.fabrics.map(fabricRow))),
    );
  };
  const refresh = coalesce(draw, ctx.onError);
  await draw();
}

export const schedulerPage: Page = { route: 'scheduler', title: 'Scheduler', roles: ['operator'], render: renderScheduler };
