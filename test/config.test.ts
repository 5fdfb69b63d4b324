/**
 * Settings: one declaration (src/util/config.ts), checked at start-up, documented in the README's
 * configuration table (generated from the declaration: RAKUTEN_WRITE_DOCS=1 regenerates it), and
 * honoured by every command — `serve` included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../src/app/app.js';
import { requestOptionsFromEnv } from '../src/app/options.js';
import { Output } from '../src/app/output.js';
import { FakeClock } from '../src/scheduler/clock.js';
import { startServer } from '../src/server/server.js';
import { ACME_TOKEN, startSimulator } from '../src/simulator/index.js';
import { ConfigError, SETTINGS, validateEnvironment } from '../src/util/config.js';
import { addDays, todayIn } from '../src/util/days.js';
import { ROOT } from './helpers/cli.js';

function problems(env: Record<string, string>): string[] {
  try {
    validateEnvironment(env as NodeJS.ProcessEnv);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
}

test('every bad value is refused with the setting and its range; good values pass', () => {
  assert.deepEqual(problems({}), []);
  assert.deepEqual(problems({ RAKUTEN_HEADERS_TIMEOUT_MS: '1500', RAKUTEN_LEASE_TTL_MS: '3000', RAKUTEN_ALLOWED_HOSTS: '127.0.0.1:8787, sim.local:9000', RAKUTEN_WAREHOUSE: 'postgres://u@h/db' }), []);
  assert.deepEqual(problems({ RAKUTEN_HEADERS_TIMEOUT_MS: 'abc' }), ['RAKUTEN_HEADERS_TIMEOUT_MS="abc": use a whole number from 100 to 7200000']);
  assert.deepEqual(problems({ RAKUTEN_HEADERS_TIMEOUT_MS: '0', RAKUTEN_LEASE_TTL_MS: '0', RAKUTEN_MAX_ATTEMPTS: '-1' }), [
    'RAKUTEN_HEADERS_TIMEOUT_MS="0": use a whole number from 100 to 7200000',
    'RAKUTEN_MAX_ATTEMPTS="-1": use a whole number from 1 to 100',
    'RAKUTEN_LEASE_TTL_MS="0": use a whole number from 1000 to 21600000',
  ]);
  assert.deepEqual(problems({ RAKUTEN_RETRY_BASE_MS: '5000', RAKUTEN_RETRY_MAX_MS: '100' }), ['RAKUTEN_RETRY_BASE_MS (5000) is larger than RAKUTEN_RETRY_MAX_MS (100): the first delay cannot exceed the longest']);
  assert.match(problems({ RAKUTEN_WAREHOUSE: 'mysql://x' })[0]!, /^RAKUTEN_WAREHOUSE="mysql:\/\/x": use duckdb:<file>/);
  assert.match(problems({ RAKUTEN_API_BASE: 'ftp://x' })[0]!, /^RAKUTEN_API_BASE="ftp:\/\/x": use an http\(s\) URL/);
  assert.match(problems({ RAKUTEN_DEBUG: 'maybe' })[0]!, /^RAKUTEN_DEBUG="maybe"/);
  // A secret is never quoted back.
  const key = problems({ RAKUTEN_CONNECTOR_KEY: 'short-secret' });
  assert.equal(key.length, 1);
  assert.match(key[0]!, /^RAKUTEN_CONNECTOR_KEY is too short \(12 characters\): use at least 16 characters/);
  assert.ok(!key[0]!.includes('short-secret'), 'the key is not quoted');
  assert.deepEqual(problems({ RAKUTEN_CONNECTOR_ADMIN_TOKEN: 'pw' }), ['RAKUTEN_CONNECTOR_ADMIN_TOKEN: too short (2 characters): use at least 16 characters']);
});

test('request settings reach the client: limits and deadlines', () => {
  assert.deepEqual(requestOptionsFromEnv({ RAKUTEN_HEADERS_TIMEOUT_MS: '1500', RAKUTEN_REQUEST_DEADLINE_MS: '60000', RAKUTEN_MAX_REPORT_MB: '2' } as NodeJS.ProcessEnv),
    { headersTimeoutMs: 1500, deadlineMs: 60000, maxBodyBytes: 2 * 1024 * 1024 });
  assert.deepEqual(requestOptionsFromEnv({} as NodeJS.ProcessEnv), {});
});

test('every RAKUTEN_ variable the code reads is declared', () => {
  const declared = new Set<string>(SETTINGS.map((s) => s.env));
  const used = execFileSync('grep', ['-rhoE', "process\\.env\\.RAKUTEN_[A-Z0-9_]+|env\\.RAKUTEN_[A-Z0-9_]+|'RAKUTEN_[A-Z0-9_]+'", join(ROOT, 'src'), '--include=*.ts', '--exclude-dir=simulator'], { encoding: 'utf8' })
    .split('\n').map((l: string) => l.replace(/^.*?(RAKUTEN_[A-Z0-9_]+).*$/, '$1')).filter(Boolean);
  for (const v of new Set<string>(used)) assert.ok(declared.has(v), `${v} is read in src/ but not declared in src/util/config.ts`);
});

test('the README configuration table is generated from the declaration', () => {
  const rows = SETTINGS.map((s) => `| \`${s.env}\`${'flag' in s && s.flag ? ` (\`${s.flag}\`)` : ''} | ${s.doc} | ${'min' in s && s.kind === 'int' ? `${s.min}–${s.max}` : ''} | ${s.defaultDoc} |`);
  const block = ['<!-- settings:start -->', '| variable | meaning | range | default |', '|---|---|---|---|', ...rows, '<!-- settings:end -->'].join('\n');
  const path = join(ROOT, 'README.md');
  const doc = readFileSync(path, 'utf8');
  const re = /<!-- settings:start -->[\s\S]*<!-- settings:end -->/;
  if (process.env.RAKUTEN_WRITE_DOCS) writeFileSync(path, doc.replace(re, () => block));
  else assert.equal(doc.match(re)?.[0], block, 'README configuration table is out of date: RAKUTEN_WRITE_DOCS=1 node --import tsx --test test/config.test.ts');
});

test('serve honours RAKUTEN_LEASE_TTL_MS for the syncs it runs', async () => {
  const sim = await startSimulator({ port: 0, rowsPerDay: 5 });
  const saved = { hosts: process.env.RAKUTEN_ALLOWED_HOSTS, ttl: process.env.RAKUTEN_LEASE_TTL_MS };
  process.env.RAKUTEN_ALLOWED_HOSTS = new URL(sim.url).host;
  process.env.RAKUTEN_LEASE_TTL_MS = '3000';
  const home = mkdtempSync(join(tmpdir(), 'rc-ttl-'));
  const app = await App.open({ home });
  const out = new Output(false, process.stderr, process.stderr);
  const srv = await startServer({ app, out, host: '127.0.0.1', port: 0, clock: new FakeClock(Date.now()) });
  try {
    const today = todayIn('GMT');
    const url = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&token=${ACME_TOKEN}`;
    assert.ok((await app.saveAndTest({ name: 'ttl', url, startDate: addDays(today, -2) })).saved);
    // Every window answers slowly, so the sync is still running when we look at its lease.
    sim.addFaults([{ kind: 'slow', times: 3, delayMs: 1500 }]);
    const r = await fetch(`${srv.url}/api/connectors/ttl/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 202);
    let holder: { owner: string; expiresAt: string } | undefined;
    for (let i = 0; i < 100 && !holder; i++) {
      holder = await app.db.state.leaseHolder('ttl');
      if (!holder) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(holder, 'the sync holds a lease');
    const left = Date.parse(holder.expiresAt) - Date.now();
    assert.ok(left <= 3000, `the lease lasts RAKUTEN_LEASE_TTL_MS (3 s), not the 60 s default: ${left} ms left`);
  } finally {
    await srv.close();
    await sim.close();
    process.env.RAKUTEN_ALLOWED_HOSTS = saved.hosts;
    if (saved.ttl === undefined) delete process.env.RAKUTEN_LEASE_TTL_MS;
    else process.env.RAKUTEN_LEASE_TTL_MS = saved.ttl;
  }
});
