/**
 * The sync routes: start a sync or a backfill (through the scheduler, so the global limit and
 * "never two at once" hold), live progress, and the recorded runs. Split from api.ts by resource.
 */
import type { Context, Hono } from 'hono';
import { todayIn } from '../../util/days.js';
import type { RunRecord } from '../../warehouse/types.js';
import { HttpError, send } from '../respond.js';
import type { Progress } from '../runner.js';
import { backfillSchema, emptySchema, limitQuerySchema } from '../validate.js';
import { mustGet, readJson, readQuery, type ServerContext } from './common.js';

function durationMs(r: RunRecord): number | null {
  return r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null;
}

function runOut(r: RunRecord) {
  return { ...r, durationMs: durationMs(r) };
}

/**
 * Starts a sync (a backfill with a range) the way "Sync now" does: through the scheduler's queue,
 * so the global limit and "never two at once" hold. Throws SchedulerBusyError (409) when the
 * connector syncs or waits already.
 */
export function startSync(ctx: ServerContext, name: string, range?: { from: string; to: string }): { state: 'started' | 'queued'; progress: Progress | null } {
  const state = ctx.scheduler.enqueue(range ? { name, kind: 'backfill', range } : { name, kind: 'manual' });
  return { state, progress: ctx.runner.get(name) ?? null };
}

export function syncRoutes(http: Hono, ctx: ServerContext): void {
  const { app, runner } = ctx;

  const startJob = async (c: Context, name: string, range?: { from: string; to: string }) => send(c, 202, startSync(ctx, name, range));

  http.post('/api/connectors/:name/sync', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    await readJson(c, emptySchema);
    return startJob(c, rec.name);
  });

  http.post('/api/connectors/:name/backfill', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    const b = await readJson(c, backfillSchema);
    const today = todayIn(app.view(rec).timeZone);
    if (b.from > today) throw new HttpError(400, { from: `must be on or before today (${today} in the report's time zone)` });
    return startJob(c, rec.name, { from: b.from, to: b.to > today ? today : b.to });
  });

  http.get('/api/connectors/:name/runs', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    const { limit } = readQuery(c, limitQuerySchema);
    return send(c, 200, { runs: (await app.runs(rec.name, limit ?? 20)).map(runOut) });
  });

  http.get('/api/connectors/:name/progress', async (c) => {
    const rec = await mustGet(app, c.req.param('name'));
    return send(c, 200, { progress: runner.get(rec.name) ?? null });
  });

  http.get('/api/progress', (c) => {
    const all: Progress[] = runner.all();
    return send(c, 200, { active: all.some((p) => p.state === 'running' || p.state === 'queued'), progress: all });
  });

  http.get('/api/runs', async (c) => {
    const { limit } = readQuery(c, limitQuerySchema);
    return send(c, 200, { runs: (await app.runs(null, limit ?? 20)).map(runOut) });
  });
}
