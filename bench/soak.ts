/**
 * `npm run soak` — the fault soak (see soak-core.ts): 3 connectors × 220 days, 12 rounds of
 * restatements + syncs under random faults and random kill -9, each round checked exact against
 * the simulator. Exit code 1 if anything was lost, duplicated or wrong.
 *
 *   npm run soak -- [--seed 1] [--days 220] [--rounds 12] [--rows-per-day 30] [--fault-rate 0.2]
 *                   [--kill-rate 0.5] [--kill-max-ms 2500] [--warehouse duckdb|postgres] [--keep]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FAULT_KINDS } from '../src/simulator/index.js';
import { freshPostgres, parseFlags, tempDir } from './lib.js';
import { runSoak } from './soak-core.js';

const o = parseFlags(process.argv.slice(2), {
  seed: '1', days: '220', rounds: '12', 'rows-per-day': '30', 'fault-rate': '0.2', 'kill-rate': '0.5', 'kill-max-ms': '2500',
  restatements: '3', 'lookback-days': '10', warehouse: 'duckdb', keep: false,
});
const home = tempDir('rc-soak-');
const pgdb = o.warehouse === 'postgres' ? await freshPostgres('soak') : undefined;
console.log(`soak: seed ${o.seed}, ${o.days} days × 3 connectors, ${o.rounds} rounds, fault rate ${o['fault-rate']}, kill rate ${o['kill-rate']}, warehouse ${o.warehouse}, home ${join(home)}`);
let exit = 1;
try {
  const r = await runSoak({
    seed: Number(o.seed), days: Number(o.days), rounds: Number(o.rounds), rowsPerDay: Number(o['rows-per-day']), faultRate: Number(o['fault-rate']),
    killRate: Number(o['kill-rate']), killMaxMs: Number(o['kill-max-ms']), restatements: Number(o.restatements), lookbackDays: Number(o['lookback-days']),
    home, warehouse: pgdb?.url, maxRunsPerRound: 60, log: (l) => console.log(l),
  });
  const faults = FAULT_KINDS.map((k) => `${k} ${r.faults[k] ?? 0}`).join(', ');
  const total = Object.values(r.faults).reduce((a, b) => a + b, 0);
  console.log(`
faults injected: ${total} (${faults})
CLI runs:        ${r.runs} (${r.killed} killed with SIGKILL, ${r.failedRuns} ended 'failed' and were run again)
restated days:   ${r.restated}
checked:         ${r.rowsChecked} rows over ${r.rounds.length} rounds
rows lost:       ${r.rowsLost}
rows duplicated: ${r.rowsDuplicated}
days wrong:      ${r.daysWrong}
time:            ${r.seconds.toFixed(0)} s`);
  if (r.problems.length) console.log(`first problems:\n  ${r.problems.join('\n  ')}`);
  exit = r.rowsLost === 0 && r.rowsDuplicated === 0 && r.daysWrong === 0 ? 0 : 1;
} catch (e) {
  console.error(e instanceof Error ? e.stack : e);
} finally {
  if (!o.keep) {
    rmSync(home, { recursive: true, force: true });
    await pgdb?.drop();
  }
}
process.exit(exit);
