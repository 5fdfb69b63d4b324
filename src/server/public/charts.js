// @ts-check
// The performance section of the dashboard and the connector page: the 30/90-day switch, the
// currency switch (amounts of different currencies are never added: with several, one currency is
// shown at a time), the exact totals above each chart, each amount with its currency code, two
// hand-drawn inline SVG charts (bars on the left axis, a line on the right one, one slot per day),
// the daily numbers and the top publishers and offers, each downloadable as CSV (csv.js).

import { api, errorText } from './api.js';
import { csvButton, dailyCsv, topCsv } from './csv.js';
import { banner, h, s } from './dom.js';
import { formatAmount, formatCompact, formatCount, formatMoney, niceScale, shortDay } from './format.js';

/** @import { ChartData, CurrencyPart, DayPoint, SeriesKey, TopEntry } from './types.js' */

/**
 * What one currency's charts show: its part of the answer, and its top lists.
 * @typedef {{ d: ChartData, part: CurrencyPart, topPublishers: TopEntry[], topOffers: TopEntry[] }} CurrencyView
 */

/** @type {Record<SeriesKey, { label: string, color: string, cls: string, money: boolean, fmt: (s: string) => string }>} */
const SERIES = {
  sales: { label: 'Sales', color: 'var(--sales)', cls: 'sales', money: true, fmt: formatMoney },
  total_commissions: { label: 'Total commissions', color: 'var(--comm)', cls: 'comm', money: true, fmt: formatMoney },
  clicks: { label: 'Clicks', color: 'var(--clicks)', cls: 'clicks', money: false, fmt: formatCount },
  orders: { label: 'Orders', color: 'var(--orders)', cls: 'orders', money: false, fmt: formatCount },
};

/**
 * A value of a series as shown: an amount with its currency code, a count as it is.
 * @param {SeriesKey} key
 * @param {string} value
 * @param {string} currency
 */
const shown = (key, value, currency) => (SERIES[key].money ? formatAmount(value, currency) : SERIES[key].fmt(value));

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
  // The currency on screen when the answer has several (kept across reloads and periods).
  const curKey = `rc.chartCurrency.${connector ?? ''}`;
  let chosen = sessionStorage.getItem(curKey) || '';
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
    const parts = currencyParts(d);
    empty = parts.every((p) => p.totals.rows === 0);
    showNotice();
    const name = `${connector || 'all-connectors'}-${d.from}-to-${d.to}`;
    const host = h('div', {});
    /** Draws the chosen currency's charts (no new request). */
    const draw = () => {
      // Not chosen yet (or gone): the currency with the most rows.
      const part = parts.find((p) => p.currency === chosen) ?? parts.reduce((a, b) => (b.totals.rows > a.totals.rows ? b : a));
      chosen = part.currency;
      el.dataset.currency = part.currency;
      /** @param {TopEntry[]} list */
      const mine = (list) => list.filter((x) => x.currency === part.currency);
      const view = { d, part, topPublishers: mine(d.topPublishers), topOffers: mine(d.topOffers) };
      host.replaceChildren(...(parts.length > 1 ? [currencySwitch(parts, part.currency, (c) => {
        chosen = c;
        sessionStorage.setItem(curKey, c);
        draw();
      })] : []), ...renderCharts(view, parts.length > 1 ? `${name}-${part.currency}` : name));
    };
    draw();
    body.replaceChildren(notice, host);
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
 * The answer's parts, one per currency. An answer without any (no connector in view) gets one of
 * zeros (no series: the charts then say there are no rows).
 * @param {ChartData} d
 * @returns {CurrencyPart[]}
 */
function currencyParts(d) {
  if (d.byCurrency && d.byCurrency.length) return d.byCurrency;
  const zero = { rows: 0, impressions: '0', clicks: '0', orders: '0', sales: '0', gross_commissions: '0', total_commissions: '0' };
  return [{ currency: d.currency ?? '', connectors: d.connector ? [d.connector] : [], series: d.series ?? [], totals: d.totals ?? { ...zero, days: 0 } }];
}

