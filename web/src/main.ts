/**
 * The console shell: sign-in, who the caller is (GET /v1/me: no probing of operator routes), hash
 * routing between the pages of pages.ts (`#/route/param…`), the nav for the role, the error
 * banner, and the live feed of the event log that keeps the open page current.
 */
import { ApiError, api, apiAll, apiKey } from './api.js';
import { byId, h } from './dom.js';
import { utcClock } from './format.js';
import { LiveFeed, type LiveEvent } from './live.js';
import { PAGES, homeOf } from './pages.js';
import type { Tenant } from './types.js';
import type { Page, Session, ViewContext } from './view.js';

interface Me { role: 'operator' | 'tenant'; tenantId: string | null; tenantName: string | null; keyId: string; eventCursor: string; asOf: string }

const signIn = byId<HTMLElement>('sign-in');
const signInForm = byId<HTMLFormElement>('sign-in-form');
const keyInput = byId<HTMLInputElement>('api-key');
const tabs = byId<HTMLElement>('tabs');
const account = byId<HTMLElement>('account');
const who = byId<HTMLElement>('who');
const asOf = byId<HTMLElement>('as-of');
const signOutLink = byId<HTMLAnchorElement>('sign-out');
const banner = byId<HTMLElement>('error');
const view = byId<HTMLElement>('view');

let session: Session | null = null;
let feed: LiveFeed | null = null;
let tenants = new Map<string, string>();
/** The control plane's clock minus the browser's, from GET /v1/me (ms). */
let clockOffsetMs = 0;
/** The open page's event listeners: dropped on navigation. */
let pageListeners: ((events: LiveEvent[]) => void)[] = [];

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

async function loadTenants(): Promise<void> {
  if (session?.role !== 'operator') return;
  const list = await apiAll<Tenant>('/v1/tenants', 'tenants');
  tenants = new Map([['ten_owner', 'owner (internal)'], ...list.map((t): [string, string] => [t.id, t.name])]);
}

function makeContext(params: string[]): ViewContext {
  return {
    onError: showError,
    clearError,
    params,
    session: () => {
      if (session === null) throw new Error('signed out');
      return session;
    },
    async useKey(key) {
      apiKey.set(key);
      const next = (await whoAmI()).session;
      session = next;
      return next;
    },
    signOut(reason) {
      history.replaceState(null, '', location.pathname);
      signOut(true);
      banner.replaceChildren(h('strong', {}, 'Signed out: '), h('span', { class: 'detail' }, reason));
      banner.hidden = false;
    },
    onEvents(fn) { pageListeners.push(fn); },
    poke() { feed?.poke(); },
    tenantName(id) {
      if (session?.role === 'tenant') return id === session.tenantId ? (session.tenantName ?? id) : id;
      return tenants.get(id) ?? id;
    },
    reloadTenants: loadTenants,
    serverNowMs: () => Date.now() + clockOffsetMs,
  };
}

function signOut(clearBanner: boolean): void {
  apiKey.clear();
  session = null;
  feed?.stop();
  feed = null;
  pageListeners = [];
  if (clearBanner) clearError();
  tabs.hidden = true;
  account.hidden = true;
  asOf.hidden = true;
  view.hidden = true;
  view.replaceChildren();
  signIn.hidden = false;
  keyInput.value = '';
  keyInput.focus();
}

async function whoAmI(): Promise<{ session: Session; cursor: string }> {
  const me = await api<Me>('GET', '/v1/me');
  clockOffsetMs = Date.parse(me.asOf) - Date.now();
  return { session: { role: me.role, tenantId: me.tenantId, tenantName: me.tenantName, keyId: me.keyId }, cursor: me.eventCursor };
}

/** `#/leases/lse_1` → { route: 'leases', params: ['lse_1'] }; ids are URI-decoded. */
function parseHash(): { route: string; params: string[] } {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { route: parts[0] ?? '', params: parts.slice(1) };
}

function forbidden(el: HTMLElement, page: Page): void {
  el.dataset['view'] = 'forbidden';
  el.replaceChildren(h('section', { class: 'panel' },
    h('h1', {}, 'Not available'),
    ...(page.roles.includes('operator')
      ? [h('p', {}, `${page.title ?? 'This page'} is for the operator. A tenant key sees its own leases, capacity, billing and keys.`),
        h('a', { href: `#/${homeOf('tenant')}` }, 'Go to your leases')]
      : [h('p', {}, `${page.title ?? 'This page'} is a tenant's own page; the operator sees every tenant's on Revenue.`),
        h('a', { href: '#/revenue' }, 'Go to Revenue')])));
}

function render(): void {
  if (session === null) return;
  const { route, params } = parseHash();
  pageListeners = [];
  let page = PAGES.find((p) => p.route === route);
  if (!page) {
    page = PAGES.find((p) => p.route === homeOf(session!.role))!;
    history.replaceState(null, '', `#/${page.route}`);
  }
  tabs.querySelectorAll<HTMLAnchorElement>('a[data-route]').forEach((a) => {
    const current = a.dataset['route'] === page!.route || (page!.route === 'lease' && a.dataset['route'] === 'leases');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  clearError();
  // A fresh container per navigation: a slow view that finishes late writes into a detached node.
  const el = h('div', { class: 'view', 'data-view': page.route }, h('p', { class: 'muted' }, 'Loading…'));
  view.replaceChildren(el);
  window.scrollTo(0, 0);
  if (!page.roles.includes(session.role)) return forbidden(el, page);
  page.render(el, makeContext(params)).catch(showError);
}

function buildNav(role: Session['role']): void {
  tabs.replaceChildren(...PAGES.filter((p) => p.title !== null && p.roles.includes(role)).map((p) =>
    h('a', { href: `#/${p.route}`, 'data-route': p.route, id: `tab-${p.route}` }, p.title!)));
}

function setAsOf(ms: number | null, err?: unknown): void {
  asOf.hidden = false;
  if (ms === null) {
    asOf.classList.add('stale');
    asOf.textContent = `not updating (${err instanceof ApiError ? err.title : 'offline'})`;
    if (err instanceof ApiError && err.status === 401) showError(err);
    return;
  }
  asOf.classList.remove('stale');
  asOf.dataset['asOf'] = new Date(ms).toISOString();
  asOf.textContent = `Live · as of ${utcClock(ms)}`;
}

async function start(): Promise<void> {
  if (apiKey.get() === null) return signOut(false);
  let me: { session: Session; cursor: string };
  try {
    me = await whoAmI();
  } catch (err) {
    signOut(false);
    showError(err);
    return;
  }
  session = me.session;
  who.textContent = session.role === 'operator' ? 'operator' : `tenant ${session.tenantName ?? session.tenantId ?? ''}`.trim();
  try {
    await loadTenants();
  } catch (err) {
    showError(err);
  }
  buildNav(session.role);
  feed?.stop();
  feed = new LiveFeed(me.cursor, setAsOf);
  feed.subscribe((events) => { for (const fn of [...pageListeners]) fn(events); });
  feed.start();
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
