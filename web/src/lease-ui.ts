/**
 * Lease pieces shared by the list and the detail page: what ran beside what was booked, the
 * state badge (a preempting lease shows its deadline, not its booked end), and release with a
 * confirmation. A release refused because the lease changed elsewhere (409) re-reads the lease,
 * so the page never keeps a stale row with a live Release button.
 */
import { ApiError, api } from './api.js';
import { h, type Child } from './dom.js';
import { count, hours, money, utc } from './format.js';
import type { Lease } from './types.js';
import type { ViewContext } from './view.js';
import { confirmDialog } from './widgets.js';

export const isLive = (l: Lease): boolean => l.state === 'active' || l.state === 'scheduled' || l.state === 'preempting' || l.state === 'queued';

export function stateBadge(l: Lease): HTMLElement {
  return h('span', { class: `state state-${l.state}` }, l.state);
}

/** The booked window, or how long a queued request waits. */
export function windowText(l: Lease): Child[] {
  if (l.state === 'queued' && l.queuedUntil) return [h('span', { class: 'muted' }, `waiting for capacity until ${utc(l.queuedUntil, false)}`)];
  return [h('span', { class: 'nowrap' }, utc(l.start, false)), h('br'), h('span', { class: 'nowrap muted' }, `→ ${utc(l.end, false)}`)];
}

/** What actually ran: hours held so far, and when the hold ended (or the preemption deadline ahead). */
export function ranText(l: Lease): Child[] {
  if (l.state === 'preempting' && l.preemptedAt) {
    return [h('span', { class: 'nowrap' }, hours(l.usedMs)), h('br'), h('span', { class: 'nowrap warn', 'data-deadline': l.preemptedAt }, `preempted at ${utc(l.preemptedAt, false)}`)];
  }
  if (l.actualEnd) {
    const how = l.state === 'preempted' ? 'preempted' : l.state === 'failed' ? 'failed' : l.state === 'released' ? 'released' : 'ended';
    return [h('span', { class: 'nowrap' }, hours(l.usedMs)), h('br'), h('span', { class: 'nowrap muted', 'data-actual-end': l.actualEnd }, `${how} ${utc(l.actualEnd, false)}`)];
  }
  if (l.state === 'released' || l.state === 'expired') return [h('span', { class: 'muted' }, 'never ran')];
  if (l.state === 'scheduled' || l.state === 'queued') return [h('span', { class: 'muted' }, 'not started')];
  return [h('span', { class: 'nowrap' }, hours(l.usedMs)), h('br'), h('span', { class: 'nowrap muted' }, 'running')];
}

export const gpusText = (l: Lease): string => `${count(l.gpuCount)} × ${l.gpuModel}`;

/**
 * Asks, then releases (or cancels a queued request). Resolves to the lease as it now is: the
 * released lease, the re-read lease when the release was refused (409: it changed elsewhere), or
 * null when the user cancelled.
 */
export async function releaseWithConfirm(l: Lease, ctx: ViewContext): Promise<Lease | null> {
  const queued = l.state === 'queued';
  const ok = await confirmDialog({
    title: queued ? `Cancel request ${l.id}?` : `Release lease ${l.id}?`,
    body: [
      h('p', {}, `${gpusText(l)}, ${l.class}, ${ctx.session().role === 'operator' ? `tenant ${ctx.tenantName(l.tenantId)}, ` : ''}booked ${utc(l.start)} → ${utc(l.end)}.`),
      queued
        ? h('p', {}, 'The request stops waiting for capacity. Nothing has run, nothing is owed.')
        : h('p', {}, 'Its GPUs are freed now and whatever runs on them stops. ', h('strong', {}, 'This cannot be undone.')),
      queued ? null : h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Booked'), h('dd', {}, money(l.totalMicros, l.currency))),
        h('div', {}, h('dt', {}, 'Accrued so far'), h('dd', {}, money(l.accruedMicros, l.currency)))),
    ],
    confirm: queued ? 'Cancel request' : 'Release lease',
    cancel: 'Keep it',
  });
  if (!ok) return null;
  try {
    const released = await api<Lease>('POST', `/v1/leases/${encodeURIComponent(l.id)}/release`, {});
    ctx.poke();
    return released;
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      ctx.onError(err);
      return api<Lease>('GET', `/v1/leases/${encodeURIComponent(l.id)}`);
    }
    throw err;
  }
}

/** A Release (or Cancel) button for a live lease; `onDone` gets the lease as it now is. */
export function releaseButton(l: Lease, ctx: ViewContext, onDone: (l: Lease) => void): HTMLButtonElement | null {
  if (!isLive(l)) return null;
  const button = h('button', { type: 'button', class: 'danger' }, l.state === 'queued' ? 'Cancel' : 'Release');
  button.addEventListener('click', () => {
    button.disabled = true;
    releaseWithConfirm(l, ctx)
      .then((now) => { if (now) onDone(now); })
      .catch(ctx.onError)
      .finally(() => { button.disabled = false; });
  });
  return button;
}
