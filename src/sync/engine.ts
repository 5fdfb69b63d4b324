/**
 * The sync engine: one connector, one run. Everything a run guarantees is here:
 * - one run per connector at a time (a lease in the state store, renewed while running; withLease
 *   holds the same lease for a change to all of a connector's rows, a relabel);
 * - each window is fetched, read and replaced atomically (fetchWindow → warehouse.replaceWindow),
 *   in the form the warehouse loads fastest; a failed or killed window leaves the old rows, and a
 *   retry starts that window over;
 * - the cursor advances only over windows that committed, in day order, so a crash loses
 *   nothing: the next run starts at (cursor − lookback) and re-replaces what may have changed;
 * - retryable failures back off and retry; anything else stops the run at once.
 */
import { randomUUID } from 'node:crypto';
import type { ReportBodyFormat } from '../model/report-body.js';
import type { RequestOptions } from '../rakuten/client.js';
import type { ReportSource } from '../rakuten/url.js';
import { todayIn } from '../util/days.js';
import { ConnectorError, describeError } from '../util/errors.js';
import { redact } from '../util/secrets.js';
import type { ConnectorRecord, RunRecord, StateStore, Warehouse } from '../warehouse/types.js';
import { Semaphore } from '../util/semaphore.js';
import { fetchWindow } from './fetch-window.js';
import { planWindows, syncRange, type Window } from './plan.js';
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.js';
import { isDeadLocalWorker, makeWorkerId } from './worker.js';

export interface SyncOptions {
  /** Explicit range (backfill). */
  range?: { from: string; to: string };
  /** Windows fetched at the same time. */
  concurrency?: number;
  retry?: RetryPolicy;
  request?: RequestOptions;
  leaseTtlMs?: number;
  now?: () => Date;
  signal?: AbortSignal;
  onEvent?: (e: SyncEvent) => void;
}

export type SyncEvent =
  | { type: 'start'; run: RunRecord }
  | { type: 'window'; window: Window; rows: number; windowsDone: number; windowsTotal: number; totalRows: number; elapsedMs: number }
  /** `kind`: the ConnectorError kind that caused the retry ('internal' for another error). */
  | { type: 'retry'; window: Window; attempt: number; delayMs: number; error: string; kind: string }
  | { type: 'warning'; message: string }
  | { type: 'end'; run: RunRecord };

/** `host:pid:bootid:pidns:nonce` (see worker.ts): enough to tell whether the pid can be checked from here. */
export const WORKER_ID = makeWorkerId();

export interface SyncContext {
  warehouse: Warehouse;
  state: StateStore;
  /** Identifies this process in leases and run history. */
  worker?: string;
  /**
   * The connector as saved now, read once the lease is held: a change made meanwhile by another
   * worker (a new currency, which relabels its rows under the lease) is the one this run loads with.
   */
  current?: () => Promise<ConnectorRecord>;
}

export async function runSync(ctx: SyncContext, given: ConnectorRecord, source: ReportSource, opts: SyncOptions = {}): Promise<RunRecord> {
  const { state } = ctx;
  let connector = given;
  const worker = ctx.worker ?? WORKER_ID;
  const now = opts.now ?? (() => new Date());
  const ttl = opts.leaseTtlMs ?? 60_000;
  const emit = opts.onEvent ?? (() => undefined);

  await takeLease(state, connector.name, worker, ttl);
  const renew = setInterval(() => void state.acquireLease(connector.name, worker, ttl).catch(() => undefined), Math.max(1000, ttl / 3));
  renew.unref();
  try {
    if (ctx.current) connector = await ctx.current();
    await state.markInterrupted(connector.name);
    const today = todayIn(source.tz, now());
    const cursor = await state.getCursor(connector.name);
    const range = syncRange(connector.settings, cursor, today, opts.range);
    const windows = range ? planWindows(range, connector.settings.windowDays, source.dateType) : [];
    if (source.dateType === 'process' && connector.settings.windowDays > 1) {
      emit({ type: 'warning', message: 'process-date reports are synced one day per window' });
    }
    const run: RunRecord = {
      id: `${now().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`,
      connector: connector.name,
      startedAt: now().toISOString(),
      finishedAt: null,
      status: 'running',
      rangeStart: range?.start ?? today,
      rangeEnd: range?.end ?? today,
      windowsTotal: windows.length,
      windowsDone: 0,
      rows: 0,
      error: null,
      worker,
    };
    await state.startRun(run);
    emit({ type: 'start', run: { ...run } });
    const started = Date.now();
    try {
      await loadWindows(ctx, connector, source, windows, run, opts, started, range?.kind !== 'backfill');
      Object.assign(run, { status: 'success', finishedAt: now().toISOString() });
    } catch (err) {
      Object.assign(run, {
        status: opts.signal?.aborted ? 'interrupted' : 'failed',
        finishedAt: now().toISOString(),
        error: redact(describeError(err)),
      });
      await state.updateRun(run.id, { status: run.status, finishedAt: run.finishedAt, error: run.error, windowsDone: run.windowsDone, rows: run.rows });
      emit({ type: 'end', run: { ...run } });
      throw err;
    }
    await state.updateRun(run.id, { status: run.status, finishedAt: run.finishedAt, windowsDone: run.windowsDone, rows: run.rows });
    emit({ type: 'end', run: { ...run } });
    return run;
  } finally {
    clearInterval(renew);
    await state.releaseLease(connector.name, worker).catch(() => undefined);
  }
}

/**
 * Take the lease, or explain who has it. A holder provably gone (same host, boot and PID
 * namespace as us, pid no longer there) is taken over at once; any other holder keeps the lease
 * until it expires.
 */
