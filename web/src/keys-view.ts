/**
 * API keys. A tenant key sees its tenant's keys, creates one (the secret is shown once) and
 * revokes one (with a confirmation; revoking the key in use signs the console out). The operator
 * sees the admin keys and rotates the admin key (the new key is shown once and the console switches
 * to it, since the old one is revoked at once), and picks a tenant to manage that tenant's keys.
 * Keys are listed by id and prefix; the API never returns a secret after the answer that created it.
 */
import { api, apiAll } from './api.js';
import { h } from './dom.js';
import { utc } from './format.js';
import type { CreatedKey, KeyView, RotatedAdminKey, Tenant } from './types.js';
import type { Page, ViewContext } from './view.js';
import { confirmDialog } from './widgets.js';

const COLUMNS: [string, string][] = [
  ['Key', ''], ['Prefix', ''], ['Created (UTC)', ''], ['Last used (UTC)', ''], ['Status', ''], ['', ''],
];

const keysPath = (tenantId: string): string => `/v1/tenants/${encodeURIComponent(tenantId)}/keys`;
const prefixOf = (k: KeyView): string => (k.prefix ? `${k.prefix}…` : '—');

function keyRow(k: KeyView, inUseId: string, onRevoke?: (k: KeyView) => void): HTMLTableRowElement {
  const inUse = k.id === inUseId;
  const action = h('td', { class: 'actions' });
  if (onRevoke && k.revokedAt === null) {
    const button = h('button', { type: 'button', class: 'danger' }, 'Revoke');
    button.addEventListener('click', () => onRevoke(k));
    action.append(button);
  }
  return h('tr', { 'data-key': k.id, 'data-state': k.revokedAt ? 'revoked' : 'active', 'data-in-use': inUse || undefined },
    // data-label names each cell where narrow screens stack a row into a card (styles.css).
    h('td', { class: 'nowrap', 'data-label': 'Key' }, h('span', { class: 'mono' }, k.id), inUse ? h('span', { class: 'badge in-use' }, 'in use') : null),
    h('td', { class: 'mono nowrap', 'data-col': 'prefix', 'data-label': 'Prefix' }, prefixOf(k)),
    h('td', { class: 'nowrap', 'data-label': 'Created (UTC)' }, utc(k.createdAt, false)),
    h('td', { class: 'nowrap', 'data-col': 'lastUsed', 'data-label': 'Last used (UTC)' }, k.lastUsedAt ? utc(k.lastUsedAt, false) : 'never'),
    k.revokedAt
      ? h('td', { class: 'nowrap', 'data-col': 'status', 'data-label': 'Status' }, h('span', { class: 'state state-revoked' }, 'revoked'), ` ${utc(k.revokedAt, false)}`)
      : h('td', { class: 'nowrap', 'data-col': 'status', 'data-label': 'Status' }, h('span', { class: 'state state-active' }, 'active')),
    action);
}

function keyTable(keys: KeyView[], inUseId: string, onRevoke?: (k: KeyView) => void): HTMLElement {
  if (keys.length === 0) return h('p', { class: 'muted' }, 'No keys.');
  const sorted = [...keys].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || b.createdAt.localeCompare(a.createdAt));
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'keys' },
      h('thead', {}, h('tr', {}, ...COLUMNS.map(([c, cls]) => h('th', { scope: 'col', class: cls || undefined }, c)))),
      h('tbody', {}, ...sorted.map((k) => keyRow(k, inUseId, onRevoke)))));
}

/** Copies text; the Clipboard API needs a secure context, so fall back to selecting the field. */
async function copy(text: string, field: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    field.focus();
    field.select();
    return document.execCommand('copy');
  }
}

/** The secret of a new key, shown once, with a copy button; Done forgets it. */
export function secretBox(title: string, secret: string, note: string, fieldLabel = 'New API key'): HTMLElement {
  const field = h('input', { type: 'text', readonly: true, class: 'mono', value: secret, 'aria-label': fieldLabel, spellcheck: 'false', autocomplete: 'off' });
  const copyButton = h('button', { type: 'button', class: 'secondary' }, 'Copy');
  const done = h('button', { type: 'button', class: 'secondary' }, 'Done');
  const box = h('div', { class: 'secret', role: 'status', 'data-secret': '' },
    h('h3', {}, title),
    h('p', { class: 'shown-once' }, h('strong', {}, 'Shown once. '), 'Copy it now: neocloud keeps only a hash of it and cannot show it again.'),
    h('div', { class: 'secret-row' }, field, copyButton),
    note ? h('p', { class: 'muted' }, note) : null,
    done);
  copyButton.addEventListener('click', () => {
    void copy(secret, field).then((ok) => { copyButton.textContent = ok ? 'Copied' : 'Select and copy'; });
  });
  done.addEventListener('click', () => {
    field.value = '';
    box.remove();
  });
  return box;
}

