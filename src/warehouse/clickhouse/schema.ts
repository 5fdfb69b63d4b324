/**
 * The ClickHouse warehouse's tables (split from warehouse.ts): how the data model is spelled in
 * ClickHouse types (and Date's range), the layout (single server, or `<table>_local` + Distributed per shard with
 * `?cluster=`), the DDL `init()` runs on each server, and the clean-up of staging tables left by
 * dead loads. See docs/CLICKHOUSE.md for the design.
 */
import { MONEY_PRECISION, MONEY_SCALE, TOTAL_PRECISION, REPORT_TABLE, type ColumnDef } from '../../model/schema.js';
import { isIsoDay } from '../../util/days.js';
import { ConnectorError } from '../../util/errors.js';
import { columnList, dimensionTables, type TypeMap } from '../render.js';
import { type ChServer, day, ident, str } from './connection.js';

export const CLICKHOUSE_TYPES: TypeMap = {
  text: 'String',
  date: 'Date',
  bigint: 'Int64',
  money: `Decimal(${MONEY_PRECISION}, ${MONEY_SCALE})`,
  json: 'String',
  // Second precision: DateTime64 does not exist in 18.16.
  timestamp: "DateTime('UTC')",
  count_total: `Decimal(${TOTAL_PRECISION}, 0)`,
  money_total: `Decimal(${TOTAL_PRECISION}, ${MONEY_SCALE})`,
};

const NULLABLE_TYPES = Object.fromEntries(Object.entries(CLICKHOUSE_TYPES).map(([k, v]) => [k, `Nullable(${v})`])) as TypeMap;

/** Columns the warehouse fills itself: never null, and the partition key must not be Nullable. */
const NOT_NULL = new Set(['_connector', '_date', '_synced_at', '_sync_id']);

export const T = REPORT_TABLE.name;
export const STAGE_PREFIX = 'rakuten_stage_';
/** A staging table older than this belongs to a dead process (a load never takes that long). */
const STAGE_MAX_AGE_MS = 24 * 3600_000;

/** Date is days since 1970 in a UInt16: anything outside would wrap silently. */
export const MIN_DAY = '1970-01-01';
export const MAX_DAY = '2149-06-06';

/** A day to store: refused (data error) when it is not a day or outside Date's range. */
export function checkDay(d: unknown, what: string): string {
  if (typeof d !== 'string' || !isIsoDay(d)) throw new ConnectorError('data', `${what} "${String(d).slice(0, 40)}" is not a valid day`);
  if (d < MIN_DAY || d > MAX_DAY) throw new ConnectorError('data', `${what} ${d} is outside ClickHouse's Date range (${MIN_DAY}..${MAX_DAY})`);
  return d;
}

/** A query bound, moved into Date's range. */
export function clampDay(d: string): string {
  day(d); // validates the shape
  return d < MIN_DAY ? MIN_DAY : d > MAX_DAY ? MAX_DAY : d;
}

/**
 * DuckDB's arg_max(v, day): the non-null v of the latest day. Ties on that day go to the
 * smallest v in byte order (DuckDB leaves them arbitrary; PostgreSQL breaks them the same way),
 * so every warehouse and every shard layout gives one answer. Null v rows are skipped because v
 * is a Nullable argument.
 */
export function latest(v: string, dayExpr: string): string {
  return `argMin(${v}, tuple(-toInt32(${dayExpr}), ${v}))`;
}

function quoteName(n: string): string {
  return ident(n);
}

/** Fact columns: nullable where a report cell can be empty. */
function factColumnsDdl(): string {
  return REPORT_TABLE.columns.map((c) => columnList([c], NOT_NULL.has(c.name) ? CLICKHOUSE_TYPES : NULLABLE_TYPES, quoteName)).join(',\n  ');
}

/** Dimension state columns: the model's columns, each stored as the aggregate state that merges it. */
const NAME_STATE = 'AggregateFunction(argMax, Tuple(UInt8, String), Tuple(Date, UInt64))';
function dimStateColumnsDdl(columns: readonly ColumnDef[]): string {
  return columns
    .map((c) => {
      if (c.name === '_connector' || c.name === 'id') return columnList([c], CLICKHOUSE_TYPES, quoteName);
      if (c.name === 'first_seen') return `${ident(c.name)} AggregateFunction(min, Date)`;
      if (c.name === 'last_seen') return `${ident(c.name)} AggregateFunction(max, Date)`;
      // name / url: the latest value by (last day of its load, load sequence). The null flag is
      // explicit because 18.16 loses NULL inside a Tuple when argMax states are merged.
      return `${ident(c.name)} ${NAME_STATE}`;
    })
    .join(',\n  ');
}

/** Table names of one database, single server or cluster. */
export class Layout {
  constructor(readonly db: string, readonly cluster: string | null) {}

