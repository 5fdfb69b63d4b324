/**
 * The `currency` column in PostgreSQL (schema.ts: last column of the fact table and of both
 * summaries): its DDL, the migration of tables made before it, the check of a load's currency,
 * relabelCurrency and connectorCurrencies. A module of its own because the migration has its own rules (locks,
 * roles that do not own the tables) and warehouse.ts stays about loading.
 *
 * Column: `text NOT NULL DEFAULT ''` on all three tables, new or migrated, so both have the same
 * layout. The fact table's DEFAULT is then replaced by the window DEFAULT (warehouse.ts
 * WINDOW_DEFAULTS: the load's `rakuten.currency` setting, '' outside a load), which the canonical
 * CSV path relies on; the rows path and the summary refreshes always write it explicitly. The ''
 * defaults keep a worker of the previous version working during a rolling upgrade: its rows and
 * summary rows are '' (unlabelled), listed by connectorCurrencies, labelled by the app.
 *
 * Migration (ensureCurrencyColumns, in init): when the catalog says a table lacks the column,
 * `ALTER TABLE … ADD COLUMN IF NOT EXISTS currency text NOT NULL DEFAULT ''` on each such table,
 * in one transaction under the DDL advisory lock (the one runDdl and ensureWindowDefaults take:
 * of several processes running init at once, one migrates, the others then find the columns).
 * With a constant DEFAULT, PostgreSQL 11+ only writes the catalog (the existing rows read ''
 * through attmissingval, no rewrite). The DEFAULT is the constant '' and never the window
 * DEFAULT: an ADD COLUMN evaluates its DEFAULT once for the existing rows, and a setting read at
 * ALTER time must not become their currency. The window DEFAULT comes afterwards, by SET DEFAULT
 * (catalog only, existing rows untouched). The ACCESS EXCLUSIVE locks are taken in the loads'
 * order (fact table, day summary, top summary) and waited for at most LOCK_TIMEOUT per attempt:
 * readers queued behind a migration that waits for a long load wait at most that long each
 * attempt (5 s), up to ~60 s over its ATTEMPTS before it gives up with a busy error.
 *
 * One currency per connector (checkCurrency, first thing in each load's transaction, under the
 * connector's shared lock): a load in another currency than the connector's labelled rows (the
 * day summary says, a few rows per connector and day) is refused before it deletes anything;
 * rows in '' take any. relabel takes the lock exclusive, so no load checks halfway through one.
 *
 * A role that does not own the tables: when the columns exist (the owner migrated, or made the
 * tables) init runs no ALTER at all and everything works, canonical CSV by the rows path if the
 * window DEFAULT is missing. When a column is missing and cannot be added (insufficient_privilege),
 * init still succeeds, but loads, relabels and the per-currency reads fail with a config error
 * saying so (currencyMissing); coverage and deletes keep working.
 */
import type pg from 'pg';
import { type ColumnDef, CURRENCY_COLUMN, CURRENCY_TABLES, DAY_SUMMARY_TABLE, REPORT_TABLE, TOP_SUMMARY_TABLE } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { currenciesByConnector, currencyRefused } from '../currency.js';
import type { TypeMap } from '../render.js';
import type { WindowLoad } from '../types.js';
import { checkout, mapPgError } from './connection.js';
import { lockConnector, Q } from './summary.js';

export const CURRENCY = CURRENCY_COLUMN;
/** The column's type as every table has it (new or migrated). */
const CURRENCY_TYPE = `text NOT NULL DEFAULT ''`;

/** The tables holding `currency`, in the order loads lock them. */
const TABLES = CURRENCY_TABLES;

/** A table's column list for CREATE TABLE (render.ts columnList, with the currency column's NOT NULL DEFAULT ''). */
export function pgColumns(columns: readonly ColumnDef[], types: TypeMap): string {
  return columns.map((c) => `${Q(c.name)} ${c.name === CURRENCY ? CURRENCY_TYPE : types[c.type]}`).join(',\n  ');
}

/** The ALTER adding the column to a table made before it (idempotent; also part of runDdl's statements, before its fill). */
export const addCurrencySql = (table: string): string => `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${CURRENCY} ${CURRENCY_TYPE}`;
export const ADD_CURRENCY_STATEMENTS = TABLES.map(addCurrencySql);

const LOCK_TIMEOUT = '5s';
const ATTEMPTS = 12;

