/**
 * Streams report rows into `COPY … FROM STDIN` (text format) on a client that is already inside a
 * transaction. Text format rather than CSV: it distinguishes NULL (`\N`) from the empty string,
 * and only four characters ever need escaping, so the common value is appended as is.
 */
import { once } from 'node:events';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
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
 * COPY the rows, each framed by `prefix` and `suffix` (already encoded constant columns, e.g. the
 * window's connector / synced_at / sync_id). Returns the row count. The COPY statement is only sent
 * once the first row exists, so an empty window costs nothing. If `rows` throws, the COPY is
 * aborted with CopyFail (the connection stays usable for ROLLBACK) and the same error is rethrown.
 */
export async function copyRows(
  client: pg.PoolClient,
  copySql: string,
  rows: AsyncIterable<ReportRow[]>,
  prefix: string,
  suffix: string,
  visit?: (row: ReportRow) => void,
): Promise<number> {
  let stream: ReturnType<typeof copyStreams.from> | undefined;
  let streamError: Error | undefined;
  let failed: Promise<never> | undefined;
  let count = 0;

  const write = async (text: string): Promise<void> => {
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
    if (!stream.write(text)) await Promise.race([once(stream, 'drain'), failed!]);
  };

  /** Where an error can come from: the source ('pull') or our own encoding/COPY. */
  let phase: 'pull' | 'push' | 'finish' = 'pull';
  try {
    // for-await: if COPY fails mid-way, the source's return() runs (e.g. the download is aborted).
    for await (const batch of rows) {
      phase = 'push';
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
          await write(text);
          text = '';
        }
      }
      count += batch.length;
      if (text) await write(text);
      phase = 'pull';
    }
    phase = 'finish';
    if (stream) {
      const s = stream;
      s.end();
      // 'finish' fires after the server's CommandComplete + ReadyForQuery: the rows are in.
      await Promise.race([once(s, 'finish'), failed!]);
      if (s.rowCount !== count) throw new Error(`COPY reported ${s.rowCount} rows, ${count} were sent`);
    }
    return count;
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
