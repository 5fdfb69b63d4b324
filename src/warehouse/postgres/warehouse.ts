/**
 * PostgreSQL: a shared warehouse many workers load into at once. A window is replaced in ONE
 * transaction on a pooled client — DELETE the connector's days, COPY the new rows straight from
 * the report stream, refresh the dashboard's summaries, upsert the dimensions, COMMIT — so
 * readers see the old window or the new one, never half of either. Loads of different windows run
 * in parallel on separate clients.
 *
 * Two ways in (replaceWindow): a one-day window's canonical CSV goes into COPY byte for byte (its
 * constant columns from DEFAULTs, see WINDOW_DEFAULTS), and its dimensions and top summary are
 * aggregated in SQL in one scan (dimensions.ts aggregateWindow); anything else is rows, framed as
 * COPY text, their dimensions aggregated in JS as they stream past. The dimension upsert is the
 * last step before COMMIT; per-day advisory locks keep two loads of the same day from interleaving.
 * The dashboard reads (dayTotals, top, coverage) read only the per-(connector, day) summaries,
 * re-aggregated from the facts of the days each load touched (summary.ts, with its locks).
 *
 * Every row and summary row carries the load's `currency` (constant per load, like `_connector`:
 * a DEFAULT on the CSV path, framed into each COPY line on the rows path); currency.ts migrates
 * tables made before the column, refuses a load in another currency than the connector's rows
 * (first in its transaction) and relabels a connector's rows.
 *
 * Types: money is numeric(18,4) (exact; sums are read back as `::text`, never JS numbers). `_extra`
 * (json) is `text`, like DuckDB's VARCHAR: it keeps the report's text byte for byte, where jsonb
 * would normalise it (key order, whitespace, duplicate keys); query it with `_extra::jsonb`.
 */
