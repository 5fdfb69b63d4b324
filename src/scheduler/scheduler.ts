/**
 * The scheduler inside `serve`: when each connector syncs, and how many sync at once.
 * - each connector fires on its own cron schedule, in its report's time zone (see cron.ts);
 * - a global concurrency limit: jobs beyond it wait in a queue (first in, first out);
 * - never two syncs of one connector at once: a fire while it runs or waits is skipped;
 * - a fire missed while the server was down runs once at start-up: the last run's start (or
 *   the connector's creation) is compared with the previous scheduled fire time;
 * - a failing connector backs off exponentially (capped) and says why, without holding up others;
 * - paused connectors are not scheduled (a manual sync still runs when asked).
 * Manual syncs and backfills go through the same queue and limit.
 * The clock is injected, so all of this is tested without waiting.
 */
import { type Clock, systemClock, type TimerHandle } from './clock.js';
import { describeSchedule, nextFire as cronNext, prevFire as cronPrev, type ScheduleInfo } from './cron.js';

/** A schedule saved by hand (CLI) may not parse: such a connector is not scheduled, the rest are. */
const badSchedules = new Map<string, string>();
function guard<T>(expr: string, fn: () => T | null): T | null {
  try {
    return fn();
  } catch (e) {
    badSchedules.set(expr, e instanceof Error ? e.message : String(e));
    return null;
  }
}
const nextFire = (expr: string, tz: string, after: Date) => guard(expr, () => cronNext(expr, tz, after));
const prevFire = (expr: string, tz: string, at: Date) => guard(expr, () => cronPrev(expr, tz, at));

export interface ScheduledConnector {
  name: string;
  /** Cron expression in timeZone; empty = manual only. */
  schedule: string;
  timeZone: string;
  paused: boolean;
  createdAt: string;
  /** Start of the latest run (any kind), ISO; null when it never ran. */
  lastRunStartedAt: string | null;
}

export type JobKind = 'scheduled' | 'catch-up' | 'retry' | 'manual' | 'backfill';

export interface Job {
  name: string;
  kind: JobKind;
  range?: { from: string; to: string };
}

export interface JobResult {
  ok: boolean;
  error?: string;
  /** Another worker was syncing it: not a failure of this connector. */
  busy?: boolean;
}

export type SchedulerEvent =
  | { type: 'queued'; job: Job }
  | { type: 'start'; job: Job }
  | { type: 'done'; job: Job; result: JobResult; nextRunAt: Date | null; backoffUntil: Date | null }
  | { type: 'skipped'; name: string; reason: string };

export interface SchedulerOptions {
  clock?: Clock;
  /** Syncs at once, all connectors together (default 2). */
  concurrency?: number;
  /** Retry delay after the n-th failure in a row: min(maxMs, baseMs·2^(n−1)). Default 5 min … 6 h. */
  backoff?: { baseMs: number; maxMs: number };
  /** Longest single timer; the scheduler re-checks at least this often (default 60 s). */
  maxTimerMs?: number;
  /** The connectors and their settings, read from the state store. */
  load(): Promise<ScheduledConnector[]>;
  /** Run one sync. Should not throw; a throw counts as a failure. */
  execute(job: Job): Promise<JobResult>;
  onEvent?(e: SchedulerEvent): void;
}

export interface ConnectorSchedule {
  name: string;
  schedule: ScheduleInfo;
  paused: boolean;
  /** idle, waiting for a free slot, or running. */
  state: 'idle' | 'queued' | 'running';
  job: JobKind | null;
  nextRunAt: string | null;
  /** Why the next run is when it is. */
  nextRunKind: 'scheduled' | 'catch-up' | 'retry' | null;
  failures: number;
  backoffUntil: string | null;
  lastError: string | null;
}

interface Entry {
  c: ScheduledConnector;
  nextAt: Date | null;
  nextKind: 'scheduled' | 'catch-up' | 'retry' | null;
  failures: number;
  backoffUntil: Date | null;
  lastError: string | null;
  state: 'idle' | 'queued' | 'running';
  job: Job | null;
}

