/**
 * The dashboard reads (dayTotals, top, coverage) as text, in ONE place. Each warehouse runs its own
 * SQL and hands its raw values here: exact text from the database (or an integer), null where SQL
 * said NULL (a sum over nothing but NULLs, min() over no rows). Out come the strings the API, the
 * web app and the tests compare, identical on every warehouse. The format is DuckDB's, the first
 * warehouse's:
 *
 * - counts are integers, "0" when every value was NULL;
 * - money has exactly MONEY_SCALE decimals ("1234.5600", "-0.0100"; a server that trims trailing
 *   zeros, like ClickHouse 21.9+, is padded), "0.0000" in dayTotals when every value was NULL,
 *   but "0" in `top` (DuckDB's `sum(x)::VARCHAR` was NULL there and read as '0');
 * - a currency is its code, '' for rows not labelled yet (schema.ts);
 * - days are YYYY-MM-DD; coverage of no rows has no first or last day (ClickHouse's min() of
 *   nothing is 1970-01-01, never shown).
 *
 * Money never passes through a JS number: a driver must return sums as text.
 */
import { MONEY_SCALE } from '../model/schema.js';
import type { Coverage, DayTotals, TopEntry } from './types.js';

/** A value as the database returned it: exact text or an integer; null/undefined = SQL NULL. */
export type Raw = string | number | bigint | null | undefined;

const isNull = (v: Raw): v is null | undefined => v === null || v === undefined;

/** "12.5" / "-3" → "12.5000" / "-3.0000": plain decimal text with exactly MONEY_SCALE decimals. Other text is kept. */
export function moneyText(s: string): string {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return s;
  return `${m[1]}${m[2]}.${(m[3] ?? '').padEnd(MONEY_SCALE, '0')}`;
}

const MONEY_ZERO = moneyText('0');
const count = (v: Raw): string => (isNull(v) ? '0' : String(v));
const money = (v: Raw, whenNull: string): string => (isNull(v) ? whenNull : moneyText(String(v)));

/** One day's raw sums: `sum(x)` of each column, NULL when the day had no non-NULL value. */
export interface RawDayTotals {
  day: Raw;
  currency: Raw;
  rows: Raw;
  impressions: Raw;
  clicks: Raw;
  orders: Raw;
  sales: Raw;
  gross_commissions: Raw;
  total_commissions: Raw;
}

export function dayTotalsFrom(r: RawDayTotals): DayTotals {
  return {
    day: String(r.day),
    currency: isNull(r.currency) ? '' : String(r.currency),
    rows: Number(r.rows),
    impressions: count(r.impressions),
    clicks: count(r.clicks),
    orders: count(r.orders),
    sales: money(r.sales, MONEY_ZERO),
    gross_commissions: money(r.gross_commissions, MONEY_ZERO),
    total_commissions: money(r.total_commissions, MONEY_ZERO),
  };
}

/** One top entry's raw values: its id, latest name (NULL if none), row count and sums. */
export interface RawTopEntry {
  connector: Raw;
  currency: Raw;
  id: Raw;
  name: Raw;
  rows: Raw;
  sales: Raw;
  total_commissions: Raw;
}

export function topEntryFrom(r: RawTopEntry): TopEntry {
  return {
    connector: String(r.connector),
    currency: isNull(r.currency) ? '' : String(r.currency),
    id: String(r.id),
    name: isNull(r.name) ? null : String(r.name),
    rows: Number(r.rows),
    sales: money(r.sales, '0'),
    total_commissions: money(r.total_commissions, '0'),
  };
}

/** A connector's raw coverage: count(*), count(DISTINCT _date), min(_date), max(_date) as YYYY-MM-DD. */
export interface RawCoverage {
  rows: Raw;
  days: Raw;
  first: Raw;
  last: Raw;
}

export function coverageFrom(r: RawCoverage | undefined): Coverage {
  const rows = Number(r?.rows ?? 0);
  const dayOf = (v: Raw): string | null => (rows > 0 && !isNull(v) ? String(v) : null);
  return { rows, days: Number(r?.days ?? 0), firstDay: dayOf(r?.first), lastDay: dayOf(r?.last) };
}
