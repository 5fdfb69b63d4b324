/**
 * One report request: status and content classification into ConnectorError kinds the sync
 * engine acts on (retry or stop), with limits a server cannot get around: slow headers, a
 * stalled body, a total deadline per request (a body trickling a byte at a time ends too) and a
 * maximum body size (counted after decompression, so nothing downstream ever sees more). Bodies
 * may be compressed (gzip, deflate, br): they are decoded as a stream. Every error is built here
 * from our own words: nothing from the HTTP stack that could quote the URL (and so the token)
 * reaches a message.
 */
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { request } from 'undici';
import { ConnectorError } from '../util/errors.js';
import { redact } from '../util/secrets.js';
import { requestUrl, type ReportSource } from './url.js';

export interface RequestOptions {
  /** Longest wait for the response headers (Rakuten can take minutes to build a report). */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks: a hung transfer. */
  bodyTimeoutMs?: number;
  /** Longest time for one request, from sending it to the last byte of the body: a body that trickles ends too. */
  deadlineMs?: number;
  /** Largest body of one request (one window), in bytes after decompression. */
  maxBodyBytes?: number;
  /** Save & Test only: the longest it may take in all, across its attempts and the waits between them. */
  testDeadlineMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_TIMEOUT_MS = 120_000;
/** 30 minutes: far more than any day of any real report takes. */
export const DEFAULT_REQUEST_DEADLINE_MS = 30 * 60_000;
/** 1 GiB per window: orders of magnitude above a real day of affiliate transactions. */
export const DEFAULT_MAX_BODY_BYTES = 1024 ** 3;
/** A user is waiting for Save & Test. */
export const DEFAULT_TEST_DEADLINE_MS = 60_000;

/** The settings (environment variables, see src/util/config.ts) that raise the limits; named in the errors. */
export const DEADLINE_SETTING = 'RAKUTEN_REQUEST_DEADLINE_MS';
/** In MiB. */
export const MAX_BODY_SETTING = 'RAKUTEN_MAX_REPORT_MB';

export const ACCEPT_ENCODING = 'gzip, deflate, br';

export interface ReportResponse {
  body: AsyncIterable<Uint8Array>;
  contentType: string;
  /** Abandon the transfer (error paths). */
  abort(): void;
}

export const TOKEN_HINT = 'token invalid or expired: regenerate the API URL in Rakuten ("Get API") and update the connector';

export async function openReport(src: ReportSource, start: string, end: string, opts: RequestOptions = {}): Promise<ReportResponse> {
  const url = requestUrl(src, start, end);
  const deadlineMs = opts.deadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS;
  const maxBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const outer = opts.signal;

  // One signal for undici and our streams: the caller's abort or our deadline.
  const ctl = new AbortController();
  const streams: Array<{ destroy(err?: Error): void }> = [];
  let expired = false;
  const stop = (reason: unknown) => {
    ctl.abort(reason);
    for (const s of streams) s.destroy();
  };
  let settled = false;
  const timer = setTimeout(() => {
    expired = true;
    stop(deadlineError(deadlineMs));
    settle();
  }, deadlineMs);
  timer.unref?.();
  const onOuterAbort = () => stop(outer?.reason);
  const settle = () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  };
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  /** Our words for whatever went wrong, the deadline and the caller's abort first. */
  const failure = (e: unknown, doing: string): ConnectorError => {
    if (expired) return deadlineError(deadlineMs);
    if (outer?.aborted) return outer.reason instanceof ConnectorError ? outer.reason : new ConnectorError('timeout', 'the request was aborted');
    return transportError(e, doing);
  };

  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: { accept: 'text/csv, */*;q=0.5', 'accept-encoding': ACCEPT_ENCODING, 'user-agent': 'rakuten-connector' },
      headersTimeout: opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      bodyTimeout: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
      signal: ctl.signal,
    });
  } catch (e) {
    settle();
    throw failure(e, 'connecting to');
  }
  // A body we abandon (error paths, aborts) errors out; nothing may surface as an unhandled event.
  const raw = res.body;
  raw.on('error', () => undefined);
  streams.push(raw);
  if (ctl.signal.aborted) raw.destroy();
  const contentType = String(res.headers['content-type'] ?? '').toLowerCase();
  const encoding = res.headers['content-encoding'];
  const status = res.statusCode;
  const settleAfter = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } finally {
      settle();
    }
  };
  if (status >= 300) {
    const text = await settleAfter(readSome(raw, encoding));
    throw statusError(status, contentType, text, res.headers['retry-after']);
  }
  if (contentType.includes('text/html')) {
    settle();
    raw.destroy();
    throw new ConnectorError('not_csv', 'Rakuten answered with an HTML page instead of the CSV report (maintenance or login page)', {
      hint: 'usually temporary; if it persists, open the API URL in a browser to see the page',
    });
  }
  if (contentType.includes('json')) {
    const text = await settleAfter(readSome(raw, encoding));
    throw new ConnectorError('not_csv', `Rakuten answered with JSON instead of CSV: ${apiMessage(text) ?? 'no message'}`);
  }
  let body: Readable;
  try {
    body = decoded(raw, encoding, streams);
  } catch (e) {
    settle();
    raw.destroy();
    throw e;
  }
  const abandon = () => {
    settle();
    for (const s of streams) s.destroy();
  };
  return {
    contentType,
    abort: abandon,
    body: (async function* () {
      let size = 0;
      try {
        for await (const chunk of body) {
          const bytes = chunk as Uint8Array;
          size += bytes.length;
          if (size > maxBytes) throw tooLargeError(maxBytes, start, end);
          yield bytes;
        }
      } catch (e) {
        throw e instanceof ConnectorError ? e : failure(e, 'reading the report from');
      } finally {
        // Done, failed or abandoned by the consumer: nothing stays open, no timer stays armed.
        abandon();
      }
    })(),
  };
}

