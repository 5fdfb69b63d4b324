/**
 * Shared by the benchmark and the soak: the simulator in a child process (its CPU is not ours),
 * child processes measured with /usr/bin/time, fresh PostgreSQL and ClickHouse databases, small statistics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin', 'rakuten-connector');
export const PG_ADMIN_URL = process.env.RAKUTEN_BENCH_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** `--name value` / `--flag` arguments with defaults; unknown names are an error. */
export function parseFlags<T extends Record<string, string | boolean>>(argv: string[], defaults: T): T {
  const out: Record<string, string | boolean> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (!(k in defaults) && k.startsWith('no-') && typeof defaults[k.slice(3)] === 'boolean' && inline === undefined) {
      k = k.slice(3);
      inline = 'false';
    }
    if (!(k in defaults)) throw new Error(`unknown option --${k} (known: ${Object.keys(defaults).map((x) => `--${x}`).join(' ')})`);
    if (typeof defaults[k] === 'boolean') out[k] = inline === undefined ? true : inline !== 'false';
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      out[k] = v;
    }
  }
  return out as T;
}

export interface SimChild {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

/** The simulator CLI in a child process; resolves once it listens. */
export async function startSimChild(args: string[]): Promise<SimChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/simulator/main.ts'), '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = /simulator listening on (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited (${code}) before listening`)));
  });
  child.stdout!.resume();
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = (await res.json()) as T;
    if (!res.ok) throw new Error(`simulator admin ${method} ${path}: ${JSON.stringify(j)}`);
    return j;
  };
  return {
    url,
    child,
    admin,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallS: number;
  /** Peak resident set size of the child, MB (from /usr/bin/time -v). */
  rssMB: number;
  userS: number;
  sysS: number;
}

const TIME = '/usr/bin/time';

/** Run `node <args>` in a child under /usr/bin/time -v: wall clock, peak RSS, CPU. */
export function measureNode(args: string[], env: NodeJS.ProcessEnv = process.env, opts: { timeoutMs?: number } = {}): Promise<Measured> {
  const useTime = existsSync(TIME);
  const cmd = useTime ? TIME : process.execPath;
  const argv = useTime ? ['-v', process.execPath, ...args] : args;
  const t0 = performance.now();
  const child = spawn(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const wallS = (performance.now() - t0) / 1000;
      const num = (re: RegExp): number => Number(re.exec(stderr)?.[1] ?? NaN);
      const rssKB = num(/Maximum resident set size \(kbytes\): (\d+)/);
      const userS = num(/User time \(seconds\): ([\d.]+)/);
      const sysS = num(/System time \(seconds\): ([\d.]+)/);
      // /usr/bin/time reports the child's status in its own words; keep the program's stderr only.
      const own = stderr.replace(/\n?\tCommand being timed:[\s\S]*$/, '').replace(/Command (exited with non-zero status|terminated by signal) \d+\n?/g, '');
      const m = /Command terminated by signal (\d+)/.exec(stderr);
      resolve({
        code: useTime && m ? null : code,
        signal: useTime && m ? (Number(m[1]) === 9 ? 'SIGKILL' : 'SIGTERM') : signal,
        stdout,
        stderr: own,
        wallS,
        rssMB: rssKB / 1024,
        userS,
        sysS,
      });
    });
  });
}

/** A fresh, empty PostgreSQL database for one run. */
export async function freshPostgres(tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `rc_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query(sql, params);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      await admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await admin(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

/** The local ClickHouse servers (docs/CLICKHOUSE.md): one single server, and the shards of a two-shard cluster. */
export const CH_SINGLE = process.env.RAKUTEN_BENCH_CH || 'http://127.0.0.1:8123';
export const CH_SHARDS = (process.env.RAKUTEN_BENCH_CH_SHARDS || 'http://127.0.0.1:8124,http://127.0.0.1:8125').split(',');
export const CH_CLUSTER = process.env.RAKUTEN_BENCH_CH_CLUSTER || 'rakuten_test';

/** One statement over ClickHouse's HTTP interface (`base` = http://host:port); its response text. */
export async function chAdmin(base: string, sql: string): Promise<string> {
  const res = await fetch(`${base}/`, { method: 'POST', body: sql, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${base}: ${text.slice(0, 500)}`);
  return text;
}

export interface FreshClickHouse {
  /** The warehouse URL: clickhouse://host:port/db, with ?cluster= for the cluster. */
  url: string;
  /** HTTP endpoints the database was created on (the single server, or every shard). */
  servers: string[];
  db: string;
  drop(): Promise<void>;
}

/** A fresh, empty ClickHouse database for one run: on the single server, or on every shard of the cluster (`?cluster=`). */
export async function freshClickHouse(kind: 'clickhouse' | 'clickhouse-cluster', tag: string): Promise<FreshClickHouse> {
  const servers = kind === 'clickhouse' ? [CH_SINGLE] : CH_SHARDS;
  const db = `rc_bench_${tag.replace(/[^a-z0-9_]/gi, '_')}_${randomBytes(4).toString('hex')}`;
  for (const s of servers) await chAdmin(s, `CREATE DATABASE ${db}`);
  const u = new URL(servers[0]!);
  return {
    url: `clickhouse://${u.host}/${db}${kind === 'clickhouse' ? '' : `?cluster=${CH_CLUSTER}`}`,
    servers,
    db,
    drop: async () => {
      for (const s of servers) await chAdmin(s, `DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
    },
  };
}

/** Do the servers of `kind` answer? */
export async function clickhouseReachable(kind: 'clickhouse' | 'clickhouse-cluster'): Promise<boolean> {
  try {
    for (const s of kind === 'clickhouse' ? [CH_SINGLE] : CH_SHARDS) await chAdmin(s, 'SELECT 1');
    return true;
  } catch {
    return false;
  }
}

export async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

/** Days from..to inclusive (ISO). */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) out.push(d.toISOString().slice(0, 10));
  return out;
}

export function addDaysIso(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Run fn over items, at most `concurrency` at a time, in order of start. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
