/**
 * Pieces of the agency scenario (bench/agency.ts) that are not its flow: per-window timings read
 * from the CLI's own `--json` progress lines (no product change needed), ClickHouse storage
 * statistics (system.parts, the database's files on disk), the `serve` child with a logged-in
 * session and latency samples, and writing a section of docs/BENCHMARKS.md between markers.
 * ClickHouse is reached over plain HTTP here, not through src/warehouse, so this keeps working
 * while the warehouse code changes underneath.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { type Dirent, existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, ROOT } from './lib.js';

// ---------------------------------------------------------------- per-window timings

export interface WindowTiming {
  connector: string;
  day: string;
  /** Position among all windows of the ingest, in commit order (= connector-days already committed). */
  seq: number;
  /** Since the previous commit of the same run (the run's start for its first): the wall time a window costs at this concurrency. */
  intervalMs: number;
  /** From the window's start to its commit, reconstructed from the engine's pool order (see parseSyncTimings). */
  latencyMs: number;
  /** Runs in progress when it committed (under `sync --all --parallel N`: N, then fewer at the end). */
  active: number;
}

interface LogLine { time?: string; event?: string; connector?: string; start?: string; rows?: number }

/**
 * Timings of every window from the stderr of `rakuten-connector --json sync …`: one JSON line per
 * run start and per committed window, stamped to the millisecond by the CLI as it happens.
 * The engine (src/sync/engine.ts) runs `concurrency` workers over the windows in day order, and a
 * worker takes the next window right after its commit: so window i (i >= c) starts at the
 * (i - c + 1)-th commit of its run, and windows 0..c-1 at the run's start. A window's interval is
 * the time since the commit before it in the whole process (runs of several connectors overlap
 * under `sync --all --parallel`), so intervals add up to the wall time of the syncing.
 */
export function parseSyncTimings(stderr: string, concurrency: number, seq0 = 0, ends: Map<string, number> = new Map()): WindowTiming[] {
  const runs = new Map<string, { startMs: number; commits: { day: string; ms: number }[] }>();
  const order: { connector: string; day: string; ms: number }[] = [];
  for (const raw of stderr.split('\n')) {
    if (!raw.startsWith('{')) continue;
    let l: LogLine;
    try {
      l = JSON.parse(raw) as LogLine;
    } catch {
      continue;
    }
    if (!l.time || !l.connector) continue;
    const ms = Date.parse(l.time);
    if (l.event === 'start') runs.set(l.connector, { startMs: ms, commits: [] });
    else if (l.event === 'window' && l.start) {
      runs.get(l.connector)?.commits.push({ day: l.start, ms });
      order.push({ connector: l.connector, day: l.start, ms });
    }
  }
  const byKey = new Map<string, { latencyMs: number }>();
  for (const [name, run] of runs) {
    const c = Math.max(1, Math.min(concurrency, run.commits.length));
    const dayIndex = new Map([...run.commits].map((x) => x.day).sort().map((d, i) => [d, i] as const));
    for (const w of run.commits) {
      const i = dayIndex.get(w.day)!;
      const startedAt = i < c ? run.startMs : run.commits[i - c]?.ms ?? run.startMs;
      byKey.set(`${name}\t${w.day}`, { latencyMs: w.ms - startedAt });
    }
  }
  const firstStart = Math.min(...[...runs.values()].map((r) => r.startMs));
  // A run is active from its start to its end (`ends`, from the summaries; else its last commit).
  const spans = [...runs].map(([name, r]) => ({ from: r.startMs, to: ends.get(name) ?? r.commits.at(-1)?.ms ?? r.startMs }));
  return order.map((o, i) => ({
    connector: o.connector, day: o.day, seq: seq0 + i,
    intervalMs: o.ms - (i === 0 ? firstStart : order[i - 1]!.ms),
    active: spans.filter((sp) => sp.from <= o.ms && o.ms <= sp.to).length,
    ...byKey.get(`${o.connector}\t${o.day}`)!,
  }));
}

export interface Bucket { n: number; intervalMs: number; latencyMs: number; seq: number }

/** Means over the first and the last `share` of the windows (commit order). */
export function firstLast(ws: WindowTiming[], share = 0.1): { first: Bucket; last: Bucket } {
  const n = Math.max(1, Math.round(ws.length * share));
  const mean = (xs: WindowTiming[]): Bucket => ({
    n: xs.length,
    intervalMs: avg(xs.map((x) => x.intervalMs)),
    latencyMs: avg(xs.map((x) => x.latencyMs)),
    seq: avg(xs.map((x) => x.seq)),
  });
  return { first: mean(ws.slice(0, n)), last: mean(ws.slice(-n)) };
}

export function avg(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
}

// ---------------------------------------------------------------- ClickHouse

