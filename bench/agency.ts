/**
 * `npm run bench -- --scenario agency` — an agency's year, not one big report: many small
 * connectors, one day per window, through the real CLI, then the dashboard's reads on a
 * warehouse of millions of rows. It answers what bench.ts (one large report) cannot: does the
 * cost of a window grow with the history already stored (partitions and parts on ClickHouse),
 * what one day's incremental `sync --all` of 200 connectors would cost, and how fast `list`,
 * GET /api/connectors and GET /api/charts answer over 30, 90 and 365 days of all connectors.
 *
 *   npm run bench -- --scenario agency [--warehouse duckdb|postgres|clickhouse|clickhouse-cluster|all]
 *     [--connectors 20] [--days 365] [--rows-per-day 125] [--read-rows 5000000] [--read-connectors 5]
 *     [--requests 10] [--concurrency N] [--parallel N] [--no-incremental] [--no-write] [--keep]
 *
 * Ingest: `add` × N (Save & Test, schedule '' so `serve` later starts no sync), then one
 * `sync --all --json`; per-window timings come from its JSON progress lines (agency-lib.ts).
 * Read: 5 more connectors with rows-per-day chosen to total --read-rows, loaded in 31-day windows,
 * next to the ingest's connectors; `list` through the CLI, then `serve` and its JSON API.
 * Exactness: every connector's day totals in the warehouse against the simulator's own.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SYNC_PARALLEL } from '../src/app/app.js';
import { ACME_TOKEN } from '../src/simulator/index.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { toUnits } from '../src/util/decimal.js';
import type { DayTotals } from '../src/warehouse/types.js';
import {
  avg, chStats, firstLast, parseSyncTimings, sampleGet, startServe, writeAgencySection, type ChStats, type Latency, type Served,
} from './agency-lib.js';
import {
  addDaysIso, BIN, fmt, fmtInt, freshClickHouse, freshPostgres, measureNode, median, parseFlags, postgresReachable, startSimChild, tempDir, type Measured, type SimChild,
} from './lib.js';

const FIELDS = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;
const REPORT = 'affiliate-report';
const ALL = ['duckdb', 'postgres', 'clickhouse', 'clickhouse-cluster'];
/** The CLI's default `sync --concurrency` (src/cli/main.ts), needed to reconstruct window latencies. */
const CLI_DEFAULT_CONCURRENCY = 3;
/** Default lookbackDays (src/app/app.ts DEFAULT_LOOKBACK_DAYS): a daily sync re-fetches cursor − 30 … today = 32 days. */
const LOOKBACK = 30;

interface Target { url: string; home: string; chServers: string[]; chDb: string; drop(): Promise<void> }

