/**
 * The embedded default: a DuckDB file. A window's rows stream into a temporary CSV file in the
 * canonical text form (memory stays flat), then one transaction deletes the window's old rows,
 * bulk-loads the file with DuckDB's parallel CSV reader, recomputes the summaries of the days it
 * touched (summary.ts: what the dashboard reads) and refreshes the dimensions.
 * Parsing of several windows overlaps; the transactions run one at a time and take several
 * windows each, committing by size and time (see drain()).
 *
 * It takes both ReportBody forms (capabilities.canonicalCsv): a `canonical-csv` body (what the
 * engine hands it from the report reader) is appended to the file byte for byte, no row arrays, no
 * strings per cell; a `rows` body (tests, any other source) is written as CSV here.
 *
 * Every row and summary row carries the load's `currency` (a constant of the INSERT, like
 * `_connector`). currency.ts has the rest of that column: its migration in init (migrateCurrency),
 * the refusal of a load in another currency than the connector's rows before it deletes anything
 * (checkCurrency, once per window on the day summary), relabelCurrency (relabel) and
 * connectorCurrencies.
 */
import { mkdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ReportBody } from '../../model/report-body.js';
import { LOADED_COLUMNS, type LoadedColumn, MONEY_PRECISION, MONEY_SCALE, TOTAL_PRECISION, REPORT_TABLE } from '../../model/schema.js';
import { coverageFrom, dayTotalsFrom, type RawCoverage, type RawDayTotals, type RawTopEntry, topEntryFrom } from '../amounts.js';
import { columnList, csvField, dimensionTables, type TypeMap } from '../render.js';
import type { Coverage, DayTotals, TopEntry, Warehouse, WarehouseCapabilities, WindowLoad } from '../types.js';
import { inTransaction, openDuckDb, releaseDuckDb, SerialConnection } from './connection.js';
import { DUCKDB_CAPABILITIES } from './capabilities.js';
import { checkCurrency, columnsDdl, CURRENCIES_SQL, currenciesFrom, migrateCurrency, relabel } from './currency.js';
import { COVERAGE_SQL, COVERAGES_SQL, DAY_TOTALS_SQL, daysOutsideWindow, deleteSummaries, ensureSummaries, refreshSummaries, topSql, TouchedDays } from './summary.js';

export const DUCKDB_TYPES: TypeMap = {
  text: 'VARCHAR',
  date: 'DATE',
  bigint: 'BIGINT',
  money: `DECIMAL(${MONEY_PRECISION},${MONEY_SCALE})`,
  json: 'VARCHAR',
  timestamp: 'TIMESTAMP',
  count_total: `DECIMAL(${TOTAL_PRECISION},0)`,
  money_total: `DECIMAL(${TOTAL_PRECISION},${MONEY_SCALE})`,
};

const T = REPORT_TABLE.name;
const TYPE_OF = new Map<string, string>(LOADED_COLUMNS.map((c) => [c.name, DUCKDB_TYPES[c.type]]));
const LOADED_NAMES: readonly LoadedColumn[] = LOADED_COLUMNS.map((c) => c.name);

/**
 * Instance settings (measured in docs/BENCHMARKS.md):
 * - insertion order means nothing for this table (every read groups or sorts); keeping it makes
 *   DuckDB load a CSV with one thread and buffer it whole: without it the load is parallel (−40%);
 * - the memory limit keeps the process flat whatever the report size (DuckDB spills beyond it).
 *   DuckDB fills its buffer pool up to it with the file's blocks as a sync writes them: 128 MB
 *   cost ~50 MB more peak RSS than 64 MB for 3-6 % more speed; 32 MB ran out of memory at 5M rows;
 * - small transactions (few rows, see the commit rules below) go to the WAL, and a checkpoint
 *   later rewrites the table's last, partly filled row group. At the default 16 MB threshold that
 *   happened many times per sync; at 256 MB about once per 1M rows, and the WAL a crash must
 *   replay stays bounded;
 * - threads: one core is left to the report reader, which parses the next windows while DuckDB
 *   loads (on 2 cores, 1 DuckDB thread: 1M rows in 4.6 s instead of 5.9 s, and 40 % less CPU).
 */
