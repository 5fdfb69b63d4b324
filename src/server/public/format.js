// @ts-check
// Number and time formatting for the web app. Pure functions, no DOM: the tests import them too.
// Decimals arrive as exact strings from the warehouse and are formatted as strings: no floats.

/**
 * "1234567" → "1,234,567".
 * @param {string} intPart
 */
export function groupDigits(intPart) {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * An exact decimal string for display: thousands separators, at least `minFrac` decimals,
 * trailing zeros beyond them dropped, nothing rounded. "1424355.9200" → "1,424,355.92";
 * "12.3450" → "12.345"; "7" → "7.00".
 * @param {string} s
 * @param {number} [minFrac]
 */
export function formatDecimal(s, minFrac = 2) {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(s).trim());
  if (!m) return String(s);
  const int = (m[2] || '0').replace(/^0+(?=\d)/, '');
  let frac = (m[3] || '').replace(/0+$/, '');
  if (frac.length < minFrac) frac = frac.padEnd(minFrac, '0');
  const neg = m[1] && (/[1-9]/.test(int) || /[1-9]/.test(frac));
  return `${neg ? '-' : ''}${groupDigits(int)}${frac ? `.${frac}` : ''}`;
}

/** @param {string} s */
export const formatMoney = (s) => formatDecimal(s, 2);
/**
 * An exact amount with its ISO 4217 code beside it: "1234.5", "GBP" → "1,234.50 GBP". Amounts of
 * different currencies are never added up, so every amount shown says which one it is in.
 * @param {string} s
 * @param {string | null | undefined} currency
 */
export const formatAmount = (s, currency) => (currency ? `${formatMoney(s)} ${currency}` : formatMoney(s));
/** @param {string} s */
export const formatCount = (s) => formatDecimal(s, 0);

/**
 * Axis labels: 1200 → "1.2k", 3400000 → "3.4M".
 * @param {number} n
 */
export function formatCompact(n) {
  const a = Math.abs(n);
  /**
   * @param {number} v
   * @param {string} unit
   */
  const fmt = (v, unit) => `${Number(v.toFixed(v < 10 ? 1 : 0))}${unit}`;
  if (a >= 1e9) return fmt(n / 1e9, 'B');
  if (a >= 1e6) return fmt(n / 1e6, 'M');
  if (a >= 1e3) return fmt(n / 1e3, 'k');
  return String(Number(n.toFixed(a < 10 && a % 1 ? 1 : 0)));
}

/**
 * A round axis maximum and step for values up to `max`.
 * @param {number} max
 * @param {number} [ticks]
 * @returns {{ max: number, step: number }}
 */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { max: ticks, step: 1 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  return { max: step * Math.ceil(max / step - 1e-9), step };
}

/**
 * Days from `first` to `last`, both included: "2026-09-02", "2026-12-01" → 91 (no time zone involved).
 * @param {string} first
 * @param {string} last
 */
export function daySpan(first, last) {
  /** @param {string} d */
  const utc = (d) => {
    const [y, m, dd] = d.split('-').map(Number);
    return Date.UTC(y, m - 1, dd);
  };
  return Math.round((utc(last) - utc(first)) / 86_400_000) + 1;
}

/**
 * A connector's coverage in words: `value` "36" when every day from the first to the last is
 * there, else "36 of 91" (days are missing, e.g. mid-backfill); `missing` how many.
 * @param {{ days: number, firstDay: string | null, lastDay: string | null }} c
 * @returns {{ value: string, span: number, missing: number }}
 */
export function coverageText(c) {
  const span = c.firstDay && c.lastDay ? daySpan(c.firstDay, c.lastDay) : c.days;
  const missing = Math.max(0, span - c.days);
  return { value: missing ? `${formatCount(String(c.days))} of ${formatCount(String(span))}` : formatCount(String(c.days)), span, missing };
}

/** @type {Record<string, string>} */
const WAREHOUSES = { duckdb: 'DuckDB', postgres: 'PostgreSQL', postgresql: 'PostgreSQL', clickhouse: 'ClickHouse' };

/**
 * A warehouse kind as users know it: "duckdb" → "DuckDB", "postgres" → "PostgreSQL", "clickhouse" → "ClickHouse".
 * @param {string} kind
 */
export const warehouseName = (kind) => WAREHOUSES[kind.toLowerCase()] ?? kind;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * "2026-11-03" → "Nov 3" (no time zone involved).
 * @param {string} day
 */
export function shortDay(day) {
  const [, m, d] = day.split('-');
  return `${MONTHS[Number(m) - 1]} ${Number(d)}`;
}

/**
 * "3.2 s", "4 min 05 s", "2 h 03 min".
 * @param {number | null | undefined} ms
 */
export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/**
 * "5 min ago", "in 3 h", "just now".
 * @param {string | null | undefined} iso
 * @param {number} [now]
 */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return 'never';
  const diff = Date.parse(iso) - now;
  const a = Math.abs(diff);
  if (a < 45_000) return diff < 0 ? 'just now' : 'in a moment';
  /** @type {[number, string][]} */
  const units = [[86_400_000, 'day'], [3_600_000, 'h'], [60_000, 'min']];
  for (const [size, unit] of units) {
    if (a >= size) {
      const n = Math.round(a / size);
      const label = unit === 'day' ? (n === 1 ? 'day' : 'days') : unit;
      return diff < 0 ? `${n} ${label} ago` : `in ${n} ${label}`;
    }
  }
  return diff < 0 ? 'just now' : 'in a moment';
}

/**
 * "2026-11-27 06:00" in the viewer's local time.
 * @param {string | null | undefined} iso
 */
export function localDateTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  /** @param {number} n */
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
