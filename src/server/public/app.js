// Rakuten Connector web app: setup form, dashboard, charts. Plain DOM, no framework, no
// network access beyond this server's own API. All text goes in through textContent.
import {
  formatCompact, formatCount, formatDuration, formatMoney, localDateTime, niceScale, relativeTime, shortDay,
} from './format.js';

const AUTH = document.documentElement.dataset.auth;
const main = document.getElementById('main');
const SVG = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------- helpers

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, kids);
  return el;
}

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  append(el, kids);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'readOnly') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

const enc = encodeURIComponent;

async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { errors: { network: 'the server did not answer: is `rakuten-connector serve` still running?' } } };
  }
  if (res.status === 401 && AUTH === 'token') {
    location.href = '/login';
    return new Promise(() => {});
  }
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  return { ok: res.ok, status: res.status, data };
}

const errorText = (data) => Object.values((data && data.errors) || { error: 'something went wrong' }).join('; ');

function toast(text, kind = 'info') {
  for (const old of document.querySelectorAll('.toast')) old.remove();
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', text });
  document.body.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

function banner(kind, ...kids) {
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...kids);
}

function pill(status) {
  return h('span', { class: `pill ${status}`, 'data-testid': 'status', text: status === 'new' ? 'not synced yet' : status === 'unusable' ? 'cannot sync' : status });
}

function busy(button, label) {
  const old = [...button.childNodes];
  button.disabled = true;
  button.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
  return () => {
    button.disabled = false;
    button.replaceChildren(...old);
  };
}

const isActive = (p) => Boolean(p && (p.state === 'running' || p.state === 'queued'));

let metaCache = null;
async function meta() {
  if (!metaCache) {
    const r = await api('GET', '/api/meta');
    if (r.ok) metaCache = r.data;
  }
  return metaCache || { requiredColumns: [], timeZones: ['GMT'], defaults: { lookbackDays: 30, startDaysAgo: 90 } };
}

// ---------------------------------------------------------------- polling

let pollFn = null;
let pollTimer = null;

function startPolling(fn) {
  stopPolling();
  pollFn = fn;
  pollTimer = setTimeout(pollLoop, 0);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollFn = null;
}

/** Poll soon (after a sync was started). */
function kick() {
  if (!pollFn) return;
  clearTimeout(pollTimer);
  pollTimer = setTimeout(pollLoop, 60);
}

async function pollLoop() {
  const fn = pollFn;
  if (!fn) return;
  let active = false;
  try {
    active = await fn();
  } catch (e) {
    console.error(e);
  }
  if (fn !== pollFn) return;
  pollTimer = setTimeout(pollLoop, active ? 700 : 8000);
}

// ---------------------------------------------------------------- router

let viewSeq = 0;

