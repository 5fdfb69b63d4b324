/**
 * Test helpers for the server and browser tests: a full stack (Rakuten simulator + App +
 * `serve` in-process on a free port, temp home), log capture, and real Chromium through
 * playwright-core (Debian's /usr/bin/chromium, installed by scripts/chromium.sh).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { chromium, type Browser } from 'playwright-core';
import { App } from '../../src/app/app.js';
import { Output } from '../../src/app/output.js';
import { FakeClock } from '../../src/scheduler/clock.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import { type Simulator, startSimulator } from '../../src/simulator/index.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or undefined when they can. In CI (CI set) a missing
 * Chromium is an error, never a silent skip.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  const why = `Chromium not found at ${CHROMIUM_PATH}: run scripts/chromium.sh`;
  if (process.env.CI) throw new Error(`${why} (CI is set: browser tests must not be skipped)`);
  return why;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}: run scripts/chromium.sh`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Everything written to an Output (stdout and stderr), for "no token in the logs" checks. */
export class LogCapture {
  readonly chunks: string[] = [];
  readonly stream = new PassThrough();
  constructor() {
    this.stream.on('data', (b: Buffer) => this.chunks.push(b.toString('utf8')));
  }
  text(): string {
    return this.chunks.join('');
  }
}

export interface Stack {
  sim: Simulator;
  srv: RunningServer;
  home: string;
  url: string;
  logs: LogCapture;
  /** A "Get API" URL on the simulator. */
  reportUrl(report: string, token: string, params?: Record<string, string>): string;
  /** fetch against the server, JSON in and out. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; data: any; text: string; headers: Headers }>;
  close(): Promise<void>;
}

export async function startStack(o: { rowsPerDay?: number; adminToken?: string; clock?: FakeClock; trustProxy?: boolean } = {}): Promise<Stack> {
  const sim = await startSimulator({ port: 0, rowsPerDay: o.rowsPerDay ?? 60 });
  const host = new URL(sim.url).host;
  process.env.RAKUTEN_ALLOWED_HOSTS = [...(process.env.RAKUTEN_ALLOWED_HOSTS ?? '').split(',').filter(Boolean), host].join(',');
  process.env.RAKUTEN_RETRY_BASE_MS ??= '20';
  process.env.RAKUTEN_RETRY_MAX_MS ??= '100';
  const home = mkdtempSync(join(tmpdir(), 'rc-serve-'));
  const logs = new LogCapture();
  const out = new Output(false, logs.stream as unknown as NodeJS.WriteStream, logs.stream as unknown as NodeJS.WriteStream);
  const app = await App.open({ home });
  // A frozen scheduler clock: nothing fires on its own during a test.
  const srv = await startServer({ app, out, host: '127.0.0.1', port: 0, adminToken: o.adminToken, clock: o.clock ?? new FakeClock(Date.now()), trustProxy: o.trustProxy });
  const url = srv.url;
  return {
    sim, srv, home, url, logs,
    reportUrl: (report, token, params = {}) => {
      const u = new URL(`${sim.url}/en/reports/${report}/filters`);
      // network=1 (Rakuten US: amounts in USD) unless the test says otherwise; network '' leaves it out.
      for (const [k, v] of Object.entries({ include_summary: 'N', tz: 'GMT', date_type: 'transaction', date_format: 'm/d/yy', network: '1', ...params })) {
        if (!(k === 'network' && v === '')) u.searchParams.set(k, v);
      }
      u.searchParams.set('token', token);
      return u.toString();
    },
    api: async (method, path, body, headers = {}) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        redirect: 'manual',
      });
      const text = await res.text();
      let data: unknown = null;
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
      return { status: res.status, data, text, headers: res.headers };
    },
    close: async () => {
      await srv.close();
      await sim.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