type Headers = string | string[] | undefined;

/**
 * The body with its Content-Encoding undone, as a stream (backpressure kept, memory bounded).
 * Decoders are added to `streams` so an abort or the deadline destroys them too.
 */
function decoded(raw: Readable, encoding: Headers, streams: Array<{ destroy(err?: Error): void }>): Readable {
  const codings = (Array.isArray(encoding) ? encoding.join(',') : encoding ?? '')
    .split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  if (codings.length === 0) return raw;
  // Applied in the order listed, so undone in reverse.
  const decoders = codings.reverse().map((c) => {
    if (c === 'gzip' || c === 'x-gzip') return createGunzip();
    if (c === 'deflate') return createInflate();
    if (c === 'br') return createBrotliDecompress();
    throw new ConnectorError('not_csv', `Rakuten answered with an unsupported content encoding "${c.replace(/[^\w.+-]/g, '?').slice(0, 40)}"`);
  });
  for (const d of decoders) {
    d.on('error', () => undefined);
    streams.push(d);
  }
  const last = decoders[decoders.length - 1]!;
  // pipeline destroys every stream when one fails; the error reaches whoever reads the last one.
  pipeline([raw, ...decoders], () => undefined);
  return last;
}

/** The start of an error body, decoded, for its message; never more than `limit` bytes held. */
async function readSome(raw: Readable, encoding: Headers, limit = 64 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const streams: Array<{ destroy(err?: Error): void }> = [raw];
  try {
    for await (const c of decoded(raw, encoding, streams)) {
      const b = Buffer.from(c as Uint8Array);
      parts.push(b);
      size += b.length;
      if (size >= limit) break;
    }
  } catch {
    // the error body is informational only
  } finally {
    for (const s of streams) s.destroy();
  }
  return Buffer.concat(parts).toString('utf8').slice(0, limit);
}

