import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planWindows, syncRange } from '../src/sync/plan.js';
import { backoffMs, withRetry } from '../src/sync/retry.js';
import { ConnectorError } from '../src/util/errors.js';
import { todayIn } from '../src/util/days.js';

const settings = { startDate: '2026-01-01', lookbackDays: 30, windowDays: 1, schedule: '', paused: false, currency: 'USD', staleAfterHours: null };

test('first sync: start date to today; later: cursor minus lookback, never before the start date', () => {
  assert.deepEqual(syncRange(settings, undefined, '2026-03-10'), { start: '2026-01-01', end: '2026-03-10', kind: 'first' });
  assert.deepEqual(syncRange(settings, '2026-03-09', '2026-03-10'), { start: '2026-02-07', end: '2026-03-10', kind: 'incremental' });
  assert.deepEqual(syncRange(settings, '2026-01-10', '2026-03-10'), { start: '2026-01-01', end: '2026-03-10', kind: 'incremental' });
  assert.equal(syncRange({ ...settings, startDate: '2026-05-01' }, undefined, '2026-03-10'), null, 'nothing before the start date');
});

test('backfill takes the explicit range, capped at today', () => {
  assert.deepEqual(syncRange(settings, '2026-03-09', '2026-03-10', { from: '2025-12-01', to: '2025-12-05' }), { start: '2025-12-01', end: '2025-12-05', kind: 'backfill' });
  assert.deepEqual(syncRange(settings, undefined, '2026-03-10', { from: '2026-03-08', to: '2026-04-01' }), { start: '2026-03-08', end: '2026-03-10', kind: 'backfill' });
});

test('windows: one day by default, N days for transaction reports, always one day for process reports', () => {
  const r = { start: '2026-02-27', end: '2026-03-03' };
  assert.equal(planWindows(r, 1, 'transaction').length, 5);
  assert.deepEqual(planWindows(r, 2, 'transaction'), [
    { start: '2026-02-27', end: '2026-02-28' }, { start: '2026-03-01', end: '2026-03-02' }, { start: '2026-03-03', end: '2026-03-03' },
  ]);
  assert.equal(planWindows(r, 7, 'process').length, 5);
});

test('today follows the report time zone', () => {
  const at = new Date('2026-03-10T02:00:00Z');
  assert.equal(todayIn('GMT', at), '2026-03-10');
  assert.equal(todayIn('America/Los_Angeles', at), '2026-03-09');
  assert.equal(todayIn('Asia/Tokyo', new Date('2026-03-09T16:00:00Z')), '2026-03-10');
});

test('backoff grows exponentially with jitter, capped, and respects Retry-After', () => {
  const p = { maxAttempts: 6, baseMs: 1000, maxMs: 8000 };
  assert.equal(backoffMs(p, 1, null, () => 1), 1000);
  assert.equal(backoffMs(p, 1, null, () => 0), 500);
  assert.equal(backoffMs(p, 3, null, () => 1), 4000);
  assert.equal(backoffMs(p, 10, null, () => 1), 8000);
  assert.equal(backoffMs(p, 1, new ConnectorError('rate_limited', '429', { retryAfterSec: 5 }), () => 0), 5000);
});

test('retries only retryable errors, a bounded number of times', async () => {
  let calls = 0;
  await assert.rejects(withRetry({ maxAttempts: 3, baseMs: 1, maxMs: 2 }, async () => {
    calls++;
    throw new ConnectorError('server', 'HTTP 500');
  }), /gave up after 3 attempts/);
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(withRetry({ maxAttempts: 3, baseMs: 1, maxMs: 2 }, async () => {
    calls++;
    throw new ConnectorError('auth', 'bad token');
  }), /bad token/);
  assert.equal(calls, 1);
  calls = 0;
  assert.equal(await withRetry({ maxAttempts: 3, baseMs: 1, maxMs: 2 }, async () => {
    if (++calls < 3) throw new ConnectorError('truncated', 'cut');
    return 'ok';
  }), 'ok');
});