export const DUCKDB_SETTINGS: Record<string, string> = {
  preserve_insertion_order: 'false',
  memory_limit: '64MB',
  checkpoint_threshold: '256MB',
  threads: String(Math.max(1, availableParallelism() - 1)),
};

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb';
  readonly capabilities: WarehouseCapabilities = DUCKDB_CAPABILITIES;
  /** The writer: loads, one transaction at a time (it may stay open for seconds, see drain()). */
  private conn!: SerialConnection;
  /** The dashboard's reads: a connection of their own, so they see committed data and never wait for a load. */
  private reader!: SerialConnection;

  private constructor(readonly location: string, private readonly tempDir: string, private readonly stagedBytesMax: number) {}

  /** `opts.stagedBytesMax`: see STAGED_BYTES_MAX (tests set a small one). */
  static async open(path: string, tempDir = tmpdir(), opts: { stagedBytesMax?: number } = {}): Promise<DuckDbWarehouse> {
    mkdirSync(tempDir, { recursive: true, mode: 0o700 });
    const w = new DuckDbWarehouse(path, tempDir, opts.stagedBytesMax ?? STAGED_BYTES_MAX);
    const instance = await openDuckDb(path);
    w.conn = await SerialConnection.open(instance);
    w.reader = await SerialConnection.open(instance);
    for (const [k, v] of Object.entries(DUCKDB_SETTINGS)) await w.conn.run(`SET ${k} = '${v.replace(/'/g, "''")}'`);
    return w;
  }

  async init(): Promise<void> {
    await this.conn.run(`CREATE TABLE IF NOT EXISTS ${T} (\n  ${columnsDdl(REPORT_TABLE.columns, DUCKDB_TYPES)}\n)`);
    // Tables of a file made before the currency column get it (their rows: '', unlabelled), before
    // a missing summary is filled from the fact table.
    await this.conn.exclusive((c) => migrateCurrency(c));
    for (const d of dimensionTables()) {
      await this.conn.run(
        `CREATE TABLE IF NOT EXISTS ${d.table} (\n  ${columnList(d.columns, DUCKDB_TYPES)},\n  PRIMARY KEY (_connector, id)\n)`,
      );
    }
    await this.conn.exclusive((c) => ensureSummaries(c, DUCKDB_TYPES));
  }

  async replaceWindow(load: WindowLoad, body: ReportBody): Promise<number> {
    // The disk the waiting windows take is bounded: over it, a window waits for a commit before it
    // reads its body (the download waits too: backpressure). The first one always goes.
    while (this.stagedBytes > 0 && this.stagedBytes >= this.stagedBytesMax) await new Promise<void>((r) => this.spaceWaiters.push(r));
    const file = join(this.tempDir, `rakuten-window-${process.pid}-${randomUUID()}.csv`);
    let staged = 0;
    try {
      this.writing++;
      let csv: Awaited<ReturnType<typeof writeCsv>>;
      try {
        csv = await writeCsv(file, body);
      } catch (e) {
        this.writing--;
        this.wake();
        throw e;
      }
      staged = csv.bytes;
      this.stagedBytes += staged;
      return await new Promise<number>((resolve, reject) => {
        this.pending.push({ load, file, ...csv, resolve, reject });
        this.writing--;
        this.wake();
        this.drain();
      });
    } finally {
      await rm(file, { force: true });
      if (staged > 0) {
        this.stagedBytes -= staged;
        for (const w of this.spaceWaiters.splice(0)) w();
      }
    }
  }

  /**
   * Commit by size and time. Read windows wait in `pending`; one transaction at a time loads them
   * as they come (the next windows download and parse meanwhile) and commits once it holds
   * ROWS_PER_COMMIT rows (DuckDB then writes compressed row groups straight into the file instead
   * of the WAL), once it is COMMIT_AFTER_MS old (progress is saved, the cursor moves), or when no
   * other window is being read (nothing more is coming soon). Per-transaction costs (the commit,
   * the summary and dimension refresh) are paid once per group. Each window is still replaced
   * whole or not at all: if a group fails, its windows are retried one by one, so only a window
   * that fails alone reports an error.
   */
  private pending: PendingLoad[] = [];
  private writing = 0;
  /** Bytes of the read windows' files not committed yet, and the windows waiting for room. */
  private stagedBytes = 0;
  private spaceWaiters: (() => void)[] = [];

  /** What the staging holds now: bytes read and not committed, and windows waiting for room (tests watch it). */
  get staging(): { bytes: number; waiting: number } {
    return { bytes: this.stagedBytes, waiting: this.spaceWaiters.length };
  }
  private draining = false;
  private waiter: (() => void) | null = null;

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Wait until a window is added or a read ends, or `ms` pass. */
  private nextEvent(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => this.wake(), Math.max(0, ms));
      this.waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      while (this.pending.length > 0) {
        const group: PendingLoad[] = [];
        try {
          await this.conn.exclusive((c) => inTransaction(c, async () => {
            const touched = new TouchedDays();
            const started = Date.now();
            let rows = 0;
            while (rows < ROWS_PER_COMMIT && group.length < MAX_GROUP && Date.now() - started < COMMIT_AFTER_MS) {
              if (this.pending.length === 0) {
                if (this.writing === 0) break;
                await this.nextEvent(started + COMMIT_AFTER_MS - Date.now());
                continue;
              }
              const next = this.pending[0]!.load;
              if (group.some((g) => g.load.connector === next.connector && g.load.start <= next.end && next.start <= g.load.end)) break;
              const g = this.pending.shift()!;
              group.push(g);
              await this.loadInto(c, g, touched);
              rows += g.count;
            }
            await this.finish(c, group, touched);
          }));
          for (const g of group) g.resolve(g.count);
        } catch (e) {
          // Failed before it took a window (BEGIN itself): the next window gets the error, so the loop cannot spin.
          if (group.length === 0) this.pending.shift()?.reject(e);
          else if (group.length === 1) group[0]!.reject(e);
          else {
            for (const g of group) {
              await this.loadAlone(g).then(() => g.resolve(g.count), (err: unknown) => g.reject(err));
            }
          }
        }
      }
      this.draining = false;
    })();
  }

  private loadAlone(g: PendingLoad): Promise<void> {
    return this.conn.exclusive((c) => inTransaction(c, async () => {
      const touched = new TouchedDays();
      await this.loadInto(c, g, touched);
      await this.finish(c, [g], touched);
    }));
  }

  /** One window's statements inside the open transaction: delete its days, load its file. */
  private async loadInto(c: DuckDBConnection, g: PendingLoad, touched: TouchedDays): Promise<void> {
    const { load } = g;
    await checkCurrency(c, load, touched.currencies);
    touched.range(load.connector, load.start, load.end);
    await c.run(`DELETE FROM ${T} WHERE _connector = $1 AND _date BETWEEN $2::DATE AND $3::DATE`, [load.connector, load.start, load.end]);
    if (g.count === 0) return;
    const cols = g.columns.map((name) => `'${name}': '${TYPE_OF.get(name)}'`).join(', ');
    const names = g.columns.join(', ');
    // _date: in the file, or the window's day, or the row's transaction date (see CsvPart).
    const date = g.columns.includes('_date') ? '' : g.day === null ? ', transaction_date' : `, '${g.day}'::DATE`;
    const syncedAt = load.syncedAt.toISOString().replace('T', ' ').replace('Z', '');
    await c.run(
      `INSERT INTO ${T} (_connector, ${names}${date ? ', _date' : ''}, _synced_at, _sync_id, currency)
       SELECT $1, ${names}${date}, $2::TIMESTAMP, $3, $4
       FROM read_csv('${g.file.replace(/'/g, "''")}', header = false, delim = ',', quote = '"', escape = '"', new_line = '\\n',
                     nullstr = '', columns = {${cols}}, auto_detect = false, ${readBuffers(g.maxLine)})`,
      [load.connector, syncedAt, load.syncId, load.currency],
    );
    // Rows on days outside the window are appended to those days (nothing of them is deleted).
    if (g.day === null) for (const d of await daysOutsideWindow(c, load, syncedAt)) touched.day(load.connector, d);
    else if (g.day < load.start || g.day > load.end) touched.day(load.connector, g.day);
  }

  /** Before the commit: the summaries of every touched day, the dimensions of the windows that brought rows. */
  private async finish(c: DuckDBConnection, group: PendingLoad[], touched: TouchedDays): Promise<void> {
    await refreshSummaries(c, touched);
    // Dimensions only see windows that brought rows (as before: an emptied window leaves them).
    await this.refreshDimensions(c, group.filter((g) => g.count > 0).map((g) => g.load));
  }

  private async refreshDimensions(c: DuckDBConnection, loads: WindowLoad[]): Promise<void> {
    if (loads.length === 0) return;
    const where = loads.map((_, i) => `(_connector = $${3 * i + 1} AND _date BETWEEN $${3 * i + 2}::DATE AND $${3 * i + 3}::DATE)`).join(' OR ');
    const params = loads.flatMap((l) => [l.connector, l.start, l.end]);
    for (const { table, def } of dimensionTables()) {
      const day = 'coalesce(transaction_date, _date)';
      const urlSel = def.url ? `, arg_max(${def.url}, ${day}) AS url` : '';
      const urlCol = def.url ? ', url' : '';
      const urlSet = def.url ? `, url = CASE WHEN excluded.last_seen >= ${table}.last_seen THEN excluded.url ELSE ${table}.url END` : '';
      await c.run(
        `INSERT INTO ${table} (_connector, id, name${urlCol}, first_seen, last_seen)
         SELECT _connector, ${def.id}, arg_max(${def.name}, ${day})${urlSel}, min(${day}), max(${day})
         FROM ${T} WHERE (${where}) AND ${def.id} IS NOT NULL
         GROUP BY _connector, ${def.id}
         ON CONFLICT (_connector, id) DO UPDATE SET
           name = CASE WHEN excluded.last_seen >= ${table}.last_seen THEN excluded.name ELSE ${table}.name END${urlSet},
           first_seen = least(${table}.first_seen, excluded.first_seen),
           last_seen = greatest(${table}.last_seen, excluded.last_seen)`,
        params,
      );
    }
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await this.conn.exclusive((c) =>
      inTransaction(c, async () => {
        await c.run(`DELETE FROM ${T} WHERE _connector = $1`, [connector]);
        for (const d of dimensionTables()) await c.run(`DELETE FROM ${d.table} WHERE _connector = $1`, [connector]);
        await deleteSummaries(c, connector);
      }),
    );
  }

  /** The dashboard reads: from the summaries only (summary.ts), never the fact table. */
  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    const rows = await this.reader.rows(DAY_TOTALS_SQL, [connector, from, to]);
    return rows.map((r) => dayTotalsFrom(r as unknown as RawDayTotals));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    const rows = await this.reader.rows(topSql(limit), [connector, from, to, dimension]);
    return rows.map((r) => topEntryFrom(r as unknown as RawTopEntry));
  }

  /** On the writer, one transaction between the loads' transactions (currency.ts; the caller holds the connector's lease). */
  async relabelCurrency(connector: string, currency: string): Promise<void> {
    await this.conn.exclusive((c) => relabel(c, connector, currency));
  }

  /** From the day summary (currency.ts): a row per connector and day. */
  async connectorCurrencies(): Promise<Map<string, string[]>> {
    return currenciesFrom(await this.reader.rows(CURRENCIES_SQL));
  }

  async coverage(connector: string): Promise<Coverage> {
    const [r] = await this.reader.rows(COVERAGE_SQL, [connector]);
    return coverageFrom(r as unknown as RawCoverage | undefined);
  }

  async coverages(): Promise<Map<string, Coverage>> {
    const rows = await this.reader.rows(COVERAGES_SQL);
    return new Map(rows.map((r) => [String(r._connector), coverageFrom(r as unknown as RawCoverage)]));
  }

  async close(): Promise<void> {
    this.reader.close();
    this.conn.close();
    releaseDuckDb(this.location);
  }
}

