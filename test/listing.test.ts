/**
 * Listings (`list`, /api/connectors) read every connector's state in a handful of reads:
 * StateStore.syncStates / latestRuns and Warehouse.coverages must say exactly what the
 * per-connector reads (getCursor, leaseHolder, listRuns, coverage) say, on the DuckDB and the
 * PostgreSQL state stores.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWarehouse } from '../src/warehouse/index.js';
import type { Opened } from '../src/warehouse/index.js';
import type { RunRecord, RunStatus } from '../src/warehouse/types.js';
import { rowsBody } from '../src/model/report-body.js';
import { row, windowLoad } from './helpers/contract.js';
import { createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'rc-listing-'));
const pgUp = await postgresAvailable();
const drops: (() => Promise<void>)[] = [];
after(async () => {
  for (const d of drops) await d().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

function run(connector: string, id: string, startedAt: string, status: RunStatus): RunRecord {
  return { id, connector, startedAt, finishedAt: status === 'running' ? null : startedAt, status, rangeStart: '2026-01-01', rangeEnd: '2026-01-02',
    windowsTotal: 2, windowsDone: 2, rows: 1, error: status === 'failed' ? 'boom' : null, worker: 'w' };
}

async function check(db: Opened): Promise<void> {
  const { state, warehouse } = db;
  const names = ['a', 'b', 'c', 'never'];
  // a: success then failure (last ≠ last success); b: two successes, same start (ties by id); c: running, leased, cursor.
  for (const r of [
    run('a', 'a1', '2026-01-01T00:00:00.000Z', 'success'), run('a', 'a2', '2026-01-02T00:00:00.000Z', 'failed'),
    run('b', 'b1', '2026-01-03T00:00:00.000Z', 'success'), run('b', 'b2', '2026-01-03T00:00:00.000Z', 'success'),
    run('c', 'c1', '2026-01-04T00:00:00.000Z', 'running'),
  ]) await state.startRun(r);
  await state.advanceCursor('a', '2026-01-02');
  await state.advanceCursor('c', '2026-01-05');
  assert.equal(await state.acquireLease('c', 'worker-c', 60_000), true);
  assert.equal(await state.acquireLease('b', 'worker-b', 60_000), true);
  await state.releaseLease('b', 'worker-b');
  await warehouse.replaceWindow(windowLoad('a', '2026-01-01', '2026-01-02'), rowsBody([[row('2026-01-01', { sales: '1.5' }), row('2026-01-02'), row('2026-01-02')]]));
  await warehouse.replaceWindow(windowLoad('c', '2026-01-05'), rowsBody([[row('2026-01-05')]]));
  await warehouse.replaceWindow(windowLoad('c', '2026-01-05'), rowsBody([[]]));

  const states = await state.syncStates();
  const latest = await state.latestRuns();
  const coverages = await warehouse.coverages();
  for (const n of names) {
    const runs = await state.listRuns(n, 50);
    assert.deepEqual(latest.get(n)?.last ?? null, runs[0] ?? null, `${state.kind} ${n}: last run`);
    assert.deepEqual(latest.get(n)?.lastSuccess ?? null, runs.find((r) => r.status === 'success') ?? null, `${state.kind} ${n}: last success`);
    assert.equal(states.get(n)?.cursor ?? null, (await state.getCursor(n)) ?? null, `${state.kind} ${n}: cursor`);
    assert.deepEqual(states.get(n)?.lease ?? null, (await state.leaseHolder(n)) ?? null, `${state.kind} ${n}: lease`);
    assert.deepEqual(coverages.get(n) ?? { rows: 0, days: 0, firstDay: null, lastDay: null }, await warehouse.coverage(n), `${warehouse.kind} ${n}: coverage`);
  }
  assert.equal(latest.get('b')?.last?.id, 'b2');
  assert.equal(states.get('c')?.lease?.owner, 'worker-c');
  assert.equal(coverages.get('a')?.rows, 3);
  assert.equal(coverages.has('c'), false, 'an emptied connector has no coverage row');
}

test('DuckDB: syncStates, latestRuns and coverages agree with the per-connector reads', async () => {
  const db = await openWarehouse(`duckdb:${join(dir, 'w.duckdb')}`, join(dir, 'home'));
  try {
    await check(db);
  } finally {
    await db.close();
  }
});

test('PostgreSQL: syncStates, latestRuns and coverages agree with the per-connector reads', { skip: !pgUp && !process.env.CI ? 'no PostgreSQL' : false }, async () => {
  const pg = await createTestPostgresUrl();
  drops.push(pg.drop);
  const db = await openWarehouse(pg.url, join(dir, 'home-pg'));
  try {
    await check(db);
  } finally {
    await db.close();
  }
});
