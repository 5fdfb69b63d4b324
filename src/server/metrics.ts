/**
 * GET /metrics: the server's syncs in the Prometheus text format (prom-client), so a monitoring
 * system can graph them and, later, alert on them without scraping the JSON API. Why it is built
 * this way:
 * - A Registry per server instance (never prom-client's global one): two servers in one process
 *   (tests) keep their own counts, and nothing else in the process adds series to ours.
 * - Counters and the duration histogram are fed from the sync events the server already sees
 *   (SyncEvent of src/sync/engine.ts), by wrapping App.sync the way SyncEvents.tee does
 *   (cli-api.ts): every sync the runner starts passes through it, nothing else is hooked. They
 *   count since this server started, as Prometheus counters do.
 * - The last-success and freshness gauges are computed at scrape time from the run history
 *   (App.statuses(): lastSuccess.finishedAt), so they are right after a restart too. A connector
 *   never synced successfully has no series (Prometheus' "absent" is the honest answer); a
 *   removed connector's gauges go with it. Concurrent scrapes share one read of the history.
 * - Access is the API's (access.ts): with an admin token /metrics needs `Authorization: Bearer
 *   <token>` (or a session); a refusal is the API's 401, not the browser's redirect to /login.
 * - Labels are connector names (validated names, never a URL or token) and fixed words; the text
 *   still passes through redact() on its way out, as every other answer does.
 * - No default process metrics: collectDefaultMetrics() starts event-loop and GC monitors per
 *   registry that are never stopped, and a scrape stays a handful of reads.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { App, ConnectorStatus } from '../app/app.js';
import type { SyncEvent, SyncOptions } from '../sync/engine.js';
import { redact } from '../util/secrets.js';
import type { AlertDeliveryRecord } from '../warehouse/types.js';

export const METRICS_PATH = '/metrics';

/** Seconds: from half a second (a day or two of a small report) to an hour (a long backfill). */
export const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export interface MetricsOptions {
  /** The run history, read at scrape time (App.statuses). */
  statuses: () => Promise<Pick<ConnectorStatus, 'name' | 'lastSuccess'>[]>;
  /** Wall clock in ms for the freshness lag (runs record real time, so not the scheduler's clock). */
  now?: () => number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly rows: Counter<'connector'>;
  private readonly syncs: Counter<'connector' | 'outcome'>;
  private readonly duration: Histogram<'connector'>;
  private readonly retries: Counter<'connector' | 'kind'>;
  private readonly lastSuccess: Gauge<'connector'>;
  private readonly lag: Gauge<'connector'>;
  private readonly historyUp: Gauge;
  private readonly alerts: Counter<'event' | 'status'>;
  private inflight: Promise<string> | undefined;

  /** Counts one alert delivery (App.alerts' listener). */
  readonly alertDelivered = (d: AlertDeliveryRecord): void => {
    this.alerts.inc({ event: d.event, status: d.status });
  };

  constructor(private readonly o: MetricsOptions) {
    const registers = [this.registry];
    this.rows = new Counter({
      name: 'rakuten_rows_synced_total', registers, labelNames: ['connector'],
      help: 'Report rows committed to the warehouse by syncs of this server (a failed sync counts the windows it committed: the runs\' rows).',
    });
    this.syncs = new Counter({
      name: 'rakuten_syncs_total', registers, labelNames: ['connector', 'outcome'],
      help: 'Syncs of this server that finished, by outcome (success, failed, interrupted): the runs by status.',
    });
    this.duration = new Histogram({
      name: 'rakuten_sync_duration_seconds', registers, labelNames: ['connector'], buckets: DURATION_BUCKETS,
      help: 'How long the finished syncs of this server took (the run\'s startedAt to finishedAt), in seconds.',
    });
    this.retries = new Counter({
      name: 'rakuten_retries_total', registers, labelNames: ['connector', 'kind'],
      help: 'Requests to Rakuten retried by syncs of this server, by the error kind that caused the retry (rate_limited, server, network, timeout, truncated, not_csv).',
    });
    this.lastSuccess = new Gauge({
      name: 'rakuten_last_success_timestamp_seconds', registers, labelNames: ['connector'],
      help: 'When the connector\'s latest successful sync finished, in unix seconds, from the run history (no series before its first success).',
    });
    this.lag = new Gauge({
      name: 'rakuten_freshness_lag_seconds', registers, labelNames: ['connector'],
      help: 'Seconds since the connector\'s latest successful sync finished, at scrape time (no series before its first success).',
    });
    this.alerts = new Counter({
      name: 'rakuten_alerts_total', registers, labelNames: ['event', 'status'],
      help: 'Alert deliveries made by this server (one per channel), by event (failed, recovered, stale, fresh, token_rejected, test) and status (sent, failed).',
    });
    this.historyUp = new Gauge({
      name: 'rakuten_run_history_up', registers,
      help: '1 when the run history could be read for this scrape, else 0 (the last-success and freshness series are then missing).',
    });
  }

  /** Count one event of a sync of `connector`. */
  observe(connector: string, e: SyncEvent): void {
    switch (e.type) {
      case 'window':
        this.rows.inc({ connector }, e.rows);
        break;
      case 'retry':
        this.retries.inc({ connector, kind: e.kind });
        break;
      case 'end': {
        const outcome = e.run.status === 'success' || e.run.status === 'failed' || e.run.status === 'interrupted' ? e.run.status : undefined;
        if (!outcome) break;
        this.syncs.inc({ connector, outcome });
        const ms = Date.parse(e.run.finishedAt ?? '') - Date.parse(e.run.startedAt);
        if (Number.isFinite(ms)) this.duration.observe({ connector }, Math.max(0, ms) / 1000);
        break;
      }
      default:
        break;
    }
  }

  /** The App whose syncs are counted here (the runner calls only sync); events still reach the caller's onEvent. */
  tee(app: App): App {
    const teed = Object.create(app) as App;
    teed.sync = (name: string, opts: SyncOptions = {}) =>
      app.sync(name, {
        ...opts,
        onEvent: (e) => {
          try {
            this.observe(name, e);
          } catch {
            // counting never breaks a sync
          }
          opts.onEvent?.(e);
        },
      });
    return teed;
  }

  /** The exposition text; concurrent scrapes share one read of the run history. */
  text(): Promise<string> {
    this.inflight ??= this.render().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async render(): Promise<string> {
    let statuses: Awaited<ReturnType<MetricsOptions['statuses']>> | undefined;
    try {
      statuses = await this.o.statuses();
    } catch {
      statuses = undefined;
    }
    this.lastSuccess.reset();
    this.lag.reset();
    this.historyUp.set(statuses ? 1 : 0);
    const now = (this.o.now ?? Date.now)();
    for (const s of statuses ?? []) {
      const finished = Date.parse(s.lastSuccess?.finishedAt ?? '');
      if (!Number.isFinite(finished)) continue;
      this.lastSuccess.set({ connector: s.name }, finished / 1000);
      this.lag.set({ connector: s.name }, Math.max(0, now - finished) / 1000);
    }
    return redact(await this.registry.metrics());
  }

  /** GET /metrics; register after the access rules (installAccess). */
  routes(http: Hono): void {
    http.get(METRICS_PATH, async (c) => c.body(await this.text(), 200, { 'Content-Type': this.contentType, 'Cache-Control': 'no-store' }));
  }
}

/**
 * Register BEFORE the access rules: a refused /metrics is answered as the API answers (401 with
 * WWW-Authenticate), not with the browser's redirect to /login: a scraper is not a browser. The
 * decision stays access.ts's (token, session, throttling).
 */
export function metricsRefusal(): MiddlewareHandler {
  return async (c: Context, next) => {
    await next();
    if (c.req.path !== METRICS_PATH || c.res.status !== 303 || c.res.headers.get('location') !== '/login') return;
    // A new Response of its own: setting c.res over the redirect would carry its Location over.
    c.res = undefined as unknown as Response;
    c.res = new Response(JSON.stringify({ errors: { auth: 'send Authorization: Bearer <RAKUTEN_CONNECTOR_ADMIN_TOKEN>' } }), {
      status: 401,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Bearer realm="rakuten-connector"' },
    });
  };
}