/** The message of a Rakuten JSON error body, redacted. */
function apiMessage(text: string): string | undefined {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const errs = (j.errors ?? j.error ?? j.message) as unknown;
    const first = Array.isArray(errs) ? errs[0] : errs;
    const msg = typeof first === 'string' ? first
      : first && typeof first === 'object' ? String((first as Record<string, unknown>).message ?? (first as Record<string, unknown>).error_message ?? JSON.stringify(first))
      : undefined;
    return msg ? redact(msg).slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

function statusError(status: number, contentType: string, text: string, retryAfter: string | string[] | undefined): ConnectorError {
  const detail = contentType.includes('json') ? apiMessage(text) : undefined;
  const suffix = detail ? `: ${detail}` : '';
  if (status === 401 || status === 403) return new ConnectorError('auth', `Rakuten rejected the token (HTTP ${status})${suffix}`, { hint: TOKEN_HINT });
  if (status === 404) return new ConnectorError('not_found', `Rakuten does not know this report (HTTP 404)${suffix}`, {
    hint: 'check the report key, or save the report again in Rakuten and copy its API URL',
  });
  if (status === 429) {
    return new ConnectorError('rate_limited', `Rakuten rate limit reached (HTTP 429)`, { retryAfterSec: parseRetryAfter(retryAfter) });
  }
  if (status >= 500) {
    const html = contentType.includes('html') ? ' (maintenance page)' : '';
    return new ConnectorError('server', `Rakuten server error (HTTP ${status})${html}${suffix}`);
  }
  if (status >= 300 && status < 400) return new ConnectorError('not_found', `Rakuten redirected the request (HTTP ${status})`, {
    hint: 'the report URL is out of date: copy the API URL again',
  });
  return new ConnectorError('bad_request', `Rakuten refused the request (HTTP ${status})${suffix}`, {
    hint: 'check the report URL parameters (dates, date_type, date_format)',
  });
}

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const n = Number(s);
  if (Number.isFinite(n) && n >= 0) return n;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, (t - Date.now()) / 1000);
}

/** 90 s, 30 min, 2 h 5 min. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return ms < 1000 ? `${Math.round(ms)} ms` : `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** 1 GiB, 512 MiB, 300 KiB, 100 bytes. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) {
      const v = n / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${n} bytes`;
}

function deadlineError(ms: number): ConnectorError {
  return new ConnectorError('timeout', `the report did not arrive in full within ${formatDuration(ms)} (${DEADLINE_SETTING})`, {
    hint: `Rakuten sent the report too slowly; if such slow reports are expected, raise ${DEADLINE_SETTING} (now ${ms})`,
  });
}

function tooLargeError(max: number, start: string, end: string): ConnectorError {
  const days = start === end ? start : `${start}..${end}`;
  return new ConnectorError('data', `the report for ${days} is larger than ${formatBytes(max)}, the limit per request (${MAX_BODY_SETTING})`, {
    hint: `raise ${MAX_BODY_SETTING} (in MiB, now ${Number((max / 1024 ** 2).toFixed(3))}); nothing of this window was saved`,
  });
}

/** zlib and brotli failures: the compressed body is corrupt or cut short. */
function isDecodeError(e: unknown): boolean {
  const code = String((e as { code?: unknown }).code ?? '');
  return /^Z_/.test(code) || /^ERR__ERROR|BROTLI/.test(code);
}

function transportError(e: unknown, doing: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const code = (e as { code?: string }).code ?? '';
  const name = (e as { name?: string }).name ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new ConnectorError('timeout', `timed out waiting for Rakuten to answer`);
  if (code === 'UND_ERR_BODY_TIMEOUT') return new ConnectorError('timeout', `the report download stalled (no data before the timeout)`);
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED') return new ConnectorError('timeout', 'the request was aborted');
  if (isDecodeError(e)) return new ConnectorError('truncated', `the compressed report is corrupt or incomplete (${code})`);
  if (doing.startsWith('reading')) return new ConnectorError('truncated', `the connection closed before the report was complete (${code || name || 'error'})`);
  return new ConnectorError('network', `network error ${doing} Rakuten (${code || name || 'error'})`);
}
