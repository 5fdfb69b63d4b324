/**
 * The fault soak, short: 3 connectors (one-day, week-long and process-date windows) × 40 days,
 * 3 rounds of restatements and syncs by the real CLI under seeded random faults (429, 5xx, hangs,
 * truncated bodies, HTML pages, slow answers, resets) and kill -9 at random moments. After every
 * round the warehouse must equal the simulator's own totals per connector and day. The long
 * version is `npm run soak` (see bench/soak.ts and docs/BENCHMARKS.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runSoak } from '../bench/soak-core.js';
import { tempHome } from './helpers/targets.js';

test('fault soak: nothing lost, nothing duplicated, no day wrong', { timeout: 120_000 }, async () => {
  const home = tempHome('rc-soak-');
  try {
    const r = await runSoak({
      seed: 1, days: 40, rounds: 3, rowsPerDay: 20, faultRate: 0.2, killRate: 0.5, killMaxMs: 2500, restatements: 3, lookbackDays: 10,
      home, maxRunsPerRound: 40,
    });
    assert.deepEqual(r.problems, []);
    assert.equal(r.rowsLost, 0, 'rows lost');
    assert.equal(r.rowsDuplicated, 0, 'rows duplicated');
    assert.equal(r.daysWrong, 0, 'days wrong');
    assert.ok(r.rowsChecked > 5000, 'the comparison covered the data');
    assert.ok(r.killed >= 1, 'at least one sync was killed mid-way');
    assert.ok(Object.values(r.faults).reduce((a, b) => a + b, 0) >= 5, 'faults were injected');
    assert.ok(r.restated > 0, 'days were restated between rounds');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
