/** Small presentational pieces shared by the views. */
import { h } from './dom.js';

/** A headline number; `key` names it for tests and styling (data-total). */
export function stat(label: string, value: string, key: string): HTMLElement {
  return h('div', { class: 'stat', 'data-total': key }, h('dt', {}, label), h('dd', {}, value));
}

/** One label/value pair inside a `<dl class="facts">`; `key` names it (data-fact). */
export function fact(label: string, value: string, key: string): HTMLElement {
  return h('div', { 'data-fact': key }, h('dt', {}, label), h('dd', {}, value));
}