import type pg from 'pg';
import { canonicalCsvRows } from '../../model/canonical-csv.js';
import type { CsvPart, ReportBody } from '../../model/report-body.js';
import { MONEY_PRECISION, MONEY_SCALE, TOTAL_PRECISION, REPORT_TABLE, COLUMN_INDEX, type ReportRow } from '../../model/schema.js';
import { coverageFrom, dayTotalsFrom, type RawCoverage, type RawDayTotals, type RawTopEntry, topEntryFrom } from '../amounts.js';
import { rowBatches } from '../body.js';
import { columnList, dimensionTables, type TypeMap } from '../render.js';
import type { Coverage, DayTotals, StateStore, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { checkout, createPool, inTransaction, mapPgError, parsePostgresUrl, runDdl, type PostgresTarget } from './connection.js';
import { copyCsv, copyRows, copyValue } from './copy.js';
import { ADD_CURRENCY_STATEMENTS, checkCurrency, CURRENCIES_QUERY, currenciesFrom, currencyMissing, ensureCurrencyColumns, pgColumns, relabel } from './currency.js';
import { loadCurrency } from '../currency.js';
import { aggregateWindow, DimensionAggregator } from './dimensions.js';
import { POSTGRES_CAPABILITIES } from './capabilities.js';
import { PostgresStateStore } from './state.js';
import { COVERAGES_QUERY, coverageQuery, dayTotalsQuery, deleteSummaries, fillSummaries, lockConnector, refreshSummaries, summaryDdl, topQuery, Q, type Query, type TopRow } from './summary.js';

export const POSTGRES_TYPES: TypeMap = {
  text: 'text',
  date: 'date',
  bigint: 'bigint',
  money: `numeric(${MONEY_PRECISION},${MONEY_SCALE})`,
  json: 'text',
  timestamp: 'timestamptz',
  count_total: `numeric(${TOTAL_PRECISION},0)`,
  money_total: `numeric(${TOTAL_PRECISION},${MONEY_SCALE})`,
};

const T = REPORT_TABLE.name;
const I_DATE = COLUMN_INDEX._date;
const COPY_SQL = `COPY ${T} (${REPORT_TABLE.columns.map((c) => Q(c.name)).join(', ')}) FROM STDIN`;

/** Several loads at once, plus reads; the state store has its own pool so lease renewals never queue behind loads. */
const WAREHOUSE_POOL = 8;
const STATE_POOL = 3;

/** Warehouse and bookkeeping in the URL's schema (not initialised: no connection yet). */
export async function openPostgres(url: string, _home?: string): Promise<{ warehouse: Warehouse; state: StateStore }> {
  const target = parsePostgresUrl(url);
  return { warehouse: new PostgresWarehouse(target), state: openPostgresState(target) };
}

/** Just the bookkeeping, e.g. for a ClickHouse warehouse with ?state=postgres://… (see registry.ts). */
export function openPostgresState(urlOrTarget: string | PostgresTarget): PostgresStateStore {
  const target = typeof urlOrTarget === 'string' ? parsePostgresUrl(urlOrTarget) : urlOrTarget;
  return new PostgresStateStore(target, createPool(target, STATE_POOL, 'state'));
}

export class PostgresWarehouse implements Warehouse {
  readonly kind = 'postgres';
  readonly capabilities: WarehouseCapabilities = POSTGRES_CAPABILITIES;
  readonly location: string;
  private readonly pool: pg.Pool;
  private closed = false;
  /** The fact table's window columns have their DEFAULTs (ensureWindowDefaults): canonical CSV can go straight into COPY. */
  private csvDefaults = false;
  /** The tables have `currency` (currency.ts ensureCurrencyColumns); until init says so, assumed. */
  private hasCurrency = true;

  constructor(private readonly target: PostgresTarget, pool?: pg.Pool) {
    this.location = target.location;
    this.pool = pool ?? createPool(target, WAREHOUSE_POOL, 'warehouse');
  }

  async init(): Promise<void> {
    const ddl = [
      `CREATE TABLE IF NOT EXISTS ${T} (\n  ${pgColumns(REPORT_TABLE.columns, POSTGRES_TYPES)}\n)`,
      // Every delete, refresh and read filters on (connector, day range).
      `CREATE INDEX IF NOT EXISTS ${T}_connector_date_idx ON ${T} (_connector, _date)`,
    ];
    for (const d of dimensionTables()) {
      ddl.push(`CREATE TABLE IF NOT EXISTS ${d.table} (\n  ${columnList(d.columns, POSTGRES_TYPES, Q)},\n  PRIMARY KEY (_connector, id)\n)`);
    }
    // The summaries: created (and filled from the facts, once) on a database made before them too.
    const summaries = summaryDdl((cols) => pgColumns(cols, POSTGRES_TYPES));
    ddl.push(...summaries.statements);
    // Tables of a version before `currency` get it before the fill reads it (currency.ts).
    ddl.push(...ADD_CURRENCY_STATEMENTS);
    const relations = [T, `${T}_connector_date_idx`, ...dimensionTables().map((d) => d.table), ...summaries.relations];
    await runDdl(this.pool, this.location, this.target.schema, ddl, relations, fillSummaries);
    // Every relation there but made before `currency`: the migration (a no-op, without locks, once done).
    this.hasCurrency = await ensureCurrencyColumns(this.pool, this.location, this.target.schema);
    this.csvDefaults = this.hasCurrency && (await ensureWindowDefaults(this.pool, this.location, this.target.schema));
  }

  private requireCurrency(): void {
    if (!this.hasCurrency) throw currencyMissing(this.location);
  }

  /**
   * A `canonical-csv` body of a one-day window goes to COPY as the reader's bytes (FORMAT csv), the
   * constant columns filled by their DEFAULTs from the transaction's settings (WINDOW_DEFAULTS), and
   * the dimensions and the top summary aggregated in SQL afterwards, in one scan of the window's
   * rows (aggregateWindow): the JS side only parses the report once. Any other body — rows, a small
   * window (below SMALL_CSV_BYTES: there the CSV path's extra statements cost more than parsing its
   * rows), a multi-day window (its `_date` is each row's transaction_date, which no DEFAULT can
   * copy), or a table whose DEFAULTs could not be added — takes the rows path: COPY text format,
   * the dimensions aggregated in JS as the rows stream past.
   */
  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    try {
      return await this.replace(load, body);
    } catch (e) {
      // Failed or refused (say, a load in another currency) maybe before reading a row: still
      // close the caller's iterable (a download behind it stops), as consuming it would have.
      const it: AsyncIterable<unknown> = body.format === 'rows' ? body.batches : body.parts;
      await Promise.resolve(it[Symbol.asyncIterator]().return?.()).catch(() => undefined);
      throw e;
    }
  }

  private async replace(load: WindowLoad, body: ReportBody): Promise<number> {
    this.requireCurrency();
    loadCurrency(load);
    if (body.format === 'canonical-csv') {
      // A multi-day window (its _date per row) or a table without the DEFAULTs: rows, without peeking.
      if (!this.csvDefaults || load.start !== load.end) return this.loadRows(load, csvRows(body.parts));
      const { first, small, parts } = await peek(body.parts, SMALL_CSV_BYTES);
      if (first && !small && first.day !== null && first.day >= load.start && first.day <= load.end && this.csvDefaults) {
        const copySql = `COPY ${T} (${first.columns.map(Q).join(', ')}) FROM STDIN (FORMAT csv)`;
        return this.inWindow(load, async (c) => {
          await c.query(
            `SELECT set_config('rakuten.connector', $1, true), set_config('rakuten.day', $2, true),
                    set_config('rakuten.synced_at', $3, true), set_config('rakuten.sync_id', $4, true), set_config('rakuten.currency', $5, true)`,
            [load.connector, first.day, load.syncedAt.toISOString(), load.syncId, load.currency],
          );
          const count = await copyCsv(c, copySql, parts);
          let dims: DimensionAggregator | undefined;
          const top = async (): Promise<TopRow[]> => {
            const w = await aggregateWindow(c, load.connector, load.start, load.end);
            dims = w.dimensions;
            return w.top;
          };
          return {
            count, outside: [], top,
            dimensions: async () => {
              if (!dims) throw new Error('internal: the window was not aggregated before its dimensions were refreshed');
              await dims.upsert(c, load.connector);
            },
          };
        });
      }
      return this.loadRows(load, csvRows(parts));
    }
    return this.loadRows(load, await rowBatches(body, 'PostgreSQL'));
  }

  private async loadRows(load: WindowLoad, rows: AsyncIterable<ReportRow[]>): Promise<number> {
    // The window's constant columns are framed around each COPY line: measured faster than COPY
    // into a temp table + INSERT … SELECT (which writes every row twice).
    const prefix = `${copyValue(load.connector)}\t`;
    const suffix = `\t${load.syncedAt.toISOString()}\t${copyValue(load.syncId)}\t${copyValue(load.currency)}\n`;
    return this.inWindow(load, async (c) => {
      const dims = new DimensionAggregator(load.start, load.end);
      // Rows of a day outside the window are stored too (that day keeps its other rows): its summary changes.
      const outside = new Set<string>();
      const count = await copyRows(c, COPY_SQL, rows, prefix, suffix, (row) => {
        dims.add(row);
        const date = row[I_DATE];
        if (date !== null && date !== undefined && (date < load.start || date > load.end)) outside.add(date);
      });
      return { count, outside: [...outside].sort(), dimensions: () => dims.upsert(c, load.connector) };
    });
  }

  /**
   * One window's transaction around `copy` (which COPYs the rows in and says how to refresh the
   * dimensions): locks, DELETE of the window's days, the COPY, the summaries, the dimensions, COMMIT.
   */
  private inWindow(
    load: WindowLoad,
    copy: (c: pg.PoolClient) => Promise<{ count: number; outside: string[]; top?: () => Promise<TopRow[]>; dimensions: () => Promise<void> }>,
  ): Promise<number> {
    return inTransaction(this.pool, this.location, async (c) => {
      // First: a deleteConnectorData of this connector waits for this load, or this load for it.
      await lockConnector(c, load.connector, 'shared');
      // Then: a load in another currency than the connector's rows is refused before it changes anything.
      await checkCurrency(c, load, loadCurrency(load));
      // Two loads of the same connector-day (a worker whose lease expired mid-load and its successor)
      // would each DELETE only what their snapshot saw and both insert: duplicates. Per-day advisory
      // locks, taken in day order (no deadlock), make the second wait and then delete the first's rows.
      // Different days / connectors never wait on each other. Windows are ≤ 31 days: ≤ 31 locks.
      await c.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('rakuten-connector:window:' || $1 || ':' || to_char(d, 'YYYY-MM-DD'), 0))
         FROM (SELECT d FROM generate_series($2::date, $3::date, interval '1 day') AS d ORDER BY d) AS days`,
        [load.connector, load.start, load.end],
      );
      await c.query(`DELETE FROM ${T} WHERE _connector = $1 AND _date BETWEEN $2::date AND $3::date`, [load.connector, load.start, load.end]);
      const { count, outside, top, dimensions } = await copy(c);
      await refreshSummaries(c, load.connector, load.start, load.end, outside, top);
      // Last, just before COMMIT: the dimension rows this locks (ids shared by the connector's other
      // windows) are held for as short a time as possible, so windows loading at once queue behind
      // each other only for this statement and the COMMIT, not for the summaries too.
      if (count > 0) await dimensions();
      return count;
    });
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await inTransaction(this.pool, this.location, async (c) => {
      // Waits for the connector's loads in flight (each holds the lock shared): none outlives the delete.
      await lockConnector(c, connector, 'exclusive');
      await c.query(`DELETE FROM ${T} WHERE _connector = $1`, [connector]);
      for (const d of dimensionTables()) await c.query(`DELETE FROM ${d.table} WHERE _connector = $1`, [connector]);
      await deleteSummaries(c, connector);
    });
  }

  async relabelCurrency(connector: string, currency: string): Promise<void> {
    this.requireCurrency();
    await inTransaction(this.pool, this.location, (c) => relabel(c, connector, currency));
  }

  async connectorCurrencies(): Promise<Map<string, string[]>> {
    this.requireCurrency();
    return currenciesFrom(await this.rows(CURRENCIES_QUERY));
  }

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    this.requireCurrency();
    return (await this.rows(dayTotalsQuery(connector, from, to))).map((r) => dayTotalsFrom(r as unknown as RawDayTotals));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    this.requireCurrency();
    return (await this.rows(topQuery(dimension, connector, from, to, limit))).map((r) => topEntryFrom(r as unknown as RawTopEntry));
  }

  async coverage(connector: string): Promise<Coverage> {
    const [r] = await this.rows(coverageQuery(connector));
    return coverageFrom(r as unknown as RawCoverage | undefined);
  }

  async coverages(): Promise<Map<string, Coverage>> {
    const rows = await this.rows(COVERAGES_QUERY);
    return new Map(rows.map((r) => [String(r._connector), coverageFrom(r as unknown as RawCoverage)]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** pool.query: checkout, release, and a client whose connection broke is discarded, not reused. */
  private async rows(q: Query): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(q.sql, q.params)).rows as Record<string, unknown>[];
    } catch (e) {
      throw mapPgError(e, this.location);
    }
  }

}

/**
 * The fact table's window columns get DEFAULTs that read the load's transaction-local settings
 * (set_config(…, true) in replaceWindow), so a COPY of canonical CSV need not carry them:
 * `_connector`, `_date` (a one-day window's day), `_synced_at`, `_sync_id`, `currency`. Outside a
 * load the settings are unset or '' and the DEFAULTs give NULL, as before; `currency` (NOT NULL)
 * gives '' there (rakuten_window_label: an unlabelled row, as a worker of the version before the
 * column writes during a rolling upgrade, see currency.ts), and a load's currency as is, '' too.
 *
 * Each DEFAULT calls a small SQL function (rakuten_window_text/_date/_timestamptz) declared
 * IMMUTABLE although it reads a setting: COPY plans its DEFAULT expressions once per statement
 * (expression_planner), which evaluates an immutable call with constant arguments right there,
 * so the value is read once per COPY, inside the load's transaction, instead of once per row
 * (`current_setting(…)::timestamptz` per row measured at +25 % of the COPY: 0.9 µs a row). Only
 * the connector sets these settings, and only with set_config(…, true) right before its COPY; an
 * INSERT planned elsewhere gets NULL, as without the DEFAULTs.
 *
 * Added once, idempotently, to a table made by an earlier version (SET DEFAULT changes only the
 * catalog, no rewrite), under the DDL lock; its ACCESS EXCLUSIVE lock is waited for at most a few
 * seconds. Returns false when they cannot be added (a role that does not own the table or may not
 * create functions, a table busy with long loads): canonical CSV then takes the rows path, which
 * needs no DEFAULTs, and the next start tries again.
 */
/** Each function's return type and body (`setting`: the setting's name). */
const WINDOW_FUNCTIONS: Readonly<Record<string, [string, string]>> = {
  rakuten_window_text: ['text', `nullif(current_setting(setting, true), '')`],
  rakuten_window_date: ['date', `nullif(current_setting(setting, true), '')::date`],
  rakuten_window_timestamptz: ['timestamptz', `nullif(current_setting(setting, true), '')::timestamptz`],
  rakuten_window_label: ['text', `coalesce(current_setting(setting, true), '')`],
};
export const WINDOW_DEFAULTS: Readonly<Record<string, string>> = {
  _connector: `rakuten_window_text('rakuten.connector')`,
  _date: `rakuten_window_date('rakuten.day')`,
  _synced_at: `rakuten_window_timestamptz('rakuten.synced_at')`,
  _sync_id: `rakuten_window_text('rakuten.sync_id')`,
  currency: `rakuten_window_label('rakuten.currency')`,
};

async function ensureWindowDefaults(pool: pg.Pool, location: string, schema: string): Promise<boolean> {
  const names = Object.keys(WINDOW_DEFAULTS);
  const missing = async (c: pg.ClientBase): Promise<string[]> => {
    const { rows } = await c.query(
      `SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS def
       FROM pg_attribute AS a LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = $1::regclass AND a.attname = ANY($2::text[]) AND NOT a.attisdropped`,
      [`"${schema}".${T}`, names],
    );
    const has = new Map(rows.map((r: { attname: string; def: string | null }) => [r.attname, (r.def ?? '').replace(/::text/g, '')]));
    // pg_get_expr spells it e.g. `rakuten_window_date('rakuten.day'::text)`, schema-qualified when off the search_path.
    return names.filter((n) => !has.get(n)?.endsWith(WINDOW_DEFAULTS[n]!));
  };
  const c = await checkout(pool, location);
  try {
    if ((await missing(c)).length === 0) return true;
    try {
      await c.query('BEGIN');
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('rakuten-connector:ddl'))`);
      await c.query(`SET LOCAL lock_timeout = '5s'`);
      const todo = await missing(c);
      if (todo.length > 0) {
        for (const [fn, [type, body]] of Object.entries(WINDOW_FUNCTIONS)) {
          await c.query(
            `CREATE OR REPLACE FUNCTION "${schema}".${fn}(setting text) RETURNS ${type} LANGUAGE sql IMMUTABLE PARALLEL SAFE
             AS $$ SELECT ${body} $$`,
          );
        }
        await c.query(`ALTER TABLE ${T} ${todo.map((n) => `ALTER COLUMN ${Q(n)} SET DEFAULT ${WINDOW_DEFAULTS[n]}`).join(', ')}`);
      }
      await c.query('COMMIT');
      return true;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      const code = (e as { code?: string }).code;
      // insufficient_privilege (not the table's owner, no CREATE on the schema), lock_not_available (lock_timeout)
      if (code === '42501' || code === '55P03') return false;
      throw mapPgError(e, location);
    }
  } finally {
    c.release();
  }
}

