/**
 * Tables that read on a phone: every cell carries its column's name (data-label), and under
 * 720 px styles.css stacks each row into a labelled card, so no column is cut off and the page
 * never scrolls sideways.
 */
import { h, type Attrs, type Child } from './dom.js';

export interface Column<T> {
  label: string;
  /** Cell classes (`num` right-aligns). */
  cls?: string;
  /** data-col on each cell, for tests and styling. */
  key?: string;
  cell(row: T): Child | Child[];
}

export function dataTable<T>(o: { cls: string; columns: Column<T>[]; rows: T[]; rowAttrs?: (row: T) => Attrs; empty?: string }): HTMLElement {
  if (o.rows.length === 0 && o.empty) return h('p', { class: 'muted empty' }, o.empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: `stack ${o.cls}` },
      h('thead', {}, h('tr', {}, ...o.columns.map((c) => h('th', { scope: 'col', class: c.cls }, c.label)))),
      h('tbody', {}, ...o.rows.map((r) => tableRow(o.columns, r, o.rowAttrs?.(r) ?? {})))));
}

export function tableRow<T>(columns: Column<T>[], r: T, attrs: Attrs): HTMLTableRowElement {
  return h('tr', attrs, ...columns.map((c) => {
    const v = c.cell(r);
    return h('td', { class: c.cls, 'data-col': c.key, 'data-label': c.label || undefined }, ...(Array.isArray(v) ? v : [v]));
  }));
}
