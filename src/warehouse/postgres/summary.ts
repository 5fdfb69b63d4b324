/**
 * The dashboard's summaries in PostgreSQL (DAY_SUMMARY_TABLE and TOP_SUMMARY_TABLE of the model):
 * dayTotals, top and coverage read only these, so a read costs the days asked (a few rows per
 * connector and day), never a scan of the fact table. A module of its own because it is one
 * concern with its own rules — DDL and the one-time backfill of a database made before them, the
 * refresh inside each window's transaction, the locks that keep concurrent loads of one connector
 * consistent, and the reads — and warehouse.ts stays about loading.
 *
 * Maintenance (`refreshSummaries`, in the window's transaction, after its rows are in): the
 * connector's summary rows of the affected days are deleted and re-aggregated from the fact table.
 * The affected days are the window's days plus every day outside it that the load appended rows to
 * (replaceWindow deletes only the window's days but stores every row it is given; the report
 * reader itself fails a window with such a row, so only direct callers make them). Re-aggregating
 * from the facts, rather than adding up the rows in JS, keeps the summaries equal to the facts even
 * when another load appended rows to one of those days.
 *
 * Concurrency (all transaction-scoped advisory locks, so a crash releases them):
 * - a load holds its connector's lock SHARED for its whole transaction (`lockConnector`), taken
 *   first; deleteConnectorData and relabelCurrency take it EXCLUSIVE: a delete (relabel) waits for
 *   the connector's loads in flight, and a load waits for it, so no load's facts outlive a delete
 *   that took their sums, and no load commits rows in the old currency halfway through a relabel;
 * - the refresh runs under one summary lock per (connector, day) it refreshes, which
 *   `refreshSummaries` takes in day order, in one statement, once the load's rows are in: loads
 *   that touch one day (a window day of one, an appended day of the other) refresh it one after
 *   the other, each seeing the facts the ones before it committed; windows of different days (every
 *   ordinary window: the per-day window locks already keep two loads of one day apart) refresh at
 *   the same time. After it a load only upserts its dimensions (row locks taken in id order, table
 *   by table, by every load alike) and commits, and it takes no summary lock while holding
 *   dimension rows, so no cycle of waits can form; different connectors never wait on each other.
 *   (A worker of an earlier version takes one summary lock per connector instead: with it, only
 *   appended days lose their mutual exclusion.)
 *
 * Names in TOP_SUMMARY (the model's rule, = src/model/dimensions.ts): per (connector, day, id),
 * `name_day` = the latest coalesce(transaction_date, _date) with a non-NULL name, `name` = the
 * smallest such name in byte order on that day; over a range the greatest name_day wins, ties to
 * the smallest name. Both are one streaming min() over `NAME_KEY(day) || name` (COLLATE "C"): the
 * key is the day counted back from 9999-12-31, zero-padded to 7 digits, so a later day sorts first
 * and, on one day, the byte order of the names decides. Days are 0001..9999 (the report reader
 * accepts four-digit years only; PostgreSQL has no year 0).
 *
 * Sums are numeric (count_total / money_total: TOTAL_PRECISION digits) and read back as `::text`:
 * exact, formatted by amounts.ts, never a JS number; a sum over NULLs only stays NULL (plain SQL sum).
 *
 * Currency: each summary row carries its fact rows' `currency` (grouped by it, see dayInsert), and
 * the reads never add two currencies up: dayTotals per (day, currency), top ranked within each
 * currency. The column's DDL, migration and relabelling are currency.ts's.
 */
import type pg from 'pg';
import { type ColumnDef, DAY_SUMMARY_TABLE, REPORT_TABLE, TOP_DIMENSIONS, TOP_SUMMARY_TABLE } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';

const F = REPORT_TABLE.name;
const DAY = DAY_SUMMARY_TABLE.name;
const TOP = TOP_SUMMARY_TABLE.name;

/** One row of the top summary (TOP_SUMMARY_TABLE) of a window, its sums as PostgreSQL's exact text: computed by dimensions.ts aggregateWindow, written by refreshSummaries. */
export interface TopRow {
  day: string;
  currency: string;
  dimension: string;
  id: string;
  rows: string;
  sums: (string | null)[];
  name: string | null;
  nameDay: string | null;
}

export const Q = (n: string): string => `"${n}"`;

/** The summed columns of a summary table (all but the key, the row count and the name columns). */
const sums = (columns: readonly ColumnDef[]): string[] =>
  columns.filter((c) => (c.type === 'count_total' || c.type === 'money_total') && c.name !== 'rows').map((c) => c.name);
