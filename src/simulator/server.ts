// node:http server (not hono) so faults can hang, truncate or reset sockets
// and the CSV body can be streamed with real backpressure.
import http from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { csvChunks, headerBlock, recycleChunk, totalRows, type CsvRequest } from './csv-format.js';
import { HUGE_DEFAULT_BYTES, LOGIN_HTML, MAINTENANCE_HTML, TRICKLE_DEFAULT_MS, validateFaultSpec, type FaultSpec } from './faults.js';
import { maskToken } from './fixtures.js';
import { isApiError, parseReportRequest, startIso, type ReportRequest } from './params.js';
import type { RequestLogEntry, SimState } from './state.js';

const REPORT_PATH = /^\/([A-Za-z]{2})\/reports\/([^/]+)\/filters\/?$/;
const MAX_ADMIN_BODY = 1 << 20;

/** Replace every token=... query value with its mask (log/requests() only ever see this). */
export function maskPath(raw: string): string {
  return raw.replace(/([?&]token=)([^&#]*)/gi, (_m, pre: string, v: string) => {
    let t = v;
    try {
      t = decodeURIComponent(v.replace(/\+/g, ' '));
    } catch {
      /* keep raw */
    }
    return pre + maskToken(t);
  });
}

/** Does an Accept-Encoding header allow gzip? (`gzip`, `x-gzip` or `*`, with q > 0) */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header ?? '';
  let star = false;
  for (const part of text.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (name.trim() === 'gzip' || name.trim() === 'x-gzip') return ok;
    if (name.trim() === '*') star = ok;
  }
  return star;
}

/** Report responses to send gzip-compressed (the simulator's gzip option and the request's Accept-Encoding). */
const gzipped = new WeakSet<http.ServerResponse>();

/** A small body in one piece, compressed when the response is gzipped. */
function sendWhole(res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, text: string): void {
  const gz = gzipped.has(res);
  const body = gz ? gzipSync(text) : Buffer.from(text);
  res.writeHead(status, { ...headers, 'Content-Length': body.length, ...(gz ? { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } : {}) });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  sendWhole(res, status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(body));
}

const apiError = (res: http.ServerResponse, status: number, code: string, message: string, headers?: http.OutgoingHttpHeaders): void =>
  sendJson(res, status, { errors: [{ code, message }] }, headers);

function sendText(res: http.ServerResponse, status: number, type: string, text: string): void {
  sendWhole(res, status, { 'Content-Type': type }, text);
}

/** Resolves after `ms`, or early if the response is closed (client gone / server closing). */
function sleep(ms: number, res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/**
 * Write chunks honouring backpressure: when write() returns false, wait for 'drain'.
 * Resolves once the last chunk has been flushed to the socket (or the response closed),
 * true if the response is still usable.
 */
async function pump(res: http.ServerResponse, chunks: Iterable<Buffer>): Promise<boolean> {
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  let flushed: Promise<void> = Promise.resolve();
  for (const chunk of chunks) {
    if (res.destroyed) return false;
    let onFlushed!: () => void;
    flushed = new Promise<void>((resolve) => (onFlushed = resolve));
    const ok = res.write(chunk, (err) => {
      if (!err) recycleChunk(chunk); // flushed to the kernel; never recycle on error (may still be queued)
      onFlushed();
    });
    if (!ok) await drained(res);
  }
  await Promise.race([flushed, closed]);
  return !res.destroyed;
}

const CSV_HEADERS = {
  'Content-Type': 'text/csv; charset=utf-8',
  'Content-Disposition': 'attachment; filename="report.csv"',
  'Cache-Control': 'no-store',
};

function csvRequestFor(state: SimState, r: ReportRequest): CsvRequest {
  return {
    ctx: state.ctx,
    key: { account: r.account.name, report: r.reportKey, dateType: r.dateType },
    columns: r.report.columns,
    reportName: r.report.name,
    from: r.from,
    to: r.to,
    today: state.today(),
    dateFormat: r.dateFormat,
    includeSummary: r.includeSummary,
    revisionOf: state.revisionOf(r.account.name, r.reportKey),
  };
}

/** The CSV body, streamed with backpressure; gzip-compressed (as a stream) when the response is gzipped. */
async function sendCsv(res: http.ServerResponse, chunks: Iterable<Buffer>): Promise<void> {
  if (gzipped.has(res)) {
    res.writeHead(200, { ...CSV_HEADERS, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' });
    // Chunks are not recycled here: zlib may still hold one after it was handed over.
    await new Promise<void>((resolve) => pipeline(Readable.from(chunks), createGzip(), res, () => resolve()));
    return;
  }
  res.writeHead(200, CSV_HEADERS);
  if (await pump(res, chunks)) res.end();
}

/** The whole normal CSV body of a request, copied out of the pooled chunks. */
function wholeCsv(state: SimState, r: ReportRequest): Buffer {
  return Buffer.concat([...csvChunks(csvRequestFor(state, r))]);
}

/**
 * 'huge': the header, then the request's rows (at most 2000 of them) over and over until `size`
 * bytes: valid-looking CSV (rows repeat, all dated inside the window), generated on the fly in
 * 1 MiB blocks (never held in memory), ending after a whole row.
 */
function* hugeChunks(state: SimState, r: ReportRequest, size: number): Generator<Buffer> {
  const req = csvRequestFor(state, r);
  const head = Buffer.from(headerBlock(req));
  // Days after "today" get rows too (as if they had happened), so the body is valid for any window.
  const rowsReq = { ...req, today: Math.max(req.today, req.to), maxRows: 2000 };
  let rows = Buffer.concat([...csvChunks(rowsReq)]).subarray(Buffer.byteLength(headerBlock(rowsReq)));
  // A day the generator gives no rows at all: blank lines, which a CSV reader skips.
  if (rows.length === 0) rows = Buffer.from('\r\n'.repeat(4096));
  const block = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / rows.length)) }, () => rows));
  yield head;
  for (let sent = head.length; sent < size; sent += block.length) yield block;
}