interface PendingLoad {
  load: WindowLoad;
  file: string;
  count: number;
  columns: readonly LoadedColumn[];
  day: string | null;
  maxLine: number;
  resolve(rows: number): void;
  reject(err: unknown): void;
}

/**
 * When a transaction commits (measured on 2 cores, 1M rows in 30 one-day windows, docs/BENCHMARKS.md):
 * once it holds ROWS_PER_COMMIT rows, four DuckDB row groups (122,880 rows each: DuckDB writes full
 * row groups of a transaction straight into the file instead of the WAL; one row group per
 * transaction was slower than the WAL, 7.1 s, because every commit still leaves a partly filled
 * one; four or more: 4.6 s), or once it is COMMIT_AFTER_MS old, so progress is saved and the
 * cursor moves at that pace however slow the report, or when no other window is being read.
 */
const ROWS_PER_COMMIT = 4 * 122_880;
const COMMIT_AFTER_MS = 3_000;
/** Most windows one transaction takes (many small ones: the dimension refresh has a condition per window). */
const MAX_GROUP = 256;
/**
 * Most bytes of canonical CSV that read windows keep in <home>/tmp while they wait for their commit
 * (capabilities.stagedWindows lets up to 32 wait: at 5M rows, days of 37 MB, that would be 1.2 GB).
 * A transaction's rows (ROWS_PER_COMMIT, ~110 MB) and the next ones fit. A soft bound: the windows
 * being read when it is reached (at most the sync's downloads) still finish.
 */
