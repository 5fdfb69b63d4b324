/**
 * How the ClickHouse warehouse writes one load (split from warehouse.ts), in the order that keeps
 * it invisible until it is whole (docs/CLICKHOUSE.md, "Storage design: versions"):
 *
 * 1. `streamRows`: the window's rows stream as TabSeparated straight into the rows table of the
 *    shard that owns each (connector, day), stamped with the load's version; nobody reads them yet.
 * 2. `publishShard`, per shard: the top summary of the new rows, then ONE insert into the
 *    versions table naming the version current for every day of the window on that shard, with
 *    the day's count and sums (0 rows for a day the load emptied). Readers pick the latest version
 *    of each day, so this one insert is the switch; a load that fails before it changed nothing.
 * 3. `cancelSuperseded`, per shard: the rows of older versions of those days (and of loads that
 *    died) are cancelled with `_sign = -1` copies; CollapsingMergeTree removes both in background merges.
 * 4. `refreshDimensions`: the window's dimension values merged into the state tables.
 *
 * Steps 2-4 take a batch of windows (`Published`): windows that finished step 1 while an earlier
 * batch was publishing go together, each still its own version and its own switch (one block per
 * window), so a statement's fixed cost is shared when many small windows run at once.
 */
import { PassThrough, Readable } from 'node:stream';
import { once } from 'node:events';
import { LOADED_COLUMNS, TOP_DIMENSIONS, type ReportRow } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { loadCurrency } from '../currency.js';
import { dimensionTables } from '../render.js';
import type { WindowLoad } from '../types.js';
import { type ChServer, day, ident, type Shard, str } from './connection.js';
import { checkDay, CURRENCY, currentVersions, FACT_COLUMNS, latest, type Layout, MAX_DAY, MIN_DAY, ROWS_TABLE, TOP_COLUMNS, TOP_ROWS_TABLE, VERSIONS_TABLE } from './schema.js';

const WIDTH = LOADED_COLUMNS.length;
const INSERT_COLUMNS = ['_connector', ...LOADED_COLUMNS.map((c) => c.name), '_synced_at', '_sync_id', '_version', '_row', '_sign', CURRENCY].map(ident);
const DATE_COLUMNS = LOADED_COLUMNS.flatMap((c, i) => (c.type === 'date' ? [i] : []));
const DAY_EXPR = 'coalesce(transaction_date, _date)';

/** Text in ClickHouse's TabSeparated escaping. */
export function tsvText(v: string): string {
  return /[\t\n\r\\]/.test(v) ? v.replace(/[\t\n\r\\]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\')) : v;
}

/** A report cell: empty and null both load as NULL (\N), as DuckDB's CSV load reads them. */
function tsv(v: string | null | undefined): string {
  return v === null || v === undefined || v === '' ? '\\N' : tsvText(v);
}

/** Versions increase within a process (microseconds since 1970, bumped past what the database already has). */
let lastSeq = 0;
export function nextSeq(atLeast = 0): number {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000, atLeast);
  return lastSeq;
}

interface Sink {
  body: PassThrough;
  done: Promise<void>;
  failed: unknown;
}

/** Where a load goes: the shards, and how the warehouse routes a day it did not expect. */
export interface LoadTarget {
  layout: Layout;
  shards: Shard[];
  insertSettings: Record<string, number>;
  /** Shard index of each (connector, day), computed by the server with the Distributed key. */
  route(connector: string, days: string[]): Promise<Map<string, number>>;
}

/** A load's rows as TabSeparated text per shard, stamped (version, row number, +1); routes gains unexpected days (in `extra`). */
class RowEncoder {
  count = 0;
  readonly extra = new Map<number, Set<string>>();
  private readonly prefix: string;
  private readonly suffix: string;
  /** After the row number: the sign and the load's currency (a constant, like the connector). */
  private readonly tail: string;

  constructor(private readonly w: LoadTarget, private readonly load: WindowLoad, version: number, private readonly routes: Map<string, number>) {
    this.prefix = `${tsvText(load.connector)}\t`;
    const syncedAt = load.syncedAt.toISOString().slice(0, 19).replace('T', ' ');
    this.suffix = `\t${syncedAt}\t${tsvText(load.syncId)}\t${version}\t`;
    this.tail = `\t1\t${tsvText(loadCurrency(load))}\n`;
  }