async function route() {
  stopPolling();
  const seq = ++viewSeq;
  const hash = location.hash || '#/';
  let m;
  let nav = 'dashboard';
  let view;
  if (hash === '#/' || hash === '#' || hash === '') view = () => dashboardView(seq);
  else if (hash === '#/new') {
    nav = 'new';
    view = () => setupView(seq, null);
  } else if ((m = /^#\/c\/([^/]+)\/edit$/.exec(hash))) view = () => setupView(seq, decodeURIComponent(m[1]));
  else if ((m = /^#\/c\/([^/]+)$/.exec(hash))) view = () => connectorView(seq, decodeURIComponent(m[1]));
  else view = async () => main.replaceChildren(h('h1', { text: 'Page not found' }), h('p', {}, h('a', { href: '#/', text: 'Back to the dashboard' })));
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    await view();
  } catch (e) {
    console.error(e);
    if (seq === viewSeq) main.replaceChildren(banner('error', `This page failed to load: ${e.message}`));
  }
}

const current = (seq) => seq === viewSeq;

// ---------------------------------------------------------------- progress

function progressView(p) {
  if (!p) return null;
  const total = p.windowsTotal || 0;
  const pct = p.state === 'success' ? 100 : total ? Math.round((p.windowsDone / total) * 100) : 0;
  const cls = p.state === 'queued' ? 'queued' : p.state === 'success' ? 'done' : p.state === 'failed' ? 'failed' : 'running';
  const what = p.kind === 'backfill' ? 'Backfill' : p.kind === 'manual' ? 'Sync' : p.kind === 'catch-up' ? 'Catch-up sync' : 'Scheduled sync';
  const range = p.rangeStart ? `${p.rangeStart} … ${p.rangeEnd}` : '';
  let text;
  if (p.state === 'queued') text = [h('b', { text: `${what} waiting` }), ' for a free sync slot…'];
  else if (p.state === 'running') {
    text = [
      h('b', { text: `${what} running` }), range ? ` · ${range}` : '',
      ` · ${p.windowsDone}/${total || '…'} windows · ${formatCount(String(p.rows))} rows · ${formatCount(String(p.rowsPerSec))} rows/s`,
      p.note ? ` · ${p.note}` : '',
    ];
  } else if (p.state === 'success') {
    text = [h('b', { text: `${what} finished` }), ` ${relativeTime(p.finishedAt)} · ${p.windowsDone}/${total} windows · ${formatCount(String(p.rows))} rows in ${formatDuration(p.elapsedMs)}`, p.rowsPerSec ? ` (${formatCount(String(p.rowsPerSec))} rows/s)` : ''];
  } else {
    text = [h('b', { text: `${what} failed` }), ` after ${p.windowsDone}/${total} windows: ${p.error || 'unknown error'}`];
  }
  return h('div', {
    class: `progress ${cls}`, 'data-testid': 'progress', 'data-state': p.state, role: 'progressbar', 'aria-label': `${what} progress`,
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct,
  },
  h('div', { class: 'bar' }, h('span', { style: { width: `${p.state === 'queued' ? 100 : Math.max(2, pct)}%` } })),
  h('div', { class: 'progress-text', 'data-testid': 'progress-text', 'aria-live': 'polite' }, text));
}

// ---------------------------------------------------------------- dashboard

async function dashboardView(seq) {
  const m = await meta();
  if (!current(seq)) return;
  const listCard = h('div', { class: 'card', 'data-testid': 'connector-list' }, h('p', { class: 'pad muted', text: 'Loading connectors…' }));
  const chartsHost = h('div');
  main.replaceChildren(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Connectors' }), h('p', { class: 'sub', text: `Rakuten Advertising affiliate reports, kept in sync with your ${m.warehouse ? m.warehouse.kind : ''} warehouse.` })),
      h('a', { class: 'btn primary', href: '#/new' }, '+ Add connector')),
    listCard, chartsHost);
  let last = '';
  let charts = null;
  let prevActive = new Set();
  startPolling(async () => {
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
    return active.size > 0;
  });
}

function emptyState() {
  return h('div', { class: 'empty' },
    h('h2', { text: 'No connectors yet' }),
    h('p', { text: 'A connector copies one Rakuten Advertising report into your warehouse, day by day, and keeps it up to date on a schedule. Add one with the "Get API" URL of your report.' }),
    h('a', { class: 'btn primary', href: '#/new' }, '+ Add your first connector'));
}

function syncButton(name, small = true) {
  const b = h('button', { class: `btn${small ? ' small' : ''}`, type: 'button', 'data-action': 'sync' }, 'Sync now');
  b.addEventListener('click', async () => {
    const done = busy(b, 'Starting…');
    const r = await api('POST', `/api/connectors/${enc(name)}/sync`, {});
    done();
    if (!r.ok) toast(errorText(r.data), 'error');
    kick();
  });
  return b;
}

function nextText(c) {
  if (c.settings.paused) return ['paused', null];
  if (!c.nextRunAt) return [c.schedule.type === 'manual' ? 'manual only' : '–', null];
  const kind = c.nextRunKind === 'retry' ? `retry after ${c.failures} failure${c.failures === 1 ? '' : 's'}` : c.nextRunKind === 'catch-up' ? 'catch-up' : c.schedule.label;
  return [relativeTime(c.nextRunAt), kind];
}

/** What is wrong with a connector: why it cannot be used at all, else its last failure. */
function connectorError(c) {
  return c.problem ? `Cannot sync: ${c.problem}` : c.lastError;
}

function connectorsTable(list) {
  const rows = [];
  for (const c of list) {
    const [next, nextSub] = nextText(c);
    const recent = c.progress && c.progress.finishedAt && Date.now() - Date.parse(c.progress.finishedAt) < 30_000;
    const showProgress = isActive(c.progress) || recent;
    const error = connectorError(c);
    const detail = showProgress || error;
    rows.push(h('tr', { class: detail ? 'has-detail' : '', 'data-connector': c.name },
      h('td', {}, h('a', { class: 'conn-name', href: `#/c/${enc(c.name)}`, text: c.name }), h('div', { class: 'conn-sub', text: `${c.reportKey} · ${c.dateType} dates · ${c.timeZone}` })),
      h('td', {}, pill(c.status)),
      h('td', { title: c.lastSuccessAt ? localDateTime(c.lastSuccessAt) : '' }, c.lastSuccessAt ? relativeTime(c.lastSuccessAt) : h('span', { class: 'faint', text: 'never' })),
      h('td', { title: c.nextRunAt ? localDateTime(c.nextRunAt) : '' }, next, nextSub ? h('div', { class: 'conn-sub', text: nextSub }) : null),
      h('td', { class: 'num' }, formatCount(String(c.coverage.days)), c.coverage.firstDay ? h('div', { class: 'conn-sub', text: `${shortDay(c.coverage.firstDay)} – ${shortDay(c.coverage.lastDay)}` }) : null),
      h('td', { class: 'num', 'data-testid': 'rows' }, formatCount(String(c.coverage.rows))),
      h('td', { class: 'num' }, h('div', { class: 'actions', style: { 'justify-content': 'flex-end' } }, syncButton(c.name), h('a', { class: 'btn small', href: `#/c/${enc(c.name)}` }, 'Open')))));
    if (detail) {
      rows.push(h('tr', { class: 'detail-row' }, h('td', { colspan: 7 },
        showProgress ? progressView(c.progress) : null,
        !showProgress && error ? h('div', { class: 'err-text', 'data-testid': 'last-error', text: error }) : null)));
    }
  }
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Connector' }), h('th', { scope: 'col', text: 'Status' }), h('th', { scope: 'col', text: 'Last successful sync' }),
      h('th', { scope: 'col', text: 'Next sync' }), h('th', { scope: 'col', class: 'num', text: 'Days covered' }), h('th', { scope: 'col', class: 'num', text: 'Rows' }),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
    h('tbody', {}, rows)));
}

// ---------------------------------------------------------------- charts

const SERIES = {
  sales: { label: 'Sales', color: 'var(--sales)', cls: 'sales', fmt: formatMoney },
  total_commissions: { label: 'Total commissions', color: 'var(--comm)', cls: 'comm', fmt: formatMoney },
  clicks: { label: 'Clicks', color: 'var(--clicks)', cls: 'clicks', fmt: formatCount },
  orders: { label: 'Orders', color: 'var(--orders)', cls: 'orders', fmt: formatCount },
};

