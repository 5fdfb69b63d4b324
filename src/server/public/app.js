// @ts-check
// Rakuten Connector web app, the entry module (index.html loads it): the hash router, the header's
// navigation and sign-out, the footer's warehouse line. Plain DOM, no framework, no network access
// beyond this server's own API (api.js); all text goes in through textContent (dom.js). The views:
// view-dashboard.js, view-connector.js, view-form.js, view-alerts.js.

import { AUTH, meta } from './api.js';
import { banner, h, main } from './dom.js';
import { warehouseName } from './format.js';
import { newView, current, stopPolling } from './live.js';
import { alertsView } from './view-alerts.js';
import { connectorView } from './view-connector.js';
import { dashboardView } from './view-dashboard.js';
import { setupView } from './view-form.js';

/** `#/` dashboard, `#/new` setup form, `#/alerts` alert channels and history, `#/c/<name>` a connector, `#/c/<name>/edit` its settings. */
async function route() {
  stopPolling();
  const seq = newView();
  const hash = location.hash || '#/';
  let m;
  let nav = 'dashboard';
  /** @type {() => Promise<void>} */
  let view;
  // The name is decoded when the view runs, so a malformed one fails inside the try below.
  if (hash === '#/' || hash === '#' || hash === '') view = () => dashboardView(seq);
  else if (hash === '#/new') {
    nav = 'new';
    view = () => setupView(seq, null);
  } else if (hash === '#/alerts') {
    nav = 'alerts';
    view = () => alertsView(seq);
  } else if ((m = /^#\/c\/([^/]+)\/edit$/.exec(hash))) {
    const name = m[1];
    view = () => setupView(seq, decodeURIComponent(name));
  } else if ((m = /^#\/c\/([^/]+)$/.exec(hash))) {
    const name = m[1];
    view = () => connectorView(seq, decodeURIComponent(name));
  } else view = async () => main.replaceChildren(h('h1', { text: 'Page not found' }), h('p', {}, h('a', { href: '#/', text: 'Back to the dashboard' })));
  for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('nav a[data-nav]'))) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    await view();
  } catch (e) {
    console.error(e);
    if (current(seq)) main.replaceChildren(banner('error', `This page failed to load: ${/** @type {Error} */ (e).message}`));
  }
}

window.addEventListener('hashchange', route);
if (AUTH === 'token') /** @type {HTMLFormElement} */ (document.querySelector('form.logout')).hidden = false;
meta().then((m) => {
  if (m.warehouse) /** @type {HTMLElement} */ (document.getElementById('foot-warehouse')).textContent = `Warehouse: ${warehouseName(m.warehouse.kind)} · ${m.warehouse.location}`;
});
route();
