/**
 * One node (operator; #/fleet/SITE/HALL/FABRIC/NODE in the drill-down, or #/node/ID): its state and why (the operator's drain or cordon, a health
 * verdict with its reason and since when), its agent and last heartbeat, measured power (facility
 * and GPU boards) with the last hour per minute, the latest reading of each GPU, and the node
 * commands Drain, Cordon, Resume and Recover, each after a confirmation saying what it does. A
 * one-time enrolment token for the node's agent is created here and shown once. Re-read when the
 * log moves (a command, a health verdict) and every 30 s (heartbeats are not events).
 */
import { api } from './api.js';
import { lineChart } from './charts.js';
import { coalesce, h, setChildren } from './dom.js';
import { count, kilowatts, utc } from './format.js';
import { secretBox } from './keys-view.js';
import { dataTable } from './tables.js';
import type { EnrolmentToken, NodeView } from './types.js';
import type { Page, ViewContext } from './view.js';
import { confirmDialog, fact } from './widgets.js';

type Command = 'drain' | 'cordon' | 'resume' | 'recover';

/** What each command does, in the words of the confirmation. */
const COMMANDS: Record<Command, { label: string; title: (id: string) => string; body: string; danger: boolean }> = {
  drain: { label: 'Drain', title: (id) => `Drain node ${id}?`, body: 'No new leases will be placed on it; leases running there finish. Its agent is told.', danger: false },
  cordon: { label: 'Cordon', title: (id) => `Cordon node ${id}?`, body: 'It goes out of service now: its leases are moved to other nodes (or fail when none fits). Its agent is told.', danger: true },
  resume: { label: 'Resume', title: (id) => `Resume node ${id}?`, body: 'Clears the drain or cordon: the node returns to what the fleet spec and its health say.', danger: false },
  recover: { label: 'Recover', title: (id) => `Recover node ${id}?`, body: 'Clears its health verdict (after repair): it returns to service unless drained, cordoned or down in the fleet spec.', danger: false },
};

/** Why the node is in its state, in plain words; null when it is simply ready. */
export function reasonOf(n: NodeView): string | null {
  const parts: string[] = [];
  if (n.admin === 'drain') parts.push('Drained by the operator: no new leases; running ones finish.');
  if (n.admin === 'cordon') parts.push('Cordoned by the operator: out of service.');
  if (n.healthReason) parts.push(`Down by health: ${n.healthReason}${n.healthSince ? ` (since ${utc(n.healthSince)})` : ''}.`);
  if (parts.length === 0 && n.state !== 'ready') parts.push(`${n.state} in the fleet spec.`);
  return parts.length ? parts.join(' ') : null;
}

/** Which commands make sense now (the others are shown disabled). */
const enabled = (n: NodeView, c: Command): boolean =>
  c === 'drain' ? n.admin !== 'drain' : c === 'cordon' ? n.admin !== 'cordon' : c === 'resume' ? n.admin !== null : n.healthReason !== null;

const orDash = (v: number | null, unit: string, digits = 0): string => (v === null ? '—' : `${v.toFixed(digits)}${unit}`);

/**
 * Draws node `id` into `el` and keeps it fresh. `crumbs`: the drill-down above it (label, href),
 * from the fleet pages (#/fleet/SITE/HALL/FABRIC/NODE); just "Fleet" on #/node/ID.
 */
