/**
 * The PostgreSQL warehouse and state store against a real server (RAKUTEN_TEST_PG). Without a
 * server the suite is skipped locally, but fails under CI: a silently skipped warehouse is a
 * broken warehouse.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { COLUMN_INDEX, LOADED_COLUMNS, type LoadedColumn, type ReportRow } from '../src/model/schema.js';
import { addDays } from '../src/util/days.js';
import { ConnectorError } from '../src/util/errors.js';
import { openDuckDb, releaseDuckDb } from '../src/warehouse/duckdb-connection.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { byteLess } from '../src/warehouse/postgres-dimensions.js';
import { openPostgres } from '../src/warehouse/postgres.js';
import type { RunRecord, StateStore, Warehouse, WindowLoad } from '../src/warehouse/types.js';
import { createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';

const available = await postgresAvailable();
const skip = !available && !process.env.CI ? 'PostgreSQL is not reachable (set RAKUTEN_TEST_PG)' : false;

test('PostgreSQL is reachable when CI is set', { skip: !process.env.CI }, () => {
  assert.ok(available, 'PostgreSQL is unreachable: under CI the postgres tests must run, not skip');
});

/** A report row from named values; everything else NULL. */
function row(v: Partial<Record<LoadedColumn, string | null>>): ReportRow {
  const r: ReportRow = new Array(LOADED_COLUMNS.length).fill(null);
  for (const [k, val] of Object.entries(v)) r[COLUMN_INDEX[k as LoadedColumn]] = val ?? null;
  return r;
}

async function* inBatches(rows: ReportRow[], size = 1000): AsyncGenerator<ReportRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/** Deterministic varied rows over days: nulls, negatives, 4-decimal money, names changing by day. */
function genRows(days: string[], perDay: number, seed: number): ReportRow[] {
  let s = seed >>> 0;
  const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const money = (scale: number): string => {
    const units = Math.floor(rnd() * 4_000_000) - 1_000_000;
    const neg = units < 0;
    const a = String(Math.abs(units)).padStart(5, '0');
    return `${neg ? '-' : ''}${a.slice(0, -4)}.${a.slice(-4)}`.slice(0, scale === 2 ? -2 : undefined);
  };
  const out: ReportRow[] = [];
  for (const day of days) {
    for (let i = 0; i < perDay; i++) {
      const pub = Math.floor(rnd() * 40);
      const offer = Math.floor(rnd() * 15);
      const tx = rnd() < 0.05 ? null : day;
      out.push(row({
        _date: day, transaction_date: tx, order_id: rnd() < 0.5 ? `O-${day}-${i}` : null,
        publisher_id: rnd() < 0.03 ? null : `P${pub}`,
        // Names depend on (id, day) only, so "latest name" has no ties for DuckDB's arg_max to settle arbitrarily.
        publisher_name: rnd() < 0.1 ? null : `Publisher ${pub} (${day.slice(5)})`,
        publisher_url: rnd() < 0.2 ? null : `https://p${pub}.example/${day}`,
        offer_id: `${offer}`, offer_name: rnd() < 0.1 ? null : `Offer ${offer} – ${day.slice(8)} ✓`,
        link_id: `L${Math.floor(rnd() * 60)}`, link_name: null,
        impressions: String(Math.floor(rnd() * 5000)), clicks: rnd() < 0.1 ? null : String(Math.floor(rnd() * 300)),
        orders: String(Math.floor(rnd() * 4)),
        sales: rnd() < 0.05 ? null : money(2), gross_commissions: money(4), total_commissions: rnd() < 0.05 ? null : money(4),
        _extra: rnd() < 0.2 ? JSON.stringify({ 'Product Name': `Thing\t"${i}"` }) : null,
      }));
    }
  }
  return out;
}

function load(connector: string, start: string, end = start, syncId = 'sync-1'): WindowLoad {
  return { connector, start, end, syncId, syncedAt: new Date('2024-03-01T12:34:56.789Z') };
}

