// @ts-check
// CSV downloads of what the charts section shows (the daily numbers, the top publishers and
// offers), made in the browser from the data already loaded: no request, and every number goes
// out as the exact string the warehouse gave (money included): never through a float.

import { h } from './dom.js';

/** @import { DayPoint, TopEntry } from './types.js' */

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. Text that a
 * spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe; numbers
 * ("-45.10" included) are left as they are.
 * @param {string | number | null | undefined} v
 */
export function csvField(v) {
  let t = v == null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(t) && !/^-?\d+(\.\d+)?$/.test(t)) t = `'${t}`;
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/**
 * A CSV text: a header line and one line per row, CRLF line ends.
 * @param {string[]} header
 * @param {Array<Array<string | number | null | undefined>>} rows
 */
export function toCsv(header, rows) {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** The daily numbers' columns, as the API names them (`currency`: that of the amounts). */
const DAY_COLUMNS = /** @type {const} */ (['day', 'currency', 'rows', 'impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions']);

/**
 * The daily numbers, oldest day first.
 * @param {DayPoint[]} series
 */
export const dailyCsv = (series) => toCsv([...DAY_COLUMNS], series.map((d) => DAY_COLUMNS.map((k) => d[k])));

/**
 * A top table: rank, ID, name, (the connector, in the table of all connectors), rows, currency,
 * sales, total commissions. The rank counts within the currency (the list holds one currency's
 * entries, or several currencies' each ranked on its own).
 * @param {TopEntry[]} list
 * @param {boolean} [combined]
 */
export function topCsv(list, combined = false) {
  /** @type {Map<string, number>} */
  const ranks = new Map();
  return toCsv(['rank', 'id', 'name', ...(combined ? ['connector'] : []), 'rows', 'currency', 'sales', 'total_commissions'],
    list.map((x) => {
      const rank = (ranks.get(x.currency) ?? 0) + 1;
      ranks.set(x.currency, rank);
      return [rank, x.id, x.name, ...(combined ? [x.connector] : []), x.rows, x.currency, x.sales, x.total_commissions];
    }));
}

/**
 * Hands `text` to the browser as a file download (UTF-8 with a BOM, so spreadsheets read names
 * in any script correctly).
 * @param {string} filename
 * @param {string} text
 */
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob(['\ufeff', text], { type: 'text/csv;charset=utf-8' }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/**
 * A small "Download CSV" button.
 * @param {string} label what it downloads, for screen readers ("Download the daily numbers as CSV")
 * @param {string} testid
 * @param {() => [string, string]} make the file name and the CSV text, when clicked
 */
export function csvButton(label, testid, make) {
  return h('button', {
    class: 'btn small csv', type: 'button', 'aria-label': label, title: label, 'data-testid': testid,
    // No default action: inside a <summary> the click would also open or close the details.
    onclick: (ev) => {
      ev.preventDefault();
      download(...make());
    },
  }, 'CSV ↓');
}
