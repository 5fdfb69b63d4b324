/**
 * Issue 13, freshness: a connector is stale after its limit without a successful sync (its
 * `staleAfterHours`, else twice its schedule's interval plus 2 h); `check-freshness` prints each
 * connector's state and exits 1 when one is stale. The rule as unit tests, the command as the real
 * CLI on a real home whose run history is moved back in time with DuckDB.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ConnectorStatus } from '../src/app/app.js';
import { freshnessLimitMs, freshnessOf, scheduleIntervalMs } from '../src/app/freshness.js';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { runCli, transcript } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';

const H = 3_600_000;
const at = new Date('2026-11-25T12:00:00Z'); // a Wednesday

describe('the freshness rule', () => {
  it('twice the schedule\'s interval plus 2 h; the longest gap of an uneven schedule; none for manual; staleAfterHours wins', () => {
    assert.equal(scheduleIntervalMs('0 6 * * *', 'GMT', at), 24 * H);
    assert.equal(freshnessLimitMs({ schedule: '0 6 * * *', staleAfterHours: null }, 'America/New_York', at), 50 * H);
    assert.equal(freshnessLimitMs({ schedule: '0 * * * *', staleAfterHours: null }, 'GMT', at), 4 * H);
    assert.equal(freshnessLimitMs({ schedule: '0 6 * * 1-5', staleAfterHours: null }, 'GMT', at), (2 * 72 + 2) * H, 'Friday to Monday is the longest gap');
    assert.equal(freshnessLimitMs({ schedule: '', staleAfterHours: null }, 'GMT', at), null);
    assert.equal(freshnessLimitMs({ schedule: '', staleAfterHours: 6 }, 'GMT', at), 6 * H);
    assert.equal(freshnessLimitMs({ schedule: '0 6 * * *', staleAfterHours: 6 }, 'GMT', at), 6 * H);
  });

  it('stale only past the limit; never synced counts from creation; paused and manual-only are never stale', () => {
    const st = (o: { lastSuccessAt?: string; createdAt?: string; paused?: boolean; schedule?: string; staleAfterHours?: number | null }) => ({
      name: 'c', createdAt: o.createdAt ?? '2026-11-01T00:00:00.000Z', timeZone: 'GMT',
      settings: { startDate: '2026-11-01', lookbackDays: 30, windowDays: 1, schedule: o.schedule ?? '0 6 * * *', paused: o.paused ?? false, currency: 'USD', staleAfterHours: o.staleAfterHours ?? null },
      lastSuccess: o.lastSuccessAt ? { finishedAt: o.lastSuccessAt } : null,
    }) as unknown as ConnectorStatus;
    const ago = (h: number) => new Date(at.getTime() - h * H).toISOString();
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(49) }), at).state, 'fresh');
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(50) }), at).state, 'fresh', 'at the limit: not yet');
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(51) }), at).state, 'stale');
    assert.deepEqual(freshnessOf(st({ lastSuccessAt: ago(51) }), at), { name: 'c', state: 'stale', limitMs: 50 * H, lastSuccessAt: ago(51), ageMs: 51 * H });
    assert.equal(freshnessOf(st({ createdAt: ago(10) }), at).state, 'fresh', 'new and never synced: not stale yet');
    assert.equal(freshnessOf(st({ createdAt: ago(60) }), at).state, 'stale', 'never synced for longer than the limit');
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(500), paused: true }), at).state, 'paused');
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(500), schedule: '' }), at).state, 'no-limit');
    assert.equal(freshnessOf(st({ lastSuccessAt: ago(7), schedule: '', staleAfterHours: 6 }), at).state, 'stale');
  });
});

describe('check-freshness (CLI)', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const today = todayIn('GMT');
  const url = (token: string) => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${token}`;
  const cli = (home: string, ...args: string[]) => runCli(args, { home, env });

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 3, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
  });
  after(async () => {
    await sim?.close();
    const all = transcript.join('\n');
    for (const t of [ACME_TOKEN, GLOBEX_TOKEN]) assert.ok(!all.includes(t), 'no token in any output');
  });

  it('exit 0 while every connector is fresh; exit 1 naming the stale ones once their last success is older than the limit', async () => {
    const home = tempHome('rc-fresh-');
    assert.equal((await cli(home, 'add', '--name', 'daily', '--url', url(ACME_TOKEN), '--start-date', addDays(today, -1), '--sync')).code, 0);
    assert.equal((await cli(home, 'add', '--name', 'tight', '--url', url(GLOBEX_TOKEN), '--start-date', today, '--stale-after', '3', '--sync')).code, 0);
    let r = await cli(home, 'check-freshness');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^fresh {2}daily: last successful sync \S+ \(0 min ago\); limit 50 h$/m);
    assert.match(r.stdout, /^fresh {2}tight: .*; limit 3 h$/m);
    assert.match(r.stdout, /^no connector is stale \(2 checked\)$/m);

    // Four hours later for `tight` (limit 3 h), a day later for `daily` (limit 50 h).
    const back = async (name: string, hours: number) => {
      const db = await DuckDBInstance.create(join(home, 'warehouse.duckdb'));
      try {
        const c = await db.connect();
        const when = new Date(Date.now() - hours * H).toISOString();
        await c.run(`UPDATE rakuten_sync_runs SET finished_at = '${when}', started_at = '${when}' WHERE connector = '${name}'`);
        c.closeSync();
      } finally {
        db.closeSync();
      }
    };
    await back('tight', 4);
    await back('daily', 24);
    r = await cli(home, 'check-freshness');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^STALE {2}tight: last successful sync \S+ \(4 h ago\); limit 3 h$/m);
    assert.match(r.stdout, /^fresh {2}daily: .*\(24 h ago\); limit 50 h$/m);
    assert.match(r.stdout, /^1 of 2 connector\(s\) stale: tight$/m);
    const json = await cli(home, '--json', 'check-freshness');
    assert.equal(json.code, 1);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; state: string; limitHours: number | null });
    assert.deepEqual(lines.map((l) => [l.name, l.state, l.limitHours]), [['daily', 'fresh', 50], ['tight', 'stale', 3]]);

    // A looser limit makes it fresh again; paused connectors are not checked.
    assert.equal((await cli(home, 'edit', 'tight', '--stale-after', '5')).code, 0);
    assert.equal((await cli(home, 'check-freshness')).code, 0);
    assert.equal((await cli(home, 'edit', 'tight', '--stale-after', '1')).code, 0);
    assert.equal((await cli(home, 'pause', 'tight')).code, 0);
    r = await cli(home, 'check-freshness');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^paused tight: .*not checked while paused$/m);
    assert.equal((await cli(home, 'edit', 'tight', '--stale-after', 'soon')).code, 2, 'a bad --stale-after is a usage error');
  });
});