describe('postgres warehouse', { skip, concurrency: false }, () => {
  let db: { url: string; drop(): Promise<void> };
  let wh: Warehouse;
  let state: StateStore;
  let admin: pg.Client;

  before(async () => {
    db = await createTestPostgresUrl({ schema: 'analytics' });
    ({ warehouse: wh, state } = await openPostgres(db.url));
    await wh.init();
    await state.init();
    admin = new pg.Client({ connectionString: db.url.replace(/\?.*$/, '') });
    await admin.connect();
  });

  after(async () => {
    await admin?.end();
    await wh?.close();
    await state?.close();
    await db?.drop();
  });

  test('init: tables and index in the requested schema; concurrent init from many processes is safe', async () => {
    const opened = await Promise.all([0, 1, 2, 3].map(() => openPostgres(db.url.replace('schema=analytics', 'schema=other_schema'))));
    try {
      await Promise.all(opened.flatMap((o) => [o.warehouse.init(), o.state.init()]));
    } finally {
      await Promise.all(opened.flatMap((o) => [o.warehouse.close(), o.state.close()]));
    }
    const { rows } = await admin.query(
      `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('analytics', 'other_schema') ORDER BY 1, 2`,
    );
    const names = rows.map((r) => `${r.table_schema}.${r.table_name}`);
    for (const schema of ['analytics', 'other_schema']) {
      for (const t of ['rakuten_affiliate_report', 'rakuten_publishers', 'rakuten_offers', 'rakuten_links', 'rakuten_connectors', 'rakuten_sync_state', 'rakuten_sync_runs']) {
        assert.ok(names.includes(`${schema}.${t}`), `${schema}.${t}`);
      }
    }
    const idx = await admin.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'analytics' AND tablename = 'rakuten_affiliate_report'`);
    assert.ok(idx.rows.some((r) => /\(_connector, _date\)/.test(String(r.indexdef))));
    const types = await admin.query(
      `SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns
       WHERE table_schema = 'analytics' AND table_name = 'rakuten_affiliate_report' AND column_name IN ('sales', '_synced_at', '_date', 'clicks')
       ORDER BY column_name`,
    );
    assert.deepEqual(types.rows.map((r) => `${r.column_name}:${r.data_type}:${r.numeric_precision ?? ''}:${r.numeric_scale ?? ''}`), [
      '_date:date::', '_synced_at:timestamp with time zone::', 'clicks:bigint:64:0', 'sales:numeric:18:4',
    ]);
  });

  test('replaceWindow is atomic: a failing source leaves the old rows intact and visible', async () => {
    const day = '2024-01-10';
    const old = genRows([day], 500, 1);
    assert.equal(await wh.replaceWindow(load('atom', day), inBatches(old)), 500);
    const before = await wh.dayTotals('atom', day, day);
    const pubsBefore = (await admin.query(`SELECT * FROM analytics.rakuten_publishers WHERE _connector = 'atom' ORDER BY id`)).rows;

    const boom = new Error('report stream broke');
    const fresh = genRows([day], 20_000, 2);
    // Fails: before any row, after a batch (COPY started), after megabytes (COPY data flushed).
    for (const failAfter of [0, 1, 15]) {
      async function* broken(): AsyncGenerator<ReportRow[]> {
        let n = 0;
        for await (const b of inBatches(fresh)) {
          if (n++ === failAfter) throw boom;
          yield b;
        }
      }
      await assert.rejects(wh.replaceWindow(load('atom', day, day, 'sync-2'), broken()), (e) => e === boom);
      assert.deepEqual(await wh.dayTotals('atom', day, day), before, `failAfter=${failAfter}`);
    }
    // A source error that looks like a network error (the download's socket) is still the caller's own error.
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    async function* resetting(): AsyncGenerator<ReportRow[]> {
      yield fresh.slice(0, 3000);
      throw reset;
    }
    await assert.rejects(wh.replaceWindow(load('atom', day), resetting()), (e) => e === reset);
    assert.deepEqual(await wh.dayTotals('atom', day, day), before);
    assert.deepEqual((await admin.query(`SELECT * FROM analytics.rakuten_publishers WHERE _connector = 'atom' ORDER BY id`)).rows, pubsBefore);
    const syncIds = await admin.query(`SELECT DISTINCT _sync_id FROM analytics.rakuten_affiliate_report WHERE _connector = 'atom'`);
    assert.deepEqual(syncIds.rows, [{ _sync_id: 'sync-1' }]);

    // A value the server rejects fails the COPY itself: same guarantee, the pool stays healthy.
    await assert.rejects(wh.replaceWindow(load('atom', day), inBatches([...fresh.slice(0, 10), row({ _date: day, clicks: 'many' })])), /bigint/);
    assert.deepEqual(await wh.dayTotals('atom', day, day), before);
    // Connections went back to the pool usable: many loads still work.
    for (let i = 0; i < 10; i++) await wh.replaceWindow(load('atom', day), inBatches(old));
    assert.deepEqual(await wh.dayTotals('atom', day, day), before);
  });

  test('readers never see a half window while a replace is in flight', async () => {
    const day = '2024-01-11';
    await wh.replaceWindow(load('half', day), inBatches(genRows([day], 300, 3)));
    const before = await wh.dayTotals('half', day, day);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const midway = new Promise<void>((r) => (reached = r));
    const next = genRows([day], 4000, 4);
    async function* slow(): AsyncGenerator<ReportRow[]> {
      yield next.slice(0, 2000);
      reached();
      await gate;
      yield next.slice(2000);
    }
    const pending = wh.replaceWindow(load('half', day), slow());
    await midway;
    await new Promise((r) => setTimeout(r, 50)); // let the first half reach the server
    assert.deepEqual(await wh.dayTotals('half', day, day), before);
    assert.deepEqual(await wh.coverage('half'), { rows: 300, days: 1, firstDay: day, lastDay: day });
    release();
    assert.equal(await pending, 4000);
    assert.equal((await wh.dayTotals('half', day, day))[0]!.rows, 4000);
  });

  test('re-replacing a window is idempotent; an empty load clears it', async () => {
    const days = ['2024-02-01', '2024-02-02', '2024-02-03'];
    const rows = genRows(days, 200, 5);
    await wh.replaceWindow(load('idem', days[0]!, days[2]!), inBatches(rows));
    const first = await wh.dayTotals('idem', days[0]!, days[2]!);
    const dims1 = (await admin.query(`SELECT * FROM analytics.rakuten_offers WHERE _connector = 'idem' ORDER BY id`)).rows;
    await wh.replaceWindow(load('idem', days[0]!, days[2]!), inBatches(rows, 7));
    assert.deepEqual(await wh.dayTotals('idem', days[0]!, days[2]!), first);
    assert.deepEqual((await admin.query(`SELECT * FROM analytics.rakuten_offers WHERE _connector = 'idem' ORDER BY id`)).rows, dims1);
    assert.deepEqual(await wh.coverage('idem'), { rows: 600, days: 3, firstDay: days[0], lastDay: days[2] });
    // Replacing only the middle day leaves the others alone.
    assert.equal(await wh.replaceWindow(load('idem', days[1]!), inBatches([])), 0);
    assert.deepEqual((await wh.dayTotals('idem', days[0]!, days[2]!)).map((d) => d.day), [days[0], days[2]]);
  });

  test('connectors are isolated', async () => {
    const day = '2024-02-10';
    await wh.replaceWindow(load('iso-a', day), inBatches(genRows([day], 100, 6)));
    await wh.replaceWindow(load('iso-b', day), inBatches(genRows([day], 150, 7)));
    const b = await wh.dayTotals('iso-b', day, day);
    await wh.replaceWindow(load('iso-a', day), inBatches(genRows([day], 50, 8)));
    assert.equal((await wh.dayTotals('iso-a', day, day))[0]!.rows, 50);
    assert.deepEqual(await wh.dayTotals('iso-b', day, day), b);
    const all = await wh.dayTotals(null, day, day);
    assert.equal(all[0]!.rows, 200);
    await wh.deleteConnectorData('iso-a');
    assert.deepEqual(await wh.coverage('iso-a'), { rows: 0, days: 0, firstDay: null, lastDay: null });
    assert.deepEqual(await wh.dayTotals('iso-b', day, day), b);
    const dims = await admin.query(`SELECT _connector, count(*) FROM analytics.rakuten_publishers WHERE _connector LIKE 'iso-%' GROUP BY 1`);
    assert.deepEqual(dims.rows.map((r) => r._connector), ['iso-b']);
  });

  test('decimals are exact', async () => {
    const day = '2024-03-01';
    const cents = Array.from({ length: 100_000 }, () => row({ _date: day, sales: '0.01', gross_commissions: '0.0001', total_commissions: '-0.0001', impressions: '9007199254740993' }));
    assert.equal(await wh.replaceWindow(load('dec', day), inBatches(cents, 5000)), 100_000);
    const [t] = await wh.dayTotals('dec', day, day);
    assert.equal(t!.sales, '1000.0000');
    assert.equal(t!.gross_commissions, '10.0000');
    assert.equal(t!.total_commissions, '-10.0000');
    assert.equal(t!.impressions, (9007199254740993n * 100_000n).toString()); // beyond 2^53: not a JS number

    const day2 = '2024-03-02';
    await wh.replaceWindow(load('dec', day2), inBatches([
      row({ _date: day2, publisher_id: 'X', sales: '-1234567.89', total_commissions: '0.0001' }),
      row({ _date: day2, publisher_id: 'X', sales: '99999999999999.9999', total_commissions: '1.2345' }),
      row({ _date: day2, publisher_id: 'Y', sales: '-0.5', total_commissions: null }),
      row({ _date: day2, publisher_id: 'Z', sales: null, total_commissions: null }),
    ]));
    const [t2] = await wh.dayTotals('dec', day2, day2);
    assert.equal(t2!.sales, '99999998765431.6099');
    assert.equal(t2!.total_commissions, '1.2346');
    assert.equal(t2!.clicks, '0');
    const top = await wh.top('publisher', 'dec', day2, day2, 10);
    assert.deepEqual(top.map((e) => [e.id, e.sales, e.total_commissions]), [
      ['X', '99999998765432.1099', '1.2346'], ['Y', '-0.5000', '0'], ['Z', '0', '0'],
    ]);
    const stored = await admin.query(`SELECT sales::text FROM analytics.rakuten_affiliate_report WHERE _connector = 'dec' AND _date = $1 AND publisher_id = 'X' ORDER BY sales`, [day2]);
    assert.deepEqual(stored.rows.map((r) => r.sales), ['-1234567.8900', '99999999999999.9999']);
  });

  test('text round-trips exactly: tabs, newlines, backslashes, quotes, \\N, emoji, non-ASCII', async () => {
    const day = '2024-03-05';
    const nasty = [
      'tab\there', 'line\nbreak', 'cr\r\nlf', 'back\\slash', '\\N', '\\.', '\\', 'end\\', '"quoted", \'single\'', 'emoji 😀🇯🇵', '日本語テキスト',
      'Ünïcödé – “curly” € ©', ' leading and trailing ', '', ',;|', 'x'.repeat(100_000), '\\t literal backslash-t', 'NULL', 'null',
      '\u0001\u001f control', 'zero-width\u200bspace', '{"a":"b\\n"}',
    ];
    const rows = nasty.map((s, i) => row({ _date: day, order_id: String(i).padStart(3, '0'), publisher_id: s, publisher_name: s, link_name: s, _extra: s }));
    rows.push(row({ _date: day, order_id: '999' }));
    await wh.replaceWindow(load('text\t"conn"\\', day, day, 'sync\nid'), inBatches(rows, 3));
    const got = await admin.query(
      `SELECT order_id, publisher_id, publisher_name, link_name, _extra, _connector, _sync_id FROM analytics.rakuten_affiliate_report
       WHERE _date = $1 AND _connector = $2 ORDER BY order_id`,
      [day, 'text\t"conn"\\'],
    );
    assert.equal(got.rows.length, nasty.length + 1);
    nasty.forEach((s, i) => {
      const r = got.rows[i]!;
      for (const col of ['publisher_id', 'publisher_name', 'link_name', '_extra']) assert.equal(r[col], s, `${col} #${i}`);
      assert.equal(r._sync_id, 'sync\nid');
    });
    const last = got.rows[nasty.length]!;
    assert.deepEqual([last.publisher_id, last.publisher_name, last._extra], [null, null, null]); // NULL stays NULL, '' stays ''
    const pubs = await admin.query(`SELECT id, name, url FROM analytics.rakuten_publishers WHERE _connector = $1`, ['text\t"conn"\\']);
    assert.equal(pubs.rows.length, nasty.length);
    for (const p of pubs.rows) assert.equal(p.name, p.id);
  });

  test('concurrent windows and connectors load in parallel, without deadlocks', async () => {
    const days = Array.from({ length: 8 }, (_, i) => addDays('2024-04-01', i));
    const connectors = ['par-a', 'par-b'];
    const jobs: { c: string; day: string; rows: ReportRow[] }[] = [];
    connectors.forEach((c, ci) => days.forEach((day, di) => jobs.push({ c, day, rows: genRows([day], 1500, 100 + ci * 10 + di) })));
    // Interleave the sources so every transaction is open at once and they share dimension ids.
    async function* yielding(rows: ReportRow[]): AsyncGenerator<ReportRow[]> {
      for await (const b of inBatches(rows, 250)) {
        await new Promise((r) => setImmediate(r));
        yield b;
      }
    }
    for (let round = 0; round < 2; round++) {
      const counts = await Promise.all(jobs.map((j) => wh.replaceWindow(load(j.c, j.day), yielding(j.rows))));
      assert.deepEqual(counts, jobs.map(() => 1500));
    }
    for (const c of connectors) {
      const totals = await wh.dayTotals(c, days[0]!, days.at(-1)!);
      assert.deepEqual(totals.map((t) => [t.day, t.rows]), days.map((d) => [d, 1500]));
    }
    const n = await admin.query(`SELECT count(*)::int AS n FROM analytics.rakuten_affiliate_report WHERE _connector LIKE 'par-%'`);
    assert.equal(n.rows[0].n, jobs.length * 1500);
  });

  test('two loads of the same window at once (a lease lost mid-load) never duplicate rows', async () => {
    const day = '2024-04-20';
    const first = genRows([day], 3000, 41);
    const second = genRows([day], 2000, 42);
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    async function* slowFirst(): AsyncGenerator<ReportRow[]> {
      for await (const b of inBatches(first, 500)) {
        started();
        await new Promise((r) => setTimeout(r, 20));
        yield b;
      }
    }
    const a = wh.replaceWindow(load('dup', day, day, 'old-owner'), slowFirst());
    await firstStarted;
    const b = wh.replaceWindow(load('dup', '2024-04-19', '2024-04-21', 'new-owner'), inBatches(second));
    assert.deepEqual(await Promise.all([a, b]), [3000, 2000]);
    const rows = await admin.query(`SELECT _sync_id, count(*)::int AS n FROM analytics.rakuten_affiliate_report WHERE _connector = 'dup' GROUP BY 1`);
    assert.deepEqual(rows.rows, [{ _sync_id: 'new-owner', n: 2000 }]);
  });

  test('dayTotals, top and coverage equal DuckDB\'s on the same rows (and so do the dimensions)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-pg-vs-duck-'));
    const file = join(dir, 'w.duckdb');
    const duck = await DuckDbWarehouse.open(file, dir);
    await duck.init();
    const pgdb = await createTestPostgresUrl();
    const { warehouse: p, state: ps } = await openPostgres(pgdb.url);
    try {
      await p.init();
      const days = Array.from({ length: 10 }, (_, i) => addDays('2024-05-01', i));
      for (const [ci, c] of ['acme', 'globex', 'initech'].entries()) {
        // Windows of 1..3 days, some replaced twice with different data, like lookback re-syncs.
        for (let i = 0; i < days.length; i += 1 + (ci % 3)) {
          const w = days.slice(i, i + 1 + (ci % 3));
          for (const seed of [1, 2]) {
            const rows = genRows(w, 40 + ci * 25, ci * 1000 + i * 10 + seed);
            const l = load(c, w[0]!, w.at(-1)!, `s${seed}`);
            assert.equal(await p.replaceWindow(l, inBatches(rows, 33)), await duck.replaceWindow(l, inBatches(rows, 33)));
          }
        }
      }
      for (const c of ['acme', 'globex', 'initech', 'nobody', null]) {
        for (const [from, to] of [[days[0]!, days.at(-1)!], [days[2]!, days[4]!], ['2020-01-01', '2020-01-02']] as const) {
          assert.deepEqual(await p.dayTotals(c, from, to), await duck.dayTotals(c, from, to), `dayTotals ${c} ${from}`);
          for (const dim of ['publisher', 'offer'] as const) {
            for (const limit of [1, 5, 100]) {
              assert.deepEqual(await p.top(dim, c, from, to, limit), await duck.top(dim, c, from, to, limit), `top ${dim} ${c} ${from} ${limit}`);
            }
          }
        }
        if (c) assert.deepEqual(await p.coverage(c), await duck.coverage(c), `coverage ${c}`);
      }
      // Dimensions: same rows, read from both stores directly.
      const dc = await (await openDuckDb(file)).connect();
      const pc = new pg.Client({ connectionString: pgdb.url });
      await pc.connect();
      try {
        for (const t of ['rakuten_publishers', 'rakuten_offers', 'rakuten_links']) {
          const cols = `_connector, id, name${t === 'rakuten_publishers' ? ', url' : ''}`;
          const duckRows = (await dc.runAndReadAll(`SELECT ${cols}, strftime(first_seen, '%Y-%m-%d') AS f, strftime(last_seen, '%Y-%m-%d') AS l FROM ${t}`))
            .getRowObjectsJson() as Record<string, unknown>[];
          const pgRows = (await pc.query(`SELECT ${cols}, to_char(first_seen, 'YYYY-MM-DD') AS f, to_char(last_seen, 'YYYY-MM-DD') AS l FROM ${t}`)).rows;
          const key = (r: Record<string, unknown>) => `${r._connector}\u0000${r.id}`;
          const sort = (rs: Record<string, unknown>[]) => [...rs].sort((a, b) => (key(a) < key(b) ? -1 : 1)).map((r) => JSON.stringify(r));
          assert.ok(pgRows.length > 20);
          assert.deepEqual(sort(pgRows), sort(duckRows), t);
        }
      } finally {
        dc.closeSync();
        releaseDuckDb(file);
        await pc.end();
      }
      await p.deleteConnectorData('acme');
      await duck.deleteConnectorData('acme');
      assert.deepEqual(await p.dayTotals(null, days[0]!, days.at(-1)!), await duck.dayTotals(null, days[0]!, days.at(-1)!));
      assert.deepEqual(await p.coverage('acme'), await duck.coverage('acme'));
    } finally {
      await duck.close();
      await p.close();
      await ps.close();
      await pgdb.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dimensions: latest non-NULL name/url, first/last seen across windows', async () => {
    const c = 'dims';
    await wh.replaceWindow(load(c, '2024-06-05'), inBatches([
      row({ _date: '2024-06-05', transaction_date: '2024-06-05', publisher_id: '1', publisher_name: 'mid', publisher_url: 'u-mid' }),
      row({ _date: '2024-06-05', transaction_date: null, publisher_id: '1', publisher_name: null, publisher_url: 'u-null-name' }),
    ]));
    await wh.replaceWindow(load(c, '2024-06-01'), inBatches([
      row({ _date: '2024-06-01', transaction_date: '2024-06-01', publisher_id: '1', publisher_name: 'old', publisher_url: 'u-old' }),
    ]));
    const get = async () =>
      (await admin.query(`SELECT name, url, first_seen::text AS f, last_seen::text AS l FROM analytics.rakuten_publishers WHERE _connector = $1 AND id = '1'`, [c])).rows[0];
    // The older window does not overwrite the newer name; the NULL name is skipped, its url is not
    // (same day: the byte-wise greatest wins, in the dimensions as in top()).
    assert.deepEqual(await get(), { name: 'mid', url: 'u-null-name', f: '2024-06-01', l: '2024-06-05' });
    const [t] = await wh.top('publisher', c, '2024-06-05', '2024-06-05', 1);
    assert.equal(t!.name, 'mid');
    await wh.replaceWindow(load(c, '2024-06-07'), inBatches([
      row({ _date: '2024-06-07', publisher_id: '2', publisher_name: 'Beta' }),
      row({ _date: '2024-06-07', publisher_id: '2', publisher_name: 'Alpha' }),
      row({ _date: '2024-06-07', publisher_id: '2', publisher_name: 'Zulu', transaction_date: '2024-06-06' }),
    ]));
    const two = await admin.query(`SELECT name FROM analytics.rakuten_publishers WHERE _connector = $1 AND id = '2'`, [c]);
    assert.equal(two.rows[0].name, 'Beta');
    assert.equal((await wh.top('publisher', c, '2024-06-07', '2024-06-07', 1))[0]!.name, 'Beta');
    await wh.replaceWindow(load(c, '2024-06-09'), inBatches([
      row({ _date: '2024-06-09', transaction_date: '2024-06-09', publisher_id: '1', publisher_name: 'new', publisher_url: null }),
    ]));
    assert.deepEqual(await get(), { name: 'new', url: null, f: '2024-06-01', l: '2024-06-09' });
  });

  test('byteLess orders like PostgreSQL COLLATE "C"', async () => {
    const words = ['a', 'B', 'é', 'z', '\uffff', '😀', 'ab', '', '\ue000', 'A😀', 'A\uffff'];
    const { rows } = await admin.query(`SELECT w FROM unnest($1::text[]) AS w ORDER BY w COLLATE "C"`, [words]);
    const js = [...words].sort((a, b) => (byteLess(a, b) ? -1 : byteLess(b, a) ? 1 : 0));
    assert.deepEqual(js, rows.map((r) => r.w));
  });

  test('the password never shows: location and connection errors are masked', async () => {
    const { warehouse, state: s } = await openPostgres('postgres://someone:Sup3r-S3cret@127.0.0.1:1/nowhere?schema=x');
    try {
      assert.equal(warehouse.kind, 'postgres');
      assert.deepEqual(warehouse.capabilities, { concurrentLoads: true, shared: true });
      assert.ok(!warehouse.location.includes('Sup3r-S3cret'));
      assert.match(warehouse.location, /^postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere\?schema=x$/);
      const err = await warehouse.init().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.kind, 'network');
      assert.ok(!String(err.message).includes('Sup3r-S3cret') && !String(err.stack).includes('Sup3r-S3cret'));
    } finally {
      await warehouse.close();
      await s.close();
    }
    const q = await openPostgres('postgresql://someone@127.0.0.1:1/db?password=Sup3r-S3cret&sslmode=disable');
    assert.ok(!q.warehouse.location.includes('Sup3r-S3cret'), q.warehouse.location);
    await q.warehouse.close();
    await q.state.close();
    for (const bad of ['postgres://u:pw-Sup3r@host:99999/db', 'postgres://u:pw-Sup3r@h/db?schema=bad;drop']) {
      await assert.rejects(openPostgres(bad), (e: unknown) => e instanceof ConnectorError && e.kind === 'config' && !e.message.includes('pw-Sup3r'));
    }
    // Through the factory, with a wrong password on a trust server it just works; a missing database is a config error.
    const u = new URL(db.url);
    u.pathname = '/no_such_database_here';
    await assert.rejects(openWarehouse(u.toString(), tmpdir()), (e: unknown) => e instanceof ConnectorError && e.kind === 'config');
  });
});

