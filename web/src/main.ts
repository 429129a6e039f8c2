/**
 * The console shell: sign-in, role detection (GET /v1/whoami), hash routing between the views,
 * and the error banner. The operator key sees the fleet and the scheduler; a tenant key sees its
 * leases, capacity and its API keys.
 */
import { ApiError, api, apiKey } from './api.js';
import { renderCapacity } from './capacity-view.js';
import { byId, h } from './dom.js';
import { renderFleet } from './fleet-view.js';
import { renderKeys } from './keys-view.js';
import { renderLeases } from './leases-view.js';
import { renderScheduler } from './scheduler-view.js';
import type { Tenant, WhoAmI } from './types.js';
import type { Session, ViewContext } from './view.js';

type Route = 'fleet' | 'leases' | 'capacity' | 'scheduler' | 'keys';

const VIEWS: Record<Route, (el: HTMLElement, ctx: ViewContext) => Promise<void>> = {
  fleet: renderFleet,
  leases: renderLeases,
  capacity: renderCapacity,
  scheduler: renderScheduler,
  keys: renderKeys,
};

const signIn = byId<HTMLElement>('sign-in');
const signInForm = byId<HTMLFormElement>('sign-in-form');
const keyInput = byId<HTMLInputElement>('api-key');
const tabs = byId<HTMLElement>('tabs');
const account = byId<HTMLElement>('account');
const who = byId<HTMLElement>('who');
const signOutLink = byId<HTMLAnchorElement>('sign-out');
const banner = byId<HTMLElement>('error');
const view = byId<HTMLElement>('view');

let session: Session | null = null;

function showError(err: unknown): void {
  const title = err instanceof ApiError ? err.title : 'Error';
  const detail = err instanceof ApiError ? err.detail : err instanceof Error ? err.message : String(err);
  banner.replaceChildren(h('strong', {}, `${title}: `), h('span', { class: 'detail' }, detail));
  banner.hidden = false;
  if (err instanceof ApiError && err.status === 401) signOut(false);
}

function clearError(): void {
  banner.hidden = true;
  banner.replaceChildren();
}

const ctx: ViewContext = {
  onError: showError,
  session: () => {
    if (session === null) throw new Error('signed out');
    return session;
  },
  async useKey(key) {
    apiKey.set(key);
    session = await whoAmI();
    return session;
  },
  signOut(reason) {
    history.replaceState(null, '', location.pathname);
    signOut(true);
    banner.replaceChildren(h('strong', {}, 'Signed out: '), h('span', { class: 'detail' }, reason));
    banner.hidden = false;
  },
};

function signOut(clearBanner: boolean): void {
  apiKey.clear();
  session = null;
  if (clearBanner) clearError();
  tabs.hidden = true;
  account.hidden = true;
  view.hidden = true;
  view.replaceChildren();
  signIn.hidden = false;
  keyInput.value = '';
  keyInput.focus();
}

async function whoAmI(): Promise<Session> {
  const me = await api<WhoAmI>('GET', '/v1/whoami');
  return { role: me.kind === 'admin' ? 'operator' : 'tenant', tenantId: me.tenantId, keyId: me.keyId };
}

function currentRoute(role: Session['role']): Route {
  const r = location.hash.replace(/^#\/?/, '');
  if (r === 'leases' || r === 'capacity' || r === 'keys') return r;
  if ((r === 'fleet' || r === 'scheduler') && role === 'operator') return r;
  return role === 'operator' ? 'fleet' : 'leases';
}

function render(): void {
  if (session === null) return;
  const route = currentRoute(session.role);
  tabs.querySelectorAll<HTMLAnchorElement>('a[data-route]').forEach((a) => {
    if (a.dataset['route'] === route) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  clearError();
  // A fresh container per navigation: a slow view that finishes late writes into a detached node.
  const el = h('div', { class: 'view', 'data-view': route }, h('p', { class: 'muted' }, 'Loading…'));
  view.replaceChildren(el);
  VIEWS[route](el, ctx).catch(showError);
}

async function start(): Promise<void> {
  if (apiKey.get() === null) return signOut(false);
  let me: Session;
  try {
    me = await whoAmI();
    who.textContent = me.role === 'operator'
      ? 'operator'
      : `tenant ${(await api<{ tenants: Tenant[] }>('GET', '/v1/tenants')).tenants[0]?.name ?? ''}`.trim();
  } catch (err) {
    signOut(false);
    showError(err);
    return;
  }
  session = me;
  byId<HTMLElement>('tab-fleet').hidden = me.role !== 'operator';
  byId<HTMLElement>('tab-scheduler').hidden = me.role !== 'operator';
  signIn.hidden = true;
  tabs.hidden = false;
  account.hidden = false;
  view.hidden = false;
  render();
}

signInForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = keyInput.value.trim();
  if (key === '') return;
  clearError();
  apiKey.set(key);
  void start();
});

signOutLink.addEventListener('click', (ev) => {
  ev.preventDefault();
  history.replaceState(null, '', location.pathname);
  signOut(true);
});

window.addEventListener('hashchange', render);
void start();
