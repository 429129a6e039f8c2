/**
 * New lease: model, count, start and duration or end (UTC, 24-hour), placement, class, region and
 * "queue if full"; a live quote (POST /v1/leases/quote: outcome, window, price, nodes, leases it
 * would preempt, or the largest request that fits, with a button to take it) before committing;
 * then the created lease with its GPUs and nodes. A tenant leases for itself; the operator for a
 * tenant or for internal work (class internal, the owner's account).
 */
import { ApiError, api, apiAll } from './api.js';
import { h, setChildren } from './dom.js';
import { count, fromUtcInput, money, utc } from './format.js';
import { leaseLink } from './leases-view.js';
import { gpusText, stateBadge } from './lease-ui.js';
import { GPU_MODELS, type Lease } from './types.js';
import type { Page, ViewContext } from './view.js';

const QUOTE_DELAY_MS = 250;
const INTERNAL = '__internal__';
/** Up to this many nodes the GPU list is shown unfolded. */
const MAX_OPEN_NODES = 8;

interface Quote {
  outcome: 'placed' | 'queued' | 'refused';
  gpuModel: string; gpuCount: number; class: string; placement: string; region: string | null;
  start: string; end: string; preemptedAt: string | null;
  priceMicrosPerGpuHour: string; currency: string; priceBasis: string | null; totalMicros: string; nodes: number; preempts: number;
  largestSatisfiable: number | null; detail: string | null;
}

const field = (label: string, control: HTMLElement, hint?: string): HTMLElement =>
  h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', { class: 'muted' }, hint) : null);

