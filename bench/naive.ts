/**
 * The naive baseline (run by bench.ts in a child process): for each day, download the whole
 * report as one string, split it into lines and fields with a simple split-based parser, convert
 * numbers and dates with string replaces, and INSERT the rows one by one (PostgreSQL: one
 * transaction per day; DuckDB: auto-commit per row, see below). Stops after --budget seconds; bench.ts extrapolates
 * from the rows it managed. Prints one JSON line.
 *
 *   node --import tsx bench/naive.ts --sim URL --token T --from D --to D --warehouse duckdb:FILE|postgres://… --budget 60
 */
import pg from 'pg';
import { CANONICAL_HEADERS } from '../src/simulator/index.js';
import { REPORT_TABLE } from '../src/model/schema.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/warehouse.js';
import { openDuckDb, releaseDuckDb } from '../src/warehouse/duckdb/connection.js';
import { daysBetween, parseFlags } from './lib.js';

const o = parseFlags(process.argv.slice(2), { sim: '', token: '', from: '', to: '', warehouse: '', dir: '', budget: '60', report: 'affiliate-report' });
const budgetMs = Number(o.budget) * 1000;
const target = REPORT_TABLE.columns.map((c) => c.name);
const placeholders = target.map((_, i) => `$${i + 1}`).join(', ');
const insertSql = `INSERT INTO ${REPORT_TABLE.name} (${target.join(', ')}) VALUES (${placeholders})`;
const idx = (h: string) => CANONICAL_HEADERS.indexOf(h as (typeof CANONICAL_HEADERS)[number]);

/** The whole text → records, with one regex (quoted fields may hold commas and line breaks). */
function splitRecords(text: string): string[][] {
  const out: string[][] = [];
  let rec: string[] = [];
  const re = /("(?:[^"]|"")*"|[^,\r\n]*)(,|\r?\n|$)/g;
  for (let m = re.exec(text); m !== null && m[0] !== ''; m = re.exec(text)) {
    const f = m[1]!;
    rec.push(f.startsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f);
    if (m[2] !== ',') {
      out.push(rec);
      rec = [];
    }
  }
  return out;
}
const num = (s: string | undefined) => (s ? s.replace(/[$,]/g, '') : null);
const txt = (s: string | undefined) => (s ? s : null);
function isoDate(s: string): string {
  const [m, d, y] = s.split('/');
  return `20${y}-${m!.padStart(2, '0')}-${d!.padStart(2, '0')}`;
}
function toRow(f: string[], day: string, now: string): (string | null)[] {
  const g = (h: string) => f[idx(h)];
  return [
    'naive', day, isoDate(g('Transaction Date')!), txt(g('Order ID')), txt(g('Publisher ID')), txt(g('Publisher Name')), txt(g('Publisher URL')),
    txt(g('Publisher Group ID')), txt(g('Publisher Group Name')), txt(g('Sub-Publisher ID')), txt(g('Sub-Publisher Name')), txt(g('Sub-Publisher URL')),
    txt(g('Offer ID')), txt(g('Offer Name')), txt(g('Link ID')), txt(g('Link Name')),
    num(g('# of Impressions')), num(g('# of Clicks')), num(g('# of Orders')), num(g('Sales')), num(g('Gross Commissions')), num(g('Total Commission')),
    null, now, 'naive-run', 'USD',
  ];
}

let insertRow: (values: (string | null)[]) => Promise<void>;
let begin: () => Promise<void>;
let commit: () => Promise<void>;
let close: () => Promise<void>;
if (o.warehouse.startsWith('duckdb:')) {
  const path = o.warehouse.slice('duckdb:'.length);
  const w = await DuckDbWarehouse.open(path, o.dir);
  await w.init();
  const conn = await (await openDuckDb(path)).connect();
  await conn.run(`SET memory_limit = '4GB'`); // row-by-row appends hold far more than the connector's limit
  const stmt = await conn.prepare(insertSql);
  insertRow = async (v) => {
    stmt.bind(v);
    await stmt.run();
  };
  // Row-by-row INSERTs inside one DuckDB transaction grow its memory without bound (gigabytes
  // for a 33k-row day), so the naive loader auto-commits every row, as most naive code does.
  begin = async () => undefined;
  commit = async () => undefined;
  close = async () => {
    conn.closeSync();
    await w.close();
    releaseDuckDb(path);
  };
} else {
  const { openPostgres } = await import('../src/warehouse/postgres/warehouse.js');
  const { warehouse, state } = await openPostgres(o.warehouse);
  await warehouse.init();
  await warehouse.close();
  await state.close();
  const client = new pg.Client({ connectionString: o.warehouse });
  await client.connect();
  insertRow = async (v) => void (await client.query({ name: 'ins', text: insertSql, values: v }));
  begin = async () => void (await client.query('BEGIN'));
  commit = async () => void (await client.query('COMMIT'));
  close = () => client.end();
}

const t0 = performance.now();
let rows = 0;
let bytes = 0;
let daysDone = 0;
let complete = true;
const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
outer: for (const day of daysBetween(o.from, o.to)) {
  const url = `${o.sim}/en/reports/${o.report}/filters?start_date=${day}&end_date=${day}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${o.token}`;
  const text = (await (await fetch(url)).text()).replace(/^\uFEFF/, '');
  bytes += Buffer.byteLength(text);
  const records = splitRecords(text);
  await begin();
  for (const rec of records.slice(1)) {
    await insertRow(toRow(rec, day, now));
    rows++;
    if (performance.now() - t0 > budgetMs) {
      complete = false;
      await commit();
      break outer;
    }
  }
  await commit();
  daysDone++;
}
const seconds = (performance.now() - t0) / 1000;
await close();
process.stdout.write(`${JSON.stringify({ rows, bytes, seconds, daysDone, complete })}\n`);