/**
 * The currency switch (several currencies): one button per currency, and a line saying that the
 * amounts are never added across them, and which connectors the shown one is of.
 * @param {CurrencyPart[]} parts
 * @param {string} current
 * @param {(currency: string) => void} choose
 */
function currencySwitch(parts, current, choose) {
  const part = /** @type {CurrencyPart} */ (parts.find((p) => p.currency === current));
  const names = part.connectors.length ? ` (${part.connectors.length === 1 ? 'connector' : 'connectors'} ${part.connectors.join(', ')})` : '';
  // '': rows of a removed connector loaded before currencies were recorded (README, "Currency").
  const label = (/** @type {string} */ c) => c || 'unlabelled';
  return h('div', { class: 'currency-bar pad' },
    h('div', { class: 'seg', role: 'group', 'aria-label': 'Currency', 'data-testid': 'currency-switch' },
      parts.map((p) => h('button', {
        type: 'button', 'data-currency': p.currency, 'aria-pressed': String(p.currency === current),
        title: p.currency ? `Amounts in ${p.currency}: ${p.connectors.join(', ') || 'no connector'}` : 'Rows of removed connectors, loaded before currencies were recorded',
        onclick: () => choose(p.currency),
      }, label(p.currency)))),
    h('p', { class: 'muted small', 'data-testid': 'currency-note', text: `Amounts are in ${parts.length} currencies and never added across them; showing ${label(current)}${names}.` }));
}

/**
 * @param {SeriesKey} key
 * @param {string} value
 * @param {boolean} line
 * @param {string} currency
 */
function totalBox(key, value, line, currency) {
  const def = SERIES[key];
  return h('div', { class: 'total' },
    h('div', { class: 'label' }, h('span', { class: `swatch${line ? ' line' : ''}`, style: { background: def.color }, 'aria-hidden': 'true' }), def.label),
    h('div', { class: 'value', 'data-testid': `total-${key}`, 'data-value': value, ...(def.money ? { 'data-currency': currency } : {}) },
      def.fmt(value), def.money && currency ? h('span', { class: 'cur', text: ` ${currency}` }) : null));
}

/**
 * @param {CurrencyView} v
 * @param {string} name the CSV files' name part: connector, period (and currency, when there are several)
 */
function renderCharts(v, name) {
  const { d, part } = v;
  const t = part.totals;
  const cur = part.currency;
  /**
   * @param {string} title
   * @param {SeriesKey} bar
   * @param {SeriesKey} line
   */
  const fig = (title, bar, line) => h('figure', {},
    h('h3', { text: title }),
    h('div', { class: 'totals' }, totalBox(bar, t[bar], false, cur), totalBox(line, t[line], true, cur)),
    dualChart(part.series, bar, line, `${title}${SERIES[bar].money && cur ? ` (${cur})` : ''}, ${d.from} to ${d.to}`, cur));
  return [
    h('div', { class: 'chart-grid' }, fig('Sales and total commissions', 'sales', 'total_commissions'), fig('Clicks and orders', 'clicks', 'orders')),
    dataTable(d, part, name),
    h('div', { class: 'top-grid' },
      topTable('Top publishers by sales', v.topPublishers, 'top-publishers', `rakuten-top-publishers-${name}.csv`, d.connector === null, cur),
      topTable('Top offers by sales', v.topOffers, 'top-offers', `rakuten-top-offers-${name}.csv`, d.connector === null, cur)),
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
 * @param {string} currency of the amounts (named above a money axis)
 */
function dualChart(series, barKey, lineKey, label, currency) {
  const W = 640;
  const H = 250;
  const m = { l: 50, r: 50, t: 22, b: 28 };
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
  // A money axis says its currency above it.
  if (bar.money && currency) svg.append(s('text', { x: m.l - 8, y: 10, 'text-anchor': 'end', class: `axis-cur t-${bar.cls}`, 'data-testid': 'axis-currency' }, currency));
  if (line.money && currency) svg.append(s('text', { x: W - m.r + 8, y: 10, 'text-anchor': 'start', class: `axis-cur t-${line.cls}`, 'data-testid': 'axis-currency' }, currency));
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
      s('title', {}, `${d.day} · ${bar.label} ${shown(barKey, d[barKey], currency)} · ${line.label} ${shown(lineKey, d[lineKey], currency)}`)));
  });
  svg.append(hits);
  return svg;
}

