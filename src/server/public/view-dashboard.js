// @ts-check
// The dashboard (`#/`): every connector with its status (a "stale" badge beside the name of one past
// its freshness limit), last and next sync, coverage and rows, live progress while one syncs, and
// the charts over all connectors (reloaded when a sync ends).

import { api, enc, errorText, meta } from './api.js';
import { chartsSection } from './charts.js';
import { banner, h, main, pill, withCode } from './dom.js';
import { coverageText, formatCount, localDateTime, relativeTime, shortDay, warehouseName } from './format.js';
import { current, startPolling } from './live.js';
import { connectorError, isActive, nextText, progressView, staleBadge, syncButton } from './parts.js';

/** @import { Connector } from './types.js' */

/** @param {number} seq the view's number (live.js) */
export async function dashboardView(seq) {
  const m = await meta();
  if (!current(seq)) return;
  const listCard = h('div', { class: 'card', 'data-testid': 'connector-list' }, h('p', { class: 'pad muted', text: 'Loading connectors…' }));
  const chartsHost = h('div');
  main.replaceChildren(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Connectors' }), h('p', { class: 'sub', text: `Rakuten Advertising affiliate reports, kept in sync with your ${m.warehouse ? `${warehouseName(m.warehouse.kind)} ` : ''}warehouse.` })),
      h('a', { class: 'btn primary', href: '#/new' }, '+ Add connector')),
    listCard, chartsHost);
  let last = '';
  /** @type {ReturnType<typeof chartsSection> | null} */
  let charts = null;
  /** @type {Set<string>} */
  let prevActive = new Set();
  startPolling(async () => {
    /** @type {import('./api.js').ApiResult<{ connectors: Connector[] }>} */
    const r = await api('GET', '/api/connectors');
    if (!current(seq)) return false;
    if (!r.ok) {
      listCard.replaceChildren(h('div', { class: 'pad' }, banner('error', errorText(r.data))));
      return false;
    }
    const list = r.data.connectors;
    const active = new Set(list.filter((c) => isActive(c.progress)).map((c) => c.name));
    const finished = [...prevActive].some((n) => !active.has(n));
    prevActive = active;
    const json = JSON.stringify(list) + Math.floor(Date.now() / 60000);
    if (json !== last) {
      last = json;
      listCard.replaceChildren(list.length ? connectorsTable(list) : emptyState());
    }
    if (!list.length) {
      chartsHost.replaceChildren();
      charts = null;
    } else if (!charts) {
      charts = chartsSection(null, 'All connectors');
      chartsHost.replaceChildren(charts.el);
      charts.load();
    } else if (finished) charts.load();
    if (charts) charts.setSyncing(active.size > 0);
    return active.size > 0;
  });
}

function emptyState() {
  return h('div', { class: 'empty' },
    h('h2', { text: 'No connectors yet' }),
    h('p', { text: 'A connector copies one Rakuten Advertising report into your warehouse, day by day, and keeps it up to date on a schedule. Add one with the "Get API" URL of your report.' }),
    h('a', { class: 'btn primary', href: '#/new' }, '+ Add your first connector'));
}

/** @param {Connector[]} list */
function connectorsTable(list) {
  const rows = [];
  for (const c of list) {
    const [next, nextSub] = nextText(c);
    const recent = c.progress && c.progress.finishedAt && Date.now() - Date.parse(c.progress.finishedAt) < 30_000;
    const showProgress = isActive(c.progress) || recent;
    const error = connectorError(c);
    const detail = showProgress || error;
    const cov = coverageText(c.coverage);
    rows.push(h('tr', { class: detail ? 'has-detail' : '', 'data-connector': c.name },
      h('td', { class: 'cell-name' }, h('a', { class: 'conn-name', href: `#/c/${enc(c.name)}`, text: c.name }), staleBadge(c), h('div', { class: 'conn-sub', text: `${c.reportKey} · ${c.dateType} dates · ${c.timeZone} · ${c.settings.currency}` })),
      h('td', { 'data-label': 'Status' }, pill(c.status)),
      h('td', { 'data-label': 'Last successful sync', title: c.lastSuccessAt ? localDateTime(c.lastSuccessAt) : '' }, c.lastSuccessAt ? relativeTime(c.lastSuccessAt) : h('span', { class: 'faint', text: 'never' })),
      h('td', { 'data-label': 'Next sync', title: c.nextRunAt ? localDateTime(c.nextRunAt) : '' }, next, nextSub ? h('div', { class: 'conn-sub', text: nextSub }) : null),
      // lastDay is set whenever firstDay is. "36 of 91" when days between the first and the last are missing.
      h('td', { class: 'num', 'data-label': 'Days covered', 'data-testid': 'days-covered', title: cov.missing ? `${cov.missing} of the ${cov.span} days from the first to the last synced day have no data yet` : null },
        cov.value, c.coverage.firstDay ? h('div', { class: 'conn-sub', text: `${shortDay(c.coverage.firstDay)} – ${shortDay(/** @type {string} */ (c.coverage.lastDay))}${cov.missing ? ` · ${cov.missing} missing` : ''}` }) : null),
      h('td', { class: 'num', 'data-label': 'Rows', 'data-testid': 'rows' }, formatCount(String(c.coverage.rows))),
      h('td', { class: 'num cell-actions' }, h('div', { class: 'actions end' }, syncButton(c.name), h('a', { class: 'btn small', href: `#/c/${enc(c.name)}` }, 'Open')))));
    if (detail) {
      rows.push(h('tr', { class: 'detail-row' }, h('td', { colspan: 7 },
        showProgress ? progressView(c.progress) : null,
        !showProgress && error ? h('div', { class: 'err-text', 'data-testid': 'last-error' }, h('span', {}, withCode(error))) : null)));
    }
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: 'conn-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Connector' }), h('th', { scope: 'col', text: 'Status' }), h('th', { scope: 'col', text: 'Last successful sync' }),
      h('th', { scope: 'col', text: 'Next sync' }), h('th', { scope: 'col', class: 'num', text: 'Days covered' }), h('th', { scope: 'col', class: 'num', text: 'Rows' }),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
    h('tbody', {}, rows)));
}