/** 'badgzip': gzip of the first half of the body, then a second gzip member whose data is not deflate. */
function badGzip(csv: Buffer): Buffer {
  const first = gzipSync(csv.subarray(0, Math.floor(csv.length / 2)));
  // gzip member header, then a deflate block of the reserved type 3 (BFINAL=1, BTYPE=11): "invalid block type".
  const broken = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff, 0x07, 0xff, 0xff, 0xff, 0xff]);
  return Buffer.concat([first, broken]);
}

async function serveReport(state: SimState, r: ReportRequest, fault: FaultSpec | undefined, res: http.ServerResponse, req: http.IncomingMessage): Promise<void> {
  switch (fault?.kind) {
    case '429': {
      const s = fault.retryAfterSec ?? 1;
      return apiError(res, 429, 'RATE_LIMIT_EXCEEDED', `Too many requests. Retry after ${s} seconds.`, { 'Retry-After': String(s) });
    }
    case '500':
      return apiError(res, 500, 'INTERNAL_SERVER_ERROR', 'An unexpected error occurred.');
    case '502':
      return sendText(res, 502, 'text/plain; charset=utf-8', 'Bad Gateway');
    case '503':
      return sendText(res, 503, 'text/html; charset=utf-8', MAINTENANCE_HTML);
    case 'html':
      return sendText(res, 200, 'text/html; charset=utf-8', LOGIN_HTML);
    case 'reset':
      // RST rather than FIN, like a proxy dropping the connection.
      req.socket.resetAndDestroy();
      return;
    case 'hang':
      // Never answer; the socket stays open until the client gives up or close() destroys it.
      return;
    case 'slow':
      await sleep(fault.delayMs ?? 1500, res);
      if (res.destroyed) return;
      break;
    case 'trickle': {
      // The whole valid body, one byte per delayMs: never silent for long, never done soon.
      const csv = wholeCsv(state, r);
      const gz = gzipped.has(res);
      const body = gz ? gzipSync(csv) : csv;
      res.writeHead(200, { ...CSV_HEADERS, ...(gz ? { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } : {}) });
      const every = fault.delayMs ?? TRICKLE_DEFAULT_MS;
      for (let i = 0; i < body.length && !res.destroyed; i++) {
        res.write(body.subarray(i, i + 1));
        await sleep(every, res);
      }
      if (!res.destroyed) res.end();
      return;
    }
    case 'huge':
      return sendCsv(res, hugeChunks(state, r, fault.sizeBytes ?? HUGE_DEFAULT_BYTES));
    case 'badgzip': {
      // Whatever the request accepts: a server (or proxy) whose compression is broken.
      const body = badGzip(wholeCsv(state, r));
      res.writeHead(200, { ...CSV_HEADERS, 'Content-Encoding': 'gzip', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    case 'truncate': {
      const csvReq = csvRequestFor(state, r);
      const rows = totalRows(csvReq);
      res.writeHead(200, CSV_HEADERS);
      if (rows >= 2) {
        await pump(res, csvChunks({ ...csvReq, maxRows: Math.floor(rows / 2) }));
      } else {
        const head = Buffer.from(headerBlock(csvReq));
        await pump(res, [head.subarray(0, Math.floor(head.length / 2))]);
      }
      // Data is flushed; drop the socket without the terminating zero-length chunk.
      res.destroy();
      return;
    }
    default:
      break;
  }
  return sendCsv(res, csvChunks(csvRequestFor(state, r)));
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMIN_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else parts.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch {
        reject(new Error('body must be JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** Test-only control plane; not logged in requests(). */
async function admin(state: SimState, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/$/, '')}`;
  try {
    switch (route) {
      case 'POST /__admin/faults': {
        const body = (await readBody(req)) as { faults?: unknown };
        if (!Array.isArray(body.faults)) throw new Error('expected {faults: FaultSpec[]}');
        const faults = body.faults.map(validateFaultSpec);
        state.faults.add(faults);
        return sendJson(res, 200, { ok: true, added: faults.length });
      }
      case 'DELETE /__admin/faults':
        state.faults.clear();
        return sendJson(res, 200, { ok: true });
      case 'POST /__admin/restate': {
        const b = (await readBody(req)) as Record<string, unknown>;
        const str = (k: string): string | undefined => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
        const from = str('from');
        const to = str('to');
        if (!from || !to) throw new Error('expected {token?, report?, from, to}');
        const opts: { token?: string; report?: string; from: string; to: string } = { from, to };
        const token = str('token');
        const report = str('report');
        if (token !== undefined) opts.token = token;
        if (report !== undefined) opts.report = report;
        state.restate(opts);
        return sendJson(res, 200, { ok: true });
      }
      case 'GET /__admin/totals': {
        const q = url.searchParams;
        const dateType = q.get('date_type') ?? 'transaction';
        if (dateType !== 'transaction' && dateType !== 'process') throw new Error('date_type must be transaction or process');
        const days = state.totals({
          token: q.get('token') ?? '',
          report: q.get('report') ?? '',
          from: q.get('from') ?? '',
          to: q.get('to') ?? '',
          dateType,
        });
        return sendJson(res, 200, { days });
      }
      case 'GET /__admin/stats':
        return sendJson(res, 200, {
          faults: state.faults.countsByKind(),
          requests: state.reportRequests,
          rss: process.memoryUsage.rss(),
        });
      case 'GET /__admin/requests':
        return sendJson(res, 200, { requests: state.requests() });
      default:
        return apiError(res, 404, 'NOT_FOUND', `No admin route ${route}`);
    }
  } catch (e) {
    return apiError(res, 400, 'BAD_REQUEST', e instanceof Error ? e.message : String(e));
  }
}

async function handle(state: SimState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  const url = new URL(raw, 'http://simulator.invalid');
  if (url.pathname.startsWith('/__admin/')) return admin(state, req, res, url);

  state.reportRequests++;
  const t0 = performance.now();
  const entry: RequestLogEntry = { method: req.method ?? 'GET', path: maskPath(raw), status: 0, ms: 0 };
  res.once('close', () => {
    entry.status = res.headersSent ? res.statusCode : 0;
    entry.ms = Math.round((performance.now() - t0) * 10) / 10;
    if (!res.writableFinished) entry.aborted = true;
    state.record(entry);
  });

  if (state.gzip && acceptsGzip(req.headers['accept-encoding'])) gzipped.add(res);
  const m = REPORT_PATH.exec(url.pathname);
  if (!m) return apiError(res, 404, 'NOT_FOUND', 'Unknown endpoint.');
  if (req.method !== 'GET') return apiError(res, 405, 'METHOD_NOT_ALLOWED', 'Only GET is supported.', { Allow: 'GET' });
  req.resume();

  let reportKey = m[2] as string;
  try {
    reportKey = decodeURIComponent(reportKey);
  } catch {
    /* malformed escape: keep raw, it will simply not match a report */
  }
  const parsed = parseReportRequest(state, url, reportKey, req.headers.authorization);
  if (isApiError(parsed)) return apiError(res, parsed.status, parsed.code, parsed.message);

  // Faults are only consumed by valid requests, so a test's queued fault can't be eaten by a typo'd request.
  const fault = state.faults.take({ token: parsed.token, report: parsed.reportKey, startDate: startIso(parsed) });
  if (fault) entry.fault = fault.kind;
  await serveReport(state, parsed, fault, res, req);
}

export function createSimServer(state: SimState): http.Server {
  const server = http.createServer((req, res) => {
    handle(state, req, res).catch(() => {
      if (!res.headersSent) apiError(res, 500, 'INTERNAL_SERVER_ERROR', 'An unexpected error occurred.');
      else res.destroy();
    });
  });
  return server;
}
