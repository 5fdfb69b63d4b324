/**
 * The connector routes: list, create (Save & Test first), show, change (re-tested when the URL,
 * key, token or time zone changes), delete, re-test, pause and resume; and how a connector is
 * shown to the web app (its summary: status in words, schedule, next run, last error, progress).
 * Split from api.ts by resource; every change goes through the App service.
 */
import type { Hono } from 'hono';
import { type ConnectorChange, type ConnectorStatus, KeptDataError } from '../../app/app.js';
import { freshnessHours, freshnessOf } from '../../app/freshness.js';
import { describeSchedule, scheduleToCron } from '../../scheduler/cron.js';
import { describeError } from '../../util/errors.js';
import type { RunRecord } from '../../warehouse/types.js';
import { HttpError, send } from '../respond.js';
import {
  createConnectorSchema, deleteQuerySchema, FIRST_SYNC_DEFAULT, emptySchema, sourceErrors, updateConnectorSchema, type CreateConnectorBody, type UpdateConnectorBody,
} from '../validate.js';
import { mustGet, publicReport, readJson, readQuery, type ServerContext } from './common.js';
import { startSync } from './syncs.js';

export type ConnectorState = 'healthy' | 'syncing' | 'failing' | 'unusable' | 'paused' | 'new';

/** An error in words a user can act on. */
function plainError(run: RunRecord | null, schedError: string | null): string | null {
  if (run?.status === 'failed') return run.error ?? 'the last sync failed';
  if (schedError) return schedError;
  if (run?.status === 'interrupted') return 'the last sync was interrupted before it finished; the next sync picks up from the last completed day';
  return null;
}

/** A connector's freshness as the web app shows it (the rule of `check-freshness`: src/app/freshness.ts). */
export interface ConnectorFreshness {
  state: 'fresh' | 'stale' | 'paused' | 'no-limit';
  /** The limit in hours (to 0.1 h, as `check-freshness --json`), null without one. */
  limitHours: number | null;
  lastSuccessAt: string | null;
  /** Whole hours since the last successful sync (never synced: since it was saved). */
  ageHours: number;
}

/**
 * freshnessOf on the status already read (no warehouse read). On the wall clock, as
 * `check-freshness` and the metrics: runs and creation times are recorded in real time.
 */
function freshnessNow(st: ConnectorStatus): ConnectorFreshness {
  const lastSuccessAt = st.lastSuccess?.finishedAt ?? null;
  try {
    const f = freshnessOf(st, new Date());
    const { limitHours, ageHours } = freshnessHours(f);
    return { state: f.state, limitHours, lastSuccessAt, ageHours };
  } catch {
    // A schedule or time zone that cannot be read (the connector's `problem` says why): no limit
    // can be told, and the list must not fail because of one connector.
    return { state: st.settings.paused ? 'paused' : 'no-limit', limitHours: null, lastSuccessAt, ageHours: 0 };
  }
}

/** A connector as the web app shows it: App.status, plus its state in words, schedule, freshness and live progress. */
export async function connectorSummary(ctx: ServerContext, name: string) {
  return summarize(ctx, await ctx.app.status(name, 1));
}

/** connectorSummary of a status already read (App.statuses reads every connector's at once). */
function summarize(ctx: ServerContext, full: ConnectorStatus & { runs?: RunRecord[] }) {
  const { scheduler, runner } = ctx;
  const name = full.name;
  const { runs: _runs, ...st } = full;
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
  return {
    ...st,
    status: state,
    schedule: describeSchedule(st.settings.schedule, st.timeZone),
    nextRunAt: sched?.nextRunAt ?? null,
    nextRunKind: sched?.nextRunKind ?? null,
    failures: sched?.failures ?? 0,
    backoffUntil: sched?.backoffUntil ?? null,
    lastSuccessAt: st.lastSuccess?.finishedAt ?? null,
    freshness: freshnessNow(st),
    lastError: state === 'syncing' ? null : plainError(lastRun, sched?.lastError ?? null),
    progress,
  };
}

