/**
 * The machine's limit for a sync (run by bench.ts in a child process, so its memory is measured
 * alone): download the report with the same one-day windows and concurrency as the connector,
 * each window straight to a file; then the warehouse's own bulk load of those files into the
 * typed report table, normalising Rakuten's numbers and dates in SQL (so the load is as typed as
 * ours): DuckDB's read_csv in one INSERT … SELECT, PostgreSQL's COPY FROM STDIN into a staging
 * table + one INSERT … SELECT. Prints one JSON line.
 *
 * `--mode windows` loads each day's file in its own transaction instead (DuckDB): the floor for any
 * loader that, like the connector, commits each day atomically on its own.
 *
 *   node --import tsx bench/limit.ts --sim URL --token T --from D --to D --warehouse duckdb:FILE|postgres://… --dir DIR [--mode bulk|windows]
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { request } from 'undici';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { CANONICAL_HEADERS } from '../src/simulator/index.js';
import { REPORT_TABLE } from '../src/model/schema.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/warehouse.js';
import { openDuckDb, releaseDuckDb } from '../src/warehouse/duckdb/connection.js';
import { daysBetween, parseFlags, pool } from './lib.js';

const o = parseFlags(process.argv.slice(2), { sim: '', token: '', from: '', to: '', warehouse: '', dir: '', concurrency: '3', report: 'affiliate-report', mode: 'bulk', 'window-days': '1' });
const all = daysBetween(o.from, o.to);
const per = Number(o['window-days']);
/** The connector's windows: `per` days each (the last one shorter). */
const windows = Array.from({ length: Math.ceil(all.length / per) }, (_, i) => all.slice(i * per, (i + 1) * per));
const days = windows.map((w) => w[0]!);

// 1. Download: one request per day, `concurrency` at a time, body piped to a file.
const t0 = performance.now();
const files = await pool(windows, Number(o.concurrency), async (w) => {
  const day = w[0]!;
  const url = `${o.sim}/en/reports/${o.report}/filters?start_date=${day}&end_date=${w[w.length - 1]}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${o.token}`;
  const res = await request(url, { headersTimeout: 600_000, bodyTimeout: 600_000 });
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} for ${day}`);
  const file = join(o.dir, `${day}.csv`);
  await pipeline(res.body, createWriteStream(file));
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
const selectList = (date: string, tx: string, now: string): string => [
  `'bench'`, date, tx,
  sqlText('Order ID'), sqlText('Publisher ID'), sqlText('Publisher Name'), sqlText('Publisher URL'), sqlText('Publisher Group ID'),
  sqlText('Publisher Group Name'), sqlText('Sub-Publisher ID'), sqlText('Sub-Publisher Name'), sqlText('Sub-Publisher URL'),
  sqlText('Offer ID'), sqlText('Offer Name'), sqlText('Link ID'), sqlText('Link Name'),
  sqlCount('# of Impressions'), sqlCount('# of Clicks'), sqlCount('# of Orders'),
  sqlMoney('Sales'), sqlMoney('Gross Commissions'), sqlMoney('Total Commission'),
  'NULL', now, `'bench-run'`,
].join(', ');
const TARGET = REPORT_TABLE.columns.map((c) => c.name).join(', ');

let rows = 0;
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
process.stdout.write(`${JSON.stringify({ rows, bytes, downloadS: (t1 - t0) / 1000, loadS: (t2 - t1) / 1000, totalS: (t2 - t0) / 1000 })}\n`);
