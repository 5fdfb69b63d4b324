/**
 * One window of a report, fetched and read: open the request (client.ts), read its body in the
 * form the consumer asked for (report-reader.ts), hand it over, and abandon the transfer when the
 * consumer fails or stops early. The sync engine (consumer: the warehouse) and Save & Test
 * (consumer: a row count) both go through here, so the sequence is written once.
 */
import type { CsvStamp, ReportBody, ReportBodyFormat } from '../model/report-body.js';
import { openReport, type RequestOptions } from '../rakuten/client.js';
import { type ReadOptions, readReport, type ReportBodyOf } from '../rakuten/report-reader.js';
import type { ReportSource } from '../rakuten/url.js';

export interface WindowFetch<F extends ReportBodyFormat> {
  source: ReportSource;
  /** Inclusive ISO days. */
  start: string;
  end: string;
  /** How the consumer wants the rows (a warehouse with `capabilities.canonicalCsv` takes 'canonical-csv'). */
  format: F;
  /** Timeouts, limits and the abort signal of the request. */
  request?: RequestOptions;
  /** Called once with the report's header mapping, before the first row. */
  onHeader?: ReadOptions['onHeader'];
  /**
   * Called once when the transfer is over: as soon as the body has been read to its end (the
   * consumer may still be busy with what it read, e.g. waiting for a commit), otherwise when
   * fetchWindow settles.
   */
  onBodyDone?: () => void;
}

/**
 * Fetch the window and give its body to `consume`, which reads it once (reading throws on a bad or
 * broken report). Resolves with what `consume` resolves with. Errors from opening the request
 * (status, content type, network) reject before `consume` is called. Whatever `consume` does, the
 * transfer is over when this settles: read to its end, or abandoned (consumer threw, or returned
 * without reading it all).
 */
export async function fetchWindow<F extends ReportBodyFormat, T>(w: WindowFetch<F>, consume: (body: ReportBodyOf<F>) => Promise<T>): Promise<T> {
  let done = false;
  const bodyDone = (): void => {
    if (done) return;
    done = true;
    w.onBodyDone?.();
  };
  let res: Awaited<ReturnType<typeof openReport>>;
  try {
    res = await openReport(w.source, w.start, w.end, w.request);
  } catch (e) {
    bodyDone();
    throw e;
  }
  try {
    const body = readReport(res.body, {
      dateFormat: w.source.dateFormat, dateType: w.source.dateType, start: w.start, end: w.end, onHeader: w.onHeader,
    }, w.format);
    return await consume(w.onBodyDone ? watchEnd(body, bodyDone) : body);
  } finally {
    // A body read to its end has already closed everything: then this does nothing.
    res.abort();
    bodyDone();
  }
}

/**
 * The same body, calling `end` once it has been read to its end. A body that fails or is left
 * early is over only when the consumer settles (fetchWindow's finally), so the sync has seen the
 * failure before the next window can start.
 */
function watchEnd<F extends ReportBodyFormat>(body: ReportBodyOf<F>, end: () => void): ReportBodyOf<F> {
  async function* watched<T>(items: AsyncIterable<T>): AsyncGenerator<T> {
    yield* items;
    end();
  }
  const b = body as ReportBody;
  const stamped = b.format === 'canonical-csv' ? b.stamped : undefined;
  const out: ReportBody = b.format === 'rows'
    ? { format: 'rows', batches: watched(b.batches) }
    : { format: 'canonical-csv', parts: watched(b.parts), ...(stamped ? { stamped: (s: CsvStamp) => watched(stamped(s)) } : {}) };
  return out as ReportBodyOf<F>;
}
