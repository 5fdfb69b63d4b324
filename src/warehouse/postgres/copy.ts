/**
 * Streams a window into `COPY … FROM STDIN` on a client that is already inside a transaction:
 * report rows as text format (it distinguishes NULL (`\N`) from the empty string, and only four
 * characters ever need escaping, so the common value is appended as is), or the report reader's
 * canonical CSV bytes untouched (`FORMAT csv`, the same NULL convention).
 */
import { once } from 'node:events';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { CsvPart } from '../../model/report-body.js';
import { LOADED_COLUMNS, type ReportRow } from '../../model/schema.js';
import { ConnectorError } from '../../util/errors.js';
import { markForeign } from './connection.js';

const WIDTH = LOADED_COLUMNS.length;
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES = /[\\\t\n\r]/g;
const ESCAPE_OF: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeOne = (c: string): string => ESCAPE_OF[c]!;

/** One value in COPY text format. */
export function copyValue(v: string | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  return NEEDS_ESCAPE.test(v) ? v.replace(ESCAPES, escapeOne) : v;
}

/**
 * Hand a chunk to the socket about every 256 Ki chars. Measured (64 Ki..4 Mi): big enough to
 * amortise per-write costs, small enough that the server starts parsing while we encode and the
 * wait after the last row stays short.
 */
const CHUNK_CHARS = 1 << 18;

/**
 * Stream `source` (each item: pieces of COPY input, text or bytes) into `copySql`; returns the
 * server's row count. The COPY statement is only sent once the first piece exists, so an empty
 * window costs nothing (0 is returned). If `source` throws, the COPY is aborted with CopyFail (the
 * connection stays usable for ROLLBACK) and the same error is rethrown, marked as not PostgreSQL's.
 */
async function copyFrom(client: pg.PoolClient, copySql: string, source: AsyncIterable<(string | Uint8Array)[]>): Promise<number> {
  let stream: ReturnType<typeof copyStreams.from> | undefined;
  let streamError: Error | undefined;
  let failed: Promise<never> | undefined;

  const write = async (piece: string | Uint8Array): Promise<void> => {
    if (!stream) {
      // A bigger buffer than the 16 KiB default lets the next chunk be encoded while the server parses this one.
      const s = client.query(copyStreams.from(copySql, { highWaterMark: 4 * CHUNK_CHARS }));
      stream = s;
      failed = new Promise<never>((_, reject) =>
        s.on('error', (e: Error) => {
          streamError ??= e;
          reject(e);
        }),
      );
      failed.catch(() => undefined);
    }
    if (streamError) throw streamError;
    if (!stream.write(piece)) await Promise.race([once(stream, 'drain'), failed!]);
  };

  /** Where an error can come from: the source ('pull') or the COPY ('push'). */
  let phase: 'pull' | 'push' | 'finish' = 'pull';
  try {
    // for-await: if COPY fails mid-way, the source's return() runs (e.g. the download is aborted).
    for await (const pieces of source) {
      phase = 'push';
      for (const piece of pieces) if (piece.length > 0) await write(piece);
      phase = 'pull';
    }
    phase = 'finish';
    if (!stream) return 0;
    const s = stream;
    s.end();
    // 'finish' fires after the server's CommandComplete + ReadyForQuery: the rows are in.
    await Promise.race([once(s, 'finish'), failed!]);
    return s.rowCount;
  } catch (e) {
    if (phase === 'pull') markForeign(e); // the source threw: the caller gets its error untouched
    // Abort an unfinished COPY with CopyFail. Not when the server already failed it: the stream
    // has no connection any more, and the backend is back to ReadyForQuery on its own.
    if (stream && !streamError && !stream.destroyed) {
      stream.destroy(e instanceof Error ? e : new Error(String(e)));
    }
    throw e;
  }
}

const checkCount = (copied: number, sent: number): number => {
  if (copied !== sent) throw new Error(`COPY reported ${copied} rows, ${sent} were sent`);
  return sent;
};

/**
 * COPY the rows (text format), each framed by `prefix` and `suffix` (already encoded constant
 * columns, e.g. the window's connector / synced_at / sync_id). Returns the row count. If `rows`
 * throws, the COPY is aborted and the same error is rethrown (see copyFrom).
 */
export async function copyRows(
  client: pg.PoolClient,
  copySql: string,
  rows: AsyncIterable<ReportRow[]>,
  prefix: string,
  suffix: string,
  visit?: (row: ReportRow) => void,
): Promise<number> {
  let count = 0;
  const texts = async function* (): AsyncGenerator<string[]> {
    for await (const batch of rows) {
      const out: string[] = [];
      let text = '';
      for (let r = 0; r < batch.length; r++) {
        const row = batch[r]!;
        if (row.length !== WIDTH) {
          throw new ConnectorError('internal', `a report row has ${row.length} values, expected ${WIDTH}`);
        }
        visit?.(row);
        let line = prefix + copyValue(row[0]);
        for (let i = 1; i < WIDTH; i++) line += '\t' + copyValue(row[i]);
        text += line + suffix;
        if (text.length >= CHUNK_CHARS) {
          out.push(text);
          text = '';
        }
      }
      count += batch.length;
      out.push(text);
      yield out;
    }
  };
  return checkCount(await copyFrom(client, copySql, texts()), count);
}

/**
 * COPY canonical CSV bytes as they are (`FORMAT csv`: an unquoted empty cell is NULL, a quoted one
 * the empty string, exactly CsvPart's convention). Returns the row count. If `parts` throws, the
 * COPY is aborted and the same error is rethrown (see copyFrom).
 */
export async function copyCsv(client: pg.PoolClient, copySql: string, parts: AsyncIterable<CsvPart>): Promise<number> {
  let count = 0;
  const chunks = async function* (): AsyncGenerator<Uint8Array[]> {
    for await (const part of parts) {
      count += part.rows;
      yield part.chunks;
    }
  };
  return checkCount(await copyFrom(client, copySql, chunks()), count);
}
