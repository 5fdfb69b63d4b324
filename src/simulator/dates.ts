// Calendar helpers. Days are integers (days since 1970-01-01 UTC) so ranges and
// "D - k" arithmetic are trivial and no time zones can leak in.

const DAY_MS = 86_400_000;

export const DATE_FORMATS = ['m/d/yy', 'm/d/yyyy', 'm-d-yy', 'yyyy-mm-dd', 'd/m/yy'] as const;
export type DateFormat = (typeof DATE_FORMATS)[number];

export function isDateFormat(s: string): s is DateFormat {
  return (DATE_FORMATS as readonly string[]).includes(s);
}

/** Strict YYYY-MM-DD (real calendar date) → day number, else null. */
export function parseIsoDay(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const t = Date.UTC(y, mo - 1, d);
  const dt = new Date(t);
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return null;
  return t / DAY_MS;
}

export function civil(day: number): { y: number; m: number; d: number } {
  const dt = new Date(day * DAY_MS);
  return { y: dt.getUTCFullYear(), m: dt.getUTCMonth() + 1, d: dt.getUTCDate() };
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

export function isoDay(day: number): string {
  const { y, m, d } = civil(day);
  return `${y}-${pad2(m)}-${pad2(d)}`;
}

/** YYYYMMDD, used inside order ids. */
export function compactDay(day: number): string {
  const { y, m, d } = civil(day);
  return `${y}${pad2(m)}${pad2(d)}`;
}

export function formatDay(day: number, fmt: DateFormat): string {
  const { y, m, d } = civil(day);
  const yy = pad2(y % 100);
  switch (fmt) {
    case 'm/d/yy':
      return `${m}/${d}/${yy}`;
    case 'm/d/yyyy':
      return `${m}/${d}/${y}`;
    case 'm-d-yy':
      return `${m}-${d}-${yy}`;
    case 'yyyy-mm-dd':
      return `${y}-${pad2(m)}-${pad2(d)}`;
    case 'd/m/yy':
      return `${d}/${m}/${yy}`;
  }
}

export function utcToday(): number {
  return Math.floor(Date.now() / DAY_MS);
}

export const DATE_RANGES = ['this-month', 'last-month', 'yesterday', 'today', 'last-7-days'] as const;
export type DateRangeName = (typeof DATE_RANGES)[number];

/** Named ranges relative to `today` (inclusive bounds). last-7-days excludes today. */
export function namedRange(name: string, today: number): { from: number; to: number } | null {
  const { y, m } = civil(today);
  switch (name) {
    case 'today':
      return { from: today, to: today };
    case 'yesterday':
      return { from: today - 1, to: today - 1 };
    case 'last-7-days':
      return { from: today - 7, to: today - 1 };
    case 'this-month':
      return { from: Date.UTC(y, m - 1, 1) / DAY_MS, to: today };
    case 'last-month':
      return { from: Date.UTC(y, m - 2, 1) / DAY_MS, to: Date.UTC(y, m - 1, 1) / DAY_MS - 1 };
    default:
      return null;
  }
}
