/**
 * Tenants (operator): the list with each tenant's live leases and GPUs held, and creating a tenant
 * (its first API key is shown once). Each tenant links to its keys (issue, list, revoke) and its leases.
 */
import { api, apiAll } from './api.js';
import { coalesce, h } from './dom.js';
import { count, utc } from './format.js';
import { secretBox } from './keys-view.js';
import { isLive } from './lease-ui.js';
import { dataTable } from './tables.js';
import type { LeasePage } from './types.js';
import type { Page, ViewContext } from './view.js';

interface TenantView { id: string; name: string; createdAt: string }

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const name = h('input', { name: 'name', type: 'text', required: true, maxlength: 200, autocomplete: 'off', placeholder: 'acme-research', 'aria-label': 'Tenant name' });
  const create = h('button', { type: 'submit' }, 'Create tenant');
  const secretSlot = h('div');
  const list = h('div');
  const form = h('form', { class: 'inline-form' }, name, create);

  const load = async (): Promise<void> => {
    const [tenants, leases] = await Promise.all([
      apiAll<TenantView>('/v1/tenants', 'tenants').then((t) => ({ tenants: t })),
      api<LeasePage>('GET', '/v1/leases?limit=500'),
    ]);
    const live = new Map<string, { leases: number; gpus: number }>();
    for (const l of leases.leases) {
      if (!isLive(l) || l.state === 'queued') continue;
      const e = live.get(l.tenantId) ?? { leases: 0, gpus: 0 };
      e.leases++;
      e.gpus += l.gpuCount;
      live.set(l.tenantId, e);
    }
    const rows = [...tenants.tenants].sort((a, b) => a.name.localeCompare(b.name));
    list.replaceChildren(dataTable({
      cls: 'tenants', rows, rowAttrs: (t) => ({ 'data-tenant': t.id }),
      empty: 'No tenants yet.',
      columns: [
        { label: 'Tenant', key: 'name', cell: (t) => h('strong', {}, t.name) },
        { label: 'Id', key: 'id', cls: 'mono', cell: (t) => t.id },
        { label: 'Created (UTC)', key: 'created', cls: 'nowrap', cell: (t) => utc(t.createdAt, false) },
        { label: 'Live leases (recent 500)', key: 'live', cls: 'num', cell: (t) => count(live.get(t.id)?.leases ?? 0) },
        { label: 'GPUs held', key: 'gpus', cls: 'num', cell: (t) => count(live.get(t.id)?.gpus ?? 0) },
        { label: '', key: 'links', cls: 'actions', cell: (t) => [h('a', { href: `#/keys/${encodeURIComponent(t.id)}` }, 'Keys')] },
      ],
    }));
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    if (!n) return;
    create.disabled = true;
    api<{ tenant: TenantView; apiKey: string | null }>('POST', '/v1/tenants', { name: n })
      .then(async (res) => {
        ctx.clearError();
        name.value = '';
        secretSlot.replaceChildren(res.apiKey
          ? secretBox(`Tenant ${res.tenant.name} (${res.tenant.id}): its API key`, res.apiKey, 'Give it to the tenant; more keys can be issued on its Keys page.')
          : h('p', { class: 'muted' }, `Tenant ${res.tenant.id} was created by an earlier request; its key cannot be shown again.`));
        await ctx.reloadTenants();
        await load();
      })
      .catch(ctx.onError)
      .finally(() => { create.disabled = false; });
  });
  const refresh = coalesce(load, ctx.onError);
  ctx.onEvents((events) => { if (events.some((e) => e.type.startsWith('dev.neocloud.lease.'))) refresh(); });

  await load();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Tenants')),
    h('section', { class: 'panel', 'data-tenants': 'create' }, h('h2', {}, 'New tenant'), form, secretSlot),
    h('section', { class: 'panel flush' }, list));
}

export const tenantsPage: Page = { route: 'tenants', title: 'Tenants', roles: ['operator'], render };