/** One tenant's keys: list, create, revoke. */
function tenantKeys(ctx: ViewContext, tenantId: string, heading: string): { el: HTMLElement; load: () => Promise<void> } {
  const create = h('button', { type: 'button' }, 'Create key');
  const secretSlot = h('div');
  const list = h('div', { class: 'keys-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'panel', 'data-keys': 'tenant', 'data-tenant': tenantId },
    h('div', { class: 'panel-head' }, h('h2', {}, heading), create),
    secretSlot, list);

  const load = async (): Promise<void> => {
    const res = { keys: await apiAll<KeyView>(keysPath(tenantId), 'keys') };
    list.replaceChildren(keyTable(res.keys, ctx.session().keyId, revoke));
  };

  const revoke = (k: KeyView): void => {
    const inUse = k.id === ctx.session().keyId;
    void confirmDialog({
      title: `Revoke key ${k.id}?`,
      body: [
        h('p', {}, `The key ${prefixOf(k)} stops working at once for everything that uses it. This cannot be undone.`),
        inUse ? h('p', { class: 'warn' }, h('strong', {}, 'This is the key this console is signed in with. '), 'Revoking it signs you out now.') : null,
      ],
      confirm: 'Revoke key',
    }).then(async (ok) => {
      if (!ok) return;
      await api<KeyView>('POST', `${keysPath(tenantId)}/${encodeURIComponent(k.id)}/revoke`, {});
      if (inUse) return ctx.signOut(`the key this console used (${k.id}) was revoked.`);
      await load();
    }).catch(ctx.onError);
  };

  create.addEventListener('click', () => {
    create.disabled = true;
    api<CreatedKey>('POST', keysPath(tenantId), {})
      .then(async (res) => {
        secretSlot.replaceChildren(res.apiKey
          ? secretBox(`New key ${res.key.id}`, res.apiKey, '')
          : h('p', { class: 'muted' }, `Key ${res.key.id} was created by an earlier request; its secret cannot be shown again.`));
        await load();
      })
      .catch(ctx.onError)
      .finally(() => { create.disabled = false; });
  });
  return { el, load };
}

async function renderTenant(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const tenantId = ctx.session().tenantId;
  if (tenantId === null) throw new Error('a tenant key without a tenant');
  const own = tenantKeys(ctx, tenantId, 'Your keys');
  await own.load();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'API keys')),
    h('p', { class: 'muted note' }, 'Keys act as your tenant on the API and the console. A revoked key stops working at once.'),
    own.el);
}

async function renderOperator(el: HTMLElement, ctx: ViewContext): Promise<void> {
  // ---- admin keys ----
  const rotate = h('button', { type: 'button' }, 'Rotate admin key');
  const adminSecret = h('div');
  const adminList = h('div', { class: 'keys-list' });
  const loadAdmin = async (): Promise<void> => {
    const res = { keys: await apiAll<KeyView>('/v1/admin/keys', 'keys') };
    adminList.replaceChildren(keyTable(res.keys.filter((k) => k.revokedAt === null), ctx.session().keyId));
    const revoked = res.keys.length - res.keys.filter((k) => k.revokedAt === null).length;
    if (revoked > 0) {
      adminList.append(h('details', { class: 'revoked-keys' },
        h('summary', {}, `${revoked} revoked admin key${revoked === 1 ? '' : 's'}`),
        keyTable(res.keys.filter((k) => k.revokedAt !== null), ctx.session().keyId)));
    }
  };
  rotate.addEventListener('click', () => {
    const current = ctx.session().keyId;
    void confirmDialog({
      title: 'Rotate the admin key?',
      body: [
        h('p', {}, 'A new admin key is created and shown once; this console switches to it.'),
        h('p', { class: 'warn' }, h('strong', {}, `The key in use (${current}) is revoked at once. `),
          'Scripts and NEOCLOUD_API_KEY settings that use it stop working until they get the new key.'),
      ],
      confirm: 'Rotate admin key',
    }).then(async (ok) => {
      if (!ok) return;
      rotate.disabled = true;
      const res = await api<RotatedAdminKey>('POST', '/v1/admin/keys/rotate', {});
      if (res.apiKey === null) return ctx.signOut('the admin key was rotated by an earlier request; sign in with the new key.');
      await ctx.useKey(res.apiKey);
      adminSecret.replaceChildren(secretBox(`New admin key ${res.key.id}`, res.apiKey,
        `This console now uses it. ${res.revokedKeyId} is revoked. For the CLI: export NEOCLOUD_API_KEY=<the key above>`));
      await loadAdmin();
    }).catch(ctx.onError).finally(() => { rotate.disabled = false; });
  });

  // ---- a tenant's keys ----
  const tenants = await apiAll<Tenant>('/v1/tenants', 'tenants');
  const picker = h('select', { name: 'tenant', id: 'keys-tenant' },
    h('option', { value: '' }, tenants.length ? 'Choose a tenant…' : 'No tenants yet'),
    ...[...tenants].sort((a, b) => a.name.localeCompare(b.name)).map((t) => h('option', { value: t.id }, `${t.name} (${t.id})`)));
  const tenantSlot = h('div');
  picker.addEventListener('change', () => {
    const t = tenants.find((x) => x.id === picker.value);
    if (!t) return tenantSlot.replaceChildren();
    const section = tenantKeys(ctx, t.id, `Keys of ${t.name}`);
    tenantSlot.replaceChildren(section.el);
    section.load().catch(ctx.onError);
  });

  const preset = ctx.params[0];
  if (preset && tenants.some((t) => t.id === preset)) {
    picker.value = preset;
    picker.dispatchEvent(new Event('change'));
  }
  await loadAdmin();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'API keys')),
    h('section', { class: 'panel', 'data-keys': 'admin' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Admin keys'), rotate),
      adminSecret, adminList),
    h('section', { class: 'panel', 'data-keys': 'picker' },
      h('label', { class: 'field', for: 'keys-tenant' }, h('span', {}, 'Tenant keys'), picker)),
    tenantSlot);
}

async function renderKeys(el: HTMLElement, ctx: ViewContext): Promise<void> {
  await (ctx.session().role === 'operator' ? renderOperator(el, ctx) : renderTenant(el, ctx));
}

export const keysPage: Page = { route: 'keys', title: 'API keys', roles: ['operator', 'tenant'], render: renderKeys };
