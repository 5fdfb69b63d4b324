// @ts-check
// DOM helpers of the web app: `h` (HTML elements) and `s` (SVG elements) build nodes from props and
// children, all text going in through textContent or text nodes; plus the page's shared pieces:
// toasts, banners, status pills and busy buttons.

/** The page's <main>, where the views render. */
export const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const SVG = 'http://www.w3.org/2000/svg';

/**
 * A prop value: `class` and `text` are strings, `style` an object of CSS properties, `on<event>` a
 * listener; null, undefined and false leave the prop out, true sets an empty attribute.
 * @typedef {string | number | boolean | null | undefined | Record<string, string> | ((ev: Event) => void)} PropValue
 */
/** @typedef {Record<string, PropValue>} Props */
/** @typedef {Node | string | number | boolean | null | undefined} KidItem */
/**
 * A child: nodes as they are, strings and numbers as text, null/undefined/false left out, arrays
 * flattened (`append` flattens any depth; the type allows two levels, all the views need).
 * @typedef {KidItem | Array<KidItem | KidItem[]>} Kid
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Kid} kids
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, kids);
  return el;
}

/**
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | null | undefined> | null} [attrs]
 * @param {...Kid} kids
 * @returns {SVGElementTagNameMap[K]}
 */
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  append(el, kids);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {Props | null | undefined} props
 */
function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = /** @type {string} */ (v);
    else if (k === 'text') el.textContent = /** @type {string} */ (v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') for (const [p, val] of Object.entries(/** @type {Record<string, string>} */ (v))) el.style.setProperty(p, val);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'readOnly') /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/**
 * @param {Element} el
 * @param {Kid[]} kids
 */
function append(el, kids) {
  for (const k of /** @type {KidItem[]} */ (kids.flat(Infinity))) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

/**
 * A message as text, with its `quoted` parts (commands, settings: the server's messages quote them
 * like that) as <code> elements instead of literal backticks.
 * @param {string | null | undefined} text
 * @returns {Array<string | HTMLElement>}
 */
export function withCode(text) {
  return String(text ?? '').split(/`([^`\n]+)`/).map((part, i) => (i % 2 ? h('code', { text: part }) : part)).filter((x) => x !== '');
}

/**
 * A short message under the header, at the right (one at a time).
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
export function toast(text, kind = 'info') {
  for (const old of document.querySelectorAll('.toast')) old.remove();
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, withCode(text));
  document.body.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

/**
 * @param {'ok' | 'error' | 'info' | 'warn'} kind
 * @param {...Kid} kids
 */
export function banner(kind, ...kids) {
  // Plain text kids (often the server's messages) show their `quoted` parts as code.
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...kids.map((k) => (typeof k === 'string' ? withCode(k) : k)));
}

/** @param {import('./types.js').ConnectorStatus} status */
export function pill(status) {
  return h('span', { class: `pill ${status}`, 'data-testid': 'status', text: status === 'new' ? 'not synced yet' : status === 'unusable' ? 'cannot sync' : status });
}

/**
 * Disables a button and shows a spinner with `label`; the returned function restores it.
 * @param {HTMLButtonElement} button
 * @param {string} label
 * @returns {() => void}
 */
export function busy(button, label) {
  const old = [...button.childNodes];
  button.disabled = true;
  button.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
  return () => {
    button.disabled = false;
    button.replaceChildren(...old);
  };
}