export const STAGED_BYTES_MAX = 256 * 1024 * 1024;

/**
 * read_csv buffer options for a file whose longest line is maxLine bytes. DuckDB reads the file in
 * buffers that must hold a whole line; its default (16 × 2 MiB) costs memory and time for nothing on
 * ordinary rows, while a report record may be up to 4 MiB (more once quoted).
 */
function readBuffers(maxLine: number): string {
  const line = Math.max(1024 * 1024, maxLine + 1024);
  return `max_line_size = ${line}, buffer_size = ${Math.max(4 * 1024 * 1024, 2 * line)}`;
}

/**
 * Stream a window to a CSV file in canonical text; returns the row count and the file's columns.
 * A `canonical-csv` body is that text already (in the report's column order); a `rows` body is
 * written in the data model's order.
 */
async function writeCsv(
  file: string, body: ReportBody,
): Promise<{ count: number; columns: readonly LoadedColumn[]; day: string | null; maxLine: number; bytes: number }> {
  const fh = await open(file, 'w', 0o600);
  let count = 0;
  let bytes = 0;
  let maxLine = 0;
  let day: string | null = null;
  let columns: readonly LoadedColumn[] = LOADED_NAMES;
  try {
    if (body.format === 'canonical-csv') {
      for await (const part of body.parts) {
        await fh.writev(part.chunks);
        for (const c of part.chunks) bytes += c.byteLength;
        count += part.rows;
        columns = part.columns;
        day = part.day;
        maxLine = part.maxLine;
      }
    } else {
      for await (const batch of body.batches) {
        let text = '';
        for (const row of batch) {
          let line = '';
          for (let i = 0; i < row.length; i++) {
            const v = row[i];
            if (i > 0) line += ',';
            if (v !== null && v !== undefined) line += csvField(v);
          }
          text += line + '\n';
          if (line.length >= maxLine / 3) maxLine = Math.max(maxLine, Buffer.byteLength(line) + 1);
        }
        count += batch.length;
        bytes += (await fh.write(text)).bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
  return { count, columns, day, maxLine, bytes };
}
