/**
 * Issue 11, everyday use: the CLI does what the web app does (`edit`, `pause`, `resume`), every
 * usage error exits 2, `--json` prints JSON lines with the fields the text shows; re-adding a
 * removed connector's name does not silently adopt its rows (CLI and API); after the demo ends,
 * `sync demo` says at once that its simulator is gone, and the demo run again resumes it. Real CLI
 * processes against the simulator (the API part in-process, through the server).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { runCli, transcript } from './helpers/cli.js';
import { startStack } from './helpers/browser.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const yesterday = addDays(today, -1);
const WRONG_TOKEN = 'tok_wrong_0000000000000000000099';
const NAME_HINT = 'use letters, digits, "-", "_" or "." (up to 63 characters), starting with a letter or digit';

/** The JSON lines of a `--json` command's stdout. */
const jsonLines = (stdout: string): Record<string, unknown>[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the CLI as complete as the web app', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const url = (token: string, report = 'affiliate-report') =>
    `${sim.url}/en/reports/${report}/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${token}`;
  const cli = (home: string, ...args: string[]) => runCli(args, { home, env });
  async function homeWith(name: string): Promise<string> {
    const home = tempHome('rc-complete-');
    const add = await cli(home, 'add', '--name', name, '--url', url(ACME_TOKEN), '--start-date', yesterday, '--schedule', '0 6 * * *');
    assert.equal(add.code, 0, add.stdout + add.stderr);
    return home;
  }
  const status = async (home: string, name: string) => JSON.parse((await cli(home, '--json', 'status', name)).stdout) as {
    url: string; timeZone: string; settings: { startDate: string; lookbackDays: number; windowDays: number; schedule: string; paused: boolean };
    coverage: { rows: number; days: number; firstDay: string; lastDay: string }; cursor: string | null;
  };

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
  });
  after(async () => {
    await sim?.close();
    const all = transcript.join('\n');
    for (const t of [ACME_TOKEN, GLOBEX_TOKEN, WRONG_TOKEN]) assert.ok(!all.includes(t), 'no token in any output');
  });

  it('add says what to run next; add --sync runs the first sync at once', async () => {
    const home = tempHome('rc-complete-');
    const plain = await cli(home, 'add', '--name', 'n1', '--url', url(ACME_TOKEN), '--start-date', yesterday);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`^saved connector "n1" \\(.*\\); amounts in USD\\.\\nnext: \`rakuten-connector sync n1\` loads ${yesterday} to today \\(or add with --sync\\); \`rakuten-connector serve\` syncs it on its schedule\\n$`, 'm'));
    assert.equal((await status(home, 'n1')).coverage.rows, 0, 'add alone syncs nothing');

    const synced = await cli(home, 'add', '--name', 'n2', '--url', url(GLOBEX_TOKEN), '--start-date', yesterday, '--sync');
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(synced.stdout, /^saved connector "n2" \(.*\); amounts in USD\.$/m);
    assert.doesNotMatch(synced.stdout, /^next:/m);
    assert.match(synced.stdout, new RegExp(`^synced n2: 2 windows, \\d+ rows in [\\d.]+s \\(${yesterday}\\.\\.${today}\\), run \\S+$`, 'm'));
    const st = await status(home, 'n2');
    assert.equal(st.cursor, today);
    assert.equal(st.coverage.rows, sim.totals({ token: GLOBEX_TOKEN, report: 'affiliate-report', from: yesterday, to: today, dateType: 'transaction' }).reduce((a, d) => a + d.rows, 0));
  });

  it('edit: settings are saved at once; --json gives the same fields', async () => {
    const home = await homeWith('e1');
    const r = await cli(home, 'edit', 'e1', '--lookback-days', '7', '--window-days', '2', '--schedule', '');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `updated connector "e1": currency USD, start ${yesterday}, lookback 7 days, window 2 day(s), schedule ""\n`);
    assert.equal(r.stderr, '');
    const st = await status(home, 'e1');
    assert.deepEqual(st.settings, { startDate: yesterday, lookbackDays: 7, windowDays: 2, schedule: '', paused: false, currency: 'USD', staleAfterHours: null });

    const j = await cli(home, '--json', 'edit', 'e1', '--start-date', today);
    assert.equal(j.code, 0, j.stderr);
    const lines = jsonLines(j.stdout);
    assert.equal(lines.length, 1);
    const { connector, ...rest } = lines[0] as { connector: { name: string; settings: unknown } };
    assert.deepEqual(rest, { saved: true, tested: false, checks: [], warnings: [] });
    assert.equal(connector.name, 'e1');
    assert.deepEqual(connector.settings, { startDate: today, lookbackDays: 7, windowDays: 2, schedule: '', paused: false, currency: 'USD', staleAfterHours: null });
  });

  it('edit: a new token, key or time zone is Saved & Tested first; a failing test changes nothing (exit 1)', async () => {
    const home = await homeWith('e2');
    const before = await status(home, 'e2');

    const bad = await cli(home, 'edit', 'e2', '--token', WRONG_TOKEN, '--lookback-days', '3');
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^Save & Test e2:\n/);
    assert.match(bad.stdout, /^ {2}FAIL token accepted: Rakuten rejected the token \(HTTP 401\)/m);
    assert.ok(bad.stdout.endsWith('nothing was changed.\n'), bad.stdout);
    assert.deepEqual(await status(home, 'e2'), before, 'nothing changed, the lookback neither');

    const noReport = await cli(home, 'edit', 'e2', '--report-key', 'no-such-report');
    assert.equal(noReport.code, 1);
    assert.match(noReport.stdout, /^ {2}FAIL report found: Rakuten does not know this report \(HTTP 404\)/m);
    assert.equal((await status(home, 'e2')).url, before.url);

    const tz = await cli(home, 'edit', 'e2', '--time-zone', 'America/New_York');
    assert.equal(tz.code, 0, tz.stdout + tz.stderr);
    assert.match(tz.stdout, /^ {2}ok {3}token accepted$/m);
    assert.match(tz.stdout, /^saved the changes to connector "e2" \(http:\/\/127\.0\.0\.1:\d+\/en\/reports\/affiliate-report\/filters\?.*tz=America%2FNew_York.*token=…05\): currency USD, start /m);
    assert.equal((await status(home, 'e2')).timeZone, 'America/New_York');

    const rotated = await cli(home, 'edit', 'e2', '--token', GLOBEX_TOKEN);
    assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
    const sync = await cli(home, 'sync', 'e2');
    assert.equal(sync.code, 0, sync.stderr);
    assert.ok(sim.requests().some((q) => /tz=America(%2F|\/)New_York/.test(q.path) && q.status === 200), 'syncs in the new time zone');
  });

  it('edit: usage errors exit 2; an unknown connector exits 1', async () => {
    const home = await homeWith('e3');
    const cases: [string[], string][] = [
      [['edit', 'e3'], 'error: give what to change: --url, --report-key, --token, --time-zone, --start-date, --lookback-days, --window-days, --schedule, --currency or --stale-after\n'],
      [['edit', 'e3', '--lookback-days', '999'], 'error: --lookback-days must be a whole number from 0 to 365, got "999"\n'],
      [['edit', 'e3', '--schedule', 'every day'], /^error: --schedule: /.source],
      [['edit', 'e3', '--start-date', '0001-01-01'], 'error: --start-date: use a day from 2000-01-01 to today\n'],
      [['edit', 'e3', '--time-zone', 'Mars/Olympus'], 'error: --time-zone: unknown time zone: use GMT or an IANA zone such as America/New_York\n'],
      [['edit', 'e3', '--url', url(ACME_TOKEN), '--token', GLOBEX_TOKEN], 'error: give --url, or --report-key / --token, not both\n'],
    ];
    for (const [args, expected] of cases) {
      const r = await cli(home, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      if (expected.startsWith('^')) assert.match(r.stderr, new RegExp(expected));
      else assert.equal(r.stderr, expected);
      assert.equal(r.stdout, '');
    }
    const none = await cli(home, 'edit', 'nosuch', '--lookback-days', '3');
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'error: no connector named "nosuch" (see `rakuten-connector list`)\n');
  });

  it('pause and resume: `list` shows it, `sync --all` skips a paused connector; --json', async () => {
    const home = await homeWith('p1');
    const p = await cli(home, 'pause', 'p1');
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout, 'paused connector "p1": no scheduled syncs, `sync --all` skips it (`sync p1` still works)\n');
    assert.equal((await status(home, 'p1')).settings.paused, true);
    assert.match((await cli(home, 'list')).stdout, /^p1\t.*\tpaused$/m);
    const all = await cli(home, 'sync', '--all');
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'sync --all: 0 synced, 0 failed, 0 skipped (synced by another worker)\n');

    const r = await cli(home, 'resume', 'p1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'resumed connector "p1": scheduled again ("0 6 * * *"), synced by `sync --all`\n');
    assert.equal((await status(home, 'p1')).settings.paused, false);
    assert.deepEqual(jsonLines((await cli(home, '--json', 'pause', 'p1')).stdout), [{ name: 'p1', paused: true }]);
    assert.deepEqual(jsonLines((await cli(home, '--json', 'resume', 'p1')).stdout), [{ name: 'p1', paused: false }]);
    const missing = await cli(home, 'pause', 'nosuch');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: no connector named "nosuch" (see `rakuten-connector list`)\n');
  });

  it('an invalid --name and an invalid --from are usage errors (exit 2) with the same message', async () => {
    const home = await homeWith('u1');
    const name = await cli(home, 'add', '--name', 'bad name!', '--url', url(ACME_TOKEN));
    assert.equal(name.code, 2, name.stderr);
    assert.equal(name.stderr, `error: invalid connector name "bad name!" (${NAME_HINT})\n`);
    assert.equal(name.stdout, '');
    const month = await cli(home, 'sync', 'u1', '--from', '2026-13-01', '--to', '2026-13-02');
    assert.equal(month.code, 2, month.stderr);
    assert.equal(month.stderr, 'error: invalid date "2026-13-01" (use YYYY-MM-DD)\n');
    const order = await cli(home, 'sync', '--all', '--from', today, '--to', yesterday);
    assert.equal(order.code, 2, order.stderr);
    assert.equal(order.stderr, 'error: --from is after --to (swap the dates)\n');
    const old = await cli(home, 'sync', 'u1', '--from', '1999-12-31', '--to', today);
    assert.equal(old.code, 2);
    assert.equal(old.stderr, 'error: invalid date "1999-12-31" (use a day from 2000-01-01 on)\n');
    assert.equal((await status(home, 'u1')).cursor, null, 'nothing was synced');
  });

  it('list: a header line; --json one line per connector with the fields the text shows; remove --json', async () => {
    const home = await homeWith('l1');
    assert.equal((await cli(home, 'add', '--name', 'l2', '--url', url(GLOBEX_TOKEN), '--start-date', yesterday, '--currency', 'GBP')).code, 0);
    assert.equal((await cli(home, 'sync', 'l1')).code, 0);
    assert.equal((await cli(home, 'pause', 'l2')).code, 0);
    const rows = (await status(home, 'l1')).coverage.rows;
    assert.ok(rows > 0);

    const text = await cli(home, 'list');
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, [
      'name\treport key\tdate type\tcurrency\ttoken\tsynced to\trows\tlast run\tpaused',
      `l1\taffiliate-report\ttransaction\tUSD\ttoken …05\tsynced to ${today}\t${rows} rows\tsuccess`,
      'l2\taffiliate-report\ttransaction\tGBP\ttoken …05\tsynced to -\t0 rows\tnever synced\tpaused',
      '',
    ].join('\n'));

    const json = await cli(home, '--json', 'list');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(jsonLines(json.stdout), [
      { name: 'l1', reportKey: 'affiliate-report', dateType: 'transaction', currency: 'USD', tokenMasked: '…05', cursor: today, rows, lastRun: 'success', paused: false, problem: null },
      { name: 'l2', reportKey: 'affiliate-report', dateType: 'transaction', currency: 'GBP', tokenMasked: '…05', cursor: null, rows: 0, lastRun: null, paused: true, problem: null },
    ]);

    const removed = await cli(home, '--json', 'remove', 'l2');
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(jsonLines(removed.stdout), [{ removed: 'l2', dataDropped: false }]);
    const empty = tempHome('rc-complete-empty-');
    const none = await runCli(['--json', 'list'], { home: empty, env });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '', 'no connectors: no lines');
  });
});

