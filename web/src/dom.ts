/** Minimal element builders. Text is always set as text nodes, never parsed as HTML. */

export type Child = Node | string | number | null | undefined | false;
/** Attribute values: `true` sets a boolean attribute, `false`/`undefined` leave it out. */
export type Attrs = Record<string, string | number | boolean | undefined>;

function fill<E extends Element>(el: E, attrs: Attrs, children: Child[]): E {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
  return el;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  return fill(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

/** replaceChildren that skips null/false/undefined children (as h does). */
export function setChildren(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  fill(el, {}, children);
}

/**
 * Wraps an async refresh so that calls while one runs collapse into one more run after it: a burst
 * of events re-reads a page at most twice, never once per event.
 */
export function coalesce(fn: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    fn().catch(onError).finally(() => {
      running = false;
      if (again) {
        again = false;
        run();
      }
    });
  };
  return run;
}
