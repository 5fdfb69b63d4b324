/**
 * PostgreSQL: a shared warehouse many workers load into at once. A window is replaced in ONE
 * transaction on a pooled client — DELETE the connector's days, COPY the new rows straight from
 * the report stream, refresh the dimensions, refresh the dashboard's summaries, COMMIT — so
 * readers see the old window or the new one, never half of either. Loads of different windows run
 * in parallel on separate clients.
 *
 * The dimensions are aggregated in JS as the rows stream past (dimensions.ts) and
 * upserted before COMMIT; per-day advisory locks keep two loads of the same day from interleaving.
 * The dashboard reads (dayTotals, top, coverage) read only the per-(connector, day) summaries,
 * re-aggregated from the facts of the days each load touched (summary.ts, with its locks).
 *
 * Types: money is numeric(18,4) (exact; sums are read back as `::text`, never JS numbers). `_extra`
 * (json) is `text`, like DuckDB's VARCHAR: it keeps the report's text byte for byte, where jsonb
 * would normalise it (key order, whitespace, duplicate keys); query it with `_extra::jsonb`.
 */
import type pg from 'pg';
import type { ReportBody } from '../../model/report-body.js';
import { MONEY_PRECISION, MONEY_SCALE, TOTAL_PRECISION, REPORT_TABLE, COLUMN_INDEX } from '../../model/schema.js';
import { coverageFrom, dayTotalsFrom, type RawCoverage, type RawDayTotals, type RawTopEntry, topEntryFrom } from '../amounts.js';
import { rowBatches } from '../body.js';
import { columnList, dimensionTables, type TypeMap } from '../render.js';
import type { Coverage, DayTotals, StateStore, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { createPool, inTransaction, mapPgError, parsePostgresUrl, runDdl, type PostgresTarget } from './connection.js';
import { copyRows, copyValue } from './copy.js';
import { DimensionAggregator } from './dimensions.js';
import { POSTGRES_CAPABILITIES } from './capabilities.js';
import { PostgresStateStore } from './state.js';
import { COVERAGES_QUERY, coverageQuery, dayTotalsQuery, deleteSummaries, fillSummaries, lockConnector, refreshSummaries, summaryDdl, topQuery, type Query } from './summary.js';

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
    // The summaries: created (and filled from the facts, once) on a database made before them too.
    const summaries = summaryDdl(POSTGRES_TYPES);
    ddl.push(...summaries.statements);
    const relations = [T, `${T}_connector_date_idx`, ...dimensionTables().map((d) => d.table), ...summaries.relations];
    await runDdl(this.pool, this.location, this.target.schema, ddl, relations, fillSummaries);
  }

  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    const rows = await rowBatches(body, 'PostgreSQL');
    // The window's constant columns are framed around each COPY line: measured faster than COPY
    // into a temp table + INSERT … SELECT (which writes every row twice).
    const prefix = `${copyValue(load.connector)}\t`;
    const suffix = `\t${load.syncedAt.toISOString()}\t${copyValue(load.syncId)}\n`;
    return inTransaction(this.pool, this.location, async (c) => {
      // First: a deleteConnectorData of this connector waits for this load, or this load for it.
      await lockConnector(c, load.connector, 'shared');
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
      // Rows of a day outside the window are stored too (that day keeps its other rows): its summary changes.
      const outside = new Set<string>();
      const count = await copyRows(c, COPY_SQL, rows, prefix, suffix, (row) => {
        dims.add(row);
        const date = row[I_DATE];
        if (date !== null && date !== undefined && (date < load.start || date > load.end)) outside.add(date);
      });
      if (count > 0) await dims.upsert(c, load.connector);
      // Last: it takes the connector's summary lock, which its holder keeps until COMMIT.
      await refreshSummaries(c, load.connector, load.start, load.end, [...outside].sort());
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

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    return (await this.rows(dayTotalsQuery(connector, from, to))).map((r) => dayTotalsFrom(r as unknown as RawDayTotals));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
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
