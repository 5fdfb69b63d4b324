/**
 * The HTTP API and the web app's files. Everything the UI does goes through these routes, and
 * every route goes through the App service (Save & Test, sync, settings, remove) or reads the
 * warehouse (chart data). Documented in docs/API.md.
 *
 * Secrets: responses never carry a token. Connectors are shown through App.view (token masked),
 * Save & Test answers lose their `source` (it holds the token), and every body passes through
 * redact() on the way out as a last guard.
 *
 * Before any route: the body limit (guards.ts), then who may ask (access.ts: login, sessions,
 * throttling, same-origin, /healthz).
 */
import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import type { App, ConnectorInput } from '../app/app.js';
import { DEFAULT_LOOKBACK_DAYS, DEFAULT_SCHEDULE, DEFAULT_START_DAYS_AGO } from '../app/app.js';
import type { TestReport } from '../app/save-and-test.js';
import type { RequestOptions } from '../rakuten/client.js';
import { REPORT_COLUMNS } from '../rakuten/columns.js';
import { parseReportUrl, sourceFromKey } from '../rakuten/url.js';
import { describeSchedule, scheduleToCron } from '../scheduler/cron.js';
import { type Scheduler, SchedulerBusyError } from '../scheduler/scheduler.js';
import { addDays, todayIn } from '../util/days.js';
import { fromUnits, toUnits } from '../util/decimal.js';
import { flagSetting, textSetting } from '../util/config.js';
import { ConnectorError } from '../util/errors.js';
import { maskToken, safeError } from '../util/secrets.js';
import type { ConnectorRecord, DayTotals, RunRecord } from '../warehouse/types.js';
import { type AccessOptions, installAccess } from './access.js';
import { API_BODY_LIMIT, bodyLimits } from './guards.js';
import { staticFile } from './pages.js';
import { html, HttpError, pathOf, SECURITY_HEADERS, send } from './respond.js';
import type { Progress, SyncRunner } from './runner.js';
import {
  backfillSchema, chartQuerySchema, createConnectorSchema, deleteQuerySchema, emptySchema, fieldErrors, limitQuerySchema, NAME_RE,
  parseUrlSchema, sourceErrors, updateConnectorSchema, type CreateConnectorBody, type UpdateConnectorBody,
} from './validate.js';

export interface ServerContext extends AccessOptions {
  app: App;
  scheduler: Scheduler;
  runner: SyncRunner;
  /** Request options for Save & Test (timeouts). */
  request?: () => RequestOptions;
}

export type ConnectorState = 'healthy' | 'syncing' | 'failing' | 'unusable' | 'paused' | 'new';

const MAX_BODY = API_BODY_LIMIT;

async function readJson<S extends z.ZodTypeAny>(c: Context, schema: S, more?: (raw: unknown) => Record<string, string>): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  // JSON only, even when empty: a cross-site HTML form cannot send it.
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, { body: 'send JSON (Content-Type: application/json)' });
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, { body: `the request body is too large (at most ${MAX_BODY / 1024} KiB)` });
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new HttpError(413, { body: `the request body is too large (at most ${MAX_BODY / 1024} KiB)` });
  let raw: unknown = {};
  if (text.trim()) {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpError(400, { body: 'the request body is not valid JSON' });
    }
  }
  const r = schema.safeParse(raw);
  const errors = { ...(more?.(raw) ?? {}), ...(r.success ? {} : fieldErrors(r.error)) };
  if (!r.success || Object.keys(errors).length) throw new HttpError(400, errors);
  return r.data;
}

function readQuery<S extends z.ZodTypeAny>(c: Context, schema: S): z.infer<S> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) throw new HttpError(400, fieldErrors(r.error));
  return r.data;
}

/** Save & Test answer for the browser: the parsed source (with the token) stays here. */
function publicReport(r: TestReport): Omit<TestReport, 'source'> {
  const { source: _source, ...rest } = r;
  return rest;
}

function durationMs(r: RunRecord): number | null {
  return r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null;
}

