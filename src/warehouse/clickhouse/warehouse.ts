/**
 * ClickHouse warehouse (18.16 and newer; see docs/CLICKHOUSE.md).
 *
 * ClickHouse has no transactions, so a window is switched in by version: its rows are written
 * stamped with a new version nobody reads yet, then one insert into the versions table makes that
 * version current for every day of the window (per shard), and readers read only the current
 * version of each (connector, day). A failed load (the iterable throws, the server or the process
 * dies) leaves rows nobody reads, cancelled by the next load of those days; superseded rows are
 * cancelled the same way (CollapsingMergeTree) and disappear in background merges. The fact table
 * is partitioned by month, so partitions stay a dozen a year whatever the number of connectors.
 *
 * With `?cluster=NAME` every shard holds `<table>_local` tables and Distributed tables with the
 * model's names serve reads. All rows of one (connector, day), and its versions, go to one shard,
 * the one the Distributed table's sharding key cityHash64(_connector, _date) picks (route()).
 * DDL runs on each shard directly (ON CLUSTER needs ZooKeeper).
 *
 * Dimensions are AggregatingMergeTree tables of mergeable states (argMax / min / max), one row of
 * states per id and load, collapsed by background merges; a view with the dimension's name
 * finishes the merge at read time. That gives DuckDB's incremental semantics exactly.
 *
 * This file: topology, routing, the load's steps, delete and the reads. The tables are in
 * schema.ts, the load's statements in load.ts, the first layout's migration in migrate.ts, the
 * currency column's migration, the check of a load's currency, relabel and connectorCurrencies in
 * currency.ts; the
 * bookkeeping is not ClickHouse's (no transactions): index.ts gets it from the registry.
 */