function chartsSection(connector, title) {
  const key = 'rc.chartDays';
  let days = Number(sessionStorage.getItem(key)) === 90 ? 90 : 30;
  const sub = h('div', { class: 'sub' });
  const b30 = h('button', { type: 'button', 'aria-pressed': String(days === 30), 'data-days': '30' }, '30 days');
  const b90 = h('button', { type: 'button', 'aria-pressed': String(days === 90), 'data-days': '90' }, '90 days');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'pad muted', text: 'Loading charts…' }));
  const el = h('section', { class: 'card section', 'aria-label': `Performance: ${title}`, 'data-testid': 'charts' },
    h('div', { class: 'section-head' }, h('div', {}, h('h2', { text: `Performance · ${title}` }), sub),
      h('div', { class: 'seg', role: 'group', 'aria-label': 'Period' }, b30, b90)),
    body);
  let seq = 0;
  const load = async () => {
    const my = ++seq;
    const q = new URLSearchParams({ days: String(days) });
    if (connector) q.set('connector', connector);
    const r = await api('GET', `/api/charts?${q}`);
    if (my !== seq) return;
    if (!r.ok) {
      body.replaceChildren(h('div', { class: 'pad' }, banner('error', errorText(r.data))));
      return;
    }
    const d = r.data;
    sub.textContent = `Daily totals from the warehouse, ${d.from} to ${d.to} (${d.timeZone})`;
    body.replaceChildren(...renderCharts(d));
    body.setAttribute('aria-busy', 'false');
    el.dataset.loadedDays = String(d.days);
    el.dataset.from = d.from;
    el.dataset.to = d.to;
  };
  for (const b of [b30, b90]) {
    b.addEventListener('click', () => {
      days = Number(b.dataset.days);
      sessionStorage.setItem(key, String(days));
      b30.setAttribute('aria-pressed', String(days === 30));
      b90.setAttribute('aria-pressed', String(days === 90));
      load();
    });
  }
  return { el, load };
}

function totalBox(key, value, line) {
  const def = SERIES[key];
  return h('div', { class: 'total' },
    h('div', { class: 'label' }, h('span', { class: `swatch${line ? ' line' : ''}`, style: { background: def.color }, 'aria-hidden': 'true' }), def.label),
    h('div', { class: 'value', 'data-testid': `total-${key}`, 'data-value': value, text: def.fmt(value) }));
}

function renderCharts(d) {
  const t = d.totals;
  const empty = t.rows === 0;
  const fig = (title, bar, line) => h('figure', {},
    h('h3', { text: title }),
    h('div', { class: 'totals' }, totalBox(bar, t[bar], false), totalBox(line, t[line], true)),
    dualChart(d.series, bar, line, `${title}, ${d.from} to ${d.to}`));
  const out = [
    empty ? h('div', { class: 'pad', style: { 'padding-bottom': '0' } }, banner('info', 'No rows in this period yet. Run a sync to load data; days without rows show as zero.')) : null,
    h('div', { class: 'chart-grid' }, fig('Sales and total commissions', 'sales', 'total_commissions'), fig('Clicks and orders', 'clicks', 'orders')),
    dataTable(d),
    h('div', { class: 'top-grid' }, topTable('Top publishers by sales', d.topPublishers, 'top-publishers'), topTable('Top offers by sales', d.topOffers, 'top-offers')),
  ];
  return out.filter(Boolean);
}

/** Round tick step so `k` ticks cover max (both axes share the grid lines). */
function alignedScale(max, k) {
  if (!(max > 0)) return { max: k, step: 1 };
  const raw = max / k;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((v) => v >= raw - 1e-12) ?? 10 * mag;
  return { max: step * k, step };
}

function dualChart(series, barKey, lineKey, label) {
  const W = 640;
  const H = 240;
  const m = { l: 50, r: 50, t: 12, b: 28 };
  const iw = W - m.l - m.r;
  const ih = H - m.t - m.b;
  const n = series.length;
  const band = iw / Math.max(1, n);
  const bv = series.map((x) => Number(x[barKey]));
  const lv = series.map((x) => Number(x[lineKey]));
  const bs = niceScale(Math.max(0, ...bv), 4);
  const k = Math.round(bs.max / bs.step);
  const ls = alignedScale(Math.max(0, ...lv), k);
  const y = (v, sc) => m.t + ih - (Math.max(0, v) / sc.max) * ih;
  const bar = SERIES[barKey];
  const line = SERIES[lineKey];
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${bar.label} as bars (left axis), ${line.label} as a line (right axis), one point per day` });
  for (let i = 0; i <= k; i++) {
    const yy = y(i * bs.step, bs);
    svg.append(s('line', { class: i === 0 ? 'axis' : 'grid', x1: m.l, x2: W - m.r, y1: yy, y2: yy }));
    svg.append(s('text', { x: m.l - 8, y: yy + 4, 'text-anchor': 'end', class: `t-${bar.cls}` }, formatCompact(i * bs.step)));
    svg.append(s('text', { x: W - m.r + 8, y: yy + 4, 'text-anchor': 'start', class: `t-${line.cls}` }, formatCompact(i * ls.step)));
  }
  const bw = Math.max(1, band * (n > 45 ? 0.72 : 0.66));
  const bars = s('g', { class: `f-${bar.cls}`, 'aria-hidden': 'true' });
  series.forEach((d, i) => {
    const v = bv[i];
    if (!(v > 0)) return;
    const yy = y(v, bs);
    bars.append(s('rect', { x: m.l + i * band + (band - bw) / 2, y: yy, width: bw, height: Math.max(0.5, m.t + ih - yy), rx: Math.min(2.5, bw / 3) }));
  });
  svg.append(bars);
  const pts = series.map((d, i) => [m.l + i * band + band / 2, y(lv[i], ls)]);
  svg.append(s('path', { d: pts.map((p, i) => `${i ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(''), class: `s-${line.cls}`, fill: 'none', 'stroke-width': 2.25, 'stroke-linejoin': 'round', 'stroke-linecap': 'round', 'aria-hidden': 'true' }));
  if (n <= 31) {
    const dots = s('g', { class: `dots f-${line.cls}`, 'stroke-width': 1.5, 'aria-hidden': 'true' });
    for (const p of pts) dots.append(s('circle', { cx: p[0], cy: p[1], r: 3 }));
    svg.append(dots);
  }
  const every = Math.max(1, Math.ceil(n / 7));
  series.forEach((d, i) => {
    if ((n - 1 - i) % every !== 0) return;
    svg.append(s('text', { x: m.l + i * band + band / 2, y: H - 8, 'text-anchor': 'middle' }, shortDay(d.day)));
  });
  const hits = s('g', {});
  series.forEach((d, i) => {
    hits.append(s('rect', { class: 'hit', x: m.l + i * band, y: m.t, width: band, height: ih },
      s('title', {}, `${d.day} · ${bar.label} ${bar.fmt(d[barKey])} · ${line.label} ${line.fmt(d[lineKey])}`)));
  });
  svg.append(hits);
  return svg;
}

