// @ts-check
// The performance section of the dashboard and the connector page: the 30/90-day switch, the
// exact totals above each chart, two hand-drawn inline SVG charts (bars on the left axis, a line on
// the right one, one slot per day), the daily numbers and the top publishers and offers, each
// downloadable as CSV (csv.js).

import { api, errorText } from './api.js';
import { csvButton, dailyCsv, topCsv } from './csv.js';
import { banner, h, s } from './dom.js';
import { formatCompact, formatCount, formatMoney, niceScale, shortDay } from './format.js';

/** @import { ChartData, DayPoint, SeriesKey, TopEntry } from './types.js' */

/** @type {Record<SeriesKey, { label: string, color: string, cls: string, fmt: (s: string) => string }>} */
const SERIES = {
  sales: { label: 'Sales', color: 'var(--sales)', cls: 'sales', fmt: formatMoney },
  total_commissions: { label: 'Total commissions', color: 'var(--comm)', cls: 'comm', fmt: formatMoney },
  clicks: { label: 'Clicks', color: 'var(--clicks)', cls: 'clicks', fmt: formatCount },
  orders: { label: 'Orders', color: 'var(--orders)', cls: 'orders', fmt: formatCount },
};

/**
 * The periods the charts offer, in days (today included). The longer one is also what a new
 * connector's first sync loads by default (the setup form's start date, view-form.js), so the
 * chart shows exactly the days a default first sync brought in.
 */
export const CHART_DAYS = 30;
export const LONG_CHART_DAYS = 90;

/**
 * The charts of one connector (or of all, `connector` null); `load()` (re)fetches them,
 * `setSyncing(on)` says whether a sync is running (an empty period then says so, instead of
 * asking for a sync).
 * @param {string | null} connector
 * @param {string} title
 * @returns {{ el: HTMLElement, load: () => Promise<void>, setSyncing: (on: boolean) => void }}
 */
export function chartsSection(connector, title) {
  const key = 'rc.chartDays';
  let days = Number(sessionStorage.getItem(key)) === LONG_CHART_DAYS ? LONG_CHART_DAYS : CHART_DAYS;
  const sub = h('div', { class: 'sub' });
  const b30 = h('button', { type: 'button', 'aria-pressed': String(days === CHART_DAYS), 'data-days': String(CHART_DAYS) }, `${CHART_DAYS} days`);
  const b90 = h('button', { type: 'button', 'aria-pressed': String(days === LONG_CHART_DAYS), 'data-days': String(LONG_CHART_DAYS) }, `${LONG_CHART_DAYS} days`);
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'pad muted', text: 'Loading charts…' }));
  const el = h('section', { class: 'card section', 'aria-label': `Performance: ${title}`, 'data-testid': 'charts' },
    h('div', { class: 'section-head' }, h('div', {}, h('h2', { text: `Performance · ${title}` }), sub),
      h('div', { class: 'seg', role: 'group', 'aria-label': 'Period' }, b30, b90)),
    body);
  let seq = 0;
  let syncing = false;
  /** Whether the period on screen has no rows. */
  let empty = false;
  const notice = h('div', { class: 'pad notice', 'data-testid': 'charts-notice', hidden: true });
  const showNotice = () => {
    notice.hidden = !empty;
    notice.replaceChildren(!empty ? '' : syncing
      ? banner('info', h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'A sync is running: the charts fill in when it finishes.')
      : banner('info', 'No rows in this period yet. Run a sync to load data; days without rows show as zero.'));
    notice.dataset.state = !empty ? 'none' : syncing ? 'syncing' : 'empty';
  };
  /** @param {boolean} on */
  const setSyncing = (on) => {
    if (on === syncing) return;
    syncing = on;
    showNotice();
  };
  const load = async () => {
    const my = ++seq;
    const q = new URLSearchParams({ days: String(days) });
    if (connector) q.set('connector', connector);
    /** @type {import('./api.js').ApiResult<ChartData>} */
    const r = await api('GET', `/api/charts?${q}`);
    if (my !== seq) return;
    if (!r.ok) {
      body.replaceChildren(h('div', { class: 'pad' }, banner('error', errorText(r.data))));
      return;
    }
    const d = r.data;
    // Connectors in several time zones: each day is each connector's own report day, added up by date.
    sub.textContent = d.timeZones.length > 1
      ? `Daily totals from the warehouse, ${d.from} to ${d.to}: each connector's days in its own time zone (${d.timeZones.join(', ')}), added up by date`
      : `Daily totals from the warehouse, ${d.from} to ${d.to} (${d.timeZone})`;
    empty = d.totals.rows === 0;
    showNotice();
    const name = `${connector || 'all-connectors'}-${d.from}-to-${d.to}`;
    body.replaceChildren(notice, ...renderCharts(d, name));
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
  return { el, load, setSyncing };
}

/**
 * @param {SeriesKey} key
 * @param {string} value
 * @param {boolean} line
 */
