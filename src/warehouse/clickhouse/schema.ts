/**
 * The ClickHouse warehouse's tables (split from warehouse.ts): how the data model is spelled in
 * ClickHouse types (and Date's range), the layout (single server, or `<table>_local` + Distributed
 * per shard with `?cluster=`) and the DDL `init()` runs on each server. See docs/CLICKHOUSE.md,
 * "Storage design: versions", for why the tables look like this:
 *
 *   rakuten_affiliate_report_rows  the fact rows of every load, stamped (_version, _row, _sign);
 *                                  CollapsingMergeTree, PARTITION BY month, ORDER BY (_connector, _date, _version, _row)
 *   rakuten_day_versions           one row per published (connector, day, version): the day's row count and sums;
 *                                  ReplacingMergeTree(_version) ORDER BY (_connector, _date): merges keep the current one
 *   rakuten_day_top_rows           per (connector, day, version, dimension, id) sums for top(); CollapsingMergeTree
 *   rakuten_affiliate_report, rakuten_day_totals, rakuten_day_top
 *                                  views with the model's names and columns: the current version of each day only
 *
 * Each physical table ends with `currency String DEFAULT ''` (after the warehouse's own columns):
 * tables made before the column get it by ALTER TABLE … ADD COLUMN, which appends, so new and
 * migrated tables have the same layout (currency.ts migrates them and recreates the views).
 */
import { CURRENCY_COLUMN, DAY_SUMMARY_TABLE, MONEY_PRECISION, MONEY_SCALE, REPORT_TABLE, TOP_SUMMARY_TABLE, TOTAL_PRECISION, type ColumnDef } from '../../model/schema.js';
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
const NOT_NULL = new Set(['_connector', '_date', '_synced_at', '_sync_id', 'currency']);

/** The model's currency column (schema.ts): last in every physical table, '' for rows loaded before it existed. */
export const CURRENCY = CURRENCY_COLUMN;
export const CURRENCY_DDL = `${ident(CURRENCY)} String DEFAULT ''`;
const noCurrency = (defs: readonly ColumnDef[]): ColumnDef[] => defs.filter((c) => c.name !== CURRENCY);

export const T = REPORT_TABLE.name;
export const STAGE_PREFIX = 'rakuten_stage_';
/** A staging table (earlier versions) older than this belongs to a dead process (a load never takes that long). */
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
  return noCurrency(REPORT_TABLE.columns).map((c) => columnList([c], NOT_NULL.has(c.name) ? CLICKHOUSE_TYPES : NULLABLE_TYPES, quoteName)).join(',\n  ');
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

/** Physical tables (see the header): the versioned rows behind the model's tables. */
export const ROWS_TABLE = `${T}_rows`;
export const VERSIONS_TABLE = 'rakuten_day_versions';
export const TOP_ROWS_TABLE = `${TOP_SUMMARY_TABLE.name}_rows`;

/** The model's columns of the fact and top tables, quoted, for INSERT … SELECT lists and the views. */
export const FACT_COLUMNS = REPORT_TABLE.columns.map((c) => ident(c.name)).join(', ');
export const TOP_COLUMNS = TOP_SUMMARY_TABLE.columns.map((c) => ident(c.name)).join(', ');

/** FACT_COLUMNS with the currency replaced by an expression (a load's literal; '' for a table without the column). */
export function factColumnsWith(currency: string): string {
  return REPORT_TABLE.columns.map((c) => (c.name === CURRENCY ? currency : ident(c.name))).join(', ');
}

/** Distributed's sharding key, and route()'s: all of a (connector, day) on one shard. */
export const SHARDING_KEY = 'cityHash64(_connector, _date)';

/** Table names of one database, single server or cluster. */
export class Layout {
  constructor(readonly db: string, readonly cluster: string | null) {}

  /** A table of the database, quoted. */
  t(name: string): string {
    return `${ident(this.db)}.${ident(name)}`;
  }

  /** The table of `name` that rows are written into and shard-local reads use (on each shard). */
  local(name: string): string {
    return this.cluster ? `${name}_local` : name;
  }

  /** A dimension's state table rows are written into (on each shard). */
  stateLocal(table: string): string {
    return this.cluster ? `${table}_state_local` : `${table}_state`;
  }
}

/**
 * The current version of each (connector, day) matching `where` (on _connector, _date), as
 * (_connector, _date, _version) tuples for `IN`: the latest published one. Read from the
 * shard-local versions table: on a cluster each day's versions live on the shard of its rows, so
 * a query through a Distributed table evaluates this on each shard against its own days.
 */
export function currentVersions(l: Layout, where: string): string {
  return `SELECT _connector, _date, max(_version) FROM ${l.t(l.local(VERSIONS_TABLE))} WHERE ${where} GROUP BY _connector, _date`;
}

