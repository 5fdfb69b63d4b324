/**
 * PostgreSQL: a shared warehouse many workers load into at once. A window is replaced in ONE
 * transaction on a pooled client — DELETE the connector's days, COPY the new rows straight from
 * the report stream, refresh the dimensions, COMMIT — so readers see the old window or the new
 * one, never half of either. Loads of different windows run in parallel on separate clients.
 *
 * The dimensions are aggregated in JS as the rows stream past (dimensions.ts) and
 * upserted before COMMIT; per-day advisory locks keep two loads of the same day from interleaving.
 *
 * Types: money is numeric(18,4) (exact; sums are read back as `::text`, never JS numbers). `_extra`
 * (json) is `text`, like DuckDB's VARCHAR: it keeps the report's text byte for byte, where jsonb
 * would normalise it (key order, whitespace, duplicate keys); query it with `_extra::jsonb`.
 */
import type pg from 'pg';
import type { ReportBody } from '../../model/report-body.js';
import { MONEY_PRECISION, MONEY_SCALE, TOTAL_PRECISION, REPORT_TABLE } from '../../model/schema.js';
import { coverageFrom, dayTotalsFrom, type RawCoverage, type RawDayTotals, type RawTopEntry, topEntryFrom } from '../amounts.js';
import { rowBatches } from '../body.js';
import { columnList, dimensionTables, type TypeMap } from '../render.js';
import type { Coverage, DayTotals, StateStore, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { createPool, inTransaction, mapPgError, parsePostgresUrl, runDdl, type PostgresTarget } from './connection.js';
import { copyRows, copyValue } from './copy.js';
import { DimensionAggregator } from './dimensions.js';
import { POSTGRES_CAPABILITIES } from './capabilities.js';
import { PostgresStateStore } from './state.js';

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
const Q = (n: string): string => `"${n}"`;
/** An exact sum as text (numeric, never a JS number); amounts.ts formats it. */
const SUM = (col: string): string => `sum(${col})::text`;
/**
 * DuckDB's arg_max(v, day): the non-NULL v of the latest day (day || NULL is NULL, which max skips).
 * One streaming max() per group: measured 2× faster than array_agg(v ORDER BY day DESC)[1], which
 * sorts every row. arg_max leaves ties open; here the byte-wise greatest v wins (as in the dimensions).
 */
const LATEST = (v: string, day: string): string => `substr(max((to_char(${day}, 'YYYYMMDD') || ${v}) COLLATE "C"), 9)`;
const DAY = 'coalesce(transaction_date, _date)';
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

  constructor(private readonly target: PostgresTarget, pool?: pg.Pool) {
    this.location = target.location;
    this.pool = pool ?? createPool(target, WAREHOUSE_POOL, 'warehouse');
  }

  async init(): Promise<void> {
    const ddl = [
      `CREATE TABLE IF NOT EXISTS ${T} (\n  ${columnList(REPORT_TABLE.columns, POSTGRES_TYPES, Q)}\n)`,
      // Every delete, refresh and read filters on (connector, day range).
      `CREATE INDEX IF NOT EXISTS ${T}_connector_date_idx ON ${T} (_connector, _date)`,
    ];
    for (const d of dimensionTables()) {
      ddl.push(`CREATE TABLE IF NOT EXISTS ${d.table} (\n  ${columnList(d.columns, POSTGRES_TYPES, Q)},\n  PRIMARY KEY (_connector, id)\n)`);
    }
    const relations = [T, `${T}_connector_date_idx`, ...dimensionTables().map((d) => d.table)];
    await runDdl(this.pool, this.location, this.target.schema, ddl, relations);
  }

  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    const rows = await rowBatches(body, 'PostgreSQL');
    // The window's constant columns are framed around each COPY line: measured faster than COPY
    // into a temp table + INSERT … SELECT (which writes every row twice).
    const prefix = `${copyValue(load.connector)}\t`;
    const suffix = `\t${load.syncedAt.toISOString()}\t${copyValue(load.syncId)}\n`;
    return inTransaction(this.pool, this.location, async (c) => {
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
      const dims = new DimensionAggregator(load.start, load.end);
      const count = await copyRows(c, COPY_SQL, rows, prefix, suffix, (row) => dims.add(row));
      if (count > 0) await dims.upsert(c, load.connector);
      return count;
    });
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await inTransaction(this.pool, this.location, async (c) => {
      await c.query(`DELETE FROM ${T} WHERE _connector = $1`, [connector]);
      for (const d of dimensionTables()) await c.query(`DELETE FROM ${d.table} WHERE _connector = $1`, [connector]);
    });
  }

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    const { where, params } = filter(connector, from, to);
    const rows = await this.rows(
      `SELECT to_char(_date, 'YYYY-MM-DD') AS day, count(*) AS rows,
              ${SUM('impressions')} AS impressions, ${SUM('clicks')} AS clicks, ${SUM('orders')} AS orders,
              ${SUM('sales')} AS sales, ${SUM('gross_commissions')} AS gross_commissions, ${SUM('total_commissions')} AS total_commissions
       FROM ${T} WHERE ${where}
       GROUP BY _date ORDER BY _date`,
      params,
    );
    return rows.map((r) => dayTotalsFrom(r as unknown as RawDayTotals));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    const id = dimension === 'publisher' ? 'publisher_id' : 'offer_id';
    const name = dimension === 'publisher' ? 'publisher_name' : 'offer_name';
    const { where, params } = filter(connector, from, to);
    // COLLATE "C": ties ordered by bytes, as DuckDB does, whatever the database's collation.
    const rows = await this.rows(
      `SELECT ${id} AS id, ${LATEST(name, DAY)} AS name, count(*) AS rows,
              ${SUM('sales')} AS sales, ${SUM('total_commissions')} AS total_commissions
       FROM ${T} WHERE ${where} AND ${id} IS NOT NULL
       GROUP BY ${id} ORDER BY sum(sales) DESC NULLS LAST, ${id} COLLATE "C" LIMIT ${Math.max(1, Math.floor(limit))}`,
      params,
    );
    return rows.map((r) => topEntryFrom(r as unknown as RawTopEntry));
  }

  async coverage(connector: string): Promise<Coverage> {
    const [r] = await this.rows(
      `SELECT count(*) AS rows, count(DISTINCT _date) AS days,
              to_char(min(_date), 'YYYY-MM-DD') AS first, to_char(max(_date), 'YYYY-MM-DD') AS last
       FROM ${T} WHERE _connector = $1`,
      [connector],
    );
    return coverageFrom(r as unknown as RawCoverage | undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** pool.query: checkout, release, and a client whose connection broke is discarded, not reused. */
  private async rows(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
    } catch (e) {
      throw mapPgError(e, this.location);
    }
  }

}

/** Two spellings rather than `($1 IS NULL OR _connector = $1)`, so the (connector, day) index is always usable. */
function filter(connector: string | null, from: string, to: string): { where: string; params: unknown[] } {
  return connector === null
    ? { where: '_date BETWEEN $1::date AND $2::date', params: [from, to] }
    : { where: '_connector = $3 AND _date BETWEEN $1::date AND $2::date', params: [from, to, connector] };
}

