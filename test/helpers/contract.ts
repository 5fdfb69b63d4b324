/**
 * The warehouse contract suite's plumbing (test/warehouse-contract.test.ts):
 *
 * - which targets to run (RAKUTEN_TEST_WAREHOUSES) and whether each one's server answers;
 * - a Harness per target: the warehouse opened through the public `openWarehouse`, plus a model of
 *   what it must hold (fact rows per connector and day, and the reference dimensions of
 *   src/model/dimensions.ts), updated by the same calls;
 * - reading the dimension tables with each warehouse's own SQL client: DuckDB (the file, opened with
 *   @duckdb/node-api while the warehouse is closed: one process holds a DuckDB file), PostgreSQL (pg),
 *   ClickHouse (@clickhouse/client, through the views readers use);
 * - the expected dayTotals / top / coverage of the modelled rows, computed exactly (BigInt units);
 * - row builders and seeded random windows.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { compareBytes, compareRecords, DimensionState, rowDay, cell, type DimensionRecord, type DimensionTables } from '../../src/model/dimensions.js';
import { rowsBody, type ReportBody } from '../../src/model/report-body.js';
import { COLUMN_INDEX, DAY_SUMMARY_TABLE, DIMENSIONS, LOADED_COLUMNS, REPORT_TABLE, TOP_SUMMARY_TABLE, type LoadedColumn, type ReportRow } from '../../src/model/schema.js';
import type { Rng } from '../../src/simulator/prng.js';
import { addDays } from '../../src/util/days.js';
import { fromUnits, toUnits } from '../../src/util/decimal.js';
import { openWarehouse } from '../../src/warehouse/index.js';
import type { Coverage, DayTotals, StateStore, TopEntry, Warehouse, WindowLoad } from '../../src/warehouse/types.js';
import { createTarget, tempHome, type TargetName, type TestWarehouse } from './targets.js';

type Opened = Awaited<ReturnType<typeof openWarehouse>>;

const I = COLUMN_INDEX;

const TARGETS: readonly TargetName[] = ['duckdb', 'postgres', 'clickhouse', 'clickhouse-cluster'];

/** The targets RAKUTEN_TEST_WAREHOUSES names (default: duckdb); an unknown name is an error, not a silent skip. */
export function contractTargets(env = process.env.RAKUTEN_TEST_WAREHOUSES): TargetName[] {
  const names = (env ?? 'duckdb').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!TARGETS.includes(n as TargetName)) throw new Error(`RAKUTEN_TEST_WAREHOUSES: unknown warehouse "${n}" (use ${TARGETS.join(', ')})`);
  }
  return [...new Set(names)] as TargetName[];
}