  /** A table of the database, quoted. */
  t(name: string): string {
    return `${ident(this.db)}.${ident(name)}`;
  }

  /** The fact table rows are written into (on each shard). */
  get factLocal(): string {
    return this.cluster ? `${T}_local` : T;
  }

  /** A dimension's state table rows are written into (on each shard). */
  stateLocal(table: string): string {
    return this.cluster ? `${table}_state_local` : `${table}_state`;
  }
}

/** Create the database, the tables and the dimension views on one server (idempotent). */
export async function initServer(s: ChServer, l: Layout): Promise<void> {
  const [exists] = await s.rows<{ n: number }>(`SELECT count() AS n FROM system.databases WHERE name = ${str(l.db)}`);
  if (!Number(exists?.n)) await s.run(`CREATE DATABASE IF NOT EXISTS ${ident(l.db)}`);
  // A database first used without ?cluster= (or with it) keeps that layout: say so rather than
  // load into the wrong kind of table.
  const [fact] = await s.rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = ${str(l.db)} AND name = ${str(T)}`);
  const want = l.cluster ? 'Distributed' : 'MergeTree';
  if (fact && fact.engine !== want) {
    throw new ConnectorError('config', `${l.db}.${T} on ${s.label} is a ${fact.engine} table, expected ${want}`, {
      hint: l.cluster ? 'this database was set up without ?cluster=: use another database for the cluster' : 'this database was set up with ?cluster=: add it to the URL',
    });
  }
  await s.run(
    `CREATE TABLE IF NOT EXISTS ${l.t(l.factLocal)} (\n  ${factColumnsDdl()}\n) ENGINE = MergeTree PARTITION BY (_connector, _date) ORDER BY (_connector, _date)`,
  );
  if (l.cluster) {
    // The sharding key only matters for rows inserted through the Distributed table; the
    // warehouse itself writes into the shard it computes with the same key (see route()).
    await s.run(
      `CREATE TABLE IF NOT EXISTS ${l.t(T)} AS ${l.t(l.factLocal)} ENGINE = Distributed(${str(l.cluster)}, ${str(l.db)}, ${str(l.factLocal)}, cityHash64(_connector, _date))`,
    );
  }
  for (const d of dimensionTables()) {
    const local = l.stateLocal(d.table);
    await s.run(
      `CREATE TABLE IF NOT EXISTS ${l.t(local)} (\n  ${dimStateColumnsDdl(d.columns)}\n) ENGINE = AggregatingMergeTree PARTITION BY _connector ORDER BY (_connector, id)`,
    );
    if (l.cluster) {
      await s.run(
        `CREATE TABLE IF NOT EXISTS ${l.t(`${d.table}_state`)} AS ${l.t(local)} ENGINE = Distributed(${str(l.cluster)}, ${str(l.db)}, ${str(local)})`,
      );
    }
    // The dimension as readers see it: the merged states, in the model's columns.
    const outer = d.columns.map((c) => {
      if (c.name === 'name' || c.name === 'url') return `if(m_${c.name}.1 = 1, NULL, m_${c.name}.2) AS ${ident(c.name)}`;
      if (c.name === 'first_seen' || c.name === 'last_seen') return `m_${c.name} AS ${ident(c.name)}`;
      return ident(c.name);
    });
    const inner = d.columns.map((c) => {
      if (c.name === 'name' || c.name === 'url') return `argMaxMerge(${ident(c.name)}) AS m_${c.name}`;
      if (c.name === 'first_seen') return `minMerge(first_seen) AS m_first_seen`;
      if (c.name === 'last_seen') return `maxMerge(last_seen) AS m_last_seen`;
      return ident(c.name);
    });
    await s.run(
      `CREATE VIEW IF NOT EXISTS ${l.t(d.table)} AS SELECT ${outer.join(', ')} FROM (SELECT ${inner.join(', ')} FROM ${l.t(`${d.table}_state`)} GROUP BY _connector, id)`,
    );
  }
}

/** Staging tables left by a process that died mid-load. Names carry their creation time. */
export async function dropStaleStages(servers: ChServer[], l: Layout): Promise<void> {
  const now = Date.now();
  await Promise.all(
    servers.map(async (s) => {
      const rows = await s.rows<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = ${str(l.db)} AND substring(name, 1, ${STAGE_PREFIX.length}) = ${str(STAGE_PREFIX)}`,
      );
      for (const { name } of rows) {
        const born = Number(/^rakuten_stage_(\d+)_/.exec(name)?.[1] ?? NaN);
        if (Number.isFinite(born) && now - born > STAGE_MAX_AGE_MS) await s.run(`DROP TABLE IF EXISTS ${l.t(name)}`).catch(() => undefined);
      }
    }),
  );
}