/** A migration's tables (migrate.ts): the claimed first-layout fact table (`_local_v1` per shard + a Distributed `_v1` on a cluster) and its lease. */
export const V1_TABLE = `${T}_v1`;
export const V1_LOCAL_TABLE = `${T}_local_v1`;
export const MIGRATION_LEASE = 'rakuten_v1_migration';

/** What a server holds under the model's fact table name: nothing yet, the current layout, or the first one; and whether a migration left tables. */
async function factLayout(s: ChServer, l: Layout): Promise<{ kind: 'none' | 'current' | 'v1'; leftover: boolean }> {
  const rows = await s.rows<{ name: string; engine: string }>(
    `SELECT name, engine FROM system.tables WHERE database = ${str(l.db)} AND name IN (${[T, `${T}_local`, ROWS_TABLE, `${ROWS_TABLE}_local`, V1_TABLE, V1_LOCAL_TABLE, MIGRATION_LEASE].map(str).join(', ')})`,
  );
  const engine = new Map(rows.map((r) => [r.name, r.engine]));
  // A database first used without ?cluster= (or with it) keeps that layout: say so rather than
  // load into the wrong kind of table.
  const clustered = engine.get(ROWS_TABLE) === 'Distributed' || engine.has(`${ROWS_TABLE}_local`) || engine.get(T) === 'Distributed';
  const single = (engine.has(ROWS_TABLE) && engine.get(ROWS_TABLE) !== 'Distributed') || (engine.has(T) && engine.get(T) !== 'Distributed' && !engine.has(`${T}_local`));
  if (l.cluster ? single && !clustered : clustered) {
    throw new ConnectorError('config', `${l.db}.${T} on ${s.label} was set up ${l.cluster ? 'without' : 'with'} ?cluster=`, {
      hint: l.cluster ? 'this database was set up without ?cluster=: use another database for the cluster' : 'this database was set up with ?cluster=: add it to the URL',
    });
  }
  const leftover = engine.has(V1_TABLE) || engine.has(V1_LOCAL_TABLE) || engine.has(MIGRATION_LEASE);
  if (!engine.has(T)) return { kind: 'none', leftover };
  return { kind: engine.has(ROWS_TABLE) ? 'current' : 'v1', leftover };
}

/**
 * Create the database, the tables and the views on one server (idempotent). A database of the
 * first layout (fact table partitioned per connector and day) is reported as 'v1' and left
 * alone: the caller migrates it (migrate.ts), then calls this again. 'v1' also says that a
 * migration is unfinished (its `_v1` tables or lease are left), after creating the tables.
 */
export async function initServer(s: ChServer, l: Layout): Promise<'ok' | 'v1'> {
  const [exists] = await s.rows<{ n: number }>(`SELECT count() AS n FROM system.databases WHERE name = ${str(l.db)}`);
  if (!Number(exists?.n)) await s.run(`CREATE DATABASE IF NOT EXISTS ${ident(l.db)}`);
  const found = await factLayout(s, l);
  if (found.kind === 'v1') return 'v1';
  const dist = async (name: string, key = ''): Promise<void> => {
    if (!l.cluster) return;
    await s.run(
      `CREATE TABLE IF NOT EXISTS ${l.t(name)} AS ${l.t(l.local(name))} ENGINE = Distributed(${str(l.cluster)}, ${str(l.db)}, ${str(l.local(name))}${key ? `, ${key}` : ''})`,
    );
  };
  // Months bound the partitions (a dozen a year, whatever the number of connectors). The sort
  // key keeps a (connector, day)'s versions together and makes every row's key unique (_row),
  // which CollapsingMergeTree needs to cancel exactly the rows of a superseded version.
  await s.run(
    `CREATE TABLE IF NOT EXISTS ${l.t(l.local(ROWS_TABLE))} (\n  ${factColumnsDdl()},\n  ${VERSION_COLUMNS},\n  ${CURRENCY_DDL}\n) ENGINE = CollapsingMergeTree(_sign) PARTITION BY toYYYYMM(_date) ORDER BY (_connector, _date, _version, _row)`,
  );
  await dist(ROWS_TABLE, SHARDING_KEY);
  await s.run(
    `CREATE TABLE IF NOT EXISTS ${l.t(l.local(VERSIONS_TABLE))} (\n  ${summaryColumnsDdl(DAY_SUMMARY_TABLE.columns)},\n  \`_version\` UInt64,\n  ${CURRENCY_DDL}\n) ENGINE = ReplacingMergeTree(_version) ORDER BY (_connector, _date)`,
  );
  await dist(VERSIONS_TABLE, SHARDING_KEY);
  await s.run(
    `CREATE TABLE IF NOT EXISTS ${l.t(l.local(TOP_ROWS_TABLE))} (\n  ${summaryColumnsDdl(TOP_SUMMARY_TABLE.columns)},\n  \`_version\` UInt64,\n  \`_sign\` Int8,\n  ${CURRENCY_DDL}\n) ENGINE = CollapsingMergeTree(_sign) PARTITION BY toYYYYMM(_date) ORDER BY (_connector, _date, _version, dimension, id)`,
  );
  await dist(TOP_ROWS_TABLE, SHARDING_KEY);
  // Tables of a version before the currency column get it now: the views below name it, and 18.16
  // analyses a view's SELECT even when the view exists. currency.ts does the rest, on every server.
  const has = await tablesWithCurrency(s, l);
  for (const name of [ROWS_TABLE, VERSIONS_TABLE, TOP_ROWS_TABLE]) if (!has.has(l.local(name))) await addCurrency(s, l, l.local(name));
  // The model's tables, as views of the current versions. On a cluster the view is per shard
  // (its IN set is the shard's own versions) and a Distributed table over it has the model's name.
  for (const [name, select] of modelViews(l)) {
    await s.run(`CREATE VIEW IF NOT EXISTS ${l.t(l.local(name))} AS ${select}`);
    await dist(name);
  }
  await initDimensions(s, l);
  return found.leftover ? 'v1' : 'ok';
}

