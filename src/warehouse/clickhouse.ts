/**
 * ClickHouse warehouse (18.16 and newer; see docs/CLICKHOUSE.md).
 *
 * ClickHouse has no transactions, so a window is swapped in per (connector, day) partition:
 * the fact table is PARTITION BY (_connector, _date); a load streams its rows into a fresh
 * staging table of identical structure, and only once every row arrived does
 * `ALTER TABLE … REPLACE PARTITION (connector, day) FROM staging` switch each day of the window
 * (an empty staging partition empties the day). Each REPLACE swaps a partition's parts in one
 * step, so readers see a day's old rows or its new rows, never a mix, and a failed load (the
 * iterable throws, the server or the process dies) leaves the published table untouched.
 *
 * With `?cluster=NAME` every shard holds `<table>_local` tables and a Distributed table with the
 * model's name serves reads. All rows of one (connector, day) go to one shard, picked like the
 * Distributed table's sharding key cityHash64(_connector, _date) would, and the swap happens
 * there. DDL runs on each shard directly (ON CLUSTER needs ZooKeeper).
 *
 * Dimensions are AggregatingMergeTree tables of mergeable states (argMax / min / max), one row of
 * states per id and load, collapsed by background merges; a view with the dimension's name
 * finishes the merge at read time. That gives DuckDB's incremental semantics exactly.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { LOADED_COLUMNS, MONEY_PRECISION, MONEY_SCALE, REPORT_TABLE, type ColumnDef, type ReportRow } from '../model/schema.js';
import { ConnectorError } from '../util/errors.js';
import { addDays, isIsoDay } from '../util/days.js';
import { columnList, dimensionTables, type TypeMap } from './render.js';
import { ChServer, type ClickHouseTarget, day, describeTarget, discoverShards, ident, parseClickHouseUrl, type Shard, str } from './clickhouse-conn.js';
import { DuckDbStateStore } from './duckdb-state.js';
import type { Coverage, DayTotals, StateStore, TopEntry, Warehouse, WindowLoad } from './types.js';

export const CLICKHOUSE_TYPES: TypeMap = {
  text: 'String',
  date: 'Date',
  bigint: 'Int64',
  money: `Decimal(${MONEY_PRECISION}, ${MONEY_SCALE})`,
  json: 'String',
  // Second precision: DateTime64 does not exist in 18.16.
  timestamp: "DateTime('UTC')",
};

const NULLABLE_TYPES = Object.fromEntries(Object.entries(CLICKHOUSE_TYPES).map(([k, v]) => [k, `Nullable(${v})`])) as TypeMap;

/** Columns the warehouse fills itself: never null, and the partition key must not be Nullable. */
const NOT_NULL = new Set(['_connector', '_date', '_synced_at', '_sync_id']);

const T = REPORT_TABLE.name;
const STAGE_PREFIX = 'rakuten_stage_';
/** A staging table older than this belongs to a dead process (a load never takes that long). */
const STAGE_MAX_AGE_MS = 24 * 3600_000;
const WIDTH = LOADED_COLUMNS.length;
const INSERT_COLUMNS = ['_connector', ...LOADED_COLUMNS.map((c) => c.name), '_synced_at', '_sync_id'].map(ident);
const DATE_COLUMNS = LOADED_COLUMNS.flatMap((c, i) => (c.type === 'date' ? [i] : []));
/** Date is days since 1970 in a UInt16: anything outside would wrap silently. */
const MIN_DAY = '1970-01-01';
const MAX_DAY = '2149-06-06';
const MAX_WINDOW_DAYS = 3660;

/**
 * DuckDB's arg_max(v, day): the non-null v of the latest day. Ties on that day go to the
 * smallest v in byte order (DuckDB leaves them arbitrary; PostgreSQL breaks them the same way),
 * so every warehouse and every shard layout gives one answer. Null v rows are skipped because v
 * is a Nullable argument.
 */
