/**
 * `npm run bench` — how close a sync gets to the machine's limit.
 *
 * Serves a large simulated report (default 1,000,000 rows over 30 days, ~220 MB of CSV) from the
 * simulator in a child process, then measures on the same data, each in a fresh warehouse:
 *   limit  download the report (same one-day windows, same concurrency) to files + the warehouse's
 *          own bulk load of those files into the typed table (bench/limit.ts);
 *   ours   `rakuten-connector sync` of the report, the real CLI (Save & Test done before, untimed);
 *   naive  whole-text split parser + INSERT row by row (bench/naive.ts), for --naive-budget seconds
 *          at most, extrapolated to the full report.
 * Every process is measured from the outside (/usr/bin/time -v): wall clock, peak RSS, CPU. The
 * connector's result is checked against the simulator's own totals per day (rows and every sum).
 * Prints a table and writes it into docs/BENCHMARKS.md (between markers, per warehouse and size).
 * `both` = DuckDB + PostgreSQL; `all` adds ClickHouse: the single server (127.0.0.1:8123) and the
 * two-shard cluster `rakuten_test` (127.0.0.1:8124, :8125), a fresh database on each server per run.
 *
 *   npm run bench -- [--rows 1000000] [--days 30] [--runs 3] [--warehouse duckdb|postgres|clickhouse|clickhouse-cluster|both|all]
 *                    [--concurrency 3] [--window-days 1] [--naive-budget 60] [--no-naive] [--no-write] [--keep]
 *                    [--only ours]   (skip the limits: before/after comparisons of the connector alone)
 *                    [--gzip]        (the simulator answers gzip, the limit asks for gzip and inflates it too;
 *                                     results under their own `…:gzip` marker)
 *   npm run bench -- --scenario agency …   many small connectors + dashboard reads (bench/agency.ts)
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ACME_TOKEN } from '../src/simulator/index.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { toUnits } from '../src/util/decimal.js';
import type { DayTotals } from '../src/warehouse/types.js';
import {
  addDaysIso, BIN, clickhouseReachable, fmt, fmtInt, freshClickHouse, freshPostgres, measureNode, median, parseFlags, postgresReachable, ROOT, startSimChild,
  tempDir, type Measured,
} from './lib.js';
import { ServerCpu } from './server-cpu.js';

// `--scenario agency`: many small connectors, then dashboard reads (bench/agency.ts, its own flags).
const scenario = process.argv.slice(2).find((a, i, all) => a.startsWith('--scenario=') || all[i - 1] === '--scenario');
if (process.argv.includes('--scenario') || scenario) {
  const name = scenario?.replace(/^--scenario=/, '');
  if (name !== 'agency') throw new Error(`--scenario: unknown scenario "${name ?? ''}" (known: agency)`);
  const { runAgency } = await import('./agency.js');
  process.exit(await runAgency(process.argv.slice(2)));
}

const o = parseFlags(process.argv.slice(2), {
  rows: '1000000', days: '30', runs: '3', warehouse: 'duckdb', concurrency: '3', 'naive-budget': '60', naive: true, write: true, keep: false,
  'end-day': '2026-03-31', seed: '42', 'window-days': '1', only: 'all', gzip: false,
});
const ROWS = Number(o.rows);
const DAYS = Number(o.days);
const RUNS = Number(o.runs);
const END = o['end-day'];
const START = addDaysIso(END, -(DAYS - 1));
const REPORT = 'affiliate-report';
const FIELDS = ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const;
const ALL = ['duckdb', 'postgres', 'clickhouse', 'clickhouse-cluster'];
const warehouses = o.warehouse === 'both' ? ['duckdb', 'postgres'] : o.warehouse === 'all' ? ALL : [o.warehouse];
for (const w of warehouses) if (!ALL.includes(w)) throw new Error(`--warehouse must be one of ${ALL.join(', ')}, both (duckdb + postgres) or all`);
const TITLE: Record<string, string> = { duckdb: 'DuckDB', postgres: 'PostgreSQL', clickhouse: 'ClickHouse (single server)', 'clickhouse-cluster': 'ClickHouse (two-shard cluster)' };
const isClickHouse = (wh: string): wh is 'clickhouse' | 'clickhouse-cluster' => wh === 'clickhouse' || wh === 'clickhouse-cluster';

const load = loadavg()[0]!;
const sim = await startSimChild(['--rows-per-day', String(Math.round(ROWS / DAYS)), '--today', END, '--seed', o.seed, ...(o.gzip ? ['--gzip'] : [])]);
const simHost = new URL(sim.url).host;
const reportUrl = `${sim.url}/en/reports/${REPORT}/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${ACME_TOKEN}`;
const want = (
  await sim.admin<{ days: DayTotals[] }>('GET', `/__admin/totals?token=${ACME_TOKEN}&report=${REPORT}&from=${START}&to=${END}&date_type=transaction`)
).days.filter((d) => d.rows > 0);
const totalRows = want.reduce((a, d) => a + d.rows, 0);
console.log(`report: ${fmtInt(totalRows)} rows over ${DAYS} days (${START}..${END}); simulator ${sim.url} (child pid ${sim.child.pid})`);
console.log(`machine: ${cpus().length} CPUs, node ${process.version}, load average ${load.toFixed(2)}\n`);

interface Result {
  name: string;
  wallS: number[];
  rssMB: number[];
  cpuS: number[];
  /** CPU of the database server(s) for the run, merges included (ClickHouse only; server-cpu.ts). */
  serverCpuS: number[];
  bytes: number;
  /** Bytes over the wire (the limit counts them; = bytes without --gzip). */
  wireBytes: number;
  rows: number;
  note: string;
}

