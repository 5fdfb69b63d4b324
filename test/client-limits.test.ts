/**
 * The report client's limits and decoding against real HTTP servers on 127.0.0.1:
 * - a total deadline per request (a body trickling a byte at a time ends), and Save & Test's own
 *   deadline across its attempts;
 * - a maximum body size per request, counted after decompression, so nothing downstream (the
 *   DuckDB temporary file) ever holds more;
 * - gzip / deflate / br bodies decoded as a stream, for reports and for error messages; a corrupt
 *   compressed body is a retryable 'truncated' error;
 * - fetchWindow (open → read → hand over) abandons the transfer when its consumer fails or stops early.
 * The servers are hand-written here (plus the simulator behind a compressing proxy), so the tests
 * run unchanged against any version of the client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, createBrotliCompress, createDeflate, createGzip, deflateSync, gzipSync } from 'node:zlib';
import { openReport } from '../src/rakuten/client.js';
import { readReport } from '../src/rakuten/report-reader.js';
import type { ReportSource } from '../src/rakuten/url.js';
import { saveAndTestChecks } from '../src/app/save-and-test.js';
import { fetchWindow } from '../src/sync/fetch-window.js';
import { COLUMN_INDEX, type ReportRow } from '../src/model/schema.js';
import { ConnectorError } from '../src/util/errors.js';
import { toUnits } from '../src/util/decimal.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { ACME_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { tempHome } from './helpers/targets.js';

const TOKEN = 'tok_limits_9999888877776605';
const HEADER = 'Transaction Date,# of Impressions,# of Clicks,# of Orders,Gross Commissions,Total Commission,Sales,Order ID,Sub-Publisher ID,Sub-Publisher Name,Sub-Publisher URL,Publisher Group ID,Publisher Group Name,Publisher ID,Publisher Name,Publisher URL,Offer ID,Offer Name,Link ID,Link Name';
const DAY = '2026-01-05';

function rowFor(day: string, n: number): string {
  const [y, m, d] = day.split('-');
  return `${+m!}/${+d!}/${y!.slice(2)},100,10,1,1.00,1.10,20.00,O-${day}-${n},,,,1,G,42,Pub,https://p,7,Offer,9,Link\r\n`;
}

function sourceFor(origin: string, reportKey = 'r', token = TOKEN): ReportSource {
  return { origin, lang: 'en', reportKey, token, tz: 'GMT', dateType: 'transaction', dateFormat: 'm/d/yy', includeSummary: false, extraParams: [] };
}

/** A server on 127.0.0.1:0; closing it drops every open connection (trickling ones included). */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    Promise.resolve(handler(req, res, url)).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

/** The promise, or a failure once `ms` have passed: a test never waits for a server that never stops. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or at once when the response closes. */
const pause = (ms: number, res: ServerResponse): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(done, ms);
  function done(): void {
    clearTimeout(t);
    res.off('close', done);
    resolve();
  }
  res.once('close', done);
});

/** Write with backpressure; false once the client is gone. */
async function write(res: ServerResponse, chunk: Buffer | string): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.once('drain', done);
      res.once('close', done);
    });
  }
  return !res.destroyed;
}

/** Read a whole response through the client and the CSV reader (fetchWindow, as a sync does). */
async function readAll(src: ReportSource, start: string, end: string, opts: Parameters<typeof openReport>[3] = {}): Promise<ReportRow[]> {
  const rows: ReportRow[] = [];
  await fetchWindow({ source: src, start, end, format: 'rows', request: opts }, async (body) => {
    for await (const batch of body.batches) rows.push(...batch);
  });
  return rows;
}

