/**
 * The machine's limit for a sync (run by bench.ts in a child process, so its memory is measured
 * alone): download the report with the same one-day windows and concurrency as the connector,
 * each window straight to a file; then the warehouse's own bulk load of those files into the
 * typed report table, normalising Rakuten's numbers and dates in SQL (so the load is as typed as
 * ours): DuckDB's read_csv in one INSERT … SELECT, PostgreSQL's COPY FROM STDIN into a staging
 * table + one INSERT … SELECT, ClickHouse's `INSERT … FORMAT CSVWithNames` of the file into a `Log`
 * staging table of String columns + one typed INSERT … SELECT into the connector's rows table (the
 * Distributed one on a cluster, with insert_distributed_sync=1). PostgreSQL and ClickHouse load the
 * windows in parallel on `concurrency` connections, as the connector does. Prints one JSON line.
 *
 * `--mode windows` loads each day's file in its own transaction instead (DuckDB): the floor for any
 * loader that, like the connector, commits each day atomically on its own.
 *
 * `--gzip`: ask for gzip (as the connector's client does) and inflate the body on its way to the
 * file, so both sides decode the same bytes; `wireBytes` in the JSON line is what came over the wire.
 *
 *   node --import tsx bench/limit.ts --sim URL --token T --from D --to D --warehouse duckdb:FILE|postgres://…|clickhouse://… --dir DIR [--mode bulk|windows] [--gzip]
 */
import { createReadStream, createWriteStream, mkdirSync, statSync } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { request } from 'undici';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { CANONICAL_HEADERS } from '../src/simulator/index.js';
import { REPORT_TABLE } from '../src/model/schema.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/warehouse.js';
import { ROWS_TABLE } from '../src/warehouse/clickhouse/schema.js';
import { openWithoutInit } from '../src/warehouse/registry.js';
import { openDuckDb, releaseDuckDb } from '../src/warehouse/duckdb/connection.js';
import { daysBetween, parseFlags, pool } from './lib.js';

const o = parseFlags(process.argv.slice(2), { sim: '', token: '', from: '', to: '', warehouse: '', dir: '', concurrency: '3', report: 'affiliate-report', mode: 'bulk', 'window-days': '1', gzip: false });
const all = daysBetween(o.from, o.to);
const per = Number(o['window-days']);
/** The connector's windows: `per` days each (the last one shorter). */
const windows = Array.from({ length: Math.ceil(all.length / per) }, (_, i) => all.slice(i * per, (i + 1) * per));
const days = windows.map((w) => w[0]!);

