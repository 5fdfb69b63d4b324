/**
 * DuckDB-only tests of the dashboard summaries (src/warehouse/duckdb/summary.ts): real files in a
 * temporary home, opened through the public openWarehouse. The summary tables are read with a raw
 * @duckdb/node-api connection while the warehouse is closed (one process holds a DuckDB file), and
 * compared with an aggregate of the fact table written independently here (window functions for
 * the name rule), and the reads with the contract suite's model of the rows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DAY_SUMMARY_TABLE, REPORT_TABLE, TOP_SUMMARY_TABLE, type ReportRow } from '../src/model/schema.js';
import { hashSeed, Rng } from '../src/simulator/prng.js';
import { rowsBody } from '../src/model/report-body.js';
import { openWarehouse, type Opened } from '../src/warehouse/index.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/warehouse.js';
import type { Warehouse, WindowLoad } from '../src/warehouse/types.js';
import { assertTop, body, csvBody, Model, randomRows, row, windowLoad } from './helpers/contract.js';
import { tempHome } from './helpers/targets.js';

/** Polls `cond` every 5 ms until it holds (a test that waits for a state, not for a guessed time). */
async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const T = REPORT_TABLE.name;
const DAY = DAY_SUMMARY_TABLE.name;
const TOP = TOP_SUMMARY_TABLE.name;

/** One DuckDB file: the warehouse opened on it, closed for raw access and reopened. */
class DuckFile {
  readonly model = new Model();
  private opened: Opened | null = null;
  readonly url: string;

  constructor(readonly home: string, readonly file = join(home, 'warehouse.duckdb')) {
    this.url = `duckdb:${file}`;
  }

  async open(): Promise<Warehouse> {
    this.opened ??= await openWarehouse(this.url, this.home);
    return this.opened.warehouse;
  }

  get warehouse(): Warehouse {
    assert.ok(this.opened, 'the warehouse is open');
    return this.opened.warehouse;
  }

  async close(): Promise<void> {
    await this.opened?.close();
    this.opened = null;
  }

  /** Run fn on a raw connection to the file (the warehouse closed meanwhile, then reopened). */
  async raw<X>(fn: (c: DuckDBConnection) => Promise<X>): Promise<X> {
    const wasOpen = this.opened !== null;
    await this.close();
    const instance = await DuckDBInstance.create(this.file);
    try {
      const c = await instance.connect();
      try {
        return await fn(c);
      } finally {
        c.closeSync();
      }
    } finally {
      instance.closeSync();
      if (wasOpen) await this.open();
    }
  }

  async replace(load: WindowLoad, rows: readonly ReportRow[], batch = 500): Promise<number> {
    const n = await this.warehouse.replaceWindow(load, body(rows, { batch }));
    this.model.replace(load, rows);
    return n;
  }

  /** dayTotals, top and coverage against the model of the rows. */
  async assertReads(connectors: readonly string[], from: string, to: string, message = ''): Promise<void> {
    const w = this.warehouse;
    for (const c of [...connectors, null]) {
      assert.deepEqual(await w.dayTotals(c, from, to), this.model.dayTotals(c, from, to), `${message} dayTotals ${c}`);
      for (const dim of ['publisher', 'offer'] as const) {
        assertTop(await w.top(dim, c, from, to, 100), this.model.top(dim, c, from, to, 100), `${message} top ${dim} ${c}`);
      }
      if (c !== null) assert.deepEqual(await w.coverage(c), this.model.coverage(c), `${message} coverage ${c}`);
    }
  }

  /** Both summary tables as stored, and as an aggregate of the fact table says they must be. */
  async summaries(): Promise<{ stored: Summaries; facts: Summaries }> {
    return this.raw(async (c) => ({ stored: await storedSummaries(c), facts: await summariesOfFacts(c) }));
  }

  async assertSummariesMatchFacts(message: string): Promise<Summaries> {
    const { stored, facts } = await this.summaries();
    assert.deepEqual(stored.day, facts.day, `${message} ${DAY}`);
    assert.deepEqual(stored.top, facts.top, `${message} ${TOP}`);
    return stored;
  }
}

interface Summaries {
  day: Record<string, unknown>[];
  top: Record<string, unknown>[];
}