function runOut(r: RunRecord) {
  return { ...r, durationMs: durationMs(r) };
}

/** An error in words a user can act on. */
function plainError(run: RunRecord | null, schedError: string | null): string | null {
  if (run?.status === 'failed') return run.error ?? 'the last sync failed';
  if (schedError) return schedError;
  if (run?.status === 'interrupted') return 'the last sync was interrupted before it finished; the next sync picks up from the last completed day';
  return null;
}

const ZERO_DAY = (day: string): DayTotals => ({
  day, rows: 0, impressions: '0', clicks: '0', orders: '0', sales: '0', gross_commissions: '0', total_commissions: '0',
});

const MONEY_KEYS = ['sales', 'gross_commissions', 'total_commissions'] as const;
const COUNT_KEYS = ['impressions', 'clicks', 'orders'] as const;

/** Exact totals: BigInt sums of the warehouse's decimal strings, never floats. */
export function sumDays(days: DayTotals[]): Record<(typeof MONEY_KEYS)[number] | (typeof COUNT_KEYS)[number], string> & { rows: number; days: number } {
  const out = { rows: 0, days: days.filter((d) => d.rows > 0).length } as Record<string, string | number>;
  for (const k of MONEY_KEYS) out[k] = fromUnits(days.reduce((a, d) => a + toUnits(d[k]), 0n));
  for (const k of COUNT_KEYS) out[k] = days.reduce((a, d) => a + BigInt(d[k].split('.')[0] || '0'), 0n).toString();
  out.rows = days.reduce((a, d) => a + d.rows, 0);
  return out as ReturnType<typeof sumDays>;
}