describe('postgres state store', { skip, concurrency: false }, () => {
  let db: { url: string; drop(): Promise<void> };
  let a: { warehouse: Warehouse; state: StateStore };
  let b: { warehouse: Warehouse; state: StateStore };

  before(async () => {
    db = await createTestPostgresUrl();
    // Two separate pools, as two workers on two machines would have.
    a = await openPostgres(db.url);
    b = await openPostgres(db.url);
    await Promise.all([a.state.init(), b.state.init()]);
  });

  after(async () => {
    for (const o of [a, b]) {
      await o?.state.close();
      await o?.warehouse.close();
    }
    await db?.drop();
  });

  test('lease: of two owners racing, exactly one wins (new and existing rows)', async () => {
    for (let round = 0; round < 20; round++) {
      const conn = round % 2 === 0 ? `race-${round}` : 'race-shared';
      const [x, y] = await Promise.all([a.state.acquireLease(conn, 'worker-a', 60_000), b.state.acquireLease(conn, 'worker-b', 60_000)]);
      assert.equal(Number(x) + Number(y), 1, `round ${round}`);
      const holder = await a.state.leaseHolder(conn);
      assert.equal(holder?.owner, x ? 'worker-a' : 'worker-b');
      await (x ? a : b).state.releaseLease(conn, x ? 'worker-a' : 'worker-b');
      assert.equal(await b.state.leaseHolder(conn), undefined);
    }
    // Many contenders at once.
    const wins = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).state.acquireLease('crowd', `w${i}`, 60_000)));
    assert.equal(wins.filter(Boolean).length, 1);
  });

  test('lease: renewal by the owner, no-op release by others, takeover after expiry (DB clock)', async () => {
    assert.equal(await a.state.acquireLease('exp', 'owner-1', 400), true);
    assert.equal(await a.state.acquireLease('exp', 'owner-1', 400), true); // renewal
    assert.equal(await b.state.acquireLease('exp', 'owner-2', 60_000), false);
    await b.state.releaseLease('exp', 'owner-2'); // not the owner: no effect
    const h = await b.state.leaseHolder('exp');
    assert.equal(h?.owner, 'owner-1');
    assert.match(h!.expiresAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // expiresAt comes from the server clock: now() + ttl.
    const pc = new pg.Client({ connectionString: db.url });
    await pc.connect();
    const { rows } = await pc.query(`SELECT extract(epoch FROM now()) * 1000 AS now`);
    await pc.end();
    const delta = Date.parse(h!.expiresAt) - Number(rows[0].now);
    assert.ok(delta > 0 && delta <= 400, `expires in ${delta} ms`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await b.state.leaseHolder('exp'), undefined);
    assert.equal(await b.state.acquireLease('exp', 'owner-2', 60_000), true);
    assert.equal(await a.state.acquireLease('exp', 'owner-1', 60_000), false);
    await a.state.releaseLease('exp', 'owner-1');
    assert.equal((await a.state.leaseHolder('exp'))?.owner, 'owner-2');
    await b.state.releaseLease('exp', 'owner-2');
    assert.equal(await a.state.leaseHolder('exp'), undefined);
    assert.equal(await a.state.acquireLease('exp', 'owner-1', 60_000), true);
  });

  test('connectors, cursor and run history', async () => {
    const s = a.state;
    const rec = {
      name: 'acme', url: 'https://ran-reporting.rakutenmarketing.com/en/reports/x', tokenSealed: 'v1:sealed',
      settings: { startDate: '2024-01-01', lookbackDays: 7, windowDays: 1, schedule: '0 6 * * *', paused: false },
      createdAt: '2024-01-01T00:00:00.000Z', updatedAt: '2024-01-01T00:00:00.000Z',
    };
    await s.saveConnector(rec);
    await s.saveConnector({ ...rec, name: 'Zeta' });
    await s.saveConnector({ ...rec, settings: { ...rec.settings, paused: true }, updatedAt: '2024-01-02T00:00:00.000Z', createdAt: 'ignored' });
    assert.deepEqual(await b.state.getConnector('acme'), { ...rec, settings: { ...rec.settings, paused: true }, updatedAt: '2024-01-02T00:00:00.000Z' });
    assert.deepEqual((await s.listConnectors()).map((c) => c.name), ['Zeta', 'acme']);
    assert.equal(await s.getConnector('nope'), undefined);

    assert.equal(await s.getCursor('acme'), undefined);
    await s.advanceCursor('acme', '2024-01-05');
    await s.advanceCursor('acme', '2024-01-03'); // never backwards
    assert.equal(await s.getCursor('acme'), '2024-01-05');
    await s.acquireLease('acme', 'w', 60_000);
    await s.advanceCursor('acme', '2024-01-06');
    assert.equal(await s.getCursor('acme'), '2024-01-06');
    assert.equal((await s.leaseHolder('acme'))?.owner, 'w'); // cursor updates keep the lease

    const run = (id: string, startedAt: string, status: RunRecord['status'] = 'running'): RunRecord => ({
      id, connector: 'acme', startedAt, finishedAt: null, status, rangeStart: '2024-01-01', rangeEnd: '2024-01-06',
      windowsTotal: 6, windowsDone: 0, rows: 0, error: null, worker: 'host:1',
    });
    await s.startRun(run('r1', '2024-01-06T10:00:00.000Z'));
    await s.startRun(run('r2', '2024-01-06T11:00:00.000Z'));
    await s.startRun(run('r3', '2024-01-06T12:00:00.000Z'));
    await s.startRun({ ...run('z1', '2024-01-06T09:00:00.000Z'), connector: 'Zeta' });
    await s.updateRun('r1', { status: 'success', finishedAt: '2024-01-06T10:05:00.000Z', windowsDone: 6, rows: 123456789012, error: null });
    await s.updateRun('r2', { windowsDone: 2, rows: 10, error: 'it\'s "broken"\n' });
    const runs = await s.listRuns('acme', 10);
    assert.deepEqual(runs.map((r) => r.id), ['r3', 'r2', 'r1']);
    assert.deepEqual(runs[2], { ...run('r1', '2024-01-06T10:00:00.000Z'), status: 'success', finishedAt: '2024-01-06T10:05:00.000Z', windowsDone: 6, rows: 123456789012 });
    assert.equal(runs[1]!.error, 'it\'s "broken"\n');
    assert.deepEqual((await s.listRuns(null, 2)).map((r) => r.id), ['r3', 'r2']);
    assert.deepEqual((await s.listRuns(null, 10)).map((r) => r.id), ['r3', 'r2', 'r1', 'z1']);

    await s.markInterrupted('acme', 'r3');
    const after = await b.state.listRuns('acme', 10);
    assert.deepEqual(after.map((r) => [r.id, r.status]), [['r3', 'running'], ['r2', 'interrupted'], ['r1', 'success']]);
    assert.match(after[1]!.finishedAt!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(after[1]!.error, 'it\'s "broken"\n'); // an existing error is kept
    assert.equal(after[2]!.finishedAt, '2024-01-06T10:05:00.000Z');
    assert.equal((await s.listRuns('Zeta', 10))[0]!.status, 'running'); // other connectors untouched

    await s.deleteConnector('acme');
    assert.equal(await s.getConnector('acme'), undefined);
    assert.equal(await s.getCursor('acme'), undefined);
    assert.deepEqual(await s.listRuns('acme', 10), []);
    assert.equal(await s.leaseHolder('acme'), undefined);
    assert.equal((await s.listConnectors()).length, 1);
  });
});