/** A ConnectorError of `kind` whose message matches, and that shows no token. */
function connectorError(kind: string, message: RegExp, retryable?: boolean) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ConnectorError, `a ConnectorError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, message);
    if (retryable !== undefined) assert.equal(e.retryable, retryable, `retryable: ${e.message}`);
    for (const t of [TOKEN, ACME_TOKEN, 'token=']) {
      assert.ok(!e.message.includes(t) && !(e.hint ?? '').includes(t), `no token or URL in "${e.message}" / "${e.hint}"`);
    }
    return true;
  };
}

const servers: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('slow and endless bodies', () => {
  let trickle: string;
  before(async () => {
    // A valid CSV, one byte every 20 ms, for up to 10 minutes (or until the client leaves).
    const s = await serve(async (req, res, url) => {
      if (url.pathname.includes('/hang/')) return; // never answers
      const day = url.searchParams.get('start_date') ?? DAY;
      res.writeHead(200, { 'content-type': 'text/csv' });
      let body = `\uFEFF${HEADER}\r\n`;
      for (let n = 0; body.length < 30_000; n++) body += rowFor(day, n);
      const bytes = Buffer.from(body);
      for (let i = 0; i < bytes.length && !res.destroyed; i++) {
        await write(res, bytes.subarray(i, i + 1));
        await pause(20, res);
      }
      res.end();
    });
    servers.push(s);
    trickle = s.url;
  });

  test('a body trickling 1 byte per 20 ms fails with the deadline error once the request deadline passes', async () => {
    const t0 = Date.now();
    await within(15_000, assert.rejects(readAll(sourceFor(trickle), DAY, DAY, { deadlineMs: 1000 }),
      connectorError('timeout', /did not arrive in full within 1 s.*RAKUTEN_REQUEST_DEADLINE_MS/, true)), 'trickled request');
    assert.ok(Date.now() - t0 < 15_000);
  });

  test('the deadline also bounds the wait for headers', async () => {
    await within(15_000, assert.rejects(readAll(sourceFor(trickle, 'hang'), DAY, DAY, { deadlineMs: 800 }),
      connectorError('timeout', /within 800 ms/, true)), 'hung request');
  });

  test('Save & Test gives up within its own deadline against a trickling server, across its attempts', async () => {
    const t0 = Date.now();
    const report = await within(20_000, saveAndTestChecks(sourceFor(trickle), { request: { testDeadlineMs: 2000 } }), 'Save & Test');
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(report.ok, false);
    const failed = report.checks.find((c) => c.ok === false);
    assert.equal(failed?.id, 'csv', 'the server answered: the body is what failed');
    assert.match(failed!.detail, /Save & Test gave up after 2 s/);
    assert.match(failed!.hint ?? '', /try Save & Test again later/);
    assert.ok(!JSON.stringify(report.checks).includes(TOKEN));
  });

  test('Save & Test: a server that never answers is given up on within the deadline too', async () => {
    const report = await within(20_000, saveAndTestChecks(sourceFor(trickle, 'hang'), { request: { testDeadlineMs: 1500 } }), 'Save & Test');
    assert.equal(report.ok, false);
    const failed = report.checks.find((c) => c.ok === false);
    assert.equal(failed?.id, 'reachable');
    assert.match(failed!.detail, /Save & Test gave up after 2 s/);
  });
});

describe('body size limit', () => {
  let huge: string;
  let sent = 0;
  let finished = false;
  /** Settles when the server's last plain response has stopped writing. */
  let served: Promise<void> = Promise.resolve();
  const LIMIT = 1024 * 1024;
  const SERVER_MAX = 32 * 1024 * 1024;
  before(async () => {
    // A valid CSV that goes on for 32 MiB (plain), or 8 MiB squeezed into a few KiB of gzip.
    const s = await serve(async (_req, res, url) => {
      const day = url.searchParams.get('start_date') ?? DAY;
      let block = '';
      for (let n = 0; block.length < 64 * 1024; n++) block += rowFor(day, n);
      const head = Buffer.from(`\uFEFF${HEADER}\r\n`);
      const rows = Buffer.from(block);
      if (url.pathname.includes('/bomb/')) {
        res.writeHead(200, { 'content-type': 'text/csv', 'content-encoding': 'gzip' });
        res.end(gzipSync(Buffer.concat([head, ...Array.from({ length: 128 }, () => rows)])));
        return;
      }
      sent = 0;
      finished = false;
      let stopped!: () => void;
      served = new Promise<void>((r) => (stopped = r));
      res.writeHead(200, { 'content-type': 'text/csv' });
      await write(res, head);
      while (sent < SERVER_MAX && (await write(res, rows))) sent += rows.length;
      finished = sent >= SERVER_MAX;
      res.end();
      stopped();
    });
    servers.push(s);
    huge = s.url;
  });

  test('a body larger than maxBodyBytes fails naming the limit and the setting; no more than the limit is passed on', async () => {
    const res = await within(30_000, openReport(sourceFor(huge), DAY, DAY, { maxBodyBytes: LIMIT }), 'open');
    let passed = 0;
    const counted = (async function* () {
      for await (const c of res.body) {
        passed += c.length;
        yield c;
      }
    })();
    await within(30_000, assert.rejects(async () => {
      for await (const _ of readReport(counted, { dateFormat: 'm/d/yy', dateType: 'transaction', start: DAY, end: DAY }, 'rows').batches) { /* rows */ }
    }, connectorError('data', /larger than 1 MiB.*RAKUTEN_MAX_REPORT_MB/, false)), 'read');
    res.abort();
    assert.ok(passed <= LIMIT, `passed on ${passed} bytes`);
    await within(10_000, served, 'server');
    assert.equal(finished, false, `the download was cut off, not read to its end (server sent ${sent} bytes)`);
  });

  test('a sync window into DuckDB stops at the limit: the temporary file never grows past it', async () => {
    const home = tempHome('rc-limits-');
    const db = await openWarehouse(`duckdb:${join(home, 'w.duckdb')}`, home);
    const tmp = join(home, 'tmp');
    let biggest = 0;
    const watch = setInterval(() => {
      try {
        for (const f of readdirSync(tmp)) biggest = Math.max(biggest, statSync(join(tmp, f)).size);
      } catch {
        /* the file may be gone between the listing and the stat */
      }
    }, 5);
    try {
      assert.equal(db.warehouse.capabilities.canonicalCsv, true, 'DuckDB is handed canonical CSV, as the engine does');
      await within(60_000, assert.rejects(
        fetchWindow({ source: sourceFor(huge), start: DAY, end: DAY, format: 'canonical-csv', request: { maxBodyBytes: LIMIT } },
          (body) => db.warehouse.replaceWindow({ connector: 'c', start: DAY, end: DAY, syncId: 'run-1', syncedAt: new Date(), currency: 'USD' }, body)),
        connectorError('data', /larger than 1 MiB/, false),
      ), 'replaceWindow');
      assert.deepEqual(await db.warehouse.dayTotals('c', DAY, DAY), [], 'nothing of the window was committed');
    } finally {
      clearInterval(watch);
      await db.close();
    }
    assert.ok(biggest <= 2 * LIMIT, `temporary file reached ${biggest} bytes`);
  });

  test('fetchWindow abandons the transfer when its consumer returns early or fails without reading it all', async () => {
    for (const stop of ['return', 'throw', 'one batch'] as const) {
      const boom = new Error('consumer failed');
      const got = fetchWindow({ source: sourceFor(huge), start: DAY, end: DAY, format: 'rows' }, async (body) => {
        if (stop === 'throw') throw boom;
        if (stop === 'one batch') for await (const _ of body.batches) break;
        return stop;
      });
      if (stop === 'throw') await within(30_000, assert.rejects(got, (e) => e === boom), stop);
      else assert.equal(await within(30_000, got, stop), stop);
      await within(10_000, served, `server (${stop})`);
      assert.equal(finished, false, `${stop}: the download was cut off (server sent ${sent} bytes)`);
    }
  });

  test('the limit counts bytes after decompression (8 MiB of CSV in a small gzip body)', async () => {
    await within(30_000, assert.rejects(readAll(sourceFor(huge, 'bomb'), DAY, DAY, { maxBodyBytes: LIMIT }),
      connectorError('data', /larger than 1 MiB/, false)), 'gzip bomb');
  });

  test('Save & Test reports a too large answer on the rows check, with the setting to raise', async () => {
    const report = await within(30_000, saveAndTestChecks(sourceFor(huge), { request: { maxBodyBytes: LIMIT } }), 'Save & Test');
    assert.equal(report.ok, false);
    const failed = report.checks.find((c) => c.ok === false);
    assert.equal(failed?.id, 'data');
    assert.match(failed!.detail, /larger than 1 MiB/);
    assert.match(`${failed!.detail} ${failed!.hint}`, /RAKUTEN_MAX_REPORT_MB/);
  });
});

describe('compressed bodies', () => {
  const TODAY = '2026-01-20';
  let sim: Simulator;
  let proxy: string;
  /** How the proxy compresses what the simulator sends: whatever the client asked for. */
  let encoding: 'gzip' | 'deflate' | 'br' = 'gzip';
  before(async () => {
    sim = await startSimulator({ port: 0, today: TODAY, rowsPerDay: 60 });
    servers.push(sim);
    // Like a misconfigured CDN: compresses whether or not the request accepts it.
    const s = await serve((req, res, url) => {
      const key = url.pathname.split('/')[3];
      const json = (status: number, message: string) => {
        const text = JSON.stringify({ errors: [{ code: 'X', message }] });
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-encoding': encoding });
        res.end(encoding === 'gzip' ? gzipSync(text) : encoding === 'deflate' ? deflateSync(text) : brotliCompressSync(text));
      };
      if (key === 'err401') return json(401, 'The access token is invalid or has expired.');
      if (key === 'err500') return json(500, 'An unexpected error occurred.');
      if (key === 'json200') return json(200, 'Report is being generated');
      if (key === 'corrupt' || key === 'cut') {
        let csv = `\uFEFF${HEADER}\r\n`;
        for (let n = 0; n < 200; n++) csv += rowFor(DAY, n);
        const gz = gzipSync(csv);
        const body = key === 'cut' ? gz.subarray(0, Math.floor(gz.length / 2)) : Buffer.concat([gz.subarray(0, 10), Buffer.from([0x07, 0xff, 0xff, 0xff]), gz.subarray(14)]);
        res.writeHead(200, { 'content-type': 'text/csv', 'content-encoding': 'gzip' });
        res.end(body);
        return;
      }
      get(`${sim.url}${req.url}`, (up) => {
        res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'text/csv', 'content-encoding': encoding });
        const z = encoding === 'gzip' ? createGzip() : encoding === 'deflate' ? createDeflate() : createBrotliCompress();
        up.pipe(z).pipe(res);
      }).on('error', () => res.destroy());
    });
    servers.push(s);
    proxy = s.url;
  });

  const sums = (rows: ReportRow[]) => {
    const f = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;
    return Object.fromEntries(f.map((k) => [k, rows.reduce((a, r) => a + toUnits(r[COLUMN_INDEX[k]] ?? '0'), 0n)]));
  };
  const want = (from: string, to: string) => {
    const days = sim.totals({ token: ACME_TOKEN, report: 'affiliate-report', from, to, dateType: 'transaction' });
    const f = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;
    return {
      rows: days.reduce((a, d) => a + d.rows, 0),
      sums: Object.fromEntries(f.map((k) => [k, days.reduce((a, d) => a + toUnits(d[k]), 0n)])),
    };
  };

  for (const enc of ['gzip', 'deflate', 'br'] as const) {
    test(`a ${enc} report gives the exact rows and totals`, async () => {
      encoding = enc;
      const rows = await within(30_000, readAll(sourceFor(proxy, 'affiliate-report', ACME_TOKEN), '2026-01-10', '2026-01-12'), enc);
      const w = want('2026-01-10', '2026-01-12');
      assert.ok(w.rows > 100);
      assert.equal(rows.length, w.rows);
      assert.deepEqual(sums(rows), w.sums);
    });
  }

  test('Save & Test passes on a gzip report and counts its rows exactly', async () => {
    encoding = 'gzip';
    const report = await within(30_000, saveAndTestChecks(sourceFor(proxy, 'affiliate-report', ACME_TOKEN), { now: new Date(`${TODAY}T12:00:00Z`) }), 'Save & Test');
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.equal(report.sampleRows, want('2026-01-19', TODAY).rows);
  });

  test('the simulator serves gzip to the client when asked to, and the totals stay exact', async () => {
    const gz = await startSimulator({ port: 0, today: TODAY, rowsPerDay: 60, gzip: true });
    servers.push(gz);
    const rows = await within(30_000, readAll(sourceFor(gz.url, 'affiliate-report', ACME_TOKEN), '2026-01-10', '2026-01-12'), 'sim gzip');
    const w = want('2026-01-10', '2026-01-12');
    assert.equal(rows.length, w.rows);
    assert.deepEqual(sums(rows), w.sums);
  });

  test('a gzip error body: its JSON message is shown', async () => {
    encoding = 'gzip';
    await assert.rejects(openReport(sourceFor(proxy, 'err401'), DAY, DAY), connectorError('auth', /HTTP 401\): The access token is invalid or has expired\./, false));
    await assert.rejects(openReport(sourceFor(proxy, 'err500'), DAY, DAY), connectorError('server', /HTTP 500\): An unexpected error occurred\./, true));
    await assert.rejects(openReport(sourceFor(proxy, 'json200'), DAY, DAY), connectorError('not_csv', /JSON instead of CSV: Report is being generated/, true));
    encoding = 'br';
    await assert.rejects(openReport(sourceFor(proxy, 'err401'), DAY, DAY), connectorError('auth', /The access token is invalid or has expired\./, false));
  });

  test('a corrupt or cut gzip body is a retryable truncated error with a plain message', async () => {
    for (const key of ['corrupt', 'cut']) {
      await within(15_000, assert.rejects(readAll(sourceFor(proxy, key), DAY, DAY),
        connectorError('truncated', /^the compressed report is corrupt or incomplete \(Z_[A-Z_]+\)$/, true)), key);
    }
  });
});
