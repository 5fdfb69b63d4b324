/**
 * GET /metrics (src/server/metrics.ts) against a real server, App, DuckDB warehouse and the
 * Rakuten simulator: syncs run through the API (one after retries, one failing after retries),
 * then the exposition text is parsed and checked against the run history and the faults the
 * simulator served. Also: the admin token guards /metrics (401 without it, as the API), no token
 * of the simulator appears in the text, and two servers in one process keep their own counts.
 *
 * Rows: rakuten_rows_synced_total counts the rows of every committed window, so it equals the sum
 * of the runs' `rows` over all finished runs (a failed run's rows are the windows it committed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACME_TOKEN, DEMO_TOKEN, GLOBEX_TOKEN } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { type Stack, startStack, waitFor } from './helpers/browser.js';

const today = () => todayIn('GMT');
const ADMIN = 'metrics-admin-token-0123456789abcdef';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text format's sample lines (`name{a="x",b="y"} value`); HELP/TYPE lines checked apart. */
function parseMetrics(text: string): { samples: Sample[]; help: Map<string, string>; type: Map<string, string> } {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (m) {
      (m[1] === 'HELP' ? help : type).set(m[2]!, m[3]!);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
    let l: RegExpExecArray | null;
    let seen = 0;
    while ((l = re.exec(body))) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      seen = re.lastIndex;
    }
    assert.equal(seen, body.length, `bad labels: ${line}`);
    const v = m[3]!;
    samples.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return { samples, help, type };
}

