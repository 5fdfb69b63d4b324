/**
 * The embedded default: a DuckDB file. A window's rows stream into a temporary CSV file in the
 * canonical text form (memory stays flat), then one transaction deletes the window's old rows,
 * bulk-loads the file with DuckDB's parallel CSV reader and refreshes the dimensions.
 * Parsing of several windows overlaps; the transactions themselves run one at a time.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { LOADED_COLUMNS, MONEY_PRECISION, MONEY_SCALE, REPORT_TABLE, type ReportRow } from '../model/schema.js';
import { columnList, csvField, dimensionTables, type TypeMap } from './render.js';
import { inTransaction, openDuckDb, releaseDuckDb, SerialConnection } from './duckdb-connection.js';
import type { Coverage, DayTotals, TopEntry, Warehouse, WindowLoad } from './types.js';

export const DUCKDB_TYPES: TypeMap = {
  text: 'VARCHAR',
  date: 'DATE',
  bigint: 'BIGINT',
  money: `DECIMAL(${MONEY_PRECISION},${MONEY_SCALE})`,
  json: 'VARCHAR',
  timestamp: 'TIMESTAMP',
};

const T = REPORT_TABLE.name;

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb';
  readonly capabilities = { concurrentLoads: false, shared: false };
  private conn!: SerialConnection;

  private constructor(readonly location: string, private readonly tempDir: string) {}

  static async open(path: string, tempDir = tmpdir()): Promise<DuckDbWarehouse> {
    mkdirSync(tempDir, { recursive: true, mode: 0o700 });
    const w = new DuckDbWarehouse(path, tempDir);
    w.conn = await SerialConnection.open(await openDuckDb(path));
    return w;
  }

  async init(): Promise<void> {
    await this.conn.run(`CREATE TABLE IF NOT EXISTS ${T} (\n  ${columnList(REPORT_TABLE.columns, DUCKDB_TYPES)}\n)`);
    for (const d of dimensionTables()) {
      await this.conn.run(
        `CREATE TABLE IF NOT EXISTS ${d.table} (\n  ${columnList(d.columns, DUCKDB_TYPES)},\n  PRIMARY KEY (_connector, id)\n)`,
      );
    }
  }

  async replaceWindow(load: WindowLoad, rows: AsyncIterable<ReportRow[]>): Promise<number> {
    const file = join(this.tempDir, `rakuten-window-${process.pid}-${randomUUID()}.csv`);
    try {
      const count = await writeCsv(file, rows);
      await this.conn.exclusive((c) =>
        inTransaction(c, async () => {
          await c.run(`DELETE FROM ${T} WHERE _connector = $1 AND _date BETWEEN $2::DATE AND $3::DATE`, [load.connector, load.start, load.end]);
          if (count > 0) {
            const cols = LOADED_COLUMNS.map((col) => `'${col.name}': '${DUCKDB_TYPES[col.type]}'`).join(', ');
            const names = LOADED_COLUMNS.map((col) => col.name).join(', ');
            await c.run(
              `INSERT INTO ${T} (_connector, ${names}, _synced_at, _sync_id)
               SELECT $1, ${names}, $2::TIMESTAMP, $3
               FROM read_csv('${file.replace(/'/g, "''")}', header = false, delim = ',', quote = '"', escape = '"',
                             nullstr = '', columns = {${cols}}, auto_detect = false)`,
              [load.connector, load.syncedAt.toISOString().replace('T', ' ').replace('Z', ''), load.syncId],
            );
            await this.refreshDimensions(c, load);
          }
        }),
      );
      return count;
    } finally {
      await rm(file, { force: true });
    }
  }

  private async refreshDimensions(c: Parameters<Parameters<SerialConnection['exclusive']>[0]>[0], load: WindowLoad): Promise<void> {
    for (const { table, def } of dimensionTables()) {
      const day = 'coalesce(transaction_date, _date)';
      const urlSel = def.url ? `, arg_max(${def.url}, ${day}) AS url` : '';
      const urlCol = def.url ? ', url' : '';
      const urlSet = def.url ? `, url = CASE WHEN excluded.last_seen >= ${table}.last_seen THEN excluded.url ELSE ${table}.url END` : '';
      await c.run(
        `INSERT INTO ${table} (_connector, id, name${urlCol}, first_seen, last_seen)
         SELECT _connector, ${def.id}, arg_max(${def.name}, ${day})${urlSel}, min(${day}), max(${day})
         FROM ${T} WHERE _connector = $1 AND _date BETWEEN $2::DATE AND $3::DATE AND ${def.id} IS NOT NULL
         GROUP BY _connector, ${def.id}
         ON CONFLICT (_connector, id) DO UPDATE SET
           name = CASE WHEN excluded.last_seen >= ${table}.last_seen THEN excluded.name ELSE ${table}.name END${urlSet},
           first_seen = least(${table}.first_seen, excluded.first_seen),
           last_seen = greatest(${table}.last_seen, excluded.last_seen)`,
        [load.connector, load.start, load.end],
      );
    }
  }

  async deleteConnectorData(connector: string): Promise<void> {
    await this.conn.exclusive((c) =>
      inTransaction(c, async () => {
        await c.run(`DELETE FROM ${T} WHERE _connector = $1`, [connector]);
        for (const d of dimensionTables()) await c.run(`DELETE FROM ${d.table} WHERE _connector = $1`, [connector]);
      }),
    );
  }

  async dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]> {
    const rows = await this.conn.rows(
      `SELECT strftime(_date, '%Y-%m-%d') AS day, count(*)::BIGINT AS rows,
              coalesce(sum(impressions), 0)::VARCHAR AS impressions, coalesce(sum(clicks), 0)::VARCHAR AS clicks,
              coalesce(sum(orders), 0)::VARCHAR AS orders, coalesce(sum(sales), 0)::VARCHAR AS sales,
              coalesce(sum(gross_commissions), 0)::VARCHAR AS gross_commissions,
              coalesce(sum(total_commissions), 0)::VARCHAR AS total_commissions
       FROM ${T} WHERE ($1::VARCHAR IS NULL OR _connector = $1) AND _date BETWEEN $2::DATE AND $3::DATE
       GROUP BY _date ORDER BY _date`,
      [connector, from, to],
    );
    return rows.map((r) => ({
      day: String(r.day), rows: Number(r.rows), impressions: String(r.impressions), clicks: String(r.clicks), orders: String(r.orders),
      sales: String(r.sales), gross_commissions: String(r.gross_commissions), total_commissions: String(r.total_commissions),
    }));
  }

  async top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    const id = dimension === 'publisher' ? 'publisher_id' : 'offer_id';
    const name = dimension === 'publisher' ? 'publisher_name' : 'offer_name';
    const rows = await this.conn.rows(
      `SELECT ${id} AS id, arg_max(${name}, coalesce(transaction_date, _date)) AS name, count(*)::BIGINT AS rows,
              sum(sales)::VARCHAR AS sales, sum(total_commissions)::VARCHAR AS total_commissions
       FROM ${T} WHERE ($1::VARCHAR IS NULL OR _connector = $1) AND _date BETWEEN $2::DATE AND $3::DATE AND ${id} IS NOT NULL
       GROUP BY ${id} ORDER BY sum(sales) DESC NULLS LAST, ${id} LIMIT ${Math.max(1, Math.floor(limit))}`,
      [connector, from, to],
    );
    return rows.map((r) => ({
      id: String(r.id), name: r.name === null ? null : String(r.name), rows: Number(r.rows),
      sales: String(r.sales ?? '0'), total_commissions: String(r.total_commissions ?? '0'),
    }));
  }

  async coverage(connector: string): Promise<Coverage> {
    const [r] = await this.conn.rows(
      `SELECT count(*)::BIGINT AS rows, count(DISTINCT _date)::BIGINT AS days,
              strftime(min(_date), '%Y-%m-%d') AS first, strftime(max(_date), '%Y-%m-%d') AS last
       FROM ${T} WHERE _connector = $1`,
      [connector],
    );
    return { rows: Number(r?.rows ?? 0), days: Number(r?.days ?? 0), firstDay: (r?.first as string) ?? null, lastDay: (r?.last as string) ?? null };
  }

  async close(): Promise<void> {
    this.conn.close();
    releaseDuckDb(this.location);
  }
}

/** Stream rows to a CSV file in canonical text; returns the row count. */
async function writeCsv(file: string, rows: AsyncIterable<ReportRow[]>): Promise<number> {
  const out = createWriteStream(file, { mode: 0o600 });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  let count = 0;
  try {
    for await (const batch of rows) {
      let text = '';
      for (const row of batch) {
        let line = '';
        for (let i = 0; i < row.length; i++) {
          const v = row[i];
          if (i > 0) line += ',';
          if (v !== null && v !== undefined) line += csvField(v);
        }
        text += line + '\n';
      }
      count += batch.length;
      if (!out.write(text)) await Promise.race([once(out, 'drain'), failed]);
    }
  } finally {
    out.end();
    await Promise.race([once(out, 'close'), failed]);
  }
  return count;
}
