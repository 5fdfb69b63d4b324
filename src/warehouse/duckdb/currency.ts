/**
 * The `currency` column of the DuckDB warehouse (schema.ts: the last column of the fact table and
 * of both summaries), kept apart from warehouse.ts and summary.ts because it is the one column with
 * a life of its own: a file made before it existed gets it in init (migrateCurrency), and a
 * connector's rows change it all at once (relabelCurrency) instead of through a load.
 *
 * - DDL: `currency VARCHAR NOT NULL` (every load writes its WindowLoad.currency, a constant like
 *   _connector). DuckDB cannot ADD a column with a constraint, so the migration adds it with
 *   DEFAULT '' (the old rows read as '', unlabelled), then sets NOT NULL and drops the default:
 *   a migrated table has the layout of a new one. DuckDB (1.5) allows these ALTERs on the day
 *   summary's PRIMARY KEY table and inside a transaction; all of it is one transaction, so a crash
 *   leaves the file as it was. ADD COLUMN writes the column for every row (3M fact rows: ~0.3 s).
 * - one currency per connector: a load in a currency other than that of the connector's labelled
 *   rows (in the day summary, or of its other windows in the same transaction) is refused before
 *   it changes anything: relabel first (Warehouse.relabelCurrency; the app does, holding the
 *   lease). Rows in '' (loaded before the column existed) take a load in any currency.
 *   Checked once per window on the small day summary, so the summaries can take any_value of the
 *   fact rows' currency (summary.ts) instead of checking every row.
 * - relabelCurrency: one UPDATE per table, restricted to the connector's rows not already in the
 *   currency, so a second call writes nothing (1M of 3M rows interleaved in every row group:
 *   ~0.35 s + 0.4 s commit; the no-op: one scan, ~0.13 s).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { type ColumnDef, CURRENCY_COLUMN, CURRENCY_TABLES, DAY_SUMMARY_TABLE } from '../../model/schema.js';
import { currenciesByConnector, currencyRefused, loadCurrency } from '../currency.js';
import { columnList, type TypeMap } from '../render.js';
import type { WindowLoad } from '../types.js';
import { inTransaction } from './connection.js';

export const CURRENCY = CURRENCY_COLUMN;

const TABLES = CURRENCY_TABLES;

/** columnList, with `currency` NOT NULL. */
export function columnsDdl(columns: readonly ColumnDef[], types: TypeMap): string {
  return columns.map((c) => columnList([c], types) + (c.name === CURRENCY ? ' NOT NULL' : '')).join(',\n  ');
}

/** The names of these tables (of the current schema) that exist, and of those that have a `currency` column. */
async function present(c: DuckDBConnection): Promise<{ tables: Set<string>; withCurrency: Set<string> }> {
  const r = await c.runAndReadAll(
    `SELECT table_name, bool_or(column_name = '${CURRENCY}') AS has
     FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = current_schema()
       AND table_name IN (${TABLES.map((t) => `'${t}'`).join(', ')})
     GROUP BY table_name`,
  );
  const rows = r.getRowObjectsJson() as { table_name: string; has: boolean }[];
  return { tables: new Set(rows.map((x) => x.table_name)), withCurrency: new Set(rows.filter((x) => x.has).map((x) => x.table_name)) };
}

/**
 * Give every existing table of the three that lacks `currency` the column (its rows ''), in one
 * transaction; tables that have it (or do not exist yet: their CREATE has it) are left alone, so a
 * second run does nothing. Run after the fact table's CREATE IF NOT EXISTS and before the summaries
 * are created and filled from it.
 */
export async function migrateCurrency(c: DuckDBConnection): Promise<string[]> {
  const { tables, withCurrency } = await present(c);
  const todo = TABLES.filter((t) => tables.has(t) && !withCurrency.has(t));
  if (todo.length === 0) return [];
  await inTransaction(c, async () => {
    for (const t of todo) {
      await c.run(`ALTER TABLE ${t} ADD COLUMN ${CURRENCY} VARCHAR DEFAULT ''`);
      await c.run(`ALTER TABLE ${t} ALTER COLUMN ${CURRENCY} SET NOT NULL`);
      await c.run(`ALTER TABLE ${t} ALTER COLUMN ${CURRENCY} DROP DEFAULT`);
    }
  });
  return todo;
}

/**
 * Refuse a load whose currency is not that of the connector's labelled rows (inside the load's
 * transaction, before it deletes anything); `loaded`: the currency of the connector's earlier
 * windows in it. Rows in '' do not refuse (types.ts WindowLoad.currency).
 */
export async function checkCurrency(c: DuckDBConnection, load: WindowLoad, loaded: Map<string, string>): Promise<void> {
  const currency = loadCurrency(load);
  let other = loaded.get(load.connector);
  if (other === undefined) {
    const r = await c.runAndReadAll(
      `SELECT ${CURRENCY} FROM ${DAY_SUMMARY_TABLE.name} WHERE _connector = $1 AND ${CURRENCY} <> $2 AND ${CURRENCY} <> '' LIMIT 1`, [load.connector, currency]);
    other = (r.getRowObjectsJson() as { currency: string }[])[0]?.currency;
  }
  if (other !== undefined && other !== currency) throw currencyRefused(load.connector, currency, other);
  loaded.set(load.connector, currency);
}

/** Set the currency of every row of the connector (fact table and both summaries), in one transaction. */
export async function relabel(c: DuckDBConnection, connector: string, currency: string): Promise<void> {
  await inTransaction(c, async () => {
    for (const t of TABLES) {
      await c.run(`UPDATE ${t} SET ${CURRENCY} = $2 WHERE _connector = $1 AND ${CURRENCY} <> $2`, [connector, currency]);
    }
  });
}

/** connectorCurrencies' read: each connector's currencies, from the day summary (a row per connector and day with rows: cheap). */
export const CURRENCIES_SQL = `SELECT DISTINCT _connector, ${CURRENCY} FROM ${DAY_SUMMARY_TABLE.name}`;

/** CURRENCIES_SQL's rows as connectorCurrencies returns them (lists in byte order). */
export function currenciesFrom(rows: Record<string, unknown>[]): Map<string, string[]> {
  return currenciesByConnector(rows.map((r) => ({ connector: String(r._connector), currency: String(r.currency) })));
}
