/**
 * The API the CLI uses while `serve` holds the home (an embedded DuckDB file admits one process):
 * src/cli/remote.ts finds the server through `<home>/serve.json` (local-credential.ts) and runs
 * its commands here, through the same App methods the CLI calls locally, so their output and exit
 * codes are the same. Every route but /api/cli/hello needs `Authorization: Bearer <credential>`
 * (checked in access.ts); answers pass through the redactor.
 *
 * - GET  /api/cli/hello?nonce=N   proves the server knows the credential (HMAC of the nonce),
 *                                 before the CLI sends it anything (a stale file's port may be
 *                                 someone else's by now).
 * - POST /api/cli/call            { method, args }: one App method of a short allow-list;
 *                                 `{ result }`, or `{ error: { kind, message, hint, field } }`.
 * - POST /api/cli/sync            { name, range?, attach? }: a sync through the scheduler (its
 *                                 limit, never two at once), streamed as JSON lines: the sync's
 *                                 own events, then `{ done: run }` or `{ failed: error }`.
 */
import { createHash } from 'node:crypto';
import type { WireError } from '../util/serve-proof.js';
import type { Context, Hono } from 'hono';
import type { App, ConnectorChange, ConnectorInput } from '../app/app.js';
import { type SyncEvent, type SyncOptions, WORKER_ID } from '../sync/engine.js';
import { SchedulerBusyError, type Scheduler } from '../scheduler/scheduler.js';
import { ConnectorError } from '../util/errors.js';
import { redact, safeError } from '../util/secrets.js';
import type { AlertChannelKind, RunRecord } from '../warehouse/types.js';
import type { LocalCredential } from './local-credential.js';
import type { RequestOptions } from '../rakuten/client.js';
import type { SyncRunner } from './runner.js';
import { send } from './respond.js';

/** An error as the CLI rebuilds it: a ConnectorError keeps its kind, hint and field. */

export function wireError(e: unknown): WireError {
  if (e instanceof ConnectorError) return { kind: e.kind, message: e.message, hint: e.hint, field: e.field };
  if (e instanceof SchedulerBusyError) return { kind: 'busy', message: e.message, hint: 'wait for it to finish; `rakuten-connector status` shows its progress' };
  return { kind: null, message: safeError(e).message };
}

type BusMessage = { event: SyncEvent } | { done: RunRecord } | { failed: WireError };

/** What every sync the server's runner starts says, by connector (the runner is handed tee()'s App). */
export class SyncEvents {
  private readonly listeners = new Map<string, Set<(m: BusMessage) => void>>();

  on(name: string, fn: (m: BusMessage) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (!set.size) this.listeners.delete(name);
    };
  }

  private emit(name: string, m: BusMessage): void {
    for (const fn of [...(this.listeners.get(name) ?? [])]) fn(m);
  }

  /** The App whose syncs tell their events here (the runner calls only sync). */
  tee(app: App): App {
    const teed = Object.create(app) as App;
    teed.sync = async (name: string, opts: SyncOptions = {}) => {
      try {
        const run = await app.sync(name, { ...opts, onEvent: (e) => { opts.onEvent?.(e); this.emit(name, { event: e }); } });
        this.emit(name, { done: run });
        return run;
      } catch (e) {
        this.emit(name, { failed: wireError(e) });
        throw e;
      }
    };
    return teed;
  }
}

export interface CliApiContext {
  app: App;
  scheduler: Scheduler;
  runner: SyncRunner;
  events: SyncEvents;
  credential: LocalCredential;
  request?: () => RequestOptions;
}

const str = (v: unknown): string => {
  if (typeof v !== 'string' || v.length > 4096) throw new ConnectorError('config', 'bad request from the CLI');
  return v;
};
const ALERT_KINDS: readonly AlertChannelKind[] = ['webhook', 'slack', 'email'];
const alertKind = (v: unknown): AlertChannelKind => {
  if (!ALERT_KINDS.includes(v as AlertChannelKind)) throw new ConnectorError('config', 'bad request from the CLI');
  return v as AlertChannelKind;
};
const obj = <T>(v: unknown): T => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConnectorError('config', 'bad request from the CLI');
  return v as T;
};

async function body(c: Context): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) throw new ConnectorError('config', 'send JSON');
  return obj(JSON.parse(await c.req.text()));
}

/** An error's status (the body says what it was; the status is for the log). */
const statusOf = (e: WireError) => (e.kind === 'busy' ? 409 : e.kind === 'config' ? 400 : e.kind ? 502 : 500);
const fail = (c: Context, e: unknown) => {
  const w = wireError(e);
  return send(c, statusOf(w), { error: w });
};

