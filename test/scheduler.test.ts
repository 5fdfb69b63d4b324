/**
 * The scheduler with an injected clock: cron fire times across DST changes, catch-up of runs
 * missed while the server was down, no overlap, the global concurrency limit, backoff, pause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle } from '../src/scheduler/clock.js';
import { describeSchedule, nextFire, prevFire, scheduleError, scheduleToCron, wallClock } from '../src/scheduler/cron.js';
import { type Job, type JobResult, type ScheduledConnector, Scheduler, SchedulerBusyError } from '../src/scheduler/scheduler.js';

const NY = 'America/New_York';

/** Every fire in [from, to). */
function fires(expr: string, tz: string, from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = nextFire(expr, tz, new Date(Date.parse(from) - 1)); t && t < new Date(to); t = nextFire(expr, tz, t)) out.push(t.toISOString());
  return out;
}

const iso = (s: string) => new Date(s).toISOString();

function connector(name: string, over: Partial<ScheduledConnector> = {}): ScheduledConnector {
  // createdAt '' = created when the harness starts (nothing missed); catch-up tests set it.
  return { name, schedule: '0 6 * * *', timeZone: NY, paused: false, createdAt: '', lastRunStartedAt: null, ...over };
}

/** A scheduler over a fixed list, recording runs; jobs finish when the test says so (or at once). */
function harness(list: ScheduledConnector[], o: { start: string; concurrency?: number; hold?: boolean; result?: (job: Job) => JobResult } = { start: '' }) {
  const clock = new FakeClock(o.start);
  const runs: { name: string; kind: string; at: string; wall: string }[] = [];
  const pending: (() => void)[] = [];
  let active = 0;
  let maxActive = 0;
  const perConnector = new Map<string, number>();
  const scheduler = new Scheduler({
    clock,
    concurrency: o.concurrency ?? 2,
    backoff: { baseMs: 5 * 60_000, maxMs: 60 * 60_000 },
    load: async () => list.map((c) => ({ ...c, createdAt: c.createdAt || o.start })),
    execute: async (job) => {
      active++;
      maxActive = Math.max(maxActive, active);
      const n = (perConnector.get(job.name) ?? 0) + 1;
      perConnector.set(job.name, n);
      assert.equal(n, 1, `two syncs of ${job.name} at once`);
      runs.push({ name: job.name, kind: job.kind, at: clock.now().toISOString(), wall: wallClock(clock.now(), NY) });
      if (o.hold) await new Promise<void>((r) => pending.push(r));
      active--;
      perConnector.set(job.name, n - 1);
      return o.result?.(job) ?? { ok: true };
    },
  });
  return {
    clock, scheduler, runs, list,
    get maxActive() {
      return maxActive;
    },
    /** Let every held job finish. */
    async release() {
      while (pending.length) pending.shift()!();
      await settle();
    },
  };
}