const cleanups: (() => Promise<void>)[] = [];
process.on('SIGINT', () => void shutdown(130));

async function shutdown(code: number): Promise<never> {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await sim.stop();
  process.exit(code);
}

async function freshTarget(wh: string, tag: string): Promise<{ url: string; dir: string; servers?: string[] }> {
  const dir = tempDir(`rc-bench-${tag}-`);
  if (!o.keep) cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  if (wh === 'duckdb') return { url: `duckdb:${join(dir, 'warehouse.duckdb')}`, dir };
  if (isClickHouse(wh)) {
    const ch = await freshClickHouse(wh, tag);
    if (!o.keep) cleanups.push(ch.drop);
    else console.log(`  (kept: ${dir}, ClickHouse database ${ch.db} on ${ch.servers.join(', ')})`);
    return { url: ch.url, dir, servers: ch.servers };
  }
  const db = await freshPostgres(tag);
  if (!o.keep) cleanups.push(db.drop);
  return { url: db.url, dir };
}

function check(m: Measured, what: string): void {
  if (m.code !== 0) {
    throw new Error(`${what} failed (exit ${m.code ?? m.signal}):\n${m.stderr.slice(-4000)}\n${m.stdout.slice(-2000)}`);
  }
}

async function verify(url: string, home: string): Promise<void> {
  const db = await openWarehouse(url, home);
  try {
    const got = await db.warehouse.dayTotals('bench', START, END);
    const bad: string[] = [];
    if (got.length !== want.length) bad.push(`${got.length} days, want ${want.length}`);
    for (let i = 0; i < Math.min(got.length, want.length); i++) {
      const g = got[i]!, w = want[i]!;
      if (g.day !== w.day || g.rows !== w.rows) bad.push(`${w.day}: ${g.rows} rows, want ${w.rows}`);
      for (const f of FIELDS) if (toUnits(g[f]) !== toUnits(w[f])) bad.push(`${w.day} ${f}: ${g[f]}, want ${w[f]}`);
    }
    if (bad.length) throw new Error(`the synced data differs from the simulator's totals:\n  ${bad.slice(0, 10).join('\n  ')}`);
  } finally {
    await db.close();
  }
}