/** The App methods the CLI may call, with what the web API does around them (scheduler, busy checks). */
function methods(ctx: CliApiContext): Record<string, (args: unknown[]) => Promise<unknown>> {
  const { app, scheduler, runner } = ctx;
  const request = () => ctx.request?.();
  const refreshed = async <T>(v: T): Promise<T> => {
    await scheduler.refresh();
    return v;
  };
  return {
    statuses: () => app.statuses(),
    checkFreshness: () => app.checkFreshness(),
    'alerts.add': ([kind, target, connector]) => app.alerts.add(alertKind(kind), str(target), connector === null || connector === undefined ? null : str(connector)),
    'alerts.list': () => app.alerts.list(),
    'alerts.remove': ([id]) => app.alerts.remove(str(id)),
    'alerts.test': ([id]) => app.alerts.test(id === undefined || id === null ? undefined : str(id)),
    'alerts.history': ([limit, channelId]) => app.alerts.history(typeof limit === 'number' ? limit : 20, channelId === undefined || channelId === null ? undefined : str(channelId)),
    status: ([name, runs]) => app.status(str(name), typeof runs === 'number' ? runs : 10),
    saveAndTest: async ([input]) => {
      const res = await app.saveAndTest(obj<ConnectorInput>(input), { request: request() });
      const { source: _source, ...rest } = res; // it holds the token
      return res.saved ? refreshed(rest) : rest;
    },
    test: async ([name]) => {
      const { source: _source, ...rest } = await app.test(str(name), { request: request() });
      return rest;
    },
    edit: async ([name, change]) => {
      const res = await app.edit(str(name), obj<ConnectorChange>(change), { request: request() });
      const { source: _source, ...rest } = res;
      return res.saved ? refreshed(rest) : rest;
    },
    updateSettings: async ([name, patch]) => refreshed(await app.updateSettings(str(name), obj(patch))),
    remove: async ([name, dropData]) => {
      const n = str(name);
      await app.get(n);
      const st = scheduler.info(n);
      if (runner.isRunning(n) || st?.state === 'queued' || st?.state === 'running') {
        throw new ConnectorError('busy', `connector "${n}" is syncing right now`, { hint: 'wait for the sync to finish, then remove it' });
      }
      await app.remove(n, dropData === true);
      runner.drop(n);
      return refreshed(null);
    },
    removeData: ([name]) => app.removeData(str(name)),
    // The warehouse URL by its hash: it may hold a password, which the redactor would mask.
    home: async () => ({ home: app.home, warehouse: createHash('sha256').update(app.warehouseUrl).digest('hex') }),
  };
}

const line = (m: unknown) => new TextEncoder().encode(`${redact(JSON.stringify(m))}\n`);

export function cliRoutes(http: Hono, ctx: CliApiContext): void {
  const table = methods(ctx);

  http.get('/api/cli/hello', (c) => send(c, 200, { proof: ctx.credential.proof(c.req.query('nonce') ?? ''), pid: process.pid }));

  http.post('/api/cli/call', async (c) => {
    try {
      const b = await body(c);
      const fn = table[str(b.method)];
      if (!fn || !Object.hasOwn(table, str(b.method))) throw new ConnectorError('config', `no such CLI call: ${String(b.method)}`);
      return send(c, 200, { result: (await fn(Array.isArray(b.args) ? b.args : [])) ?? null });
    } catch (e) {
      return fail(c, e);
    }
  });

  http.post('/api/cli/sync', async (c) => {
    let name: string;
    let range: { from: string; to: string } | undefined;
    let attach = false;
    try {
      const b = await body(c);
      name = (await ctx.app.get(str(b.name))).name;
      if (b.range !== undefined) {
        const r = obj<Record<string, unknown>>(b.range);
        range = { from: str(r.from), to: str(r.to) };
      }
      attach = b.attach === true;
    } catch (e) {
      return fail(c, e);
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let ended = false;
    let off = () => {};
    const ping = setInterval(() => write({ ping: true }), 15_000); // keeps the CLI's body timeout away
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(ping);
      off();
      try {
        controller.close();
      } catch { /* already closed */ }
    };
    const write = (m: unknown) => {
      if (!ended) controller.enqueue(line(m));
    };
    const stream = new ReadableStream<Uint8Array>({ start: (ctl) => void (controller = ctl), cancel: end });
    let busy = false;
    off = ctx.events.on(name, (m) => {
      if ('event' in m && busy) return; // someone else's sync: only its outcome
      write(m);
      if (!('event' in m)) end();
    });
    try {
      ctx.scheduler.enqueue(range ? { name, kind: 'backfill', range } : { name, kind: 'manual' });
    } catch (e) {
      if (!(e instanceof SchedulerBusyError) || !attach) {
        end();
        return fail(c, e);
      }
      busy = true;
      write({ busy: WORKER_ID }); // the runner's syncs hold their lease as this process

    }
    return new Response(stream, { status: 200, headers: { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' } });
  });
}
