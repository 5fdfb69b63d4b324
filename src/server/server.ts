/**
 * The running server: the App (held for the server's lifetime: DuckDB admits one writing
 * process), the scheduler, the sync runner and the HTTP listener, with an orderly shutdown.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { App } from '../app/app.js';
import type { Output } from '../cli/output.js';
import { requestOptionsFromEnv, retryPolicyFromEnv } from '../cli/env.js';
import type { Clock } from '../scheduler/clock.js';
import { type ScheduledConnector, Scheduler } from '../scheduler/scheduler.js';
import { createHttpApp } from './api.js';
import { AdminAuth, isLoopbackHost } from './auth.js';
import { SHUTDOWN_MESSAGE, SyncRunner } from './runner.js';

export interface ServerOptions {
  app: App;
  out: Output;
  host: string;
  port: number;
  /** RAKUTEN_CONNECTOR_ADMIN_TOKEN; required unless host is a loopback address. */
  adminToken?: string;
  /** Scheduler clock (tests inject a FakeClock). */
  clock?: Clock;
  /** Syncs at once (default RAKUTEN_SYNC_CONCURRENCY or 2). */
  concurrency?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** How long a shutdown waits for running syncs before it aborts them (default 2 s). */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  app: App;
  scheduler: Scheduler;
  runner: SyncRunner;
  /** Stop scheduling, stop running syncs, stop listening, close the App. */
  close(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const { app, out } = o;
  const loopback = isLoopbackHost(o.host);
  if (!loopback && !o.adminToken) {
    throw new Error(`refusing to serve on ${o.host} without RAKUTEN_CONNECTOR_ADMIN_TOKEN`);
  }
  const auth = o.adminToken ? new AdminAuth(o.adminToken) : undefined;
  const runner = new SyncRunner(app, { out, syncOptions: () => ({ retry: retryPolicyFromEnv(), request: requestOptionsFromEnv() }) });
  const scheduler = new Scheduler({
    clock: o.clock,
    concurrency: o.concurrency ?? (Number(process.env.RAKUTEN_SYNC_CONCURRENCY) || 2),
    backoff: o.backoff,
    load: () => loadSchedules(app),
    execute: (job) => runner.execute(job),
    onEvent: (e) => {
      if (e.type === 'queued') runner.queued(e.job);
      else if (e.type === 'skipped') out.log('info', `[${e.name}] scheduled sync skipped: ${e.reason}`, { connector: e.name, event: 'skipped' });
      else if (e.type === 'done' && !e.result.ok && e.backoffUntil && (e.job.kind === 'scheduled' || e.job.kind === 'catch-up' || e.job.kind === 'retry')) {
        out.log('warn', `[${e.job.name}] backing off: next try at ${e.backoffUntil.toISOString()}`, { connector: e.job.name, event: 'backoff' });
      }
    },
  });

  let closing = false;
  const http = createHttpApp({
    app, scheduler, runner, out, auth,
    loopbackOnly: !auth,
    request: requestOptionsFromEnv,
    closing: () => closing,
  });
  const server = createAdaptorServer({ fetch: http.fetch, hostname: o.host }) as Server;
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  await scheduler.start();
  const shown = o.host.includes(':') ? `[${o.host}]` : o.host;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const job of scheduler.stop()) runner.forget(job.name);
      const running = scheduler.runningNames();
      if (running.length && !(await runner.settle(o.shutdownGraceMs ?? 2000))) {
        out.log('info', `stopping ${running.length} running sync(s): ${running.join(', ')} (a window in flight is rolled back)`, { event: 'shutdown' });
        runner.abortAll(SHUTDOWN_MESSAGE);
        if (!(await runner.settle(15_000))) out.log('warn', 'a sync did not stop in time; closing anyway', { event: 'shutdown' });
      }
      server.closeAllConnections();
      await stopped;
      await app.close();
    })());

  return { url: `http://${shown}:${port}`, port, app, scheduler, runner, close };
}

/** What the scheduler needs to know about each connector. */
async function loadSchedules(app: App): Promise<ScheduledConnector[]> {
  const out: ScheduledConnector[] = [];
  for (const v of await app.list()) {
    // A sync stopped by a shutdown does not count: it is owed, and runs at start-up.
    const runs = await app.db.state.listRuns(v.name, 5);
    const last = runs.find((r) => r.status !== 'interrupted' && r.status !== 'running' && !(r.status === 'failed' && r.error?.startsWith(SHUTDOWN_MESSAGE)));
    out.push({
      name: v.name, schedule: v.settings.schedule, timeZone: v.timeZone, paused: v.settings.paused, createdAt: v.createdAt,
      lastRunStartedAt: last?.startedAt ?? null,
    });
  }
  return out;
}