export async function chQuery(base: string, sql: string): Promise<string> {
  const res = await fetch(`${base}/`, { method: 'POST', body: sql, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${base}: ${text.slice(0, 500)}`);
  return text;
}

export function chString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface ChStats {
  /** The table holding the most rows (the fact table, whatever its name), summed over the servers. */
  factTable: string;
  partitions: number;
  activeParts: number;
  factRows: number;
  /** Active parts of every table of the database. */
  allParts: number;
  files: number;
  bytes: number;
  /** Files and bytes of the active parts only (the rest: merged-away parts ClickHouse deletes after old_parts_lifetime, 8 min). */
  activeFiles: number;
  activeBytes: number;
  dirs: string[];
}

/** system.parts and the files under the database's data directory, summed over the servers (each shard of a cluster). */
export async function chStats(servers: string[], db: string): Promise<ChStats> {
  const tables = new Map<string, { partitions: number; parts: number; rows: number }>();
  const dirs = new Set<string>();
  const activeDirs: string[] = [];
  for (const s of servers) {
    const parts = await chQuery(s, `SELECT path FROM system.parts WHERE database = ${chString(db)} AND active FORMAT TabSeparated`);
    activeDirs.push(...parts.split('\n').filter(Boolean));
    const tsv = await chQuery(s, `SELECT table, uniqExact(partition), count(), sum(rows) FROM system.parts WHERE database = ${chString(db)} AND active GROUP BY table FORMAT TabSeparated`);
    for (const line of tsv.split('\n').filter(Boolean)) {
      const [table, p, n, r] = line.split('\t') as [string, string, string, string];
      const key = table.replace(/_local$/, '');
      const t = tables.get(key) ?? { partitions: 0, parts: 0, rows: 0 };
      tables.set(key, { partitions: t.partitions + Number(p), parts: t.parts + Number(n), rows: t.rows + Number(r) });
    }
    const paths = await chQuery(s, `SELECT DISTINCT data_path FROM system.tables WHERE database = ${chString(db)} AND data_path != '' FORMAT TabSeparated`);
    for (const p of paths.split('\n').filter(Boolean)) dirs.add(dirname(p.replace(/\/+$/, '')));
  }
  const fact = [...tables.entries()].sort((a, b) => b[1].rows - a[1].rows)[0];
  let files = 0;
  let bytes = 0;
  const inodes = new Set<string>();
  // ClickHouse removes merged-away parts while we walk: a vanished directory or file is skipped.
  const gone = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (d: string): void => {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (gone(e)) return;
      throw e;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        let st;
        try {
          st = lstatSync(p);
        } catch (err) {
          if (gone(err)) continue;
          throw err;
        }
        files++;
        const ino = `${st.dev}:${st.ino}`; // parts shared by REPLACE PARTITION are hard links: count their bytes once
        if (!inodes.has(ino)) {
          inodes.add(ino);
          bytes += st.size;
        }
      }
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d);
  const [allFiles, allBytes] = [files, bytes];
  files = 0;
  bytes = 0;
  inodes.clear();
  for (const d of activeDirs) if (existsSync(d)) walk(d);
  const [activeFiles, activeBytes] = [files, bytes];
  [files, bytes] = [allFiles, allBytes];
  return {
    activeFiles,
    activeBytes,
    factTable: fact?.[0] ?? '-',
    partitions: fact?.[1].partitions ?? 0,
    activeParts: fact?.[1].parts ?? 0,
    factRows: fact?.[1].rows ?? 0,
    allParts: [...tables.values()].reduce((a, t) => a + t.parts, 0),
    files,
    bytes,
    dirs: [...dirs],
  };
}

// ---------------------------------------------------------------- serve

export interface Served {
  url: string;
  child: ChildProcess;
  cookie: string;
  stop(): Promise<void>;
}

/** `rakuten-connector serve --port 0` with an admin token, logged in through POST /login like the web app. */
export async function startServe(env: NodeJS.ProcessEnv, adminToken: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    cwd: ROOT, env: { ...env, RAKUTEN_CONNECTOR_ADMIN_TOKEN: adminToken }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 120 s:\n${log.slice(-2000)}`)), 120_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const m = /serving (http:\/\/[^\s/]+)\//.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening:\n${log.slice(-2000)}`));
    });
  });
  const res = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: adminToken }), redirect: 'manual' });
  const cookie = (res.headers.getSetCookie().find((c) => c.startsWith('rc_session=')) ?? '').split(';')[0]!;
  await res.text();
  if (res.status !== 303 || !cookie) throw new Error(`login failed: HTTP ${res.status}`);
  return {
    url,
    child,
    cookie,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface Latency { path: string; ms: number[]; median: number; p95: number; body: unknown }

/** One warm-up request, then `n` sequential ones; the body of the last, parsed. */
export async function sampleGet(s: Served, path: string, n: number): Promise<Latency> {
  const get = async (): Promise<{ ms: number; body: unknown }> => {
    const t0 = performance.now();
    const res = await fetch(`${s.url}${path}`, { headers: { cookie: s.cookie, accept: 'application/json' } });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
    return { ms, body: JSON.parse(text) as unknown };
  };
  await get();
  const ms: number[] = [];
  let body: unknown;
  for (let i = 0; i < n; i++) {
    const r = await get();
    ms.push(r.ms);
    body = r.body;
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return { path, ms, median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2, p95: percentile(ms, 95), body };
}

// ---------------------------------------------------------------- docs/BENCHMARKS.md

const SECTION = '## Agency scenario';

/** Put `body` between `<!-- agency:<wh>:start -->` and `…:end -->`, creating the section (with `intro`) at the end when missing. */
export function writeAgencySection(wh: string, body: string, intro: string): void {
  const doc = process.env.RAKUTEN_BENCH_DOC || join(ROOT, 'docs', 'BENCHMARKS.md');
  let text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  const start = `<!-- agency:${wh}:start -->`;
  const end = `<!-- agency:${wh}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const re = new RegExp(`${escapeRe(start)}[\\s\\S]*?${escapeRe(end)}`);
  if (re.test(text)) text = text.replace(re, () => block);
  else {
    if (!text.includes(SECTION)) text = `${text.trimEnd()}\n\n${intro.trim()}\n`;
    // At the end of the agency section: before the next "## " heading after it, or at the end of the file.
    const at = text.indexOf(SECTION);
    const next = text.indexOf('\n## ', at + SECTION.length);
    const cut = next < 0 ? text.length : next + 1;
    text = `${text.slice(0, cut).trimEnd()}\n\n${block}\n${next < 0 ? '' : `\n${text.slice(cut)}`}`;
  }
  writeFileSync(doc, text);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
