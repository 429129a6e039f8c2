/**
 * The console shell: sign-in, role detection, hash routing between the views, and the error
 * banner. The operator key sees the fleet and the scheduler; a tenant key gets 403 from
 * GET /v1/fleet and sees leases and capacity only.
 */
import { ApiError, api, apiKey } from './api.js';
import { renderCapacity } from './capacity-view.js';
import { byId, h } from './dom.js';
import { renderFleet } from './fleet-view.js';
import { renderLeases } from './leases-view.js';
import { renderScheduler } from './scheduler-view.js';
import type { Tenant } from './types.js';
import type { ViewContext } from './view.js';

type Role = 'operator' | 'tenant';
type Route = 'fleet' | 'leases' | 'capacity' | 'scheduler';

const VIEWS: Record<Route, (el: HTMLElement, ctx: ViewContext) => Promise<void>> = {
  fleet: renderFleet,
  leases: renderLeases,
  capacity: renderCapacity,
  scheduler: renderScheduler,
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

let role: Role | null = null;

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

const ctx: ViewContext = { onError: showError };

function signOut(clearBanner: boolean): void {
  apiKey.clear();
  role = null;
  if (clearBanner) clearError();
  tabs.hidden = true;
  account.hidden = true;
  view.hidden = true;
  view.replaceChildren();
  signIn.hidden = false;
  keyInput.value = '';
  keyInput.focus();
}

async function detectRole(): Promise<Role> {
  try {
    await api('GET', '/v1/fleet');
    return 'operator';
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return 'tenant';
    throw err;
  }
}

function currentRoute(): Route {
  const r = location.hash.replace(/^#\/?/, '');
  if (r === 'leases' || r === 'capacity') return r;
  if (r === 'scheduler' && role === 'operator') return r;
  return role === 'operator' ? 'fleet' : 'leases';
}

function render(): void {
  if (role === null) return;
  const route = currentRoute();
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
  try {
    role = await detectRole();
    who.textContent = role === 'operator'
      ? 'operator'
      : `tenant ${(await api<{ tenants: Tenant[] }>('GET', '/v1/tenants')).tenants[0]?.name ?? ''}`.trim();
  } catch (err) {
    signOut(false);
    showError(err);
    return;
  }
  byId<HTMLElement>('tab-fleet').hidden = role !== 'operator';
  byId<HTMLElement>('tab-scheduler').hidden = role !== 'operator';
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
