/**
 * The fault soak (used by `npm run soak` and, shortened, by test/soak.test.ts): several connectors
 * synced by the real CLI, as a child process, against the simulator (in this process) while it
 * injects seeded random faults — 429 with Retry-After, 500/502/503, hung connections, truncated
 * bodies, HTML pages, slow answers, TCP resets — with data restatements between rounds and
 * kill -9 of the CLI at random moments followed by a restart. A run that ends 'failed' after
 * its retries is simply run again, as a scheduler would. After every round the warehouse is
 * compared with the simulator's own totals per connector and day: rows and every sum, exact.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ACME_TOKEN, DEMO_TOKEN, FAULT_KINDS, GLOBEX_TOKEN, startSimulator, type FaultKind, type Simulator } from '../src/simulator/index.js';
import { Rng } from '../src/simulator/prng.js';
import { addDays, todayIn } from '../src/util/days.js';
import { toUnits } from '../src/util/decimal.js';
import { openWarehouse } from '../src/warehouse/index.js';
import type { DayTotals } from '../src/warehouse/types.js';
import { BIN, ROOT } from './lib.js';

export interface SoakOptions {
  seed: number;
  /** Days of data per connector (the first sync covers them all). */
  days: number;
  rounds: number;
  rowsPerDay: number;
  /** Chance that a report request meets a random fault. */
  faultRate: number;
  /**
   * Kills per round: one, plus one more with this chance, plus another with this chance again.
   * The first runs of a round are the ones killed, each at a random moment.
   */
  killRate: number;
  /** Longest wait before a kill (ms) — four times that in round 1, whose first sync is long. */
  killMaxMs: number;
  /** Restated days per connector per round (inside the lookback). */
  restatements: number;
  lookbackDays: number;
  home: string;
  /** --warehouse URL; undefined = DuckDB in the home. */
  warehouse?: string;
  /** Give up on a round after this many CLI runs (it must converge long before). */
  maxRunsPerRound: number;
  log?: (line: string) => void;
}

export interface RoundResult {
  round: number;
  runs: number;
  killed: number;
  failedRuns: number;
  restated: number;
  rowsLost: number;
  rowsDuplicated: number;
  daysWrong: number;
  daysChecked: number;
  rowsChecked: number;
}

export interface SoakResult {
  rounds: RoundResult[];
  faults: Record<string, number>;
  killed: number;
  runs: number;
  failedRuns: number;
  restated: number;
  rowsLost: number;
  rowsDuplicated: number;
  daysWrong: number;
  rowsChecked: number;
  seconds: number;
  /** First differences found, for the report. */
  problems: string[];
}

interface Conn {
  name: string;
  token: string;
  report: string;
  dateType: 'transaction' | 'process';
  windowDays: number;
}

/** Three accounts / reports: one-day transaction windows, week-long windows, a process-date report. */
export const SOAK_CONNECTORS: Conn[] = [
  { name: 'acme', token: ACME_TOKEN, report: 'affiliate-report', dateType: 'transaction', windowDays: 1 },
  { name: 'globex-weekly', token: GLOBEX_TOKEN, report: 'affiliate-report', dateType: 'transaction', windowDays: 7 },
  { name: 'demo-process', token: DEMO_TOKEN, report: 'demo-report', dateType: 'process', windowDays: 1 },
];

