/**
 * Leases: newest first, with filters (tenant, state, class, model) and a search over ids, tenant
 * names, nodes and GPU ids. Each row shows what was booked beside what ran (hours used, actual
 * end, accrued money) and links to the lease's page. The list re-reads itself when the event log
 * moves, so changes made elsewhere appear without a reload. Filtering is over the leases loaded
 * (the newest 500, then "Load older"): see docs/decisions.md.
 */
import { api } from './api.js';
import { coalesce, h } from './dom.js';
import { money } from './format.js';
import { gpusText, ranText, releaseButton, stateBadge, windowText } from './lease-ui.js';
import { dataTable, type Column } from './tables.js';
import { GPU_MODELS, type Lease, type LeasePage } from './types.js';
import type { Page, ViewContext } from './view.js';

const PAGE_SIZE = 500;
const STATES = ['queued', 'scheduled', 'active', 'preempting', 'preempted', 'released', 'expired', 'failed'] as const;
const CLASSES = ['reserved', 'on-demand', 'spot', 'internal'] as const;

export const leaseLink = (id: string): HTMLAnchorElement => h('a', { href: `#/lease/${encodeURIComponent(id)}`, class: 'mono' }, id);

function select(name: string, label: string, options: readonly string[], labels?: (v: string) => string): HTMLSelectElement {
  return h('select', { name, 'aria-label': label },
    h('option', { value: '' }, `${label}: all`), ...options.map((o) => h('option', { value: o }, labels ? labels(o) : o)));
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const operator = ctx.session().role === 'operator';
  let leases: Lease[] = [];
  let cursor: string | null = null;

  const search = h('input', { type: 'search', name: 'q', placeholder: 'Search id, tenant, node, GPU', 'aria-label': 'Search leases', autocomplete: 'off' });
  const state = select('state', 'State', STATES);
  const klass = select('class', 'Class', CLASSES);
  const model = select('model', 'Model', GPU_MODELS);
  const tenant = select('tenant', 'Tenant', [], undefined);
  const filters = h('form', { class: 'filters', role: 'search' }, search, ...(operator ? [tenant] : []), state, klass, model);
  const listSlot = h('div', { class: 'lease-list' });
  const shown = h('span', { class: 'muted', 'data-shown': '' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load older leases');

  const columns: Column<Lease>[] = [
    { label: 'Lease', key: 'id', cell: (l) => leaseLink(l.id) },
    ...(operator ? [{ label: 'Tenant', key: 'tenant', cell: (l: Lease) => ctx.tenantName(l.tenantId) }] : []),
    { label: 'State', key: 'state', cell: stateBadge },
    { label: 'GPUs', key: 'gpus', cls: 'nowrap', cell: (l) => [gpusText(l), h('br'), h('span', { class: 'muted' }, l.placement)] },
    { label: 'Class', key: 'class', cls: 'nowrap', cell: (l) => l.class },
    { label: 'Booked (UTC)', key: 'window', cell: windowText },
    { label: 'Ran', key: 'ran', cell: ranText },
    { label: 'Booked', key: 'booked', cls: 'num', cell: (l) => money(l.totalMicros, l.currency) },
    { label: 'Accrued', key: 'accrued', cls: 'num', cell: (l) => money(l.accruedMicros, l.currency) },
    { label: '', key: 'action', cls: 'actions', cell: (l) => releaseButton(l, ctx, replace) },
  ];

  const matches = (l: Lease): boolean => {
    if (state.value && l.state !== state.value) return false;
    if (klass.value && l.class !== klass.value) return false;
    if (model.value && l.gpuModel !== model.value) return false;
    if (operator && tenant.value && l.tenantId !== tenant.value) return false;
    const q = search.value.trim().toLowerCase();
    if (!q) return true;
    return l.id.toLowerCase().includes(q) || l.tenantId.toLowerCase().includes(q) || ctx.tenantName(l.tenantId).toLowerCase().includes(q)
      || l.nodes.some((n) => n.toLowerCase().includes(q)) || l.gpus.some((g) => g.uuid.toLowerCase().includes(q));
  };

  /** Ids already looked up directly (a search for a lease id not among those loaded). */
  const lookedUp = new Set<string>();
  const draw = (): void => {
    const rows = leases.filter(matches);
    const q = search.value.trim();
    if (rows.length === 0 && /^lease_[0-9a-f]{8,}$/i.test(q) && !lookedUp.has(q)) {
      // Any lease is findable by id, loaded or not: ask for it.
      lookedUp.add(q);
      api<Lease>('GET', `/v1/leases/${encodeURIComponent(q)}`)
        .then((l) => { merge([l]); draw(); })
        .catch(() => undefined);
    }
    listSlot.replaceChildren(dataTable({
      cls: 'leases', columns, rows,
      rowAttrs: (l) => ({ 'data-lease': l.id, 'data-state': l.state }),
      empty: leases.length === 0 ? 'No leases yet.' : 'No lease matches these filters.',
    }));
    shown.textContent = `${rows.length} of ${leases.length} loaded`;
    more.hidden = cursor === null;
  };

  function replace(l: Lease): void {
    leases = leases.map((x) => (x.id === l.id ? l : x));
    draw();
  }

  const refillTenants = (): void => {
    const v = tenant.value;
    const ids = [...new Set(leases.map((l) => l.tenantId))].sort((a, b) => ctx.tenantName(a).localeCompare(ctx.tenantName(b)));
    tenant.replaceChildren(h('option', { value: '' }, 'Tenant: all'), ...ids.map((id) => h('option', { value: id }, ctx.tenantName(id))));
    tenant.value = ids.includes(v) ? v : '';
  };

  /** Adds leases to those loaded (a lease read again replaces its older copy), newest first. */
  const merge = (fresh: Lease[]): void => {
    const byId = new Map(leases.map((l) => [l.id, l]));
    for (const l of fresh) byId.set(l.id, l);
    leases = [...byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  };
  let olderLoaded = false;

  /** Reads the newest page again (a live refresh keeps the older pages already loaded). */
  const reload = async (): Promise<void> => {
    const page = await api<LeasePage>('GET', `/v1/leases?limit=${PAGE_SIZE}`);
    merge(page.leases);
    if (!olderLoaded) cursor = page.nextCursor;
    if (operator) refillTenants();
    draw();
  };

  more.addEventListener('click', () => {
    if (cursor === null) return;
    more.disabled = true;
    api<LeasePage>('GET', `/v1/leases?limit=${PAGE_SIZE}&before=${encodeURIComponent(cursor)}`)
      .then((page) => {
        olderLoaded = true;
        merge(page.leases);
        cursor = page.nextCursor;
        if (operator) refillTenants();
        draw();
      })
      .catch(ctx.onError)
      .finally(() => { more.disabled = false; });
  });
  // Redraw only when a filter's value changed: a search field's `change` on blur (e.g. when a row's
  // link is clicked) must not replace the row under the pointer.
  let lastFilters = '';
  const onFilter = (): void => {
    const now = JSON.stringify([search.value, tenant.value, state.value, klass.value, model.value]);
    if (now === lastFilters) return;
    lastFilters = now;
    draw();
  };
  filters.addEventListener('input', onFilter);
  filters.addEventListener('change', onFilter);
  filters.addEventListener('submit', (ev) => ev.preventDefault());
  const refresh = coalesce(reload, ctx.onError);
  ctx.onEvents((events) => {
    if (events.length === 0 || events.some((e) => e.type.startsWith('dev.neocloud.lease.'))) refresh();
  });

  await reload();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Leases'), shown, h('a', { class: 'button', href: '#/new-lease' }, 'New lease')),
    filters,
    h('div', { class: 'panel flush' }, listSlot),
    more);
}

export const leasesPage: Page = { route: 'leases', title: 'Leases', roles: ['operator', 'tenant'], render };