function dataTable(d) {
  return h('details', { class: 'data' }, h('summary', {}, 'Show the daily numbers'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Day', 'Rows', 'Sales', 'Total commissions', 'Clicks', 'Orders'].map((x, i) => h('th', { scope: 'col', class: i ? 'num' : '', text: x })))),
      h('tbody', {}, [...d.series].reverse().map((r) => h('tr', {},
        h('td', { text: r.day }), h('td', { class: 'num', text: formatCount(String(r.rows)) }), h('td', { class: 'num', text: formatMoney(r.sales) }),
        h('td', { class: 'num', text: formatMoney(r.total_commissions) }), h('td', { class: 'num', text: formatCount(r.clicks) }), h('td', { class: 'num', text: formatCount(r.orders) })))))));
}

function topTable(title, list, testid) {
  const max = Math.max(0, ...list.map((x) => Number(x.sales)));
  return h('div', { 'data-testid': testid },
    h('h3', { text: title }),
    list.length
      ? h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: '#' }), h('th', { scope: 'col', text: 'Name' }), h('th', { scope: 'col', class: 'num', text: 'Sales' }), h('th', { scope: 'col', class: 'num', text: 'Commissions' }))),
        h('tbody', {}, list.map((x, i) => h('tr', {},
          h('td', { class: 'rank', text: String(i + 1) }),
          h('td', { class: 'name bar-cell', title: `${x.name ?? ''} (ID ${x.id}) · ${formatCount(String(x.rows))} rows` },
            x.name || h('span', { class: 'faint', text: `ID ${x.id}` }), x.name ? h('span', { class: 'id', text: `#${x.id}` }) : null,
            h('div', { class: 'share', 'aria-hidden': 'true' }, h('span', { style: { width: `${max > 0 ? Math.max(1, (Number(x.sales) / max) * 100) : 0}%` } }))),
          h('td', { class: 'num', text: formatMoney(x.sales) }),
          h('td', { class: 'num', text: formatMoney(x.total_commissions) })))))
      : h('p', { class: 'muted small', text: 'No rows in this period.' }));
}

// ---------------------------------------------------------------- connector page