describe('cron fire times (croner, in the report time zone)', () => {
  it('daily 06:00 New York: 11:00Z in winter, 10:00Z in summer, across the March change', () => {
    assert.deepEqual(fires('0 6 * * *', NY, '2026-03-06T12:00:00Z', '2026-03-10T12:00:00Z'), [
      iso('2026-03-07T11:00:00Z'), // EST, UTC-5
      iso('2026-03-08T10:00:00Z'), // clocks jumped at 02:00: EDT, UTC-4
      iso('2026-03-09T10:00:00Z'),
      iso('2026-03-10T10:00:00Z'),
    ]);
  });

  it('daily 06:00 New York across the November change', () => {
    assert.deepEqual(fires('0 6 * * *', NY, '2026-10-30T12:00:00Z', '2026-11-03T12:00:00Z'), [
      iso('2026-10-31T10:00:00Z'),
      iso('2026-11-01T11:00:00Z'), // back to EST
      iso('2026-11-02T11:00:00Z'),
      iso('2026-11-03T11:00:00Z'),
    ]);
  });

  it('hourly on the spring-forward day: 23 fires, 02:00 does not exist, never a gap of more than an hour', () => {
    const f = fires('0 * * * *', NY, '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'); // local 00:00 .. 24:00
    assert.equal(f.length, 23);
    assert.deepEqual(f.slice(0, 4).map((t) => wallClock(new Date(t), NY).slice(11, 16)), ['00:00', '01:00', '03:00', '04:00']);
    for (let i = 1; i < f.length; i++) assert.equal(Date.parse(f[i]!) - Date.parse(f[i - 1]!), 3_600_000);
  });

  it('hourly on the fall-back day: 25 fires, both 01:00s, every real hour', () => {
    const f = fires('0 * * * *', NY, '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'); // local 00:00 .. 24:00
    assert.equal(f.length, 25);
    assert.deepEqual(f.slice(0, 4), [iso('2026-11-01T04:00:00Z'), iso('2026-11-01T05:00:00Z'), iso('2026-11-01T06:00:00Z'), iso('2026-11-01T07:00:00Z')]);
    assert.deepEqual(f.slice(0, 4).map((t) => wallClock(new Date(t), NY).slice(11, 16)), ['00:00', '01:00', '01:00', '02:00']);
    for (let i = 1; i < f.length; i++) assert.equal(Date.parse(f[i]!) - Date.parse(f[i - 1]!), 3_600_000);
  });

  it('a daily time in the repeated hour fires once; one in the skipped hour fires right after the jump', () => {
    assert.deepEqual(fires('30 1 * * *', NY, '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'), [iso('2026-11-01T05:30:00Z'), iso('2026-11-02T06:30:00Z')]);
    const spring = fires('30 2 * * *', NY, '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z');
    assert.deepEqual(spring, [iso('2026-03-08T07:30:00Z'), iso('2026-03-09T06:30:00Z')]);
    assert.equal(wallClock(new Date(spring[0]!), NY), '2026-03-08 03:30:00');
  });

  it('GMT reports schedule in UTC; prevFire finds the last fire at or before a time', () => {
    assert.equal(nextFire('0 6 * * *', 'GMT', new Date('2026-03-08T06:00:00Z'))?.toISOString(), iso('2026-03-09T06:00:00Z'));
    assert.equal(prevFire('0 6 * * *', NY, new Date('2026-03-09T09:59:59Z'))?.toISOString(), iso('2026-03-08T10:00:00Z'));
    assert.equal(prevFire('0 6 * * *', NY, new Date('2026-03-09T10:00:00Z'))?.toISOString(), iso('2026-03-09T10:00:00Z'));
    assert.equal(prevFire('0 * * * *', NY, new Date('2026-11-01T06:30:00Z'))?.toISOString(), iso('2026-11-01T06:00:00Z'));
    assert.equal(nextFire('', NY, new Date()), null);
  });

  it('schedule forms and validation', () => {
    assert.equal(scheduleToCron({ type: 'daily', time: '06:00' }), '0 6 * * *');
    assert.equal(scheduleToCron({ type: 'daily', time: '23:45' }), '45 23 * * *');
    assert.equal(scheduleToCron({ type: 'hourly' }), '0 * * * *');
    assert.equal(scheduleToCron({ type: 'manual' }), '');
    assert.deepEqual(describeSchedule('0 6 * * *', NY), { type: 'daily', cron: '0 6 * * *', time: '06:00', label: 'daily at 06:00 (America/New_York)' });
    assert.equal(describeSchedule('0 * * * *', NY).type, 'hourly');
    assert.equal(describeSchedule('', NY).type, 'manual');
    assert.equal(describeSchedule('*/15 * * * 1-5', NY).type, 'cron');
    assert.equal(scheduleError('0 6 * * *'), null);
    assert.match(scheduleError('0 0 6 * * *') ?? '', /5-field/);
    assert.match(scheduleError('99 6 * * *') ?? '', /not a valid cron/);
  });
});

