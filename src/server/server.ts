/**
 * The running server: the App (held for the server's lifetime: DuckDB admits one writing
 * process), the scheduler, the sync runner and the HTTP listener, with an orderly shutdown.
 * A failure while starting (after the listener opened: e.g. the scheduler cannot read the
 * connectors) closes the listener again and rejects: a server is never left half up. A problem of
 * one connector is not such a failure: that connector is not scheduled, the others are.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { App, ConnectorView } from '../app/app.js';
import type { Output } from '../app/output.js';
import { leaseTtlFromEnv, requestOptionsFromEnv, retryPolicyFromEnv, syncConcurrencyFromEnv } from '../app/options.js';
import { type Clock, systemClock } from '../scheduler/clock.js';
import { watchFreshness } from './freshness-watch.js';
import { type ScheduledConnector, Scheduler } from '../scheduler/scheduler.js';
import { safeError } from '../util/secrets.js';
import { createHttpApp } from './api.js';
import { AdminAuth, isLoopbackHost } from './auth.js';
import { type Health, healthCheck } from './health.js';
import { cliRoutes, SyncEvents } from './cli-api.js';
import { announce, LocalCredential, localUrl } from './local-credential.js';
import { ServerMetrics } from './metrics.js';
import { SHUTDOWN_MESSAGE, SyncRunner } from './runner.js';

/** How long a stopping `serve` waits for alert deliveries under way (a container's stop timeout is often 10 s). */
const ALERTS_WAIT_MS = 8_000;