const DAY_SUMS = sums(DAY_SUMMARY_TABLE.columns);
export const TOP_SUMS = sums(TOP_SUMMARY_TABLE.columns);

/** All connectors by day (dayTotals(null)); one connector by day is the primary key's prefix. */
const DAY_DATE_IDX = `${DAY}_date_idx`;
/** top(null): one dimension over a range of days; top(connector) uses the primary key (connector, day, …). */
const TOP_DIMENSION_DATE_IDX = `${TOP}_dimension_date_idx`;

/** The tables and indexes, rendered from the model (`columns`: a column list, currency.ts pgColumns); `relations` are what runDdl checks for. */
export function summaryDdl(columns: (cols: readonly ColumnDef[]) => string): { statements: string[]; relations: string[] } {
  const table = (t: { name: string; columns: readonly ColumnDef[]; key: readonly string[] }): string =>
    `CREATE TABLE IF NOT EXISTS ${t.name} (\n  ${columns(t.columns)},\n  PRIMARY KEY (${t.key.map(Q).join(', ')})\n)`;
  return {
    statements: [
      table(DAY_SUMMARY_TABLE),
      table(TOP_SUMMARY_TABLE),
      `CREATE INDEX IF NOT EXISTS ${DAY_DATE_IDX} ON ${DAY} (_date)`,
      `CREATE INDEX IF NOT EXISTS ${TOP_DIMENSION_DATE_IDX} ON ${TOP} (dimension, _date)`,
    ],
    relations: [DAY, TOP, DAY_DATE_IDX, TOP_DIMENSION_DATE_IDX],
  };
}

/** The sort key of a (day, name) pair: later days first, then the name's bytes (see the header). */
const NAME_KEY = (day: string): string => `lpad((date '9999-12-31' - ${day})::text, 7, '0')`;
const KEY_DIGITS = 7;
/** min() of the keys of the non-NULL names: the latest day's smallest name, and that day. */
export const LATEST_KEY = (name: string, day: string): string => `min((CASE WHEN ${name} IS NOT NULL THEN ${NAME_KEY(day)} || ${name} END) COLLATE "C")`;
export const nameOf = (key: string): string => `substr(${key}, ${KEY_DIGITS + 1})`;
export const dayOf = (key: string): string => `date '9999-12-31' - substr(${key}, 1, ${KEY_DIGITS})::int`;

/**
 * One row per (connector, day) with rows, aggregated from the fact rows `where` selects, with
 * their currency. A (connector, day) has one currency (a load writes one on all its rows,
 * relabelCurrency changes all of a connector's, and a load in another currency than the
 * connector's labelled rows is refused up front: currency.ts checkCurrency): grouping by it too
 * never adds two currencies up. Only rows appended outside their window to a day still in ''
 * (loaded before the column existed, not labelled yet) can give a day two, which breaks the
 * primary key: refreshSummaries then fails the load with a ConnectorError saying to relabel first.
 */
function dayInsert(where: string): string {
  const cols = ['_connector', '_date', 'rows', ...DAY_SUMS, 'currency'];
  return `INSERT INTO ${DAY} (${cols.map(Q).join(', ')})
    SELECT _connector, _date, count(*), ${DAY_SUMS.map((c) => `sum(${Q(c)})`).join(', ')}, currency
    FROM ${F} AS f WHERE ${where}
    GROUP BY _connector, _date, currency`;
}

/**
 * One row per (connector, day, dimension, non-NULL id), from ONE pass over the fact rows `where`
 * selects: a grouping set per dimension, told apart by GROUPING() (a set's mask has the bit of
 * every other dimension's id). Measured at 82k rows: 85 ms, where unpivoting each row into one row
 * per dimension (CROSS JOIN LATERAL (VALUES …)) took 280 ms and a query per dimension 190 ms.
 */
function topInsert(where: string): string {
  const dims = Object.entries(TOP_DIMENSIONS);
  const n = dims.length;
  const pick = (of: (dim: string, c: { id: string; name: string }) => string): string =>
    `CASE GROUPING(${dims.map(([, c]) => `f.${Q(c.id)}`).join(', ')}) ${dims
      .map(([d, c], j) => `WHEN ${(1 << n) - 1 - (1 << (n - 1 - j))} THEN ${of(d, c)}`).join(' ')} END`;
  const cols = ['_connector', '_date', 'dimension', 'id', 'rows', ...TOP_SUMS, 'name', 'name_day', 'currency'];
  return `INSERT INTO ${TOP} (${cols.map(Q).join(', ')})
    SELECT _connector, _date, dimension, id, n, ${TOP_SUMS.map(Q).join(', ')}, ${nameOf('k')}, ${dayOf('k')}, currency
    FROM (
      SELECT f._connector, f._date, f.currency, ${pick((d) => `'${d}'`)} AS dimension, ${pick((_, c) => `f.${Q(c.id)}`)} AS id, count(*) AS n,
             ${TOP_SUMS.map((c) => `sum(f.${Q(c)}) AS ${Q(c)}`).join(', ')},
             ${pick((_, c) => LATEST_KEY(`f.${Q(c.name)}`, 'coalesce(f.transaction_date, f._date)'))} AS k
      FROM ${F} AS f WHERE ${where}
      GROUP BY GROUPING SETS (${dims.map(([, c]) => `(f._connector, f._date, f.currency, f.${Q(c.id)})`).join(', ')})
    ) AS s
    WHERE id IS NOT NULL`;
}