async function connectorView(seq, name) {
  const head = h('div', { class: 'page-head' });
  const stats = h('div', { class: 'stats' });
  const alerts = h('div', { class: 'section', hidden: true });
  const progressHost = h('div', { class: 'card section pad', hidden: true, 'data-testid': 'progress-card' });
  const panel = h('div');
  const charts = chartsSection(name, name);
  const history = h('section', { class: 'card section', 'aria-label': 'Sync history' });
  main.replaceChildren(h('a', { class: 'crumb', href: '#/' }, '← All connectors'), head, stats, alerts, progressHost, panel, charts.el, history);
  let wasActive = false;
  let first = true;
  let lastHead = '';

  const loadHistory = async () => {
    const r = await api('GET', `/api/connectors/${enc(name)}/runs?limit=25`);
    if (!current(seq) || !r.ok) return;
    history.replaceChildren(
      h('div', { class: 'section-head' }, h('div', {}, h('h2', { text: 'Sync history' }), h('div', { class: 'sub', text: 'The latest 25 runs, newest first' }))),
      r.data.runs.length
        ? h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'history' },
          h('thead', {}, h('tr', {}, ['Started', 'Status', 'Days', 'Windows', 'Rows', 'Duration', 'Error'].map((x) => h('th', { scope: 'col', class: ['Windows', 'Rows', 'Duration'].includes(x) ? 'num' : '', text: x })))),
          h('tbody', {}, r.data.runs.map((run) => h('tr', {},
            h('td', { class: 'nowrap', title: run.startedAt }, localDateTime(run.startedAt), h('div', { class: 'conn-sub', text: relativeTime(run.startedAt) })),
            h('td', { class: `status-${run.status}`, text: run.status }),
            h('td', { class: 'nowrap', text: run.rangeStart === run.rangeEnd ? run.rangeStart : `${run.rangeStart} … ${run.rangeEnd}` }),
            h('td', { class: 'num', text: `${run.windowsDone}/${run.windowsTotal}` }),
            h('td', { class: 'num', text: formatCount(String(run.rows)) }),
            h('td', { class: 'num', text: run.durationMs == null ? '…' : formatDuration(run.durationMs) }),
            h('td', { class: 'small' }, run.error ? h('span', { class: 'err-text', text: run.error }) : h('span', { class: 'faint', text: '–' })))))))
        : h('p', { class: 'pad muted', text: 'No syncs yet. Click "Sync now" to load the first days.' }));
  };

  const render = (c) => {
    const headKey = JSON.stringify([c.status, c.settings, c.schedule, c.tokenMasked, c.timeZone]);
    if (headKey !== lastHead) {
      lastHead = headKey;
      const pause = h('button', { class: 'btn', type: 'button', 'data-action': c.settings.paused ? 'resume' : 'pause' }, c.settings.paused ? 'Resume' : 'Pause');
      pause.addEventListener('click', async () => {
        const done = busy(pause, c.settings.paused ? 'Resuming…' : 'Pausing…');
        const r = await api('POST', `/api/connectors/${enc(name)}/${c.settings.paused ? 'resume' : 'pause'}`, {});
        done();
        if (!r.ok) toast(errorText(r.data), 'error');
        else toast(c.settings.paused ? 'Resumed: scheduled syncs run again.' : 'Paused: no scheduled syncs until you resume.');
        kick();
      });
      const backfill = h('button', { class: 'btn', type: 'button', 'data-action': 'backfill' }, 'Backfill…');
      backfill.addEventListener('click', () => showBackfill(c));
      const test = h('button', { class: 'btn', type: 'button', 'data-action': 'test' }, 'Test connection');
      test.addEventListener('click', async () => {
        const done = busy(test, 'Testing…');
        const r = await api('POST', `/api/connectors/${enc(name)}/test`, {});
        done();
        if (!current(seq)) return;
        if (!r.ok) return toast(errorText(r.data), 'error');
        panel.replaceChildren(h('section', { class: 'card section pad' },
          h('h2', { text: 'Connection test' }),
          h('div', { class: 'result' }, banner(r.data.ok ? 'ok' : 'error', r.data.ok ? 'All checks passed: the report answers as expected.' : 'A check failed: see how to fix it below.'), checksList(r.data))));
      });
      const del = h('button', { class: 'btn danger', type: 'button', 'data-action': 'delete' }, 'Delete…');
      del.addEventListener('click', () => confirmDelete(c));
      head.replaceChildren(
        h('div', {},
          h('div', { class: 'title-row' }, h('h1', { text: c.name }), pill(c.status)),
          h('div', { class: 'meta-line' },
            h('span', {}, 'Report ', h('b', { text: c.reportKey })),
            h('span', {}, h('b', { text: c.dateType }), ' dates'),
            h('span', {}, 'Time zone ', h('b', { text: c.timeZone })),
            h('span', {}, 'Schedule ', h('b', { text: c.settings.paused ? `paused (${c.schedule.label})` : c.schedule.label })),
            h('span', {}, 'Lookback ', h('b', { text: `${c.settings.lookbackDays} days` })),
            h('span', {}, 'Token ', h('b', { class: 'mono', 'data-testid': 'token-masked', text: c.tokenMasked })))),
        h('div', { class: 'actions' }, syncButton(name, false), backfill, pause, test, h('a', { class: 'btn', href: `#/c/${enc(name)}/edit` }, 'Edit settings'), del));
    }
    const [next, nextSub] = nextText(c);
    const stat = (k, v, sub, testid) => h('div', { class: 'card stat' }, h('div', { class: 'k', text: k }), h('div', { class: 'v', 'data-testid': testid, text: v }), h('div', { class: 's', text: sub || '\u00a0' }));
    stats.replaceChildren(
      stat('Last successful sync', c.lastSuccessAt ? relativeTime(c.lastSuccessAt) : 'never', c.lastSuccessAt ? localDateTime(c.lastSuccessAt) : 'no sync has finished yet', 'last-success'),
      stat('Next sync', next, nextSub || (c.nextRunAt ? localDateTime(c.nextRunAt) : ''), 'next-sync'),
      stat('Days covered', formatCount(String(c.coverage.days)), c.coverage.firstDay ? `${c.coverage.firstDay} … ${c.coverage.lastDay}` : 'no data yet', 'days-covered'),
      stat('Rows', formatCount(String(c.coverage.rows)), c.cursor ? `synced through ${c.cursor}` : 'in rakuten_affiliate_report', 'rows-total'));
    const error = connectorError(c);
    alerts.hidden = !error;
    alerts.replaceChildren(error ? banner('error', h('div', {}, h('b', { text: c.problem ? 'This connector cannot sync: ' : c.status === 'failing' ? 'The last sync failed. ' : 'Note: ' }), h('span', { 'data-testid': 'last-error', text: c.problem || error }),
      c.backoffUntil && !c.settings.paused ? h('div', { class: 'small', text: `Backing off after ${c.failures} failure${c.failures === 1 ? '' : 's'}: next try ${relativeTime(c.backoffUntil)}.` }) : null)) : '');
    // A failed sync is told once, by the error banner above.
    const prog = c.progress && !(c.progress.state === 'failed' && c.lastError) ? c.progress : null;
    progressHost.hidden = !prog;
    progressHost.replaceChildren(progressView(prog) || '');
  };

  const showBackfill = (c) => {
    const today = new Date().toISOString().slice(0, 10);
    const from = h('input', { type: 'date', id: 'bf-from', name: 'from', value: c.coverage.firstDay || c.settings.startDate, required: true });
    const to = h('input', { type: 'date', id: 'bf-to', name: 'to', value: today, required: true });
    const errs = { from: h('p', { class: 'field-error', id: 'bf-from-err', hidden: true }), to: h('p', { class: 'field-error', id: 'bf-to-err', hidden: true }) };
    const go = h('button', { class: 'btn primary', type: 'submit' }, 'Start backfill');
    const form = h('form', { class: 'card section pad', 'aria-label': 'Backfill a date range', novalidate: true },
      h('h2', { text: 'Backfill a date range' }),
      h('p', { class: 'muted small', text: 'Re-loads every day in the range from Rakuten, replacing what the warehouse holds for those days. The schedule and the sync cursor are not changed.' }),
      h('div', { class: 'row3', style: { 'align-items': 'end', 'margin-top': '12px' } },
        h('div', {}, h('label', { for: 'bf-from', text: 'From' }), from, errs.from),
        h('div', {}, h('label', { for: 'bf-to', text: 'To' }), to, errs.to),
        h('div', { class: 'actions' }, go, h('button', { class: 'btn', type: 'button', onclick: () => panel.replaceChildren() }, 'Cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      for (const e of Object.values(errs)) e.hidden = true;
      const done = busy(go, 'Starting…');
      const r = await api('POST', `/api/connectors/${enc(name)}/backfill`, { from: from.value, to: to.value });
      done();
      if (r.ok) {
        panel.replaceChildren();
        toast(`Backfill ${from.value} … ${to.value} started.`);
        kick();
        return;
      }
      let shown = false;
      for (const [f, msg] of Object.entries(r.data.errors || {})) {
        if (errs[f]) {
          errs[f].textContent = msg;
          errs[f].hidden = false;
          shown = true;
        }
      }
      if (!shown) toast(errorText(r.data), 'error');
    });
    panel.replaceChildren(form);
    from.focus();
  };

  const confirmDelete = (c) => {
    const dlg = h('dialog', { 'aria-labelledby': 'del-title' });
    const f = h('form', { method: 'dialog' },
      h('h2', { id: 'del-title', text: `Delete connector "${c.name}"?` }),
      h('p', { class: 'muted', text: 'Its settings, schedule and sync history are removed. What about the rows it loaded?' }),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'data', value: 'keep', checked: true }),
        h('span', {}, 'Keep its data', h('small', { text: `${formatCount(String(c.coverage.rows))} rows stay in the warehouse` }))),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'data', value: 'drop' }),
        h('span', {}, 'Delete its data too', h('small', { text: `${formatCount(String(c.coverage.rows))} rows over ${c.coverage.days} days are deleted` }))),
      h('div', { class: 'form-actions', style: { 'justify-content': 'flex-end' } },
        h('button', { class: 'btn', value: 'cancel', type: 'submit' }, 'Cancel'),
        h('button', { class: 'btn danger solid', value: 'delete', type: 'submit', 'data-action': 'confirm-delete' }, 'Delete connector')));
    dlg.append(f);
    document.body.append(dlg);
    dlg.addEventListener('close', async () => {
      const drop = f.elements.data.value === 'drop';
      dlg.remove();
      if (dlg.returnValue !== 'delete') return;
      const r = await api('DELETE', `/api/connectors/${enc(name)}?dropData=${drop}`);
      if (!r.ok) return toast(errorText(r.data), 'error');
      toast(`Deleted "${name}"${drop ? ' and its data' : ''}.`);
      location.hash = '#/';
    });
    dlg.showModal();
  };

  startPolling(async () => {
    const r = await api('GET', `/api/connectors/${enc(name)}`);
    if (!current(seq)) return false;
    if (!r.ok) {
      main.replaceChildren(h('a', { class: 'crumb', href: '#/' }, '← All connectors'), banner('error', errorText(r.data)));
      return false;
    }
    const c = r.data.connector;
    render(c);
    const active = isActive(c.progress);
    if (first || (wasActive && !active)) {
      charts.load();
      loadHistory();
    }
    first = false;
    wasActive = active;
    return active;
  });
}