const all = async (c: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> =>
  (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];

const DAY_COLS = `_connector, strftime(_date, '%Y-%m-%d') AS day, rows::VARCHAR AS rows, impressions::VARCHAR AS impressions,
  clicks::VARCHAR AS clicks, orders::VARCHAR AS orders, sales::VARCHAR AS sales, gross_commissions::VARCHAR AS gross_commissions,
  total_commissions::VARCHAR AS total_commissions, currency`;
const TOP_COLS = `_connector, strftime(_date, '%Y-%m-%d') AS day, dimension, id, rows::VARCHAR AS rows, sales::VARCHAR AS sales,
  total_commissions::VARCHAR AS total_commissions, name, strftime(name_day, '%Y-%m-%d') AS name_day, currency`;
const DAY_ORDER = 'ORDER BY _connector, day';
const TOP_ORDER = 'ORDER BY _connector, day, dimension, id, currency';

async function storedSummaries(c: DuckDBConnection): Promise<Summaries> {
  const [dup] = await all(c, `SELECT count(*)::VARCHAR AS n, count(DISTINCT (_connector, _date, dimension, id))::VARCHAR AS k FROM ${TOP}`);
  assert.equal(dup!.n, dup!.k, `one ${TOP} row per (connector, day, dimension, id)`);
  const [mixed] = await all(c, `SELECT count(*)::VARCHAR AS n FROM (SELECT _connector, _date FROM ${T} GROUP BY ALL HAVING count(DISTINCT currency) > 1)`);
  assert.equal(mixed!.n, '0', 'one currency per connector and day in the fact table');
  return {
    day: await all(c, `SELECT ${DAY_COLS} FROM ${DAY} ${DAY_ORDER}`),
    top: await all(c, `SELECT ${TOP_COLS} FROM ${TOP} ${TOP_ORDER}`),
  };
}

/** What the summaries must hold, straight from the fact rows (row_number for the name: latest day, then smallest name). */
async function summariesOfFacts(c: DuckDBConnection): Promise<Summaries> {
  const day = await all(c, `SELECT ${DAY_COLS} FROM (
      SELECT _connector, _date, count(*) AS rows, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(orders) AS orders,
             sum(sales) AS sales, sum(gross_commissions) AS gross_commissions, sum(total_commissions) AS total_commissions,
             min(currency) AS currency
      FROM ${T} WHERE _date IS NOT NULL GROUP BY _connector, _date) ${DAY_ORDER}`);
  const top = await all(c, `WITH f AS (
      SELECT _connector, _date, 'publisher' AS dimension, publisher_id AS id, publisher_name AS name, coalesce(transaction_date, _date) AS d,
             sales, total_commissions, currency FROM ${T} WHERE publisher_id IS NOT NULL
      UNION ALL
      SELECT _connector, _date, 'offer', offer_id, offer_name, coalesce(transaction_date, _date), sales, total_commissions, currency
      FROM ${T} WHERE offer_id IS NOT NULL),
    agg AS (SELECT _connector, _date, dimension, id, count(*) AS rows, sum(sales) AS sales, sum(total_commissions) AS total_commissions,
                   min(currency) AS currency
            FROM f GROUP BY _connector, _date, dimension, id),
    named AS (SELECT _connector, _date, dimension, id, name, d AS name_day FROM (
                SELECT *, row_number() OVER (PARTITION BY _connector, _date, dimension, id ORDER BY d DESC, name ASC) AS n
                FROM f WHERE name IS NOT NULL) WHERE n = 1)
    SELECT ${TOP_COLS} FROM agg LEFT JOIN named USING (_connector, _date, dimension, id) ${TOP_ORDER}`);
  return { day, top };
}

/** Tables of the file (to see what init created). */
async function tables(c: DuckDBConnection): Promise<string[]> {
  return (await all(c, 'SELECT table_name FROM duckdb_tables() ORDER BY table_name')).map((r) => String(r.table_name));
}

/**
 * Hold the warehouse's next transaction until `queued` windows wait behind it, so they are
 * committed together (group commit, DuckDbWarehouse.drain). Returns the sizes of the groups loaded.
 */
/**
 * Record how many windows each transaction that commits took (the warehouse's finish() runs once
 * per transaction, before COMMIT) and how many windows were retried alone after a failed group.
 */
function watchGroups(w: Warehouse): { sizes: number[]; alone: number; restore(): void } {
  const internals = w as unknown as {
    finish(c: unknown, group: unknown[], touched: unknown): Promise<void>;
    loadAlone(g: unknown): Promise<void>;
  };
  const { finish, loadAlone } = internals;
  const out = {
    sizes: [] as number[],
    alone: 0,
    restore: () => {
      delete (internals as { finish?: unknown }).finish;
      delete (internals as { loadAlone?: unknown }).loadAlone;
    },
  };
  internals.finish = async function (this: unknown, c: unknown, group: unknown[], touched: unknown) {
    out.sizes.push(group.length);
    return finish.call(this, c, group, touched);
  };
  internals.loadAlone = async function (this: unknown, g: unknown) {
    out.alone++;
    return loadAlone.call(this, g);
  };
  return out;
}

describe('duckdb warehouse: dashboard summaries', { concurrency: false }, () => {
  let home: string;
  before(() => {
    home = tempHome('rc-duckdb-');
  });
  after(() => {
    rmSync(home, { recursive: true, force: true });
  });

  test('the summaries equal an aggregate of the facts after replaces, rows outside windows, csv bodies, failed loads, group commits and a delete', async () => {
    const f = new DuckFile(join(home, 'consistent'));
    await f.open();
    const w = () => f.warehouse; // raw access closes and reopens it
    try {
      const rng = new Rng(hashSeed('duckdb-summaries'));
      const [a, b, c] = ['sum-a', 'sum-b', 'sum-c'];
      const conns = [a, b, c];
      const span = ['2025-03-01', '2025-03-31'] as const;
      const created = await f.raw(tables);
      assert.ok(created.includes(DAY) && created.includes(TOP), `init created the summaries (${created})`);

      // Replaces: a window, its middle days again, another connector.
      await f.replace(windowLoad(a, '2025-03-01', '2025-03-04'), randomRows(rng, '2025-03-01', '2025-03-04', 40, 'a1'));
      await f.replace(windowLoad(a, '2025-03-02', '2025-03-03', 'sync-2'), randomRows(rng, '2025-03-02', '2025-03-03', 25, 'a2'), 7);
      await f.replace(windowLoad(b, '2025-03-01', '2025-03-02'), randomRows(rng, '2025-03-01', '2025-03-02', 30, 'b1'));
      // Rows outside the window: added to an existing day (03-01) and to a day no window loaded (03-20).
      await f.replace(windowLoad(a, '2025-03-05', '2025-03-05', 'sync-3'), [
        ...randomRows(rng, '2025-03-05', '2025-03-05', 10, 'a3'),
        row('2025-03-01', { publisher_id: 'late', publisher_name: 'Late', offer_id: 'o-late', sales: '5.5', clicks: '3' }),
        row('2025-03-20', { publisher_id: 'late', publisher_name: 'Later', sales: '-1.25' }),
      ]);
      // An emptied window, and canonical-csv bodies (one day; several days, one row outside the window).
      assert.equal(await f.replace(windowLoad(b, '2025-03-02', '2025-03-02', 'sync-4'), []), 0);
      const oneDay = randomRows(rng, '2025-03-06', '2025-03-06', 20, 'csv1');
      await w().replaceWindow(windowLoad(c, '2025-03-06'), csvBody(oneDay, '2025-03-06', 7));
      f.model.replace(windowLoad(c, '2025-03-06'), oneDay);
      const multi = [
        ...randomRows(rng, '2025-03-07', '2025-03-08', 15, 'csv2').map((r) => [...r.slice(0, 1), r[0]!, ...r.slice(2)]),
        row('2025-03-25', { offer_id: 'o-out', offer_name: 'Outside', sales: '7' }),
      ];
      await w().replaceWindow(windowLoad(c, '2025-03-07', '2025-03-08', 'sync-5'), csvBody(multi, null, 9));
      f.model.replace(windowLoad(c, '2025-03-07', '2025-03-08'), multi);
      // A one-day csv body whose day is not the window's: its rows go to that day (03-18), 03-09 is emptied.
      const elsewhere = randomRows(rng, '2025-03-18', '2025-03-18', 6, 'csv3');
      await w().replaceWindow(windowLoad(c, '2025-03-09', '2025-03-09', 'sync-6'), csvBody(elsewhere, '2025-03-18'));
      f.model.replace(windowLoad(c, '2025-03-09'), elsewhere);
      await f.assertReads(conns, ...span, 'after replaces:');
      const beforeFailures = await f.assertSummariesMatchFacts('after replaces:');
      assert.ok(['2025-03-18', '2025-03-20', '2025-03-25'].every((day) => beforeFailures.day.some((d) => d.day === day)), 'days outside the windows are summarised');

      // Loads that fail (the body throws mid-way; a value DuckDB refuses): the summaries stay as they were.
      const fresh = randomRows(rng, '2025-03-01', '2025-03-04', 300, 'fresh');
      const boom = new Error('download broke');
      await assert.rejects(w().replaceWindow(windowLoad(a, '2025-03-01', '2025-03-04', 'sync-x'), body(fresh, { failAfter: 2, batch: 100, error: boom })), (e) => e === boom);
      await assert.rejects(w().replaceWindow(windowLoad(a, '2025-03-01', '2025-03-04', 'sync-y'), body([...fresh, row('2025-03-02', { clicks: 'many' })])));
      assert.deepEqual((await f.summaries()).stored, beforeFailures, 'failed loads left the summaries');
      await f.assertReads(conns, ...span, 'after failed loads:');

      // A group commit: five windows read at the same time share one transaction (it waits while
      // others are being read), with rows outside their windows; one more group whose bad window
      // fails it, so its windows are retried one by one.
      const hold = watchGroups(w());
      try {
        const loads: [WindowLoad, ReportRow[]][] = [
          [windowLoad(a, '2025-03-10', '2025-03-11', 'g1'), [...randomRows(rng, '2025-03-10', '2025-03-11', 20, 'g1'), row('2025-03-15', { publisher_id: 'gx', sales: '1' })]],
          [windowLoad(b, '2025-03-10', '2025-03-10', 'g2'), [...randomRows(rng, '2025-03-10', '2025-03-10', 20, 'g2'), row('2025-03-01', { offer_id: 'o-g2', offer_name: 'G2', sales: '2' })]],
          [windowLoad(c, '2025-03-06', '2025-03-06', 'g3'), randomRows(rng, '2025-03-06', '2025-03-06', 5, 'g3')],
          [windowLoad(a, '2025-03-03', '2025-03-04', 'g4'), []],
          [windowLoad(b, '2025-03-12', '2025-03-13', 'g5'), randomRows(rng, '2025-03-12', '2025-03-13', 12, 'g5')],
        ];
        const counts = await Promise.all(loads.map(([l, rows]) => w().replaceWindow(l, body(rows, { batch: 10 }))));
        assert.deepEqual(counts, loads.map(([, rows]) => rows.length));
        for (const [l, rows] of loads) f.model.replace(l, rows);
        assert.deepEqual(hold.sizes, [5], 'the five windows were committed together');
      } finally {
        hold.restore();
      }
      await f.assertReads(conns, ...span, 'after a group commit:');
      await f.assertSummariesMatchFacts('after a group commit:');

      const retry = watchGroups(w());
      try {
        const good: [WindowLoad, ReportRow[]][] = [
          [windowLoad(c, '2025-03-14', '2025-03-14', 'r1'), [...randomRows(rng, '2025-03-14', '2025-03-14', 8, 'r1'), row('2025-03-28', { publisher_id: 'r1', sales: '3' })]],
          [windowLoad(a, '2025-03-16', '2025-03-16', 'r3'), randomRows(rng, '2025-03-16', '2025-03-16', 8, 'r3')],
        ];
        const first = w().replaceWindow(good[0]![0], body(good[0]![1]));
        // The bad window is read last (its body waits a little), so the transaction has loaded the two good ones when it fails.
        const badRows = [row('2025-03-10', { sales: 'lots' }), row('2025-03-29', { sales: '1' })];
        const bad = w().replaceWindow(windowLoad(b, '2025-03-10', '2025-03-10', 'r2'), rowsBody((async function* () {
          await new Promise((r) => setTimeout(r, 150));
          yield badRows;
        })()));
        const last = w().replaceWindow(good[1]![0], body(good[1]![1]));
        await assert.rejects(bad);
        assert.deepEqual([await first, await last], good.map(([, rows]) => rows.length));
        for (const [l, rows] of good) f.model.replace(l, rows);
        assert.equal(retry.alone, 3, 'the bad window failed its group of three: each of them was retried alone');
        assert.deepEqual(retry.sizes, [1, 1], 'the two good windows committed alone');
      } finally {
        retry.restore();
      }
      await f.assertReads(conns, ...span, 'after a failed group:');
      await f.assertSummariesMatchFacts('after a failed group:');

      // Deleting a connector's data removes its summary rows, nobody else's.
      await w().deleteConnectorData(a);
      f.model.deleteConnector(a);
      const afterDelete = await f.assertSummariesMatchFacts('after a delete:');
      assert.ok(afterDelete.day.every((r) => r._connector !== a) && afterDelete.top.every((r) => r._connector !== a), `no summary row of ${a}`);
      assert.ok(afterDelete.day.some((r) => r._connector === b) && afterDelete.top.some((r) => r._connector === c));
      await f.assertReads(conns, ...span, 'after a delete:');
    } finally {
      await f.close();
    }
  });

  test('dayTotals, coverage and top read the summaries, not the fact table', async () => {
    const f = new DuckFile(join(home, 'reads'));
    await f.open();
    try {
      const rng = new Rng(hashSeed('duckdb-reads'));
      await f.replace(windowLoad('reads', '2025-04-01', '2025-04-03'), randomRows(rng, '2025-04-01', '2025-04-03', 30, 'r'));
      const days = await f.warehouse.dayTotals(null, '2025-04-01', '2025-04-03');
      const pubs = await f.warehouse.top('publisher', 'reads', '2025-04-01', '2025-04-03', 10);
      assert.ok(days.length === 3 && pubs.length > 2);
      // Remove every fact row and change the summaries behind the warehouse's back.
      await f.raw(async (c) => {
        await c.run(`DELETE FROM ${T}`);
        await c.run(`UPDATE ${DAY} SET rows = rows + 1000, sales = 42.5 WHERE _date = DATE '2025-04-02'`);
        await c.run(`UPDATE ${TOP} SET name = 'tampered ' || id, name_day = _date WHERE dimension = 'publisher'`);
      });
      const w = f.warehouse;
      assert.deepEqual(await w.dayTotals('reads', '2025-04-01', '2025-04-03'), days.map((d) => (d.day === '2025-04-02' ? { ...d, rows: d.rows + 1000, sales: '42.5000' } : d)));
      const cov = await w.coverage('reads');
      assert.deepEqual(cov, { rows: days.reduce((n, d) => n + d.rows, 1000), days: 3, firstDay: '2025-04-01', lastDay: '2025-04-03' });
      assert.deepEqual(await w.top('publisher', 'reads', '2025-04-01', '2025-04-03', 10), pubs.map((p) => ({ ...p, name: `tampered ${p.id}` })));
    } finally {
      await f.close();
    }
  });

  test('a read while a transaction waits for more windows returns the committed rows at once; the waiting windows commit together', async () => {
    const f = new DuckFile(join(home, 'open-tx'));
    await f.open();
    try {
      const rng = new Rng(hashSeed('duckdb-open-tx'));
      const w = f.warehouse;
      const before = randomRows(rng, '2025-05-01', '2025-05-01', 10, 'b');
      await f.replace(windowLoad('tx', '2025-05-01', '2025-05-01'), before);
      const committed = await w.dayTotals('tx', '2025-05-01', '2025-05-03');
      const groups = watchGroups(w);
      try {
        // Window A is read at once; window B's body stalls until the test lets it go, so the
        // transaction holding A stays open, waiting for B (it is still being read).
        let release!: () => void;
        const stalled = new Promise<void>((r) => (release = r));
        const rowsA = randomRows(rng, '2025-05-02', '2025-05-02', 12, 'a');
        const rowsB = randomRows(rng, '2025-05-03', '2025-05-03', 7, 'b2');
        let aDone = false;
        const a = w.replaceWindow(windowLoad('tx', '2025-05-02', '2025-05-02', 'tx-a'), body(rowsA)).then((n) => ((aDone = true), n));
        const b = w.replaceWindow(windowLoad('tx', '2025-05-03', '2025-05-03', 'tx-b'), rowsBody((async function* () {
          await stalled;
          yield rowsB;
        })()));
        // Let A be loaded into the open transaction.
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(await w.dayTotals('tx', '2025-05-01', '2025-05-03'), committed, 'the read sees only committed rows');
        assert.deepEqual((await w.coverage('tx')).days, 1);
        assert.equal(aDone, false, 'the read returned while A was still waiting for its commit');
        release();
        assert.deepEqual([await a, await b], [rowsA.length, rowsB.length]);
        assert.deepEqual(groups.sizes, [2], 'A and B committed in one transaction');
        const after = await w.dayTotals('tx', '2025-05-01', '2025-05-03');
        assert.deepEqual(after.map((d) => [d.day, d.rows]), [['2025-05-01', before.length], ['2025-05-02', rowsA.length], ['2025-05-03', rowsB.length]]);
      } finally {
        groups.restore();
      }
    } finally {
      await f.close();
    }
  });

  test('the files of windows waiting for a commit are bounded: over the limit a window reads its body only after a commit', async () => {
    const dir = join(home, 'staged-bytes');
    const w = await DuckDbWarehouse.open(join(dir, 'warehouse.duckdb'), join(dir, 'tmp'), { stagedBytesMax: 1 });
    try {
      await w.init();
      const rng = new Rng(hashSeed('duckdb-staged-bytes'));
      const log: string[] = [];
      const rowsOf = (day: string, tag: string) => randomRows(rng, day, day, 20, tag);
      const load = (name: string, day: string, rows: ReportRow[], gate?: Promise<void>) =>
        w.replaceWindow(windowLoad('staged', day, day, `st-${name}`), rowsBody((async function* () {
          log.push(`read ${name}`);
          await gate;
          yield rows;
        })())).then((n) => (log.push(`committed ${name}`), n));
      // A's body stalls (it is being read, so the transaction holding B stays open, waiting for it);
      // B is read and staged: the staged bytes are now over the limit, so C must wait for a commit.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const rows = { a: rowsOf('2025-06-01', 'a'), b: rowsOf('2025-06-02', 'b'), c: rowsOf('2025-06-03', 'c') };
      const a = load('A', '2025-06-01', rows.a, gate);
      const b = load('B', '2025-06-02', rows.b);
      // No guess at timing: wait until B is staged (and A is being read), then start C and wait
      // until C is parked waiting for room; it must not have read its body.
      await until(() => log.includes('read A') && w.staging.bytes > 0, 'A read and B staged');
      const c = load('C', '2025-06-03', rows.c);
      await until(() => w.staging.waiting === 1 || log.includes('read C'), 'C waits or reads');
      assert.deepEqual([...log].sort(), ['read A', 'read B'], 'C waits for room before it reads its body');
      release();
      assert.deepEqual(await Promise.all([a, b, c]), [rows.a.length, rows.b.length, rows.c.length]);
      assert.ok(log.indexOf('read C') > log.indexOf('committed B'), `C was read after B committed (${log})`);
      assert.deepEqual((await w.dayTotals('staged', '2025-06-01', '2025-06-03')).map((d) => d.rows), [20, 20, 20]);
    } finally {
      await w.close();
    }
  });

  test('a file made before the summaries: init creates and fills them from the facts, once, and the reads are unchanged', async () => {
    const f = new DuckFile(join(home, 'migrate'));
    await f.open();
    try {
      const rng = new Rng(hashSeed('duckdb-migrate'));
      const conns = ['mig-a', 'mig-b'];
      await f.replace(windowLoad('mig-a', '2025-05-01', '2025-05-05'), randomRows(rng, '2025-05-01', '2025-05-05', 50, 'a'));
      await f.replace(windowLoad('mig-b', '2025-05-03', '2025-05-04'), [
        ...randomRows(rng, '2025-05-03', '2025-05-04', 40, 'b'),
        row('2025-05-09', { publisher_id: 'out', publisher_name: 'Outside', sales: '1.5' }),
      ]);
      await f.assertReads(conns, '2025-05-01', '2025-05-10', 'before:');
      const reads = async () => ({
        days: await f.warehouse.dayTotals(null, '2025-05-01', '2025-05-10'),
        perConnector: await Promise.all(conns.map((c) => f.warehouse.dayTotals(c, '2025-05-01', '2025-05-10'))),
        coverage: await Promise.all(conns.map((c) => f.warehouse.coverage(c))),
        top: await Promise.all((['publisher', 'offer'] as const).map((d) => f.warehouse.top(d, null, '2025-05-01', '2025-05-10', 50))),
      });
      const before = await reads();
      const summaries = (await f.summaries()).stored;
      await f.close();

      // The file as the code before the summaries left it: no summary tables.
      await f.raw(async (c) => {
        await c.run(`DROP TABLE ${DAY}`);
        await c.run(`DROP TABLE ${TOP}`);
        assert.ok(!(await tables(c)).some((t) => t === DAY || t === TOP));
      });
      await f.open();
      assert.deepEqual(await reads(), before, 'reads after the migration');
      assert.deepEqual(await f.assertSummariesMatchFacts('after the migration:'), summaries);

      // Once: an existing summary is not refilled (a change to it survives a reopen); a missing one is.
      await f.raw(async (c) => {
        await c.run(`UPDATE ${DAY} SET rows = rows + 7 WHERE _connector = 'mig-a' AND _date = DATE '2025-05-01'`);
        await c.run(`DROP TABLE ${TOP}`);
      });
      await f.close();
      await f.open();
      assert.equal((await f.warehouse.coverage('mig-a')).rows, before.coverage[0]!.rows + 7, 'the existing day summary was left as it was');
      assert.deepEqual((await f.summaries()).stored.top, summaries.top, 'the missing top summary was filled');
      await f.warehouse.replaceWindow(windowLoad('mig-a', '2025-05-01'), body([]));
      f.model.replace(windowLoad('mig-a', '2025-05-01'), []);
      await f.assertReads(conns, '2025-05-01', '2025-05-10', 'after loading into the migrated file:');
      await f.assertSummariesMatchFacts('after loading into the migrated file:');
    } finally {
      await f.close();
    }
  });
});

describe('duckdb warehouse: currency', { concurrency: false }, () => {
  let home: string;
  before(() => {
    home = tempHome('rc-duckdb-cur-');
  });
  after(() => {
    rmSync(home, { recursive: true, force: true });
  });

  /** The three tables' columns as DuckDB describes them (order, type, NOT NULL, default). */
  const layout = (c: DuckDBConnection) => all(c, `SELECT table_name, column_index, column_name, data_type, is_nullable, column_default
    FROM duckdb_columns() WHERE table_name IN ('${T}', '${DAY}', '${TOP}') ORDER BY table_name, column_index`);

  test('a file made before the currency column and the summaries: init adds the column (rows \'\'), fills the summaries, once; the layout is a new file\'s', async () => {
    const fresh = new DuckFile(join(home, 'fresh'));
    await fresh.open();
    const newLayout = await fresh.raw(layout);
    await fresh.close();
    assert.deepEqual(newLayout.filter((r) => r.column_name === 'currency').map((r) => [r.table_name, r.is_nullable, r.column_default]),
      [[T, false, null], [TOP, false, null], [DAY, false, null]], 'currency is NOT NULL without a default');

    const f = new DuckFile(join(home, 'old'));
    await f.open();
    try {
      const rng = new Rng(hashSeed('duckdb-currency-migrate'));
      const conns = ['old-a', 'old-b'];
      await f.replace(windowLoad('old-a', '2025-07-01', '2025-07-03', 'sync-1', 'USD'), randomRows(rng, '2025-07-01', '2025-07-03', 30, 'a'));
      await f.replace(windowLoad('old-b', '2025-07-02', '2025-07-02', 'sync-1', 'EUR'), randomRows(rng, '2025-07-02', '2025-07-02', 20, 'b'));
      await f.close();
      // The oldest layout: the fact table without currency, no summaries.
      await f.raw(async (c) => {
        await c.run(`DROP TABLE ${DAY}`);
        await c.run(`DROP TABLE ${TOP}`);
        await c.run(`ALTER TABLE ${T} DROP COLUMN currency`);
      });
      await f.open();
      for (const c of conns) f.model.relabel(c, '');
      assert.deepEqual(await f.raw(layout), newLayout, 'the migrated layout is a new file\'s');
      assert.deepEqual([...await f.warehouse.connectorCurrencies()], conns.map((c) => [c, ['']]));
      await f.assertReads(conns, '2025-07-01', '2025-07-03', 'migrated:');
      const migrated = await f.assertSummariesMatchFacts('migrated:');
      assert.ok(migrated.day.every((r) => r.currency === '') && migrated.top.every((r) => r.currency === ''));
      await f.close();
      await f.open();
      assert.deepEqual((await f.summaries()).stored, migrated, 'a second init changes nothing');

      await f.warehouse.relabelCurrency('old-b', 'EUR');
      f.model.relabel('old-b', 'EUR');
      assert.deepEqual([...await f.warehouse.connectorCurrencies()], [['old-a', ['']], ['old-b', ['EUR']]]);
      await f.warehouse.relabelCurrency('old-a', 'USD');
      f.model.relabel('old-a', 'USD');
      assert.deepEqual([...await f.warehouse.connectorCurrencies()], [['old-a', ['USD']], ['old-b', ['EUR']]]);
      await f.assertReads(conns, '2025-07-01', '2025-07-03', 'labelled:');
      await f.assertSummariesMatchFacts('labelled:');
    } finally {
      await f.close();
    }
  });

  test('a load in another currency than the connector\'s rows is refused before it changes anything (relabel first); the csv path writes the currency too', async () => {
    const f = new DuckFile(join(home, 'mixed'));
    await f.open();
    try {
      const rng = new Rng(hashSeed('duckdb-currency-mixed'));
      const c = 'mixed';
      await f.replace(windowLoad(c, '2025-08-01', '2025-08-02', 'sync-1', 'USD'), randomRows(rng, '2025-08-01', '2025-08-02', 10, 'a'));
      const oneDay = randomRows(rng, '2025-08-03', '2025-08-03', 8, 'csv');
      await f.warehouse.replaceWindow(windowLoad(c, '2025-08-03', '2025-08-03', 'sync-2', 'USD'), csvBody(oneDay, '2025-08-03'));
      f.model.replace(windowLoad(c, '2025-08-03', '2025-08-03', 'sync-2', 'USD'), oneDay);
      const before = await f.assertSummariesMatchFacts('before:');
      assert.ok(before.day.length === 3 && before.day.every((r) => r.currency === 'USD') && before.top.every((r) => r.currency === 'USD'));
      // In GBP without a relabel: a day of its own, a row on a USD day, even a window replacing USD days.
      const refused = /connector mixed: a load in GBP while its rows are in USD/;
      await assert.rejects(
        f.warehouse.replaceWindow(windowLoad(c, '2025-08-04', '2025-08-04', 'sync-3', 'GBP'), body([row('2025-08-04', { sales: '1' }), row('2025-08-01', { sales: '2' })])), refused);
      await assert.rejects(f.warehouse.replaceWindow(windowLoad(c, '2025-08-01', '2025-08-01', 'sync-4', 'GBP'), csvBody([row('2025-08-01', { sales: '3' })], '2025-08-01')), refused);
      // Two windows of one connector in two currencies in one transaction: the second is refused, the first commits.
      const groups = watchGroups(f.warehouse);
      // The GBP window is read only once the USD one is in the transaction (else, read first, it is
      // refused alone by the day summary, and the USD one commits in a group of its own).
      const internals = f.warehouse as unknown as { loadInto(c: unknown, g: { load: WindowLoad }, t: unknown): Promise<void> };
      const loadInto = internals.loadInto;
      let taken!: () => void;
      const usdTaken = new Promise<void>((r) => (taken = r));
      internals.loadInto = async function (this: unknown, cn: unknown, g: { load: WindowLoad }, t: unknown) {
        const done = loadInto.call(this, cn, g, t);
        if (g.load.currency === 'USD') void done.then(taken, taken);
        return done;
      };
      try {
        const usd = f.warehouse.replaceWindow(windowLoad(c, '2025-08-05', '2025-08-05', 'sync-5', 'USD'), body([row('2025-08-05', { sales: '5' })]));
        const gbp = f.warehouse.replaceWindow(windowLoad(c, '2025-08-06', '2025-08-06', 'sync-5', 'GBP'), rowsBody((async function* () {
          await usdTaken;
          yield [row('2025-08-06', { sales: '6' })];
        })()));
        await assert.rejects(gbp, refused);
        assert.equal(await usd, 1);
        assert.deepEqual([groups.alone, groups.sizes], [2, [1]], 'the group failed on the second window; alone, the first committed');
        f.model.replace(windowLoad(c, '2025-08-05', '2025-08-05', 'sync-5', 'USD'), [row('2025-08-05', { sales: '5' })]);
      } finally {
        groups.restore();
        delete (internals as { loadInto?: unknown }).loadInto;
      }
      await f.assertReads([c], '2025-08-01', '2025-08-06', 'after the refused loads:');
      const after = await f.assertSummariesMatchFacts('after the refused loads:');
      assert.deepEqual(after.day.filter((r) => r.day !== '2025-08-05'), before.day, 'the refused loads changed nothing');
      // Relabelled, the load in GBP goes in.
      await f.warehouse.relabelCurrency(c, 'GBP');
      f.model.relabel(c, 'GBP');
      await f.replace(windowLoad(c, '2025-08-06', '2025-08-06', 'sync-6', 'GBP'), [row('2025-08-06', { sales: '6' }), row('2025-08-01', { sales: '2' })]);
      await f.assertReads([c], '2025-08-01', '2025-08-06', 'relabelled and loaded:');
      await f.assertSummariesMatchFacts('relabelled and loaded:');
    } finally {
      await f.close();
    }
  });
});