function latest(v: string, dayExpr: string): string {
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

/** Text in ClickHouse's TabSeparated escaping. */
function tsvText(v: string): string {
  return /[\t\n\r\\]/.test(v) ? v.replace(/[\t\n\r\\]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\')) : v;
}

/** A report cell: empty and null both load as NULL (\N), as DuckDB's CSV load reads them. */
function tsv(v: string | null | undefined): string {
  return v === null || v === undefined || v === '' ? '\\N' : tsvText(v);
}

/** "12.5" / "-3" (newer servers trim trailing zeros) → "12.5000" / "-3.0000", as DuckDB prints DECIMAL(38,4). */
export function moneyText(s: string): string {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return s;
  return `${m[1]}${m[2]}.${(m[3] ?? '').padEnd(MONEY_SCALE, '0')}`;
}

function checkDay(d: unknown, what: string): string {
  if (typeof d !== 'string' || !isIsoDay(d)) throw new ConnectorError('data', `${what} "${String(d).slice(0, 40)}" is not a valid day`);
  if (d < MIN_DAY || d > MAX_DAY) throw new ConnectorError('data', `${what} ${d} is outside ClickHouse's Date range (${MIN_DAY}..${MAX_DAY})`);
  return d;
}

function clampDay(d: string): string {
  day(d); // validates the shape
  return d < MIN_DAY ? MIN_DAY : d > MAX_DAY ? MAX_DAY : d;
}

/** Load sequence for the dimensions' "newest load wins a tie" rule: increasing within a process. */
let lastSeq = 0;
function nextSeq(): number {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000);
  return lastSeq;
}

interface Sink {
  body: PassThrough;
  done: Promise<void>;
  failed: unknown;
}

export class ClickHouseWarehouse implements Warehouse {
  readonly kind = 'clickhouse';
  readonly capabilities: { concurrentLoads: boolean; shared: boolean };
  readonly location: string;
  private readonly db: string;
  private readonly cluster: string | null;
  private readonly main: ChServer;
  private shards: Shard[] = [];
  /** Servers that get the DDL: the shards, plus the URL's server if it is not one of them. */
  private servers: ChServer[] = [];
  /** Distributed's routing: slot (hash % total weight) → shard index. */
  private slots: number[] = [];
  private insertSettings: Record<string, number> = {};
  private ready: Promise<void> | null = null;

  private constructor(private readonly target: ClickHouseTarget) {
    this.location = describeTarget(target);
    this.db = target.database;
    this.cluster = target.cluster;
    this.main = new ChServer(target, target.host, target.port);
    // Each load has its own staging table, so loads of different windows may overlap. Leases
    // live in the state store: shared only when that is PostgreSQL.
    this.capabilities = { concurrentLoads: true, shared: target.state !== null };
  }

  static create(target: ClickHouseTarget): ClickHouseWarehouse {
    return new ClickHouseWarehouse(target);
  }

  private t(name: string): string {
    return `${ident(this.db)}.${ident(name)}`;
  }

  private get factLocal(): string {
    return this.cluster ? `${T}_local` : T;
  }

  private stateLocal(table: string): string {
    return this.cluster ? `${table}_state_local` : `${table}_state`;
  }

  /** Topology and server features, once (no network before the first use). */
  private topology(): Promise<void> {
    this.ready ??= (async () => {
      if (this.cluster) {
        const { shards, mainIsShard } = await discoverShards(this.target, this.main);
        this.shards = shards;
        this.servers = mainIsShard ? shards.map((s) => s.server) : [this.main, ...shards.map((s) => s.server)];
      } else {
        this.shards = [{ num: 1, weight: 1, server: this.main }];
        this.servers = [this.main];
      }
      this.slots = this.shards.flatMap((s, i) => new Array<number>(s.weight).fill(i));
      if (this.slots.length === 0) throw new ConnectorError('config', `cluster "${this.cluster}" has no shard with a weight above 0`);
      // Newer servers cap partitions per INSERT (100 by default); a window may span more days.
      const known = await this.main.rows<{ name: string }>(`SELECT name FROM system.settings WHERE name IN ('max_partitions_per_insert_block')`);
      if (known.some((r) => r.name === 'max_partitions_per_insert_block')) this.insertSettings.max_partitions_per_insert_block = 0;
    })();
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  async init(): Promise<void> {
    await this.topology();
    await Promise.all(this.servers.map((s) => this.initServer(s)));
    await this.dropStaleStages();
  }

  private async initServer(s: ChServer): Promise<void> {
    const [exists] = await s.rows<{ n: number }>(`SELECT count() AS n FROM system.databases WHERE name = ${str(this.db)}`);
    if (!Number(exists?.n)) await s.run(`CREATE DATABASE IF NOT EXISTS ${ident(this.db)}`);
    // A database first used without ?cluster= (or with it) keeps that layout: say so rather than
    // load into the wrong kind of table.
    const [fact] = await s.rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = ${str(this.db)} AND name = ${str(T)}`);
    const want = this.cluster ? 'Distributed' : 'MergeTree';
    if (fact && fact.engine !== want) {
      throw new ConnectorError('config', `${this.db}.${T} on ${s.label} is a ${fact.engine} table, expected ${want}`, {
        hint: this.cluster ? 'this database was set up without ?cluster=: use another database for the cluster' : 'this database was set up with ?cluster=: add it to the URL',
      });
    }
    await s.run(
      `CREATE TABLE IF NOT EXISTS ${this.t(this.factLocal)} (\n  ${factColumnsDdl()}\n) ENGINE = MergeTree PARTITION BY (_connector, _date) ORDER BY (_connector, _date)`,
    );
    if (this.cluster) {
      // The sharding key only matters for rows inserted through the Distributed table; the
      // warehouse itself writes into the shard it computes with the same key (see route()).
      await s.run(
        `CREATE TABLE IF NOT EXISTS ${this.t(T)} AS ${this.t(this.factLocal)} ENGINE = Distributed(${str(this.cluster)}, ${str(this.db)}, ${str(this.factLocal)}, cityHash64(_connector, _date))`,
      );
    }
    for (const d of dimensionTables()) {
      const local = this.stateLocal(d.table);
      await s.run(
        `CREATE TABLE IF NOT EXISTS ${this.t(local)} (\n  ${dimStateColumnsDdl(d.columns)}\n) ENGINE = AggregatingMergeTree PARTITION BY _connector ORDER BY (_connector, id)`,
      );
      if (this.cluster) {
        await s.run(
          `CREATE TABLE IF NOT EXISTS ${this.t(`${d.table}_state`)} AS ${this.t(local)} ENGINE = Distributed(${str(this.cluster)}, ${str(this.db)}, ${str(local)})`,
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
        `CREATE VIEW IF NOT EXISTS ${this.t(d.table)} AS SELECT ${outer.join(', ')} FROM (SELECT ${inner.join(', ')} FROM ${this.t(`${d.table}_state`)} GROUP BY _connector, id)`,
      );
    }
  }

  /** Staging tables left by a process that died mid-load. Names carry their creation time. */
  private async dropStaleStages(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      this.servers.map(async (s) => {
        const rows = await s.rows<{ name: string }>(
          `SELECT name FROM system.tables WHERE database = ${str(this.db)} AND substring(name, 1, ${STAGE_PREFIX.length}) = ${str(STAGE_PREFIX)}`,
        );
        for (const { name } of rows) {
          const born = Number(/^rakuten_stage_(\d+)_/.exec(name)?.[1] ?? NaN);
          if (Number.isFinite(born) && now - born > STAGE_MAX_AGE_MS) await s.run(`DROP TABLE IF EXISTS ${this.t(name)}`).catch(() => undefined);
        }
      }),
    );
  }

  /** Shard index of each (connector, day), computed by the server with the Distributed key. */
  private async route(connector: string, days: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (this.shards.length === 1) {
      for (const d of days) out.set(d, 0);
      return out;
    }
    for (let i = 0; i < days.length; i += 500) {
      const chunk = days.slice(i, i + 500);
      const rows = await this.main.rows<{ d: string; h: string }>(
        `SELECT toString(d) AS d, toString(cityHash64(c, d) % ${this.slots.length}) AS h
         FROM (SELECT arrayJoin([${chunk.map(day).join(', ')}]) AS d, materialize(${str(connector)}) AS c)`,
      );
      for (const r of rows) out.set(r.d, this.slots[Number(r.h)]!);
    }
    return out;
  }

  async replaceWindow(load: WindowLoad, rows: AsyncIterable<ReportRow[]>): Promise<number> {
    let started = false;
    try {
      return await this.replace(load, rows, () => {
        started = true;
      });
    } catch (e) {
      // Failed before reading any row (bad window, server down): still close the caller's
      // iterable (e.g. a report download), as consuming it would have.
      if (!started) await rows[Symbol.asyncIterator]().return?.()?.catch(() => undefined);
      throw e;
    }
  }

  private async replace(load: WindowLoad, rows: AsyncIterable<ReportRow[]>, onStart: () => void): Promise<number> {
    await this.topology();
    checkDay(load.start, 'window start');
    checkDay(load.end, 'window end');
    if (load.end < load.start) throw new ConnectorError('bad_request', `window ${load.start}..${load.end} ends before it starts`);
    const days: string[] = [];
    for (let d = load.start; d <= load.end; d = addDays(d, 1)) {
      days.push(d);
      if (days.length > MAX_WINDOW_DAYS) throw new ConnectorError('bad_request', `window ${load.start}..${load.end} is longer than ${MAX_WINDOW_DAYS} days`);
    }
    const routes = await this.route(load.connector, days);
    const stage = `${STAGE_PREFIX}${Date.now()}_${randomBytes(6).toString('hex')}`;
    const stageAll = `${stage}_all`;
    // Every shard gets a staging table: the dimension refresh reads them all through one Distributed table.
    const created: ChServer[] = [];
    try {
      await Promise.all(
        this.shards.map(async (s) => {
          await s.server.run(`CREATE TABLE ${this.t(stage)} AS ${this.t(this.factLocal)}`);
          created.push(s.server);
        }),
      );
      onStart();
      const { count, extra } = await this.loadStage(load, rows, stage, routes);
      // Publish: one atomic partition swap per (connector, day). Days outside the window (the
      // reader never sends any; DuckDB would append them) are appended, not replaced.
      await Promise.all(
        this.shards.map(async (s, i) => {
          const part = (d: string): string => `(${str(load.connector)}, ${str(d)})`;
          for (const d of days) {
            if (routes.get(d) === i) await s.server.run(`ALTER TABLE ${this.t(this.factLocal)} REPLACE PARTITION ${part(d)} FROM ${this.t(stage)}`);
          }
          for (const d of extra.get(i) ?? []) {
            await s.server.run(`ALTER TABLE ${this.t(this.factLocal)} ATTACH PARTITION ${part(d)} FROM ${this.t(stage)}`);
          }
        }),
      );
      if (count > 0) await this.refreshDimensions(load, stage, stageAll, this.shards[routes.get(load.start)!]!.server);
      return count;
    } finally {
      // Best effort: a leftover is dropped by a later init() once it is old.
      await Promise.all([
        ...created.map((s) => s.run(`DROP TABLE IF EXISTS ${this.t(stage)}`).catch(() => undefined)),
        ...(this.cluster ? this.shards.map((s) => s.server.run(`DROP TABLE IF EXISTS ${this.t(stageAll)}`).catch(() => undefined)) : []),
      ]);
    }
  }

  /** Stream rows as TabSeparated into each shard's staging table; returns the count and out-of-window days per shard. */
  private async loadStage(load: WindowLoad, rows: AsyncIterable<ReportRow[]>, stage: string, routes: Map<string, number>) {
    const n = this.shards.length;
    const sinks: (Sink | undefined)[] = new Array(n);
    const extra = new Map<number, Set<string>>();
    const prefix = `${tsvText(load.connector)}\t`;
    const syncedAt = load.syncedAt.toISOString().slice(0, 19).replace('T', ' ');
    const suffix = `\t${syncedAt}\t${tsvText(load.syncId)}\n`;
    const open = (i: number): Sink => {
      const body = new PassThrough({ highWaterMark: 1 << 20 });
      // destroy(err) on abort emits 'error'; the insert promise reports the failure, not this.
      body.on('error', () => undefined);
      const sink: Sink = { body, done: Promise.resolve(), failed: undefined };
      sink.done = this.shards[i]!.server.insertTsv(this.t(stage), INSERT_COLUMNS, body, this.insertSettings);
      sink.done.catch((e: unknown) => {
        sink.failed = e ?? new Error('insert failed');
      });
      sinks[i] = sink;
      return sink;
    };
    let count = 0;
    try {
      for await (const batch of rows) {
        const text: string[] = new Array<string>(n).fill('');
        for (const row of batch) {
          if (row.length !== WIDTH) throw new ConnectorError('data', `a row has ${row.length} values, expected ${WIDTH}`);
          const d = row[0];
          let shard = routes.get(d as string);
          if (shard === undefined) {
            const dd = checkDay(d, '_date');
            shard = (await this.route(load.connector, [dd])).get(dd)!;
            routes.set(dd, shard);
            if (!extra.has(shard)) extra.set(shard, new Set());
            extra.get(shard)!.add(dd);
          }
          let line = prefix;
          for (let i = 0; i < WIDTH; i++) {
            const v = row[i];
            if (i > 0) line += '\t';
            line += tsv(v);
          }
          for (const i of DATE_COLUMNS) {
            const v = row[i];
            if (v && (v < MIN_DAY || v > MAX_DAY)) checkDay(v, LOADED_COLUMNS[i]!.name);
          }
          text[shard] += line + suffix;
        }
        count += batch.length;
        for (let i = 0; i < n; i++) {
          if (!text[i]) continue;
          const sink = sinks[i] ?? open(i);
          if (sink.failed) throw sink.failed;
          if (!sink.body.write(text[i])) {
            await Promise.race([once(sink.body, 'drain'), sink.done.then(() => Promise.reject(new Error('ClickHouse ended the insert early')))]);
          }
        }
      }
      for (const s of sinks) s?.body.end();
      await Promise.all(sinks.map((s) => s?.done));
    } catch (e) {
      // Abort every open insert: whatever reached a staging table is dropped with it.
      const err = e instanceof Error ? e : new Error(String(e));
      for (const s of sinks) s?.body.destroy(err);
      await Promise.allSettled(sinks.map((s) => s?.done));
      throw e;
    }
    return { count, extra };
  }

  /**
   * Merge the window's dimension values into the state tables, on one shard. The window's
   * values are computed over all its rows (all shards' staging tables), exactly as DuckDB's
   * refresh computes them, so the merge rule (latest last_seen, then latest load) matches too.
   */
  private async refreshDimensions(load: WindowLoad, stage: string, stageAll: string, home: ChServer): Promise<void> {
    let src = this.t(stage);
    if (this.cluster) {
      await home.run(`CREATE TABLE ${this.t(stageAll)} AS ${this.t(stage)} ENGINE = Distributed(${str(this.cluster)}, ${str(this.db)}, ${str(stage)})`);
      src = this.t(stageAll);
    }
    const seq = nextSeq();
    const dayExpr = 'coalesce(transaction_date, _date)';
    for (const { table, def, columns } of dimensionTables()) {
      const names = columns.map((c) => ident(c.name)).join(', ');
      const version = `tuple(w_last, toUInt64(${seq}))`;
      const url = def.url ? `, ${latest(ident(def.url), dayExpr)} AS w_url` : '';
      const urlState = def.url ? `, argMaxState(tuple(toUInt8(isNull(w_url)), ifNull(w_url, '')), ${version})` : '';
      await home.run(
        `INSERT INTO ${this.t(this.stateLocal(table))} (${names})
         SELECT _connector, w_id, argMaxState(tuple(toUInt8(isNull(w_name)), ifNull(w_name, '')), ${version})${urlState}, minState(w_first), maxState(w_last)
         FROM (
           SELECT _connector, assumeNotNull(${ident(def.id)}) AS w_id, ${latest(ident(def.name), dayExpr)} AS w_name${url},
                  min(${dayExpr}) AS w_first, max(${dayExpr}) AS w_last
           FROM ${src}
           WHERE _connector = ${str(load.connector)} AND _date BETWEEN ${day(load.start)} AND ${day(load.end)} AND ${ident(def.id)} IS NOT NULL
           GROUP BY _connector, w_id
         )
         GROUP BY _connector, w_id`,
      );
    }
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await this.topology();
    await Promise.all(
      this.shards.map(async ({ server }) => {
        const days = await server.rows<{ d: string }>(
          `SELECT DISTINCT toString(_date) AS d FROM ${this.t(this.factLocal)} WHERE _connector = ${str(connector)}`,
        );
        for (const { d } of days) {
          await server.run(`ALTER TABLE ${this.t(this.factLocal)} DROP PARTITION (${str(connector)}, ${str(d)})`);
        }
        for (const { table } of dimensionTables()) {
          await server.run(`ALTER TABLE ${this.t(this.stateLocal(table))} DROP PARTITION ${str(connector)}`);
        }
      }),
    );
  }

  private where(connector: string | null, from: string, to: string): string {
    return `${connector === null ? '' : `_connector = ${str(connector)} AND `}_date BETWEEN ${day(clampDay(from))} AND ${day(clampDay(to))}`;
  }

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    await this.topology();
    // Aliases differ from column names: ClickHouse would substitute an alias into its own expression.
    const rows = await this.main.rows<Record<string, string | null>>(
      `SELECT toString(_date) AS d, toString(count()) AS n,
              toString(sum(impressions)) AS s_impressions, toString(sum(clicks)) AS s_clicks, toString(sum(orders)) AS s_orders,
              toString(sum(sales)) AS s_sales, toString(sum(gross_commissions)) AS s_gross, toString(sum(total_commissions)) AS s_total
       FROM ${this.t(T)} WHERE ${this.where(connector, from, to)}
       GROUP BY _date ORDER BY _date`,
    );
    // DuckDB's coalesce(sum(x), 0): "0" for counts, "0.0000" for money when a day has only nulls.
    return rows.map((r) => ({
      day: String(r.d),
      rows: Number(r.n),
      impressions: r.s_impressions ?? '0',
      clicks: r.s_clicks ?? '0',
      orders: r.s_orders ?? '0',
      sales: moneyText(r.s_sales ?? '0'),
      gross_commissions: moneyText(r.s_gross ?? '0'),
      total_commissions: moneyText(r.s_total ?? '0'),
    }));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    await this.topology();
    const id = dimension === 'publisher' ? 'publisher_id' : 'offer_id';
    const name = dimension === 'publisher' ? 'publisher_name' : 'offer_name';
    const rows = await this.main.rows<Record<string, string | null>>(
      `SELECT ${id} AS k, ${latest(name, 'coalesce(transaction_date, _date)')} AS nm, toString(count()) AS n,
              sum(sales) AS s_order, toString(s_order) AS s_sales, toString(sum(total_commissions)) AS s_total
       FROM ${this.t(T)} WHERE ${this.where(connector, from, to)} AND ${id} IS NOT NULL
       GROUP BY ${id} ORDER BY s_order DESC NULLS LAST, k LIMIT ${Math.max(1, Math.floor(limit))}`,
    );
    // DuckDB returns sum(...)::VARCHAR, null when all null, which it reports as '0'.
    return rows.map((r) => ({
      id: String(r.k),
      name: r.nm === null || r.nm === undefined ? null : String(r.nm),
      rows: Number(r.n),
      sales: r.s_sales === null || r.s_sales === undefined ? '0' : moneyText(r.s_sales),
      total_commissions: r.s_total === null || r.s_total === undefined ? '0' : moneyText(r.s_total),
    }));
  }

  async coverage(connector: string): Promise<Coverage> {
    await this.topology();
    const [r] = await this.main.rows<Record<string, string>>(
      `SELECT toString(count()) AS n, toString(uniqExact(_date)) AS days, toString(min(_date)) AS first, toString(max(_date)) AS last
       FROM ${this.t(T)} WHERE _connector = ${str(connector)}`,
    );
    const rows = Number(r?.n ?? 0);
    // min() of no rows is 1970-01-01 / 0000-00-00 in ClickHouse; DuckDB says null.
    return { rows, days: Number(r?.days ?? 0), firstDay: rows ? String(r!.first) : null, lastDay: rows ? String(r!.last) : null };
  }

  async close(): Promise<void> {
    const all = new Set<ChServer>([this.main, ...this.shards.map((s) => s.server)]);
    await Promise.all([...all].map((s) => s.close().catch(() => undefined)));
  }
}

/**
 * `clickhouse://user:pass@host:8123/db[?cluster=NAME][&shards=h1:8123,h2:8123][&state=postgres://…]`.
 * Bookkeeping goes to <home>/state.duckdb (one worker per home), or to PostgreSQL with ?state=.
 */
export async function openClickHouse(url: string, home?: string): Promise<{ warehouse: Warehouse; state: StateStore }> {
  const target = parseClickHouseUrl(url);
  let state: StateStore;
  if (target.state) {
    if (!/^postgres(ql)?:\/\//.test(target.state)) {
      throw new ConnectorError('config', 'the ClickHouse URL option state= must be a postgres:// URL', {
        hint: 'URL-encode it if it has its own ?options',
      });
    }
    const pg = await (await import('./postgres.js')).openPostgres(target.state, home);
    state = ownState(pg.state, () => pg.warehouse.close());
  } else {
    state = await DuckDbStateStore.open(join(resolve(home ?? '.rakuten-connector'), 'state.duckdb'));
  }
  return { warehouse: ClickHouseWarehouse.create(target), state };
}

/** The PostgreSQL state store, also closing the PostgreSQL warehouse it came with (they may share a pool). */
function ownState(state: StateStore, alsoClose: () => Promise<void>): StateStore {
  return new Proxy(state, {
    get(target, p) {
      if (p === 'close') {
        return async () => {
          try {
            await target.close();
          } finally {
            await alsoClose();
          }
        };
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