let wireBytes = 0;
// 1. Download: one request per day, `concurrency` at a time, body piped to a file.
const t0 = performance.now();
const files = await pool(windows, Number(o.concurrency), async (w) => {
  const day = w[0]!;
  const url = `${o.sim}/en/reports/${o.report}/filters?start_date=${day}&end_date=${w[w.length - 1]}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${o.token}`;
  const res = await request(url, { headersTimeout: 600_000, bodyTimeout: 600_000, headers: o.gzip ? { 'accept-encoding': 'gzip' } : {} });
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} for ${day}`);
  const file = join(o.dir, `${day}.csv`);
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      wireBytes += chunk.length;
      done(null, chunk);
    },
  });
  const gzipped = res.headers['content-encoding'] === 'gzip';
  if (o.gzip && !gzipped) throw new Error(`--gzip: the simulator answered ${day} without gzip (start it with --gzip)`);
  await (gzipped ? pipeline(res.body, count, createGunzip(), createWriteStream(file)) : pipeline(res.body, count, createWriteStream(file)));
  return file;
});
const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
const t1 = performance.now();

// 2. Bulk load, typed.
const COLS = CANONICAL_HEADERS.map((h, i) => ({ header: h, alias: `c${i}` }));
const col = (h: string): string => COLS.find((c) => c.header === h)!.alias;
/** Rakuten text → typed value, in SQL. */
const sqlCount = (h: string) => `replace(${col(h)}, ',', '')::BIGINT`;
const sqlMoney = (h: string) => `replace(replace(${col(h)}, '$', ''), ',', '')::DECIMAL(18,4)`;
const sqlText = (h: string) => `nullif(trim(${col(h)}), '')`;
interface Dialect { text(h: string): string; count(h: string): string; money(h: string): string }
const STANDARD: Dialect = { text: sqlText, count: sqlCount, money: sqlMoney };
/** The typed values in REPORT_TABLE's column order. */
const selectList = (date: string, tx: string, now: string, d: Dialect = STANDARD): string => [
  `'bench'`, date, tx,
  d.text('Order ID'), d.text('Publisher ID'), d.text('Publisher Name'), d.text('Publisher URL'), d.text('Publisher Group ID'),
  d.text('Publisher Group Name'), d.text('Sub-Publisher ID'), d.text('Sub-Publisher Name'), d.text('Sub-Publisher URL'),
  d.text('Offer ID'), d.text('Offer Name'), d.text('Link ID'), d.text('Link Name'),
  d.count('# of Impressions'), d.count('# of Clicks'), d.count('# of Orders'),
  d.money('Sales'), d.money('Gross Commissions'), d.money('Total Commission'),
  'NULL', now, `'bench-run'`, `'USD'`,
].join(', ');
const TARGET = REPORT_TABLE.columns.map((c) => c.name).join(', ');

let rows = 0;
let countRows: (() => Promise<number>) | null = null;
if (o.warehouse.startsWith('duckdb:')) {
  const path = o.warehouse.slice('duckdb:'.length);
  const w = await DuckDbWarehouse.open(path, o.dir); // the connector's instance settings and DDL…
  await w.init();
  const conn = await (await openDuckDb(path)).connect();
  // …but DuckDB's default memory (80% of RAM) instead of the connector's cap: the limit is DuckDB at its best.
  await conn.run(`SET memory_limit = '${Math.floor((totalmem() * 0.8) / 2 ** 20)}MB'`);
  const columns = COLS.map((c) => `'${c.alias}': 'VARCHAR'`).join(', ');
  const tx = `strptime(${col('Transaction Date')}, '%m/%d/%y')::DATE`;
  // _date: the window's day (one-day windows), else the transaction date, as the connector does.
  const day = per === 1 ? `regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})\\.csv$', 1)::DATE` : tx;
  const load = async (list: string[]): Promise<number> => {
    const r = await conn.runAndReadAll(
      `INSERT INTO ${REPORT_TABLE.name} (${TARGET})
       SELECT ${selectList(day, tx, 'now()::TIMESTAMP')}
       FROM read_csv([${list.map((f) => `'${f}'`).join(', ')}], header = true, delim = ',', quote = '"', escape = '"', auto_detect = false, filename = true, columns = {${columns}})`,
    );
    return Number(r.getRows()[0]?.[0] ?? 0);
  };
  if (o.mode === 'windows') {
    for (const f of files) {
      await conn.run('BEGIN TRANSACTION');
      rows += await load([f]);
      await conn.run('COMMIT');
    }
  } else {
    rows = await load(files);
  }
  conn.closeSync();
  await w.close(); // checkpoint: the data is in the file
  releaseDuckDb(path);
} else if (/^clickhouses?:\/\//.test(o.warehouse)) {
  // The connector's own DDL (rows table, versions, views; per shard + Distributed on a cluster).
  const home = join(o.dir, 'home');
  mkdirSync(home, { recursive: true });
  const opened = await openWithoutInit(o.warehouse, home);
  await opened.warehouse.init();
  await opened.close();
  const u = new URL(o.warehouse);
  const https = u.protocol === 'clickhouses:';
  const base = `${https ? 'https' : 'http'}://${u.hostname}:${u.port || (https ? 8443 : 8123)}`;
  const db = decodeURIComponent(u.pathname.slice(1)) || 'default';
  const cluster = u.searchParams.get('cluster');
  const auth = { 'X-ClickHouse-User': decodeURIComponent(u.username) || 'default', 'X-ClickHouse-Key': decodeURIComponent(u.password) };
  const t = (name: string): string => `\`${db}\`.\`${name}\``;
  /** One statement over HTTP; with `body`, the statement goes in the URL and the body is its data. */
  const ch = async (sql: string, settings: Record<string, string> = {}, body?: Readable): Promise<string> => {
    const qs = new URLSearchParams(settings);
    if (body) qs.set('query', sql);
    const res = await request(`${base}/?${qs}`, {
      method: 'POST', headers: auth, body: body ?? sql, headersTimeout: 600_000, bodyTimeout: 600_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`ClickHouse ${base} (HTTP ${res.statusCode}): ${text.slice(0, 1000)}\n${sql.slice(0, 300)}`);
    return text;
  };
  // Settings sent only when the server knows them (as the connector does): 18.16 calls the synchronous
  // Distributed insert insert_distributed_sync, 23.x+ distributed_foreground_insert.
  const known = new Set((await ch(`SELECT name FROM system.settings WHERE name IN ('format_csv_allow_single_quotes', 'insert_distributed_sync', 'distributed_foreground_insert', 'max_partitions_per_insert_block') FORMAT TabSeparated`)).split('\n').filter(Boolean));
  const pick = (kv: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(kv).filter(([k]) => known.has(k)));
  const stageSettings = pick({ format_csv_allow_single_quotes: '0' });
  const insertSettings = pick({
    max_partitions_per_insert_block: '0',
    ...(cluster ? (known.has('distributed_foreground_insert') ? { distributed_foreground_insert: '1' } : { insert_distributed_sync: '1' }) : {}),
  });
  // Rakuten text → typed value in ClickHouse 18.16 SQL. Both branches of if() are evaluated for
  // every row, so each conversion gets a harmless stand-in for '' (which is NULL).
  const chDialect: Dialect = {
    text: (h) => `nullIf(replaceRegexpAll(${col(h)}, '^ +| +$', ''), '')`,
    count: (h) => `if(${col(h)} = '', NULL, toInt64(if(${col(h)} = '', '0', replaceAll(${col(h)}, ',', ''))))`,
    money: (h) => `if(${col(h)} = '', NULL, toDecimal64(if(${col(h)} = '', '0', replaceAll(replaceAll(${col(h)}, '$', ''), ',', '')), 4))`,
  };
  // m/d/yy → ISO (no parseDateTime with a format, no lpad in 18.16); yy < 69 is 20yy, as strptime's %y.
  const x = col('Transaction Date');
  const part = (i: number): string => `splitByChar('/', ${x})[${i}]`;
  const pad2 = (e: string): string => `if(length(${e}) = 1, concat('0', ${e}), ${e})`;
  const iso = `concat(if(${part(3)} >= '69', '19', '20'), ${part(3)}, '-', ${pad2(part(1))}, '-', ${pad2(part(2))})`;
  const txDay = `toDate(if(${x} = '', '1970-01-01', ${iso}))`;
  const tx = `if(${x} = '', NULL, ${txDay})`;
  await pool(files.map((f, i) => [f, days[i]!, i] as const), Number(o.concurrency), async ([f, day, i]) => {
    const stage = t(`bench_stage_${i}`);
    await ch(`CREATE TABLE ${stage} (${COLS.map((c) => `${c.alias} String`).join(', ')}) ENGINE = Log`);
    try {
      await ch(`INSERT INTO ${stage} FORMAT CSVWithNames`, stageSettings, createReadStream(f));
      // _version: one per window, so (_connector, _date, _version, _row) stays unique (CollapsingMergeTree's key).
      await ch(
        `INSERT INTO ${t(ROWS_TABLE)} (${TARGET}, _version, _row, _sign)
         SELECT ${selectList(per === 1 ? `toDate('${day}')` : txDay, tx, 'now()', chDialect)}, toUInt64(${i + 1}), toUInt32(rowNumberInAllBlocks()), toInt8(1)
         FROM ${stage}`,
        insertSettings,
      );
    } finally {
      await ch(`DROP TABLE IF EXISTS ${stage}`).catch(() => undefined);
    }
  });
  // Counted after the clock stops (below): a count through the Distributed table sums the shards.
  countRows = async () => Number((await ch(`SELECT count() FROM ${t(ROWS_TABLE)} FORMAT TabSeparated`)).trim());
} else {
  const { openPostgres } = await import('../src/warehouse/postgres/warehouse.js');
  const { warehouse, state } = await openPostgres(o.warehouse);
  await warehouse.init(); // the connector's own DDL: same table, same index
  await warehouse.close();
  await state.close();
  // Windows load in parallel on `concurrency` connections, as the connector's do: per window one
  // transaction: COPY the file into a staging table, one typed INSERT … SELECT.
  const tx = `to_date(${col('Transaction Date')}, 'MM/DD/YY')`;
  const counts = await pool(files.map((f, i) => [f, days[i]!] as const), Number(o.concurrency), async ([f, day]) => {
    const client = new pg.Client({ connectionString: o.warehouse });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`CREATE TEMP TABLE staging (${COLS.map((c) => `${c.alias} text`).join(', ')}) ON COMMIT DROP`);
      const copy = client.query(copyStreams.from(`COPY staging FROM STDIN (FORMAT csv, HEADER true)`));
      await pipeline(createReadStream(f), copy);
      const res = await client.query(`INSERT INTO ${REPORT_TABLE.name} (${TARGET}) SELECT ${selectList(per === 1 ? `'${day}'::date` : tx, tx, 'now()')} FROM staging`);
      await client.query('COMMIT');
      return res.rowCount ?? 0;
    } finally {
      await client.end();
    }
  });
  rows = counts.reduce((a, b) => a + b, 0);
}
const t2 = performance.now();
if (countRows) rows = await countRows();
process.stdout.write(`${JSON.stringify({ rows, bytes, wireBytes, downloadS: (t1 - t0) / 1000, loadS: (t2 - t1) / 1000, totalS: (t2 - t0) / 1000 })}\n`);
