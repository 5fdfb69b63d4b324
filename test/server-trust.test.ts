/**
 * `serve` under hostile or broken conditions, against real servers (in-process startServer and the
 * real CLI), traffic to 127.0.0.1 only:
 * - request bodies are limited before authentication: an oversized declared Content-Length is
 *   refused unread, a chunked body is cut off at the limit, 413, and the connection is closed;
 * - a start-up failure makes `serve` exit non-zero with its port closed (no zombie); /healthz
 *   reports the real state (scheduler, warehouse) and a bad connector does not stop serve;
 * - login: random server-side sessions revoked at logout, wrong tokens throttled per client,
 *   `Secure` and the X-Forwarded-* headers only over https or behind a declared proxy.
 * No timing thresholds: byte counts and an injected clock (FakeClock).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { App } from '../src/app/app.js';
import { Output } from '../src/app/output.js';
import { FakeClock } from '../src/scheduler/clock.js';
import { startServer } from '../src/server/server.js';
import { FailureThrottle } from '../src/server/sessions.js';
import { ADMIN_URL, createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';
import { LogCapture, type Stack, startStack, waitFor } from './helpers/browser.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ADMIN = 'admin-token-0123456789abcdef';
const MiB = 1024 * 1024;
/** How far a test client tries to stream: far beyond any limit, yet bounded. */
const STREAM_MAX = 64 * MiB;

interface Streamed {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Bytes the client had handed to its socket when the answer arrived. */
  writtenAtResponse: number;
  /** Bytes handed to the socket in all (the client stops at STREAM_MAX or when the connection ends). */
  written: number;
}

/**
 * POST (or another method) a body of STREAM_MAX bytes, chunked or with a declared Content-Length,
 * writing only as fast as the socket accepts (backpressure), and stop when the connection ends.
 */
function streamBody(base: string, path: string, o: { method?: string; declare?: number; headers?: Record<string, string> } = {}): Promise<Streamed> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const url = new URL(path, base);
  assert.equal(url.hostname, '127.0.0.1');
  return new Promise((resolve, reject) => {
    let written = 0;
    let writtenAtResponse = -1;
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let body = '';
    let done = false;
    const req = http.request(url, {
      method: o.method ?? 'POST',
      agent: false,
      headers: { ...(o.declare !== undefined ? { 'Content-Length': String(o.declare) } : { 'Transfer-Encoding': 'chunked' }), ...o.headers },
    });
    req.on('response', (res) => {
      writtenAtResponse = written;
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined); // EPIPE / ECONNRESET once the server closed the connection
    req.on('close', () => {
      done = true;
      if (writtenAtResponse < 0) reject(new Error(`no answer (wrote ${written} bytes)`));
      else resolve({ status, headers, body, writtenAtResponse, written });
    });
    void (async () => {
      while (!done && !req.destroyed && written < STREAM_MAX) {
        const more = req.write(chunk);
        written += chunk.length;
        if (!more) {
          await new Promise<void>((r) => {
            const on = () => {
              req.off('drain', on);
              req.off('close', on);
              r();
            };
            req.on('drain', on);
            req.on('close', on);
          });
        }
      }
      if (!req.destroyed) req.end();
    })();
  });
}

function assertCutOff(r: Streamed, what: string): void {
  assert.equal(r.status, 413, `${what}: ${r.status} ${r.body.slice(0, 200)}`);
  assert.equal(r.headers.connection, 'close', what);
  // The client could only fill the sockets' buffers before the answer: the server did not read on.
  assert.ok(r.writtenAtResponse <= STREAM_MAX / 4, `${what}: ${r.writtenAtResponse} bytes written before the answer`);
  // And the connection ended: the client could not stream the rest.
  assert.ok(r.written < STREAM_MAX, `${what}: the client streamed all ${r.written} bytes`);
}

