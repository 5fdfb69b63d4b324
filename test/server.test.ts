/**
 * `serve`: the JSON API against a real server, App, DuckDB warehouse and the Rakuten simulator.
 * Validation, Save & Test, token secrecy, sync + progress + chart numbers, settings edits,
 * pause/backfill/delete, request guards, the admin token, and the CLI process with SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../src/app/app.js';
import { Output } from '../src/app/output.js';
import { startServer } from '../src/server/server.js';
import { SHUTDOWN_MESSAGE } from '../src/server/runner.js';
import { FakeClock } from '../src/scheduler/clock.js';
import { ACME_TOKEN, startSimulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { fromUnits, toUnits } from '../src/util/decimal.js';
import type { DayTotals } from '../src/warehouse/types.js';
import { type Stack, startStack, waitFor } from './helpers/browser.js';

const ROOT = new URL('..', import.meta.url).pathname;
const today = () => todayIn('GMT');

/** Exact sums of the warehouse's day totals (BigInt, no floats). */
function sums(days: DayTotals[]) {
  const money = (k: 'sales' | 'total_commissions') => fromUnits(days.reduce((a, d) => a + toUnits(d[k]), 0n));
  const count = (k: 'clicks' | 'orders') => days.reduce((a, d) => a + BigInt(d[k]), 0n).toString();
  return { sales: money('sales'), total_commissions: money('total_commissions'), clicks: count('clicks'), orders: count('orders'), rows: days.reduce((a, d) => a + d.rows, 0) };
}

async function syncAndWait(s: Stack, name: string, body: unknown = {}, path = 'sync') {
  const r = await s.api('POST', `/api/connectors/${name}/${path}`, body);
  assert.equal(r.status, 202, r.text);
  return waitFor(async () => {
    const p = (await s.api('GET', `/api/connectors/${name}/progress`)).data.progress;
    return p && (p.state === 'success' || p.state === 'failed') ? p : undefined;
  }, `${name} sync to finish`);
}