function totalBox(key, value, line) {
  const def = SERIES[key];
  return h('div', { class: 'total' },
    h('div', { class: 'label' }, h('span', { class: `swatch${line ? ' line' : ''}`, style: { background: def.color }, 'aria-hidden': 'true' }), def.label),
    h('div', { class: 'value', 'data-testid': `total-${key}`, 'data-value': value, text: def.fmt(value) }));
}

/**
 * @param {ChartData} d
 * @param {string} name the CSV files' name part: connector and period
 */
function renderCharts(d, name) {
  const t = d.totals;
  /**
   * @param {string} title
   * @param {SeriesKey} bar
   * @param {SeriesKey} line
   */
  const fig = (title, bar, line) => h('figure', {},
    h('h3', { text: title }),
    h('div', { class: 'totals' }, totalBox(bar, t[bar], false), totalBox(line, t[line], true)),
    dualChart(d.series, bar, line, `${title}, ${d.from} to ${d.to}`));
  return [
    h('div', { class: 'chart-grid' }, fig('Sales and total commissions', 'sales', 'total_commissions'), fig('Clicks and orders', 'clicks', 'orders')),
    dataTable(d, name),
    h('div', { class: 'top-grid' },
      topTable('Top publishers by sales', d.topPublishers, 'top-publishers', `rakuten-top-publishers-${name}.csv`, d.connector === null),
      topTable('Top offers by sales', d.topOffers, 'top-offers', `rakuten-top-offers-${name}.csv`, d.connector === null)),
  ];
}

/**
 * Round tick step so `k` ticks cover max (both axes share the grid lines).
 * @param {number} max
 * @param {number} k
 */
function alignedScale(max, k) {
  if (!(max > 0)) return { max: k, step: 1 };
  const raw = max / k;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((v) => v >= raw - 1e-12) ?? 10 * mag;
  return { max: step * k, step };
}

/**
 * @param {DayPoint[]} series
 * @param {SeriesKey} barKey
 * @param {SeriesKey} lineKey
 * @param {string} label
 */
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
  /**
   * @param {number} v
   * @param {{ max: number }} sc
   */
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

/**
 * @param {ChartData} d
 * @param {string} name
 */
function dataTable(d, name) {
  return h('details', { class: 'data' },
    h('summary', {}, 'Show the daily numbers',
      csvButton(`Download the daily numbers, ${d.from} to ${d.to}, as CSV`, 'csv-daily', () => [`rakuten-daily-${name}.csv`, dailyCsv(d.series)])),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Day', 'Rows', 'Sales', 'Total commissions', 'Clicks', 'Orders'].map((x, i) => h('th', { scope: 'col', class: i ? 'num' : '', text: x })))),
      h('tbody', {}, [...d.series].reverse().map((r) => h('tr', {},
        h('td', { text: r.day }), h('td', { class: 'num', text: formatCount(String(r.rows)) }), h('td', { class: 'num', text: formatMoney(r.sales) }),
        h('td', { class: 'num', text: formatMoney(r.total_commissions) }), h('td', { class: 'num', text: formatCount(r.clicks) }), h('td', { class: 'num', text: formatCount(r.orders) })))))));
}

/**
 * @param {string} title
 * @param {TopEntry[]} list
 * @param {string} testid
 * @param {string} filename of its CSV download
 * @param {boolean} combined the charts of all connectors: each row is one connector's id, and says which connector
 */
function topTable(title, list, testid, filename, combined) {
  // Only the bar lengths use floats; every number shown or downloaded is the exact string.
  const max = Math.max(0, ...list.map((x) => Number(x.sales)));
  return h('div', { 'data-testid': testid },
    h('div', { class: 'top-head' }, h('h3', { text: title }),
      list.length ? csvButton(`Download "${title}" as CSV`, `csv-${testid}`, () => [filename, topCsv(list, combined)]) : null),
    list.length
      ? h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: '#' }), h('th', { scope: 'col', text: 'Name' }),
          combined ? h('th', { scope: 'col', class: 'connector', text: 'Connector' }) : null,
          h('th', { scope: 'col', class: 'num', text: 'Sales' }), h('th', { scope: 'col', class: 'num', text: 'Commissions' }))),
        h('tbody', {}, list.map((x, i) => h('tr', {},
          h('td', { class: 'rank', text: String(i + 1) }),
          h('td', { class: 'name bar-cell', title: `${x.name ?? ''} (ID ${x.id}) · ${formatCount(String(x.rows))} rows` },
            x.name || h('span', { class: 'faint', text: `ID ${x.id}` }), x.name ? h('span', { class: 'id', text: `#${x.id}` }) : null,
            // On a narrow screen the connector column gives way to this line under the name.
            combined ? h('span', { class: 'conn-inline', text: x.connector }) : null,
            h('div', { class: 'share', 'aria-hidden': 'true' }, h('span', { style: { width: `${max > 0 ? Math.max(1, (Number(x.sales) / max) * 100) : 0}%` } }))),
          combined ? h('td', { class: 'connector', 'data-testid': 'top-connector', text: x.connector }) : null,
          h('td', { class: 'num', text: formatMoney(x.sales) }),
          h('td', { class: 'num', text: formatMoney(x.total_commissions) })))))
      : h('p', { class: 'muted small', text: 'No rows in this period.' }));
}