export class SchedulerBusyError extends Error {
  constructor(readonly connector: string, readonly state: 'queued' | 'running') {
    super(`connector "${connector}" is ${state === 'running' ? 'syncing right now' : 'already waiting to sync'}`);
    this.name = 'SchedulerBusyError';
  }
}

export const DEFAULT_BACKOFF = { baseMs: 5 * 60_000, maxMs: 6 * 3_600_000 };

export class Scheduler {
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly maxTimerMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private timer: TimerHandle | null = null;
  private started = false;
  private stopped = false;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SchedulerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.maxTimerMs = opts.maxTimerMs ?? 60_000;
  }

  /** Load the connectors, queue the runs missed while the server was down, start the timer. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    for (const c of await this.opts.load()) {
      const e = this.newEntry(c, now);
      if (!c.paused && c.schedule.trim()) {
        const prev = prevFire(c.schedule, c.timeZone, now);
        const since = Math.max(Date.parse(c.createdAt) || 0, c.lastRunStartedAt ? Date.parse(c.lastRunStartedAt) : 0);
        if (prev && prev.getTime() > since) {
          e.nextAt = now;
          e.nextKind = 'catch-up';
        }
      }
      this.entries.set(c.name, e);
    }
    this.tick();
  }

  /** Re-read the connectors after one was added, changed, paused or removed. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(() => this.doRefresh(), () => this.doRefresh());
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    if (this.stopped) return;
    const list = await this.opts.load();
    const now = this.clock.now();
    const seen = new Set<string>();
    for (const c of list) {
      seen.add(c.name);
      const e = this.entries.get(c.name);
      if (!e) {
        this.entries.set(c.name, this.newEntry(c, now));
        continue;
      }
      const changed = e.c.schedule.trim() !== c.schedule.trim() || e.c.timeZone !== c.timeZone || e.c.paused !== c.paused;
      e.c = c;
      if (changed) {
        e.nextAt = c.paused ? null : nextFire(c.schedule, c.timeZone, now);
        e.nextKind = e.nextAt ? 'scheduled' : null;
        e.backoffUntil = null;
        e.failures = 0;
      }
    }
    for (const [name, e] of this.entries) {
      if (seen.has(name)) continue;
      if (e.state === 'queued') this.dropQueued(name);
      if (e.state !== 'running') this.entries.delete(name);
      else e.c = { ...e.c, paused: true, schedule: '' };
    }
    this.tick();
  }

  /** Queue a manual sync or backfill. Throws SchedulerBusyError when the connector runs or waits. */
  enqueue(job: Job): 'started' | 'queued' {
    if (this.stopped) throw new Error('the scheduler is stopped');
    const e = this.entries.get(job.name);
    if (e && e.state !== 'idle') throw new SchedulerBusyError(job.name, e.state);
    if (!e) {
      // Not loaded yet (just created): track it until the next refresh knows it.
      const now = this.clock.now();
      this.entries.set(job.name, this.newEntry({ name: job.name, schedule: '', timeZone: 'UTC', paused: true, createdAt: now.toISOString(), lastRunStartedAt: null }, now));
    }
    this.push(job);
    this.pump();
    return this.entries.get(job.name)!.state === 'running' ? 'started' : 'queued';
  }

  info(name: string): ConnectorSchedule | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    return {
      name,
      schedule: describeSchedule(e.c.schedule, e.c.timeZone),
      paused: e.c.paused,
      state: e.state,
      job: e.job?.kind ?? null,
      nextRunAt: e.c.paused ? null : e.nextAt?.toISOString() ?? null,
      nextRunKind: e.c.paused ? null : e.nextKind,
      failures: e.failures,
      backoffUntil: e.backoffUntil?.toISOString() ?? null,
      lastError: badSchedules.has(e.c.schedule) ? `the schedule "${e.c.schedule}" is not valid (${badSchedules.get(e.c.schedule)}): edit the connector's schedule` : e.lastError,
    };
  }

  all(): ConnectorSchedule[] {
    return [...this.entries.keys()].sort().map((n) => this.info(n)!);
  }

  /** Names of connectors syncing right now. */
  runningNames(): string[] {
    return [...this.running.keys()];
  }

  /** Stop scheduling: no timer, the queue is dropped; running jobs go on (the runner aborts them). */
  stop(): Job[] {
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    const dropped = this.queue.splice(0);
    for (const j of dropped) {
      const e = this.entries.get(j.name);
      if (e) {
        e.state = 'idle';
        e.job = null;
      }
    }
    return dropped;
  }

  /** Resolves when no job is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }

  private newEntry(c: ScheduledConnector, now: Date): Entry {
    const nextAt = c.paused ? null : nextFire(c.schedule, c.timeZone, now);
    return { c, nextAt, nextKind: nextAt ? 'scheduled' : null, failures: 0, backoffUntil: null, lastError: null, state: 'idle', job: null };
  }

  private push(job: Job): void {
    const e = this.entries.get(job.name)!;
    e.state = 'queued';
    e.job = job;
    this.queue.push(job);
    this.opts.onEvent?.({ type: 'queued', job });
  }

  private dropQueued(name: string): void {
    const i = this.queue.findIndex((j) => j.name === name);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Queue what is due, start what fits, set the timer for the next due time. */
  private tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const e of this.entries.values()) {
      if (e.c.paused || !e.nextAt || e.nextAt > now) continue;
      const kind = e.nextKind ?? 'scheduled';
      e.nextAt = nextFire(e.c.schedule, e.c.timeZone, now);
      e.nextKind = e.nextAt ? 'scheduled' : null;
      if (e.state !== 'idle') {
        this.opts.onEvent?.({ type: 'skipped', name: e.c.name, reason: `a sync is already ${e.state}` });
        continue;
      }
      this.push({ name: e.c.name, kind });
    }
    this.pump();
    this.arm();
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.concurrency && this.queue.length) {
      const job = this.queue.shift()!;
      const e = this.entries.get(job.name);
      if (!e) continue;
      e.state = 'running';
      this.opts.onEvent?.({ type: 'start', job });
      const p = this.runJob(job, e).finally(() => {
        this.running.delete(job.name);
        this.pump();
        this.arm();
      });
      this.running.set(job.name, p);
    }
  }

  private async runJob(job: Job, e: Entry): Promise<void> {
    let result: JobResult;
    try {
      result = await this.opts.execute(job);
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    const now = this.clock.now();
    e.state = 'idle';
    e.job = null;
    const regular = () => (e.c.paused ? null : nextFire(e.c.schedule, e.c.timeZone, now));
    if (result.ok) {
      if (job.kind !== 'backfill') {
        const wasBackingOff = e.failures > 0;
        e.failures = 0;
        e.lastError = null;
        e.backoffUntil = null;
        if (wasBackingOff || (e.nextAt && e.nextAt <= now)) {
          e.nextAt = regular();
          e.nextKind = e.nextAt ? 'scheduled' : null;
        }
      }
    } else if (result.busy) {
      if (e.nextAt && e.nextAt <= now) e.nextAt = regular();
    } else {
      e.lastError = result.error ?? 'sync failed';
      if (job.kind === 'scheduled' || job.kind === 'catch-up' || job.kind === 'retry') {
        e.failures++;
        const delay = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** (e.failures - 1));
        e.backoffUntil = new Date(now.getTime() + delay);
        e.nextAt = e.c.paused || !e.c.schedule.trim() ? null : e.backoffUntil;
        e.nextKind = e.nextAt ? 'retry' : null;
      }
    }
    this.opts.onEvent?.({ type: 'done', job, result, nextRunAt: e.nextAt, backoffUntil: e.backoffUntil });
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    let earliest: number | null = null;
    for (const e of this.entries.values()) {
      if (e.c.paused || !e.nextAt) continue;
      if (earliest === null || e.nextAt.getTime() < earliest) earliest = e.nextAt.getTime();
    }
    if (earliest === null) return;
    const delay = Math.max(0, Math.min(earliest - this.clock.now().getTime(), this.maxTimerMs));
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.tick();
    }, delay);
  }
}