async function login(base: string, token: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token }), headers, redirect: 'manual' });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('rc_session=')) ?? '';
  return { status: res.status, setCookie, cookie: setCookie.split(';')[0]!, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('serve: request bodies are limited before authentication', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ adminToken: ADMIN });
  });
  after(async () => {
    await s?.close();
  });

  it('a chunked body far over the limit is cut off with 413, without a token (/login and /api)', async () => {
    const r = await streamBody(s.url, '/login', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assertCutOff(r, 'POST /login chunked');
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.body, /too large/);

    const a = await streamBody(s.url, '/api/connectors', { headers: { 'Content-Type': 'application/json' } });
    assertCutOff(a, 'POST /api/connectors chunked');
    assert.match(String(a.headers['content-type']), /application\/json/);
    assert.match(JSON.parse(a.body).errors.body, /too large \(at most 64 KiB\)/);
  });

  it('an oversized declared Content-Length is refused before the body is read (/login and /api)', async () => {
    const r = await streamBody(s.url, '/login', { declare: STREAM_MAX, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assertCutOff(r, 'POST /login Content-Length');
    const a = await streamBody(s.url, '/api/connectors', { declare: STREAM_MAX, headers: { 'Content-Type': 'application/json' } });
    assertCutOff(a, 'POST /api/connectors Content-Length');
    assert.match(JSON.parse(a.body).errors.body, /too large/);
  });

  it('a GET body is never read: the connection is closed after the answer', async () => {
    for (const declare of [undefined, STREAM_MAX]) {
      const r = await streamBody(s.url, '/healthz', { method: 'GET', declare });
      assert.equal(r.headers.connection, 'close');
      assert.ok(r.written < STREAM_MAX, `the client streamed all ${r.written} bytes into a GET`);
    }
  });

  it('bodies within the limits still work, chunked too', async () => {
    const r = await login(s.url, ADMIN);
    assert.equal(r.status, 303);
    const chunked = (path: string, type: string, parts: string[], headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(new URL(path, s.url), { method: 'POST', agent: false, headers: { 'Content-Type': type, 'Transfer-Encoding': 'chunked', ...headers } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (const p of parts) req.write(p);
        req.end();
      });
    const form = await chunked('/login', 'application/x-www-form-urlencoded', ['pad=', 'x'.repeat(6000), `&token=${ADMIN}`]);
    assert.equal(form.status, 303, form.body);
    const json = await chunked('/api/parse-url', 'application/json', ['{"url":', `"https://example.com/${'y'.repeat(50_000)}"`, '}'], { Authorization: `Bearer ${ADMIN}` });
    assert.equal(json.status, 400, json.body);
    assert.ok(JSON.parse(json.body).errors.url);
    const big = await s.api('POST', '/api/parse-url', { url: `https://example.com/${'x'.repeat(60 * 1024)}` }, { Authorization: `Bearer ${ADMIN}` });
    assert.equal(big.status, 400, big.text);
    assert.ok(big.data.errors.url);
  });
});

describe('serve: start-up failures and /healthz', () => {
  function cli(home: string, args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['bin/rakuten-connector', '--home', home, ...args], { cwd: ROOT, env: { ...process.env, RAKUTEN_CONNECTOR_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    child.stdout.on('data', (b) => (stderr += b));
    let code: number | null | undefined;
    child.on('exit', (c) => (code = c));
    // 'close', not 'exit': only then has everything the child wrote to its pipes been read.
    const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    return { child, exited, code: () => code, err: () => stderr };
  }

  it('serve exits non-zero with the reason and its port closed when the scheduler cannot read the connectors', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rc-trust-'));
    // A warehouse whose connectors table is not what the connector expects: it opens, but listing fails.
    const db = await DuckDBInstance.create(join(home, 'warehouse.duckdb'));
    const conn = await db.connect();
    await conn.run('CREATE TABLE rakuten_connectors (id VARCHAR)');
    conn.closeSync();
    db.closeSync();
    const port = await freePort();
    const p = cli(home, ['serve', '--port', String(port)]);
    try {
      // Either it exits, or it is a zombie: listening and answering /healthz.
      const outcome = await waitFor(async () => {
        if (p.code() !== undefined) return 'exited';
        const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        return res?.status === 200 ? `zombie: /healthz says ${await res.text()}` : undefined;
      }, 'serve to exit', 30_000);
      assert.equal(outcome, 'exited', p.err());
      assert.notEqual(await p.exited, 0);
      assert.match(p.err(), /serve could not start: the scheduler could not read the connectors/);
      assert.equal(await portOpen(port), false, 'the port is closed');
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('startServer rejects and closes its listener when the scheduler cannot start', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rc-trust-'));
    const app = await App.open({ home });
    const port = await freePort();
    const list = app.list.bind(app);
    app.list = async () => {
      throw new Error('the state store is unreadable');
    };
    try {
      await assert.rejects(startServer({ app, out: new Output(false, new LogCapture().stream as never, new LogCapture().stream as never), host: '127.0.0.1', port, clock: new FakeClock(Date.now()) }), /the scheduler could not read the connectors: the state store is unreadable/);
      assert.equal(await portOpen(port), false, 'the port is closed');
    } finally {
      app.list = list;
      await app.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('/healthz is JSON with the real state: 503 once the scheduler is stopped', async () => {
    const s = await startStack();
    try {
      let r = await s.api('GET', '/healthz');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.data, { ok: true, warehouse: 'ok', scheduler: 'running' });
      s.srv.scheduler.stop();
      r = await s.api('GET', '/healthz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.data, { ok: false, warehouse: 'ok', scheduler: 'stopped' });
    } finally {
      await s.close();
    }
  });

  it('a connector that cannot be used is not scheduled, and does not stop serve', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rc-trust-'));
    let app = await App.open({ home });
    const rec = (name: string, tokenSealed: string) => ({
      name, url: 'https://ran-reporting.rakutenmarketing.com/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction',
      tokenSealed, settings: { startDate: '2026-01-01', lookbackDays: 30, windowDays: 1, schedule: '0 6 * * *', paused: false, currency: 'USD', staleAfterHours: null },
      createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    });
    await app.db.state.saveConnector(rec('good', app.vault.seal('tok_good_0000000000000001')));
    await app.db.state.saveConnector(rec('broken', 'not-a-sealed-token'));
    await app.close();
    app = await App.open({ home });
    const logs = new LogCapture();
    const out = new Output(false, logs.stream as unknown as NodeJS.WriteStream, logs.stream as unknown as NodeJS.WriteStream);
    let srv: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      srv = await startServer({ app, out, host: '127.0.0.1', port: 0, clock: new FakeClock(Date.now()) });
      assert.ok(srv.scheduler.info('good'), 'the good connector is scheduled');
      assert.equal(srv.scheduler.info('broken'), undefined);
      assert.match(logs.text(), /\[broken\] not scheduled/);
      const res = await fetch(`${srv.url}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      if (srv) await srv.close();
      else await app.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

const pgAvailable = await postgresAvailable();
describe('serve: /healthz when the warehouse stops answering', { skip: !pgAvailable && !process.env.CI ? 'PostgreSQL is not reachable (set RAKUTEN_TEST_PG)' : false }, () => {
  it('reports an unreachable PostgreSQL warehouse as 503, and ok again once it is back', async () => {
    const db = await createTestPostgresUrl();
    const name = new URL(db.url).pathname.slice(1);
    const home = mkdtempSync(join(tmpdir(), 'rc-trust-'));
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    admin.on('error', () => undefined);
    await admin.connect();
    const app = await App.open({ home, warehouse: db.url });
    const srv = await startServer({ app, out: new Output(false, new LogCapture().stream as never, new LogCapture().stream as never), host: '127.0.0.1', port: 0, clock: new FakeClock(Date.now()) });
    const health = async () => {
      const res = await fetch(`${srv.url}/healthz`);
      return { status: res.status, data: (await res.json()) as unknown };
    };
    try {
      assert.deepEqual(await health(), { status: 200, data: { ok: true, warehouse: 'ok', scheduler: 'running' } });
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      assert.deepEqual(await health(), { status: 503, data: { ok: false, warehouse: 'unreachable', scheduler: 'running' } });
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      assert.deepEqual(await health(), { status: 200, data: { ok: true, warehouse: 'ok', scheduler: 'running' } });
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end().catch(() => undefined);
      await srv.close();
      await db.drop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('serve: login sessions', () => {
  const clock = new FakeClock(Date.now());
  let s: Stack;
  before(async () => {
    s = await startStack({ adminToken: ADMIN, clock });
  });
  after(async () => {
    await s?.close();
  });
  const withCookie = (cookie: string) => s.api('GET', '/api/connectors', undefined, { Cookie: cookie });

  it('the cookie is a random session, new at every login, never derived from the token', async () => {
    const a = await login(s.url, ADMIN);
    const b = await login(s.url, ADMIN);
    assert.equal(a.status, 303);
    assert.match(a.cookie, /^rc_session=[A-Za-z0-9_-]{43,}$/);
    assert.notEqual(a.cookie, b.cookie, 'two logins, two sessions');
    const value = a.cookie.slice('rc_session='.length);
    for (const msg of ['rakuten-connector session v1', '', 'session']) {
      for (const enc of ['base64url', 'hex', 'base64'] as const) assert.notEqual(value, createHmac('sha256', ADMIN).update(msg).digest(enc));
    }
    assert.ok(!a.cookie.includes(ADMIN));
    assert.equal((await withCookie(a.cookie)).status, 200);
    assert.equal((await withCookie(b.cookie)).status, 200);
    assert.equal((await withCookie(`rc_session=${createHmac('sha256', ADMIN).update('rakuten-connector session v1').digest('base64url')}`)).status, 401);
  });

  it('logout needs the session, must be same-origin, and revokes the session', async () => {
    const a = await login(s.url, ADMIN);
    const b = await login(s.url, ADMIN);
    const origin = s.url;
    // Cross-site, even with a forged X-Forwarded-Host: refused, the session stays.
    let res = await fetch(`${s.url}/logout`, { method: 'POST', headers: { Cookie: a.cookie, Origin: 'https://evil.example', 'X-Forwarded-Host': 'evil.example' }, redirect: 'manual' });
    assert.equal(res.status, 403);
    assert.equal((await withCookie(a.cookie)).status, 200);
    // Without a session: back to the login page.
    res = await fetch(`${s.url}/logout`, { method: 'POST', headers: { Origin: origin }, redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login');
    res = await fetch(`${s.url}/logout`, { method: 'POST', headers: { Cookie: a.cookie, Origin: origin, 'Sec-Fetch-Site': 'same-origin' }, redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.match(res.headers.getSetCookie().join('\n'), /rc_session=;.*Max-Age=0/i);
    assert.equal((await withCookie(a.cookie)).status, 401, 'a logged-out cookie no longer works');
    assert.equal((await withCookie(b.cookie)).status, 200, 'other sessions go on');
  });

  it('a session ends after 12 hours unused, and 7 days after login however much it is used', async () => {
    const idle = await login(s.url, ADMIN);
    const busy = await login(s.url, ADMIN);
    await clock.advance(11 * 3_600_000);
    assert.equal((await withCookie(busy.cookie)).status, 200);
    await clock.advance(2 * 3_600_000);
    assert.equal((await withCookie(idle.cookie)).status, 401, 'idle for 13 h');
    assert.equal((await withCookie(busy.cookie)).status, 200);
    let hours = 13;
    while (hours + 11 < 7 * 24) {
      await clock.advance(11 * 3_600_000);
      hours += 11;
      assert.equal((await withCookie(busy.cookie)).status, 200, `used every 11 h, at ${hours} h`);
    }
    await clock.advance(11 * 3_600_000);
    assert.equal((await withCookie(busy.cookie)).status, 401, `past 7 days (${hours + 11} h), though used 11 h ago`);
    assert.match(busy.setCookie, /Max-Age=604800/);
  });
});

describe('serve: wrong admin tokens are throttled per client', () => {
  const clock = new FakeClock(Date.now());
  let s: Stack;
  before(async () => {
    s = await startStack({ adminToken: ADMIN, clock });
  });
  after(async () => {
    await s?.close();
  });
  const bearer = (token: string, headers: Record<string, string> = {}) => s.api('GET', '/api/connectors', undefined, { Authorization: `Bearer ${token}`, ...headers });

  it('after 5 wrong Bearer tokens in a minute: 429 with Retry-After, even for the right token, which works after the wait', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await bearer(`wrong-token-${i}-000000000000`)).status, 401);
    let r = await bearer('wrong-token-5-000000000000');
    assert.equal(r.status, 429);
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `Retry-After: ${wait}`);
    assert.match(r.data.errors.auth, /too many wrong admin tokens/);
    // X-Forwarded-For is not believed without trustProxy: it does not get a client out.
    r = await bearer(ADMIN, { 'X-Forwarded-For': '203.0.113.9' });
    assert.equal(r.status, 429, 'the right token waits too: no answer tells a guess apart');
    assert.equal((await login(s.url, ADMIN)).status, 429, 'the login form shares the count');
    await clock.advance(wait * 1000);
    r = await bearer(ADMIN);
    assert.equal(r.status, 200, r.text);
    assert.match(s.logs.text(), /5 wrong admin tokens \(Bearer\) from 127\.0\.0\.1 within a minute/);
    assert.ok(!s.logs.text().includes(ADMIN));
    assert.ok(!s.logs.text().includes('wrong-token-'), 'no guessed token in the log');
  });

  it('wrong passwords at /login count the same: the 6th try in a minute gets 429', async () => {
    await clock.advance(60_000);
    for (let i = 0; i < 5; i++) {
      const r = await login(s.url, `nope-${i}`);
      assert.equal(r.status, 401);
      assert.match(r.text, /not the admin token/);
    }
    const r = await login(s.url, ADMIN);
    assert.equal(r.status, 429);
    assert.ok(Number(r.retryAfter) >= 1);
    assert.equal(r.cookie, '', 'no session while waiting');
    await clock.advance(Number(r.retryAfter) * 1000);
    assert.equal((await login(s.url, ADMIN)).status, 303);
  });

  it('the table of clients is bounded', () => {
    let t = 0;
    const th = new FailureThrottle(() => t, { max: 5, windowMs: 60_000, maxClients: 100 });
    for (let i = 0; i < 1000; i++) th.failed(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(th.size, 100);
    t += 61_000;
    assert.equal(th.retryAfter('10.0.3.231'), 0);
  });
});

describe('serve: behind a TLS proxy (trustProxy)', () => {
  let plain: Stack;
  let proxied: Stack;
  before(async () => {
    [plain, proxied] = await Promise.all([startStack({ adminToken: ADMIN }), startStack({ adminToken: ADMIN, trustProxy: true })]);
  });
  after(async () => {
    await plain?.close();
    await proxied?.close();
  });

  it('the session cookie is Secure with trustProxy and X-Forwarded-Proto: https, and not otherwise', async () => {
    let r = await login(proxied.url, ADMIN, { 'X-Forwarded-Proto': 'https' });
    assert.equal(r.status, 303);
    assert.match(r.setCookie, /;\s*Secure/i);
    assert.match(r.setCookie, /HttpOnly/i);
    assert.match(r.setCookie, /SameSite=Strict/i);
    r = await login(proxied.url, ADMIN);
    assert.doesNotMatch(r.setCookie, /Secure/i, 'plain http behind the proxy');
    r = await login(plain.url, ADMIN, { 'X-Forwarded-Proto': 'https' });
    assert.equal(r.status, 303);
    assert.doesNotMatch(r.setCookie, /Secure/i, 'X-Forwarded-Proto is not believed without trustProxy');
  });

  it('X-Forwarded-Host counts for the same-origin check only with trustProxy', async () => {
    const forged = { Authorization: `Bearer ${ADMIN}`, Origin: 'https://evil.example', 'X-Forwarded-Host': 'evil.example' };
    let r = await plain.api('POST', '/api/parse-url', { url: 'x' }, forged);
    assert.equal(r.status, 403, 'a cross-site POST with a forged X-Forwarded-Host is refused');
    assert.match(r.data.errors.origin, /cross-site/);
    r = await proxied.api('POST', '/api/parse-url', { url: 'x' }, { ...forged, Origin: 'https://connector.example', 'X-Forwarded-Host': 'connector.example' });
    assert.equal(r.status, 400, `the proxy's X-Forwarded-Host is the browser's host: ${r.text}`);
    r = await proxied.api('POST', '/api/parse-url', { url: 'x' }, { ...forged, Origin: 'https://evil.example', 'X-Forwarded-Host': 'connector.example' });
    assert.equal(r.status, 403);
  });

  it('X-Forwarded-For names the client only with trustProxy: the address the proxy appended', async () => {
    const wrong = (xff: string) => proxied.api('GET', '/api/connectors', undefined, { Authorization: 'Bearer wrong-token-00000000000', 'X-Forwarded-For': xff });
    for (let i = 0; i < 5; i++) assert.equal((await wrong('198.51.100.7')).status, 401);
    assert.equal((await wrong('198.51.100.7')).status, 429);
    // A client cannot escape by prepending its own entries: the proxy's (last) entry counts.
    assert.equal((await wrong('1.2.3.4, 198.51.100.7')).status, 429);
    assert.equal((await wrong('198.51.100.8')).status, 401, 'another client is not held up');
    const ok = await proxied.api('GET', '/api/connectors', undefined, { Authorization: `Bearer ${ADMIN}`, 'X-Forwarded-For': '198.51.100.9' });
    assert.equal(ok.status, 200);
  });
});
