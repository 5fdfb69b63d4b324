/**
 * What only PostgreSQL needs checked, against a real server (RAKUTEN_TEST_PG): the schema and
 * concurrent init, COPY of raw text (read back with SQL), per-day locks (parallel loads, two loads
 * of one window), byteLess against COLLATE "C", password masking, leases judged by the DB clock
 * across two pools, and the dashboard summaries (summary.ts): the reads never touch the fact
 * table, the summaries equal an aggregate of the facts (replaces, rows outside the window,
 * concurrent loads, a failed load, deletes), a database made before them is filled once; the
 * currency column: its migration (in place, concurrent, roles that do not own the tables) and
 * relabelCurrency against a load in flight. The rules every warehouse shares (replace, atomicity,
 * isolation, decimals, dimensions, currencies, the state store) are in
 * test/warehouse-contract.test.ts. Without a server this file is skipped locally, but fails under
 * CI: a silently skipped warehouse is a broken one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { rowsBody } from '../src/model/report-body.js';
import { COLUMN_INDEX, LOADED_COLUMNS, type LoadedColumn, REPORT_TABLE, type ReportRow } from '../src/model/schema.js';

const REPORT_COLUMNS = REPORT_TABLE.columns.map((c) => c.name);
import { addDays } from '../src/util/days.js';
import { ConnectorError } from '../src/util/errors.js';
import { coverageFrom, dayTotalsFrom, type RawCoverage, type RawDayTotals, type RawTopEntry, topEntryFrom } from '../src/warehouse/amounts.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { byteLess } from '../src/warehouse/postgres/dimensions.js';
import { openPostgres, WINDOW_DEFAULTS } from '../src/warehouse/postgres/warehouse.js';
import { csvBody } from './helpers/contract.js';
import type { StateStore, Warehouse, WindowLoad } from '../src/warehouse/types.js';
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Batches of `size` rows, `ms` apart; `started` resolves once the first batch is handed out. */
function slowBatches(rows: ReportRow[], size: number, ms: number): { batches: AsyncGenerator<ReportRow[]>; started: Promise<void> } {
  let start!: () => void;
  const started = new Promise<void>((r) => (start = r));
  const batches = async function* (): AsyncGenerator<ReportRow[]> {
    for await (const b of inBatches(rows, size)) {
      start();
      await sleep(ms);
      yield b;
    }
  };
  return { batches: batches(), started };
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

function load(connector: string, start: string, end = start, syncId = 'sync-1', currency = 'USD'): WindowLoad {
  return { connector, start, end, syncId, syncedAt: new Date('2024-03-01T12:34:56.789Z'), currency };
}

// ---------------------------------------------------------------------------------------------
// The dashboard summaries (src/warehouse/postgres/summary.ts)

const texts = async (c: pg.ClientBase, sql: string): Promise<string[]> => (await c.query(sql)).rows.map((r) => String(r.t));
const DAY_ORDER = '_connector COLLATE "C", _date';
const TOP_ORDER = '_connector COLLATE "C", _date, dimension, id COLLATE "C"';

/** The summary tables, each row as its record text (exact numerics, NULL as nothing), in key order. */
async function summaries(c: pg.ClientBase): Promise<{ day: string[]; top: string[] }> {
  return {
    day: await texts(c, `SELECT s::text AS t FROM rakuten_day_totals AS s ORDER BY ${DAY_ORDER}`),
    top: await texts(c, `SELECT s::text AS t FROM rakuten_day_top AS s ORDER BY ${TOP_ORDER}`),
  };
}

/** The reference name rule, spelled apart from summary.ts: the latest day, then the smallest name in byte order. */
const REF_NAME = (name: string, day: string): string => `(array_agg(${name} ORDER BY ${day} DESC, ${name} COLLATE "C") FILTER (WHERE ${name} IS NOT NULL))[1]`;
const TX_DAY = 'coalesce(transaction_date, _date)';

/** What the summaries must hold: a direct aggregate of the fact table, as records of the same columns. */
async function aggregateOfFacts(c: pg.ClientBase): Promise<{ day: string[]; top: string[] }> {
  return {
    day: await texts(c, `SELECT ROW(_connector, _date, count(*), sum(impressions), sum(clicks), sum(orders), sum(sales), sum(gross_commissions),
        sum(total_commissions), currency)::text AS t FROM rakuten_affiliate_report GROUP BY _connector, _date, currency ORDER BY ${DAY_ORDER}`),
    top: await texts(c, `SELECT ROW(_connector, _date, dimension, id, count(*), sum(sales), sum(total_commissions), ${REF_NAME('name', TX_DAY)},
        max(${TX_DAY}) FILTER (WHERE name IS NOT NULL), currency)::text AS t
      FROM (SELECT f.*, d.* FROM rakuten_affiliate_report AS f
        CROSS JOIN LATERAL (VALUES ('publisher', publisher_id, publisher_name), ('offer', offer_id, offer_name)) AS d(dimension, id, name)) AS u
      WHERE id IS NOT NULL GROUP BY _connector, _date, currency, dimension, id ORDER BY ${TOP_ORDER}`),
  };
}

/** dayTotals, both tops and coverage straight from the fact table (the reads before the summaries), formatted by amounts.ts. */
async function factReads(c: pg.ClientBase, connector: string | null, from: string, to: string, limit = 100): Promise<unknown> {
  const params = connector === null ? [from, to] : [from, to, connector];
  const where = `_date BETWEEN $1::date AND $2::date ${connector === null ? '' : 'AND _connector = $3'}`;
  const q = async (sql: string, ps = params) => (await c.query(sql, ps)).rows;
  // Ranked within each currency, `limit` of each, currencies in byte order.
  const top = async (dim: string) => (await q(`SELECT * FROM (SELECT _connector AS connector, currency, ${dim}_id AS id, ${REF_NAME(`${dim}_name`, TX_DAY)} AS name, count(*) AS rows,
      sum(sales)::text AS sales, sum(total_commissions)::text AS total_commissions,
      rank() OVER (PARTITION BY currency ORDER BY sum(sales) DESC NULLS LAST, ${dim}_id COLLATE "C", _connector COLLATE "C") AS n
    FROM rakuten_affiliate_report WHERE ${where} AND ${dim}_id IS NOT NULL
    GROUP BY _connector, currency, ${dim}_id) AS t WHERE n <= ${limit} ORDER BY currency COLLATE "C", n`)).map((r) => topEntryFrom(r as RawTopEntry));
  return {
    dayTotals: (await q(`SELECT _date::text AS day, currency, count(*) AS rows, ${['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions']
      .map((col) => `sum(${col})::text AS ${col}`).join(', ')} FROM rakuten_affiliate_report WHERE ${where} GROUP BY _date, currency ORDER BY _date, currency COLLATE "C"`)).map((r) => dayTotalsFrom(r as RawDayTotals)),
    top: { publisher: await top('publisher'), offer: await top('offer') },
    ...(connector === null ? {} : { coverage: coverageFrom((await q(`SELECT count(*) AS rows, count(DISTINCT _date) AS days, min(_date)::text AS first,
      max(_date)::text AS last FROM rakuten_affiliate_report WHERE _connector = $1`, [connector]))[0] as RawCoverage) }),
  };
}

/** The same through the warehouse (which reads the summaries). */
async function warehouseReads(wh: Warehouse, connector: string | null, from: string, to: string, limit = 100): Promise<unknown> {
  const top = (dim: 'publisher' | 'offer') => wh.top(dim, connector, from, to, limit);
  return {
    dayTotals: await wh.dayTotals(connector, from, to),
    top: { publisher: await top('publisher'), offer: await top('offer') },
    ...(connector === null ? {} : { coverage: await wh.coverage(connector) }),
  };
}

/** Rows whose names make the range rule matter: a later transaction_date on an earlier _date, ties on one day, no name at all. */
const nameRows = (connector: string): ReportRow[] => ([
  ['2024-04-01', 'late', 'Late (tx 04-09)', '2024-04-09', '1.5'], ['2024-04-05', 'late', 'Mid', '2024-04-05', '2'],
  ['2024-04-05', 'tie', 'b', null, null], ['2024-04-05', 'tie', 'B', null, null], ['2024-04-05', 'tie', null, null, '-0.0001'],
  ['2024-04-02', 'tie', 'A', '2024-04-05', null], // the same day by transaction_date, on another _date
  ['2024-04-03', 'nameless', null, null, '99999999999999.9999'],
] as const).map(([date, id, name, tx, sales]) =>
  row({ _date: date, transaction_date: tx, publisher_id: id, publisher_name: name, offer_id: `o-${connector}`, offer_name: name, sales, total_commissions: sales }));

/** A warehouse on `url` without its state store. */
async function warehouseOnly(url: string): Promise<Warehouse> {
  const o = await openPostgres(url);
  await o.state.close();
  return o.warehouse;
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
    // The schema's tables unqualified, as the warehouse sees them.
    admin = new pg.Client({ connectionString: db.url.replace(/\?.*$/, ''), options: '-c search_path=analytics' });
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
      for (const t of ['rakuten_affiliate_report', 'rakuten_publishers', 'rakuten_offers', 'rakuten_links', 'rakuten_day_totals', 'rakuten_day_top',
        'rakuten_connectors', 'rakuten_sync_state', 'rakuten_sync_runs']) {
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

  test('raw text as COPY stores it: _extra and _sync_id byte for byte, control characters, a 100 000-character value, \'\' apart from NULL', async () => {
    // The contract checks text through the reads; _extra and _sync_id are never read back there.
    const day = '2024-03-05';
    const nasty = [
      'tab\there', 'line\nbreak', 'cr\r\nlf', 'back\\slash', '\\N', '\\.', '\\', 'end\\', '"quoted", \'single\'', 'emoji 😀🇯🇵', '日本語テキスト',
      'Ünïcödé – “curly” € ©', ' leading and trailing ', '', ',;|', 'x'.repeat(100_000), '\\t literal backslash-t', 'NULL', 'null',
      '\u0001\u001f control', 'zero-width\u200bspace', '{"a":"b\\n"}',
    ];
    const rows = nasty.map((s, i) => row({ _date: day, order_id: String(i).padStart(3, '0'), publisher_id: s, publisher_name: s, link_name: s, _extra: s }));
    rows.push(row({ _date: day, order_id: '999' }));
    await wh.replaceWindow(load('text', day, day, 'sync\nid'), rowsBody(inBatches(rows, 3)));
    const got = await admin.query(
      `SELECT order_id, publisher_id, publisher_name, link_name, _extra, _sync_id FROM analytics.rakuten_affiliate_report
       WHERE _date = $1 AND _connector = 'text' ORDER BY order_id`,
      [day],
    );
    assert.equal(got.rows.length, nasty.length + 1);
    nasty.forEach((s, i) => {
      const r = got.rows[i]!;
      for (const col of ['publisher_id', 'publisher_name', 'link_name', '_extra']) assert.equal(r[col], s, `${col} #${i}`);
      assert.equal(r._sync_id, 'sync\nid');
    });
    const last = got.rows[nasty.length]!;
    assert.deepEqual([last.publisher_id, last.publisher_name, last._extra], [null, null, null]); // NULL stays NULL, '' stays ''
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
      const counts = await Promise.all(jobs.map((j) => wh.replaceWindow(load(j.c, j.day), rowsBody(yielding(j.rows)))));
      assert.deepEqual(counts, jobs.map(() => 1500));
    }
    for (const c of connectors) {
      const totals = await wh.dayTotals(c, days[0]!, days.at(-1)!);
      assert.deepEqual(totals.map((t) => [t.day, t.rows]), days.map((d) => [d, 1500]));
    }
    const n = await admin.query(`SELECT count(*)::int AS n FROM analytics.rakuten_affiliate_report WHERE _connector LIKE 'par-%'`);
    assert.equal(n.rows[0].n, jobs.length * 1500);
  });

  test('two loads of the same window at once (a lease lost mid-load): the per-day lock makes the later one wait, then it wins', async () => {
    // The contract accepts either load's rows; PostgreSQL's advisory locks pin which: the later one.
    const day = '2024-04-20';
    const first = genRows([day], 3000, 41);
    const second = genRows([day], 2000, 42);
    const slowFirst = slowBatches(first, 500, 20);
    const a = wh.replaceWindow(load('dup', day, day, 'old-owner'), rowsBody(slowFirst.batches));
    await slowFirst.started;
    const b = wh.replaceWindow(load('dup', '2024-04-19', '2024-04-21', 'new-owner'), rowsBody(inBatches(second)));
    assert.deepEqual(await Promise.all([a, b]), [3000, 2000]);
    const rows = await admin.query(`SELECT _sync_id, count(*)::int AS n FROM analytics.rakuten_affiliate_report WHERE _connector = 'dup' GROUP BY 1`);
    assert.deepEqual(rows.rows, [{ _sync_id: 'new-owner', n: 2000 }]);
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
      assert.deepEqual(warehouse.capabilities, { sharedState: true, canonicalCsv: true });
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

  const days = Array.from({ length: 7 }, (_, i) => addDays('2024-04-01', i));
  const assertInSync = async (message: string): Promise<void> => assert.deepEqual(await summaries(admin), await aggregateOfFacts(admin), message);
  const assertReads = async (connectors: (string | null)[], message: string): Promise<void> => {
    for (const c of connectors) {
      for (const [from, to] of [['2024-04-01', '2024-04-12'], ['2024-04-02', '2024-04-05'], ['2024-04-05', '2024-04-05'], ['2023-01-01', '2023-01-31']] as const) {
        for (const limit of [2, 100]) {
          assert.deepEqual(await warehouseReads(wh, c, from, to, limit), await factReads(admin, c, from, to, limit), `${message}: ${c} ${from}..${to} limit ${limit}`);
        }
      }
    }
  };

  test('the summaries equal an aggregate of the facts after replaces (rows outside the window included), concurrent windows, a failed replace and a delete; the reads equal reads of the facts', async () => {
    await wh.replaceWindow(load('sum-a', days[0]!, days.at(-1)!), rowsBody(inBatches([...genRows(days, 120, 1), ...nameRows('sum-a')], 97)));
    await wh.replaceWindow(load('sum-b', days[0]!, days.at(-1)!), rowsBody(inBatches([...genRows(days, 80, 2), ...nameRows('sum-b')])));
    await assertInSync('two connectors loaded');
    await assertReads(['sum-a', 'sum-b', null], 'two connectors loaded');
    // The name rules, spelled out: the latest transaction day across the range wins; ties to the smallest in byte order.
    const pub = async (from: string, to: string, id: string) => (await wh.top('publisher', 'sum-a', from, to, 100)).find((t) => t.id === id);
    assert.equal((await pub('2024-04-01', '2024-04-07', 'late'))?.name, 'Late (tx 04-09)');
    assert.equal((await pub('2024-04-05', '2024-04-05', 'tie'))?.name, 'B');
    assert.equal((await pub('2024-04-01', '2024-04-07', 'tie'))?.name, 'A');
    assert.deepEqual(await pub('2024-04-03', '2024-04-03', 'nameless'), { connector: 'sum-a', currency: 'USD', id: 'nameless', name: null, rows: 1, sales: '99999999999999.9999', total_commissions: '99999999999999.9999' });

    // A body that also holds rows of days outside its window: they are added to their days (04-05 has rows, 04-10 is new).
    const outside = [...genRows(['2024-04-03', '2024-04-04'], 50, 3), ...genRows(['2024-04-05'], 7, 4), ...genRows(['2024-04-10'], 9, 5)];
    assert.equal(await wh.replaceWindow(load('sum-a', '2024-04-03', '2024-04-04', 'sync-2'), rowsBody(inBatches(outside, 13))), 116);
    assert.equal((await wh.dayTotals('sum-a', '2024-04-05', '2024-04-05'))[0]?.rows, 120 + 4 + 7);
    assert.equal((await wh.dayTotals('sum-a', '2024-04-10', '2024-04-10'))[0]?.rows, 9);
    // An empty body empties its days.
    assert.equal(await wh.replaceWindow(load('sum-a', '2024-04-06', '2024-04-06', 'sync-3'), rowsBody(inBatches([]))), 0);
    assert.deepEqual(await wh.dayTotals('sum-a', '2024-04-06', '2024-04-06'), []);
    await assertInSync('after replaces');
    await assertReads(['sum-a', 'sum-b', null], 'after replaces');

    // A replace whose body throws mid-way: facts and summaries keep the old values.
    const before = await summaries(admin);
    const breaking = async function* (): AsyncGenerator<ReportRow[]> {
      yield genRows(['2024-04-01', '2024-04-02', '2024-04-20'], 40, 6).slice(0, 100);
      throw new Error('the report stream broke');
    };
    await assert.rejects(wh.replaceWindow(load('sum-b', '2024-04-01', '2024-04-03', 'sync-bad'), rowsBody(breaking())), /the report stream broke/);
    assert.deepEqual(await summaries(admin), before, 'a failed replace changes no summary');
    await assertInSync('after a failed replace');

    // Windows of one connector loaded at once, each adding rows to another's day: their refreshes queue, none is lost.
    for (let round = 0; round < 3; round++) {
      const jobs = ['2024-04-08', '2024-04-09', '2024-04-10'].map((d, i, all) => wh.replaceWindow(load('sum-b', d, d, `race-${round}`),
        rowsBody(inBatches([...genRows([d], 300, 10 + round * 3 + i), ...genRows([all[(i + 1) % all.length]!], 5, 20 + i)], 50))));
      assert.deepEqual(await Promise.all(jobs), [305, 305, 305]);
      await assertInSync(`concurrent windows, round ${round}`);
    }
    await assertReads(['sum-b', null], 'after concurrent windows');

    // A delete takes the connector's summaries; the other connector's stay.
    await wh.deleteConnectorData('sum-a');
    assert.deepEqual(await wh.coverage('sum-a'), { rows: 0, days: 0, firstDay: null, lastDay: null });
    const left = await summaries(admin);
    assert.ok(left.top.some((r) => r.startsWith('(sum-b,')) && ![...left.day, ...left.top].some((r) => r.startsWith('(sum-a,')));
    await assertInSync('after a delete');
    await assertReads(['sum-a', 'sum-b', null], 'after a delete');
  });

  test('canonical CSV straight into COPY (window columns from DEFAULTs, dimensions and top summary from one SQL scan) stores what the rows path stores', async () => {
    // Per day: varied rows (enough that the window is not "small": SMALL_CSV_BYTES) plus the
    // name-rule rows of that day (later transaction dates, ties, no name) and, on one day, cells
    // that CSV must keep apart (quotes, commas, line breaks, `\.` alone on a line inside a cell).
    const hostile = ['quote " inside', 'comma, inside', 'new\nline', 'cr\r\nlf', '"', '\\N', ' spaces ', 'a\n\\.\nb', '\\.'];
    const perDay = days.map((d, i) => [
      ...genRows([d], 600, 40 + i),
      ...nameRows('csv').filter((r) => r[COLUMN_INDEX._date] === d),
      ...(i === 1 ? hostile.map((h, k) => row({ _date: d, transaction_date: d, publisher_id: `h${k}`, publisher_name: h, offer_id: h, offer_name: h, link_name: h, _extra: h, sales: '1.5' })) : []),
    ]);
    for (const [i, d] of days.entries()) await wh.replaceWindow(load('via-rows', d), rowsBody(inBatches(perDay[i]!)));
    // In the same order: on a tie (one last day, two names) the later load's name wins, so windows
    // loaded at once may settle it either way (the contract suite covers concurrent windows).
    for (const [i, d] of days.entries()) await wh.replaceWindow(load('via-csv', d), csvBody(perDay[i]!, d, 37));
    await assertInSync('rows and csv loads');
    await assertReads(['via-csv'], 'csv loads');
    const facts = async (c: string) => texts(admin, `SELECT (${REPORT_COLUMNS.filter((n) => n !== '_connector').map((n) => `f.${n}`).join(', ')})::text AS t
      FROM rakuten_affiliate_report AS f WHERE _connector = '${c}'`).then((t) => t.sort());
    assert.deepEqual(await facts('via-csv'), await facts('via-rows'));
    const window = await admin.query(`SELECT DISTINCT _connector, _synced_at::text AS s, _sync_id FROM rakuten_affiliate_report WHERE _connector = 'via-csv'`);
    assert.deepEqual(window.rows, [{ _connector: 'via-csv', s: '2024-03-01 12:34:56.789+00', _sync_id: 'sync-1' }]);
    for (const t of ['rakuten_publishers', 'rakuten_offers', 'rakuten_links']) {
      const dims = async (c: string) => texts(admin, `SELECT (d.id, d.name, ${t === 'rakuten_publishers' ? 'd.url, ' : ''}d.first_seen, d.last_seen)::text AS t FROM ${t} AS d WHERE _connector = '${c}' ORDER BY id COLLATE "C"`);
      const got = await dims('via-csv');
      assert.ok(got.length > 0, t);
      assert.deepEqual(got, await dims('via-rows'), t);
    }
    const sums = async (c: string) => (await summaries(admin)).top.filter((r) => r.startsWith(`(${c},`)).map((r) => r.slice(c.length + 2));
    assert.deepEqual(await sums('via-csv'), await sums('via-rows'));
    // A CSV body that breaks, or a value the server refuses, mid-COPY: the day keeps its rows.
    const before = await facts('via-csv');
    const boom = new Error('csv download broke');
    const failing = csvBody(perDay[4]!, days[4]!, 100);
    await assert.rejects(wh.replaceWindow(load('via-csv', days[4]!, days[4]!, 'sync-bad'), {
      format: 'canonical-csv',
      parts: (async function* () {
        let n = 0;
        for await (const p of failing.format === 'canonical-csv' ? failing.parts : []) {
          if (n++ === 5) throw boom;
          yield p;
        }
      })(),
    }), (e) => e === boom);
    const tooBig = [...perDay[4]!.slice(0, 500), row({ _date: days[4]!, sales: '100000000000000.0000' }), ...perDay[4]!.slice(500)];
    await assert.rejects(wh.replaceWindow(load('via-csv', days[4]!, days[4]!, 'sync-bad'), csvBody(tooBig, days[4]!, 50)), /numeric field overflow/);
    assert.deepEqual(await facts('via-csv'), before);
    await assertInSync('after failed csv loads');
    // A replace of one day by CSV, then an empty CSV body: the old rows go, summaries follow.
    await wh.replaceWindow(load('via-csv', days[2]!, days[2]!, 'sync-2'), csvBody(perDay[2]!.slice(0, 550), days[2]!));
    assert.equal(await wh.replaceWindow(load('via-csv', days[3]!), csvBody([], days[3]!)), 0);
    assert.deepEqual((await wh.dayTotals('via-csv', days[2]!, days[3]!)).map((d) => d.rows), [550]);
    await assertInSync('after csv replaces');
    // Outside a load the DEFAULTs give NULL (the currency ''), also on a session that ran a load's set_config before.
    for (const leftover of [false, true]) {
      if (leftover) {
        await admin.query('BEGIN');
        await admin.query(`SELECT set_config('rakuten.connector', 'leftover', true), set_config('rakuten.day', '2024-01-01', true), set_config('rakuten.currency', 'JPY', true)`);
        await admin.query('COMMIT');
      }
      await admin.query('BEGIN');
      const ins = await admin.query(`INSERT INTO rakuten_affiliate_report (order_id) VALUES ('x') RETURNING _connector, _date, _synced_at, _sync_id, currency`);
      await admin.query('ROLLBACK');
      assert.deepEqual(ins.rows, [{ _connector: null, _date: null, _synced_at: null, _sync_id: null, currency: '' }]);
    }
    const labels = await admin.query(`SELECT DISTINCT currency FROM rakuten_affiliate_report WHERE _connector IN ('via-csv', 'via-rows')`);
    assert.deepEqual(labels.rows, [{ currency: 'USD' }], 'both paths write the load\'s currency');
    await wh.deleteConnectorData('via-csv');
    await wh.deleteConnectorData('via-rows');
  });

  test('the DEFAULTs are added to a table made without them (idempotently, many processes at once); a role that cannot add them loads canonical CSV by the rows path', async () => {
    const url = db.url.replace('schema=analytics', 'schema=old_defaults');
    const first = await warehouseOnly(url);
    await first.init();
    await first.close();
    const cols = Object.keys(WINDOW_DEFAULTS);
    // As a version before the DEFAULTs made it.
    await admin.query(`ALTER TABLE old_defaults.rakuten_affiliate_report ${cols.map((c) => `ALTER COLUMN ${c} DROP DEFAULT`).join(', ')}`);
    const defaults = async () => texts(admin, `SELECT a.attname || '=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS t FROM pg_attribute AS a
      LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = 'old_defaults.rakuten_affiliate_report'::regclass AND a.attname = ANY('{${cols.join(',')}}') ORDER BY 1`);
    assert.ok((await defaults()).every((d) => d.endsWith('=')));
    const many = await Promise.all([0, 1, 2].map(() => warehouseOnly(url)));
    await Promise.all(many.map((w) => w.init()));
    await Promise.all(many.map((w) => w.close()));
    const added = await defaults();
    assert.ok(added.every((d) => /rakuten_window_\w+\('rakuten\./.test(d)), added.join('\n'));
    // A role that may load but does not own the table: init still works, CSV bodies take the rows path.
    const role = `rc_noowner_${process.pid}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await admin.query(`GRANT USAGE ON SCHEMA old_defaults TO ${role}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA old_defaults TO ${role}`);
      await admin.query(`ALTER TABLE old_defaults.rakuten_affiliate_report ${cols.map((c) => `ALTER COLUMN ${c} DROP DEFAULT`).join(', ')}`);
      const u = new URL(url);
      u.username = role;
      const limited = await warehouseOnly(u.toString());
      try {
        await limited.init();
        const rows = genRows([days[0]!], 50, 77);
        assert.equal(await limited.replaceWindow(load('limited', days[0]!), csvBody(rows, days[0]!)), 50);
        assert.deepEqual((await limited.dayTotals('limited', days[0]!, days[0]!)).map((d) => d.rows), [50]);
      } finally {
        await limited.close();
      }
      assert.ok((await defaults()).every((d) => d.endsWith('=')), 'the limited role changed nothing');
    } finally {
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  test('a delete while a load of the connector is in flight waits for it, then removes its rows too: facts and summaries agree', async () => {
    const slow = slowBatches(genRows(['2024-05-01'], 2000, 31), 250, 15);
    const loaded = wh.replaceWindow(load('sum-del', '2024-05-01'), rowsBody(slow.batches));
    await slow.started;
    await Promise.all([wh.deleteConnectorData('sum-del'), loaded.then((n) => assert.equal(n, 2000))]);
    assert.deepEqual((await admin.query(`SELECT count(*)::int AS n FROM rakuten_affiliate_report WHERE _connector = 'sum-del'`)).rows, [{ n: 0 }]);
    assert.deepEqual(await wh.coverage('sum-del'), { rows: 0, days: 0, firstDay: null, lastDay: null });
    await assertInSync('a delete racing a load');
  });

  test('the dashboard reads never touch the fact table: they answer while another session holds it ACCESS EXCLUSIVE', async () => {
    await wh.replaceWindow(load('sum-lock', days[0]!, days.at(-1)!), rowsBody(inBatches(genRows(days, 50, 7))));
    const [from, to] = [days[0]!, days.at(-1)!];
    const expected = [await factReads(admin, null, from, to, 10), await factReads(admin, 'sum-lock', from, to, 10)];
    const locker = new pg.Client({ connectionString: db.url.replace(/\?.*$/, ''), options: '-c search_path=analytics' });
    await locker.connect();
    let timer: NodeJS.Timeout | undefined;
    let reads: Promise<unknown> = Promise.resolve();
    try {
      await locker.query('BEGIN; LOCK TABLE rakuten_affiliate_report IN ACCESS EXCLUSIVE MODE');
      // Every read the dashboard makes (dayTotals, both tops, coverage), for all connectors and for one.
      reads = Promise.all([warehouseReads(wh, null, from, to, 10), warehouseReads(wh, 'sum-lock', from, to, 10)]);
      const got = await Promise.race([reads, new Promise<'blocked'>((r) => (timer = setTimeout(() => r('blocked'), 5000)))]);
      assert.notEqual(got, 'blocked', 'a dashboard read waited for the locked fact table: it reads the facts');
      assert.deepEqual(got, expected);
    } finally {
      clearTimeout(timer);
      await locker.query('ROLLBACK').finally(() => locker.end());
      await reads.catch(() => undefined);
    }
  });

  test('a database made before the summaries: init creates and fills them from the facts, once, however many processes init at the same moment', async () => {
    const [old, days] = [await createTestPostgresUrl(), Array.from({ length: 10 }, (_, i) => addDays('2024-04-01', i))];
    const admin = new pg.Client({ connectionString: old.url });
    const opened = await Promise.all([0, 1, 2, 3, 4].map(() => warehouseOnly(old.url)));
    const [first, ...many] = opened as [Warehouse, ...Warehouse[]];
    try {
      await admin.connect();
      await first.init();
      await first.replaceWindow(load('old-a', days[0]!, days.at(-1)!), rowsBody(inBatches([...genRows(days, 200, 51), ...nameRows('old-a')])));
      await first.replaceWindow(load('old-b', days[2]!, days[5]!), rowsBody(inBatches([...genRows(days.slice(2, 6), 90, 52), ...genRows(['2024-06-01'], 3, 53)])));
      const reads = async (read: (c: string | null, from: string, to: string, limit?: number) => Promise<unknown>): Promise<unknown[]> => {
        const out: unknown[] = [];
        for (const c of [null, 'old-a', 'old-b', 'nobody']) out.push(await read(c, days[0]!, '2024-06-30'), await read(c, days[3]!, days[4]!, 3));
        return out;
      };
      const was = await reads((...a) => factReads(admin, ...a));
      assert.deepEqual(await reads((...a) => warehouseReads(first, ...a)), was);
      const filled = await summaries(admin);

      // The layout of the code before the summaries: fact and dimension tables only.
      await admin.query('DROP TABLE rakuten_day_totals, rakuten_day_top');
      await Promise.all(many.map((w) => w.init()));
      assert.deepEqual(await summaries(admin), filled, 'filled once, as the loads had kept them');
      assert.deepEqual(await summaries(admin), await aggregateOfFacts(admin));
      assert.deepEqual(await reads((...a) => warehouseReads(many[0]!, ...a)), was, 'the reads are what they were');

      // One table (or an index) missing: only that is made, and filled; init again changes nothing.
      await admin.query('DROP TABLE rakuten_day_top; DROP INDEX rakuten_day_totals_date_idx');
      await Promise.all(many.map((w) => w.init()));
      await many[1]!.init();
      assert.deepEqual(await summaries(admin), filled);
      const idx = await admin.query(`SELECT indexname FROM pg_indexes WHERE tablename IN ('rakuten_day_totals', 'rakuten_day_top') ORDER BY 1`);
      assert.deepEqual(idx.rows.map((r) => r.indexname), ['rakuten_day_top_dimension_date_idx', 'rakuten_day_top_pkey', 'rakuten_day_totals_date_idx', 'rakuten_day_totals_pkey']);
      // And the loads keep them from there.
      await many[2]!.replaceWindow(load('old-a', days[1]!, days[1]!, 'sync-new'), rowsBody(inBatches(genRows([days[1]!], 11, 54))));
      assert.deepEqual(await summaries(admin), await aggregateOfFacts(admin));
    } finally {
      await Promise.all(opened.map((w) => w.close()));
      await admin.end();
      await old.drop();
    }
  });
  test('tables made before the currency column: init adds it to all three in place (no rewrite, rows read \'\' whatever a setting says at ALTER time), once, many processes at once, as a new table has it', async () => {
    const fresh = await createTestPostgresUrl();
    const name = new URL(fresh.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: fresh.url });
    const TABLES = ['rakuten_affiliate_report', 'rakuten_day_totals', 'rakuten_day_top'];
    const first = await warehouseOnly(fresh.url);
    try {
      await admin.connect();
      await first.init();
      await first.replaceWindow(load('mig-rows', days[0]!, days[2]!), rowsBody(inBatches(genRows(days.slice(0, 3), 40, 61))));
      await first.replaceWindow(load('mig-csv', days[1]!, days[1]!, 'sync-1', 'EUR'), csvBody(genRows([days[1]!], 600, 62), days[1]!));
      await first.close();
      /** Each table's currency column as the catalog has it: position among the live columns, NOT NULL, DEFAULT. */
      const layout = async () => texts(admin, `SELECT c.relname || ':' || (SELECT count(*) FROM pg_attribute AS b WHERE b.attrelid = a.attrelid AND b.attnum > 0
          AND NOT b.attisdropped AND b.attnum > a.attnum) || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS t
        FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relname = ANY('{${TABLES.join(',')}}') AND a.attname = 'currency' AND NOT a.attisdropped ORDER BY 1`);
      const made = await layout();
      assert.deepEqual(made, ["rakuten_affiliate_report:0:true:rakuten_window_label('rakuten.currency'::text)", "rakuten_day_top:0:true:''::text", "rakuten_day_totals:0:true:''::text"]);
      // The previous version's tables; and a setting every new session starts with: it must not become the old rows' currency.
      for (const t of TABLES) await admin.query(`ALTER TABLE ${t} DROP COLUMN currency`);
      await admin.query(`ALTER DATABASE ${name} SET rakuten.currency = 'XXX'`);
      const files = async () => texts(admin, `SELECT relname || '=' || relfilenode AS t FROM pg_class WHERE relname = ANY('{${TABLES.join(',')}}') ORDER BY 1`);
      const filesBefore = await files();
      const many = await Promise.all([0, 1, 2, 3].map(() => warehouseOnly(fresh.url)));
      try {
        await Promise.all(many.map((w) => w.init()));
        assert.deepEqual(await files(), filesBefore, 'no table was rewritten');
        assert.deepEqual(await layout(), made, 'the same column as a new table has');
        const labels = await texts(admin, `SELECT DISTINCT currency AS t FROM rakuten_affiliate_report UNION SELECT DISTINCT currency FROM rakuten_day_totals UNION SELECT DISTINCT currency FROM rakuten_day_top`);
        assert.deepEqual(labels, ['']);
        assert.deepEqual([...await many[0]!.connectorCurrencies()], [['mig-csv', ['']], ['mig-rows', ['']]]);
        assert.deepEqual(await summaries(admin), await aggregateOfFacts(admin));
        assert.deepEqual((await many[0]!.dayTotals(null, days[0]!, days[2]!)).map((d) => [d.day, d.currency, d.rows]),
          [[days[0], '', 40], [days[1], '', 640], [days[2], '', 40]], 'unlabelled rows of two connectors are one currency, \'\'');
        await many[1]!.init(); // again: nothing to do
        await many[1]!.relabelCurrency('mig-csv', 'EUR');
        await many[2]!.relabelCurrency('mig-rows', 'USD');
        assert.deepEqual([...await many[0]!.connectorCurrencies()], [['mig-csv', ['EUR']], ['mig-rows', ['USD']]]);
        // Both load paths on the migrated tables (the session's 'XXX' is overridden by each load).
        await many[3]!.replaceWindow(load('mig-csv', days[2]!, days[2]!, 'sync-2', 'EUR'), csvBody(genRows([days[2]!], 600, 63), days[2]!));
        await many[3]!.replaceWindow(load('mig-rows', days[3]!, days[3]!, 'sync-2'), rowsBody(inBatches(genRows([days[3]!], 30, 64))));
        assert.deepEqual(await texts(admin, `SELECT _connector || ':' || currency || ':' || count(*) AS t FROM rakuten_affiliate_report GROUP BY _connector, currency ORDER BY 1`),
          ['mig-csv:EUR:1200', 'mig-rows:USD:150']);
        assert.deepEqual(await summaries(admin), await aggregateOfFacts(admin));
      } finally {
        await Promise.all(many.map((w) => w.close()));
      }
    } finally {
      await first.close();
      await admin.end();
      await fresh.drop();
    }
  });

  test('a role that does not own the tables: with the currency column there it loads, relabels and reads; without it init still succeeds and loads say what to do', async () => {
    const url = db.url.replace('schema=analytics', 'schema=cur_noowner');
    const owner = await warehouseOnly(url);
    await owner.init();
    await owner.replaceWindow(load('noowner', days[0]!), rowsBody(inBatches(genRows([days[0]!], 20, 71))));
    await owner.close();
    const role = `rc_curnoowner_${process.pid}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await admin.query(`GRANT USAGE ON SCHEMA cur_noowner TO ${role}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA cur_noowner TO ${role}`);
      const u = new URL(url);
      u.username = role;
      const limited = await warehouseOnly(u.toString());
      try {
        await limited.init();
        await limited.relabelCurrency('noowner', 'GBP');
        assert.equal(await limited.replaceWindow(load('noowner', days[1]!, days[1]!, 'sync-1', 'GBP'), csvBody(genRows([days[1]!], 600, 72), days[1]!)), 600);
        assert.deepEqual((await limited.dayTotals('noowner', days[0]!, days[1]!)).map((d) => [d.day, d.currency]), [[days[0], 'GBP'], [days[1], 'GBP']]);
        // The previous version's tables, and no owner around to migrate them.
        for (const t of ['rakuten_affiliate_report', 'rakuten_day_totals', 'rakuten_day_top']) await admin.query(`ALTER TABLE cur_noowner.${t} DROP COLUMN currency`);
        await limited.close();
        const stale = await warehouseOnly(u.toString());
        try {
          await stale.init();
          await assert.rejects(stale.replaceWindow(load('noowner', days[2]!), rowsBody(inBatches(genRows([days[2]!], 5, 73)))),
            (e: unknown) => e instanceof ConnectorError && e.kind === 'config' && /currency/.test(e.message) && /owner/.test(e.hint ?? ''));
          await assert.rejects(stale.connectorCurrencies(), (e: unknown) => e instanceof ConnectorError && e.kind === 'config');
          assert.equal((await stale.coverage('noowner')).rows, 620, 'coverage needs no currency');
        } finally {
          await stale.close();
        }
      } finally {
        await limited.close();
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  test('a load in another currency is refused before it changes anything; rows in \'\' take it, except rows appended onto an unlabelled day (two currencies in one day: a ConnectorError)', async () => {
    await wh.replaceWindow(load('two-cur', days[0]!, days[1]!), rowsBody(inBatches(genRows([days[0]!, days[1]!], 20, 91))));
    const facts = () => texts(admin, `SELECT to_char(_date, 'YYYY-MM-DD') || ':' || currency || ':' || count(*) AS t FROM rakuten_affiliate_report WHERE _connector = 'two-cur' GROUP BY _date, currency ORDER BY 1`);
    const before = await facts();
    await assert.rejects(wh.replaceWindow(load('two-cur', days[2]!, days[2]!, 'sync-2', 'GBP'), rowsBody(inBatches(genRows([days[2]!], 5, 92)))),
      (e: unknown) => e instanceof ConnectorError && e.kind === 'internal' && e.message === 'connector two-cur: a load in GBP while its rows are in USD' && /relabel/.test(e.hint ?? ''));
    assert.deepEqual(await facts(), before);
    // Rows as a worker of the version before the column leaves them (''): a load in GBP goes in…
    for (const t of ['rakuten_affiliate_report', 'rakuten_day_totals', 'rakuten_day_top']) await admin.query(`UPDATE ${t} SET currency = '' WHERE _connector = 'two-cur'`);
    assert.equal(await wh.replaceWindow(load('two-cur', days[1]!, days[1]!, 'sync-3', 'GBP'), rowsBody(inBatches(genRows([days[1]!], 7, 93)))), 7);
    // …but not rows appended onto a day still in '' (its summary row would be in two currencies).
    const appended = [...genRows([days[2]!], 3, 94), ...genRows([days[0]!], 2, 95)];
    const mid = await facts();
    await assert.rejects(wh.replaceWindow(load('two-cur', days[2]!, days[2]!, 'sync-4', 'GBP'), rowsBody(inBatches(appended))),
      (e: unknown) => e instanceof ConnectorError && e.kind === 'internal' && /two currencies/.test(e.message) && /relabel/.test(e.hint ?? ''));
    assert.deepEqual(await facts(), mid, 'the failed load changed nothing');
    assert.deepEqual([...(await wh.connectorCurrencies())].filter(([c]) => c === 'two-cur'), [['two-cur', ['', 'GBP']]]);
    await wh.relabelCurrency('two-cur', 'GBP');
    assert.equal(await wh.replaceWindow(load('two-cur', days[2]!, days[2]!, 'sync-5', 'GBP'), rowsBody(inBatches(appended))), 5);
    await assertInSync('after the currency refusals');
    await wh.deleteConnectorData('two-cur');
  });

  test('relabelCurrency waits for a load of its connector in flight (and the load\'s rows are relabelled too), not for another connector\'s', async () => {
    await wh.replaceWindow(load('rel-a', days[0]!), rowsBody(inBatches(genRows([days[0]!], 30, 81))));
    await wh.replaceWindow(load('rel-b', days[0]!), rowsBody(inBatches(genRows([days[0]!], 30, 82))));
    const slow = slowBatches(genRows([days[1]!], 2000, 83), 250, 40);
    let loadDone = false;
    const loading = wh.replaceWindow(load('rel-a', days[1]!), rowsBody(slow.batches)).then((n) => ((loadDone = true), n));
    await slow.started;
    await wh.relabelCurrency('rel-b', 'CHF');
    assert.equal(loadDone, false, 'another connector\'s relabel did not wait for the load');
    await wh.relabelCurrency('rel-a', 'CAD');
    assert.equal(loadDone, true, 'the relabel waited for the load of its connector');
    assert.equal(await loading, 2000);
    const got = await texts(admin, `SELECT _connector || ':' || currency || ':' || count(*) AS t FROM rakuten_affiliate_report WHERE _connector LIKE 'rel-%' GROUP BY _connector, currency ORDER BY 1`);
    assert.deepEqual(got, ['rel-a:CAD:2030', 'rel-b:CHF:30']);
    await assertInSync('after relabels');
    await wh.deleteConnectorData('rel-a');
    await wh.deleteConnectorData('rel-b');
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

  test('lease expiry comes from the DB clock: now() + ttl', async () => {
    assert.equal(await a.state.acquireLease('exp', 'owner-1', 400), true);
    const h = await b.state.leaseHolder('exp');
    assert.equal(h?.owner, 'owner-1');
    const pc = new pg.Client({ connectionString: db.url });
    await pc.connect();
    const { rows } = await pc.query(`SELECT extract(epoch FROM now()) * 1000 AS now`);
    await pc.end();
    const delta = Date.parse(h!.expiresAt) - Number(rows[0].now);
    assert.ok(delta > 0 && delta <= 400, `expires in ${delta} ms`);
    await a.state.releaseLease('exp', 'owner-1');
  });
});
