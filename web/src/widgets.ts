/** Small presentational pieces shared by the views. */
import { h, type Child } from './dom.js';
import { megawatts } from './format.js';

/** A headline number; `key` names it for tests and styling (data-total). */
export function stat(label: string, value: string, key: string): HTMLElement {
  return h('div', { class: 'stat', 'data-total': key }, h('dt', {}, label), h('dd', {}, value));
}

/** One label/value pair inside a `<dl class="facts">`; `key` names it (data-fact). */
export function fact(label: string, value: string, key: string): HTMLElement {
  return h('div', { 'data-fact': key }, h('dt', {}, label), h('dd', {}, value));
}

/** A used-vs-cap power meter in MW; watts arrive as numbers. */
export function powerMeter(label: string, usedW: number, capW: number): HTMLElement {
  const share = capW > 0 ? Math.min(1, usedW / capW) : 0;
  const fill = h('div', { class: 'meter-fill' });
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return h('div', { class: 'power' },
    h('div', { class: 'power-label' }, h('span', {}, label), h('span', {}, `${megawatts(usedW)} / ${megawatts(capW)}`)),
    h('div', {
      class: 'meter', role: 'meter', 'aria-label': label.toLowerCase(),
      'aria-valuemin': 0, 'aria-valuemax': capW, 'aria-valuenow': usedW,
    }, fill));
}

/**
 * A modal confirmation (a native <dialog>: focus trapped, Escape cancels). Resolves true when the
 * user confirms, false on Cancel or Escape; the dialog removes itself either way.
 */
export function confirmDialog(o: { title: string; body: Child[]; confirm: string; cancel?: string }): Promise<boolean> {
  const cancel = h('button', { type: 'button', class: 'secondary', value: 'cancel' }, o.cancel ?? 'Cancel');
  const ok = h('button', { type: 'button', class: 'danger-solid', value: 'confirm' }, o.confirm);
  const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
    h('h2', { id: 'confirm-title' }, o.title),
    ...o.body,
    h('div', { class: 'dialog-actions' }, cancel, ok));
  return new Promise((resolve) => {
    cancel.addEventListener('click', () => dialog.close('cancel'));
    ok.addEventListener('click', () => dialog.close('confirm'));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