  async encode(batch: ReportRow[]): Promise<string[]> {
    const text: string[] = new Array<string>(this.w.shards.length).fill('');
    for (const row of batch) {
      if (row.length !== WIDTH) throw new ConnectorError('data', `a row has ${row.length} values, expected ${WIDTH}`);
      const d = row[0];
      let shard = this.routes.get(d as string);
      if (shard === undefined) {
        const dd = checkDay(d, '_date');
        shard = (await this.w.route(this.load.connector, [dd])).get(dd)!;
        this.routes.set(dd, shard);
        if (!this.extra.has(shard)) this.extra.set(shard, new Set());
        this.extra.get(shard)!.add(dd);
      }
      let line = this.prefix;
      for (let i = 0; i < WIDTH; i++) {
        if (i > 0) line += '\t';
        line += tsv(row[i]);
      }
      for (const i of DATE_COLUMNS) {
        const v = row[i];
        if (v && (v < MIN_DAY || v > MAX_DAY)) checkDay(v, LOADED_COLUMNS[i]!.name);
      }
      text[shard] += `${line}${this.suffix}${this.count}${this.tail}`;
      this.count++;
    }
    return text;
  }
}

/**
 * Rows already in memory (a small window), as TabSeparated text per shard for one shared insert
 * (the warehouse batches the texts of windows that finish together); the count and the
 * out-of-window days per shard, like streamRows.
 */
export async function rowsText(w: LoadTarget, load: WindowLoad, version: number, rows: AsyncIterable<ReportRow[]>, routes: Map<string, number>) {
  const enc = new RowEncoder(w, load, version, routes);
  const text: string[] = new Array<string>(w.shards.length).fill('');
  for await (const batch of rows) (await enc.encode(batch)).forEach((t, i) => (text[i] += t));
  return { count: enc.count, extra: enc.extra, text };
}

/**
 * Stream rows as TabSeparated into each shard's rows table, stamped (version, row number, +1);
 * returns the count and the out-of-window days per shard (routes gains them).
 */