const common = ['--sim', sim.url, '--token', ACME_TOKEN, '--from', START, '--to', END, '--report', REPORT];

async function runLimit(wh: string, run: number, r: Result, mode: 'bulk' | 'windows' = 'bulk'): Promise<void> {
  const t = await freshTarget(wh, `limit${run}`);
  const server = t.servers ? new ServerCpu(t.servers) : null;
  server?.start();
  const m = await measureNode(['--import', 'tsx', join(ROOT, 'bench/limit.ts'), ...common, '--warehouse', t.url, '--dir', t.dir, '--concurrency', o.concurrency, '--mode', mode, '--window-days', o['window-days'], ...(o.gzip ? ['--gzip'] : [])]);
  const serverS = server ? await server.stop() : NaN;
  check(m, 'limit');
  const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as { rows: number; bytes: number; wireBytes: number; downloadS: number; loadS: number };
  if (j.rows !== totalRows) throw new Error(`limit loaded ${j.rows} rows, want ${totalRows}`);
  r.wallS.push(m.wallS);
  r.rssMB.push(m.rssMB);
  r.cpuS.push(m.userS + m.sysS);
  r.serverCpuS.push(serverS);
  r.bytes = j.bytes;
  r.wireBytes = j.wireBytes;
  r.rows = j.rows;
  r.note = `download ${fmt(j.downloadS, 2)} s + load ${fmt(j.loadS, 2)} s (last run)`;
  console.log(`  ${r.name} run ${run}: ${fmt(m.wallS, 2)} s (download ${fmt(j.downloadS, 2)} s, load ${fmt(j.loadS, 2)} s), peak RSS ${fmt(m.rssMB, 0)} MB${serverNote(serverS)}`);
}

/** ", server CPU n s" for a console line, when it was measured. */
const serverNote = (s: number): string => (Number.isFinite(s) ? `, server CPU ${fmt(s, 1)} s` : '');

async function runOurs(wh: string, run: number, r: Result): Promise<void> {
  const t = await freshTarget(wh, `ours${run}`);
  const home = join(t.dir, 'home');
  const env = { ...process.env, RAKUTEN_CONNECTOR_HOME: home, RAKUTEN_WAREHOUSE: t.url, RAKUTEN_ALLOWED_HOSTS: simHost };
  const add = await measureNode([BIN, 'add', '--name', 'bench', '--url', reportUrl, '--start-date', START, '--window-days', o['window-days']], env);
  check(add, 'Save & Test');
  const server = t.servers ? new ServerCpu(t.servers) : null;
  server?.start();
  const m = await measureNode([BIN, 'sync', 'bench', '--from', START, '--to', END, '--concurrency', o.concurrency], env);
  const serverS = server ? await server.stop() : NaN;
  check(m, 'sync');
  await verify(t.url, home);
  r.wallS.push(m.wallS);
  r.rssMB.push(m.rssMB);
  r.cpuS.push(m.userS + m.sysS);
  r.serverCpuS.push(serverS);
  r.rows = totalRows;
  console.log(`  ours  run ${run}: ${fmt(m.wallS, 2)} s, peak RSS ${fmt(m.rssMB, 0)} MB, CPU ${fmt(m.userS + m.sysS, 1)} s${serverNote(serverS)} — exact totals ✓`);
}