describe('re-adding a removed name', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const url = () => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${ACME_TOKEN}`;
  const cli = (home: string, ...args: string[]) => runCli(args, { home, env });
  const coverage = async (home: string, name: string) => (JSON.parse((await cli(home, '--json', 'status', name)).stdout) as { coverage: { rows: number } }).coverage;

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
  });
  after(async () => {
    await sim?.close();
  });

  it('`add` refuses while an earlier connector\'s rows are kept; --adopt-data adopts them; remove-data drops them', async () => {
    const home = tempHome('rc-readd-');
    const add = (...more: string[]) => cli(home, 'add', '--name', 'k', '--url', url(), '--start-date', yesterday, ...more);
    assert.equal((await add()).code, 0);
    assert.equal((await cli(home, 'sync', 'k')).code, 0);
    const rows = (await coverage(home, 'k')).rows;
    assert.ok(rows > 0);
    const rm = await cli(home, 'remove', 'k');
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'removed connector "k" (its rows stay in the warehouse: `rakuten-connector remove-data k` deletes them, `add --name k … --adopt-data` takes them over)\n');

    const refused = await add();
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.equal(refused.stderr, `error: the warehouse still has ${rows} rows (2 days, ${yesterday}..${today}) of an earlier connector named "k" `
      + '(to keep them for the new connector, add it with --adopt-data (API: "adoptData": true); to delete them first: rakuten-connector remove-data k)\n');
    assert.equal(refused.stdout, '');
    assert.equal((await cli(home, 'list')).stdout, 'no connectors yet: rakuten-connector add --name NAME --url "<Get API URL>"\n', 'nothing saved');

    const adopted = await add('--adopt-data');
    assert.equal(adopted.code, 0, adopted.stdout + adopted.stderr);
    assert.match(adopted.stdout, /saved connector "k"/);
    assert.equal((await coverage(home, 'k')).rows, rows, 'the rows are the new connector\'s');

    const exists = await cli(home, 'remove-data', 'k');
    assert.equal(exists.code, 1);
    assert.equal(exists.stderr, 'error: connector "k" exists: its rows are not left over (to delete it with its rows: rakuten-connector remove k --drop-data)\n');
    assert.equal((await cli(home, 'remove', 'k')).code, 0);
    const dropped = await cli(home, 'remove-data', 'k');
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.equal(dropped.stdout, `deleted ${rows} rows (2 days, ${yesterday}..${today}) of the earlier connector "k"\n`);
    const again = await cli(home, '--json', 'remove-data', 'k');
    assert.deepEqual(jsonLines(again.stdout), [{ name: 'k', deletedRows: 0, days: 0, firstDay: null, lastDay: null }]);
    const fresh = await add();
    assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
    assert.equal((await coverage(home, 'k')).rows, 0);
    const badName = await cli(home, 'remove-data', 'bad name!');
    assert.equal(badName.code, 2);
    assert.equal(badName.stderr, `error: invalid connector name "bad name!" (${NAME_HINT})\n`);
  });

  it('POST /api/connectors refuses (409, with the kept rows) unless adoptData: true; PATCH goes through the same App.edit', async () => {
    const s = await startStack({ rowsPerDay: 5 });
    try {
      const app = s.srv.app;
      const url = s.reportUrl('affiliate-report', ACME_TOKEN);
      assert.ok((await app.saveAndTest({ name: 'old', url, startDate: yesterday })).saved);
      await app.sync('old', {});
      const kept = (await app.status('old', 1)).coverage;
      assert.ok(kept.rows > 0);
      await app.remove('old', false);

      let r = await s.api('POST', '/api/connectors', { sync: false, name: 'old', url, startDate: yesterday });
      assert.equal(r.status, 409, r.text);
      assert.deepEqual(r.data, {
        errors: { name: `the warehouse still has ${kept.rows} rows (2 days, ${yesterday}..${today}) of an earlier connector named "old" (to keep them for the new connector, add it with --adopt-data (API: "adoptData": true); to delete them first: rakuten-connector remove-data old)` },
        keptData: kept,
      });
      assert.equal(await app.find('old'), undefined, 'nothing saved');
      r = await s.api('POST', '/api/connectors', { sync: false, name: 'old', url, startDate: yesterday, adoptData: 'yes' });
      assert.equal(r.status, 400);
      assert.deepEqual(r.data, { errors: { adoptData: 'true or false' } });
      r = await s.api('POST', '/api/connectors', { sync: false, name: 'old', url, startDate: yesterday, adoptData: true });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.data.connector.coverage.rows, kept.rows);

      r = await s.api('PATCH', '/api/connectors/old', { lookbackDays: 3 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.data.tested, false);
      assert.equal(r.data.connector.settings.lookbackDays, 3);
      r = await s.api('PATCH', '/api/connectors/old', { timeZone: 'America/New_York' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.data.tested, true);
      assert.equal(r.data.connector.timeZone, 'America/New_York');
      r = await s.api('PATCH', '/api/connectors/old', { token: 'tok_wrong_0000000000000000000099' });
      assert.equal(r.status, 422, r.text);
      assert.equal(r.data.saved, false);
    } finally {
      await s.close();
    }
  });
});

describe('the demo after it ended', () => {
  it('`sync demo` says at once that the simulator is not running; `demo` again resumes the same connector', { timeout: 120_000 }, async () => {
    const home = tempHome('rc-demo-again-');
    const first = await runCli(['demo', '--no-serve', '--days', '2'], { home });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const port = /simulator running at http:\/\/127\.0\.0\.1:(\d+)/.exec(first.stdout)?.[1];
    assert.ok(port, first.stdout);
    const rowsOf = async () => (JSON.parse((await runCli(['--json', 'status', 'demo'], { home })).stdout) as { coverage: { rows: number; days: number } }).coverage;
    const before = await rowsOf();
    const expected = 'error: [demo] sync failed: the demo\'s simulator is not running (it runs only while `npm run demo` does) '
      + '(run `npm run demo` again in this home (or `rakuten-connector demo`): it brings the simulator back and resumes this connector)\n';

    // Even with its old port allowed and real retry delays, the answer comes at once.
    const started = Date.now();
    const sync = await runCli(['sync', 'demo'], { home, env: { RAKUTEN_ALLOWED_HOSTS: `127.0.0.1:${port}`, RAKUTEN_RETRY_BASE_MS: '1000', RAKUTEN_RETRY_MAX_MS: '60000' } });
    assert.equal(sync.code, 1, sync.stderr);
    assert.equal(sync.stderr, expected);
    assert.ok(Date.now() - started < 8000, `answered in ${Date.now() - started} ms`);
    const plain = await runCli(['sync', 'demo'], { home });
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr, expected);
    const all = await runCli(['sync', '--all'], { home });
    assert.equal(all.code, 1);
    assert.match(all.stderr, /^error: \[demo\] sync failed: the demo's simulator is not running/m);

    const second = await runCli(['demo', '--no-serve', '--days', '2'], { home });
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, new RegExp(`^1\\. Save & Test connector "demo" \\(warehouse: .*\\): resuming it \\(synced to ${today}\\), now at the new simulator$`, 'm'));
    const list = await runCli(['list'], { home });
    assert.equal(list.stdout.split('\n').filter((l) => /^demo\tdemo-report/.test(l)).length, 1, list.stdout);
    assert.deepEqual(await rowsOf(), before, 'the same rows, not twice');
  });

  it('demo --json prints JSON lines only', { timeout: 60_000 }, async () => {
    const home = tempHome('rc-demo-json-');
    const r = await runCli(['--json', 'demo', '--no-serve', '--days', '1'], { home });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = jsonLines(r.stdout);
    assert.deepEqual(lines.map((l) => l.event), ['simulator', 'saved', 'summary', 'landed', 'query']);
    assert.equal(lines[1]!.resumed, false);
    assert.equal(lines[3]!.days, 1);
  });

  it('a connector named "demo" that is not the demo\'s is left alone', async () => {
    const sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    try {
      const home = tempHome('rc-demo-mine-');
      const env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
      const mine = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&token=${ACME_TOKEN}`;
      assert.equal((await runCli(['add', '--name', 'demo', '--url', mine, '--start-date', yesterday], { home, env })).code, 0);
      const r = await runCli(['demo', '--no-serve', '--days', '2'], { home, env });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^error: demo failed: this home already has a connector named "demo" that is not the demo's \(http:\/\/127\.0\.0\.1:\d+\/en\/reports\/affiliate-report\/filters\?tz=GMT&date_type=transaction&token=…05\); it is left as it is: run the demo with another --home$/m);
      const st = JSON.parse((await runCli(['--json', 'status', 'demo'], { home, env })).stdout) as { reportKey: string };
      assert.equal(st.reportKey, 'affiliate-report');
    } finally {
      await sim.close();
    }
  });
});
