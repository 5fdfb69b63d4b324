/**
 * One connector that cannot be used must never break the others, nor `list`, `status`, the API or
 * the charts: it is listed with its problem in plain words, and syncing it fails at once naming
 * the cause. Also: the token never has to be on the command line (`--url -`, RAKUTEN_REPORT_URL),
 * and every setting is checked at start-up. Real CLI processes against the simulator.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { BIN, cliEnv, runCli, transcript } from './helpers/cli.js';
import { startStack } from './helpers/browser.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const KEY_A = 'key-a-0123456789abcdef0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef0123456789abcdef';

/** The CLI with text on its standard input (a pipe). */
function runWithStdin(args: string[], home: string, env: Record<string, string>, stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv({ home, env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => {
      transcript.push(`${stdout}\n${stderr}`);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

describe('a connector that cannot be used', () => {
  let sim: Simulator;
  let allowed: Record<string, string>;
  const url = (token: string, suffix = '') =>
    `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${token}${suffix}`;

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    allowed = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
  });
  after(async () => {
    await sim?.close();
  });

  it('a URL ending in #fragment is saved without it; list and status work', async () => {
    const home = tempHome('rc-frag-');
    const add = await runCli(['add', '--name', 'frag', '--url', url(ACME_TOKEN, '#section'), '--start-date', addDays(today, -1)], { home, env: allowed });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.match(add.stdout, /saved connector "frag"/);
    assert.doesNotMatch(add.stdout, /#section/);
    const list = await runCli(['list'], { home, env: allowed });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^frag\taffiliate-report\ttransaction\tUSD\ttoken …05/m);
    const status = await runCli(['status', 'frag'], { home, env: allowed });
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(status.stdout, /PROBLEM/);
    const sync = await runCli(['sync', 'frag'], { home, env: allowed });
    assert.equal(sync.code, 0, sync.stderr);
  });

  it('after `demo` ends, list and status demo work in that home; syncing it says why it cannot', async () => {
    const home = tempHome('rc-demo-');
    const demo = await runCli(['demo', '--no-serve', '--days', '2'], { home });
    assert.equal(demo.code, 0, demo.stdout + demo.stderr);
    const list = await runCli(['list'], { home });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^demo\tcannot be used: not a Rakuten reporting host: 127\.0\.0\.1:\d+/m);
    assert.match(list.stdout, /^demo\tdemo-report\ttransaction\tUSD\ttoken …05\tsynced to \d{4}-\d{2}-\d{2}/m);
    const status = await runCli(['status', 'demo'], { home });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /PROBLEM {6}not a Rakuten reporting host/);
    assert.match(status.stdout, /warehouse {4}\d+ rows over 2 days/);
    const sync = await runCli(['sync', 'demo'], { home });
    assert.equal(sync.code, 1);
    // The demo's connector is recognised: its simulator stopped with the demo (test/cli-complete.test.ts).
    assert.match(sync.stderr, /sync failed: the demo's simulator is not running .*`npm run demo` again/);
  });

  it('a token sealed with another key is listed with its problem; the other connectors sync', async () => {
    const home = tempHome('rc-keys-');
    const start = addDays(today, -1);
    assert.equal((await runCli(['add', '--name', 'old', '--url', url(ACME_TOKEN), '--start-date', start], { home, env: { ...allowed, RAKUTEN_CONNECTOR_KEY: KEY_A } })).code, 0);
    assert.equal((await runCli(['add', '--name', 'new', '--url', url(GLOBEX_TOKEN), '--start-date', start], { home, env: { ...allowed, RAKUTEN_CONNECTOR_KEY: KEY_B } })).code, 0);
    const env = { ...allowed, RAKUTEN_CONNECTOR_KEY: KEY_B };
    const list = await runCli(['list'], { home, env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^old\tcannot be used: cannot decrypt the stored token/m);
    assert.match(list.stdout, /^new\taffiliate-report\ttransaction\tUSD\ttoken …05\tsynced to -/m);
    const all = await runCli(['sync', '--all'], { home, env });
    assert.equal(all.code, 1, 'one connector failed');
    assert.match(all.stderr, /\[old\] sync failed: cannot decrypt the stored token/);
    assert.match(all.stdout, /synced new: 2 windows/);
    assert.equal((await runCli(['status', 'old'], { home, env })).code, 0);
  });
});

describe('serve with a connector that cannot be used', () => {
  it('/api/connectors, /api/charts and the scheduler keep working; the connector shows its problem', async () => {
    const s = await startStack({ rowsPerDay: 5 });
    const before = process.env.RAKUTEN_ALLOWED_HOSTS;
    try {
      const made = await s.api('POST', '/api/connectors', { sync: false, name: 'gone', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(today, -1) });
      assert.equal(made.status, 201, made.text);
      const ok = await s.api('POST', '/api/connectors', { sync: false, name: 'fine', url: s.reportUrl('affiliate-report', GLOBEX_TOKEN), startDate: addDays(today, -1) });
      assert.equal(ok.status, 201, ok.text);
      // The simulator's host is no longer allowed (as after `npm run demo`): fetching is refused, showing is not.
      process.env.RAKUTEN_ALLOWED_HOSTS = '';
      const list = await s.api('GET', '/api/connectors');
      assert.equal(list.status, 200, list.text);
      const byName = new Map((list.data as { connectors: { name: string; problem: string | null; status: string }[] }).connectors.map((c) => [c.name, c]));
      assert.match(byName.get('gone')!.problem ?? '', /not a Rakuten reporting host/);
      assert.equal(byName.get('gone')!.status, 'unusable');
      assert.match(byName.get('fine')!.problem ?? '', /not a Rakuten reporting host/);
      assert.equal((await s.api('GET', '/api/charts')).status, 200);
      assert.equal((await s.api('GET', '/api/charts?connector=gone')).status, 200);
      assert.equal((await s.api('GET', '/api/connectors/gone')).status, 200);
      assert.equal((await s.srv.scheduler.refresh(), 'refreshed'), 'refreshed', 'the scheduler reloads without failing');
      const escape = await s.api('POST', '/api/parse-url', { url: 'https://ran-reporting.rakutenmarketing.com/en/reports/r%zz/filters?token=tok_escape_0000000001' });
      assert.equal(escape.status, 400, 'a malformed %-escape is a 400 naming the field, not a 500');
      assert.match((escape.data as { errors: { url: string } }).errors.url, /malformed %-escape/);
    } finally {
      process.env.RAKUTEN_ALLOWED_HOSTS = before;
      await s.close();
    }
  });
});

describe('the token stays off the command line', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  let reportUrl: string;
  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
    reportUrl = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&token=${ACME_TOKEN}`;
  });
  after(async () => {
    await sim?.close();
  });

  it('`add --url -` reads the URL from standard input', async () => {
    const home = tempHome('rc-stdin-');
    const r = await runWithStdin(['add', '--name', 'piped', '--url', '-'], home, env, `${reportUrl}\n`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /saved connector "piped"/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(ACME_TOKEN));
  });

  it('`add` takes the URL from RAKUTEN_REPORT_URL', async () => {
    const home = tempHome('rc-envurl-');
    const r = await runCli(['add', '--name', 'fromenv'], { home, env: { ...env, RAKUTEN_REPORT_URL: reportUrl } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /saved connector "fromenv"/);
  });

  it('`add --url -` on a terminal prompts without echoing the token', async () => {
    const home = tempHome('rc-tty-');
    // `script` gives the CLI a real terminal; what it shows is all the terminal shows.
    const cmd = `${process.execPath} ${BIN} add --name tty --url -`;
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: cliEnv({ home, env }), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let sent = false;
      const onData = (d: string) => {
        out += d;
        if (!sent && out.includes('(not shown)')) {
          sent = true;
          child.stdin.write(`${reportUrl}\r`);
        }
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', onData);
      child.on('close', (code) => resolve({ code, out }));
    });
    transcript.push(r.out);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Paste the "Get API" URL \(not shown\)/);
    assert.match(r.out, /saved connector "tty"/);
    assert.ok(!r.out.includes(ACME_TOKEN), 'the pasted token is not echoed');
  });
});