// ---------------------------------------------------------------- Save & Test results

function checksList(report) {
  const icon = { ok: '✓', fail: '✕', skip: '–' };
  const items = report.checks.map((c) => {
    const cls = c.ok === true ? 'ok' : c.ok === false ? 'fail' : 'skip';
    return h('li', { class: cls, 'data-check': c.id, 'data-result': cls },
      h('span', { class: 'check-icon', 'aria-hidden': 'true', text: icon[cls] }),
      h('div', {},
        h('div', { class: 'check-label' }, h('span', { class: 'visually-hidden', text: cls === 'ok' ? 'Passed: ' : cls === 'fail' ? 'Failed: ' : 'Not checked: ' }), c.label),
        c.ok === false || (c.detail && c.detail !== 'ok') ? h('div', { class: 'check-detail', text: c.ok === null ? 'not checked: an earlier check failed' : c.detail }) : null,
        c.ok === false && c.hint ? h('div', { class: 'check-hint', 'data-testid': 'hint' }, h('b', { text: 'How to fix: ' }), c.hint) : null));
  });
  return [
    h('ul', { class: 'checks', 'aria-label': 'Save & Test checks' }, items),
    report.warnings && report.warnings.length ? h('ul', { class: 'warnings' }, report.warnings.map((w) => h('li', { text: w }))) : null,
  ];
}

// ---------------------------------------------------------------- setup form