export function createHttpApp(ctx: ServerContext): Hono {
  const { app, scheduler, runner, out } = ctx;
  const http = new Hono();

  // ---- first of all, before authentication: no body over its limit is read ----
  http.use('*', bodyLimits(out));

  // ---- every response: security headers; errors as JSON ----
  http.use('*', async (c, next) => {
    const started = Date.now();
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
    const path = pathOf(c);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      out.log(c.res.status >= 500 ? 'error' : 'info', `${c.req.method} ${path} ${c.res.status} (${Date.now() - started} ms)`, { event: 'http', method: c.req.method, path, status: c.res.status });
    }
  });

  http.onError((err, c) => {
    if (err instanceof HttpError) return send(c, err.status, { errors: err.errors, ...err.extra });
    if (err instanceof SchedulerBusyError) return send(c, 409, { errors: { sync: err.message } });
    if (err instanceof ConnectorError) {
      const msg = err.hint ? `${err.message} (${err.hint})` : err.message;
      if (err.kind === 'busy') return send(c, 409, { errors: { sync: msg } });
      if (err.kind === 'config') return send(c, 400, { errors: { [configField(err.message)]: msg } });
      return send(c, 502, { errors: { rakuten: msg } });
    }
    const safe = safeError(err);
    out.log('error', `internal error: ${safe.message}`, flagSetting('RAKUTEN_DEBUG') ? { stack: safe.stack } : {});
    return send(c, 500, { errors: { server: 'internal error; see the server log' } });
  });

  // ---- who may ask; /login, /logout, /healthz ----
  installAccess(http, ctx);

  // ---- pages and files ----
  http.get('/favicon.ico', (c) => c.body(null, 204));
  http.get('/assets/:file', (c) => {
    const f = staticFile(c.req.param('file'));
    if (!f) return c.text('not found', 404);
    return c.body(f.body, 200, { 'Content-Type': f.type, 'Cache-Control': 'no-cache' });
  });
  http.get('/', (c) => {
    const f = staticFile('index.html')!;
    return html(c, 200, f.body.replace('__AUTH__', ctx.auth ? 'token' : 'local'));
  });

  // ---- helpers over the App ----
  const mustGet = async (name: string): Promise<ConnectorRecord> => {
    const rec = NAME_RE.test(name) ? await app.db.state.getConnector(name) : undefined;
    if (!rec) throw new HttpError(404, { name: `no connector named "${name}"` });
    return rec;
  };

  const summary = async (name: string) => {
    const st = await app.status(name, 1);
    const sched = scheduler.info(name);
    const progress = runner.get(name) ?? null;
    const active = progress && (progress.state === 'running' || progress.state === 'queued');
    const lastRun = st.lastRun;
    const state: ConnectorState = active || st.running
      ? 'syncing'
      : st.problem ? 'unusable'
      : st.settings.paused ? 'paused'
        : lastRun?.status === 'failed' ? 'failing'
          : st.lastSuccess ? 'healthy' : 'new';
    const { runs: _runs, ...rest } = st;
    return {
      ...rest,
      status: state,
      schedule: describeSchedule(st.settings.schedule, st.timeZone),
      nextRunAt: sched?.nextRunAt ?? null,
      nextRunKind: sched?.nextRunKind ?? null,
      failures: sched?.failures ?? 0,
      backoffUntil: sched?.backoffUntil ?? null,
      lastSuccessAt: st.lastSuccess?.finishedAt ?? null,
      lastError: state === 'syncing' ? null : plainError(lastRun, sched?.lastError ?? null),
      progress,
    };
  };

  const urlFor = async (b: CreateConnectorBody | UpdateConnectorBody, rec?: ConnectorRecord): Promise<string> => {
    let url: string;
    if (b.url) url = b.url;
    else if (!rec) url = sourceFromKey(b.reportKey!, b.token!, textSetting('RAKUTEN_API_BASE'));
    else {
      const saved = app.source(rec);
      const u = new URL(rec.url);
      if (b.reportKey) u.pathname = u.pathname.replace(/\/reports\/[^/]+\/filters/, `/reports/${encodeURIComponent(b.reportKey)}/filters`);
      u.searchParams.set('token', b.token ?? saved.token);
      url = u.toString();
    }
    if (b.timeZone) {
      try {
        const u = new URL(url);
        if ((u.searchParams.get('tz') ?? 'GMT') !== b.timeZone) {
          u.searchParams.set('tz', b.timeZone);
          url = u.toString();
        }
      } catch {
        // Not a URL: Save & Test says so.
      }
    }
    return url;
  };

  const settingsInput = (b: CreateConnectorBody | UpdateConnectorBody): Omit<ConnectorInput, 'name'> => {
    const input: Omit<ConnectorInput, 'name'> = {};
    if (b.startDate !== undefined) input.startDate = b.startDate;
    if (b.lookbackDays !== undefined) input.lookbackDays = b.lookbackDays;
    if (b.windowDays !== undefined) input.windowDays = b.windowDays;
    if (b.schedule !== undefined) input.schedule = scheduleToCron(b.schedule);
    if (b.paused !== undefined) input.paused = b.paused;
    return input;
  };

  // ---- API ----
  http.get('/api/meta', (c) =>
    send(c, 200, {
      requiredColumns: REPORT_COLUMNS.map((col) => col.label),
      defaults: { schedule: describeSchedule(DEFAULT_SCHEDULE, 'GMT'), lookbackDays: DEFAULT_LOOKBACK_DAYS, startDaysAgo: DEFAULT_START_DAYS_AGO },
      timeZones: ['GMT', ...Intl.supportedValuesOf('timeZone')],
      auth: ctx.auth ? 'token' : 'local',
      warehouse: { kind: app.db.warehouse.kind, location: app.db.warehouse.location },
    }),
  );

  http.post('/api/parse-url', async (c) => {
    const { url } = await readJson(c, parseUrlSchema);
    try {
      const s = parseReportUrl(url);
      const warnings: string[] = [];
      if (s.dateRange) warnings.push(`date_range=${s.dateRange} is ignored: the connector requests each day itself`);
      if (s.includeSummary) warnings.push('include_summary=Y is ignored: the connector asks for the report without summary lines');
      return send(c, 200, {
        reportKey: s.reportKey, dateType: s.dateType, timeZone: s.tz, dateFormat: s.dateFormat, lang: s.lang,
        host: new URL(s.origin).host, tokenMasked: maskToken(s.token), warnings,
      });
    } catch (e) {
      if (e instanceof ConnectorError) throw new HttpError(400, { url: e.hint ? `${e.message}: ${e.hint}` : e.message });
      throw e;
    }
  });

  http.get('/api/connectors', async (c) => {
    const list = await app.list();
    // One removed meanwhile is left out, not an error for the whole list.
    const all = await Promise.all(list.map((v) => summary(v.name).catch((e: unknown) => (e instanceof ConnectorError && e.kind === 'config' ? null : Promise.reject(e)))));
    return send(c, 200, { connectors: all.filter((x) => x !== null) });
  });

  http.post('/api/connectors', async (c) => {
    const b = await readJson(c, createConnectorSchema, (raw) => sourceErrors(raw, true));
    if (await app.db.state.getConnector(b.name)) throw new HttpError(409, { name: `a connector named "${b.name}" already exists: choose another name, or edit that one` });
    const res = await app.saveAndTest({ name: b.name, url: await urlFor(b), ...settingsInput(b) }, { request: ctx.request?.() });
    if (!res.saved) return send(c, 422, { saved: false, ...publicReport(res) });
    await scheduler.refresh();
    out.log('info', `connector "${b.name}" saved (Save & Test passed)`, { connector: b.name, event: 'saved' });
    return send(c, 201, { saved: true, ...publicReport(res), connector: await summary(b.name) });
  });

  http.get('/api/connectors/:name', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    return send(c, 200, { connector: await summary(rec.name) });
  });

  http.patch('/api/connectors/:name', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    const b = await readJson(c, updateConnectorSchema, (raw) => sourceErrors(raw, false));
    const view = app.view(rec);
    const retest = Boolean(b.url || b.reportKey || b.token || (b.timeZone && b.timeZone !== view.timeZone));
    if (retest) {
      if (runner.isRunning(rec.name)) throw new HttpError(409, { sync: `connector "${rec.name}" is syncing right now: change its URL or token when the sync has finished` });
      const res = await app.saveAndTest({ name: rec.name, url: await urlFor(b, rec), ...settingsInput(b) }, { replace: true, request: ctx.request?.() });
      if (!res.saved) return send(c, 422, { saved: false, tested: true, ...publicReport(res) });
      await scheduler.refresh();
      out.log('info', `connector "${rec.name}" updated (Save & Test passed)`, { connector: rec.name, event: 'updated' });
      return send(c, 200, { saved: true, tested: true, ...publicReport(res), connector: await summary(rec.name) });
    }
    const patch = settingsInput(b);
    if (Object.keys(patch).length) await app.updateSettings(rec.name, patch);
    await scheduler.refresh();
    return send(c, 200, { saved: true, tested: false, connector: await summary(rec.name) });
  });

  http.delete('/api/connectors/:name', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    const q = readQuery(c, deleteQuerySchema);
    const drop = q.dropData === 'true' || q.dropData === '1';
    const st = scheduler.info(rec.name);
    if (runner.isRunning(rec.name) || st?.state === 'queued' || st?.state === 'running') {
      throw new HttpError(409, { sync: `connector "${rec.name}" is syncing right now: wait for the sync to finish, then delete it` });
    }
    await app.remove(rec.name, drop);
    runner.drop(rec.name);
    await scheduler.refresh();
    out.log('info', `connector "${rec.name}" removed${drop ? ' with its data' : ' (its rows stay in the warehouse)'}`, { connector: rec.name, event: 'removed' });
    return send(c, 200, { removed: true, dataDropped: drop });
  });

  http.post('/api/connectors/:name/test', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    await readJson(c, emptySchema);
    return send(c, 200, publicReport(await app.test(rec.name, { request: ctx.request?.() })));
  });

  const startJob = async (c: Context, name: string, range?: { from: string; to: string }) => {
    const state = scheduler.enqueue(range ? { name, kind: 'backfill', range } : { name, kind: 'manual' });
    return send(c, 202, { state, progress: runner.get(name) ?? null });
  };

  http.post('/api/connectors/:name/sync', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    await readJson(c, emptySchema);
    return startJob(c, rec.name);
  });

  http.post('/api/connectors/:name/backfill', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    const b = await readJson(c, backfillSchema);
    const today = todayIn(app.view(rec).timeZone);
    if (b.from > today) throw new HttpError(400, { from: `must be on or before today (${today} in the report's time zone)` });
    return startJob(c, rec.name, { from: b.from, to: b.to > today ? today : b.to });
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    http.post(`/api/connectors/:name/${action}`, async (c) => {
      const rec = await mustGet(c.req.param('name'));
      await readJson(c, emptySchema);
      await app.updateSettings(rec.name, { paused });
      await scheduler.refresh();
      return send(c, 200, { connector: await summary(rec.name) });
    });
  }

  http.get('/api/connectors/:name/runs', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    const { limit } = readQuery(c, limitQuerySchema);
    return send(c, 200, { runs: (await app.db.state.listRuns(rec.name, limit ?? 20)).map(runOut) });
  });

  http.get('/api/connectors/:name/progress', async (c) => {
    const rec = await mustGet(c.req.param('name'));
    return send(c, 200, { progress: runner.get(rec.name) ?? null });
  });

  http.get('/api/progress', (c) => {
    const all: Progress[] = runner.all();
    return send(c, 200, { active: all.some((p) => p.state === 'running' || p.state === 'queued'), progress: all });
  });

  http.get('/api/runs', async (c) => {
    const { limit } = readQuery(c, limitQuerySchema);
    return send(c, 200, { runs: (await app.db.state.listRuns(null, limit ?? 20)).map(runOut) });
  });

  http.get('/api/charts', async (c) => {
    const q = readQuery(c, chartQuerySchema);
    const days = q.days ?? 30;
    let to: string;
    let timeZone: string;
    if (q.connector) {
      const view = app.view(await mustGet(q.connector));
      timeZone = view.timeZone;
      to = todayIn(timeZone);
    } else {
      // All connectors: up to the latest "today" among their report time zones.
      const zones = [...new Set((await app.list()).map((v) => v.timeZone))];
      timeZone = zones.length === 1 ? zones[0]! : 'GMT';
      to = zones.length ? zones.map((z) => todayIn(z)).sort().at(-1)! : todayIn('GMT');
    }
    const from = addDays(to, -(days - 1));
    const connector = q.connector ?? null;
    const [rows, publishers, offers] = [
      await app.db.warehouse.dayTotals(connector, from, to),
      await app.db.warehouse.top('publisher', connector, from, to, q.top ?? 10),
      await app.db.warehouse.top('offer', connector, from, to, q.top ?? 10),
    ];
    const byDay = new Map(rows.map((r) => [r.day, r]));
    const series: DayTotals[] = [];
    for (let d = from; d <= to; d = addDays(d, 1)) series.push(byDay.get(d) ?? ZERO_DAY(d));
    return send(c, 200, { connector, days, from, to, timeZone, series, totals: sumDays(series), topPublishers: publishers, topOffers: offers });
  });

  http.all('/api/*', (c) => send(c, 404, { errors: { path: `no such API route: ${c.req.method} ${new URL(c.req.url).pathname}` } }));
  http.notFound((c) => c.text('not found', 404));
  return http;
}

/** Which form field a config error from the App is about. */
function configField(message: string): string {
  if (/start date/i.test(message)) return 'startDate';
  if (/lookback/i.test(message)) return 'lookbackDays';
  if (/window/i.test(message)) return 'windowDays';
  if (/schedule/i.test(message)) return 'schedule';
  if (/token/i.test(message)) return 'token';
  if (/report key/i.test(message)) return 'reportKey';
  if (/connector name|named/i.test(message)) return 'name';
  if (/date|--from|--to/i.test(message)) return 'from';
  return 'url';
}
