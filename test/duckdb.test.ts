import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openWarehouse } from '../src/warehouse/index.js';
import { COLUMN_INDEX, LOADED_COLUMNS, type ReportRow } from '../src/model/schema.js';
import { tempHome } from './helpers/targets.js';

function row(day: string, pub: string, name: string, sales: string, extra: Partial<Record<keyof typeof COLUMN_INDEX, string>> = {}): ReportRow {
  const r: ReportRow = new Array(LOADED_COLUMNS.length).fill(null);
  r[COLUMN_INDEX._date] = day;
  r[COLUMN_INDEX.transaction_date] = day;
  r[COLUMN_INDEX.publisher_id] = pub;
  r[COLUMN_INDEX.publisher_name] = name;
  r[COLUMN_INDEX.sales] = sales;
  r[COLUMN_INDEX.total_commissions] = '0.0001';
  r[COLUMN_INDEX.clicks] = '1';
  for (const [k, v] of Object.entries(extra)) r[COLUMN_INDEX[k as keyof typeof COLUMN_INDEX]] = v;
  return r;
}

async function* batches(rows: ReportRow[], failAfter?: number) {
  let n = 0;
  for (const r of rows) {
    if (failAfter !== undefined && n++ >= failAfter) throw new Error('network died');
    yield [r];
  }
}

const load = (start: string, end = start, connector = 'a') => ({ connector, start, end, syncId: 'run-1', syncedAt: new Date() });

test('DuckDB: window replace is atomic, idempotent and per connector; dimensions keep the latest name', async () => {
  const home = tempHome();
  const db = await openWarehouse(`duckdb:${join(home, 'w.duckdb')}`, home);
  const w = db.warehouse;
  try {
    const hostile = 'Tab\there, "quotes", back\\slash, new\nline, emoji 🎉, \\N';
    await w.replaceWindow(load('2026-01-01'), batches([row('2026-01-01', '1', 'Old name', '10.00'), row('2026-01-01', '2', hostile, '-0.01')]));
    await w.replaceWindow(load('2026-01-01', '2026-01-01', 'b'), batches([row('2026-01-01', '1', 'Other', '5.00')]));
    await assert.rejects(w.replaceWindow(load('2026-01-01'), batches([row('2026-01-01', '1', 'X', '1.00'), row('2026-01-01', '1', 'Y', '1.00')], 1)), /network died/);
    let t = await w.dayTotals('a', '2026-01-01', '2026-01-01');
    assert.equal(t[0]!.rows, 2, 'a failed load leaves the old rows');
    assert.equal(t[0]!.sales, '9.9900');
    await w.replaceWindow(load('2026-01-01'), batches([row('2026-01-01', '1', 'Old name', '10.00'), row('2026-01-01', '2', hostile, '-0.01')]));
    t = await w.dayTotals('a', '2026-01-01', '2026-01-01');
    assert.equal(t[0]!.rows, 2, 'replacing twice keeps one copy');
    assert.equal((await w.dayTotals(null, '2026-01-01', '2026-01-01'))[0]!.sales, '14.9900', 'all connectors');
    await w.replaceWindow(load('2026-01-03'), batches([row('2026-01-03', '1', 'New name', '1234567.8901')]));
    const top = await w.top('publisher', 'a', '2026-01-01', '2026-01-31', 10);
    assert.deepEqual(top.map((p) => [p.id, p.name, p.sales]), [['1', 'New name', '1234577.8901'], ['2', hostile, '-0.0100']]);
    assert.deepEqual(await w.coverage('a'), { rows: 3, days: 2, firstDay: '2026-01-01', lastDay: '2026-01-03' });
    await w.deleteConnectorData('b');
    assert.equal((await w.dayTotals(null, '2026-01-01', '2026-01-01'))[0]!.sales, '9.9900');
  } finally {
    await db.close();
  }
  // The dimension table holds the latest name and the first/last days seen.
  const c = await (await DuckDBInstance.create(join(home, 'w.duckdb'))).connect();
  const dims = (await c.runAndReadAll(`SELECT id, name, first_seen::VARCHAR f, last_seen::VARCHAR l FROM rakuten_publishers WHERE _connector = 'a' ORDER BY id`)).getRowObjectsJson();
  assert.deepEqual(dims[0], { id: '1', name: 'New name', f: '2026-01-01', l: '2026-01-03' });
  c.closeSync();
});

test('DuckDB state store: cursor only moves forward; leases exclude, expire and release', async () => {
  const home = tempHome();
  const db = await openWarehouse(`duckdb:${join(home, 'w.duckdb')}`, home);
  const s = db.state;
  try {
    await s.advanceCursor('a', '2026-01-05');
    await s.advanceCursor('a', '2026-01-03');
    assert.equal(await s.getCursor('a'), '2026-01-05');
    assert.equal(await s.acquireLease('a', 'w1', 60_000), true);
    assert.equal(await s.acquireLease('a', 'w2', 60_000), false);
    assert.equal(await s.acquireLease('a', 'w1', 60_000), true, 'renewal');
    await s.releaseLease('a', 'w2');
    assert.equal((await s.leaseHolder('a'))?.owner, 'w1', 'only the owner releases');
    await s.releaseLease('a', 'w1');
    assert.equal(await s.acquireLease('a', 'w2', 1), true);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(await s.acquireLease('a', 'w3', 60_000), true, 'an expired lease is taken over');
  } finally {
    await db.close();
  }
});