/** The one sample of `name` with exactly these labels (0 when there is none, as a counter starts). */
function value(samples: Sample[], name: string, labels: Record<string, string>, absent = 0): number {
  const same = (a: Record<string, string>) => Object.keys(a).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => a[k] === v);
  const found = samples.filter((s) => s.name === name && same(s.labels));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} twice`);
  return found[0]?.value ?? absent;
}

async function syncAndWait(s: Stack, name: string, headers: Record<string, string> = {}) {
  const r = await s.api('POST', `/api/connectors/${name}/sync`, {}, headers);
  assert.equal(r.status, 202, r.text);
  return waitFor(async () => {
    const p = (await s.api('GET', `/api/connectors/${name}/progress`, undefined, headers)).data.progress;
    return p && (p.state === 'success' || p.state === 'failed') && !s.srv.runner.isRunning(name) ? p : undefined;
  }, `${name} sync to finish`);
}

describe('GET /metrics', () => {
  let s: Stack;
  const attempts = process.env.RAKUTEN_MAX_ATTEMPTS;

  before(async () => {
    process.env.RAKUTEN_MAX_ATTEMPTS = '4';
    s = await startStack({ rowsPerDay: 20 });
  });
  after(async () => {
    await s?.close();
    if (attempts === undefined) delete process.env.RAKUTEN_MAX_ATTEMPTS;
    else process.env.RAKUTEN_MAX_ATTEMPTS = attempts;
  });

  it('counts syncs, rows, retries and durations as the run history says', async () => {
    // Before any sync: the metrics are there (HELP/TYPE), with no connector series.
    let r = await s.api('GET', '/metrics');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    let parsed = parseMetrics(r.text);
    for (const n of ['rakuten_rows_synced_total', 'rakuten_syncs_total', 'rakuten_sync_duration_seconds', 'rakuten_retries_total', 'rakuten_last_success_timestamp_seconds', 'rakuten_freshness_lag_seconds']) {
      assert.ok(parsed.help.get(n)?.length, `HELP of ${n}`);
    }
    assert.equal(parsed.type.get('rakuten_sync_duration_seconds'), 'histogram');
    assert.equal(parsed.type.get('rakuten_freshness_lag_seconds'), 'gauge');
    assert.equal(parsed.type.get('rakuten_syncs_total'), 'counter');
    assert.equal(parsed.samples.filter((x) => x.labels.connector).length, 0);
    assert.equal(value(parsed.samples, 'rakuten_run_history_up', {}), 1);

    r = await s.api('POST', '/api/connectors', { sync: false, name: 'acme', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -3) });
    assert.equal(r.status, 201, r.text);
    r = await s.api('POST', '/api/connectors', { sync: false, name: 'beta', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -2) });
    assert.equal(r.status, 201, r.text);

    // acme 1: a 500, a 429 and an HTML page on the way, at most 4 attempts per window: it succeeds after 3 retries.
    s.sim.addFaults([{ kind: '500', times: 1 }, { kind: '429', times: 1, retryAfterSec: 0 }, { kind: 'html', times: 1 }]);
    let p = await syncAndWait(s, 'acme');
    assert.equal(p.state, 'success', p.error);
    let served = s.sim.faultCounts();
    assert.equal(served['500'], 1);
    assert.equal(served['429'], 1);
    assert.equal(served.html, 1);

    // beta: its last day answers 503 on every attempt: the run fails after 3 retries, the other days commit.
    s.sim.addFaults([{ kind: '503', times: 4, match: { startDate: today() } }]);
    p = await syncAndWait(s, 'beta');
    assert.equal(p.state, 'failed');
    assert.match(p.error, /gave up after 4 attempts/);
    served = s.sim.faultCounts();
    assert.equal(served['503'], 4);
    s.sim.clearFaults();

    // acme 2: no faults; its finish is the latest success.
    p = await syncAndWait(s, 'acme');
    assert.equal(p.state, 'success', p.error);

    r = await s.api('GET', '/metrics');
    assert.equal(r.status, 200, r.text);
    parsed = parseMetrics(r.text);
    const { samples } = parsed;
    const scrapedAt = Date.now();

    const expectedRetries: Record<string, Record<string, number>> = { acme: { server: 1, rate_limited: 1, not_csv: 1 }, beta: { server: 3 } };
    for (const name of ['acme', 'beta']) {
      const runs = (await s.api('GET', `/api/connectors/${name}/runs?limit=100`)).data.runs as { status: string; rows: number; startedAt: string; finishedAt: string | null }[];
      const finished = runs.filter((x) => x.status !== 'running');
      assert.ok(finished.length > 0);
      for (const outcome of ['success', 'failed', 'interrupted']) {
        assert.equal(value(samples, 'rakuten_syncs_total', { connector: name, outcome }), runs.filter((x) => x.status === outcome).length, `${name} ${outcome}`);
      }
      // Rows: every finished run's rows as recorded (a failed run's are the windows it committed).
      const rows = finished.reduce((a, x) => a + x.rows, 0);
      assert.ok(rows > 0);
      assert.equal(value(samples, 'rakuten_rows_synced_total', { connector: name }), rows, `${name} rows`);
      // Duration histogram: one observation per finished run; the sum is the runs' durations.
      assert.equal(value(samples, 'rakuten_sync_duration_seconds_count', { connector: name }), finished.length);
      assert.equal(value(samples, 'rakuten_sync_duration_seconds_bucket', { connector: name, le: '+Inf' }), finished.length);
      assert.equal(value(samples, 'rakuten_sync_duration_seconds_bucket', { connector: name, le: '3600' }), finished.length);
      const seconds = finished.reduce((a, x) => a + (Date.parse(x.finishedAt!) - Date.parse(x.startedAt)) / 1000, 0);
      assert.ok(Math.abs(value(samples, 'rakuten_sync_duration_seconds_sum', { connector: name }) - seconds) < 0.01);
      // Retries by kind: what the simulator's faults caused.
      const kinds = samples.filter((x) => x.name === 'rakuten_retries_total' && x.labels.connector === name);
      assert.deepEqual(Object.fromEntries(kinds.map((x) => [x.labels.kind, x.value])), expectedRetries[name]);
    }

    // Last success: acme's latest successful run; beta never succeeded: no series.
    const acmeRuns = (await s.api('GET', '/api/connectors/acme/runs')).data.runs as { status: string; finishedAt: string }[];
    const lastOk = Date.parse(acmeRuns.find((x) => x.status === 'success')!.finishedAt) / 1000;
    assert.ok(Math.abs(value(samples, 'rakuten_last_success_timestamp_seconds', { connector: 'acme' }) - lastOk) < 1);
    const lag = value(samples, 'rakuten_freshness_lag_seconds', { connector: 'acme' });
    assert.ok(lag >= 0 && Math.abs(lag - (scrapedAt / 1000 - lastOk)) < 2, `lag ${lag}`);
    assert.equal(value(samples, 'rakuten_last_success_timestamp_seconds', { connector: 'beta' }, NaN), NaN);
    assert.equal(value(samples, 'rakuten_freshness_lag_seconds', { connector: 'beta' }, NaN), NaN);

    // Labels: connector names and fixed words only; no token or URL anywhere in the text.
    for (const x of samples) {
      for (const [k, v] of Object.entries(x.labels)) assert.ok(['connector', 'outcome', 'kind', 'le'].includes(k) && /^[\w.+-]+$/.test(v), `${x.name} ${k}=${v}`);
    }
    for (const secret of [ACME_TOKEN, GLOBEX_TOKEN, DEMO_TOKEN, s.sim.url, new URL(s.sim.url).host]) assert.ok(!r.text.includes(secret), `metrics text holds ${secret}`);
  });
});

describe('GET /metrics with an admin token', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ adminToken: ADMIN });
  });
  after(async () => {
    await s?.close();
  });

  it('needs the token, as the API does; a server of its own counts only its syncs', async () => {
    let r = await s.api('GET', '/metrics');
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(r.headers.get('location'), null);
    assert.ok(!r.text.includes('rakuten_'));
    r = await s.api('GET', '/metrics', undefined, { Authorization: 'Bearer not-the-admin-token' });
    assert.equal(r.status, 401, r.text);
    r = await s.api('GET', '/healthz');
    assert.equal(r.status, 200, r.text);

    const auth = { Authorization: `Bearer ${ADMIN}` };
    r = await s.api('POST', '/api/connectors', { sync: false, name: 'solo', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today(), -1) }, auth);
    assert.equal(r.status, 201, r.text);
    const p = await syncAndWait(s, 'solo', auth);
    assert.equal(p.state, 'success', p.error);

    r = await s.api('GET', '/metrics', undefined, auth);
    assert.equal(r.status, 200, r.text);
    const { samples } = parseMetrics(r.text);
    assert.equal(value(samples, 'rakuten_syncs_total', { connector: 'solo', outcome: 'success' }), 1);
    // The other describe's connectors (another server in this process) are not counted here.
    assert.equal(samples.filter((x) => x.labels.connector && x.labels.connector !== 'solo').length, 0);
    for (const secret of [ADMIN, ACME_TOKEN, s.sim.url]) assert.ok(!r.text.includes(secret), 'metrics text holds a secret');
  });
});