/**
 * Below this many bytes of canonical CSV (~300 rows) a window takes the rows path: its rows
 * parsed back and aggregated in JS cost less than the CSV path's extra statements (measured on
 * 125-row windows: +1 ms of server time a window on the CSV path).
 */
const SMALL_CSV_BYTES = 64 * 1024;

/**
 * The first parts of a canonical-csv body, read until they hold `small` bytes or the body ends
 * (then `small` says whether it ended below that), and the whole body again, those parts included.
 */
async function peek(parts: AsyncIterable<CsvPart>, smallBytes: number): Promise<{ first: CsvPart | undefined; small: boolean; parts: AsyncIterable<CsvPart> }> {
  const it = parts[Symbol.asyncIterator]();
  const seen: CsvPart[] = [];
  let bytes = 0;
  let ended = false;
  while (bytes < smallBytes) {
    const n = await it.next();
    if (n.done) {
      ended = true;
      break;
    }
    seen.push(n.value);
    for (const c of n.value.chunks) bytes += c.byteLength;
  }
  const all = async function* (): AsyncGenerator<CsvPart> {
    try {
      yield* seen;
      if (ended) return;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    } finally {
      if (!ended) await it.return?.();
    }
  };
  return { first: seen[0], small: ended && bytes < smallBytes, parts: all() };
}

/** Canonical CSV parts as row batches (each part holds whole lines), for the rows path. */
async function* csvRows(parts: AsyncIterable<CsvPart>): AsyncGenerator<ReportRow[]> {
  for await (const p of parts) yield canonicalCsvRows(Buffer.concat(p.chunks).toString('utf8'), p.columns, p.day);
}