const FIELDS = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const rng = new Rng(o.seed);
  const kinds: FaultKind[] = [...FAULT_KINDS];
  const sim: Simulator = await startSimulator({ port: 0, rowsPerDay: o.rowsPerDay, seed: o.seed, randomFaults: { rate: o.faultRate, seed: o.seed, kinds } });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RAKUTEN_CONNECTOR_HOME: o.home,
    RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host,
    RAKUTEN_HEADERS_TIMEOUT_MS: '1500',
    RAKUTEN_BODY_TIMEOUT_MS: '1500',
    RAKUTEN_RETRY_BASE_MS: '20',
    RAKUTEN_RETRY_MAX_MS: '300',
    RAKUTEN_MAX_ATTEMPTS: '3',
  };
  if (o.warehouse) env.RAKUTEN_WAREHOUSE = o.warehouse;
  else delete env.RAKUTEN_WAREHOUSE;

  const result: SoakResult = {
    rounds: [], faults: {}, killed: 0, runs: 0, failedRuns: 0, restated: 0, rowsLost: 0, rowsDuplicated: 0, daysWrong: 0, rowsChecked: 0, seconds: 0, problems: [],
  };
  try {
    const start = addDays(todayIn('GMT'), -(o.days - 1));
    for (const c of SOAK_CONNECTORS) {
      const url = `${sim.url}/en/reports/${c.report}/filters?include_summary=N&tz=GMT&date_type=${c.dateType}&date_format=m/d/yy&token=${c.token}`;
      // Save & Test meets the random faults too; like a user, try again until it passes.
      const add = await cliUntilDone(env, ['add', '--name', c.name, '--url', url, '--start-date', start, '--lookback-days', String(o.lookbackDays), '--window-days', String(c.windowDays)]);
      if (add.code !== 0) throw new Error(`add ${c.name} failed: ${add.out}`);
    }
    for (let round = 1; round <= o.rounds; round++) {
      const today = todayIn('GMT');
      const r: RoundResult = { round, runs: 0, killed: 0, failedRuns: 0, restated: 0, rowsLost: 0, rowsDuplicated: 0, daysWrong: 0, daysChecked: 0, rowsChecked: 0 };
      if (round > 1) {
        // Rakuten restates recent days between syncs: late conversions, returns, locking.
        for (const c of SOAK_CONNECTORS) {
          for (let k = 0; k < o.restatements; k++) {
            const day = addDays(today, -rng.int(o.lookbackDays));
            sim.restate({ token: c.token, report: c.report, from: day, to: day });
            r.restated++;
          }
        }
      }
      // Sync everything until a run succeeds, killing the first runs at random moments.
      let kills = o.killRate > 0 ? 1 + (rng.chance(o.killRate) ? 1 : 0) + (rng.chance(o.killRate) ? 1 : 0) : 0;
      const maxMs = round === 1 ? 4 * o.killMaxMs : o.killMaxMs;
      for (;;) {
        if (r.runs >= o.maxRunsPerRound) throw new Error(`round ${round}: no successful sync after ${r.runs} runs`);
        r.runs++;
        const killAfter = kills-- > 0 ? rng.range(200, maxMs) : undefined;
        const res = await cli(env, ['sync', '--all'], killAfter);
        if (res.killed) {
          r.killed++;
          log(`  round ${round}: run ${r.runs} killed (-9) after ${killAfter} ms`);
          continue;
        }
        if (killAfter !== undefined && res.code === 0) {
          log(`  round ${round}: run ${r.runs} finished before its kill at ${killAfter} ms`);
          break;
        }
        if (res.code === 0) break;
        r.failedRuns++;
        log(`  round ${round}: run ${r.runs} ended failed (${lastLine(res.out)}); running it again`);
      }
      await compare(o, sim, start, today, r, result.problems);
      result.rounds.push(r);
      for (const k of ['runs', 'killed', 'failedRuns', 'restated', 'rowsLost', 'rowsDuplicated', 'daysWrong', 'rowsChecked'] as const) result[k] += r[k];
      log(`round ${round}: ${r.runs} runs (${r.killed} killed, ${r.failedRuns} failed), ${r.restated} days restated; ` +
        `${r.daysChecked} connector-days / ${r.rowsChecked} rows checked: lost ${r.rowsLost}, duplicated ${r.rowsDuplicated}, days wrong ${r.daysWrong}`);
    }
    result.faults = sim.faultCounts();
  } finally {
    await sim.close();
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

async function compare(o: SoakOptions, sim: Simulator, start: string, today: string, r: RoundResult, problems: string[]): Promise<void> {
  const db = await openWarehouse(o.warehouse ?? `duckdb:${join(o.home, 'warehouse.duckdb')}`, o.home);
  try {
    for (const c of SOAK_CONNECTORS) {
      const want = sim.totals({ token: c.token, report: c.report, from: start, to: today, dateType: c.dateType }).filter((d) => d.rows > 0);
      const got = await db.warehouse.dayTotals(c.name, start, today);
      const byDay = new Map<string, DayTotals>(got.map((d) => [d.day, d]));
      for (const w of want) {
        const g = byDay.get(w.day);
        byDay.delete(w.day);
        r.daysChecked++;
        r.rowsChecked += w.rows;
        const n = g?.rows ?? 0;
        if (n < w.rows) r.rowsLost += w.rows - n;
        if (n > w.rows) r.rowsDuplicated += n - w.rows;
        const bad = !g || n !== w.rows || FIELDS.some((f) => toUnits(g[f]) !== toUnits(w[f]));
        if (bad) {
          r.daysWrong++;
          if (problems.length < 20) problems.push(`${c.name} ${w.day}: got ${g ? JSON.stringify(g) : 'nothing'}, want ${JSON.stringify(w)}`);
        }
      }
      for (const g of byDay.values()) {
        // A day the simulator has no rows for.
        r.daysWrong++;
        r.rowsDuplicated += g.rows;
        if (problems.length < 20) problems.push(`${c.name} ${g.day}: ${g.rows} rows the simulator does not have`);
      }
    }
  } finally {
    await db.close();
  }
}

interface CliRun {
  code: number | null;
  killed: boolean;
  out: string;
}

function cli(env: NodeJS.ProcessEnv, args: string[], killAfterMs?: number): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, killed: signal === 'SIGKILL', out });
    });
  });
}

/** A setup command (no faults, no kills); retried when a random fault still hits it. */
async function cliUntilDone(env: NodeJS.ProcessEnv, args: string[]): Promise<CliRun> {
  let last: CliRun | undefined;
  for (let i = 0; i < 10; i++) {
    last = await cli(env, args);
    if (last.code === 0) return last;
  }
  return last!;
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines.filter((l) => /sync failed/.test(l)).pop() ?? lines.pop() ?? '').slice(0, 200);
}