import type { CsvPart, ReportBody } from '../../model/report-body.js';
import { type ReportRow, TOP_DIMENSIONS } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { addDays } from '../../util/days.js';
import { coverageFrom, dayTotalsFrom, topEntryFrom } from '../amounts.js';
import { loadCurrency } from '../currency.js';
import { dimensionTables } from '../render.js';
import type { Coverage, DayTotals, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { ChServer, type ClickHouseTarget, day, describeTarget, discoverShards, type Shard, str } from './connection.js';
import { CLICKHOUSE_CAPABILITIES } from './capabilities.js';
import { cheapestForm, loadStamp, streamCsv } from './csv-load.js';
import { stampedParts } from '../csv-stamp.js';
import { cancelSuperseded, insertRowsText, nextSeq, type Published, publishShard, refreshDimensions, rowsText, type ShardBatch, type ShardDays, streamRows } from './load.js';
import { Batcher } from '../../util/batcher.js';
import { migrateV1 } from './migrate.js';
import { checkCurrency, currenciesFrom, currenciesSql, migrateCurrency, relabel } from './currency.js';
import {
  checkDay, clampDay, currentVersions, dropStaleStages, initServer, latest, Layout, MAX_DAY, ROWS_TABLE, SHARDING_KEY, TOP_ROWS_TABLE, VERSIONS_TABLE,
} from './schema.js';

const MAX_WINDOW_DAYS = 3660;

interface PendingPublish {
  w: Published;
  parts: ShardDays[];
  /** Shard index whose server stores the window's dimension states. */
  home: number;
}

/** Days of a connector whose shard is not known yet (route()). */
interface RouteAsk {
  connector: string;
  days: string[];
}

/** The asks' days per connector. */
function groupDays(asks: RouteAsk[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const a of asks) {
    const set = out.get(a.connector) ?? new Set<string>();
    for (const d of a.days) set.add(d);
    out.set(a.connector, set);
  }
  return out;
}

/** Days after a routing miss whose shards are fetched with it. */
const ROUTE_AHEAD_DAYS = 366;

/** Windows waiting to publish with at least this many rows in all publish alongside a running batch. */
const OVERLAP_ROWS = 20_000;

/** Small windows' rows that finish together share one insert, up to this many windows. */
const ROW_INSERT_BATCH = 64;

export class ClickHouseWarehouse implements Warehouse {
  readonly kind = 'clickhouse';
  readonly capabilities: WarehouseCapabilities;
  readonly location: string;
  private readonly layout: Layout;
  private readonly cluster: string | null;
  private readonly main: ChServer;
  private shards: Shard[] = [];
  /** Servers that get the DDL: the shards, plus the URL's server if it is not one of them. */
  private servers: ChServer[] = [];
  /** Distributed's routing: slot (hash % total weight) → shard index. */
  private slots: number[] = [];
  private readonly insertSettings: Record<string, number> = {};
  private readonly csvSettings: Record<string, number> = {};
  /** Windows written and waiting to be published (see publish()). */
  private readonly publisher = new Batcher<PendingPublish>((batch) => this.publishBatch(batch), Number.POSITIVE_INFINITY, {
    // Big windows' publishing costs their rows (the summaries aggregate them), not the statements:
    // they overlap instead of waiting for each other. Small ones wait and share statements.
    lanes: 3,
    when: (waiting) => waiting.reduce((a, j) => a + j.w.count, 0) >= OVERLAP_ROWS,
  });
  /** (connector NUL day) → shard index, as the Distributed key routes it (route()). */
  private readonly routes = new Map<string, number>();
  private readonly router = new Batcher<RouteAsk>((asks) => this.routeBatch(asks));
  /** Per shard: small windows' rows waiting for an insert (insertSmall). */
  private rowInserts: Batcher<string>[] = [];
  /** Per run (connector, sync id): the version its windows must exceed (runVersion). */
  private readonly runFloors = new Map<string, Promise<number>>();
  /** Per run (connector, sync id, currency): the check that the connector's rows are in the load's currency (runCurrency). */
  private readonly runCurrencies = new Map<string, Promise<void>>();
  private ready: Promise<void> | null = null;

  /** sharedState: that of the bookkeeping the registry lent it (see index.ts). */
  private constructor(private readonly target: ClickHouseTarget, sharedState: boolean) {
    this.location = describeTarget(target);
    this.layout = new Layout(target.database, target.cluster);
    this.cluster = target.cluster;
    this.main = new ChServer(target, target.host, target.port);
    // Each load has its own version, so loads of different windows may overlap.
    this.capabilities = { ...CLICKHOUSE_CAPABILITIES, sharedState };
  }

  static create(target: ClickHouseTarget, sharedState: boolean): ClickHouseWarehouse {
    return new ClickHouseWarehouse(target, sharedState);
  }

  private t(name: string): string {
    return this.layout.t(name);
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
      this.rowInserts = this.shards.map((_, i) => new Batcher<string>((texts) => insertRowsText(this.loadTarget(), i, texts), ROW_INSERT_BATCH));
      if (this.slots.length === 0) throw new ConnectorError('config', `cluster "${this.cluster}" has no shard with a weight above 0`);
      // Newer servers cap partitions per INSERT (100 by default); a window may span more days.
      const known = new Set(
        (await this.main.rows<{ name: string }>(
          `SELECT name FROM system.settings WHERE name IN ('max_partitions_per_insert_block', 'insert_distributed_sync', 'distributed_foreground_insert', 'format_csv_allow_single_quotes')`,
        )).map((r) => r.name),
      );
      if (known.has('max_partitions_per_insert_block')) this.insertSettings.max_partitions_per_insert_block = 0;
      // The CSV path: a cell starting with ' is text, not a quoted string; a Distributed insert
      // returns once every shard has its rows (publishing must not overtake them).
      if (known.has('format_csv_allow_single_quotes')) this.csvSettings.format_csv_allow_single_quotes = 0;
      if (this.cluster) {
        // Renamed distributed_foreground_insert in 23.x (the old name may stay as an alias).
        const sync = known.has('insert_distributed_sync') ? 'insert_distributed_sync' : known.has('distributed_foreground_insert') ? 'distributed_foreground_insert' : null;
        if (!sync) throw new ConnectorError('config', `ClickHouse at ${this.main.label} knows no synchronous Distributed insert setting`);
        this.csvSettings[sync] = 1;
      }
    })();
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  async init(): Promise<void> {
    await this.topology();
    const found = await Promise.all(this.servers.map((s) => initServer(s, this.layout)));
    // Tables of a version before the currency column get it (also before a first-layout migration,
    // whose copy writes it into tables an interrupted earlier attempt may have made without it).
    await migrateCurrency(this.servers, this.layout);
    if (found.includes('v1')) {
      await migrateV1({ layout: this.layout, servers: this.servers, shards: this.shards, slots: this.slots });
      await Promise.all(this.servers.map((s) => initServer(s, this.layout)));
      await migrateCurrency(this.servers, this.layout);
    }
    await dropStaleStages(this.servers, this.layout);
  }

  /**
   * Shard index of each (connector, day): the Distributed tables' sharding key (SHARDING_KEY, on
   * the Date, as the tables hold it) modulo the total weight, mapped through the shard weights, as
   * the server computes it for rows inserted through a Distributed table.
   */
  private async route(connector: string, days: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (this.shards.length === 1) {
      for (const d of days) out.set(d, 0);
      return out;
    }
    // The answer never changes for a topology: cached, and the lookups of windows that start
    // together go in one query (routeBatch).
    const known = (d: string) => this.routes.has(`${connector}\u0000${d}`);
    const missing = days.filter((d) => !known(d));
    if (missing.length > 0) {
      // A run goes day by day: the next year's days cost the same query, so ask for them too.
      const ahead: string[] = [];
      for (let d = addDays(missing[0]!, 1), i = 0; i < ROUTE_AHEAD_DAYS && d <= MAX_DAY; d = addDays(d, 1), i++) if (!known(d)) ahead.push(d);
      await this.router.add({ connector, days: [...new Set([...missing, ...ahead])] });
    }
    for (const d of days) out.set(d, this.routes.get(`${connector}\u0000${d}`)!);
    return out;
  }

  private async routeBatch(asks: RouteAsk[]): Promise<void> {
    // Each connector's days as runs of consecutive days, generated by the server (a long literal
    // array is slow to parse on 18.16); the key over a String and a Date, as the tables hold them.
    const runs: string[] = [];
    for (const [connector, set] of groupDays(asks)) {
      const days = [...set].sort();
      for (let i = 0; i < days.length;) {
        let j = i;
        while (j + 1 < days.length && addDays(days[j]!, 1) === days[j + 1]) j++;
        runs.push(`SELECT materialize(${str(connector)}) AS _connector, ${day(days[i]!)} + number AS _date FROM numbers(${j - i + 1})`);
        i = j + 1;
      }
    }
    if (this.routes.size > 200_000) this.routes.clear();
    for (let i = 0; i < runs.length; i += 200) {
      const rows = await this.main.rows<{ c: string; d: string; h: string }>(
        `SELECT _connector AS c, toString(_date) AS d, toString(${SHARDING_KEY} % ${this.slots.length}) AS h FROM (${runs.slice(i, i + 200).join(' UNION ALL ')})`,
      );
      for (const r of rows) this.routes.set(`${r.c}\u0000${r.d}`, this.slots[Number(r.h)]!);
    }
  }

  /** Takes both body forms (capabilities.canonicalCsv): canonical CSV goes to the server as bytes (csv-load.ts). */
  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    let started = false;
    try {
      return await this.replace(load, body, () => {
        started = true;
      });
    } catch (e) {
      // Failed before reading any row (bad window, server down): still close the caller's
      // iterable (e.g. a report download), as consuming it would have.
      if (!started) {
        const it: AsyncIterable<unknown> = body.format === 'rows' ? body.batches : body.parts;
        await Promise.resolve(it[Symbol.asyncIterator]().return?.()).catch(() => undefined);
      }
      throw e;
    }
  }

  private async replace(load: WindowLoad, body: ReportBody, onStart: () => void): Promise<number> {
    await this.topology();
    checkDay(load.start, 'window start');
    checkDay(load.end, 'window end');
    if (load.end < load.start) throw new ConnectorError('bad_request', `window ${load.start}..${load.end} ends before it starts`);
    const days: string[] = [];
    for (let d = load.start; d <= load.end; d = addDays(d, 1)) {
      days.push(d);
      if (days.length > MAX_WINDOW_DAYS) throw new ConnectorError('bad_request', `window ${load.start}..${load.end} is longer than ${MAX_WINDOW_DAYS} days`);
    }
    // Independent reads before the load: one round trip's wait, not three. A load in another
    // currency than the connector's rows is refused here, before anything is inserted.
    const [routes, version] = await Promise.all([
      this.route(load.connector, days),
      this.runVersion(load),
      this.runCurrency(load),
    ]);
    onStart();
    const form = body.format === 'rows' ? body : await cheapestForm(stampedParts(body, loadStamp(load, version), load));
    // A small canonical-CSV window is in memory now: its rows join the insert of the windows
    // that finish with it (one part for all of them); other rows stream in their own insert.
    const { count, extra } = form.format === 'rows'
      ? body.format !== 'rows' ? await this.insertSmall(load, version, form.batches, routes) : await streamRows(this.loadTarget(), load, version, form.batches, routes)
      : await this.streamCsv(load, form.parts, routes);
    const parts: ShardDays[] = this.shards.map((shard, i) => ({
      shard,
      days: days.filter((d) => routes.get(d) === i),
      extra: [...(extra.get(i) ?? [])],
    }));
    await this.publish({ load, version, count }, parts, routes.get(load.start)!);
    return count;
  }

  /** A window's rows already in memory: encoded, then inserted together with other windows' (rowInserts). */
  private async insertSmall(load: WindowLoad, version: number, rows: AsyncIterable<ReportRow[]>, routes: Map<string, number>) {
    const { count, extra, text } = await rowsText(this.loadTarget(), load, version, rows, routes);
    await Promise.all(text.map((t, i) => (t ? this.rowInserts[i]!.add(t) : undefined)));
    return { count, extra };
  }

  /** The CSV path's new rows, and their out-of-window days per shard (routes gains them), like streamRows's. */
  private async streamCsv(load: WindowLoad, parts: AsyncIterable<CsvPart>, routes: Map<string, number>) {
    const settings = { ...this.insertSettings, ...this.csvSettings };
    const target = async (day: string | null) => {
      // One shard owns every row: its own table, where the Distributed one would parse the rows on
      // the URL's server and send them on to the shard (measured in docs/BENCHMARKS.md).
      const days = day !== null ? [day] : [...routes.keys()].filter((d) => d >= load.start && d <= load.end);
      const owners = new Set((await this.route(load.connector, days)).values());
      const [only] = owners;
      return owners.size === 1 && only !== undefined
        ? { server: this.shards[only]!.server, table: this.t(this.layout.local(ROWS_TABLE)) }
        : { server: this.main, table: this.t(ROWS_TABLE) };
    };
    const { count, extra: days } = await streamCsv({ insertSettings: settings, target }, load, parts);
    const extra = new Map<number, Set<string>>();
    const fresh = days.filter((d) => !routes.has(d));
    for (const [d, shard] of await this.route(load.connector, fresh.map((d) => checkDay(d, '_date')))) routes.set(d, shard);
    for (const d of days) {
      const shard = routes.get(d)!;
      if (!extra.has(shard)) extra.set(shard, new Set());
      extra.get(shard)!.add(d);
    }
    return { count, extra };
  }

  /**
   * Steps 2-4 of load.ts for this window, batched with the windows that reach this point while a
   * batch is being published (no waiting: the first window goes alone). A failure fails the batch.
   * (Starting the next batch's switch during a batch's clean-up was measured: no faster, as the
   * machine is busy either way, and smaller batches meant more statements.)
   */
  private publish(w: Published, parts: ShardDays[], home: number): Promise<void> {
    return this.publisher.add({ w, parts, home });
  }

  private async publishBatch(batch: PendingPublish[]): Promise<void> {
    const perShard: ShardBatch[] = this.shards.map(() => []);
    for (const j of batch) j.parts.forEach((p, i) => p.days.length + p.extra.length > 0 && perShard[i]!.push({ w: j.w, p }));
    const busy = perShard.filter((b) => b.length > 0);
    await Promise.all(busy.map((b) => publishShard(this.layout, b)));
    // Published: the clean-up and the dimensions do not depend on each other.
    const withRows = batch.filter((j) => j.w.count > 0);
    await Promise.all([
      ...busy.map((b) => cancelSuperseded(this.layout, b)),
      withRows.length > 0 ? refreshDimensions(this.layout, withRows.map((j) => j.w), this.shards[withRows[0]!.home]!.server) : undefined,
    ]);
  }

  private loadTarget() {
    return { layout: this.layout, shards: this.shards, insertSettings: this.insertSettings, route: this.route.bind(this) };
  }

  /**
   * A new version for one window of a run: above every version the connector has, read once per
   * run (the connector's lease keeps other writers out while it runs; a later run reads again,
   * so a writer on a machine whose clock runs ahead is still overtaken). Versions increase
   * within the process (nextSeq), so the run's later windows need no read.
   */
  private async runVersion(load: WindowLoad): Promise<number> {
    return nextSeq(await perRun(this.runFloors, `${load.connector}\u0000${load.syncId}`, () => this.newVersion(load.connector, '1')));
  }

  /**
   * The currency check (currency.ts), once per run and currency: during a run the sync holds the
   * connector's lease, so no relabel and no other load can change its rows' currency meanwhile; its
   * own loads are all in this currency. One query per window was a third of an agency window's cost.
   */
  private runCurrency(load: WindowLoad): Promise<void> {
    return perRun(this.runCurrencies, `${load.connector}\u0000${load.syncId}\u0000${loadCurrency(load)}`, () => checkCurrency(this.main, this.layout, load));
  }

  /** A version above every version the connector's days `where` already have (clocks of other machines may run ahead). */
  private async newVersion(connector: string, where: string): Promise<number> {
    const [r] = await this.main.rows<{ v: string }>(
      `SELECT toString(max(_version)) AS v FROM ${this.t(VERSIONS_TABLE)} WHERE _connector = ${str(connector)} AND ${where}`,
    );
    return nextSeq(Number(r?.v ?? 0) + 1);
  }

  /**
   * Hide every day of the connector at once (a version with no rows for each day it has), then
   * delete its rows in the background (mutations, which touch only what is older than that
   * version: a connector added again under the same name keeps its new rows). The empty versions
   * stay (ReplacingMergeTree merges away the older ones): a mutation applies part by part, and
   * removing them with the old versions could briefly show an old version again.
   */
  async deleteConnectorData(connector: string): Promise<void> {
    await this.topology();
    const c = str(connector);
    const version = await this.newVersion(connector, '1');
    await Promise.all(
      this.shards.map(async ({ server }) => {
        const versions = this.t(this.layout.local(VERSIONS_TABLE));
        await server.run(
          `INSERT INTO ${versions} (_connector, _date, rows, _version, currency) SELECT _connector, _date, toDecimal128(0, 0), toUInt64(${version}), '' FROM ${versions} WHERE _connector = ${c} GROUP BY _connector, _date`,
        );
        for (const table of [ROWS_TABLE, TOP_ROWS_TABLE]) {
          await server.run(`ALTER TABLE ${this.t(this.layout.local(table))} DELETE WHERE _connector = ${c} AND _version < ${version}`);
        }
        for (const { table } of dimensionTables()) {
          await server.run(`ALTER TABLE ${this.t(this.layout.stateLocal(table))} DROP PARTITION ${c}`);
        }
      }),
    );
  }

  private where(connector: string | null, from: string, to: string): string {
    return `${connector === null ? '' : `_connector = ${str(connector)} AND `}_date BETWEEN ${day(clampDay(from))} AND ${day(clampDay(to))}`;
  }

  /** The current version's summary (and currency) of each matching (connector, day), days with rows only (LIMIT BY keeps NULL sums, argMax would skip them). */
  private currentDays(where: string): string {
    return `SELECT * FROM (
      SELECT _connector, _date, rows, impressions, clicks, orders, sales, gross_commissions, total_commissions, currency FROM ${this.t(VERSIONS_TABLE)}
      WHERE ${where} ORDER BY _connector, _date, _version DESC LIMIT 1 BY _connector, _date
    ) WHERE rows > 0`;
  }

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    await this.topology();
    // Aliases differ from column names: ClickHouse would substitute an alias into its own expression.
    const rows = await this.main.rows<Record<string, string | null>>(
      `SELECT toString(_date) AS d, currency AS cur, toString(sum(rows)) AS n,
              toString(sum(impressions)) AS s_impressions, toString(sum(clicks)) AS s_clicks, toString(sum(orders)) AS s_orders,
              toString(sum(sales)) AS s_sales, toString(sum(gross_commissions)) AS s_gross, toString(sum(total_commissions)) AS s_total
       FROM (${this.currentDays(this.where(connector, from, to))})
       GROUP BY _date, cur ORDER BY _date, cur`,
    );
    return rows.map((r) => dayTotalsFrom({
      day: r.d, currency: r.cur, rows: r.n, impressions: r.s_impressions, clicks: r.s_clicks, orders: r.s_orders,
      sales: r.s_sales, gross_commissions: r.s_gross, total_commissions: r.s_total,
    }));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    await this.topology();
    if (!(dimension in TOP_DIMENSIONS)) throw new ConnectorError('bad_request', `unknown dimension "${String(dimension).slice(0, 20)}"`);
    const where = this.where(connector, from, to);
    const rows = await this.main.rows<Record<string, string | null>>(
      `SELECT _connector AS c, currency AS cur, id AS k, ${latest('name', 'name_day')} AS nm, toString(sum(rows)) AS n,
              sum(sales) AS s_order, toString(s_order) AS s_sales, toString(sum(total_commissions)) AS s_total
       FROM ${this.t(TOP_ROWS_TABLE)}
       WHERE ${where} AND dimension = ${str(dimension)} AND (_connector, _date, _version) IN (${currentVersions(this.layout, where)})
       GROUP BY _connector, cur, id ORDER BY cur, s_order DESC NULLS LAST, k, c LIMIT ${Math.max(1, Math.floor(limit))} BY cur`,
    );
    return rows.map((r) => topEntryFrom({ connector: r.c, currency: r.cur, id: r.k, name: r.nm, rows: r.n, sales: r.s_sales, total_commissions: r.s_total }));
  }

  /** currency.ts: a mutation per table and shard where a row differs, waited for. */
  async relabelCurrency(connector: string, currency: string): Promise<void> {
    await this.topology();
    try {
      await relabel(this.layout, this.shards, connector, currency);
    } finally {
      this.forgetCurrencyChecks(connector);
    }
  }

  /** The connector's rows changed currency: its runs' currency checks are asked again (only passed checks are kept). */
  private forgetCurrencyChecks(connector: string): void {
    for (const key of this.runCurrencies.keys()) if (key.startsWith(`${connector}\u0000`)) this.runCurrencies.delete(key);
  }

  /** The current versions with rows (currency.ts), as coverages reads them. */
  async connectorCurrencies(): Promise<Map<string, string[]>> {
    await this.topology();
    return currenciesFrom(await this.main.rows<{ c: string; cur: string }>(currenciesSql(this.currentDays('1'))));
  }

  async coverage(connector: string): Promise<Coverage> {
    await this.topology();
    const [r] = await this.main.rows<Record<string, string>>(
      `SELECT toString(sum(rows)) AS n, toString(count()) AS days, toString(min(_date)) AS first, toString(max(_date)) AS last
       FROM (${this.currentDays(`_connector = ${str(connector)}`)})`,
    );
    // min() of no rows is 1970-01-01 / 0000-00-00 in ClickHouse: coverageFrom shows no day then.
    return coverageFrom(r && { rows: r.n, days: r.days, first: r.first, last: r.last });
  }

  async coverages(): Promise<Map<string, Coverage>> {
    await this.topology();
    const rows = await this.main.rows<Record<string, string>>(
      `SELECT _connector AS c, toString(sum(rows)) AS n, toString(count()) AS days, toString(min(_date)) AS first, toString(max(_date)) AS last
       FROM (${this.currentDays('1')}) GROUP BY _connector`,
    );
    return new Map(rows.map((r) => [r.c!, coverageFrom({ rows: r.n, days: r.days, first: r.first, last: r.last })]));
  }

  async close(): Promise<void> {
    const all = new Set<ChServer>([this.main, ...this.shards.map((s) => s.server)]);
    await Promise.all([...all].map((s) => s.close().catch(() => undefined)));
  }
}

/**
 * A run's answer, computed once (by `make`) and shared by its windows. A failure is not kept (a
 * retry asks again); runs end, so only the recent ones are kept (serve runs for months).
 */
function perRun<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    if (cache.size > 256) cache.delete(cache.keys().next().value!);
  }
  return p;
}
