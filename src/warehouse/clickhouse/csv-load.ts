/**
 * The fast path of a load (capabilities.canonicalCsv): the report reader's canonical CSV bytes go
 * to ClickHouse untouched, as DuckDB's path sends them to read_csv, instead of rows turned into
 * strings and back into TabSeparated text in this process (which made the connector's CPU the
 * bottleneck). The bytes land in a staging table of String columns (`INSERT … FORMAT CSV`), and
 * one `INSERT … SELECT` types them into the rows table with the load's version, through the
 * Distributed table on a cluster (synchronously, so every shard has its rows when it returns).
 * Step 1 of load.ts's sequence; publishing and the rest are the same for both paths.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { canonicalCsvRows } from '../../model/canonical-csv.js';
import { type CsvPart, type ReportBody, rowsBody } from '../../model/report-body.js';
import { type LoadedColumn, LOADED_COLUMNS } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import type { WindowLoad } from '../types.js';
import { type ChServer, day, ident, str } from './connection.js';
import { loadCurrency } from '../currency.js';
import { checkDay, type Layout, MAX_DAY, MIN_DAY, ROWS_TABLE, STAGE_PREFIX } from './schema.js';

const TYPE_OF = new Map<string, string>(LOADED_COLUMNS.map((c) => [c.name, c.type]));

/**
 * A staged String cell as its typed value: empty = NULL (canonical CSV), ISO dates, plain decimals.
 * Both branches of if() are computed for every row, so the conversion gets a harmless stand-in for ''.
 */
function typed(col: LoadedColumn): string {
  const s = ident(col);
  const type = TYPE_OF.get(col);
  const or = (zero: string): string => `if(${s} = '', '${zero}', ${s})`;
  const value = type === 'date' ? `toDate(${or(MIN_DAY)})` : type === 'bigint' ? `toInt64(${or('0')})` : type === 'money' ? `toDecimal64(${or('0')}, 4)` : s;
  return `if(${s} = '', NULL, ${value})`;
}

/** A staged date cell outside Date's range (it would wrap silently). ISO text compares like the day. */
const outOfRange = (s: string): string => `(${s} != '' AND (${s} < '${MIN_DAY}' OR ${s} > '${MAX_DAY}'))`;

/** Below this many CSV bytes a window goes the row path: one insert, where staging costs three statements more. */
export const SMALL_CSV_BYTES = 256 * 1024;

/**
 * A canonical-CSV body as the form cheapest to load: a small one (the whole body under
 * SMALL_CSV_BYTES) as rows, a big one as the same CSV (the parts already read, then the rest).
 */
export async function cheapestForm(parts: AsyncIterable<CsvPart>): Promise<ReportBody> {
  const it = parts[Symbol.asyncIterator]();
  const seen: CsvPart[] = [];
  let bytes = 0;
  for (;;) {
    const next = await it.next();
    if (next.done) break;
    seen.push(next.value);
    bytes += next.value.chunks.reduce((a, c) => a + c.byteLength, 0);
    if (bytes > SMALL_CSV_BYTES) {
      return {
        format: 'canonical-csv',
        parts: {
          [Symbol.asyncIterator]: () => {
            let i = 0;
            return {
              next: async () => (i < seen.length ? { done: false, value: seen[i++]! } : it.next()),
              return: async () => (await it.return?.()) ?? { done: true, value: undefined },
            };
          },
        },
      };
    }
  }
  const first = seen[0];
  if (!first) return rowsBody([]);
  const text = Buffer.concat(seen.flatMap((p) => p.chunks)).toString('utf8');
  return rowsBody([canonicalCsvRows(text, first.columns, first.day)]);
}

export interface CsvTarget {
  layout: Layout;
  /** Where the staging table lives and the typed insert runs: the URL's server. */
  server: ChServer;
  /** Settings for inserts: partitions per block, synchronous Distributed inserts, CSV quoting. */
  insertSettings: Record<string, number>;
}

/**
 * Stage the parts' bytes and insert them typed into the rows table, stamped (version, row number, +1).
 * Returns the count and the days of the new rows outside the window (from transaction dates).
 */
