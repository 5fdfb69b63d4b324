/**
 * The end-to-end suite: the real CLI against the real simulator, asserting exact totals per
 * connector and day after every kind of sync and failure. Run for each warehouse by the
 * e2e-*.test.ts files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACME_TOKEN, CANONICAL_HEADERS, GLOBEX_TOKEN, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { openWarehouse } from '../../src/warehouse/index.js';
import { addDays, todayIn } from '../../src/util/days.js';
import { toUnits } from '../../src/util/decimal.js';
import type { DayTotals } from '../../src/warehouse/types.js';
import { runCli, startCli, transcript, type CliEnv } from './cli.js';
import { createTarget, tempHome, type TargetName, type TestWarehouse } from './targets.js';

const FIELDS = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;

export function defineE2E(target: TargetName): void {
  describe(`end to end on ${target}`, { concurrency: false }, () => {
    let sim: Simulator;
    let wh: TestWarehouse;
    let home: string;
    const today = todayIn('GMT');
    const start = addDays(today, -9);
    let env: CliEnv;
    const url = (token: string, report = 'affiliate-report', extra = '') =>
      `${sim.url}/en/reports/${report}/filters?start_date=${start}&end_date=${today}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy${extra}&token=${token}`;
    const cli = (...args: string[]) => runCli(args, env);

    /** Per-day totals in the warehouse, read in-process (the CLI has exited, so DuckDB's file is free). */
    async function warehouseTotals(connector: string, from = addDays(today, -60), to = today): Promise<DayTotals[]> {
      const db = await openWarehouse(wh.url ?? `duckdb:${join(home, 'warehouse.duckdb')}`, home);
      try {
        return await db.warehouse.dayTotals(connector, from, to);
      } finally {
        await db.close();
      }
    }

    async function assertExact(connector: string, token: string, from: string, to: string, report = 'affiliate-report', dateType: 'transaction' | 'process' = 'transaction') {
      const want = sim.totals({ token, report, from, to, dateType }).filter((d) => d.rows > 0);
      const got = await warehouseTotals(connector, from, to);
      assert.deepEqual(got.map((d) => d.day), want.map((d) => d.day), `${connector}: days`);
      for (let i = 0; i < want.length; i++) {
        assert.equal(got[i]!.rows, want[i]!.rows, `${connector} ${want[i]!.day}: rows`);
        for (const f of FIELDS) assert.equal(toUnits(got[i]![f]), toUnits(want[i]![f]), `${connector} ${want[i]!.day}: ${f}`);
      }
      assert.ok(want.length > 0);
    }

    before(async () => {
      sim = await startSimulator({ port: 0, rowsPerDay: 60, today });
      wh = await createTarget(target);
      home = tempHome();
      env = { home, warehouse: wh.url, env: { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_HEADERS_TIMEOUT_MS: '1500', RAKUTEN_BODY_TIMEOUT_MS: '1500' } };
    });

    after(async () => {
      await sim?.close();
      await wh?.drop();
    });

    test('bad inputs at Save & Test: clear message, nothing saved', async () => {
      const badToken = await cli('add', '--name', 'bad', '--url', url('tok_wrong_0000000000000000000099'), '--start-date', start);
      assert.equal(badToken.code, 1);
      assert.match(badToken.stdout, /FAIL token accepted/);
      assert.match(badToken.stdout, /regenerate the API URL/);
      assert.match(badToken.stdout, /nothing was saved/);

      const missing = await cli('add', '--name', 'bad', '--url', url(ACME_TOKEN, 'missing-cols'));
      assert.equal(missing.code, 1);
      assert.match(missing.stdout, /FAIL report has the required columns: the report is missing columns Offer Name, Link ID/);
      assert.match(missing.stdout, /add columns Offer Name, Link ID to the report/);

      const unknown = await cli('add', '--name', 'bad', '--url', url(ACME_TOKEN, 'no-such-report'));
      assert.equal(unknown.code, 1);
      assert.match(unknown.stdout, /FAIL report found/);

      const notAllowed = await cli('add', '--name', 'bad', '--url', url(ACME_TOKEN).replace('127.0.0.1', 'localhost'));
      assert.equal(notAllowed.code, 1);
      assert.match(notAllowed.stdout, /not a Rakuten reporting host/);

      const usage = await cli('add', '--name', 'bad');
      assert.equal(usage.code, 2);

      const list = await cli('list');
      assert.equal(list.code, 0);
      assert.match(list.stdout, /no connectors yet/);
    });

    test('first sync lands exact totals per day', async () => {
      const add = await cli('add', '--name', 'acme', '--url', url(ACME_TOKEN), '--start-date', start, '--lookback-days', '3');
      assert.equal(add.code, 0, add.stdout + add.stderr);
      assert.match(add.stdout, /saved connector "acme"/);
      const sync = await cli('sync', 'acme');
      assert.equal(sync.code, 0, sync.stderr);
      assert.match(sync.stdout, /synced acme: 10 windows/);
      await assertExact('acme', ACME_TOKEN, start, today);
    });

    test('a repeat sync duplicates nothing', async () => {
      const before = await warehouseTotals('acme');
      const sync = await cli('sync', 'acme');
      assert.equal(sync.code, 0, sync.stderr);
      assert.match(sync.stdout, /synced acme: 4 windows/, 'cursor − lookback (3) … today');
      assert.deepEqual(await warehouseTotals('acme'), before);
      await assertExact('acme', ACME_TOKEN, start, today);
    });

    test('restatements inside the lookback are picked up, older days are left alone', async () => {
      const old = addDays(today, -6);
      const recent = addDays(today, -2);
      const beforeOld = (await warehouseTotals('acme', old, old))[0]!;
      sim.restate({ token: ACME_TOKEN, from: old, to: old });
      sim.restate({ token: ACME_TOKEN, from: recent, to: recent });
      const sync = await cli('sync', 'acme');
      assert.equal(sync.code, 0, sync.stderr);
      await assertExact('acme', ACME_TOKEN, addDays(today, -3), today);
      assert.deepEqual((await warehouseTotals('acme', old, old))[0], beforeOld, 'outside the lookback: not re-fetched');
      // A backfill of that day brings it up to date, without moving the cursor back.
      const statusBefore = await cli('--json', 'status', 'acme');
      const backfill = await cli('sync', 'acme', '--from', old, '--to', old);
      assert.equal(backfill.code, 0, backfill.stderr);
      await assertExact('acme', ACME_TOKEN, start, today);
      const statusAfter = await cli('--json', 'status', 'acme');
      assert.equal(JSON.parse(statusAfter.stdout).cursor, JSON.parse(statusBefore.stdout).cursor);
    });

    test('backfill before the start date', async () => {
      const from = addDays(start, -5);
      const to = addDays(start, -1);
      const r = await cli('sync', 'acme', '--from', from, '--to', to);
      assert.equal(r.code, 0, r.stderr);
      await assertExact('acme', ACME_TOKEN, from, today);
    });

    test('two connectors share the table without touching each other', async () => {
      const add = await cli('add', '--name', 'globex', '--url', url(GLOBEX_TOKEN), '--start-date', start);
      assert.equal(add.code, 0, add.stdout);
      const r = await cli('sync', '--all');
      assert.equal(r.code, 0, r.stderr);
      await assertExact('globex', GLOBEX_TOKEN, start, today);
      await assertExact('acme', ACME_TOKEN, addDays(start, -5), today);
      const list = await cli('list');
      assert.match(list.stdout, /acme/);
      assert.match(list.stdout, /globex/);
    });

    test('429, 5xx, HTML pages, hangs, slow answers and truncated bodies are retried to exact totals', async () => {
      sim.restate({ token: GLOBEX_TOKEN, from: addDays(today, -3), to: today });
      sim.addFaults([
        { kind: '429', retryAfterSec: 1 }, { kind: '500' }, { kind: '502' }, { kind: '503' }, { kind: 'html' },
        { kind: 'hang' }, { kind: 'slow', delayMs: 300 }, { kind: 'truncate' }, { kind: 'truncate' }, { kind: 'reset' },
      ].map((f) => ({ ...f, match: { token: GLOBEX_TOKEN } })) as Parameters<Simulator['addFaults']>[0]);
      const r = await cli('sync', 'globex', '--from', start, '--to', today, '--concurrency', '2');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /rate limit/);
      assert.match(r.stderr, /retry/);
      await assertExact('globex', GLOBEX_TOKEN, start, today);
      await assertExact('acme', ACME_TOKEN, addDays(start, -5), today);
      const counts = sim.faultCounts();
      for (const k of ['429', '500', '502', '503', 'html', 'hang', 'slow', 'truncate', 'reset']) assert.ok((counts[k] ?? 0) >= 1, `fault ${k} was injected`);
    });

    test('a failure that persists stops the sync with a clear message and keeps committed windows', async () => {
      sim.clearFaults();
      sim.addFaults([{ kind: '500', times: 50, match: { token: GLOBEX_TOKEN, startDate: addDays(today, -1) } }]);
      sim.restate({ token: GLOBEX_TOKEN, from: addDays(today, -3), to: today });
      const r = await runCli(['sync', 'globex', '--concurrency', '1'], { ...env, env: { ...env.env, RAKUTEN_MAX_ATTEMPTS: '3' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /sync failed: Rakuten server error \(HTTP 500\).*gave up after 3 attempts/);
      sim.clearFaults();
      const st = JSON.parse((await cli('--json', 'status', 'globex')).stdout);
      assert.equal(st.runs[0].status, 'failed');
      assert.match(st.runs[0].error, /HTTP 500/);
      const again = await cli('sync', 'globex');
      assert.equal(again.code, 0, again.stderr);
      await assertExact('globex', GLOBEX_TOKEN, start, today);
    });

    test('kill -9 mid-sync, then the next sync resumes to exact totals', async () => {
      await cli('remove', 'globex', '--drop-data');
      assert.equal((await cli('add', '--name', 'globex', '--url', url(GLOBEX_TOKEN), '--start-date', addDays(today, -29))).code, 0);
      sim.addFaults([{ kind: 'slow', delayMs: 250, times: 1000, match: { token: GLOBEX_TOKEN } }]);
      const run = startCli(['sync', 'globex', '--concurrency', '1'], env);
      await waitFor(() => /\b[4-9]\/30 windows/.test(run.stderrSoFar()), 60_000);
      run.child.kill('SIGKILL');
      const killed = await run.done;
      assert.equal(killed.signal, 'SIGKILL');
      sim.clearFaults();
      const resumed = await cli('sync', 'globex');
      assert.equal(resumed.code, 0, resumed.stderr);
      await assertExact('globex', GLOBEX_TOKEN, addDays(today, -29), today);
      const st = JSON.parse((await cli('--json', 'status', 'globex')).stdout);
      assert.equal(st.runs[0].status, 'success');
      assert.equal(st.runs[1].status, 'interrupted');
      assert.equal(st.cursor, today);
    });

    test('a second sync of the same connector is refused while one runs', async () => {
      sim.addFaults([{ kind: 'slow', delayMs: 400, times: 100, match: { token: GLOBEX_TOKEN } }]);
      const first = startCli(['sync', 'globex', '--from', addDays(today, -9), '--to', today, '--concurrency', '1'], env);
      await waitFor(() => /1\/10 windows/.test(first.stderrSoFar()), 30_000);
      const second = await cli('sync', 'globex');
      assert.equal(second.code, 1);
      assert.match(second.stderr, /already running|in use by another rakuten-connector process/);
      assert.doesNotMatch(second.stderr, /Conflicting lock|IO Error/);
      first.child.kill('SIGTERM');
      await first.done;
      sim.clearFaults();
    });

    test('remove --drop-data deletes only that connector', async () => {
      const r = await cli('remove', 'globex', '--drop-data');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await warehouseTotals('globex'), []);
      await assertExact('acme', ACME_TOKEN, addDays(start, -5), today);
    });

    test('a NUL byte in a text cell fails its window the same way on every warehouse, naming row and column', async () => {
      const nulDay = addDays(today, -3);
      const srv = createServer((req, res) => {
        const day = new URL(req.url!, 'http://x').searchParams.get('start_date')!;
        const name = day === nulDay ? 'Nul\u0000Byte' : 'Pub';
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.end(`${CANONICAL_HEADERS.join(',')}\r\n${csvRow(day, name)}\r\n`);
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      try {
        const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
        const e = { ...env, env: { ...env.env, RAKUTEN_ALLOWED_HOSTS: `${env.env!.RAKUTEN_ALLOWED_HOSTS},${host}` } };
        const nulUrl = `http://${host}/en/reports/nul/filters?tz=GMT&date_type=transaction&token=tok_nul_case_00000000000005`;
        const add = await runCli(['add', '--name', 'nul', '--url', nulUrl, '--start-date', addDays(today, -5)], e);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        const r = await runCli(['sync', 'nul', '--concurrency', '1'], e);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /sync failed: row 1 \(line 2\), column "Publisher Name": the cell contains a NUL byte/);
        const got = await warehouseTotals('nul', addDays(today, -5), today);
        assert.deepEqual(got.map((d) => d.day), [addDays(today, -5), addDays(today, -4)], 'the days before it committed; nothing of its window');
        assert.equal((await runCli(['remove', 'nul', '--drop-data'], e)).code, 0);
      } finally {
        srv.close();
      }
    });

    test('no token in any output or stored file; private files are 0600', async () => {
      const tokens = [ACME_TOKEN, GLOBEX_TOKEN, 'tok_wrong_0000000000000000000099'];
      const all = transcript.join('\n');
      assert.ok(transcript.length > 10);
      for (const t of tokens) {
        assert.ok(!all.includes(t), 'a token appeared in CLI output');
        assert.ok(!all.includes(encodeURIComponent(t)));
      }
      for (const file of walk(home)) {
        const bytes = readFileSync(file);
        for (const t of tokens) assert.ok(!bytes.includes(Buffer.from(t)), `token found in ${file}`);
        assert.equal(statSync(file).mode & 0o077, 0, `${file} is private`);
      }
      assert.match(all, /…05|…99/, 'tokens are shown masked');
    });
  });
}

/** One valid report row of `day` (m/d/yy) with the given publisher name. */
function csvRow(day: string, publisher: string): string {
  const [y, m, d] = day.split('-');
  const cells: Record<string, string> = {
    'Transaction Date': `${+m!}/${+d!}/${y!.slice(2)}`, '# of Impressions': '100', '# of Clicks': '10', '# of Orders': '1',
    'Gross Commissions': '1.00', 'Total Commission': '1.10', Sales: '10.00', 'Order ID': `O-${day}`, 'Publisher ID': '42',
    'Publisher Name': publisher, 'Offer ID': '7', 'Offer Name': 'Offer', 'Link ID': '9', 'Link Name': 'Link',
  };
  return CANONICAL_HEADERS.map((h) => cells[h] ?? '').join(',');
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