/**
 * The views with the model's names (on a cluster: each shard's `_local` view, under a Distributed
 * table with the model's name): [name, SELECT]. `withCurrency: false` is the layout before the
 * currency column (for tests of its migration).
 */
export function modelViews(l: Layout, withCurrency = true): [string, string][] {
  const cols = (defs: readonly ColumnDef[]): string => (withCurrency ? defs : noCurrency(defs)).map((c) => ident(c.name)).join(', ');
  const day = cols(DAY_SUMMARY_TABLE.columns);
  return [
    [T, `SELECT ${cols(REPORT_TABLE.columns)} FROM ${l.t(l.local(ROWS_TABLE))} WHERE (_connector, _date, _version) IN (${currentVersions(l, '1')})`],
    [
      DAY_SUMMARY_TABLE.name,
      `SELECT ${day} FROM (SELECT ${day} FROM ${l.t(l.local(VERSIONS_TABLE))} ORDER BY _connector, _date, _version DESC LIMIT 1 BY _connector, _date) WHERE rows > 0`,
    ],
    [TOP_SUMMARY_TABLE.name, `SELECT ${cols(TOP_SUMMARY_TABLE.columns)} FROM ${l.t(l.local(TOP_ROWS_TABLE))} WHERE (_connector, _date, _version) IN (${currentVersions(l, '1')})`],
  ];
}

/** The tables of the database on a server that have the currency column. */
export async function tablesWithCurrency(s: ChServer, l: Layout): Promise<Set<string>> {
  const rows = await s.rows<{ table: string }>(`SELECT table FROM system.columns WHERE database = ${str(l.db)} AND name = ${str(CURRENCY)}`);
  return new Set(rows.map((r) => r.table));
}

/** ALTER TABLE … ADD COLUMN currency (metadata only: old rows read ''), unless another process added it meanwhile. */
export async function addCurrency(s: ChServer, l: Layout, table: string, ddl = CURRENCY_DDL): Promise<void> {
  try {
    await s.run(`ALTER TABLE ${l.t(table)} ADD COLUMN ${ddl}`);
  } catch (e) {
    if (!(await tablesWithCurrency(s, l)).has(table)) throw e;
  }
}

/** Columns the warehouse adds to the model's: which load a row belongs to, its place in it, and its sign. */
const VERSION_COLUMNS = '`_version` UInt64,\n  `_row` UInt32,\n  `_sign` Int8';

/** Summary columns: keys and the row count never null; sums NULL when every value of the day was NULL. */
const SUMMARY_NOT_NULL = new Set(['_connector', '_date', 'dimension', 'id', 'rows']);
function summaryColumnsDdl(columns: readonly ColumnDef[]): string {
  return noCurrency(columns).map((c) => columnList([c], SUMMARY_NOT_NULL.has(c.name) ? CLICKHOUSE_TYPES : NULLABLE_TYPES, quoteName)).join(',\n  ');
}

/** The dimensions: state tables (AggregatingMergeTree, per connector) and the views that finish the merge. */
async function initDimensions(s: ChServer, l: Layout): Promise<void> {
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

/**
 * Staging tables left by a process of an earlier version (which staged CSV loads) that died
 * mid-load. Names carry their creation time; a young one may belong to such a process still loading.
 */
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