export async function streamCsv(w: CsvTarget, load: WindowLoad, version: number, parts: AsyncIterable<CsvPart>) {
  const l = w.layout;
  const currency = str(loadCurrency(load));
  const stage = l.t(`${STAGE_PREFIX}${Date.now()}_${Math.random().toString(16).slice(2, 14)}`);
  let columns: readonly LoadedColumn[] | null = null;
  let partDay: string | null = null;
  let body: PassThrough | null = null;
  let done: Promise<void> = Promise.resolve();
  let failed: unknown;
  let count = 0;
  let created = false;
  try {
    for await (const part of parts) {
      if (!columns) {
        columns = part.columns;
        partDay = part.day;
        if (partDay !== null) checkDay(partDay, '_date');
        await w.server.run(`CREATE TABLE ${stage} (${columns.map((c) => `${ident(c)} String`).join(', ')}) ENGINE = Log`);
        created = true;
        const b = new PassThrough({ highWaterMark: 1 << 20 });
        b.on('error', () => undefined);
        body = b;
        done = w.server.insertStream(stage, columns.map(ident), b, 'CSV', w.insertSettings);
        done.catch((e: unknown) => {
          failed = e ?? new Error('insert failed');
        });
      }
      count += part.rows;
      for (const chunk of part.chunks) {
        if (failed) throw failed;
        if (!body!.write(chunk)) await Promise.race([once(body!, 'drain'), done.then(() => Promise.reject(new Error('ClickHouse ended the insert early')))]);
      }
    }
    if (!body || !columns) return { count: 0, extra: [] as string[] };
    body.end();
    await done;
    const cols = columns;
    const dateExpr = cols.includes('_date') ? typed('_date') : partDay !== null ? day(partDay) : `toDate(${ident('transaction_date')})`;
    const dateCols = cols.filter((c) => TYPE_OF.get(c) === 'date');
    try {
      await w.server.run(
        `INSERT INTO ${l.t(ROWS_TABLE)} (_connector, ${cols.map(ident).join(', ')}${cols.includes('_date') ? '' : ', _date'}, _synced_at, _sync_id, _version, _row, _sign, currency)
         SELECT ${str(load.connector)}, ${cols.map(typed).join(', ')}${cols.includes('_date') ? '' : `, ${dateExpr}`},
                toDateTime(${str(load.syncedAt.toISOString().slice(0, 19).replace('T', ' '))}, 'UTC'), ${str(load.syncId)}, toUInt64(${version}),
                toUInt32(rowNumberInAllBlocks()), toInt8(throwIf(${dateCols.length ? dateCols.map((c) => outOfRange(ident(c))).join(' OR ') : '0'}) + 1),
                ${currency}
         FROM ${stage}`,
        w.insertSettings,
      );
    } catch (e) {
      await explainDates(w.server, stage, dateCols);
      throw e;
    }
    // Days outside the window come only from transaction dates (a part's own day is checked by the caller's routing).
    let extra: string[] = [];
    if (partDay === null || partDay < load.start || partDay > load.end) {
      const rows = await w.server.rows<{ d: string }>(
        `SELECT DISTINCT toString(${dateExpr}) AS d FROM ${stage} WHERE NOT (${dateExpr} BETWEEN ${day(load.start)} AND ${day(load.end)})`,
      );
      extra = rows.map((r) => r.d);
    }
    return { count, extra };
  } catch (e) {
    body?.destroy(e instanceof Error ? e : new Error(String(e)));
    await done.catch(() => undefined);
    throw e;
  } finally {
    // Best effort: a leftover is dropped by a later init() once it is old.
    if (created) await w.server.run(`DROP TABLE IF EXISTS ${stage}`).catch(() => undefined);
  }
}

/** The typed insert failed: say which date was out of range, as the rows path does (else the server's error stands). */
async function explainDates(server: ChServer, stage: string, dateCols: LoadedColumn[]): Promise<void> {
  for (const c of dateCols) {
    const [bad] = await server.rows<{ v: string }>(`SELECT ${ident(c)} AS v FROM ${stage} WHERE ${outOfRange(ident(c))} LIMIT 1`).catch(() => []);
    if (bad) throw new ConnectorError('data', `${c} ${bad.v.slice(0, 40)} is outside ClickHouse's Date range (${MIN_DAY}..${MAX_DAY})`);
  }
}
