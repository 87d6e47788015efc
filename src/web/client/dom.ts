import { escapeText } from "../../term/sanitize.js";

/**
 * The page builds its DOM only through these helpers: every string becomes a text node (or an
 * attribute value set with `setAttribute`) after `escapeText`, the terminal's sanitiser, so a
 * field from outside is inert twice over: the browser never parses it as HTML, and control
 * characters, escape sequences and bidirectional overrides show as visible escapes (`\x1b`,
 * `\u202e`) instead of reordering or hiding the text around them. Nothing here, or anywhere
 * in the page's script, assigns HTML (a test checks the sources).
 */

export type Child = Node | string | number | null | undefined | false;
export type Attrs = Record<string, string | number | boolean | null | undefined>;

/** A field from outside, as inert single-line text. */
export function text(s: string | number | null | undefined): string {
  return s === null || s === undefined ? "-" : escapeText(String(s));
}

/** Multi-line text from outside (evidence): newlines and tabs kept, every other control escaped. */
export function multiline(s: string): string {
  return escapeText(s, { multiline: true });
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (/^on/i.test(k)) throw new Error(`event handler attribute ${k}: use addEventListener`);
      // through the CSSOM: the content security policy refuses style attributes
      if (k === "style") e.style.cssText = String(v);
      else e.setAttribute(k, v === true ? "" : text(String(v)));
    }
  }
  append(e, ...children);
  return e;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(text(c)) : c);
  }
}

/** Replace an element's children (text nodes and elements only). */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing from the page`);
  return e as T;
}

/** `14:03:07`, local time. */
export function clock(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