/** The created lease: its GPUs grouped by node. */
export function gpusByNode(l: Lease): HTMLElement {
  const byNode = new Map<string, string[]>();
  for (const g of l.gpus) byNode.set(g.nodeId, [...(byNode.get(g.nodeId) ?? []), g.uuid]);
  if (byNode.size === 0) return h('p', { class: 'muted' }, 'No GPUs held.');
  const list = h('ul', { class: 'nodes' }, ...[...byNode].map(([node, uuids]) =>
    h('li', { 'data-node': node }, h('strong', { class: 'mono' }, node), ` · ${uuids.length} GPU${uuids.length === 1 ? '' : 's'}`,
      h('div', { class: 'gpu-ids mono' }, uuids.join(' ')))));
  // A large gang's GPU ids run to pages: folded, one click away.
  return h('details', { class: 'gpu-list', open: byNode.size <= MAX_OPEN_NODES },
    h('summary', {}, `${byNode.size} node${byNode.size === 1 ? '' : 's'}, ${l.gpus.length} GPU${l.gpus.length === 1 ? '' : 's'}: node and GPU ids`), list);
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const operator = ctx.session().role === 'operator';
  const tenants = operator ? await apiAll<{ id: string; name: string }>('/v1/tenants', 'tenants') : [];
  const regions = [...new Set((await api<{ sites: { region: string }[] }>('GET', '/v1/capacity')).sites.map((s) => s.region))].sort();

  const forWhom = h('select', { name: 'tenantId' },
    h('option', { value: '' }, 'Choose a tenant…'),
    ...tenants.sort((a, b) => a.name.localeCompare(b.name)).map((t) => h('option', { value: t.id }, `${t.name} (${t.id})`)),
    h('option', { value: INTERNAL }, 'Internal work (owner account)'));
  const model = h('select', { name: 'gpuModel' }, ...GPU_MODELS.map((m) => h('option', { value: m }, m)));
  const gpuCount = h('input', { name: 'gpuCount', type: 'number', min: 1, step: 1, value: 8, inputmode: 'numeric', required: true });
  const start = h('input', { name: 'start', type: 'text', placeholder: 'now', autocomplete: 'off', spellcheck: 'false', inputmode: 'numeric' });
  const duration = h('input', { name: 'durationHours', type: 'number', min: 0.25, step: 0.25, value: 1 });
  const end = h('input', { name: 'end', type: 'text', placeholder: 'or give an end', autocomplete: 'off', spellcheck: 'false', inputmode: 'numeric' });
  const placement = h('select', { name: 'placement' }, ...['any', 'same-nvlink', 'same-fabric', 'same-site'].map((p) => h('option', { value: p }, p)));
  const klass = h('select', { name: 'class' }, ...['on-demand', 'reserved', 'spot'].map((c) => h('option', { value: c }, c)));
  const region = h('select', { name: 'region' }, h('option', { value: '' }, 'any'), ...regions.map((r) => h('option', { value: r }, r)));
  const queue = h('input', { name: 'queue', type: 'checkbox' });
  const maxWait = h('input', { name: 'maxWaitHours', type: 'number', min: 1, max: 168, step: 1, value: 24, disabled: true });
  const submit = h('button', { type: 'submit' }, 'Create lease');
  const quoteBox = h('section', { class: 'panel quote', 'aria-live': 'polite', 'data-quote': 'none' }, h('p', { class: 'muted' }, 'Fill in the request to see a quote.'));
  const resultBox = h('div', { class: 'created' });

  const form = h('form', { class: 'panel lease-form', novalidate: true },
    operator ? field('Lease for', forWhom) : null,
    h('div', { class: 'grid' },
      field('GPU model', model), field('GPU count', gpuCount),
      field('Placement', placement, 'the gang constraint'), field('Class', klass),
      field('Start (UTC)', start, 'YYYY-MM-DD HH:MM, 24-hour; empty: now'),
      field('Duration (hours)', duration), field('End (UTC)', end, 'instead of a duration'),
      field('Region', region)),
    h('label', { class: 'check' }, queue, h('span', {}, 'Queue if full: wait for capacity instead of being refused (starting now, with a duration)')),
    h('div', { class: 'narrow' }, field('Wait at most (hours)', maxWait)),
    h('div', { class: 'form-actions' }, submit));

  /** The request body from the form, or a message naming the field that is wrong. */
  const body = (): { ok: true; body: Record<string, unknown> } | { ok: false; field: string; detail: string } => {
    const b: Record<string, unknown> = { gpuModel: model.value, placement: placement.value, class: klass.value };
    const n = Number(gpuCount.value);
    if (!Number.isInteger(n) || n < 1) return { ok: false, field: 'gpuCount', detail: 'a whole number of GPUs, at least 1' };
    b['gpuCount'] = n;
    if (operator) {
      if (forWhom.value === INTERNAL) b['class'] = 'internal';
      else if (forWhom.value) b['tenantId'] = forWhom.value;
      else return { ok: false, field: 'tenantId', detail: 'choose the tenant to lease for, or internal work' };
    }
    const s = fromUtcInput(start.value);
    if (s === undefined) return { ok: false, field: 'start', detail: 'write it as YYYY-MM-DD HH:MM (UTC, 24-hour)' };
    if (s) b['start'] = s;
    const e = fromUtcInput(end.value);
    if (e === undefined) return { ok: false, field: 'end', detail: 'write it as YYYY-MM-DD HH:MM (UTC, 24-hour)' };
    if (e) b['end'] = e;
    else {
      const d = Number(duration.value);
      if (!(d > 0)) return { ok: false, field: 'durationHours', detail: 'more than 0 hours' };
      b['durationHours'] = d;
    }
    if (region.value) b['region'] = region.value;
    if (queue.checked) {
      b['queue'] = true;
      const w = Number(maxWait.value);
      if (!(w > 0)) return { ok: false, field: 'maxWaitHours', detail: 'more than 0 hours' };
      b['maxWaitHours'] = w;
    }
    return { ok: true, body: b };
  };

  const showQuote = (q: Quote): void => {
    quoteBox.dataset['quote'] = q.outcome;
    const facts = (pairs: [string, string, string][]): HTMLElement => h('dl', { class: 'facts' },
      ...pairs.map(([k, label, v]) => h('div', { 'data-fact': k }, h('dt', {}, label), h('dd', {}, v))));
    if (q.outcome === 'refused') {
      const take = q.largestSatisfiable ? h('button', { type: 'button', class: 'secondary', 'data-take': q.largestSatisfiable }, `Use ${count(q.largestSatisfiable)} GPUs`) : null;
      take?.addEventListener('click', () => {
        gpuCount.value = String(q.largestSatisfiable);
        requestQuote();
      });
      setChildren(quoteBox, 
        h('h2', {}, 'Does not fit now'),
        h('p', { class: 'warn' }, q.detail ?? 'not enough free capacity for this request'),
        h('p', { 'data-largest': q.largestSatisfiable ?? 0 }, `The largest request of this shape that fits now: ${count(q.largestSatisfiable ?? 0)} GPUs.`),
        take,
        h('p', { class: 'muted' }, 'Or tick "Queue if full" to wait for capacity.'));
      return;
    }
    setChildren(quoteBox, 
      h('h2', {}, q.outcome === 'queued' ? 'Would wait in the queue' : 'Fits: quote'),
      facts([
        ['total', 'Total', money(q.totalMicros, q.currency)],
        ['price', 'Per GPU-hour', money(q.priceMicrosPerGpuHour, q.currency)],
        ['window', 'Window (UTC)', `${utc(q.start, false)} → ${utc(q.end, false)}`],
        ['nodes', 'Nodes', count(q.nodes)],
        ['preempts', 'Preempts', q.preempts ? `${count(q.preempts)} lease${q.preempts === 1 ? '' : 's'} (after notice)` : 'none'],
        ...(q.preemptedAt ? [['preemptedAt', 'Backfilled until', utc(q.preemptedAt)] as [string, string, string]] : []),
      ]),
      q.detail ? h('p', { class: 'muted' }, q.detail) : null);
  };

  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const requestQuote = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      const mine = ++seq;
      const b = body();
      if (!b.ok) {
        quoteBox.dataset['quote'] = 'invalid';
        quoteBox.replaceChildren(h('p', { class: 'warn', 'data-field': b.field }, `${b.field}: ${b.detail}`));
        return;
      }
      api<Quote>('POST', '/v1/leases/quote', b.body)
        .then((q) => { if (mine === seq) showQuote(q); })
        .catch((err: unknown) => {
          if (mine !== seq) return;
          if (err instanceof ApiError && err.status !== 401) {
            quoteBox.dataset['quote'] = 'invalid';
            quoteBox.replaceChildren(h('p', { class: 'warn' }, `${err.title}: ${err.detail}`));
          } else ctx.onError(err);
        });
    }, QUOTE_DELAY_MS);
  };

  queue.addEventListener('change', () => { maxWait.disabled = !queue.checked; });
  form.addEventListener('input', requestQuote);
  form.addEventListener('change', requestQuote);
  // The quote follows the fleet too: a lease made elsewhere changes what fits.
  ctx.onEvents(requestQuote);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const b = body();
    if (!b.ok) {
      ctx.onError(new ApiError(400, 'Invalid request', `${b.field}: ${b.detail}`));
      return;
    }
    submit.disabled = true;
    api<Lease>('POST', '/v1/leases', b.body)
      .then((l) => {
        ctx.clearError();
        ctx.poke();
        resultBox.replaceChildren(h('section', { class: 'panel created-lease', 'data-created': l.id, 'data-state': l.state },
          h('div', { class: 'panel-head' }, h('h2', {}, l.state === 'queued' ? 'Request queued' : 'Lease created'), stateBadge(l)),
          h('p', {}, leaseLink(l.id), ` · ${gpusText(l)}, ${l.class}, ${l.placement} · ${utc(l.start)} → ${utc(l.end)} · ${money(l.totalMicros, l.currency)}`),
          l.state === 'queued' && l.queuedUntil ? h('p', { class: 'muted' }, `Waiting for capacity until ${utc(l.queuedUntil)}.`) : null,
          h('h3', {}, `Nodes (${l.nodes.length})`),
          gpusByNode(l),
          h('p', {}, h('a', { href: '#/leases' }, 'All leases'), ' · ', h('a', { href: `#/lease/${encodeURIComponent(l.id)}` }, 'This lease\'s page'))));
        resultBox.scrollIntoView({ block: 'nearest' });
        requestQuote();
      })
      .catch(ctx.onError)
      .finally(() => { submit.disabled = false; });
  });

  el.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', {}, 'New lease'), h('span', { class: 'muted' }, 'times in UTC, 24-hour')),
    resultBox,
    h('div', { class: 'split' }, form, quoteBox));
  requestQuote();
}

export const leaseNewPage: Page = { route: 'new-lease', title: 'New lease', roles: ['operator', 'tenant'], render };