/**
 * Add `currency` to the tables that lack it (see the header). Returns true when all three have it,
 * false when some lack it and this role may not add it.
 */
export async function ensureCurrencyColumns(pool: pg.Pool, location: string, schema: string): Promise<boolean> {
  const missing = async (c: pg.ClientBase): Promise<string[]> => {
    const { rows } = await c.query(
      `SELECT c.relname FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND a.attname = $3 AND NOT a.attisdropped`,
      [schema, TABLES, CURRENCY],
    );
    const has = new Set(rows.map((r: { relname: string }) => r.relname));
    return TABLES.filter((t) => !has.has(t));
  };
  const c = await checkout(pool, location);
  try {
    if ((await missing(c)).length === 0) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query('BEGIN');
        await c.query(`SELECT pg_advisory_xact_lock(hashtext('rakuten-connector:ddl'))`);
        await c.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        for (const t of await missing(c)) await c.query(addCurrencySql(t));
        await c.query('COMMIT');
        return true;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        const code = (e as { code?: string }).code;
        if (code === '42501') return false; // insufficient_privilege: not the tables' owner
        if (code !== '55P03') throw mapPgError(e, location); // lock_not_available: a long load holds the table
        if (attempt >= ATTEMPTS) {
          throw new ConnectorError('busy', `PostgreSQL at ${location}: could not add the currency column, the tables stayed busy with loads`, {
            hint: 'start again when the loads of an earlier version have finished',
          });
        }
      }
    }
  } finally {
    c.release();
  }
}

/** What loads, relabels and the per-currency reads throw on tables still without the column (see the header). */
export function currencyMissing(location: string): ConnectorError {
  return new ConnectorError('config', `PostgreSQL at ${location}: the tables have no currency column yet, and this role may not add it`, {
    hint: `run the connector once as the owner of the tables (or: ${addCurrencySql(REPORT_TABLE.name)}, and the same for ${DAY_SUMMARY_TABLE.name} and ${TOP_SUMMARY_TABLE.name})`,
  });
}

/**
 * relabelCurrency: every row of the connector (fact table and both summaries) in `currency`, in
 * one transaction; rows already in it are skipped (idempotent, no new row versions). Takes the
 * connector's lock EXCLUSIVE, as deleteConnectorData: each load holds it SHARED for its whole
 * transaction, so a relabel waits for the connector's loads in flight and a load for the relabel,
 * and no window commit interleaves with it (the shared mode alone would let a load's rows,
 * committed between the fact and the summary UPDATE, keep the old currency). Other connectors
 * never wait. A connector without rows updates nothing.
 */
export async function relabel(c: pg.ClientBase, connector: string, currency: string): Promise<void> {
  await lockConnector(c, connector, 'exclusive');
  for (const t of TABLES) await c.query(`UPDATE ${t} SET ${CURRENCY} = $2 WHERE _connector = $1 AND ${CURRENCY} <> $2`, [connector, currency]);
}

/**
 * Refuse a load (`currency`: loadCurrency's) whose connector has labelled rows in another
 * currency (see the header): in its transaction, under the connector's shared lock, before the
 * DELETE. One index range of the day summary's primary key.
 */
export async function checkCurrency(c: pg.ClientBase, load: WindowLoad, currency: string): Promise<void> {
  const { rows } = await c.query(
    `SELECT ${CURRENCY} FROM ${DAY_SUMMARY_TABLE.name} WHERE _connector = $1 AND ${CURRENCY} <> $2 AND ${CURRENCY} <> '' LIMIT 1`,
    [load.connector, currency],
  );
  const other = (rows[0] as { currency?: string } | undefined)?.currency;
  if (other !== undefined) throw currencyRefused(load.connector, currency, other);
}

/** connectorCurrencies: from the day summary (a few rows per connector and day). */
export const CURRENCIES_QUERY = {
  sql: `SELECT DISTINCT _connector, ${CURRENCY} FROM ${DAY_SUMMARY_TABLE.name}`,
  params: [] as unknown[],
};

/** CURRENCIES_QUERY's rows as connectorCurrencies returns them (lists in byte order). */
export function currenciesFrom(rows: Record<string, unknown>[]): Map<string, string[]> {
  return currenciesByConnector(rows.map((r) => ({ connector: String(r._connector), currency: String(r.currency) })));
}
