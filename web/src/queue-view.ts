/**
 * Queue and calendar (operator). The queue: requests waiting for capacity, oldest first, with
 * their age, how long they may still wait, and why each cannot be placed yet (the engine's own
 * answer: a quote of the same request now, without queueing: the missing capacity and the largest
 * request of that shape that fits). The calendar: leases booked to start later, per site, on a
 * timeline from now. "Now" is the control plane's clock (the scheduler status' asOf).
 */
import { ApiError, api } from './api.js';
import { coalesce, h } from './dom.js';
import { count, span, utc } from './format.js';
import { gpusText } from './lease-ui.js';
import { leaseLink } from './leases-view.js';
import { dataTable } from './tables.js';
import type { Lease, LeasePage, SchedulerStatus } from './types.js';
import type { Page, ViewContext } from './view.js';

const DAY_MS = 86_400_000;
/** Quotes asked per refresh, for the oldest waiting requests. */
const MAX_WHY = 25;

interface Quote { outcome: string; detail: string | null; largestSatisfiable: number | null }

/** Why a queued request is not placed yet: the same request quoted now, without the queue. */
async function whyWaiting(l: Lease): Promise<{ text: string; largest: number | null }> {
  const body: Record<string, unknown> = {
    gpuModel: l.gpuModel, gpuCount: l.gpuCount, placement: l.placement, class: l.class,
    durationHours: (Date.parse(l.end) - Date.parse(l.start)) / 3_600_000,
  };
  if (l.class !== 'internal') body['tenantId'] = l.tenantId;
  if (l.region) body['region'] = l.region;
  try {
    const q = await api<Quote>('POST', '/v1/leases/quote', body);
    if (q.outcome !== 'refused') return { text: 'fits now: placed at the next queue pass', largest: null };
    const largest = q.largestSatisfiable;
    const text = q.detail ?? 'not enough free capacity';
    return { text: largest !== null && !/largest/.test(text) ? `${text} (largest that fits now: ${count(largest)} GPUs)` : text, largest };
  } catch (err) {
    return { text: err instanceof ApiError ? `${err.title}: ${err.detail}` : String(err), largest: null };
  }
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const draw = async (): Promise<void> => {
    const [st, page, nodes] = await Promise.all([
      api<SchedulerStatus>('GET', '/v1/scheduler/status'),
      api<LeasePage>('GET', '/v1/leases?limit=500'),
      api<{ nodes: { id: string; siteId: string }[] }>('GET', '/v1/fleet/nodes'),
    ]);
    const now = Date.parse(st.asOf);
    const siteOf = new Map(nodes.nodes.map((n) => [n.id, n.siteId]));
    const queued = page.leases.filter((l) => l.state === 'queued').sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const ahead = page.leases.filter((l) => l.state === 'scheduled').sort((a, b) => a.start.localeCompare(b.start));
    // The engine's reason for the oldest MAX_WHY requests (one quote each); the rest say so.
    const why = await Promise.all(queued.map((l, i) => (i < MAX_WHY ? whyWaiting(l) : Promise.resolve({ text: `not asked (only the oldest ${MAX_WHY} are quoted)`, largest: null }))));

    const queueTable = dataTable({
      cls: 'queue', rows: queued.map((l, i) => ({ l, why: why[i]! })), rowAttrs: ({ l }) => ({ 'data-lease': l.id }),
      empty: 'Nothing is waiting for capacity.',
      columns: [
        { label: 'Request', key: 'id', cell: ({ l }) => leaseLink(l.id) },
        { label: 'Tenant', key: 'tenant', cell: ({ l }) => ctx.tenantName(l.tenantId) },
        { label: 'GPUs', key: 'gpus', cls: 'nowrap', cell: ({ l }) => [gpusText(l), h('br'), h('span', { class: 'muted' }, `${l.class} · ${l.placement}`)] },
        { label: 'Age', key: 'age', cls: 'nowrap', cell: ({ l }) => span(now - Date.parse(l.createdAt)) },
        { label: 'Waits until (UTC)', key: 'until', cls: 'nowrap', cell: ({ l }) => (l.queuedUntil ? [utc(l.queuedUntil, false), h('br'), h('span', { class: 'muted' }, `${span(Date.parse(l.queuedUntil) - now)} left`)] : '—') },
        { label: 'Why not placed yet', key: 'why', cell: ({ why: w }) => h('span', { 'data-largest': w.largest ?? undefined }, w.text) },
      ],
    });

    // The calendar spans a week from now, or to the last booked start (at most 60 days).
    const lastStart = ahead.reduce((m, l) => Math.max(m, Date.parse(l.start)), now);
    const horizon = Math.min(now + 60 * DAY_MS, Math.max(now + 7 * DAY_MS, lastStart + DAY_MS));
    const pct = (ms: number): number => Math.max(0, Math.min(100, ((ms - now) / (horizon - now)) * 100));
    const bySite = new Map<string, Lease[]>();
    for (const l of ahead) {
      const site = [...new Set(l.nodes.map((n) => siteOf.get(n) ?? '?'))].sort().join(' + ') || '?';
      bySite.set(site, [...(bySite.get(site) ?? []), l]);
    }
    const days = Math.round((horizon - now) / DAY_MS);
    const ticks = Array.from({ length: Math.min(days, 8) + 1 }, (_, i) => now + Math.round((i * days) / Math.min(days, 8)) * DAY_MS);
    const calendar = ahead.length === 0 ? h('p', { class: 'muted' }, 'No leases booked to start later.') : h('div', { class: 'calendar' },
      h('div', { class: 'cal-axis', 'aria-hidden': 'true' }, ...ticks.map((t) => {
        const tick = h('span', {}, utc(new Date(t).toISOString(), false).slice(5, 10));
        tick.style.left = `${pct(t)}%`;
        return tick;
      })),
      ...[...bySite].sort(([a], [b]) => a.localeCompare(b)).map(([site, leases]) => h('section', { class: 'cal-site', 'data-site': site },
        h('h3', {}, site, h('span', { class: 'muted' }, ` · ${leases.length} booked, ${count(leases.reduce((a, l) => a + l.gpuCount, 0))} GPUs`)),
        ...leases.map((l) => {
          const bar = h('a', { class: `cal-bar class-${l.class}`, href: `#/lease/${encodeURIComponent(l.id)}`, title: `${l.id}: ${gpusText(l)} ${utc(l.start)} → ${utc(l.end)}` },
            `${gpusText(l)} · ${ctx.tenantName(l.tenantId)}`);
          bar.style.left = `${pct(Date.parse(l.start))}%`;
          bar.style.width = `${Math.max(1.5, pct(Date.parse(l.end)) - pct(Date.parse(l.start)))}%`;
          return h('div', { class: 'cal-row', 'data-lease': l.id },
            h('div', { class: 'cal-label' }, utc(l.start, false), ' → ', utc(l.end, false)),
            h('div', { class: 'cal-track' }, bar));
        }))));

    el.replaceChildren(
      h('div', { class: 'view-head' }, h('h1', {}, 'Queue and calendar'), h('span', { class: 'muted' }, `control plane time ${utc(st.asOf)}`)),
      h('dl', { class: 'totals' },
        h('div', { class: 'stat', 'data-total': 'queued' }, h('dt', {}, 'Waiting for capacity'), h('dd', {}, `${count(st.queue.queuedRequests)} · ${count(st.queue.queuedGpus)} GPUs`)),
        h('div', { class: 'stat', 'data-total': 'oldest' }, h('dt', {}, 'Oldest waiting'), h('dd', {}, st.queue.oldestQueuedSince ? span(now - Date.parse(st.queue.oldestQueuedSince)) : '—')),
        h('div', { class: 'stat', 'data-total': 'scheduled' }, h('dt', {}, 'Booked to start later'), h('dd', {}, `${count(st.queue.scheduledLeases)} · ${count(st.queue.scheduledGpus)} GPUs`)),
        h('div', { class: 'stat', 'data-total': 'startingWithin24h' }, h('dt', {}, 'Starting within 24 h'), h('dd', {}, count(st.queue.startingWithin24h)))),
      h('section', { class: 'panel flush' }, h('h2', { class: 'pad' }, 'Queue'), queueTable),
      h('section', { class: 'panel' }, h('h2', {}, `Calendar: the next ${days} days (UTC)`), calendar));
  };
  const refresh = coalesce(draw, ctx.onError);
  ctx.onEvents((events) => { if (events.some((e) => e.type.startsWith('dev.neocloud.lease.'))) refresh(); });
  await draw();
}

export const queuePage: Page = { route: 'queue', title: 'Queue', roles: ['operator'], render };