/**
 * init() on a database whose summary tables were just created (made by a version without them, or
 * new and empty): fill them from the whole fact table, in runDdl's transaction and under its lock,
 * so exactly one process does it.
 */
export async function fillSummaries(c: pg.ClientBase, missing: ReadonlySet<string>): Promise<void> {
  for (const [table, insert] of [[DAY, dayInsert], [TOP, topInsert]] as const) {
    if (!missing.has(table)) continue;
    const { rowCount } = await c.query(insert('f._date IS NOT NULL'));
    // Statistics now, not whenever autovacuum comes by: without them the planner takes the freshly
    // filled table for empty (measured at 5M facts: top() over 55k summary rows sorted on disk,
    // 50-110 ms, instead of a hash aggregate, 28 ms).
    if (rowCount) await c.query(`ANALYZE ${table}`);
  }
}

/** The connector's lock: SHARED by each load for its whole transaction, EXCLUSIVE by deleteConnectorData and relabelCurrency (currency.ts). */
export async function lockConnector(c: pg.ClientBase, connector: string, mode: 'shared' | 'exclusive'): Promise<void> {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  await c.query(`SELECT ${fn}(hashtextextended('rakuten-connector:connector:' || $1, 0))`, [connector]);
}

/**
 * Re-aggregate the connector's summary rows of the days start..end and of `extraDays` (days outside
 * the window that the load appended rows to) from the fact table. Call inside the load's
 * transaction, after its rows are in: it takes the summary locks of those days. `top`, if given,
 * aggregates the top summary rows instead of topInsert (aggregateWindow, which computes them in the
 * scan that also aggregates the dimensions); it is called under those locks.
 */
export async function refreshSummaries(
  c: pg.ClientBase, connector: string, start: string, end: string, extraDays: readonly string[], top?: () => Promise<readonly TopRow[]>,
): Promise<void> {
  // One lock per (connector, day) refreshed, taken in day order in one statement: loads whose days
  // are disjoint (every ordinary window: the window locks already keep two loads of one day apart)
  // refresh at the same time; only loads that share a day (rows appended outside a window) queue.
  await c.query(
    `SELECT pg_advisory_xact_lock(hashtextextended('rakuten-connector:summary:' || $1 || ':' || d, 0))
     FROM (SELECT DISTINCT d FROM (
       SELECT to_char(g, 'YYYY-MM-DD') AS d FROM generate_series($2::date, $3::date, interval '1 day') AS g
       UNION ALL SELECT unnest($4::text[])) AS a ORDER BY d) AS days`,
    [connector, start, end, [...extraDays]],
  );
  const days = (t: string): string =>
    `${t}_connector = $1 AND ${extraDays.length > 0 ? `(${t}_date BETWEEN $2::date AND $3::date OR ${t}_date = ANY($4::date[]))` : `${t}_date BETWEEN $2::date AND $3::date`}`;
  const params = extraDays.length > 0 ? [connector, start, end, [...extraDays]] : [connector, start, end];
  await c.query(`DELETE FROM ${DAY} WHERE ${days('')}`, params);
  await c.query(`DELETE FROM ${TOP} WHERE ${days('')}`, params);
  try {
    await c.query(dayInsert(days('f.')), params);
  } catch (e) {
    if ((e as { code?: string }).code !== '23505') throw e;
    throw new ConnectorError('internal', `connector ${connector}: rows of one day would be in two currencies (rows loaded outside their window onto a day of unlabelled rows)`, {
      hint: 'relabel its rows to the connector\'s currency first (Warehouse.relabelCurrency; the app does when it opens)',
    });
  }
  if (!top) {
    await c.query(topInsert(days('f.')), params);
    return;
  }
  // The top rows aggregated by the caller, from the same facts, now (under the locks above).
  const rows = await top();
  if (rows.length === 0) return;
  const n = 6 + TOP_SUMS.length;
  await c.query(
    `INSERT INTO ${TOP} (${['_connector', '_date', 'dimension', 'id', 'rows', ...TOP_SUMS, 'name', 'name_day', 'currency'].map(Q).join(', ')})
     SELECT $1, u.*
     FROM unnest($2::date[], $3::text[], $4::text[], $5::numeric[], ${TOP_SUMS.map((_, i) => `$${6 + i}::numeric[]`).join(', ')}, $${n}::text[], $${n + 1}::date[], $${n + 2}::text[]) AS u`,
    [connector, rows.map((r) => r.day), rows.map((r) => r.dimension), rows.map((r) => r.id), rows.map((r) => r.rows),
      ...TOP_SUMS.map((_, i) => rows.map((r) => r.sums[i])), rows.map((r) => r.name), rows.map((r) => r.nameDay), rows.map((r) => r.currency)],
  );
}