export interface ServerOptions {
  app: App;
  out: Output;
  host: string;
  port: number;
  /** RAKUTEN_CONNECTOR_ADMIN_TOKEN; required unless host is a loopback address. */
  adminToken?: string;
  /** Clock of the scheduler, the login sessions and the wrong-token throttle (tests inject a FakeClock). */
  clock?: Clock;
  /**
   * A reverse proxy (TLS) in front of the server is declared: believe its X-Forwarded-For (client
   * address, for throttling), X-Forwarded-Proto (https: the session cookie gets `Secure`) and
   * X-Forwarded-Host (the browser's host, for the same-origin check). Without it they are ignored.
   */
  trustProxy?: boolean;
  /** Syncs at once (default RAKUTEN_SYNC_CONCURRENCY or 2). */
  concurrency?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** How long a shutdown waits for running syncs before it aborts them (default 2 s). */
  shutdownGraceMs?: number;
  /** Write `<home>/serve.json` for the CLI of this home (local-credential.ts; default true). */
  announce?: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  app: App;
  scheduler: Scheduler;
  runner: SyncRunner;
  /** What GET /healthz answers. */
  health(): Promise<Health>;
  /** Stop scheduling, stop running syncs, stop listening, close the App. */
  close(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const { app, out } = o;
  const loopback = isLoopbackHost(o.host);
  if (!loopback && !o.adminToken) {
    throw new Error(`refusing to serve on ${o.host} without RAKUTEN_CONNECTOR_ADMIN_TOKEN`);
  }
  const now = o.clock ? () => o.clock!.now().getTime() : Date.now;
  /** Connectors left unscheduled because of a problem, and why (each said once in the log). */
  const problems = new Map<string, string>();
  const auth = o.adminToken ? new AdminAuth(o.adminToken, now) : undefined;
  // The CLI of this home reaches the server with this credential (serve.json; cli-api.ts), and
  // follows the syncs it starts through the events the runner's App tells.
  const credential = new LocalCredential();
  const events = new SyncEvents();
  // GET /metrics: counts the runner's syncs (their events) and reads the run history at scrape time.
  const metrics = new ServerMetrics({ statuses: () => app.statuses() });
  const runner = new SyncRunner(metrics.tee(events.tee(app)), { out, syncOptions: () => ({ retry: retryPolicyFromEnv(), request: requestOptionsFromEnv(), leaseTtlMs: leaseTtlFromEnv() }) });
  const scheduler = new TrackedScheduler({
    clock: o.clock,
    concurrency: o.concurrency ?? syncConcurrencyFromEnv(),
    backoff: o.backoff,
    load: () => loadSchedules(app, out, problems),
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
  const health = healthCheck({ probe: () => app.probe(), schedulerRunning: () => scheduler.isRunning && !closing });
  const http = createHttpApp({
    app, scheduler, runner, out, auth, metrics,
    loopbackOnly: !auth,
    trustProxy: Boolean(o.trustProxy),
    request: requestOptionsFromEnv,
    closing: () => closing,
    health,
    local: credential,
    extraRoutes: (h) => cliRoutes(h, { app, scheduler, runner, events, credential, request: requestOptionsFromEnv }),
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
  try {
    await scheduler.start();
  } catch (e) {
    // Nothing may stay up half started: stop the scheduler, close the listener, then fail.
    closing = true;
    for (const job of scheduler.stop()) runner.forget(job.name);
    runner.abortAll(SHUTDOWN_MESSAGE);
    await runner.settle(5_000);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    throw new ServerStartError(`the scheduler could not read the connectors: ${safeError(e).message}`, e);
  }
  app.alerts.listeners.add(metrics.alertDelivered);
  const freshness = watchFreshness(app, o.clock ?? systemClock, out);
  const shown = o.host.includes(':') ? `[${o.host}]` : o.host;
  let unannounce = () => {};
  if (o.announce !== false) {
    try {
      unannounce = announce(app.home, localUrl(o.host, port), credential);
    } catch (e) {
      out.log('warn', `could not write ${app.home}/serve.json (${safeError(e).message}): CLI commands on this home cannot reach this server`);
    }
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      const freshnessStopped = freshness.stop();
      app.alerts.listeners.delete(metrics.alertDelivered);
      unannounce();
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
      await freshnessStopped;
      if (app.alerts.pending) out.log('info', `sending ${app.alerts.pending} alert(s) still under way before stopping (${ALERTS_WAIT_MS / 1000} s at most)`, { event: 'shutdown' });
      if (!(await app.alerts.close(ALERTS_WAIT_MS))) out.log('warn', `${app.alerts.pending} alert delivery(ies) given up at shutdown (a receiver did not answer in time)`, { event: 'shutdown' });
      await app.close({ alertsWaitMs: 0 });
    })());

  return { url: `http://${shown}:${port}`, port, app, scheduler, runner, health, close };
}

/** Start-up failed after the listener opened; the listener is closed again. */
export class ServerStartError extends Error {
  constructor(message: string, readonly cause: unknown) {
    super(message);
    this.name = 'ServerStartError';
  }
}

/** A Scheduler that says whether it is running (for /healthz): started successfully and not stopped. */
class TrackedScheduler extends Scheduler {
  private phase: 'new' | 'running' | 'stopped' = 'new';

  override async start(): Promise<void> {
    await super.start();
    if (this.phase === 'new') this.phase = 'running';
  }

  override stop(): ReturnType<Scheduler['stop']> {
    this.phase = 'stopped';
    return super.stop();
  }

  get isRunning(): boolean {
    return this.phase === 'running';
  }
}

/**
 * A connector that cannot be used comes back from App.list() with a `problem` (in words): it is
 * not scheduled, and said once in the log; the others are scheduled as usual.
 */
async function usableConnectors(app: App, out: Output, problems: Map<string, string>): Promise<ConnectorView[]> {
  const usable: ConnectorView[] = [];
  const seen = new Set<string>();
  for (const v of await app.list()) {
    if (!v.problem) {
      usable.push(v);
      continue;
    }
    seen.add(v.name);
    if (problems.get(v.name) !== v.problem) {
      problems.set(v.name, v.problem);
      out.log('warn', `[${v.name}] not scheduled: ${v.problem}`, { connector: v.name, event: 'problem' });
    }
  }
  for (const name of [...problems.keys()]) if (!seen.has(name)) problems.delete(name);
  return usable;
}

/** What the scheduler needs to know about each connector. */
async function loadSchedules(app: App, log: Output, problems: Map<string, string>): Promise<ScheduledConnector[]> {
  const out: ScheduledConnector[] = [];
  for (const v of await usableConnectors(app, log, problems)) {
    // A sync stopped by a shutdown does not count: it is owed, and runs at start-up.
    const runs = await app.runs(v.name, 5);
    const last = runs.find((r) => r.status !== 'interrupted' && r.status !== 'running' && !(r.status === 'failed' && r.error?.startsWith(SHUTDOWN_MESSAGE)));
    out.push({
      name: v.name, schedule: v.settings.schedule, timeZone: v.timeZone, paused: v.settings.paused, createdAt: v.createdAt,
      lastRunStartedAt: last?.startedAt ?? null,
    });
  }
  return out;
}
