/**
 * One report request: status and content classification into ConnectorError kinds the sync
 * engine acts on (retry or stop), with timeouts for slow headers and stalled bodies. Every
 * error is built here from our own words: nothing from the HTTP stack that could quote the
 * URL (and so the token) reaches a message.
 */
import { request } from 'undici';
import { ConnectorError } from '../util/errors.js';
import { redact } from '../util/secrets.js';
import { requestUrl, type ReportSource } from './url.js';

export interface RequestOptions {
  /** Longest wait for the response headers (Rakuten can take minutes to build a report). */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks: a hung transfer. */
  bodyTimeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_TIMEOUT_MS = 120_000;

export interface ReportResponse {
  body: AsyncIterable<Uint8Array>;
  contentType: string;
  /** Abandon the transfer (error paths). */
  abort(): void;
}

export const TOKEN_HINT = 'token invalid or expired: regenerate the API URL in Rakuten ("Get API") and update the connector';

export async function openReport(src: ReportSource, start: string, end: string, opts: RequestOptions = {}): Promise<ReportResponse> {
  const url = requestUrl(src, start, end);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: { accept: 'text/csv, */*;q=0.5', 'user-agent': 'rakuten-connector' },
      headersTimeout: opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      bodyTimeout: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
      signal: opts.signal,
    });
  } catch (e) {
    throw transportError(e, 'connecting to');
  }
  // A body we abandon (error paths, aborts) errors out; nothing may surface as an unhandled event.
  res.body.on('error', () => undefined);
  const contentType = String(res.headers['content-type'] ?? '').toLowerCase();
  const status = res.statusCode;
  if (status >= 300) {
    const text = await readSome(res.body);
    throw statusError(status, contentType, text, res.headers['retry-after']);
  }
  if (contentType.includes('text/html')) {
    res.body.destroy();
    throw new ConnectorError('not_csv', 'Rakuten answered with an HTML page instead of the CSV report (maintenance or login page)', {
      hint: 'usually temporary; if it persists, open the API URL in a browser to see the page',
    });
  }
  if (contentType.includes('json')) {
    const text = await readSome(res.body);
    throw new ConnectorError('not_csv', `Rakuten answered with JSON instead of CSV: ${apiMessage(text) ?? 'no message'}`);
  }
  const body = res.body;
  return {
    contentType,
    abort: () => body.destroy(),
    body: (async function* () {
      try {
        for await (const chunk of body) yield chunk as Uint8Array;
      } catch (e) {
        throw transportError(e, 'reading the report from');
      }
    })(),
  };
}

async function readSome(body: AsyncIterable<unknown> & { destroy(): void }, limit = 64 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      const b = Buffer.from(c as Uint8Array);
      parts.push(b);
      size += b.length;
      if (size >= limit) break;
    }
  } catch {
    // the error body is informational only
  } finally {
    body.destroy();
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

function transportError(e: unknown, doing: string): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const code = (e as { code?: string }).code ?? '';
  const name = (e as { name?: string }).name ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new ConnectorError('timeout', `timed out waiting for Rakuten to answer`);
  if (code === 'UND_ERR_BODY_TIMEOUT') return new ConnectorError('timeout', `the report download stalled (no data before the timeout)`);
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED') return new ConnectorError('timeout', 'the request was aborted');
  if (doing.startsWith('reading')) return new ConnectorError('truncated', `the connection closed before the report was complete (${code || name || 'error'})`);
  return new ConnectorError('network', `network error ${doing} Rakuten (${code || name || 'error'})`);
}