/** deleteConnectorData's part (under the connector's exclusive lock). */
export async function deleteSummaries(c: pg.ClientBase, connector: string): Promise<void> {
  await c.query(`DELETE FROM ${DAY} WHERE _connector = $1`, [connector]);
  await c.query(`DELETE FROM ${TOP} WHERE _connector = $1`, [connector]);
}

// ---------------------------------------------------------------------------------------------
// The reads: SQL and parameters; the rows go through amounts.ts.

export interface Query {
  sql: string;
  params: unknown[];
}

/** Two spellings rather than `($n IS NULL OR _connector = $n)`, so the planner sees which index fits. */
const range = (connector: string | null, from: string, to: string, params: unknown[]): string => {
  params.push(from, to);
  const days = `_date BETWEEN $${params.length - 1}::date AND $${params.length}::date`;
  if (connector === null) return days;
  params.push(connector);
  return `_connector = $${params.length} AND ${days}`;
};

const SUM = (col: string): string => `sum(${Q(col)})::text AS ${Q(col)}`;

/** Per (day, currency), by day then currency in byte order: amounts of two currencies are never added. */
export function dayTotalsQuery(connector: string | null, from: string, to: string): Query {
  const params: unknown[] = [];
  const where = range(connector, from, to, params);
  return {
    sql: `SELECT to_char(_date, 'YYYY-MM-DD') AS day, currency, ${SUM('rows')}, ${DAY_SUMS.map(SUM).join(', ')}
          FROM ${DAY} WHERE ${where}
          GROUP BY _date, currency ORDER BY _date, currency COLLATE "C"`,
    params,
  };
}

export function topQuery(dimension: keyof typeof TOP_DIMENSIONS, connector: string | null, from: string, to: string, limit: number): Query {
  const params: unknown[] = [dimension];
  const where = range(connector, from, to, params);
  // Per (connector, id) and currency (a connector's rows are in one, but never add two up), ranked
  // within each currency, `limit` of each, the currencies in byte order; COLLATE "C": ties ordered
  // by bytes, as DuckDB does, whatever the database's collation.
  const cols = ['connector', 'currency', 'id', 'name', 'rows', ...TOP_SUMS].map(Q).join(', ');
  return {
    sql: `SELECT ${cols} FROM (
            SELECT _connector AS connector, currency, id, ${nameOf(LATEST_KEY('name', 'name_day'))} AS name, ${SUM('rows')}, ${TOP_SUMS.map(SUM).join(', ')},
                   row_number() OVER (PARTITION BY currency ORDER BY sum(sales) DESC NULLS LAST, id COLLATE "C", _connector COLLATE "C") AS rank
            FROM ${TOP} WHERE dimension = $1 AND ${where}
            GROUP BY _connector, id, currency
          ) AS t
          WHERE rank <= ${Math.max(1, Math.floor(limit))} ORDER BY currency COLLATE "C", rank`,
    params,
  };
}

/** Every connector's coverage, one row each. */
export const COVERAGES_QUERY: Query = {
  sql: `SELECT _connector, sum("rows")::text AS rows, count(*) AS days,
               to_char(min(_date), 'YYYY-MM-DD') AS first, to_char(max(_date), 'YYYY-MM-DD') AS last
        FROM ${DAY} GROUP BY _connector`,
  params: [],
};

export function coverageQuery(connector: string): Query {
  return {
    sql: `SELECT sum("rows")::text AS rows, count(*) AS days,
                 to_char(min(_date), 'YYYY-MM-DD') AS first, to_char(max(_date), 'YYYY-MM-DD') AS last
          FROM ${DAY} WHERE _connector = $1`,
    params: [connector],
  };
}
