/**
 * The DuckDB warehouse's summaries (DAY_SUMMARY_TABLE and TOP_SUMMARY_TABLE of src/model/schema.ts):
 * small per-(connector, day) tables that the dashboard reads (dayTotals, coverage, top) instead of
 * the fact table, so a read costs the days asked, not the table. Every warehouse keeps them, with
 * the same rules; here they also keep reads fast while a sync is busy with the fact table (at 5M
 * fact rows, top over a year of all connectors took 55-80 ms on the facts, a third of that here).
 *
 * They are never updated incrementally: every transaction that changes fact rows recomputes the
 * summary rows of the (connector, day)s it touched from the fact table before it commits
 * (delete + insert … select … group by), so they agree with the facts whatever happened: a group
 * commit of several windows, rows a load put on days outside its window, a failed load (the whole
 * transaction rolls back). Fact rows without a _date (only a hand-made `rows` body can have them)
 * count for no day. A file made before the summaries existed gets them filled once, by init.
 */
import { listValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { type ColumnDef, DAY_SUMMARY_TABLE, REPORT_TABLE, TOP_DIMENSIONS, TOP_SUMMARY_TABLE } from '../../model/schema.js';
import type { TypeMap } from '../render.js';
import type { WindowLoad } from '../types.js';
import { inTransaction } from './connection.js';
import { columnsDdl } from './currency.js';

const T = REPORT_TABLE.name;
const DAY = DAY_SUMMARY_TABLE.name;
const TOP = TOP_SUMMARY_TABLE.name;
const names = (cols: readonly ColumnDef[]): string[] => cols.map((c) => c.name);
/** The summed columns of DAY_SUMMARY: each the sum of the fact column of the same name. */
const DAY_SUMS = names(DAY_SUMMARY_TABLE.columns).filter((n) => !['_connector', '_date', 'rows', 'currency'].includes(n));

/**
 * The name rule of TOP_SUMMARY as one orderable key: the row's day negated, then its name, so the
 * smallest key is the latest day's smallest name in byte order (DuckDB compares VARCHAR and STRUCT
 * bytewise / field by field). A plain hash aggregate (min), no sort.
 */
const nameKey = (day: string, name: string): string => `{'k': -date_diff('day', DATE '1970-01-01', ${day}), 'n': ${name}}`;
const keyDay = (key: string): string => `DATE '1970-01-01' + CAST(-struct_extract(${key}, 'k') AS INTEGER)`;

/** Which (connector, day)s a transaction touched: per connector, day ranges and single days. */
export class TouchedDays {
  /** The currency of each connector's loads in this transaction (currency.ts: one per connector). */
  readonly currencies = new Map<string, string>();
  private readonly byConnector = new Map<string, { ranges: [string, string][]; days: Set<string> }>();

  private entry(connector: string) {
    let e = this.byConnector.get(connector);
    if (!e) this.byConnector.set(connector, (e = { ranges: [], days: new Set() }));
    return e;
  }

  range(connector: string, start: string, end: string): void {
    this.entry(connector).ranges.push([start, end]);
  }

  day(connector: string, day: string): void {
    this.entry(connector).days.add(day);
  }

  /**
   * A WHERE condition on (_connector, _date) matching exactly these days, and its parameters; with
   * `currency`, also an expression of _connector giving each connector's currency (its loads'),
   * with its parameters appended.
   */
  where(): { sql: string; params: DuckDBValue[] };
  where(currency: true): { sql: string; params: DuckDBValue[]; currency: string };
  where(currency = false): { sql: string; params: DuckDBValue[]; currency?: string } {
    const params: DuckDBValue[] = [];
    const p = (v: DuckDBValue): string => `$${params.push(v)}`;
    const terms = [...this.byConnector].map(([connector, { ranges, days }]) => {
      const dates = ranges.map(([s, e]) => `_date BETWEEN ${p(s)}::DATE AND ${p(e)}::DATE`);
      if (days.size > 0) dates.push(`_date IN (SELECT unnest(${p(listValue([...days]))}::VARCHAR[])::DATE)`);
      return `(_connector = ${p(connector)} AND (${dates.join(' OR ')}))`;
    });
    const sql = terms.length > 0 ? terms.join(' OR ') : 'false';
    if (!currency) return { sql, params };
    const cases = [...this.byConnector.keys()].map((connector) => {
      const cur = this.currencies.get(connector);
      if (cur === undefined) throw new Error(`internal: no currency for the touched connector ${connector}`);
      return `WHEN ${p(connector)} THEN ${p(cur)}`;
    });
    return { sql, params, currency: cases.length > 0 ? `CASE _connector ${cases.join(' ')} END` : `''` };
  }
}

type SummaryTable = typeof DAY_SUMMARY_TABLE | typeof TOP_SUMMARY_TABLE;

/**
 * The summary DDL, from the model with the warehouse's types, except:
 * - the wide totals are stored uncompressed: DuckDB bit-packs 128-bit decimals by default, and
 *   unpacking them is ~100× slower than 64-bit values (sum() over 300K rows: 260 ms, 3 ms
 *   uncompressed), which would make the summaries slower to read than the facts;
 * - TOP_SUMMARY has no PRIMARY KEY: DuckDB's index (ART) lives in memory (a year of many ids ran
 *   out of the 128 MB memory limit building it) and is paid on every insert; its rows are unique by
 *   construction (each is one group of the recompute). DAY_SUMMARY (connectors × days) keeps it.
 */
export function summaryDdl(table: SummaryTable, types: TypeMap): string {
  const stored: TypeMap = {
    ...types,
    count_total: `${types.count_total} USING COMPRESSION uncompressed`,
    money_total: `${types.money_total} USING COMPRESSION uncompressed`,
  };
  const key = table === DAY_SUMMARY_TABLE ? `,\n  PRIMARY KEY (${table.key.join(', ')})` : '';
  return `CREATE TABLE ${table.name} (\n  ${columnsDdl(table.columns, stored)}${key}\n)`;
}

/**
 * The days outside the window that this load put rows on (a `rows` body or a multi-day CSV gives
 * each row its own _date): the rows it inserted carry its connector, sync id and commit time. Rows
 * of an older load with the very same values would only add days to recompute, which is harmless.
 * Cheap: committed row groups are skipped by their _synced_at ranges.
 */
export async function daysOutsideWindow(c: DuckDBConnection, load: WindowLoad, syncedAt: string): Promise<string[]> {
  const r = await c.runAndReadAll(
    `SELECT DISTINCT strftime(_date, '%Y-%m-%d') AS d FROM ${T}
     WHERE _connector = $1 AND _sync_id = $2 AND _synced_at = $3::TIMESTAMP AND NOT (_date BETWEEN $4::DATE AND $5::DATE)`,
    [load.connector, load.syncId, syncedAt, load.start, load.end],
  );
  return (r.getRowObjectsJson() as { d: string }[]).map((x) => x.d);
}

/**
 * INSERT … SELECT of both summaries from the fact rows matching `where` (rows without a _date have
 * no day to count for). A connector's rows have one currency (relabelCurrency changes them all, and
 * a load in another currency is refused: currency.ts), so the currency of a group is its
 * connector's: `currency`, an expression of _connector, evaluated once per group. A refresh knows
 * it (its loads' currencies: TouchedDays.where(true)) and reads no currency off the fact rows, so
 * it costs what it did without the column (reading it with any_value: +20 % on the fills; grouping
 * by it, or checking min = max: more); the fill of a whole table (init) reads any_value.
 */
function fillSql(where: string, currency = 'any_value(currency)'): { day: string; top: string } {
  const day = `INSERT INTO ${DAY} (${names(DAY_SUMMARY_TABLE.columns).join(', ')})
    SELECT _connector, _date, count(*), ${DAY_SUMS.map((n) => `sum(${n})`).join(', ')}, ${currency}
    FROM ${T} WHERE (${where}) AND _date IS NOT NULL
    GROUP BY _connector, _date`;
  const perDimension = Object.entries(TOP_DIMENSIONS).map(([dim, { id, name }]) =>
    `SELECT _connector, _date, '${dim}' AS dimension, ${id} AS id, count(*) AS rows, sum(sales) AS sales,
            sum(total_commissions) AS total_commissions,
            min(${nameKey('coalesce(transaction_date, _date)', name)}) FILTER (WHERE ${name} IS NOT NULL) AS best,
            ${currency} AS currency
     FROM ${T} WHERE (${where}) AND _date IS NOT NULL AND ${id} IS NOT NULL
     GROUP BY _connector, _date, ${id}`);
  const top = `INSERT INTO ${TOP} (${names(TOP_SUMMARY_TABLE.columns).join(', ')})
    SELECT _connector, _date, dimension, id, rows, sales, total_commissions,
           struct_extract(best, 'n'), CASE WHEN best IS NULL THEN NULL ELSE ${keyDay('best')} END, currency
    FROM (${perDimension.join('\n     UNION ALL\n     ')})`;
  return { day, top };
}

/** Recompute the summary rows of the touched days from the fact table (inside the caller's transaction). */
export async function refreshSummaries(c: DuckDBConnection, touched: TouchedDays): Promise<void> {
  const { sql, params } = touched.where();
  const withCurrency = touched.where(true);
  const fill = fillSql(withCurrency.sql, withCurrency.currency);
  for (const table of [DAY, TOP]) await c.run(`DELETE FROM ${table} WHERE ${sql}`, params);
  await c.run(fill.day, withCurrency.params);
  await c.run(fill.top, withCurrency.params);
}

export async function deleteSummaries(c: DuckDBConnection, connector: string): Promise<void> {
  for (const table of [DAY, TOP]) await c.run(`DELETE FROM ${table} WHERE _connector = $1`, [connector]);
}

/**
 * Create each summary table that is missing and fill it from the fact table, in one transaction
 * (a file made before the summaries existed; on a new file the fill reads an empty table).
 */
export async function ensureSummaries(c: DuckDBConnection, types: TypeMap): Promise<void> {
  const exists = async (name: string): Promise<boolean> =>
    (await c.runAndReadAll(
      `SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = current_schema() AND table_name = $1`,
      [name],
    )).currentRowCount > 0;
  const missing: SummaryTable[] = [];
  for (const table of [DAY_SUMMARY_TABLE, TOP_SUMMARY_TABLE]) if (!(await exists(table.name))) missing.push(table);
  if (missing.length === 0) return;
  const fill = fillSql('true');
  await inTransaction(c, async () => {
    for (const table of missing) {
      await c.run(summaryDdl(table, types));
      await c.run(table === DAY_SUMMARY_TABLE ? fill.day : fill.top);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The dashboard reads (raw values for amounts.ts)

/** One row per (day, currency), in that order (VARCHAR compares bytewise): two currencies are never summed. */
export const DAY_TOTALS_SQL = `SELECT strftime(_date, '%Y-%m-%d') AS day, currency, sum(rows)::BIGINT AS rows,
    ${DAY_SUMS.map((n) => `sum(${n})::VARCHAR AS ${n}`).join(', ')}
  FROM ${DAY} WHERE ($1::VARCHAR IS NULL OR _connector = $1) AND _date BETWEEN $2::DATE AND $3::DATE
  GROUP BY _date, currency ORDER BY _date, currency`;

export const COVERAGE_SQL = `SELECT sum(rows)::BIGINT AS rows, count(*)::BIGINT AS days,
    strftime(min(_date), '%Y-%m-%d') AS first, strftime(max(_date), '%Y-%m-%d') AS last
  FROM ${DAY} WHERE _connector = $1`;

/** Every connector's coverage, one row each. */
export const COVERAGES_SQL = `SELECT _connector, sum(rows)::BIGINT AS rows, count(*)::BIGINT AS days,
    strftime(min(_date), '%Y-%m-%d') AS first, strftime(max(_date), '%Y-%m-%d') AS last
  FROM ${DAY} GROUP BY _connector`;

/**
 * Top (connector, id)s by sales over the days, ranked within each currency (a connector's rows
 * have one, so this is per (connector, id)): up to `limit` per currency, the currencies in byte
 * order. The name of the latest name_day wins, ties to the smallest name; equal sales in id, then
 * connector order.
 */
export function topSql(limit: number): string {
  const rank = 'sum(sales) DESC NULLS LAST, id, _connector';
  return `SELECT _connector AS connector, currency, id,
      struct_extract(min(${nameKey('name_day', 'name')}) FILTER (WHERE name IS NOT NULL), 'n') AS name,
      sum(rows)::BIGINT AS rows, sum(sales)::VARCHAR AS sales, sum(total_commissions)::VARCHAR AS total_commissions
    FROM ${TOP} WHERE dimension = $4 AND ($1::VARCHAR IS NULL OR _connector = $1) AND _date BETWEEN $2::DATE AND $3::DATE
    GROUP BY _connector, currency, id
    QUALIFY row_number() OVER (PARTITION BY currency ORDER BY ${rank}) <= ${Math.max(1, Math.floor(limit))}
    ORDER BY currency, ${rank}`;
}