/**
 * @param {ChartData} d
 * @param {CurrencyPart} part the currency shown
 * @param {string} name
 */
function dataTable(d, part, name) {
  const cur = part.currency ? ` (${part.currency})` : '';
  return h('details', { class: 'data' },
    h('summary', {}, 'Show the daily numbers',
      csvButton(`Download the daily numbers${cur}, ${d.from} to ${d.to}, as CSV`, 'csv-daily', () => [`rakuten-daily-${name}.csv`, dailyCsv(part.series)])),
    h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'daily-table', 'data-currency': part.currency },
      h('thead', {}, h('tr', {}, ['Day', 'Rows', `Sales${cur}`, `Total commissions${cur}`, 'Clicks', 'Orders'].map((x, i) => h('th', { scope: 'col', class: i ? 'num' : '', text: x })))),
      h('tbody', {}, [...part.series].reverse().map((r) => h('tr', {},
        h('td', { text: r.day }), h('td', { class: 'num', text: formatCount(String(r.rows)) }), h('td', { class: 'num', text: formatMoney(r.sales) }),
        h('td', { class: 'num', text: formatMoney(r.total_commissions) }), h('td', { class: 'num', text: formatCount(r.clicks) }), h('td', { class: 'num', text: formatCount(r.orders) })))))));
}

/**
 * @param {string} title
 * @param {TopEntry[]} list
 * @param {string} testid
 * @param {string} filename of its CSV download
 * @param {boolean} combined the charts of all connectors: each row is one connector's id, and says which connector
 * @param {string} currency of the amounts (every entry's)
 */
function topTable(title, list, testid, filename, combined, currency) {
  const cur = currency ? ` (${currency})` : '';
  // Only the bar lengths use floats; every number shown or downloaded is the exact string.
  const max = Math.max(0, ...list.map((x) => Number(x.sales)));
  return h('div', { 'data-testid': testid, 'data-currency': currency },
    h('div', { class: 'top-head' }, h('h3', { text: title }),
      list.length ? csvButton(`Download "${title}" as CSV`, `csv-${testid}`, () => [filename, topCsv(list, combined)]) : null),
    list.length
      ? h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: '#' }), h('th', { scope: 'col', text: 'Name' }),
          combined ? h('th', { scope: 'col', class: 'connector', text: 'Connector' }) : null,
          h('th', { scope: 'col', class: 'num', text: `Sales${cur}` }), h('th', { scope: 'col', class: 'num', text: `Commissions${cur}` }))),
        h('tbody', {}, list.map((x, i) => h('tr', { 'data-currency': x.currency },
          h('td', { class: 'rank', text: String(i + 1) }),
          h('td', { class: 'name bar-cell', title: `${x.name ?? ''} (ID ${x.id}) · ${formatCount(String(x.rows))} rows` },
            x.name || h('span', { class: 'faint', text: `ID ${x.id}` }), x.name ? h('span', { class: 'id', text: `#${x.id}` }) : null,
            // On a narrow screen the connector column gives way to this line under the name.
            combined ? h('span', { class: 'conn-inline', text: x.connector }) : null,
            h('div', { class: 'share', 'aria-hidden': 'true' }, h('span', { style: { width: `${max > 0 ? Math.max(1, (Number(x.sales) / max) * 100) : 0}%` } }))),
          combined ? h('td', { class: 'connector', 'data-testid': 'top-connector', text: x.connector }) : null,
          h('td', { class: 'num', 'data-testid': 'top-sales', title: formatAmount(x.sales, x.currency), text: formatMoney(x.sales) }),
          h('td', { class: 'num', title: formatAmount(x.total_commissions, x.currency), text: formatMoney(x.total_commissions) })))))
      : h('p', { class: 'muted small', text: 'No rows in this period.' }));
}