export async function runAgency(argv: string[]): Promise<number> {
  const o = parseFlags(argv, {
    scenario: 'agency', warehouse: 'duckdb', connectors: '20', days: '365', 'rows-per-day': '125', 'read-rows': '5000000',
    'read-connectors': '5', 'read-window-days': '31', requests: '10', concurrency: '', parallel: '', incremental: true, write: true, keep: false, seed: '42',
  });
  const N = Number(o.connectors);
  const DAYS = Number(o.days);
  const RN = Number(o['read-connectors']);
  const conc = o.concurrency ? Number(o.concurrency) : CLI_DEFAULT_CONCURRENCY;
  const warehouses = o.warehouse === 'all' ? ALL : [o.warehouse];
  for (const w of warehouses) if (!ALL.includes(w)) throw new Error(`--warehouse must be one of ${ALL.join(', ')} or all`);
  const TODAY = new Date().toISOString().slice(0, 10); // the connector's "today" for tz=GMT reports
  const START = addDaysIso(TODAY, -(DAYS - 1));
  const readRpd = Math.max(1, Math.round(Number(o['read-rows']) / (RN * DAYS)));
  const load0 = loadavg()[0]!;
  const code = codeLine();

  const simA = await startSimChild(['--rows-per-day', o['rows-per-day'], '--today', TODAY, '--seed', o.seed]);
  const simB = await startSimChild(['--rows-per-day', String(readRpd), '--today', TODAY, '--seed', o.seed]);
  const cleanups: (() => Promise<void>)[] = [async () => simA.stop(), async () => simB.stop()];
  const onSigint = (): void => void Promise.all(cleanups.map((c) => c().catch(() => undefined))).then(() => process.exit(130));
  process.on('SIGINT', onSigint);
  const totals = async (sim: SimChild): Promise<DayTotals[]> =>
    (await sim.admin<{ days: DayTotals[] }>('GET', `/__admin/totals?token=${ACME_TOKEN}&report=${REPORT}&from=${START}&to=${TODAY}&date_type=transaction`)).days.filter((d) => d.rows > 0);
  const wantA = await totals(simA);
  const wantB = await totals(simB);
  const rowsA = wantA.reduce((a, d) => a + d.rows, 0);
  const rowsB = wantB.reduce((a, d) => a + d.rows, 0);
  const reportUrl = (sim: SimChild) => `${sim.url}/en/reports/${REPORT}/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${ACME_TOKEN}`;
  console.log(`agency: ${N} connectors × ${DAYS} days (${START}..${TODAY}) of ~${o['rows-per-day']} rows/day (${fmtInt(rowsA)} rows each); read: ${RN} × ${fmtInt(rowsB)} rows (${readRpd}/day)`);
  console.log(`machine: ${cpus().length} CPUs, node ${process.version}, load average ${load0.toFixed(2)}; code ${code}\n`);

  let failures = 0;
  try {
    for (const wh of warehouses) {
      if (wh === 'postgres' && !(await postgresReachable())) {
        console.log('postgres: not reachable, skipped');
        continue;
      }
      const t = await freshTarget(wh, o.keep);
      if (!o.keep) cleanups.push(t.drop);
      const env = { ...process.env, RAKUTEN_CONNECTOR_HOME: t.home, RAKUTEN_WAREHOUSE: t.url, RAKUTEN_ALLOWED_HOSTS: `${new URL(simA.url).host},${new URL(simB.url).host}` };
      const cli = async (what: string, args: string[]): Promise<Measured> => {
        const m = await measureNode([BIN, ...args], env);
        if (m.code !== 0) throw new Error(`${what} failed (exit ${m.code ?? m.signal}):\n${m.stderr.slice(-3000)}\n${m.stdout.slice(-1000)}`);
        return m;
      };
      const concArgs = [...(o.concurrency ? ['--concurrency', o.concurrency] : []), ...(o.parallel ? ['--parallel', o.parallel] : [])];
      const loadAt = loadavg()[0]!;
      console.log(`${wh}: ${t.url.replace(/\/\/[^@/]*@/, '//')}`);

      // ---- ingest
      const names = Array.from({ length: N }, (_, i) => `agency-${String(i + 1).padStart(3, '0')}`);
      let addS = 0;
      for (const n of names) addS += (await cli(`add ${n}`, ['add', '--name', n, '--url', reportUrl(simA), '--start-date', START, '--schedule', ''])).wallS;
      console.log(`  add × ${N}: ${fmt(addS, 1)} s`);
      const sync = await cli('sync --all', ['--json', 'sync', '--all', ...concArgs]);
      const runs = summaries(sync.stdout);
      const windows = parseSyncTimings(sync.stderr, conc, 0, runEnds(runs));
      const loaded = runs.reduce((a, r) => a + r.rows, 0);
      const fl = firstLast(windows);
      // Growth with history alone: the windows committed while every lane had a run (not the end, where fewer connectors are left).
      const full = Math.max(...windows.map((w) => w.active));
      const steady = windows.filter((w) => w.active === full);
      const flFull = { ...firstLast(steady), lanes: full, share: steady.length / windows.length };
      console.log(`  sync --all: ${fmt(sync.wallS, 1)} s, ${fmtInt(windows.length)} windows, ${fmtInt(loaded)} rows; per window first 10 % ${fmt(fl.first.intervalMs, 1)} ms, last 10 % ${fmt(fl.last.intervalMs, 1)} ms`);
      const ch = t.chServers.length ? await chStats(t.chServers, t.chDb) : null;
      if (ch) console.log(`  ClickHouse: ${ch.factTable}: ${fmtInt(ch.partitions)} partitions, ${fmtInt(ch.activeParts)} active parts; ${fmtInt(ch.allParts)} parts in all tables; active parts ${fmtInt(ch.activeFiles)} files, ${fmt(ch.activeBytes / 1e6, 1)} MB; directory ${fmtInt(ch.files)} files, ${fmt(ch.bytes / 1e6, 1)} MB`);
      let inc: IncRun | null = null;
      if (o.incremental) {
        const m = await cli('incremental sync --all', ['--json', 'sync', '--all', ...concArgs]);
        const r = summaries(m.stdout);
        const iw = parseSyncTimings(m.stderr, conc, 0, runEnds(r));
        inc = { m, windows: r.reduce((a, x) => a + x.windowsDone, 0), rows: r.reduce((a, x) => a + x.rows, 0), intervalMs: avg(iw.map((w) => w.intervalMs)) };
        console.log(`  incremental sync --all: ${fmt(m.wallS, 1)} s, ${fmtInt(inc.windows)} windows`);
      }
      const removed = names.at(-1)!;
      const rm = await cli('remove', ['remove', removed, '--drop-data']);
      console.log(`  remove ${removed} --drop-data: ${fmt(rm.wallS, 2)} s`);

      // ---- read warehouse: RN bulk-loaded connectors next to the ingest's
      const readNames = Array.from({ length: RN }, (_, i) => `read-${i + 1}`);
      let readLoadS = 0;
      for (const n of readNames) {
        await cli(`add ${n}`, ['add', '--name', n, '--url', reportUrl(simB), '--start-date', START, '--window-days', o['read-window-days'], '--schedule', '']);
        readLoadS += (await cli(`sync ${n}`, ['sync', n, ...concArgs])).wallS;
      }
      const whRows = (N - 1) * rowsA + RN * rowsB;
      console.log(`  read connectors: ${fmtInt(RN * rowsB)} rows in ${fmt(readLoadS, 1)} s; warehouse now ${fmtInt(whRows)} rows`);

      // ---- exactness: every connector against the simulator (before serve: DuckDB admits one process)
      const exact = await verify(t, [...names.slice(0, -1).map((n) => [n, wantA] as const), ...readNames.map((n) => [n, wantB] as const), [removed, []] as const], START, TODAY);
      console.log(`  exactness: ${exact.ok ? '✓' : '✗'} ${exact.text}`);
      if (!exact.ok) failures++;

      // ---- reads
      const lists: number[] = [];
      await cli('list', ['list']);
      for (let i = 0; i < 5; i++) lists.push((await cli('list', ['list'])).wallS * 1000);
      const served: Served = await startServe(env, randomBytes(24).toString('hex'));
      const lat: Latency[] = [];
      let chartRows = NaN;
      try {
        const R = Number(o.requests);
        lat.push(await sampleGet(served, '/api/connectors', R));
        for (const d of [30, 90, 365]) {
          const l = await sampleGet(served, `/api/charts?days=${d}`, R);
          lat.push(l);
          if (d === 365) chartRows = (l.body as { totals: { rows: number } }).totals.rows;
        }
      } finally {
        await served.stop();
      }
      for (const l of lat) console.log(`  GET ${l.path}: median ${fmt(l.median, 1)} ms, p95 ${fmt(l.p95, 1)} ms`);
      const chartsOk = DAYS <= 365 ? chartRows === whRows : true;
      if (!chartsOk) failures++;

      // ---- table, extrapolation, docs
      const section = report({
        wh, N, DAYS, rpd: Number(o['rows-per-day']), conc, rowsA, rowsB, RN, readRpd, whRows, addS, sync, windows: windows.length, loaded, fl, flFull, parallel: o.parallel ? Number(o.parallel) : DEFAULT_SYNC_PARALLEL, ch, inc, removed, rm,
        readLoadS, readWindowDays: Number(o['read-window-days']), exact, lists, lat, chartRows, chartsOk, loadAt, code, requests: Number(o.requests),
      });
      console.log(`\n${section}\n`);
      if (o.write) {
        writeAgencySection(wh, section, INTRO);
        console.log('written to docs/BENCHMARKS.md');
      }
      if (!o.keep) {
        await t.drop().catch(() => undefined);
        cleanups.splice(cleanups.indexOf(t.drop), 1);
      }
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    failures++;
  } finally {
    process.off('SIGINT', onSigint);
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
  return failures ? 1 : 0;
}

const INTRO = `## Agency scenario (\`npm run bench -- --scenario agency\`)

Many small connectors instead of one big report (bench/agency.ts): N connectors each sync a year of a
~125 rows/day report, one day per window, through the real CLI (\`add\`, then one \`sync --all\`, default
concurrency and \`--parallel\`), on a fresh warehouse. *Per window* is the wall time a window costs:
the time from the previous commit (of any connector: runs overlap) to its commit, read from the CLI's
\`--json\` progress lines (windows overlap: *latency* is a window's own start-to-commit, reconstructed
from the engine's pool order). First/last 10 % are the first and last tenth of all windows in commit order, i.e. with
the least and the most history already stored. Then 5 more connectors (rows/day chosen to total
\`--read-rows\`, 31-day windows) join them, every connector is checked exact against the simulator,
and \`list\` (CLI) and \`serve\`'s JSON API (logged in through \`POST /login\`) are timed:
1 warm-up, then sequential requests; p95 is nearest-rank.`;

interface IncRun { m: Measured; windows: number; rows: number; intervalMs: number }

interface ReportInput {
  wh: string; N: number; DAYS: number; rpd: number; conc: number; rowsA: number; rowsB: number; RN: number; readRpd: number; whRows: number;
  addS: number; sync: Measured; windows: number; loaded: number; fl: ReturnType<typeof firstLast>; flFull: ReturnType<typeof firstLast> & { lanes: number; share: number }; parallel: number; ch: ChStats | null;
  inc: IncRun | null; removed: string; rm: Measured; readLoadS: number; readWindowDays: number;
  exact: { ok: boolean; text: string }; lists: number[]; lat: Latency[]; chartRows: number; chartsOk: boolean; loadAt: number; code: string; requests: number;
}

function report(r: ReportInput): string {
  const title: Record<string, string> = { duckdb: 'DuckDB', postgres: 'PostgreSQL', clickhouse: 'ClickHouse (single server)', 'clickhouse-cluster': 'ClickHouse (two-shard cluster)' };
  const { first, last } = r.fl;
  const ratio = last.intervalMs / first.intervalMs;
  // Linear in history: t(h) = t_first + k·(h − h_first), h = connector-days already stored when the window commits.
  const k = (last.intervalMs - first.intervalMs) / (last.seq - first.seq);
  const perDay = LOOKBACK + 2;
  const H = 200 * 3 * 365;
  // No growth measured (last ≤ first, e.g. warm-up dominating a short run): no growth extrapolated either.
  const tAtH = k > 0 ? first.intervalMs + k * (H - first.seq) : last.intervalMs;
  const daily = (ms: number) => (200 * perDay * ms) / 1000;
  const row = (a: string, b: string) => `| ${a} | ${b} |`;
  const lines = [
    `### ${title[r.wh]}: ${r.N} connectors × ${r.DAYS} days`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${cpus().length} CPUs, node ${process.version}, load average ${r.loadAt.toFixed(2)} at start; code ${r.code}. ` +
      `${r.N} × ${r.DAYS} one-day windows of ~${r.rpd} rows, concurrency ${r.conc}, ${r.parallel} connectors at once (\`--parallel\`).`,
    '',
    '| | |',
    '|---|---:|',
    row(`\`add\` × ${r.N} (Save & Test each)`, `${fmt(r.addS, 1)} s`),
    row('`sync --all`: wall', `${fmt(r.sync.wallS, 1)} s (${fmtInt(r.loaded / r.sync.wallS)} rows/s, peak RSS ${fmt(r.sync.rssMB, 0)} MB, CPU ${fmt(r.sync.userS + r.sync.sysS, 0)} s)`),
    row('windows / rows loaded', `${fmtInt(r.windows)} / ${fmtInt(r.loaded)}`),
    row(`per window, first 10 % (${fmtInt(first.n)} windows)`, `${fmt(first.intervalMs, 1)} ms (latency ${fmt(first.latencyMs, 1)} ms)`),
    row(`per window, last 10 % (${fmtInt(last.n)} windows)`, `${fmt(last.intervalMs, 1)} ms (latency ${fmt(last.latencyMs, 1)} ms)`),
    row('last ÷ first', `**${fmt(ratio, 2)}** (latency ${fmt(last.latencyMs / first.latencyMs, 2)})`),
    row(`the same over the ${fmt(r.flFull.share * 100, 0)} % of windows committed while ${r.flFull.lanes} connectors ran at once (not the end, when fewer are left)`,
      `${fmt(r.flFull.first.intervalMs, 1)} → ${fmt(r.flFull.last.intervalMs, 1)} ms: **${fmt(r.flFull.last.intervalMs / r.flFull.first.intervalMs, 2)}**`),
    ...(r.ch
      ? [
          row(`ClickHouse \`${r.ch.factTable}\`: partitions / active parts`, `${fmtInt(r.ch.partitions)} / ${fmtInt(r.ch.activeParts)} (${fmtInt(r.ch.factRows)} rows)`),
          row('ClickHouse: active parts of all tables', fmtInt(r.ch.allParts)),
          row(`ClickHouse: files of the active parts${r.ch.dirs.length > 1 ? `, ${r.ch.dirs.length} shards summed` : ''}`, `${fmtInt(r.ch.activeFiles)} files, ${fmt(r.ch.activeBytes / 1e6, 1)} MB`),
          row('ClickHouse: database directory right after the sync (with merged-away parts, deleted after old_parts_lifetime = 8 min)', `${fmtInt(r.ch.files)} files, ${fmt(r.ch.bytes / 1e6, 1)} MB`),
        ]
      : []),
    ...(r.inc
      ? [row(`incremental \`sync --all\` right after (lookback ${LOOKBACK}: ${fmtInt(r.inc.windows)} windows)`, `${fmt(r.inc.m.wallS, 1)} s; per window ${fmt(r.inc.intervalMs, 1)} ms (${fmt((r.inc.m.wallS * 1000) / r.inc.windows, 1)} ms with process start and run bookkeeping)`)]
      : []),
    row(`\`remove ${r.removed} --drop-data\``, `${fmt(r.rm.wallS, 2)} s`),
    row(`read warehouse: + ${r.RN} connectors × ${fmtInt(r.rowsB)} rows (${r.readRpd}/day, ${r.readWindowDays}-day windows)`, `loaded in ${fmt(r.readLoadS, 1)} s; ${r.N - 1 + r.RN} connectors, ${fmtInt(r.whRows)} rows`),
    row('exact against the simulator', `${r.exact.ok ? '✓' : '✗'} ${r.exact.text}`),
    row('`list` (CLI process, median of 5)', `${fmt(median(r.lists), 0)} ms (max ${fmt(Math.max(...r.lists), 0)})`),
    ...r.lat.map((l) => row(`GET ${l.path} (median / p95 of ${r.requests})`, `${fmt(l.median, 1)} / ${fmt(l.p95, 1)} ms`)),
    row('GET /api/charts?days=365: totals.rows', `${fmtInt(r.chartRows)} ${r.chartsOk ? '✓' : `✗ want ${fmtInt(r.whRows)}`}`),
    '',
    `**200 connectors × 3 years.** A daily incremental \`sync --all\` fetches cursor − ${LOOKBACK} … today = ${perDay} one-day windows per connector ` +
      `(default lookbackDays ${LOOKBACK}), ${fmtInt(200 * perDay)} windows. At this run's last-10 % per-window time: ${fmtInt(200 * perDay)} × ${fmt(last.intervalMs, 1)} ms = ` +
      `**${fmt(daily(last.intervalMs), 0)} s**. Growth with history: t(h) ≈ ${fmt(first.intervalMs, 1)} ms ${k < 0 ? '−' : '+'} ${fmt(Math.abs(k) * 1000, 2)} µs × (h − ${fmtInt(first.seq)}), ` +
      `h = connector-days stored (from ${fmt(first.intervalMs, 1)} ms at h = ${fmtInt(first.seq)} and ${fmt(last.intervalMs, 1)} ms at h = ${fmtInt(last.seq)}); ` +
      `${k > 0 ? '' : '(no growth measured, so none extrapolated) '}at h = 200 × 1,095 = ${fmtInt(H)}: ${fmt(tAtH, 1)} ms per window, **${fmt(daily(tAtH), 0)} s** per daily sync ` +
      `(${k > 0 ? `a linear extrapolation ${fmt(H / last.seq, 0)}× past the measured history; ` : ''}one worker, connectors \`--parallel\` at once as in this run).`,
  ];
  return lines.join('\n');
}

/** Every connector's day totals against the simulator's (rows and each sum, exact); `[]` for the removed one. */
async function verify(t: Target, checks: readonly (readonly [string, DayTotals[]])[], from: string, to: string): Promise<{ ok: boolean; text: string }> {
  let db;
  try {
    db = await openWarehouse(t.url, t.home);
  } catch (e) {
    return { ok: false, text: `could not open the warehouse: ${e instanceof Error ? e.message : String(e)}` };
  }
  const bad: string[] = [];
  let days = 0;
  try {
    for (const [name, want] of checks) {
      const got = await db.warehouse.dayTotals(name, from, to);
      if (got.length !== want.length) bad.push(`${name}: ${got.length} days, want ${want.length}`);
      for (let i = 0; i < Math.min(got.length, want.length); i++) {
        const g = got[i]!, w = want[i]!;
        days++;
        if (g.day !== w.day || g.rows !== w.rows) bad.push(`${name} ${w.day}: ${g.rows} rows, want ${w.rows}`);
        for (const f of FIELDS) if (toUnits(g[f]) !== toUnits(w[f])) bad.push(`${name} ${w.day} ${f}: ${g[f]}, want ${w[f]}`);
      }
    }
  } catch (e) {
    bad.push(`dayTotals failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await db.close();
  }
  return bad.length
    ? { ok: false, text: `${bad.length} difference(s): ${bad.slice(0, 5).join('; ')}` }
    : { ok: true, text: `${checks.length} connectors (${fmtInt(days)} connector-days, rows and 6 sums each; removed connector: no rows)` };
}

interface RunSummary { connector: string; rows: number; windowsDone: number; finishedAt: string | null }

/** Each run's end (ms), for parseSyncTimings. */
const runEnds = (runs: RunSummary[]) => new Map(runs.filter((r) => r.finishedAt).map((r) => [r.connector, Date.parse(r.finishedAt!)]));

function summaries(stdout: string): RunSummary[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string; run?: RunSummary })
    .filter((j) => j.event === 'summary' && j.run).map((j) => j.run!);
}

async function freshTarget(wh: string, keep: boolean): Promise<Target> {
  const dir = tempDir(`rc-agency-${wh}-`);
  const home = join(dir, 'home');
  const rmDir = async () => rmSync(dir, { recursive: true, force: true });
  if (wh === 'duckdb') return { url: `duckdb:${join(dir, 'warehouse.duckdb')}`, home, chServers: [], chDb: '', drop: rmDir };
  if (wh === 'postgres') {
    const db = await freshPostgres('agency');
    return { url: db.url, home, chServers: [], chDb: '', drop: async () => (await db.drop(), await rmDir()) };
  }
  const ch = await freshClickHouse(wh === 'clickhouse' ? 'clickhouse' : 'clickhouse-cluster', 'agency');
  const drop = async () => {
    await ch.drop();
    await rmDir();
  };
  if (keep) console.log(`  (kept: ${dir}, database ${ch.db})`);
  return { url: ch.url, home, chServers: ch.servers, chDb: ch.db, drop };
}

/** The commit measured (read-only git), and whether src/ had uncommitted changes (others edit it while benchmarks run). */
function codeLine(): string {
  try {
    const head = execFileSync('git', ['log', '--oneline', '-1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `\`${head.slice(0, 60)}${head.length > 60 ? '…' : ''}\`${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return process.env.RAKUTEN_BENCH_CODE || 'unknown (not a git checkout; RAKUTEN_BENCH_CODE names it)';
  }
}