async function takeLease(state: StateStore, name: string, worker: string, ttl: number): Promise<void> {
  if (await state.acquireLease(name, worker, ttl)) return;
  const holder = await state.leaseHolder(name);
  if (holder && isDeadLocalWorker(holder.owner)) {
    await state.releaseLease(name, holder.owner);
    if (await state.acquireLease(name, worker, ttl)) return;
  }
  if (!holder && (await state.acquireLease(name, worker, ttl))) return;
  throw new ConnectorError('busy', `a sync of connector "${name}" is already running (worker ${holder?.owner.split(':').slice(0, 2).join(' pid ') ?? 'unknown'})`, {
    hint: 'wait for it to finish; `rakuten-connector status` shows its progress',
  });
}

/**
 * Run `f` holding the connector's lease (as a sync does, renewed while it runs), so that no sync
 * of it runs meanwhile, in this process or another: for changes to all of its rows (a new
 * currency). Its own owner id, so a sync of this very process is another holder. A busy
 * ConnectorError when a sync holds it.
 */
export async function withLease<T>(state: StateStore, name: string, f: () => Promise<T>, ttl = 60_000): Promise<T> {
  const owner = makeWorkerId();
  await takeLease(state, name, owner, ttl);
  const renew = setInterval(() => void state.acquireLease(name, owner, ttl).catch(() => undefined), Math.max(1000, ttl / 3));
  renew.unref();
  try {
    return await f();
  } finally {
    clearInterval(renew);
    await state.releaseLease(name, owner).catch(() => undefined);
  }
}

/** The connector's lease holder, ignoring a holder provably gone (same host, boot and PID namespace, pid not there). */
export async function liveLeaseHolder(state: StateStore, name: string): Promise<{ owner: string; expiresAt: string } | undefined> {
  const holder = await state.leaseHolder(name);
  return holder && !isDeadLocalWorker(holder.owner) ? holder : undefined;
}

async function loadWindows(
  ctx: SyncContext, connector: ConnectorRecord, source: ReportSource, windows: Window[], run: RunRecord,
  opts: SyncOptions, started: number, moveCursor: boolean,
): Promise<void> {
  const { warehouse, state } = ctx;
  const emit = opts.onEvent ?? (() => undefined);
  // Up to `concurrency` windows download at once. A window whose body has been read gives its
  // download slot to the next one while it waits for its commit; up to the warehouse's
  // stagedWindows such windows wait (DuckDB commits several windows' rows in one transaction).
  const downloads = Math.max(1, opts.concurrency ?? 3);
  const concurrency = Math.max(1, Math.min(downloads + (warehouse.capabilities.stagedWindows ?? 0), windows.length || 1));
  const slots = new Semaphore(downloads);
  const format: ReportBodyFormat = warehouse.capabilities.canonicalCsv ? 'canonical-csv' : 'rows';
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason ?? new ConnectorError('internal', 'sync cancelled'));
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const done = new Array<boolean>(windows.length).fill(false);
  let committedPrefix = 0; // windows[0..committedPrefix) all committed
  let next = 0;
  let firstError: unknown = null;
  let lastProgressWrite = 0;
  let cursorChain: Promise<void> = Promise.resolve();

  // A window waiting for a slot starts nothing once the run has failed.
  const downloadSlot = async (): Promise<() => void> => {
    const release = await slots.acquire();
    if (abort.signal.aborted) {
      release();
      throw abort.signal.reason;
    }
    return release;
  };
  const loadOne = async (w: Window): Promise<number> =>
    withRetry(opts.retry ?? DEFAULT_RETRY, async () => fetchWindow({
      source, start: w.start, end: w.end, format, request: { ...opts.request, signal: abort.signal },
      onBodyDone: await downloadSlot(),
      onHeader: (m) => {
        if (m.extra.length > 0 && w === windows[0]) {
          emit({ type: 'warning', message: `report has extra columns kept in _extra: ${m.extra.map((x) => x.name).join(', ')}` });
        }
      },
    }, (body) => warehouse.replaceWindow({ connector: connector.name, start: w.start, end: w.end, syncId: run.id, syncedAt: new Date(), currency: connector.settings.currency }, body)), {
      signal: abort.signal,
      onRetry: (err, attempt, delayMs) => emit({
        type: 'retry', window: w, attempt, delayMs, error: redact(describeError(err)), kind: err instanceof ConnectorError ? err.kind : 'internal',
      }),
    });

  const drain = async (): Promise<void> => {
    while (!firstError && next < windows.length) {
      const i = next++;
      const w = windows[i]!;
      let rows: number;
      try {
        rows = await loadOne(w);
      } catch (err) {
        if (!firstError) {
          firstError = err;
          abort.abort(err);
        }
        return;
      }
      done[i] = true;
      run.windowsDone++;
      run.rows += rows;
      while (committedPrefix < windows.length && done[committedPrefix]) committedPrefix++;
      // The cursor is the last day of the committed prefix: everything before it is in.
      // A backfill leaves it alone: it says nothing about the days between the start date and it.
      if (moveCursor && committedPrefix > 0) {
        const day = windows[committedPrefix - 1]!.end;
        cursorChain = cursorChain.then(() => state.advanceCursor(connector.name, day));
      }
      emit({ type: 'window', window: w, rows, windowsDone: run.windowsDone, windowsTotal: run.windowsTotal, totalRows: run.rows, elapsedMs: Date.now() - started });
      if (Date.now() - lastProgressWrite > 1000 || run.windowsDone === windows.length) {
        lastProgressWrite = Date.now();
        await state.updateRun(run.id, { windowsDone: run.windowsDone, rows: run.rows }).catch(() => undefined);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, drain));
    await cursorChain;
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (firstError) throw firstError;
}