function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('serve: HTTP API', () => {
  let s: Stack;
  const seen: string[] = []; // every response body, for the token check
  const api = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
    const r = await s.api(method, path, body, headers);
    seen.push(r.text);
    return r;
  };

  before(async () => {
    s = await startStack({ rowsPerDay: 30 });
  });
  after(async () => {
    await s?.close();
  });

  it('validates every input with zod and answers 400 { errors: { field: message } }', async () => {
    let r = await api('POST', '/api/connectors', { sync: false, name: '-bad name', lookbackDays: 'abc', startDate: '2026-02-30', schedule: { type: 'daily', time: '25:00' }, timeZone: 'Mars/Olympus', color: 'red' });
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.data.errors).sort(), ['color', 'lookbackDays', 'name', 'schedule.time', 'startDate', 'timeZone', 'url']);
    assert.match(r.data.errors.name, /letters, digits/);
    assert.match(r.data.errors.url, /Get API/);
    assert.match(r.data.errors.timeZone, /unknown time zone/);
    assert.equal(r.data.errors.color, 'unknown field');

    r = await api('POST', '/api/connectors', { sync: false, name: 'x', reportKey: 'affiliate-report' });
    assert.equal(r.status, 400);
    assert.match(r.data.errors.token, /token/);
    r = await api('POST', '/api/connectors', { sync: false, name: 'x', url: 'https://a', token: 'b' });
    assert.match(r.data.errors.url, /not both/);
    r = await api('POST', '/api/connectors', { sync: false, name: 'x', url: 'u', schedule: { type: 'cron', cron: '61 * * * *' } });
    assert.match(r.data.errors['schedule.cron'], /not a valid cron/);
    r = await api('POST', '/api/connectors', { sync: false, name: 'x', url: 'u', schedule: { type: 'weekly' } });
    assert.match(r.data.errors['schedule.type'], /daily, hourly, manual or cron/);
    r = await api('POST', '/api/connectors', '{not json');
    assert.deepEqual([r.status, Object.keys(r.data.errors)], [400, ['body']]);
    r = await api('POST', '/api/connectors', 'name=x', { 'Content-Type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 415);
    r = await api('POST', '/api/parse-url', { url: 'https://example.com/en/reports/x/filters?token=abc' });
    assert.equal(r.status, 400);
    assert.match(r.data.errors.url, /not a Rakuten reporting host/);
    r = await api('GET', '/api/charts?days=1000&connector=a b');
    assert.deepEqual(Object.keys(r.data.errors).sort(), ['connector', 'days']);
    r = await api('GET', '/api/connectors/nope');
    assert.equal(r.status, 404);
    assert.match(r.data.errors.name, /no connector named "nope"/);
    r = await api('GET', '/api/nothing-here');
    assert.equal(r.status, 404);
  });

  it('parses a pasted URL into its settings without fetching anything', async () => {
    const before = s.sim.requests().length;
    const r = await api('POST', '/api/parse-url', { url: s.reportUrl('affiliate-report', ACME_TOKEN, { tz: 'America/New_York', date_type: 'process', date_range: 'this-month' }) });
    assert.equal(r.status, 200);
    assert.equal(r.data.reportKey, 'affiliate-report');
    assert.equal(r.data.dateType, 'process');
    assert.equal(r.data.timeZone, 'America/New_York');
    assert.equal(r.data.tokenMasked, '…05');
    assert.match(r.data.warnings[0], /date_range=this-month is ignored/);
    assert.equal(s.sim.requests().length, before);
  });

  it('Save & Test: a good URL is saved; a bad token, missing columns or a foreign host save nothing', async () => {
    let r = await api('POST', '/api/connectors', { sync: false, name: 'acme', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -9), schedule: { type: 'daily', time: '07:30' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.data.saved, true);
    assert.ok(r.data.checks.every((c: { ok: boolean }) => c.ok === true));
    assert.equal(r.data.source, undefined, 'the parsed source (with its token) stays on the server');
    assert.equal(r.data.connector.tokenMasked, '…05');
    assert.equal(r.data.connector.settings.schedule, '30 7 * * *');
    assert.equal(r.data.connector.status, 'new');
    assert.equal(r.data.connector.nextRunAt !== null, true);

    r = await api('POST', '/api/connectors', { sync: false, name: 'acme', url: s.reportUrl('affiliate-report', ACME_TOKEN) });
    assert.equal(r.status, 409);
    assert.match(r.data.errors.name, /already exists/);

    r = await api('POST', '/api/connectors', { sync: false, name: 'badtoken', url: s.reportUrl('affiliate-report', 'tok_wrong_0000000000000000') });
    assert.equal(r.status, 422);
    assert.equal(r.data.saved, false);
    const token = r.data.checks.find((c: { id: string }) => c.id === 'token');
    assert.equal(token.ok, false);
    assert.match(token.hint, /regenerate the API URL/);
    assert.deepEqual(r.data.checks.filter((c: { ok: boolean | null }) => c.ok === null).map((c: { id: string }) => c.id), ['report', 'csv', 'columns', 'data']);

    r = await api('POST', '/api/connectors', { sync: false, name: 'missing', url: s.reportUrl('missing-cols', ACME_TOKEN) });
    assert.equal(r.status, 422);
    const cols = r.data.checks.find((c: { id: string }) => c.id === 'columns');
    assert.equal(cols.ok, false);
    assert.match(cols.detail, /Offer Name/);
    assert.match(cols.detail, /Link ID/);

    const before = s.sim.requests().length;
    r = await api('POST', '/api/connectors', { sync: false, name: 'evil', url: 'http://169.254.169.254/en/reports/x/filters?token=abcdef123456' });
    assert.equal(r.status, 422);
    const url = r.data.checks.find((c: { id: string }) => c.id === 'url');
    assert.equal(url.ok, false);
    assert.match(url.detail, /not a Rakuten reporting host/);
    assert.equal(s.sim.requests().length, before);

    const list = (await api('GET', '/api/connectors')).data.connectors;
    assert.deepEqual(list.map((c: { name: string }) => c.name), ['acme']);
  });

  it('syncs with live progress, and chart totals equal the warehouse sums exactly, with empty days as zero', async () => {
    const p = await syncAndWait(s, 'acme');
    assert.equal(p.state, 'success', p.error);
    assert.equal(p.windowsDone, 10);
    assert.equal(p.windowsTotal, 10);
    assert.ok(p.rows > 0);

    const c = (await api('GET', '/api/connectors/acme')).data.connector;
    assert.equal(c.status, 'healthy');
    assert.equal(c.coverage.days, 10);
    assert.equal(c.coverage.rows, p.rows);
    assert.ok(c.lastSuccessAt);
    assert.equal(c.lastError, null);

    for (const days of [30, 90]) {
      const ch = (await api('GET', `/api/charts?connector=acme&days=${days}`)).data;
      assert.equal(ch.series.length, days);
      assert.equal(ch.to, today());
      assert.equal(ch.from, addDays(today(), -(days - 1)));
      const wh = await s.srv.app.db.warehouse.dayTotals('acme', ch.from, ch.to);
      const want = sums(wh);
      assert.deepEqual(
        { sales: ch.totals.sales, total_commissions: ch.totals.total_commissions, clicks: ch.totals.clicks, orders: ch.totals.orders, rows: ch.totals.rows },
        want,
      );
      const zero = ch.series.filter((d: DayTotals) => d.rows === 0);
      assert.equal(zero.length, days - 10, 'days without rows are present, as zero');
      assert.ok(zero.every((d: DayTotals) => d.sales === '0' && d.clicks === '0'));
      for (const d of wh) assert.deepEqual(ch.series.find((x: DayTotals) => x.day === d.day), d);
      assert.ok(ch.topPublishers.length > 0 && ch.topOffers.length > 0);
      const top = await s.srv.app.db.warehouse.top('publisher', 'acme', ch.from, ch.to, 10);
      assert.deepEqual(ch.topPublishers, top);
    }
    const all = (await api('GET', '/api/charts')).data;
    assert.equal(all.connector, null);
    assert.equal(all.totals.sales, sums(await s.srv.app.db.warehouse.dayTotals(null, all.from, all.to)).sales);

    const runs = (await api('GET', '/api/connectors/acme/runs')).data.runs;
    assert.equal(runs[0].status, 'success');
    assert.ok(runs[0].durationMs >= 0);
    assert.equal(runs[0].rows, p.rows);

    const r = await api('POST', '/api/connectors/acme/test', {});
    assert.equal(r.status, 200);
    assert.equal(r.data.ok, true);
  });

  it('edits settings without a re-test; a new token or time zone is re-tested, and a bad one changes nothing', async () => {
    let r = await api('PATCH', '/api/connectors/acme', { lookbackDays: 7, schedule: { type: 'hourly' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.data.tested, false);
    assert.equal(r.data.connector.settings.lookbackDays, 7);
    assert.equal(r.data.connector.schedule.type, 'hourly');
    assert.equal(s.srv.scheduler.info('acme')?.schedule.type, 'hourly');

    r = await api('PATCH', '/api/connectors/acme', { token: 'tok_revoked_000000000000' });
    assert.equal(r.status, 422);
    assert.equal(r.data.checks.find((c: { id: string }) => c.id === 'token').ok, false);
    let c = (await api('GET', '/api/connectors/acme')).data.connector;
    assert.equal(c.tokenMasked, '…05');
    assert.equal(c.settings.lookbackDays, 7);

    r = await api('PATCH', '/api/connectors/acme', { timeZone: 'America/New_York', lookbackDays: 14 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.data.tested, true);
    c = r.data.connector;
    assert.equal(c.timeZone, 'America/New_York');
    assert.equal(c.settings.lookbackDays, 14);
    assert.equal(c.tokenMasked, '…05', 'the saved token is kept');
    assert.equal(c.schedule.type, 'hourly');
    r = await api('PATCH', '/api/connectors/acme', { url: s.reportUrl('affiliate-report', ACME_TOKEN), timeZone: 'GMT', schedule: { type: 'daily', time: '06:00' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.data.connector.timeZone, 'GMT');
  });

  it('pauses, resumes, backfills and deletes (with or without its data)', async () => {
    let r = await api('POST', '/api/connectors/acme/pause', {});
    assert.equal(r.data.connector.status, 'paused');
    assert.equal(r.data.connector.nextRunAt, null);
    r = await api('POST', '/api/connectors/acme/resume', {});
    assert.equal(r.data.connector.status, 'healthy');
    assert.ok(r.data.connector.nextRunAt);

    r = await api('POST', '/api/connectors/acme/backfill', { from: today(), to: addDays(today(), -3) });
    assert.equal(r.status, 400);
    assert.match(r.data.errors.to, /on or after/);
    r = await api('POST', '/api/connectors/acme/backfill', { from: addDays(today(), 5), to: addDays(today(), 6) });
    assert.equal(r.status, 400);
    assert.match(r.data.errors.from, /on or before today/);
    const p = await syncAndWait(s, 'acme', { from: addDays(today(), -14), to: addDays(today(), -12) }, 'backfill');
    assert.equal(p.state, 'success', p.error);
    assert.equal(p.kind, 'backfill');
    assert.equal(p.windowsTotal, 3);
    assert.equal((await s.srv.app.db.warehouse.coverage('acme')).days, 13);

    // A second connector with the same data: delete one keeping its rows, the other with its rows.
    r = await api('POST', '/api/connectors', { sync: false, name: 'acme2', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -2) });
    assert.equal(r.status, 201);
    s.sim.addFaults([{ kind: 'slow', delayMs: 400, times: 3 }]);
    r = await api('POST', '/api/connectors/acme2/sync', {});
    assert.equal(r.status, 202);
    r = await api('POST', '/api/connectors/acme2/sync', {});
    assert.equal(r.status, 409, 'never two syncs of one connector');
    assert.match(r.data.errors.sync, /syncing right now/);
    r = await api('DELETE', '/api/connectors/acme2');
    assert.equal(r.status, 409);
    await waitFor(async () => !s.srv.runner.isRunning('acme2'), 'acme2 sync');
    const rows = (await s.srv.app.db.warehouse.coverage('acme2')).rows;
    assert.ok(rows > 0);
    r = await api('DELETE', '/api/connectors/acme2?dropData=false');
    assert.deepEqual(r.data, { removed: true, dataDropped: false });
    assert.equal((await s.srv.app.db.warehouse.coverage('acme2')).rows, rows, 'its rows stay');
    r = await api('DELETE', '/api/connectors/acme?dropData=true');
    assert.deepEqual(r.data, { removed: true, dataDropped: true });
    assert.equal((await s.srv.app.db.warehouse.coverage('acme')).rows, 0);
    assert.equal(s.srv.scheduler.info('acme'), undefined);
    assert.deepEqual((await api('GET', '/api/connectors')).data.connectors, []);
  });

  it('never sends the token to the browser or the API, and never logs it', async () => {
    // Everything the app serves, after a connector was saved, synced, tested and listed.
    let r = await api('POST', '/api/connectors', { sync: false, name: 'secret', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -1) });
    assert.equal(r.status, 201);
    await syncAndWait(s, 'secret');
    r = await api('POST', '/api/connectors', { sync: false, name: 'secret2', reportKey: 'affiliate-report', token: ACME_TOKEN, timeZone: 'GMT', currency: 'USD' });
    assert.equal(r.status, 422, 'key + token goes to the real Rakuten host, unreachable here');
    for (const path of ['/', '/api/connectors', '/api/connectors/secret', '/api/connectors/secret/runs', '/api/progress', '/api/runs', '/api/charts?connector=secret', '/api/meta', '/assets/app.js']) {
      await api('GET', path);
    }
    await api('POST', '/api/connectors/secret/test', {});
    await api('PATCH', '/api/connectors/secret', { lookbackDays: 3 });
    await api('POST', '/api/parse-url', { url: s.reportUrl('affiliate-report', ACME_TOKEN) });
    const forms = [ACME_TOKEN, encodeURIComponent(ACME_TOKEN), ACME_TOKEN.slice(3, -2), 'tok_wrong_0000000000000000', 'tok_revoked_000000000000'];
    assert.ok(seen.length > 20);
    for (const body of seen) for (const f of forms) assert.ok(!body.includes(f), `a response carries a token: ${body.slice(0, 200)}`);
    const logs = s.logs.text();
    assert.match(logs, /POST \/api\/connectors 201/);
    for (const f of forms) assert.ok(!logs.includes(f), 'the log carries a token');
    // The warehouse only holds it sealed.
    const rec = await s.srv.app.db.state.getConnector('secret');
    assert.ok(rec && !JSON.stringify(rec).includes(ACME_TOKEN));
  });

  it('guards requests: loopback Host only, no cross-site changes, JSON only', async () => {
    const port = new URL(s.url).port;
    let r = await rawRequest(`${s.url}/api/connectors`, { headers: { Host: `attacker.example:${port}` } });
    assert.equal(r.status, 421, 'a DNS-rebinding page is refused');
    r = await rawRequest(`${s.url}/api/connectors`, { headers: { Host: `attacker.example` } });
    assert.equal(r.status, 421);
    for (const host of [`localhost:${port}`, 'localhost:9000', `[::1]:${port}`, '127.0.0.2']) {
      r = await rawRequest(`${s.url}/api/connectors`, { headers: { Host: host } });
      assert.equal(r.status, 200, host);
    }
    r = await rawRequest(`${s.url}/api/connectors/secret/pause`, { method: 'POST', headers: { Origin: 'https://evil.example', 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 403);
    r = await rawRequest(`${s.url}/api/connectors/secret/pause`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '' });
    assert.equal(r.status, 415, 'a form post cannot send JSON');
    r = await rawRequest(`${s.url}/api/connectors/secret/pause`, { method: 'POST', headers: { 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 403);
    const res = await s.api('GET', '/');
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  });
});

describe('serve: the scheduler inside it', () => {
  const clock = new FakeClock(Date.now());
  let s: Stack;
  before(async () => {
    s = await startStack({ rowsPerDay: 10, clock });
  });
  after(async () => {
    await s?.close();
  });

  it('a scheduled fire syncs; a failing connector backs off and says why', async () => {
    let r = await s.api('POST', '/api/connectors', { sync: false, name: 'hourly', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -1), schedule: { type: 'hourly' } });
    assert.equal(r.status, 201, r.text);
    const next = r.data.connector.nextRunAt as string;
    assert.equal(new Date(next).getUTCMinutes(), 0);
    assert.ok(Date.parse(next) > clock.now().getTime());

    await clock.advanceTo(next);
    let p = await waitFor(async () => {
      const x = (await s.api('GET', '/api/connectors/hourly/progress')).data.progress;
      return x && x.state !== 'running' && x.state !== 'queued' ? x : undefined;
    }, 'the scheduled sync');
    assert.equal(p.kind, 'scheduled');
    assert.equal(p.state, 'success', p.error);
    let c = (await s.api('GET', '/api/connectors/hourly')).data.connector;
    assert.equal(c.status, 'healthy');
    assert.equal(c.nextRunAt, new Date(Date.parse(next) + 3_600_000).toISOString());

    s.sim.addFaults([{ kind: '500', times: 1000 }]);
    await clock.advanceTo(c.nextRunAt);
    p = await waitFor(async () => {
      const x = (await s.api('GET', '/api/connectors/hourly/progress')).data.progress;
      return x && x.state === 'failed' ? x : undefined;
    }, 'the failing scheduled sync');
    c = (await s.api('GET', '/api/connectors/hourly')).data.connector;
    assert.equal(c.status, 'failing');
    assert.equal(c.failures, 1);
    assert.equal(c.nextRunKind, 'retry');
    assert.equal(c.backoffUntil, new Date(clock.now().getTime() + 5 * 60_000).toISOString());
    assert.equal(c.nextRunAt, c.backoffUntil);
    assert.match(c.lastError, /HTTP 500/);
    s.sim.clearFaults();
  });
});

describe('serve: admin token', () => {
  const ADMIN = 'admin-token-0123456789abcdef';
  let s: Stack;
  before(async () => {
    s = await startStack({ adminToken: ADMIN });
  });
  after(async () => {
    await s?.close();
  });

  it('requires the token on every request: Bearer header or the login cookie', async () => {
    let r = await s.api('GET', '/api/connectors');
    assert.equal(r.status, 401);
    assert.match(r.data.errors.auth, /Bearer/);
    r = await s.api('GET', '/api/connectors', undefined, { Authorization: 'Bearer wrong-token-0000000000' });
    assert.equal(r.status, 401);
    r = await s.api('GET', '/api/connectors', undefined, { Authorization: `Bearer ${ADMIN}` });
    assert.equal(r.status, 200);
    r = await s.api('GET', '/');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/login');
    assert.equal((await s.api('GET', '/healthz')).status, 200);
    assert.equal((await s.api('GET', '/login')).status, 200);

    const login = (token: string) => fetch(`${s.url}/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    let res = await login('nope');
    assert.equal(res.status, 401);
    assert.match(await res.text(), /not the admin token/);
    res = await login(ADMIN);
    assert.equal(res.status, 303);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    assert.match(cookie, /^rc_session=/);
    assert.ok(!cookie.includes(ADMIN), 'the cookie is not the token');
    assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly/i);
    assert.match(res.headers.get('set-cookie') ?? '', /SameSite=Strict/i);
    r = await s.api('GET', '/api/connectors', undefined, { Cookie: cookie });
    assert.equal(r.status, 200);
    r = await s.api('GET', '/', undefined, { Cookie: cookie });
    assert.equal(r.status, 200);
    assert.match(r.text, /data-auth="token"/);
    assert.ok(!s.logs.text().includes(ADMIN));
  });

  it('refuses to start on a public interface without the token', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rc-serve-'));
    const app = await App.open({ home });
    try {
      await assert.rejects(startServer({ app, out: new Output(false), host: '0.0.0.0', port: 0 }), /RAKUTEN_CONNECTOR_ADMIN_TOKEN/);
    } finally {
      await app.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('serve: the CLI process', () => {
  function cli(home: string, args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['bin/rakuten-connector', '--home', home, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (b) => (stderr += b));
    child.stdout.on('data', (b) => (stdout += b));
    // 'close', not 'exit': only then has everything the child wrote to its pipes been read.
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, exited, err: () => stderr, out: () => stdout };
  }

  it('refuses --host 0.0.0.0 without RAKUTEN_CONNECTOR_ADMIN_TOKEN', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rc-cli-'));
    const p = cli(home, ['serve', '--host', '0.0.0.0', '--port', '0'], { RAKUTEN_CONNECTOR_ADMIN_TOKEN: '' });
    assert.equal(await p.exited, 1);
    assert.match(p.err(), /refusing to serve on 0\.0\.0\.0/);
    assert.match(p.err(), /RAKUTEN_CONNECTOR_ADMIN_TOKEN/);
    rmSync(home, { recursive: true, force: true });
  });

  it('serves on a free port; SIGTERM aborts a running sync, rolls back, and exits cleanly', async () => {
    const sim = await startSimulator({ port: 0, rowsPerDay: 20 });
    const home = mkdtempSync(join(tmpdir(), 'rc-cli-'));
    const p = cli(home, ['serve', '--port', '0'], { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_CONNECTOR_ADMIN_TOKEN: '' });
    try {
      const base = await waitFor(() => /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(p.err())?.[1], 'the listening line', 15_000);
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${base}${path}`, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
        return { status: res.status, data: await res.json() as any };
      };
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const u = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&network=1&token=${ACME_TOKEN}`;
      let r = await call('POST', '/api/connectors', { sync: false, name: 'acme', url: u, startDate: addDays(today(), -19) });
      assert.equal(r.status, 201);
      sim.addFaults([{ kind: 'slow', delayMs: 400, times: 40 }]);
      r = await call('POST', '/api/connectors/acme/sync', {});
      assert.equal(r.status, 202);
      await waitFor(async () => (await call('GET', '/api/connectors/acme/progress')).data.progress?.windowsDone >= 2, 'some windows to load');
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.err());
      assert.match(p.err(), /SIGTERM: shutting down/);
      assert.match(p.err(), /stopping 1 running sync/);
      assert.match(p.err(), /stopped/);
      assert.ok(!p.err().includes(ACME_TOKEN));
      // The warehouse is free again; the stopped run says why; only whole days were kept.
      const app = await App.open({ home });
      try {
        const [run] = await app.db.state.listRuns('acme', 1);
        assert.equal(run!.status, 'interrupted', p.err());
        assert.ok(run!.error?.startsWith(SHUTDOWN_MESSAGE), run!.error ?? '');
        const cov = await app.db.warehouse.coverage('acme');
        assert.ok(cov.days >= 2 && cov.days < 20, `days kept: ${cov.days}`);
        const dayRows = await app.db.warehouse.dayTotals('acme', addDays(today(), -19), today());
        const simDays = sim.totals({ token: ACME_TOKEN, report: 'affiliate-report', from: addDays(today(), -19), to: today(), dateType: 'transaction' });
        for (const d of dayRows) assert.equal(d.rows, simDays.find((x) => x.day === d.day)?.rows, `day ${d.day} is whole`);
      } finally {
        await app.close();
      }
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await sim.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
