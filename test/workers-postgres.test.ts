/**
 * Many workers, one shared PostgreSQL warehouse: three `sync --all` processes over ten
 * connectors, one killed mid-sync. Every connector must end synced, exactly one copy per day.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimAccount, type Simulator } from '../src/simulator/index.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { toUnits } from '../src/util/decimal.js';
import { runCli, startCli, transcript, type CliEnv } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';
import { waitFor } from './helpers/e2e-suite.js';

const enabled = (process.env.RAKUTEN_TEST_WAREHOUSES ?? '').split(',').includes('postgres');
const today = todayIn('GMT');
const start = addDays(today, -7);
const accounts: SimAccount[] = Array.from({ length: 10 }, (_, i) => ({
  name: `agency-client-${i}`,
  token: `tok_worker_${i}_a1b2c3d4e5f6a7b8c9d005`,
  reports: { 'affiliate-report': { name: 'Affiliate Report', columns: 'canonical' } },
}));

let sim: Simulator;
let db: { url: string; drop(): Promise<void> };
const homes = [tempHome('rc-w0-'), tempHome('rc-w1-'), tempHome('rc-w2-')];
let envs: CliEnv[];

before(async () => {
  if (!enabled) return;
  const { createTestPostgresUrl } = await import('./helpers/postgres.js');
  sim = await startSimulator({ port: 0, rowsPerDay: 80, today, accounts });
  db = await createTestPostgresUrl();
  envs = homes.map((home) => ({
    home,
    warehouse: db.url,
    env: {
      RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host,
      RAKUTEN_CONNECTOR_KEY: 'shared-key-for-all-workers',
      RAKUTEN_LEASE_TTL_MS: '3000',
    },
  }));
});
after(async () => {
  await sim?.close();
  await db?.drop();
});

test('three workers over ten connectors, one killed mid-sync: every day synced exactly once', { skip: enabled ? false : 'postgres not in RAKUTEN_TEST_WAREHOUSES' }, async () => {
  for (const a of accounts) {
    const url = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&date_format=m/d/yy&token=${a.token}`;
    const r = await runCli(['add', '--name', a.name, '--url', url, '--start-date', start], envs[0]!);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  sim.addFaults([{ kind: 'slow', delayMs: 120, times: 100_000 }]);
  // Each worker syncs up to 3 connectors at once; the one seen mid-sync first is killed (with
  // lanes, a worker that starts late may find every connector taken and sync none at first).
  const workers = envs.map((e) => startCli(['sync', '--all', '--concurrency', '2', '--parallel', '3'], e));
  const midSync = () => workers.findIndex((w) => /\b[2-7]\/8 windows/.test(w.stderrSoFar()));
  await waitFor(() => midSync() >= 0, 60_000);
  const victim = midSync();
  workers[victim]!.child.kill('SIGKILL');
  const results = await Promise.all(workers.map((w) => w.done));
  assert.equal(results[victim]!.signal, 'SIGKILL');
  for (const [i, r] of results.entries()) if (i !== victim) assert.equal(r.code, 0, r.stderr);
  sim.clearFaults();

  const check = await openWarehouse(db.url, homes[1]!);
  try {
    for (const a of accounts) {
      const want = sim.totals({ token: a.token, report: 'affiliate-report', from: start, to: today, dateType: 'transaction' });
      const got = await check.warehouse.dayTotals(a.name, start, today);
      assert.deepEqual(got.map((d) => [d.day, d.rows]), want.map((d) => [d.day, d.rows]), `${a.name}: one copy of every day`);
      for (let i = 0; i < want.length; i++) {
        for (const f of ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const) {
          assert.equal(toUnits(got[i]![f]), toUnits(want[i]![f]), `${a.name} ${want[i]!.day} ${f}`);
        }
      }
      const runs = await check.state.listRuns(a.name, 10);
      assert.equal(runs[0]!.status, 'success', `${a.name}: last run succeeded`);
      assert.equal(await check.state.getCursor(a.name), today);
    }
    const all = await check.state.listRuns(null, 100);
    assert.ok(all.some((r) => r.status === 'interrupted'), 'the killed worker\'s run is marked interrupted');
    const workersSeen = new Set(all.filter((r) => r.status === 'success').map((r) => r.worker.split(':')[1]));
    assert.ok(workersSeen.size >= 2, 'the surviving workers shared the work');
  } finally {
    await check.close();
  }
  for (const a of accounts) assert.ok(!transcript.join('\n').includes(a.token));
});