async function runNaive(wh: string, r: Result): Promise<void> {
  const t = await freshTarget(wh, 'naive');
  const m = await measureNode(['--import', 'tsx', join(ROOT, 'bench/naive.ts'), ...common, '--warehouse', t.url, '--dir', t.dir, '--budget', o['naive-budget']]);
  check(m, 'naive');
  const j = JSON.parse(m.stdout.trim().split('\n').pop()!) as { rows: number; bytes: number; seconds: number; complete: boolean };
  const full = j.complete ? j.seconds : (j.seconds * totalRows) / j.rows;
  r.wallS.push(full);
  r.rssMB.push(m.rssMB);
  r.cpuS.push(NaN);
  r.serverCpuS.push(NaN);
  r.rows = totalRows;
  r.note = j.complete ? 'complete run' : `extrapolated: ${fmtInt(j.rows)} rows in ${fmt(j.seconds, 0)} s (budget), × ${fmt(totalRows / j.rows, 1)}; RSS of the partial run`;
  console.log(`  naive: ${fmtInt(j.rows)} rows in ${fmt(j.seconds, 1)} s → ${fmt(full, 0)} s for the report${j.complete ? '' : ' (extrapolated)'}, peak RSS ${fmt(m.rssMB, 0)} MB`);
}

const WD = Number(o['window-days']);
const windowLabel = WD === 1 ? `${DAYS} one-day windows` : `${Math.ceil(DAYS / WD)} window(s) of up to ${WD} days (--window-days ${WD})`;
const sections: string[] = [];
try {
for (const wh of warehouses) {
  if (wh === 'postgres' && !(await postgresReachable())) {
    console.log('postgres: not reachable, skipped');
    continue;
  }
  if (isClickHouse(wh) && !(await clickhouseReachable(wh))) {
    console.log(`${wh}: not reachable, skipped`);
    continue;
  }
  console.log(`${wh}:`);
  const limit: Result = { name: 'limit', wallS: [], rssMB: [], cpuS: [], serverCpuS: [], bytes: 0, wireBytes: 0, rows: 0, note: '' };
  const ours: Result = { name: 'ours', wallS: [], rssMB: [], cpuS: [], serverCpuS: [], bytes: 0, wireBytes: 0, rows: 0, note: '' };
  const naive: Result = { name: 'naive', wallS: [], rssMB: [], cpuS: [], serverCpuS: [], bytes: 0, wireBytes: 0, rows: 0, note: '' };
  const perWindow: Result = { name: 'limit/window', wallS: [], rssMB: [], cpuS: [], serverCpuS: [], bytes: 0, wireBytes: 0, rows: 0, note: '' };
  const steps: (() => Promise<void>)[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const round = [(): Promise<void> => runOurs(wh, run, ours)];
    if (o.only !== 'ours') round.push(() => runLimit(wh, run, limit));
    if (wh === 'duckdb' && o.only !== 'ours') round.push(() => runLimit(wh, run, perWindow, 'windows'));
    // Rotate the order so a slow patch of a shared machine does not always hit the same one.
    for (let k = 0; k < round.length; k++) steps.push(round[(k + run - 1) % round.length]!);
  }
  for (const step of steps) await step();
  ours.bytes = limit.bytes;
  naive.bytes = limit.bytes;
  if (o.naive) await runNaive(wh, naive);
  const rows = [limit, ...(wh === 'duckdb' ? [perWindow] : []), ours, ...(o.naive ? [naive] : [])];
  const lim = median(limit.wallS);
  const label: Record<string, string> = {
    limit: wh === 'duckdb'
      ? 'limit: download to files + one DuckDB `read_csv` bulk load'
      : wh === 'postgres'
        ? 'limit: download to files + per window, on parallel connections: `COPY FROM STDIN` + typed `INSERT … SELECT`'
        : 'limit: download to files + per window, on parallel connections: `INSERT … FORMAT CSVWithNames` into a `Log` stage + typed `INSERT … SELECT`' +
          (wh === 'clickhouse-cluster' ? ' into the Distributed table (`insert_distributed_sync=1`)' : ''),
    'limit/window': 'floor for per-day atomic loads: download + one DuckDB `read_csv` load **per day, each its own transaction**',
    ours: 'ours: `rakuten-connector sync`',
    naive: 'naive: split parser + row-by-row `INSERT`',
  };
  // The server's CPU where it was measured (ClickHouse on this machine): the two columns add up to the run's whole cost.
  const withServer = rows.some((r) => r.serverCpuS.some((x) => Number.isFinite(x)));
  const table = [
    `| | wall s (median) | rows/s | MB/s | peak RSS MB (max) | CPU s |${withServer ? ' server CPU s |' : ''} × limit | runs (wall s) |`,
    `|---|---:|---:|---:|---:|---:|${withServer ? '---:|' : ''}---:|---|`,
    ...rows.map((r) => {
      const w = median(r.wallS);
      const sv = withServer ? ` ${fmt(median(r.serverCpuS), 1)} |` : '';
      return `| ${label[r.name]} | ${fmt(w, 2)} | ${fmtInt(r.rows / w)} | ${fmt(r.bytes / 1e6 / w, 1)} | ${fmt(Math.max(...r.rssMB), 0)} | ${fmt(median(r.cpuS), 1)} |${sv} ${fmt(w / lim, 2)} | ${r.wallS.map((x) => fmt(x, 2)).join(', ')} |`;
    }),
  ].join('\n');
  const gz = o.gzip ? `; gzip: ${fmt(limit.wireBytes / 1e6, 0)} MB on the wire for the ${fmt(limit.bytes / 1e6, 0)} MB of CSV (${fmt(limit.bytes / Math.max(1, limit.wireBytes), 1)}×), inflated by both` : '';
  const notes = [limit.note && `limit: ${limit.note}`, perWindow.note && `per-day floor: ${perWindow.note}`, o.naive && naive.note && `naive: ${naive.note}`].filter(Boolean).join('; ');
  const section = [
    `<!-- bench:${wh}:${ROWS}${WD === 1 ? '' : `:w${WD}`}${o.gzip ? ':gzip' : ''} -->`,
    `### ${TITLE[wh]}, ${fmtInt(totalRows)} rows${WD === 1 ? '' : `, --window-days ${WD}`}${o.gzip ? ', gzip (--gzip)' : ''}`,
    '',
    `${fmtInt(totalRows)} rows, ${fmt(limit.bytes / 1e6, 0)} MB of CSV${o.gzip ? ' served gzip-compressed' : ''}, ${windowLabel}, concurrency ${o.concurrency}${gz}; ` +
      `${RUNS} runs, median; ${new Date().toISOString().slice(0, 10)}, ${cpus().length} CPUs, node ${process.version}, load average ${load.toFixed(2)} at start. ` +
      `Ours ÷ limit: **${fmt(median(ours.wallS) / lim, 2)}**${wh === 'duckdb' ? `; ours ÷ per-day-transaction floor: **${fmt(median(ours.wallS) / median(perWindow.wallS), 2)}**` : ''}; ` +
      `ours' result checked exact against the simulator's totals every run.`,
    '',
    table,
    '',
    notes ? `${notes}.` : '',
    `<!-- /bench:${wh}:${ROWS}${WD === 1 ? '' : `:w${WD}`}${o.gzip ? ':gzip' : ''} -->`,
  ].join('\n');
  console.log(`\n${table}\n${notes}\n`);
  sections.push(section);
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  await shutdown(1);
}

if (o.write && sections.length > 0) {
  const doc = join(ROOT, 'docs', 'BENCHMARKS.md');
  let text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n\n## Results\n\n';
  for (const s of sections) {
    const tag = /<!-- (bench:[^ ]+) -->/.exec(s)![1]!;
    const re = new RegExp(`<!-- ${tag} -->[\\s\\S]*?<!-- /${tag} -->`);
    text = re.test(text) ? text.replace(re, () => s) : text.replace(/(<!-- results:end -->|$)/, (m) => `${s}\n\n${m}`);
  }
  writeFileSync(doc, text);
  console.log(`written to docs/BENCHMARKS.md`);
}
await shutdown(0);