export async function streamRows(w: LoadTarget, load: WindowLoad, version: number, rows: AsyncIterable<ReportRow[]>, routes: Map<string, number>) {
  const n = w.shards.length;
  const sinks: (Sink | undefined)[] = new Array(n);
  const open = (i: number): Sink => {
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    // destroy(err) on abort emits 'error'; the insert promise reports the failure, not this.
    body.on('error', () => undefined);
    const sink: Sink = { body, done: Promise.resolve(), failed: undefined };
    sink.done = w.shards[i]!.server.insertStream(w.layout.t(w.layout.local(ROWS_TABLE)), INSERT_COLUMNS, body, 'TabSeparated', w.insertSettings);
    sink.done.catch((e: unknown) => {
      sink.failed = e ?? new Error('insert failed');
    });
    sinks[i] = sink;
    return sink;
  };
  const enc = new RowEncoder(w, load, version, routes);
  try {
    for await (const batch of rows) {
      const text = await enc.encode(batch);
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
    // Abort every open insert. Rows that reached the table carry a version nobody publishes:
    // invisible, and cancelled by the next load of those days.
    const err = e instanceof Error ? e : new Error(String(e));
    for (const s of sinks) s?.body.destroy(err);
    await Promise.allSettled(sinks.map((s) => s?.done));
    throw e;
  }
  return { count: enc.count, extra: enc.extra };
}

/** One insert of several windows' TabSeparated rows (rowsText) into a shard's rows table. */
export async function insertRowsText(w: LoadTarget, shard: number, texts: string[]): Promise<void> {
  const table = w.layout.t(w.layout.local(ROWS_TABLE));
  await w.shards[shard]!.server.insertStream(table, INSERT_COLUMNS, Readable.from(texts.map((t) => Buffer.from(t)), { objectMode: false }), 'TabSeparated', w.insertSettings);
}

const dayList = (days: Iterable<string>): string => `(${[...days].map(day).join(', ')})`;

/** One shard's part of a load: its days of the window, and the out-of-window days the load added rows to. */
export interface ShardDays {
  shard: Shard;
  days: string[];
  extra: string[];
}

/** A window whose rows are written (step 1), to publish: its load, version and row count. */
export interface Published {
  load: WindowLoad;
  version: number;
  count: number;
}

/** One shard's part of a batch: each window with its days there. */
export type ShardBatch = { w: Published; p: ShardDays }[];

/** A batch's rows on a shard: each window's version of its days there. */
const batchRows = (b: ShardBatch): string =>
  b.map(({ w, p }) => `(_connector = ${str(w.load.connector)} AND _version = ${w.version} AND _date IN ${dayList([...p.days, ...p.extra])})`).join(' OR ');

/**
 * Make each window's version current for its days on one shard (see the header, step 2). Rows of
 * an out-of-window day are added to the day (DuckDB's delete-then-insert does that): its current
 * rows are copied into the new version first, numbered after the load's `count` rows, each with
 * its own currency (a load is refused when the connector's rows are in another one, so they are
 * the load's, or '' not labelled yet: relabelling them is the relabel's job, not a load's).
 */
export async function publishShard(l: Layout, b: ShardBatch): Promise<void> {
  const s = b[0]!.p.shard.server;
  const rowsT = l.t(l.local(ROWS_TABLE));
  for (const { w, p } of b) {
    if (p.extra.length === 0) continue;
    const c = str(w.load.connector);
    await s.run(
      `INSERT INTO ${rowsT} (${FACT_COLUMNS}, _version, _row, _sign)
       SELECT ${FACT_COLUMNS}, toUInt64(${w.version}), toUInt32(${w.count} + rowNumberInAllBlocks()), toInt8(1) FROM ${rowsT}
       WHERE _connector = ${c} AND _date IN ${dayList(p.extra)} AND (_connector, _date, _version) IN (${currentVersions(l, `_connector = ${c} AND _date IN ${dayList(p.extra)}`)})`,
    );
  }
  await s.run(topSummaryInsert(l, batchRows(b)));
  // The switch: one block (one part) per window, so readers see all of a window's days new or none.
  const switches = b.map(({ w, p }) => {
    const all = [...p.days, ...p.extra];
    const mine = `_connector = ${str(w.load.connector)} AND _version = ${w.version} AND _date IN ${dayList(all)}`;
    return `SELECT ${str(w.load.connector)} AS _connector, _date, ${DAY_SUM_VALUES}, toUInt64(${w.version}), ${str(loadCurrency(w.load))}
     FROM (SELECT arrayJoin([${all.map(day).join(', ')}]) AS _date)
     ANY LEFT JOIN (${daySums(l, mine, '_date')}) USING _date`;
  });
  await s.run(`INSERT INTO ${l.t(l.local(VERSIONS_TABLE))} (${VERSION_COLUMNS}) ${switches.join('\n UNION ALL \n')}`);
}

/** The versions table's columns, in the order DAY_SUM_VALUES, a version and a currency fill them. */
export const VERSION_COLUMNS = '_connector, _date, rows, impressions, clicks, orders, sales, gross_commissions, total_commissions, _version, currency';
/** daySums' values in the versions table's order (after _connector, _date). */
export const DAY_SUM_VALUES = 'toDecimal128(t_n, 0), t_impressions, t_clicks, t_orders, t_sales, t_gross_commissions, t_total_commissions';

/** Each (key) group's row count and six sums over the rows matching `where` (which names the version) (wide decimals: no sum overflows). */
export function daySums(l: Layout, where: string, key: string): string {
  const total = (col: string, scale: number): string => `sum(toNullable(toDecimal128(${ident(col)}, ${scale}))) AS t_${col}`;
  return `SELECT ${key}, count() AS t_n, ${total('impressions', 0)}, ${total('clicks', 0)}, ${total('orders', 0)},
                 ${total('sales', 4)}, ${total('gross_commissions', 4)}, ${total('total_commissions', 4)}
          FROM ${l.t(l.local(ROWS_TABLE))} WHERE ${where} GROUP BY ${key}`;
}

/**
 * One insert of the top summary rows (TOP_SUMMARY_TABLE) of the rows matching `where` (which names
 * the versions), every dimension. Their currency is their rows' (one per load: any()).
 */
export function topSummaryInsert(l: Layout, where: string): string {
  const selects = Object.entries(TOP_DIMENSIONS).map(
    ([dim, { id, name }]) =>
      `SELECT _connector, _date, ${str(dim)} AS dimension, assumeNotNull(${ident(id)}) AS t_id, toDecimal128(count(), 0) AS t_rows,
              sum(toNullable(toDecimal128(sales, 4))) AS t_sales, sum(toNullable(toDecimal128(total_commissions, 4))) AS t_total,
              ${latest(ident(name), DAY_EXPR)} AS t_name, if(count(${ident(name)}) = 0, NULL, maxIf(${DAY_EXPR}, ${ident(name)} IS NOT NULL)) AS t_name_day,
              any(${ident(CURRENCY)}) AS t_currency, _version, toInt8(1) AS t_sign
       FROM ${l.t(l.local(ROWS_TABLE))} WHERE (${where}) AND ${ident(id)} IS NOT NULL GROUP BY _connector, _date, _version, t_id`,
  );
  return `INSERT INTO ${l.t(l.local(TOP_ROWS_TABLE))} (${TOP_COLUMNS}, _version, _sign) ${selects.join('\n UNION ALL \n')}`;
}

/**
 * Cancel, on one shard, the rows of every version of these days older than `version` that is not
 * cancelled yet (superseded loads, and loads that died before publishing): a `_sign = -1` copy of
 * each row, which CollapsingMergeTree merges away with the row. Readers never see either: they
 * read the current version only. Costs the superseded rows, not the table.
 */
export async function cancelSuperseded(l: Layout, b: ShardBatch): Promise<void> {
  const s = b[0]!.p.shard.server;
  const where = b
    .map(({ w, p }) => `(_connector = ${str(w.load.connector)} AND _date IN ${dayList([...p.days, ...p.extra])} AND _version < ${w.version})`)
    .join(' OR ');
  const tables = [
    { name: ROWS_TABLE, cols: `${FACT_COLUMNS}, _version, _row` },
    { name: TOP_ROWS_TABLE, cols: `${TOP_COLUMNS}, _version` },
  ];
  // One query finds what is left to cancel in both tables (usually nothing: a first load of those days).
  const stale = await s.rows<{ t: number; c: string; d: string; v: string }>(
    tables
      .map((t, i) => `SELECT ${i} AS t, _connector AS c, toString(_date) AS d, toString(_version) AS v FROM ${l.t(l.local(t.name))} WHERE ${where} GROUP BY _connector, _date, _version HAVING sum(_sign) > 0`)
      .join(' UNION ALL '),
  );
  await Promise.all(
    tables.map(async (t, i) => {
      const mine = stale.filter((r) => Number(r.t) === i);
      if (mine.length === 0) return;
      const list = mine.map((r) => `(${str(r.c)}, ${day(r.d)}, toUInt64(${/^\d+$/.test(r.v) ? r.v : 0}))`).join(', ');
      const table = l.t(l.local(t.name));
      await s.run(`INSERT INTO ${table} (${t.cols}, _sign) SELECT ${t.cols}, toInt8(-1) FROM ${table} WHERE (${where}) AND _sign = 1 AND (_connector, _date, _version) IN (${list})`);
    }),
  );
}

/**
 * Merge the window's dimension values into the state tables, on one shard. The window's values
 * are computed over all its rows (every shard's, through the Distributed rows table), exactly as
 * DuckDB's refresh computes them, so the merge rule (latest last_seen, then latest load) matches too.
 */
export async function refreshDimensions(l: Layout, windows: Published[], home: ChServer): Promise<void> {
  const src = l.t(ROWS_TABLE);
  const where = windows
    .map((w) => `(_connector = ${str(w.load.connector)} AND _version = ${w.version} AND _date BETWEEN ${day(w.load.start)} AND ${day(w.load.end)})`)
    .join(' OR ');
  await Promise.all(dimensionTables().map(async ({ table, def, columns }) => {
    const names = columns.map((c) => ident(c.name)).join(', ');
    // One state row per window and id, ordered by (its last day, its version): windows published
    // together merge exactly as if published one after the other.
    const order = 'tuple(w_last, w_version)';
    const url = def.url ? `, ${latest(ident(def.url), DAY_EXPR)} AS w_url` : '';
    const urlState = def.url ? `, argMaxState(tuple(toUInt8(isNull(w_url)), ifNull(w_url, '')), ${order})` : '';
    await home.run(
      `INSERT INTO ${l.t(l.stateLocal(table))} (${names})
       SELECT _connector, w_id, argMaxState(tuple(toUInt8(isNull(w_name)), ifNull(w_name, '')), ${order})${urlState}, minState(w_first), maxState(w_last)
       FROM (
         SELECT _connector, _version AS w_version, assumeNotNull(${ident(def.id)}) AS w_id, ${latest(ident(def.name), DAY_EXPR)} AS w_name${url},
                min(${DAY_EXPR}) AS w_first, max(${DAY_EXPR}) AS w_last
         FROM ${src}
         WHERE (${where}) AND _sign = 1 AND ${ident(def.id)} IS NOT NULL
         GROUP BY _connector, _version, w_id
       )
       GROUP BY _connector, w_version, w_id`,
    );
  }));
}