export async function nodeDetail(el: HTMLElement, ctx: ViewContext, id: string, crumbs: [string, string][]): Promise<void> {
  const path = `/v1/nodes/${encodeURIComponent(id)}`;
  const tokenSlot = h('div', { class: 'token-slot' });

  const run = async (n: NodeView, c: Command): Promise<void> => {
    const spec = COMMANDS[c];
    const ok = await confirmDialog({ title: spec.title(n.nodeId), body: [h('p', {}, spec.body)], confirm: spec.label });
    if (!ok) return;
    try {
      draw(await api<NodeView>('POST', `${path}/${c}`));
      ctx.clearError();
      ctx.poke();
    } catch (err) {
      ctx.onError(err);
      void reload().catch(ctx.onError);
    }
  };

  const createToken = async (): Promise<void> => {
    try {
      const t = await api<EnrolmentToken>('POST', `${path}/enrolment-tokens`);
      ctx.clearError();
      tokenSlot.replaceChildren(secretBox(`Enrolment token for ${t.nodeId}`, t.token ?? '',
        `One use, until ${utc(t.expiresAt)}. On the node: neocloud agent --node-id ${t.nodeId} --url ${location.origin} --token <this token>`, 'Enrolment token'));
    } catch (err) {
      ctx.onError(err);
    }
  };

  const draw = (n: NodeView): void => {
    el.dataset['node'] = n.nodeId;
    el.dataset['state'] = n.state;
    const reason = reasonOf(n);
    const buttons = (Object.keys(COMMANDS) as Command[]).map((c) => {
      const b = h('button', { type: 'button', class: COMMANDS[c].danger ? 'danger' : 'secondary', 'data-command': c, disabled: !enabled(n, c) }, COMMANDS[c].label);
      b.addEventListener('click', () => { void run(n, c); });
      return b;
    });
    const tokenButton = h('button', { type: 'button', class: 'secondary', 'data-command': 'token' }, 'Create enrolment token');
    tokenButton.addEventListener('click', () => { void createToken(); });
    const a = n.agent;
    setChildren(el,
      h('nav', { class: 'crumbs', 'aria-label': 'Fleet drill-down' },
        ...crumbs.flatMap(([label, href]) => [h('a', { href }, label), h('span', { class: 'muted' }, ' › ')]), h('span', { 'aria-current': 'page' }, n.nodeId)),
      h('div', { class: 'view-head' },
        h('h1', { class: 'mono-title' }, n.nodeId),
        h('span', { class: `node-state node-${n.state}`, 'data-node-state': n.state }, n.state)),
      reason ? h('p', { class: `notice${n.state === 'down' ? ' warn' : ''}`, 'data-reason': '' }, reason) : null,
      h('section', { class: 'panel' },
        h('h2', {}, 'Commands'),
        h('div', { class: 'node-actions' }, ...buttons),
        h('p', { class: 'muted small' }, 'Drain: no new leases, running ones finish. Cordon: out of service now, its leases move. Resume undoes either; Recover clears a health verdict.')),
      h('div', { class: 'detail-grid' },
        h('section', { class: 'panel' },
          h('h2', {}, 'State'),
          h('dl', { class: 'facts' },
            fact('State', n.state, 'state'),
            fact('Operator', n.admin === 'drain' ? 'drained' : n.admin === 'cordon' ? 'cordoned' : 'none', 'admin'),
            fact('Health', n.healthReason ?? 'no fault reported', 'health'),
            fact('Unhealthy since', n.healthSince ? utc(n.healthSince) : '—', 'healthSince'))),
        h('section', { class: 'panel' },
          h('div', { class: 'panel-head' }, h('h2', {}, 'Agent'), tokenButton),
          tokenSlot,
          h('dl', { class: 'facts' },
            fact('Agent', a ? a.agentId : 'none enrolled', 'agent'),
            fact('Last heartbeat', a?.lastSeenAt ? utc(a.lastSeenAt) : 'never', 'lastSeen'),
            fact('Heartbeat every', a ? `${count(a.intervalMs / 1000)} s` : '—', 'interval'),
            fact('Command acknowledged', a?.acknowledged ?? '—', 'acknowledged'),
            fact('Measured draw now', n.measured ? kilowatts(n.measured.facilityW) : 'No agent reporting', 'measured'),
            fact('GPU boards', n.measured ? kilowatts(n.measured.gpuW) : '—', 'gpuW')))),
      n.history.length > 0
        ? h('section', { class: 'panel' }, h('h2', {}, 'Measured power, last hour'),
          lineChart({ label: `Measured GPU board power of ${n.nodeId} per minute, kW`, key: 'node-history', unit: 'kW', times: n.history.map((p) => p.minute), series: [{ name: 'Mean', values: n.history.map((p) => Math.round(p.meanW / 100) / 10), color: '#2563a8' }] }))
        : null,
      h('section', { class: 'panel flush' },
        h('h2', { class: 'pad' }, 'GPUs (latest reading)'),
        dataTable({
          cls: 'node-gpus', rows: n.gpus, rowAttrs: (g) => ({ 'data-gpu': g.uuid }),
          empty: 'No readings: no agent reporting.',
          columns: [
            { label: 'GPU', key: 'index', cls: 'num', cell: (g) => String(g.index) },
            { label: 'UUID', key: 'uuid', cls: 'mono', cell: (g) => g.uuid },
            { label: 'Power / limit', key: 'power', cls: 'num', cell: (g) => `${orDash(g.powerW, ' W')} / ${orDash(g.powerLimitW, ' W')}` },
            { label: 'Utilization', key: 'util', cls: 'num', cell: (g) => orDash(g.utilizationPct, '%') },
            { label: 'Temperature', key: 'temp', cls: 'num', cell: (g) => orDash(g.temperatureC, ' °C') },
            { label: 'Memory used', key: 'memory', cls: 'num', cell: (g) => orDash(g.memoryUsedMiB === null ? null : g.memoryUsedMiB / 1024, ' GiB', 1) },
            { label: 'ECC uncorrected', key: 'ecc', cls: 'num', cell: (g) => (g.eccUncorrected === null ? '—' : String(g.eccUncorrected)) },
          ],
        })));
  };

  const reload = async (): Promise<void> => draw(await api<NodeView>('GET', path));
  const refresh = coalesce(reload, ctx.onError);
  ctx.onEvents((events) => {
    if (events.length === 0 || events.some((e) => e.subject === id || e.type.startsWith('dev.neocloud.fleet.'))) refresh();
  });
  await reload();
}

async function render(el: HTMLElement, ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  if (!id) {
    location.hash = '#/fleet';
    return;
  }
  await nodeDetail(el, ctx, id, [['Fleet', '#/fleet']]);
}

export const nodePage: Page = { route: 'node', title: null, roles: ['operator'], render };
