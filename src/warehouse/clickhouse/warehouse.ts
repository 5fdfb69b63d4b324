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
 *
 * This file: topology, routing, the load's staging lifecycle and partition swap, and the reads.
 * The tables are in schema.ts, the streaming load and dimension merge in load.ts; the
 * bookkeeping is not ClickHouse's (no transactions): index.ts gets it from the registry.
 */
import { randomBytes } from 'node:crypto';
import type { ReportBody } from '../../model/report-body.js';
import type { ReportRow } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { addDays } from '../../util/days.js';
import { coverageFrom, dayTotalsFrom, topEntryFrom } from '../amounts.js';
import { rowBatches } from '../body.js';
import { dimensionTables } from '../render.js';
import type { Coverage, DayTotals, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { ChServer, type ClickHouseTarget, day, describeTarget, discoverShards, type Shard, str } from './connection.js';
import { CLICKHOUSE_CAPABILITIES } from './capabilities.js';
import { loadStage, refreshDimensions } from './load.js';
import { checkDay, clampDay, dropStaleStages, initServer, latest, Layout, STAGE_PREFIX, T } from './schema.js';

const MAX_WINDOW_DAYS = 3660;

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
  private ready: Promise<void> | null = null;

  /** sharedState: that of the bookkeeping the registry lent it (see index.ts). */
  private constructor(private readonly target: ClickHouseTarget, sharedState: boolean) {
    this.location = describeTarget(target);
    this.layout = new Layout(target.database, target.cluster);
    this.cluster = target.cluster;
    this.main = new ChServer(target, target.host, target.port);
    // Each load has its own staging table, so loads of different windows may overlap.
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
    await Promise.all(this.servers.map((s) => initServer(s, this.layout)));
    await dropStaleStages(this.servers, this.layout);
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

  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    const rows = await rowBatches(body, 'ClickHouse');
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
          await s.server.run(`CREATE TABLE ${this.t(stage)} AS ${this.t(this.layout.factLocal)}`);
          created.push(s.server);
        }),
      );
      onStart();
      const target = { layout: this.layout, shards: this.shards, insertSettings: this.insertSettings, route: this.route.bind(this) };
      const { count, extra } = await loadStage(target, load, rows, stage, routes);
      // Publish: one atomic partition swap per (connector, day). Days outside the window (the
      // reader never sends any; DuckDB would append them) are appended, not replaced.
      await Promise.all(
        this.shards.map(async (s, i) => {
          const part = (d: string): string => `(${str(load.connector)}, ${str(d)})`;
          for (const d of days) {
            if (routes.get(d) === i) await s.server.run(`ALTER TABLE ${this.t(this.layout.factLocal)} REPLACE PARTITION ${part(d)} FROM ${this.t(stage)}`);
          }
          for (const d of extra.get(i) ?? []) {
            await s.server.run(`ALTER TABLE ${this.t(this.layout.factLocal)} ATTACH PARTITION ${part(d)} FROM ${this.t(stage)}`);
          }
        }),
      );
      if (count > 0) await refreshDimensions(this.layout, load, stage, stageAll, this.shards[routes.get(load.start)!]!.server);
      return count;
    } finally {
      // Best effort: a leftover is dropped by a later init() once it is old.
      await Promise.all([
        ...created.map((s) => s.run(`DROP TABLE IF EXISTS ${this.t(stage)}`).catch(() => undefined)),
        ...(this.cluster ? this.shards.map((s) => s.server.run(`DROP TABLE IF EXISTS ${this.t(stageAll)}`).catch(() => undefined)) : []),
      ]);
    }
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await this.topology();
    await Promise.all(
      this.shards.map(async ({ server }) => {
        const days = await server.rows<{ d: string }>(
          `SELECT DISTINCT toString(_date) AS d FROM ${this.t(this.layout.factLocal)} WHERE _connector = ${str(connector)}`,
        );
        for (const { d } of days) {
          await server.run(`ALTER TABLE ${this.t(this.layout.factLocal)} DROP PARTITION (${str(connector)}, ${str(d)})`);
        }
        for (const { table } of dimensionTables()) {
          await server.run(`ALTER TABLE ${this.t(this.layout.stateLocal(table))} DROP PARTITION ${str(connector)}`);
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
    return rows.map((r) => dayTotalsFrom({
      day: r.d, rows: r.n, impressions: r.s_impressions, clicks: r.s_clicks, orders: r.s_orders,
      sales: r.s_sales, gross_commissions: r.s_gross, total_commissions: r.s_total,
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
    return rows.map((r) => topEntryFrom({ id: r.k, name: r.nm, rows: r.n, sales: r.s_sales, total_commissions: r.s_total }));
  }

  async coverage(connector: string): Promise<Coverage> {
    await this.topology();
    const [r] = await this.main.rows<Record<string, string>>(
      `SELECT toString(count()) AS n, toString(uniqExact(_date)) AS days, toString(min(_date)) AS first, toString(max(_date)) AS last
       FROM ${this.t(T)} WHERE _connector = ${str(connector)}`,
    );
    // min() of no rows is 1970-01-01 / 0000-00-00 in ClickHouse: coverageFrom shows no day then.
    return coverageFrom(r && { rows: r.n, days: r.days, first: r.first, last: r.last });
  }

  async close(): Promise<void> {
    const all = new Set<ChServer>([this.main, ...this.shards.map((s) => s.server)]);
    await Promise.all([...all].map((s) => s.close().catch(() => undefined)));
  }
}