function daysAgo(n) {
  const d = new Date();
  d.setDate(d.getDate() - n);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function field(id, label, input, hint) {
  input.id = id;
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintEl = hint ? h('div', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  return { el: h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hintEl, err), err, input };
}

async function setupView(seq, editName) {
  const m = await meta();
  let existing = null;
  if (editName) {
    const r = await api('GET', `/api/connectors/${enc(editName)}`);
    if (!current(seq)) return;
    if (!r.ok) {
      main.replaceChildren(banner('error', errorText(r.data)));
      return;
    }
    existing = r.data.connector;
  }
  if (!current(seq)) return;
  const editing = Boolean(existing);
  let mode = 'url';
  let tzTouched = editing;

  const f = {
    name: field('name', 'Connector name', h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. acme-us', value: existing ? existing.name : '', readOnly: editing }),
      editing ? 'The name cannot be changed.' : 'Letters, digits, "-", "_" or "."; it is stored with every row (_connector).'),
    url: field('url', 'Report API URL ("Get API")', h('textarea', { name: 'url', rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: 'https://ran-reporting.rakutenmarketing.com/en/reports/<report-key>/filters?…&token=…' }),
      editing ? ['Leave empty to keep the saved URL: ', h('span', { class: 'mono', text: existing.url })] : 'Paste the whole URL: it includes your token, which is stored encrypted and never shown again.'),
    reportKey: field('reportKey', 'Report key', h('input', { type: 'text', name: 'reportKey', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. affiliate-report', value: '' }),
      editing ? `Saved: ${existing.reportKey}. Leave empty to keep it.` : 'From the report URL: …/reports/<report-key>/filters'),
    token: field('token', 'API token', h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false' }),
      editing ? `Saved token ${existing.tokenMasked}. Leave empty to keep it.` : 'The value after token= in the "Get API" URL.'),
    dateType: field('dateType', 'Date type', h('input', { type: 'text', name: 'dateType', readOnly: true, value: existing ? existing.dateType : 'transaction' }), 'From the URL (date_type). Change it in the Rakuten report, then paste the new URL.'),
    timeZone: field('timeZone', 'Time zone', h('input', { type: 'text', name: 'timeZone', list: 'tz-list', autocomplete: 'off', value: existing ? existing.timeZone : 'GMT' }), 'Days and schedules follow this zone (tz in the URL).'),
    startDate: field('startDate', 'Start date', h('input', { type: 'date', name: 'startDate', value: existing ? existing.settings.startDate : daysAgo(m.defaults.startDaysAgo) }), 'The first day the first sync loads.'),
    lookbackDays: field('lookbackDays', 'Lookback days', h('input', { type: 'number', name: 'lookbackDays', min: 0, max: 365, step: 1, value: String(existing ? existing.settings.lookbackDays : m.defaults.lookbackDays) }),
      'Days re-loaded on every sync: Rakuten keeps changing recent days (late orders, returns).'),
  };
  const schedType = h('select', { id: 'scheduleType', name: 'scheduleType', 'aria-label': 'Schedule' },
    h('option', { value: 'daily', text: 'Daily at' }), h('option', { value: 'hourly', text: 'Every hour' }), h('option', { value: 'manual', text: 'Manual syncs only' }));
  const schedTime = h('input', { type: 'time', id: 'scheduleTime', name: 'scheduleTime', 'aria-label': 'Time of day', value: '06:00' });
  let customCron = null;
  if (existing) {
    const sc = existing.schedule;
    if (sc.type === 'cron') {
      customCron = sc.cron;
      schedType.append(h('option', { value: 'cron', text: `Custom: ${sc.cron}` }));
    }
    schedType.value = sc.type;
    if (sc.time) schedTime.value = sc.time;
  }
  const schedErr = h('p', { class: 'field-error', id: 'schedule-error', hidden: true });
  const schedHint = h('div', { class: 'hint', id: 'schedule-hint' });
  const syncSched = () => {
    schedTime.hidden = schedType.value !== 'daily';
    schedHint.textContent = schedType.value === 'manual' ? 'No automatic syncs: use "Sync now".' : `In the report's time zone (${f.timeZone.input.value || 'GMT'}), while \`rakuten-connector serve\` runs.`;
  };
  schedType.addEventListener('change', syncSched);
  f.timeZone.input.addEventListener('input', () => {
    tzTouched = true;
    syncSched();
  });
  syncSched();

  const tzList = h('datalist', { id: 'tz-list' }, m.timeZones.map((z) => h('option', { value: z })));
  const chips = h('div', { class: 'parsed', 'aria-live': 'polite' });
  const tabUrl = h('button', { type: 'button', role: 'tab', 'aria-selected': 'true', 'aria-controls': 'mode-url' }, 'Paste the "Get API" URL');
  const tabKey = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', 'aria-controls': 'mode-key' }, 'Report key + token');
  const paneUrl = h('div', { id: 'mode-url', role: 'tabpanel' }, f.url.el, chips);
  const paneKey = h('div', { id: 'mode-key', role: 'tabpanel', hidden: true }, h('div', { class: 'row' }, f.reportKey.el, f.token.el));
  const setMode = (mm) => {
    mode = mm;
    tabUrl.setAttribute('aria-selected', String(mm === 'url'));
    tabKey.setAttribute('aria-selected', String(mm === 'key'));
    paneUrl.hidden = mm !== 'url';
    paneKey.hidden = mm !== 'key';
  };
  tabUrl.addEventListener('click', () => setMode('url'));
  tabKey.addEventListener('click', () => setMode('key'));

  const setError = (name, msg) => {
    const target = name === 'schedule' || name.startsWith('schedule.') ? { err: schedErr, input: schedType } : f[name];
    if (!target) return false;
    target.err.textContent = msg;
    target.err.hidden = false;
    target.input.setAttribute('aria-invalid', 'true');
    return true;
  };
  const clearErrors = () => {
    for (const x of [...Object.values(f), { err: schedErr, input: schedType }]) {
      x.err.hidden = true;
      x.err.textContent = '';
      x.input.removeAttribute('aria-invalid');
    }
  };

  // Parse the pasted URL as it is typed: show what it says, fill the time zone.
  let parseSeq = 0;
  let parseTimer = null;
  const parseUrl = async () => {
    const my = ++parseSeq;
    const url = f.url.input.value.trim();
    f.url.err.hidden = true;
    f.url.input.removeAttribute('aria-invalid');
    if (!url) {
      chips.replaceChildren();
      return;
    }
    const r = await api('POST', '/api/parse-url', { url });
    if (my !== parseSeq || !current(seq)) return;
    if (!r.ok) {
      chips.replaceChildren();
      setError('url', (r.data.errors && r.data.errors.url) || errorText(r.data));
      return;
    }
    const p = r.data;
    const chip = (k, v) => h('span', { class: 'chip' }, `${k} `, h('b', { text: v }));
    chips.replaceChildren(chip('Report', p.reportKey), chip('Host', p.host), chip('Dates', p.dateType), chip('Format', p.dateFormat), chip('Time zone', p.timeZone), chip('Token', p.tokenMasked),
      ...p.warnings.map((w) => h('span', { class: 'chip', text: w })));
    f.dateType.input.value = p.dateType;
    if (!tzTouched || !editing) {
      f.timeZone.input.value = p.timeZone;
      tzTouched = false;
      syncSched();
    }
  };
  f.url.input.addEventListener('input', () => {
    clearTimeout(parseTimer);
    parseTimer = setTimeout(parseUrl, 250);
  });

  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-action': 'save' }, editing ? 'Save' : 'Save & Test');
  const result = h('div', { class: 'result', 'data-testid': 'save-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card setup', novalidate: true, 'aria-labelledby': 'setup-title' },
    h('h1', { id: 'setup-title', text: editing ? `Edit ${existing.name}` : 'Add a connector' }),
    h('p', { class: 'muted', text: editing ? 'A new URL, token or time zone is tested before it is saved. Other settings are saved at once.' : 'Save & Test checks the URL, the token and the report before anything is saved.' }),
    h('div', { class: 'section' }, f.name.el),
    h('fieldset', {}, h('legend', { text: 'Report API' }),
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'How to give the report' }, tabUrl, tabKey), paneUrl, paneKey),
    h('fieldset', {}, h('legend', { text: 'Settings' }),
      h('div', { class: 'row' }, f.dateType.el, f.timeZone.el),
      h('div', { class: 'row' }, f.startDate.el, f.lookbackDays.el),
      h('div', { class: 'field' }, h('label', { for: 'scheduleType', text: 'Schedule' }), h('div', { class: 'inline' }, schedType, schedTime), schedHint, schedErr)),
    tzList,
    h('div', { class: 'form-actions' }, submit, h('a', { class: 'btn', href: editing ? `#/c/${enc(existing.name)}` : '#/' }, 'Cancel'),
      h('span', { class: 'muted small', text: editing ? '' : 'Takes a few seconds: it asks Rakuten for the last two days.' })),
    result);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    result.replaceChildren();
    const body = {};
    const val = (x) => x.input.value.trim();
    if (!editing) body.name = val(f.name);
    if (mode === 'url') {
      if (val(f.url)) body.url = val(f.url);
    } else {
      if (val(f.reportKey)) body.reportKey = val(f.reportKey);
      if (val(f.token)) body.token = f.token.input.value.trim();
    }
    const tz = val(f.timeZone);
    if (tz && (!editing || tz !== existing.timeZone)) body.timeZone = tz;
    if (val(f.startDate)) body.startDate = val(f.startDate);
    if (val(f.lookbackDays) !== '') body.lookbackDays = /^\d+$/.test(val(f.lookbackDays)) ? Number(val(f.lookbackDays)) : val(f.lookbackDays);
    body.schedule = schedType.value === 'daily' ? { type: 'daily', time: schedTime.value || '06:00' } : schedType.value === 'cron' ? { type: 'cron', cron: customCron } : { type: schedType.value };
    const retest = !editing || body.url || body.reportKey || body.token || body.timeZone;
    const done = busy(submit, retest ? 'Testing…' : 'Saving…');
    const r = editing ? await api('PATCH', `/api/connectors/${enc(existing.name)}`, body) : await api('POST', '/api/connectors', body);
    done();
    if (!current(seq)) return;
    if (r.status === 400 || r.status === 409 && r.data.errors && r.data.errors.name) {
      let first = null;
      for (const [k, msg] of Object.entries(r.data.errors || {})) {
        if (setError(k, msg) && !first) first = k;
      }
      if (first && f[first]) f[first].input.focus();
      if (!first) result.replaceChildren(banner('error', errorText(r.data)));
      return;
    }
    if (r.status === 422 || (r.ok && r.data.checks)) {
      const ok = r.ok && r.data.saved;
      result.replaceChildren(
        ok
          ? banner('ok', h('div', {}, h('b', { text: editing ? 'All checks passed: changes saved. ' : `All checks passed: "${r.data.connector.name}" is saved. ` }),
            editing ? '' : `It syncs ${r.data.connector.schedule.label} while the server runs.`,
            h('div', { class: 'actions', style: { 'margin-top': '10px' } },
              h('a', { class: 'btn primary small', href: `#/c/${enc(r.data.connector.name)}`, 'data-action': 'open-connector' }, 'Open the connector'),
              h('a', { class: 'btn small', href: '#/' }, 'Back to the dashboard'))))
          : banner('error', h('div', {}, h('b', { text: 'Nothing was saved. ' }), 'Fix the failing check below, then try again.')),
        ...checksList(r.data).filter(Boolean));
      if (ok && !editing) {
        f.name.input.readOnly = true;
        submit.disabled = true;
      }
      result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      return;
    }
    if (r.ok) {
      toast('Settings saved.');
      location.hash = `#/c/${enc(existing.name)}`;
      return;
    }
    result.replaceChildren(banner('error', errorText(r.data)));
  });

  const guide = h('aside', { class: 'card guide', 'aria-labelledby': 'guide-title' },
    h('h2', { id: 'guide-title', text: 'Get the report URL from Rakuten' }),
    h('p', { class: 'muted small', text: 'Once per report, in Rakuten Advertising reporting:' }),
    h('ol', { class: 'steps' },
      h('li', {}, 'Open ', h('b', { text: 'Reports' }), ' and create a new report.'),
      h('li', {}, `Build it with these ${m.requiredColumns.length} columns:`, h('ul', { class: 'cols', 'data-testid': 'required-columns' }, m.requiredColumns.map((c) => h('li', { text: c })))),
      h('li', {}, 'Save the report, then click ', h('span', { class: 'kbd', text: 'Get API' }), '.'),
      h('li', {}, 'Copy the URL and paste it into the form. It contains your API token: treat it like a password.')),
    h('p', { class: 'note' }, 'Any time zone, transaction or process dates, and any date format work: the connector reads them from the URL and requests each day itself, so date ranges in the URL do not matter.'));

  main.replaceChildren(
    h('a', { class: 'crumb', href: editing ? `#/c/${enc(existing.name)}` : '#/' }, editing ? `← ${existing.name}` : '← All connectors'),
    h('div', { class: 'setup-grid' }, form, guide));
  if (editing) f.url.input.focus();
  else f.name.input.focus();
}

// ---------------------------------------------------------------- start

window.addEventListener('hashchange', route);
if (AUTH === 'token') document.querySelector('form.logout').hidden = false;
meta().then((m) => {
  if (m.warehouse) document.getElementById('foot-warehouse').textContent = `Warehouse: ${m.warehouse.kind} · ${m.warehouse.location}`;
});
route();
