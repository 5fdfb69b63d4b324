/**
 * How the ClickHouse warehouse fills one load's staging tables (split from warehouse.ts): the
 * window's rows stream as TabSeparated into the staging table of the shard that owns each
 * (connector, day), and once published, the window's dimension values are merged into the state
 * tables. warehouse.ts owns the staging tables' lifecycle and the partition swap in between.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { LOADED_COLUMNS, type ReportRow } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { dimensionTables } from '../render.js';
import type { WindowLoad } from '../types.js';
import { type ChServer, day, ident, type Shard, str } from './connection.js';
import { checkDay, latest, type Layout, MAX_DAY, MIN_DAY } from './schema.js';

const WIDTH = LOADED_COLUMNS.length;
const INSERT_COLUMNS = ['_connector', ...LOADED_COLUMNS.map((c) => c.name), '_synced_at', '_sync_id'].map(ident);
const DATE_COLUMNS = LOADED_COLUMNS.flatMap((c, i) => (c.type === 'date' ? [i] : []));

/** Text in ClickHouse's TabSeparated escaping. */
function tsvText(v: string): string {
  return /[\t\n\r\\]/.test(v) ? v.replace(/[\t\n\r\\]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\')) : v;
}

/** A report cell: empty and null both load as NULL (\N), as DuckDB's CSV load reads them. */
function tsv(v: string | null | undefined): string {
  return v === null || v === undefined || v === '' ? '\\N' : tsvText(v);
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

/** Where a load goes: the shards, and how the warehouse routes a day it did not expect. */
export interface StageTarget {
  layout: Layout;
  shards: Shard[];
  insertSettings: Record<string, number>;
  /** Shard index of each (connector, day), computed by the server with the Distributed key. */
  route(connector: string, days: string[]): Promise<Map<string, number>>;
}

/**
 * Stream rows as TabSeparated into each shard's staging table `stage`; returns the count and the
 * out-of-window days per shard (routes gains them).
 */
export async function loadStage(w: StageTarget, load: WindowLoad, rows: AsyncIterable<ReportRow[]>, stage: string, routes: Map<string, number>) {
  const n = w.shards.length;
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
    sink.done = w.shards[i]!.server.insertTsv(w.layout.t(stage), INSERT_COLUMNS, body, w.insertSettings);
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
          shard = (await w.route(load.connector, [dd])).get(dd)!;
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
export async function refreshDimensions(l: Layout, load: WindowLoad, stage: string, stageAll: string, home: ChServer): Promise<void> {
  let src = l.t(stage);
  if (l.cluster) {
    await home.run(`CREATE TABLE ${l.t(stageAll)} AS ${l.t(stage)} ENGINE = Distributed(${str(l.cluster)}, ${str(l.db)}, ${str(stage)})`);
    src = l.t(stageAll);
  }
  const seq = nextSeq();
  const dayExpr = 'coalesce(transaction_date, _date)';
  for (const { table, def, columns } of dimensionTables()) {
    const names = columns.map((c) => ident(c.name)).join(', ');
    const version = `tuple(w_last, toUInt64(${seq}))`;
    const url = def.url ? `, ${latest(ident(def.url), dayExpr)} AS w_url` : '';
    const urlState = def.url ? `, argMaxState(tuple(toUInt8(isNull(w_url)), ifNull(w_url, '')), ${version})` : '';
    await home.run(
      `INSERT INTO ${l.t(l.stateLocal(table))} (${names})
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
