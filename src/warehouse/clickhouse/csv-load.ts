/**
 * The fast path of a load (capabilities.canonicalCsv): the report reader's CSV bytes go straight
 * into the rows table, as DuckDB's path sends them to read_csv, with no staging table and no
 * `INSERT … SELECT` (which cost the server as much again as the insert itself). The reader writes
 * them with this load's stamp (CsvStamp: `\N` for NULL, and on every line `_date`, the load's
 * constants and the row's number), so every line is a whole row of the table. On a cluster they go
 * to the shard that owns them all (a one-day window), else through the Distributed table
 * (synchronously, so every shard has its rows when it returns).
 * Step 1 of load.ts's sequence; publishing and the rest are the same for both paths.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { canonicalCsvRows, type StampedShape } from '../../model/canonical-csv.js';
import { type CsvPart, type CsvStamp, type ReportBody, rowsBody } from '../../model/report-body.js';
import { ConnectorError } from '../../util/errors.js';
import type { WindowLoad } from '../types.js';
import { type ChServer, ident } from './connection.js';
import { loadCurrency } from '../currency.js';
import { checkDay, CURRENCY, MAX_DAY, MIN_DAY } from './schema.js';

/** A CSV cell always quoted (the stamp's text constants). */
const quoted = (v: string): string => `"${v.replace(/"/g, '""')}"`;

/** The stamp's cells after `_date`, in the order of STAMP_COLUMNS; the row number ends the line. */
const STAMP_COLUMNS = ['_date', '_connector', '_synced_at', '_sync_id', '_version', '_sign', CURRENCY, '_row'];
/** How a stamped line reads back (canonicalCsvRows): everything after the part's columns is the stamp's. */
export const STAMPED: StampedShape = { nullCell: '\\N', trailing: STAMP_COLUMNS.length };

/** This load's stamp: NULL as `\N` (the only NULL ClickHouse's CSV input knows), its constants, Date's range. */
export function loadStamp(load: WindowLoad, version: number): CsvStamp {
  const syncedAt = load.syncedAt.toISOString().slice(0, 19).replace('T', ' ');
  return {
    nullCell: STAMPED.nullCell,
    tail: [quoted(load.connector), syncedAt, quoted(load.syncId), String(version), '1', quoted(loadCurrency(load))].join(','),
    dateRange: { min: MIN_DAY, max: MAX_DAY, label: "ClickHouse's Date range" },
  };
}

/** Below this many CSV bytes a window goes the row path, where windows that finish together share one insert. */
export const SMALL_CSV_BYTES = 256 * 1024;

/**
 * Stamped canonical-CSV parts as the form cheapest to load: a small body (under SMALL_CSV_BYTES)
 * as rows, to share an insert with other small windows; a big one as the same CSV (the parts
 * already read, then the rest).
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
  return rowsBody([canonicalCsvRows(text, first.columns, first.day, STAMPED)]);
}

export interface CsvTarget {
  /** Settings for inserts: partitions per block, synchronous Distributed inserts, CSV quoting. */
  insertSettings: Record<string, number>;
  /**
   * Where the rows go, given the `_date` of every row (CsvPart.day) or null (each row's own): the
   * shard's rows table when one shard owns them all, else the Distributed table on the URL's server.
   */
  target(day: string | null): Promise<{ server: ChServer; table: string }>;
}

/**
 * Stream stamped parts (loadStamp) into the rows table. Returns the count and the days of the new
 * rows outside the window: only a part's own day can be (a stamped multi-day window's rows lie inside it).
 */
export async function streamCsv(w: CsvTarget, load: WindowLoad, parts: AsyncIterable<CsvPart>): Promise<{ count: number; extra: string[] }> {
  let partDay: string | null = null;
  let body: PassThrough | null = null;
  let done: Promise<void> = Promise.resolve();
  let failed: unknown;
  let count = 0;
  try {
    for await (const part of parts) {
      if (!body) {
        if (part.columns.includes('_date')) throw new ConnectorError('internal', 'a stamped CSV part must not have a _date column of its own');
        partDay = part.day;
        if (partDay !== null) checkDay(partDay, '_date');
        const to = await w.target(partDay);
        const b = new PassThrough({ highWaterMark: 1 << 20 });
        b.on('error', () => undefined);
        body = b;
        done = to.server.insertStream(to.table, [...part.columns, ...STAMP_COLUMNS].map(ident), b, 'CSV', w.insertSettings);
        done.catch((e: unknown) => {
          failed = e ?? new Error('insert failed');
        });
      }
      count += part.rows;
      for (const chunk of part.chunks) {
        if (failed) throw failed;
        if (!body.write(chunk)) await Promise.race([once(body, 'drain'), done.then(() => Promise.reject(new Error('ClickHouse ended the insert early')))]);
      }
    }
    if (!body) return { count: 0, extra: [] };
    body.end();
    await done;
    return { count, extra: partDay !== null && (partDay < load.start || partDay > load.end) ? [partDay] : [] };
  } catch (e) {
    // Rows that reached the table carry a version nobody publishes: invisible, cancelled by the next load of those days.
    body?.destroy(e instanceof Error ? e : new Error(String(e)));
    await done.catch(() => undefined);
    throw e;
  }
}
