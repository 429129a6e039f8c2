/**
 * One lease: its state and window, what ran beside what was booked (hours used, actual end,
 * accrued vs booked money), the preemption deadline and cause, its nodes and GPU ids, and its
 * timeline from the event log (GET /v1/leases/{id}/events). Re-read when the log moves.
 */
import { api } from './api.js';
import { coalesce, h, setChildren } from './dom.js';
import { dollars, hours, money, utc } from './format.js';
import { gpusByNode } from './lease-new-view.js';
import { gpusText, releaseButton, stateBadge } from './lease-ui.js';
import type { Lease } from './types.js';
import type { Page, ViewContext } from './view.js';
import { fact } from './widgets.js';

interface LeaseEvent { id: string; leaseId: string; type: string; at: string; sequence: string; detail: Record<string, unknown> }

/** A line of plain words for an event's detail (its fields, minus the lease id). */
function describe(e: LeaseEvent): string {
  const d = { ...e.detail };
  // The lease page already names the lease, its tenant and its GPUs.
  for (const k of ['leaseId', 'tenantId', 'gpus', 'gpuUuids']) delete d[k];
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined) continue;
    const label = k.replace(/Micros(PerGpuHour)?$/, (_m, per: string | undefined) => (per ? ' per GPU-hour' : ''));
    if (/Micros(PerGpuHour)?$/.test(k) && (typeof v === 'string' || typeof v === 'number') && /^-?\d+$/.test(String(v))) parts.push(`${label}: ${money(String(v))}`);
    else if (Array.isArray(v)) parts.push(`${k}: ${v.length > 4 ? `${v.slice(0, 4).join(', ')} … (${v.length})` : v.join(', ')}`);
    else if (typeof v === 'object') parts.push(`${k}: ${JSON.stringify(v)}`);
    else parts.push(`${k}: ${typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) ? utc(v) : String(v)}`);
  }
  return parts.join(' · ');
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  if (!id) {
    location.hash = '#/leases';
    return;
  }
  const path = `/v1/leases/${encodeURIComponent(id)}`;

  const draw = (l: Lease, events: LeaseEvent[]): void => {
    const action = releaseButton(l, ctx, () => { void reload(); });
    el.dataset['lease'] = l.id;
    el.dataset['state'] = l.state;
    setChildren(el, 
      h('div', { class: 'view-head' },
        h('h1', { class: 'mono-title' }, l.id), stateBadge(l),
        h('a', { href: '#/leases' }, 'All leases'), action),
      l.state === 'preempting' && l.preemptedAt
        ? h('p', { class: 'notice warn', 'data-deadline': l.preemptedAt }, `Being preempted: its GPUs pass to ${l.preemptedBy ?? 'another lease'} at ${utc(l.preemptedAt)} (booked until ${utc(l.end)}).`)
        : null,
      l.stateReason ? h('p', { class: 'notice' }, l.stateReason) : null,
      h('div', { class: 'detail-grid' },
        h('section', { class: 'panel' },
          h('h2', {}, 'Lease'),
          h('dl', { class: 'facts' },
            ...(ctx.session().role === 'operator' ? [fact('Tenant', ctx.tenantName(l.tenantId), 'tenant')] : []),
            fact('GPUs', gpusText(l), 'gpus'),
            fact('Class', l.class, 'class'),
            fact('Placement', l.placement, 'placement'),
            fact('Region', l.region ?? 'any', 'region'),
            fact('Created', utc(l.createdAt), 'createdAt'),
            fact('Booked start', utc(l.start), 'start'),
            fact('Booked end', utc(l.end), 'end'),
            ...(l.queuedUntil ? [fact('Waits for capacity until', utc(l.queuedUntil), 'queuedUntil')] : []),
            fact('Actual end', l.actualEnd ? utc(l.actualEnd) : l.state === 'preempting' && l.preemptedAt ? `by ${utc(l.preemptedAt)} (preemption)` : '—', 'actualEnd'),
            fact('Hours used', hours(l.usedMs), 'usedHours'),
            ...(l.preemptedAt ? [fact('Preempted at', utc(l.preemptedAt), 'preemptedAt')] : []),
            ...(l.preemptedBy ? [fact('Preempted by', l.preemptedBy, 'preemptedBy')] : []))),
        h('section', { class: 'panel' },
          h('h2', {}, 'Money'),
          h('dl', { class: 'facts' },
            fact('Per GPU-hour', money(l.priceMicrosPerGpuHour, l.currency), 'price'),
            fact('Booked', money(l.totalMicros, l.currency), 'booked'),
            fact('Accrued so far', money(l.accruedMicros, l.currency), 'accrued')),
          h('p', { class: 'muted small' }, 'Accrued: the lease\'s price × GPUs × hours its GPUs were held, up to now or its actual end.'))),
      h('section', { class: 'panel' },
        h('h2', {}, `Nodes and GPUs (${l.nodes.length} node${l.nodes.length === 1 ? '' : 's'}, ${l.gpus.length} GPUs)`),
        gpusByNode(l)),
      h('section', { class: 'panel' },
        h('h2', {}, 'Timeline'),
        events.length === 0 ? h('p', { class: 'muted' }, 'No events.') : h('ol', { class: 'timeline' },
          ...events.map((e) => h('li', { 'data-event': e.type, 'data-sequence': e.sequence },
            h('time', { datetime: e.at }, utc(e.at)), h('strong', {}, e.type), h('span', { class: 'muted' }, describe(e)))))));
  };

  const reload = async (): Promise<void> => {
    const [l, ev] = await Promise.all([api<Lease>('GET', path), api<{ events: LeaseEvent[] }>('GET', `${path}/events`)]);
    draw(l, ev.events);
  };
  const refresh = coalesce(reload, ctx.onError);
  ctx.onEvents((events) => {
    if (events.length === 0 || events.some((e) => e.subject === id || e.type.startsWith('dev.neocloud.fleet.'))) refresh();
  });
  await reload();
}

export const leaseDetailPage: Page = { route: 'lease', title: null, roles: ['operator', 'tenant'], render };
