/**
 * Runs syncs for the server, one App.sync per job, and keeps their live progress (windows
 * done/total, rows, rows/s) for the dashboard. Each running sync has an AbortController, so a
 * shutdown can stop it: the window in flight is rolled back whole by the warehouse and the next
 * sync starts over from the cursor.
 */
import type { App } from '../app/app.js';
import type { Output } from '../app/output.js';
import type { SyncOptions } from '../sync/engine.js';
import type { Job, JobKind, JobResult } from '../scheduler/scheduler.js';
import { ConnectorError, describeError } from '../util/errors.js';
import { redact } from '../util/secrets.js';

export interface Progress {
  connector: string;
  kind: JobKind;
  state: 'queued' | 'running' | 'success' | 'failed';
  runId: string | null;
  rangeStart: string | null;
  rangeEnd: string | null;
  windowsDone: number;
  windowsTotal: number;
  rows: number;
  rowsPerSec: number;
  elapsedMs: number;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  /** Latest retry or warning note while running. */
  note: string | null;
}

/** The error a sync stopped by a shutdown records (the scheduler re-runs such a sync at start-up). */
export const SHUTDOWN_MESSAGE = 'sync stopped: the server is shutting down';

export interface RunnerOptions {
  /** Retry policy and request timeouts for every sync. */
  syncOptions?: () => Pick<SyncOptions, 'retry' | 'request' | 'concurrency' | 'leaseTtlMs'>;
  out?: Output;
}

export class SyncRunner {
  private readonly progress = new Map<string, Progress>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly inflight = new Map<string, Promise<JobResult>>();

  constructor(private readonly app: App, private readonly opts: RunnerOptions = {}) {}

  /** A job waits for a free slot. */
  queued(job: Job): void {
    this.progress.set(job.name, blank(job, 'queued'));
  }

  /** The job no longer waits (dropped at shutdown, connector removed). */
  forget(name: string): void {
    const p = this.progress.get(name);
    if (p && p.state === 'queued') this.progress.delete(name);
  }

  /** The connector is gone: forget its progress. */
  drop(name: string): void {
    if (!this.inflight.has(name)) this.progress.delete(name);
  }

  get(name: string): Progress | undefined {
    const p = this.progress.get(name);
    return p ? { ...p } : undefined;
  }

  all(): Progress[] {
    return [...this.progress.values()].map((p) => ({ ...p }));
  }

  isRunning(name: string): boolean {
    return this.inflight.has(name);
  }

  /** Run a job (called by the scheduler). Never throws. */
  execute(job: Job): Promise<JobResult> {
    const p = this.run(job).finally(() => {
      this.inflight.delete(job.name);
      this.controllers.delete(job.name);
    });
    this.inflight.set(job.name, p);
    return p;
  }

  private async run(job: Job): Promise<JobResult> {
    const ac = new AbortController();
    this.controllers.set(job.name, ac);
    const prog: Progress = { ...blank(job, 'running'), queuedAt: this.progress.get(job.name)?.queuedAt ?? new Date().toISOString(), startedAt: new Date().toISOString() };
    this.progress.set(job.name, prog);
    const started = Date.now();
    const out = this.opts.out;
    out?.log('info', `[${job.name}] ${job.kind === 'backfill' ? `backfill ${job.range?.from}..${job.range?.to}` : `${job.kind} sync`} started`, { connector: job.name, event: 'sync-start', kind: job.kind });
    try {
      const run = await this.app.sync(job.name, {
        ...this.opts.syncOptions?.(),
        range: job.range,
        signal: ac.signal,
        onEvent: (e) => {
          switch (e.type) {
            case 'start':
              Object.assign(prog, { runId: e.run.id, rangeStart: e.run.rangeStart, rangeEnd: e.run.rangeEnd, windowsTotal: e.run.windowsTotal });
              break;
            case 'window':
              Object.assign(prog, {
                windowsDone: e.windowsDone, windowsTotal: e.windowsTotal, rows: e.totalRows, elapsedMs: e.elapsedMs,
                rowsPerSec: e.elapsedMs > 0 ? Math.round((e.totalRows * 1000) / e.elapsedMs) : 0, note: null,
              });
              break;
            case 'retry':
              prog.note = `retrying ${e.window.start}: ${redact(e.error)} (attempt ${e.attempt + 1} in ${(e.delayMs / 1000).toFixed(1)} s)`;
              break;
            case 'warning':
              prog.note = redact(e.message);
              break;
            case 'end':
              break;
          }
        },
      });
      const elapsed = Date.now() - started;
      Object.assign(prog, {
        state: 'success', runId: run.id, windowsDone: run.windowsDone, windowsTotal: run.windowsTotal, rows: run.rows, elapsedMs: elapsed,
        rowsPerSec: elapsed > 0 ? Math.round((run.rows * 1000) / elapsed) : 0, finishedAt: new Date().toISOString(), note: null,
      });
      out?.log('info', `[${job.name}] sync done: ${run.windowsDone} windows, ${run.rows} rows in ${(elapsed / 1000).toFixed(1)} s`, { connector: job.name, event: 'sync-done', run: run.id });
      return { ok: true };
    } catch (err) {
      const message = redact(ac.signal.aborted ? describeError(ac.signal.reason) : describeError(err));
      Object.assign(prog, { state: 'failed', error: message, finishedAt: new Date().toISOString(), elapsedMs: Date.now() - started, note: null });
      out?.log('warn', `[${job.name}] sync failed: ${message}`, { connector: job.name, event: 'sync-failed' });
      return { ok: false, error: message, busy: err instanceof ConnectorError && err.kind === 'busy' };
    }
  }

  /** Stop every running sync (shutdown). */
  abortAll(reason: string): void {
    for (const ac of this.controllers.values()) ac.abort(new ConnectorError('internal', reason, { hint: 'the next sync starts again from the last completed day' }));
  }

  /** Wait until no sync runs, at most timeoutMs. True when all finished. */
  async settle(timeoutMs: number): Promise<boolean> {
    if (!this.inflight.size) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const all = Promise.allSettled([...this.inflight.values()]).then(() => true as const);
    const done = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return done;
  }
}

function blank(job: Job, state: Progress['state']): Progress {
  return {
    connector: job.name, kind: job.kind, state, runId: null, rangeStart: job.range?.from ?? null, rangeEnd: job.range?.to ?? null,
    windowsDone: 0, windowsTotal: 0, rows: 0, rowsPerSec: 0, elapsedMs: 0, queuedAt: new Date().toISOString(),
    startedAt: null, finishedAt: null, error: null, note: null,
  };
}