describe('Scheduler (injected clock)', () => {
  it('fires daily and hourly connectors at the right local times through a DST change', async () => {
    const h = harness([connector('daily'), connector('hourly', { schedule: '0 * * * *' })], { start: '2026-11-01T03:30:00Z', concurrency: 4 });
    await h.scheduler.start();
    assert.equal(h.runs.length, 0, 'nothing is due at start-up');
    await h.clock.advanceTo('2026-11-01T12:30:00Z');
    const daily = h.runs.filter((r) => r.name === 'daily');
    const hourly = h.runs.filter((r) => r.name === 'hourly');
    assert.deepEqual(daily.map((r) => r.at), [iso('2026-11-01T11:00:00Z')]);
    assert.equal(daily[0]!.wall, '2026-11-01 06:00:00');
    assert.deepEqual(hourly.map((r) => r.wall.slice(11, 16)), ['00:00', '01:00', '01:00', '02:00', '03:00', '04:00', '05:00', '06:00', '07:00']);
    assert.ok(h.runs.every((r) => r.kind === 'scheduled'));
    assert.equal(h.scheduler.info('daily')?.nextRunAt, iso('2026-11-02T11:00:00Z'));
  });

  it('runs a sync missed while the server was down once at start-up, then keeps the schedule', async () => {
    // Last run three days ago: three 06:00 fires were missed; one catch-up run, not three.
    const created = '2026-01-01T00:00:00Z';
    const h = harness([connector('late', { createdAt: created, lastRunStartedAt: '2026-03-05T11:00:05Z' }), connector('fresh', { createdAt: created, lastRunStartedAt: '2026-03-08T10:00:02Z' })], { start: '2026-03-08T15:00:00Z' });
    await h.scheduler.start();
    await settle();
    assert.deepEqual(h.runs.map((r) => [r.name, r.kind, r.at]), [['late', 'catch-up', iso('2026-03-08T15:00:00Z')]]);
    await h.clock.advanceTo('2026-03-09T12:00:00Z');
    assert.deepEqual(h.runs.map((r) => [r.name, r.kind, r.at]), [
      ['late', 'catch-up', iso('2026-03-08T15:00:00Z')],
      ['late', 'scheduled', iso('2026-03-09T10:00:00Z')],
      ['fresh', 'scheduled', iso('2026-03-09T10:00:00Z')],
    ]);
  });

  it('a connector that never ran but existed before the last fire catches up; one created after it does not', async () => {
    const h = harness([
      connector('old', { createdAt: '2026-03-01T00:00:00Z' }),
      connector('new', { createdAt: '2026-03-08T12:00:00Z' }),
      connector('manual', { createdAt: '2026-03-01T00:00:00Z', schedule: '' }),
      connector('paused', { createdAt: '2026-03-01T00:00:00Z', paused: true }),
    ], { start: '2026-03-08T15:00:00Z' });
    await h.scheduler.start();
    await settle();
    assert.deepEqual(h.runs.map((r) => r.name), ['old']);
    assert.equal(h.scheduler.info('manual')?.nextRunAt, null);
    assert.equal(h.scheduler.info('paused')?.nextRunAt, null);
  });

  it('never runs two syncs of one connector at once: fires during a long run are skipped', async () => {
    const h = harness([connector('slow', { schedule: '0 * * * *' })], { start: '2026-06-01T09:59:00Z', hold: true });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T13:30:00Z'); // 10:00 fires and is still running at 11, 12, 13
    assert.equal(h.runs.length, 1);
    assert.equal(h.scheduler.info('slow')?.state, 'running');
    assert.throws(() => h.scheduler.enqueue({ name: 'slow', kind: 'manual' }), SchedulerBusyError);
    await h.release();
    assert.equal(h.scheduler.info('slow')?.state, 'idle');
    assert.equal(h.scheduler.info('slow')?.nextRunAt, iso('2026-06-01T14:00:00Z'), 'the missed fires are not replayed');
    await h.clock.advanceTo('2026-06-01T14:00:01Z');
    assert.equal(h.runs.length, 2);
    await h.release();
  });

  it('holds to the global concurrency limit; the rest wait in order', async () => {
    const h = harness(['a', 'b', 'c', 'd'].map((n) => connector(n)), { start: '2026-06-01T09:59:00Z', hold: true, concurrency: 2 });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T10:00:00Z');
    assert.deepEqual(h.runs.map((r) => r.name), ['a', 'b']);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => h.scheduler.info(n)?.state), ['running', 'running', 'queued', 'queued']);
    await h.release();
    await h.release();
    assert.deepEqual(h.runs.map((r) => r.name), ['a', 'b', 'c', 'd']);
    assert.equal(h.maxActive, 2);
    // A manual sync waits its turn too.
    const m = harness([connector('x'), connector('y'), connector('z')], { start: '2026-06-01T12:00:00Z', hold: true, concurrency: 1 });
    await m.scheduler.start();
    assert.equal(m.scheduler.enqueue({ name: 'x', kind: 'manual' }), 'started');
    assert.equal(m.scheduler.enqueue({ name: 'y', kind: 'backfill', range: { from: '2026-05-01', to: '2026-05-02' } }), 'queued');
    await m.release();
    await m.release();
    assert.deepEqual(m.runs.map((r) => `${r.name}:${r.kind}`), ['x:manual', 'y:backfill']);
  });

  it('backs off a failing connector exponentially (capped), says why, and does not hold up others', async () => {
    let fail = true;
    const h = harness([connector('bad', { schedule: '0 * * * *' }), connector('good', { schedule: '0 * * * *' })], {
      start: '2026-06-01T09:59:00Z',
      result: (job) => (job.name === 'bad' && fail ? { ok: false, error: 'Rakuten rejected the token (HTTP 401)' } : { ok: true }),
    });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T10:00:00Z');
    let info = h.scheduler.info('bad')!;
    assert.equal(info.failures, 1);
    assert.equal(info.lastError, 'Rakuten rejected the token (HTTP 401)');
    assert.equal(info.nextRunKind, 'retry');
    assert.equal(info.backoffUntil, iso('2026-06-01T10:05:00Z'));
    await h.clock.advanceTo('2026-06-01T13:00:00Z');
    const bad = h.runs.filter((r) => r.name === 'bad').map((r) => r.at);
    // 10:00, +5 min, +10 min, +20 min, +40 min, then capped at 60 min.
    assert.deepEqual(bad, ['10:00', '10:05', '10:15', '10:35', '11:15', '12:15'].map((t) => iso(`2026-06-01T${t}:00Z`)));
    const good = h.runs.filter((r) => r.name === 'good').map((r) => r.at);
    assert.deepEqual(good, ['10:00', '11:00', '12:00', '13:00'].map((t) => iso(`2026-06-01T${t}:00Z`)));
    info = h.scheduler.info('bad')!;
    assert.equal(info.failures, 6);
    assert.equal(info.backoffUntil, iso('2026-06-01T13:15:00Z'));
    // Fixed: the next try succeeds and the schedule is back to normal.
    fail = false;
    await h.clock.advanceTo('2026-06-01T13:15:00Z');
    info = h.scheduler.info('bad')!;
    assert.equal(info.failures, 0);
    assert.equal(info.lastError, null);
    assert.equal(info.nextRunAt, iso('2026-06-01T14:00:00Z'));
    assert.equal(info.nextRunKind, 'scheduled');
  });

  it('paused connectors do not run; refresh picks up pause, resume and schedule changes', async () => {
    const h = harness([connector('p', { schedule: '0 * * * *', paused: true })], { start: '2026-06-01T09:30:00Z' });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T12:30:00Z');
    assert.equal(h.runs.length, 0);
    h.list[0]!.paused = false;
    await h.scheduler.refresh();
    assert.equal(h.scheduler.info('p')?.nextRunAt, iso('2026-06-01T13:00:00Z'));
    await h.clock.advanceTo('2026-06-01T13:00:00Z');
    assert.equal(h.runs.length, 1);
    h.list[0]!.schedule = '30 9 * * *';
    await h.scheduler.refresh();
    assert.equal(h.scheduler.info('p')?.nextRunAt, iso('2026-06-01T13:30:00Z')); // 09:30 EDT
    h.list.splice(0, 1);
    await h.scheduler.refresh();
    assert.equal(h.scheduler.info('p'), undefined);
    assert.equal(h.clock.pending().length, 0, 'no timer left once nothing is scheduled');
  });

  it('a connector with an invalid schedule is not scheduled and says why; the others run', async () => {
    const h = harness([connector('bad', { schedule: 'every morning' }), connector('good')], { start: '2026-06-01T09:59:00Z' });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T10:00:00Z');
    assert.deepEqual(h.runs.map((r) => r.name), ['good']);
    assert.equal(h.scheduler.info('bad')?.nextRunAt, null);
    assert.match(h.scheduler.info('bad')?.lastError ?? '', /schedule "every morning" is not valid/);
  });

  it('stop() drops waiting jobs and sets no more timers', async () => {
    const h = harness([connector('a'), connector('b')], { start: '2026-06-01T09:59:00Z', hold: true, concurrency: 1 });
    await h.scheduler.start();
    await h.clock.advanceTo('2026-06-01T10:00:00Z');
    const dropped = h.scheduler.stop();
    assert.deepEqual(dropped.map((j) => j.name), ['b']);
    await h.release();
    await h.clock.advanceTo('2026-06-03T00:00:00Z');
    assert.deepEqual(h.runs.map((r) => r.name), ['a']);
    assert.throws(() => h.scheduler.enqueue({ name: 'a', kind: 'manual' }), /stopped/);
  });
});