/** Why the target's server cannot be used, or null when it answers. */
export async function unavailable(name: TargetName): Promise<string | null> {
  switch (name) {
    case 'duckdb':
      return null;
    case 'postgres': {
      const { postgresAvailable, ADMIN_URL } = await import('./postgres.js');
      return (await postgresAvailable()) ? null : `PostgreSQL is not reachable at ${new URL(ADMIN_URL).host} (set RAKUTEN_TEST_PG)`;
    }
    case 'clickhouse':
    case 'clickhouse-cluster': {
      const cluster = name === 'clickhouse-cluster';
      const { clickHouseAvailable, CLUSTER_URL, SINGLE_URL } = await import('./clickhouse.js');
      return (await clickHouseAvailable(cluster))
        ? null
        : `ClickHouse ${cluster ? 'two-shard cluster' : 'server'} is not reachable at ${new URL(cluster ? CLUSTER_URL : SINGLE_URL).host} (scripts/clickhouse.sh ${cluster ? 'start-cluster' : 'start-single'})`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rows and bodies

export type Cells = Partial<Record<LoadedColumn, string | null>>;

/** A report row from named cells (everything else NULL); transaction_date defaults to _date. */
export function row(date: string, cells: Cells = {}): ReportRow {
  const r: ReportRow = new Array<string | null>(LOADED_COLUMNS.length).fill(null);
  r[COLUMN_INDEX._date] = date;
  r[COLUMN_INDEX.transaction_date] = date;
  for (const [k, v] of Object.entries(cells)) r[COLUMN_INDEX[k as LoadedColumn]] = v ?? null;
  return r;
}

/** A `rows` body in batches of `batch`; with `failAfter`, it throws `error` once that many batches were read. */
export function body(rows: readonly ReportRow[], opts: { batch?: number; failAfter?: number; error?: Error } = {}): ReportBody {
  const size = opts.batch ?? 500;
  return rowsBody((async function* () {
    let sent = 0;
    for (let i = 0; i < rows.length; i += size) {
      if (opts.failAfter !== undefined && sent >= opts.failAfter) break;
      yield rows.slice(i, i + size);
      sent++;
    }
    if (opts.failAfter !== undefined) throw opts.error ?? new Error('report download broke');
  })());
}

/**
 * The same rows as a `canonical-csv` body (what the report reader hands a warehouse with
 * capabilities.canonicalCsv): RFC-4180, `\n` line ends, an empty unquoted cell is NULL, quoted
 * when it holds `",\r\n` or edge spaces/tabs (CsvPart's rule), `_date` not
 * in the CSV (it is `day`, or each row's transaction_date when `day` is null). Columns in reverse
 * model order (a report's column order is its own), in parts of `perPart` rows.
 */
export function csvBody(rows: readonly ReportRow[], day: string | null, perPart = 200): ReportBody {
  const columns = LOADED_COLUMNS.map((c) => c.name).filter((n) => n !== '_date').reverse();
  const field = (v: string | null | undefined): string => (v === null || v === undefined ? '' : /[",\r\n]|^[ \t]|[ \t]$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const enc = new TextEncoder();
  return {
    format: 'canonical-csv',
    parts: (async function* () {
      let maxLine = 0;
      for (let i = 0; i < rows.length; i += perPart) {
        const chunk = rows.slice(i, i + perPart);
        const chunks: Uint8Array[] = [];
        for (const r of chunk) {
          assert.equal(r[I._date], day ?? r[I.transaction_date], 'csvBody: _date must be the day (or the transaction date)');
          const line = enc.encode(`${columns.map((c) => field(r[I[c]])).join(',')}\n`);
          maxLine = Math.max(maxLine, line.length);
          chunks.push(line);
        }
        yield { columns, day, chunks, rows: chunk.length, maxLine };
      }
    })(),
  };
}

export function windowLoad(connector: string, start: string, end = start, syncId = 'sync-1', currency = 'USD'): WindowLoad {
  return { connector, start, end, syncId, syncedAt: new Date('2025-01-02T03:04:05.000Z'), currency };
}

export function daysOf(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
}

/**
 * Seeded rows over days: process-date style transaction dates (up to 2 days before `_date`, some
 * NULL), NULL names/urls/ids, negative and NULL amounts. Names and urls are a function of (id, day
 * the row counts for, tag): within one load an id never has two different names on one day, so the
 * dimensions have one answer on every warehouse (ties are tested on their own).
 */
export function randomRows(rng: Rng, start: string, end: string, perDay: number, tag: string): ReportRow[] {
  const out: ReportRow[] = [];
  const money = (): string | null => {
    if (rng.chance(0.08)) return null;
    const units = BigInt(rng.int(2_000_000_000)) - 400_000_000n;
    return fromUnits(units, 4, rng.chance(0.3) ? 2 : 4);
  };
  for (const date of daysOf(start, end)) {
    for (let i = 0; i < perDay; i++) {
      const tx = rng.chance(0.1) ? null : addDays(date, -rng.int(3));
      const seen = tx ?? date;
      const p = rng.chance(0.03) ? null : `p${rng.int(6)}`;
      const o = rng.chance(0.1) ? null : `o${rng.int(4)}`;
      const l = `l${rng.int(10)}`;
      out.push(row(date, {
        transaction_date: tx,
        order_id: rng.chance(0.3) ? null : `${tag}-${date}-${i}`,
        publisher_id: p,
        publisher_name: p && !rng.chance(0.15) ? `Publisher ${p} ${seen} ${tag}` : null,
        publisher_url: p && !rng.chance(0.2) ? `https://${p}.example/${seen}/${tag}` : null,
        publisher_group_id: rng.chance(0.5) ? 'g1' : null,
        offer_id: o,
        offer_name: o && !rng.chance(0.1) ? `Offer ${o} ${seen} ${tag}` : null,
        link_id: l,
        link_name: rng.chance(0.2) ? null : `Link ${l} ${seen} ${tag}`,
        impressions: rng.chance(0.1) ? null : String(rng.int(100_000)),
        clicks: String(rng.int(1000)),
        orders: rng.chance(0.3) ? null : String(rng.int(20) - 2),
        sales: money(),
        gross_commissions: money(),
        total_commissions: money(),
        _extra: rng.chance(0.2) ? JSON.stringify({ note: `x\t${i}` }) : null,
      }));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The model: what the warehouse must hold

/** An expected top() entry: `names` are the acceptable names (several only on a tie of the latest day). */
export interface ExpectedTop extends Omit<TopEntry, 'name'> {
  names: (string | null)[];
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The fact rows per connector and day, and the reference dimensions, as replaceWindow / deleteConnectorData leave them. */
export class Model {
  private readonly facts = new Map<string, Map<string, ReportRow[]>>();
  /**
   * The currency of each connector's rows per day: a load writes its currency on its days, and is
   * refused (the contract: WindowLoad.currency) when the connector has rows in another non-empty
   * one; relabelCurrency sets all of a connector's. '' = loaded before the column existed, which
   * takes a load in any currency (the connector's days are then in '' and that one).
   */
  private readonly currencies = new Map<string, Map<string, string>>();
  readonly dims = new DimensionState();

  /** A load's refusal, if the contract refuses it: the connector's rows are in another non-empty currency. */
  refusal(load: WindowLoad): string | undefined {
    const days = this.facts.get(load.connector);
    for (const [d, rows] of days ?? []) {
      const had = this.currencyOn(load.connector, d);
      if (rows.length && had !== '' && had !== load.currency) return had;
    }
    return undefined;
  }

  replace(load: WindowLoad, rows: readonly ReportRow[]): void {
    const had = this.refusal(load);
    if (had !== undefined) throw new Error(`model: a load of ${load.connector} in ${load.currency} while its rows are in ${had}: relabel first`);
    const days = this.facts.get(load.connector) ?? new Map<string, ReportRow[]>();
    this.facts.set(load.connector, days);
    const cur = this.currencies.get(load.connector) ?? new Map<string, string>();
    this.currencies.set(load.connector, cur);
    for (const d of [...days.keys()]) {
      if (d >= load.start && d <= load.end) {
        days.delete(d);
        cur.delete(d);
      }
    }
    // Rows of a day outside the window are added to that day (nothing of it is deleted).
    for (const r of rows) {
      push(days, r[I._date]!, r);
      cur.set(r[I._date]!, load.currency);
    }
    this.dims.applyWindow({ connector: load.connector, start: load.start, end: load.end, rows });
  }

  deleteConnector(connector: string): void {
    this.facts.delete(connector);
    this.currencies.delete(connector);
    this.dims.deleteConnector(connector);
  }

  /** relabelCurrency: every row of the connector is in `currency` now. */
  relabel(connector: string, currency: string): void {
    const cur = this.currencies.get(connector);
    if (cur) for (const d of cur.keys()) cur.set(d, currency);
  }

  /** What the rows of every connector are labelled ('' for all after the currency columns were dropped and added back). */
  unlabelAll(): void {
    for (const c of this.currencies.keys()) this.relabel(c, '');
  }

  /** The currency of the connector's rows of a day. */
  currencyOn(connector: string, day: string): string {
    return this.currencies.get(connector)?.get(day) ?? '';
  }

  /** connectorCurrencies: each connector with rows → its currencies, in byte order (connectors in byte order). */
  connectorCurrencies(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const c of this.connectors().sort(compareBytes)) {
      const set = new Set<string>();
      for (const [d, rows] of this.facts.get(c)!) if (rows.length) set.add(this.currencyOn(c, d));
      if (set.size) out.set(c, [...set].sort(compareBytes));
    }
    return out;
  }

  /** Rows per (connector, currency) as the fact table must hold them: "connector currency" → count. */
  factCurrencies(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [c, days] of this.facts) {
      for (const [d, rows] of days) {
        if (!rows.length) continue;
        const key = JSON.stringify([c, this.currencyOn(c, d)]);
        out.set(key, (out.get(key) ?? 0) + rows.length);
      }
    }
    return out;
  }

  private rowsIn(connector: string | null, from: string, to: string): ReportRow[] {
    const out: ReportRow[] = [];
    for (const [c, days] of this.facts) {
      if (connector !== null && c !== connector) continue;
      for (const [d, rows] of days) if (d >= from && d <= to) out.push(...rows);
    }
    return out;
  }

  /** Per (day, currency), ordered by day then currency: amounts of two currencies are never added. */
  dayTotals(connector: string | null, from: string, to: string): DayTotals[] {
    const byDay = new Map<string, ReportRow[]>();
    for (const c of connector === null ? this.connectors() : [connector]) {
      for (const r of this.rowsIn(c, from, to)) push(byDay, JSON.stringify([r[I._date], this.currencyOn(c, r[I._date]!)]), r);
    }
    return [...byDay.keys()].sort((a, b) => compareBytes(a, b)).map((key) => {
      const [day, currency] = JSON.parse(key) as [string, string];
      const rs = byDay.get(key)!;
      const count = (i: number) => rs.reduce((a, r) => a + (cell(r, i) === null ? 0n : BigInt(r[i]!)), 0n).toString();
      const money = (i: number) => fromUnits(rs.reduce((a, r) => a + (cell(r, i) === null ? 0n : toUnits(r[i]!)), 0n));
      return {
        day, currency, rows: rs.length, impressions: count(I.impressions), clicks: count(I.clicks), orders: count(I.orders),
        sales: money(I.sales), gross_commissions: money(I.gross_commissions), total_commissions: money(I.total_commissions),
      };
    });
  }

  top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): ExpectedTop[] {
    const idCol = dimension === 'publisher' ? I.publisher_id : I.offer_id;
    const nameCol = dimension === 'publisher' ? I.publisher_name : I.offer_name;
    // Per (connector, id): over all connectors, the same id of two connectors is two entries.
    const groups = new Map<string, ReportRow[]>();
    for (const c of connector === null ? this.connectors() : [connector]) {
      for (const r of this.rowsIn(c, from, to)) {
        const id = cell(r, idCol);
        if (id !== null) push(groups, JSON.stringify([c, this.currencyOn(c, r[I._date]!), id]), r);
      }
    }
    const entries = [...groups].map(([key, rs]) => {
      const [conn, currency, id] = JSON.parse(key) as [string, string, string];
      const sum = (i: number): bigint | null => rs.reduce<bigint | null>((a, r) => (cell(r, i) === null ? a : (a ?? 0n) + toUnits(r[i]!)), null);
      let best = '';
      let names = new Set<string>();
      for (const r of rs) {
        const n = cell(r, nameCol);
        if (n === null) continue;
        const d = rowDay(r)!;
        if (d > best) {
          best = d;
          names = new Set();
        }
        if (d === best) names.add(n);
      }
      return {
        connector: conn, currency, id, rows: rs.length, sales: sum(I.sales), total: sum(I.total_commissions),
        names: names.size ? [...names].sort(compareBytes) : [null],
      };
    });
    // Per currency (byte order): ORDER BY sum(sales) DESC NULLS LAST, id, connector (byte order), `limit` of each.
    entries.sort((a, b) => {
      if (a.currency !== b.currency) return compareBytes(a.currency, b.currency);
      if (a.sales !== b.sales) {
        if (a.sales === null) return 1;
        if (b.sales === null) return -1;
        return a.sales > b.sales ? -1 : 1;
      }
      return compareBytes(a.id, b.id) || compareBytes(a.connector, b.connector);
    });
    const per = Math.max(1, Math.floor(limit));
    const taken = new Map<string, number>();
    const kept = entries.filter((e) => {
      const n = (taken.get(e.currency) ?? 0) + 1;
      taken.set(e.currency, n);
      return n <= per;
    });
    return kept.map((e) => ({
      connector: e.connector, currency: e.currency, id: e.id, rows: e.rows, names: e.names,
      sales: e.sales === null ? '0' : fromUnits(e.sales), total_commissions: e.total === null ? '0' : fromUnits(e.total),
    }));
  }

  coverage(connector: string): Coverage {
    const days = [...(this.facts.get(connector)?.entries() ?? [])].filter(([, rs]) => rs.length > 0).map(([d]) => d).sort();
    const rows = days.reduce((a, d) => a + this.facts.get(connector)!.get(d)!.length, 0);
    return { rows, days: days.length, firstDay: days[0] ?? null, lastDay: days.at(-1) ?? null };
  }

  connectors(): string[] {
    return [...this.facts.keys()];
  }
}

/** top() as the warehouse answered, against the model's expectation: exact, but any of the tied names. */
export function assertTop(got: TopEntry[], want: ExpectedTop[], message: string): void {
  const expected = want.map((w, i) => {
    const g = got[i];
    const name = g && w.names.includes(g.name) ? g.name : w.names.length === 1 ? w.names[0]! : `one of ${JSON.stringify(w.names)}`;
    return { connector: w.connector, currency: w.currency, id: w.id, name, rows: w.rows, sales: w.sales, total_commissions: w.total_commissions };
  });
  assert.deepEqual(got, expected, message);
}

// ---------------------------------------------------------------------------------------------
// The harness

/** A target opened through the public interface, with the model of what it must hold. */
export class Harness {
  readonly model = new Model();
  private opened!: Opened;
  private pgClient: pg.Client | null = null;
  private ch: ReturnType<typeof createClient> | null = null;
  private chDb = '';

  private constructor(readonly name: TargetName, private readonly target: TestWarehouse, private readonly home: string, private readonly url: string) {}

  static async open(name: TargetName): Promise<Harness> {
    const target = await createTarget(name);
    const home = tempHome('rc-contract-');
    const url = target.url ?? `duckdb:${join(home, 'warehouse.duckdb')}`;
    const h = new Harness(name, target, home, url);
    try {
      h.opened = await openWarehouse(url, home);
      if (name === 'postgres') {
        h.pgClient = new pg.Client({ connectionString: url });
        h.pgClient.on('error', () => undefined);
        await h.pgClient.connect();
      } else if (name.startsWith('clickhouse')) {
        const u = new URL(url.replace(/^clickhouse(s?):/, 'http$1:'));
        h.chDb = decodeURIComponent(u.pathname.replace(/^\/+/, ''));
        h.ch = createClient({
          url: `${u.protocol}//${u.host}`,
          username: decodeURIComponent(u.username) || 'default',
          password: decodeURIComponent(u.password),
          compression: { request: false, response: false },
        });
      }
    } catch (e) {
      await h.close().catch(() => undefined);
      throw e;
    }
    return h;
  }

  get warehouse(): Warehouse {
    return this.opened.warehouse;
  }

  get state(): StateStore {
    return this.opened.state;
  }

  /** Replace a window on the warehouse and in the model; returns the warehouse's count. */
  async replace(load: WindowLoad, rows: readonly ReportRow[], batch = 500): Promise<number> {
    const n = await this.warehouse.replaceWindow(load, body(rows, { batch }));
    this.model.replace(load, rows);
    return n;
  }

  /** The same, with a body of the caller's making that carries exactly `rows`. */
  async replaceBody(load: WindowLoad, rows: readonly ReportRow[], b: ReportBody): Promise<number> {
    const n = await this.warehouse.replaceWindow(load, b);
    this.model.replace(load, rows);
    return n;
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await this.warehouse.deleteConnectorData(connector);
    this.model.deleteConnector(connector);
  }

  async relabelCurrency(connector: string, currency: string): Promise<void> {
    await this.warehouse.relabelCurrency(connector, currency);
    this.model.relabel(connector, currency);
  }

  /** Close the warehouse and open it again through openWarehouse (its init() runs, migrations included). */
  async reopen(): Promise<void> {
    await this.opened.close();
    this.opened = await openWarehouse(this.url, this.home);
  }

  /**
   * Each table's rows per (connector, currency), read with the warehouse's own SQL client: the
   * fact table, and the day summary's `rows` summed (both must say what the model says).
   */
  async currencyCounts(): Promise<{ fact: Map<string, number>; summary: Map<string, number>; top: Set<string> }> {
    const fact = `SELECT _connector AS c, currency AS cur, count(*) AS n FROM ${REPORT_TABLE.name} GROUP BY _connector, currency`;
    const summary = `SELECT _connector AS c, currency AS cur, sum(rows) AS n FROM ${DAY_SUMMARY_TABLE.name} GROUP BY _connector, currency`;
    const top = `SELECT _connector AS c, currency AS cur, count(*) AS n FROM ${TOP_SUMMARY_TABLE.name} GROUP BY _connector, currency`;
    const [f, s, t] = await this.rawQueries([fact, summary, top]);
    const key = (r: Record<string, unknown>) => JSON.stringify([String(r.c), String(r.cur)]);
    const toMap = (rs: Record<string, unknown>[]) => new Map(rs.filter((r) => Number(r.n) > 0).map((r) => [key(r), Number(r.n)]));
    return { fact: toMap(f!), summary: toMap(s!), top: new Set(t!.map(key)) };
  }

  /**
   * Turn the warehouse's tables into those of the version before the currency column (the same
   * tables without `currency`), with the target's own SQL client, then reopen it (init migrates).
   * Every row is then unlabelled ('').
   */
  async downgradeToNoCurrency(): Promise<void> {
    const tables = [REPORT_TABLE.name, DAY_SUMMARY_TABLE.name, TOP_SUMMARY_TABLE.name];
    if (this.name === 'duckdb') {
      await this.opened.close();
      await this.withDuckDb(async (run) => {
        for (const t of tables) await run(`ALTER TABLE ${t} DROP COLUMN currency`);
      });
    } else if (this.pgClient) {
      for (const t of tables) await this.pgClient.query(`ALTER TABLE ${t} DROP COLUMN currency`);
      await this.opened.close();
    } else if (this.ch) {
      // The previous version's layout on every server (each shard on a cluster): the views with the
      // model's names without the column (on a cluster: each shard's `_local` view, and the
      // Distributed table over it), and the physical tables (local, then Distributed) without it.
      await this.opened.close();
      const { testServers } = await import('./clickhouse.js');
      const { Layout, modelViews, ROWS_TABLE, TOP_ROWS_TABLE, VERSIONS_TABLE } = await import('../../src/warehouse/clickhouse/schema.js');
      const cluster = this.name === 'clickhouse-cluster';
      const { servers, target, close } = await testServers(cluster, this.chDb);
      const l = new Layout(this.chDb, cluster ? target.cluster : null);
      try {
        for (const s of servers) {
          for (const [name] of modelViews(l)) {
            if (cluster) await s.run(`DROP TABLE IF EXISTS ${l.t(name)}`);
            await s.run(`DROP TABLE IF EXISTS ${l.t(l.local(name))}`);
          }
          for (const name of [ROWS_TABLE, VERSIONS_TABLE, TOP_ROWS_TABLE]) {
            await s.run(`ALTER TABLE ${l.t(l.local(name))} DROP COLUMN currency`);
            if (cluster) await s.run(`ALTER TABLE ${l.t(name)} DROP COLUMN currency`);
          }
          for (const [name, select] of modelViews(l, false)) {
            await s.run(`CREATE VIEW ${l.t(l.local(name))} AS ${select}`);
            if (cluster) await s.run(`CREATE TABLE ${l.t(name)} AS ${l.t(l.local(name))} ENGINE = Distributed('${target.cluster}', '${this.chDb}', '${l.local(name)}')`);
          }
        }
      } finally {
        await close();
      }
    } else {
      throw new Error(`downgradeToNoCurrency: not written for ${this.name}`);
    }
    this.opened = await openWarehouse(this.url, this.home);
    this.model.unlabelAll();
  }

  /** Run statements on the closed DuckDB file (one process holds it). */
  private async withDuckDb<T>(f: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    const instance = await DuckDBInstance.create(this.url.replace(/^duckdb:/, ''));
    try {
      const c = await instance.connect();
      try {
        return await f(async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]);
      } finally {
        c.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  }

  /** SELECTs through the target's own client (DuckDB: the warehouse is closed meanwhile). */
  private async rawQueries(sqls: string[]): Promise<Record<string, unknown>[][]> {
    const out: Record<string, unknown>[][] = [];
    if (this.name === 'duckdb') {
      await this.opened.close();
      try {
        await this.withDuckDb(async (run) => {
          for (const q of sqls) out.push(await run(q));
        });
      } finally {
        this.opened = await openWarehouse(this.url, this.home);
      }
    } else if (this.pgClient) {
      for (const q of sqls) out.push((await this.pgClient.query(q)).rows as Record<string, unknown>[]);
    } else if (this.ch) {
      const db = `\`${this.chDb.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
      for (const q of sqls) {
        const rs = await this.ch.query({ query: q.replace(/ FROM (\w+)/, ` FROM ${db}.$1`), format: 'JSONEachRow' });
        out.push((await rs.json()) as Record<string, unknown>[]);
      }
    }
    return out;
  }

  /** The model's currencies, in the fact table, the day summary and the top summary (raw SQL), and connectorCurrencies (the whole map). */
  async assertCurrencies(message = ''): Promise<void> {
    const got = await this.currencyCounts();
    const want = this.model.factCurrencies();
    const sorted = (m: Map<string, number>) => new Map([...m].sort(([a], [b]) => compareBytes(a, b)));
    assert.deepEqual(sorted(got.fact), sorted(want), `${message} fact table rows per (connector, currency)`);
    assert.deepEqual(sorted(got.summary), sorted(want), `${message} ${DAY_SUMMARY_TABLE.name} rows per (connector, currency)`);
    for (const k of got.top) assert.ok(want.has(k), `${message} ${TOP_SUMMARY_TABLE.name} has ${k}, which the fact table has not`);
    assert.deepEqual([...await this.warehouse.connectorCurrencies()], [...this.model.connectorCurrencies()], `${message} connectorCurrencies`);
  }

  /** The dimension tables as the warehouse holds them (rows of these connectors), sorted like the reference. */
  async dimensions(connectors: readonly string[]): Promise<DimensionTables> {
    const out: DimensionTables = {};
    const want = new Set(connectors);
    const read = await this.readDimensions();
    for (const d of DIMENSIONS) out[d.table] = (read[d.table] ?? []).filter((r) => want.has(r._connector)).sort(compareRecords);
    return out;
  }

  /** What the reference says those tables hold. */
  expectedDimensions(connectors: readonly string[]): DimensionTables {
    const want = new Set(connectors);
    return Object.fromEntries(DIMENSIONS.map((d) => [d.table, this.model.dims.rows(d.table).filter((r) => want.has(r._connector))]));
  }

  private async readDimensions(): Promise<DimensionTables> {
    const out: DimensionTables = {};
    const norm = (r: Record<string, unknown>, hasUrl: boolean): DimensionRecord => {
      const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
      const rec: DimensionRecord = { _connector: String(r._connector), id: String(r.id), name: str(r.name), first_seen: String(r.first_seen), last_seen: String(r.last_seen) };
      if (hasUrl) rec.url = str(r.url);
      return rec;
    };
    if (this.name === 'duckdb') {
      // One process, one DuckDB file: close the warehouse, read the file, open the warehouse again.
      await this.opened.close();
      const file = this.url.replace(/^duckdb:/, '');
      const instance = await DuckDBInstance.create(file);
      try {
        const c = await instance.connect();
        try {
          for (const d of DIMENSIONS) {
            const sql = `SELECT _connector, id, name${d.url ? ', url' : ''}, strftime(first_seen, '%Y-%m-%d') AS first_seen, strftime(last_seen, '%Y-%m-%d') AS last_seen FROM ${d.table}`;
            out[d.table] = ((await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]).map((r) => norm(r, !!d.url));
          }
        } finally {
          c.closeSync();
        }
      } finally {
        instance.closeSync();
      }
      this.opened = await openWarehouse(this.url, this.home);
    } else if (this.pgClient) {
      for (const d of DIMENSIONS) {
        const sql = `SELECT _connector, id, name${d.url ? ', url' : ''}, to_char(first_seen, 'YYYY-MM-DD') AS first_seen, to_char(last_seen, 'YYYY-MM-DD') AS last_seen FROM ${d.table}`;
        out[d.table] = (await this.pgClient.query(sql)).rows.map((r: Record<string, unknown>) => norm(r, !!d.url));
      }
    } else if (this.ch) {
      // The views readers use (they finish merging the aggregate states at read time).
      const db = `\`${this.chDb.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
      for (const d of DIMENSIONS) {
        const sql = `SELECT _connector, id, name${d.url ? ', url' : ''}, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen FROM ${db}.${d.table}`;
        const rs = await this.ch.query({ query: sql, format: 'JSONEachRow' });
        out[d.table] = ((await rs.json()) as Record<string, unknown>[]).map((r) => norm(r, !!d.url));
      }
    }
    return out;
  }

  /** dayTotals, top (publisher and offer, several limits) and coverage against the model, for these connectors and null. */
  async assertReads(connectors: readonly string[], from: string, to: string, message = ''): Promise<void> {
    for (const c of [...connectors, null]) {
      assert.deepEqual(await this.warehouse.dayTotals(c, from, to), this.model.dayTotals(c, from, to), `${message} dayTotals ${c} ${from}..${to}`);
      for (const dim of ['publisher', 'offer'] as const) {
        for (const limit of [2, 100]) {
          assertTop(await this.warehouse.top(dim, c, from, to, limit), this.model.top(dim, c, from, to, limit), `${message} top ${dim} ${c} ${from}..${to} limit ${limit}`);
        }
      }
      if (c !== null) assert.deepEqual(await this.warehouse.coverage(c), this.model.coverage(c), `${message} coverage ${c}`);
    }
    // The listing's read of every connector at once says the same.
    const all = await this.warehouse.coverages();
    for (const c of connectors) {
      assert.deepEqual(all.get(c) ?? { rows: 0, days: 0, firstDay: null, lastDay: null }, this.model.coverage(c), `${message} coverages ${c}`);
    }
  }

  async assertDimensions(connectors: readonly string[], message = ''): Promise<void> {
    const got = await this.dimensions(connectors);
    const want = this.expectedDimensions(connectors);
    for (const d of DIMENSIONS) assert.deepEqual(got[d.table], want[d.table], `${message} ${d.table}`);
  }

  async close(): Promise<void> {
    await this.opened?.close().catch(() => undefined);
    await this.pgClient?.end().catch(() => undefined);
    await this.ch?.close().catch(() => undefined);
    await this.target.drop();
    rmSync(this.home, { recursive: true, force: true });
  }
}