/** What a body gives, as the App takes it (the form's schedule as cron); the App builds the URL to test. */
function changeInput(b: CreateConnectorBody | UpdateConnectorBody): ConnectorChange {
  const input: ConnectorChange = {};
  if (b.url !== undefined) input.url = b.url;
  if (b.reportKey !== undefined) input.reportKey = b.reportKey;
  if (b.token !== undefined) input.token = b.token;
  if (b.timeZone !== undefined) input.timeZone = b.timeZone;
  if (b.startDate !== undefined) input.startDate = b.startDate;
  if (b.lookbackDays !== undefined) input.lookbackDays = b.lookbackDays;
  if (b.windowDays !== undefined) input.windowDays = b.windowDays;
  if (b.schedule !== undefined) input.schedule = scheduleToCron(b.schedule);
  if (b.paused !== undefined) input.paused = b.paused;
  if (b.currency !== undefined) input.currency = b.currency;
  if (b.staleAfterHours !== undefined) input.staleAfterHours = b.staleAfterHours;
  return input;
}

export function connectorRoutes(http: Hono, ctx: ServerContext): void {
  const { app, scheduler, runner, out } = ctx;
  const summary = (name: string) => connectorSummary(ctx, name);

  http.get('/api/connectors', async (c) => {
    // A handful of reads for any number of connectors (App.statuses).
    return send(c, 200, { connectors: (await app.statuses()).map((st) => summarize(ctx, st)) });
  });

  http.post('/api/connectors', async (c) => {
    const b = await readJson(c, createConnectorSchema, (raw) => sourceErrors(raw, true));
    if (await app.find(b.name)) throw new HttpError(409, { name: `a connector named "${b.name}" already exists: choose another name, or edit that one` });
    let res;
    try {
      // The form asks for the currency when the URL's network has none (the CLI takes USD and warns).
      res = await app.saveAndTest({ name: b.name, ...changeInput(b), adoptData: b.adoptData }, { request: ctx.request?.(), askCurrency: true });
    } catch (e) {
      // An earlier connector's rows under this name: adopt them (adoptData) or delete them first.
      if (e instanceof KeptDataError) throw new HttpError(409, { name: describeError(e) }, { keptData: e.kept });
      throw e;
    }
    if (!res.saved) return send(c, 422, { saved: false, ...publicReport(res) });
    await scheduler.refresh();
    out.log('info', `connector "${b.name}" saved (Save & Test passed)`, { connector: b.name, event: 'saved' });
    const syncStarted = (b.sync ?? (FIRST_SYNC_DEFAULT && !b.paused)) && firstSync(b.name);
    return send(c, 201, { saved: true, ...publicReport(res), syncStarted, connector: await summary(b.name) });
  });

  /** The first sync of a connector just saved, as "Sync now" starts it; false when it could not start (it stays saved). */
  const firstSync = (name: string): boolean => {
    try {
      startSync(ctx, name);
      return true;
    } catch (e) {
      out.log('warn', `[${name}] the first sync did not start: ${describeError(e)}`, { connector: name, event: 'first-sync-not-started' });
      return false;
    }
  };

  http.get('/api/connectors/:name', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    return send(c, 200, { connector: await summary(rec.name) });
  });

  http.patch('/api/connectors/:name', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    const b = await readJson(c, updateConnectorSchema, (raw) => sourceErrors(raw, false));
    const change = changeInput(b);
    if (app.needsTest(rec, change) && runner.isRunning(rec.name)) {
      throw new HttpError(409, { sync: `connector "${rec.name}" is syncing right now: change its URL or token when the sync has finished` });
    }
    // The same App.edit as the CLI's `edit`: a new source is Saved & Tested, settings are saved at once.
    const res = await app.edit(rec.name, change, { request: ctx.request?.() });
    if (res.tested) {
      if (!res.saved) return send(c, 422, { saved: false, tested: true, ...publicReport(res) });
      await scheduler.refresh();
      out.log('info', `connector "${rec.name}" updated (Save & Test passed)`, { connector: rec.name, event: 'updated' });
      return send(c, 200, { saved: true, tested: true, ...publicReport(res), connector: await summary(rec.name) });
    }
    await scheduler.refresh();
    return send(c, 200, { saved: true, tested: false, connector: await summary(rec.name) });
  });

  http.delete('/api/connectors/:name', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
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
    const rec = await mustGet(app, c.req.param('name'));
    await readJson(c, emptySchema);
    return send(c, 200, publicReport(await app.test(rec.name, { request: ctx.request?.() })));
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    http.post(`/api/connectors/:name/${action}`, async (c) => {
      const rec = await mustGet(app, c.req.param('name'));
      await readJson(c, emptySchema);
      await app.updateSettings(rec.name, { paused });
      await scheduler.refresh();
      return send(c, 200, { connector: await summary(rec.name) });
    });
  }
}
