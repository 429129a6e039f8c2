/** Leases: newest first, paged by cursor, with a Release button on live leases. */
import { api } from './api.js';
import { h } from './dom.js';
import { dollars, utc } from './format.js';
import type { Lease, LeasePage } from './types.js';
import type { ViewContext } from './view.js';

const COLUMNS: [string, string][] = [
  ['Lease', ''], ['State', ''], ['GPUs', ''], ['Class', ''], ['Placement', ''],
  ['Start (UTC)', ''], ['End (UTC)', ''], ['Total', 'num'], ['', ''],
];

function leaseRow(l: Lease, ctx: ViewContext): HTMLTableRowElement {
  const action = h('td', { class: 'actions' });
  const row = h('tr', { 'data-lease': l.id, 'data-state': l.state },
    h('td', { class: 'mono' }, l.id),
    h('td', {}, h('span', { class: `state state-${l.state}` }, l.state)),
    h('td', { class: 'nowrap' }, `${l.gpuCount} × ${l.gpuModel}`),
    h('td', { class: 'nowrap' }, l.class),
    h('td', {}, l.placement),
    // A queued request has no window yet: it says how long it waits.
    l.state === 'queued' && l.queuedUntil
      ? h('td', { class: 'nowrap muted', colspan: '2' }, `waiting for capacity until ${utc(l.queuedUntil, false)}`)
      : h('td', { class: 'nowrap' }, utc(l.start, false)),
    ...(l.state === 'queued' && l.queuedUntil ? [] : [h('td', { class: 'nowrap' }, utc(l.end, false))]),
    h('td', { class: 'num' }, dollars(l.totalMicros)),
    action);
  if (l.state === 'active' || l.state === 'scheduled' || l.state === 'preempting' || l.state === 'queued') {
    const button = h('button', { type: 'button', class: 'danger' }, l.state === 'queued' ? 'Cancel' : 'Release');
    button.addEventListener('click', () => {
      button.disabled = true;
      api<Lease>('POST', `/v1/leases/${encodeURIComponent(l.id)}/release`, {})
        .then((released) => row.replaceWith(leaseRow(released, ctx)))
        .catch((err: unknown) => {
          button.disabled = false;
          ctx.onError(err);
        });
    });
    action.append(button);
  }
  return row;
}

export async function renderLeases(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const body = h('tbody');
  const empty = h('p', { class: 'muted', hidden: true }, 'No leases yet.');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load older leases');
  let cursor: string | null = null;

  const load = async (): Promise<void> => {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor !== null) q.set('before', cursor);
    const page = await api<LeasePage>('GET', `/v1/leases?${q.toString()}`);
    body.append(...page.leases.map((l) => leaseRow(l, ctx)));
    cursor = page.nextCursor;
    more.hidden = cursor === null;
    empty.hidden = body.childElementCount > 0;
  };
  more.addEventListener('click', () => {
    more.disabled = true;
    load().catch(ctx.onError).finally(() => { more.disabled = false; });
  });

  await load();
  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'Leases')),
    h('div', { class: 'panel table-wrap' },
      h('table', { class: 'leases' },
        h('thead', {}, h('tr', {}, ...COLUMNS.map(([c, cls]) => h('th', { scope: 'col', class: cls || undefined }, c)))),
        body),
      empty),
    more,
  );
}
