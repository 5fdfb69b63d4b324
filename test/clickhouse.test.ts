/**
 * What only ClickHouse needs checked, against real servers (scripts/clickhouse.sh start-single /
 * start-cluster): moneyText, URL parsing and password masking, the schema, staging tables (dropped
 * by init, none left by a load), each day wholly old or wholly new while a replace runs, raw text
 * as stored, the versioned storage (partitions by month, superseded and failed loads cancelled,
 * a deleted connector's rows removed but not those of its new loads), Date-range refusal, shard
 * placement on the cluster, the currency column (its migration on every server, two inits at once,
 * relabel's mutations), and ?state=postgres. The rules
 * every warehouse shares (replace, atomicity, isolation, decimals, dimensions, ties, text through
 * the reads) are in test/warehouse-contract.test.ts. Without a server the tests skip, except under
 * CI (CI set), where they fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CsvPart, type ReportBody, rowsBody } from '../src/model/report-body.js';
import { LOADED_COLUMNS, REPORT_TABLE, type ReportRow } from '../src/model/schema.js';
import { addDays } from '../src/util/days.js';
import { ConnectorError } from '../src/util/errors.js';
import { moneyText } from '../src/warehouse/amounts.js';
import { ChServer, ident, parseClickHouseUrl, str } from '../src/warehouse/clickhouse/connection.js';
import type { ClickHouseWarehouse } from '../src/warehouse/clickhouse/warehouse.js';
import { openWithoutInit as openClickHouse } from '../src/warehouse/registry.js';
import type { StateStore, WindowLoad } from '../src/warehouse/types.js';
import { clickHouseAvailable, createTestClickHouseUrl, testServers } from './helpers/clickhouse.js';
import { createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';
import { csvBody } from './helpers/contract.js';
import { readReport } from '../src/rakuten/report-reader.js';
import { CANONICAL_HEADERS } from '../src/simulator/index.js';
import { SMALL_CSV_BYTES } from '../src/warehouse/clickhouse/csv-load.js';
import { Layout, modelViews, ROWS_TABLE, TOP_ROWS_TABLE, VERSIONS_TABLE } from '../src/warehouse/clickhouse/schema.js';

const COL = Object.fromEntries(LOADED_COLUMNS.map((c, i) => [c.name, i])) as Record<(typeof LOADED_COLUMNS)[number]['name'], number>;

type Cells = Partial<Record<(typeof LOADED_COLUMNS)[number]['name'], string | null>>;

function row(day: string, cells: Cells = {}): ReportRow {
  const r: ReportRow = new Array(LOADED_COLUMNS.length).fill(null);
  r[COL._date] = day;
  r[COL.transaction_date] = day;
  for (const [k, v] of Object.entries(cells)) r[COL[k as keyof typeof COL]] = v;
  return r;
}

async function* batches(rows: ReportRow[], size = 1000, failAfter?: number): AsyncGenerator<ReportRow[]> {
  let sent = 0;
  for (let i = 0; i < rows.length; i += size) {
    if (failAfter !== undefined && sent >= failAfter) throw new Error('report download broke');
    const b = rows.slice(i, i + size);
    sent += b.length;
    yield b;
  }
  if (failAfter !== undefined) throw new Error('report download broke');
}

function load(connector: string, start: string, end: string, syncId = 'sync-1', currency = 'USD'): WindowLoad {
  return { connector, start, end, syncId, syncedAt: new Date('2026-03-01T12:34:56.789Z'), currency };
}

/**
 * Deterministic pseudo-random rows: several days, publishers, offers, nulls, negatives. Names
 * depend on (id, day, tag) only, so "the name on the latest day" has one answer in every database.
 */
function sampleRows(start: string, days: number, perDay: number, seed: number, tag = `t${seed}`): ReportRow[] {
  let s = seed >>> 0;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
  const out: ReportRow[] = [];
  for (let d = 0; d < days; d++) {
    const day = addDays(start, d);
    for (let i = 0; i < perDay; i++) {
      const pub = `p${rnd(7)}`;
      const off = rnd(10) === 0 ? null : `o${rnd(5)}`;
      const link = `l${rnd(20)}`;
      // Some rows have no transaction date: the dimensions fall back to _date.
      const tx = rnd(9) === 0 ? null : addDays(day, -rnd(3));
      const seen = tx ?? day;
      const money = () => (rnd(8) === 0 ? null : `${rnd(3) === 0 ? '-' : ''}${rnd(100000)}.${String(rnd(10000)).padStart(4, '0')}`);
      out.push(
        row(day, {
          transaction_date: tx,
          order_id: rnd(4) === 0 ? null : `ord-${d}-${i}`,
          publisher_id: pub,
          publisher_name: rnd(6) === 0 ? null : `Publisher ${pub} ${seen} ${tag}`,
          publisher_url: rnd(6) === 0 ? null : `https://${pub}.example/${seen}/${tag}`,
          offer_id: off,
          offer_name: off ? `Offer ${off} ${seen} ${tag}` : null,
          link_id: link,
          link_name: rnd(5) === 0 ? null : `Link ${link} ${seen} ${tag}`,
          impressions: rnd(7) === 0 ? null : String(rnd(100000)),
          clicks: String(rnd(1000)),
          orders: rnd(3) === 0 ? null : String(rnd(20) - 2),
          sales: money(),
          gross_commissions: money(),
          total_commissions: money(),
          _extra: rnd(5) === 0 ? JSON.stringify({ note: `x\t${i}` }) : null,
        }),
      );
    }
  }
  return out;
}

const HOSTILE = [
  'tab\there',
  'new\nline',
  'carriage\rreturn\r\n',
  `quotes ' " \` '' ""`,
  'back\\slash \\N \\t \\\\',
  '\\N',
  'emoji 🎉👩‍💻 ünïcødé 日本語',
  'comma, semicolon; pipe|',
  '  spaces kept inside  ',
  "Robert'); DROP TABLE rakuten_affiliate_report;--",
  '\u0000nul and \u0001 control',
];

interface Ctx {
  url: string;
  wh: ClickHouseWarehouse;
  state: StateStore;
  server: ChServer;
  db: string;
  home: string;
  drop(): Promise<void>;
}

async function open(cluster: boolean): Promise<Ctx> {
  const { url, drop } = await createTestClickHouseUrl({ cluster });
  const home = mkdtempSync(join(tmpdir(), 'rc-ch-'));
  const { warehouse, state } = await openClickHouse(url, home);
  await warehouse.init();
  await state.init();
  const t = parseClickHouseUrl(url);
  return {
    url,
    wh: warehouse as ClickHouseWarehouse,
    state,
    server: new ChServer(t, t.host, t.port),
    db: t.database,
    home,
    drop: async () => {
      await warehouse.close();
      await state.close();
      rmSync(home, { recursive: true, force: true });
      await drop();
    },
  };
}

async function rawRows(ctx: Ctx, sql: string): Promise<Record<string, unknown>[]> {
  return ctx.server.rows(sql.replace(/\$db\./g, `${ident(ctx.db)}.`));
}

test('moneyText pads what newer servers trim', () => {
  assert.equal(moneyText('12.5'), '12.5000');
  assert.equal(moneyText('-3'), '-3.0000');
  assert.equal(moneyText('0'), '0.0000');
  assert.equal(moneyText('199999999999999.9998'), '199999999999999.9998');
});

test('URLs: defaults, options, and the password never shows', async () => {
  const t = parseClickHouseUrl('clickhouses://ana:s%3Acret%40pw@ch.example:9440/analytics?cluster=main');
  assert.equal(t.scheme, 'https');
  assert.equal(t.user, 'ana');
  assert.equal(t.password, 's:cret@pw');
  assert.equal(t.database, 'analytics');
  assert.equal(t.cluster, 'main');
  const { warehouse, state } = await openClickHouse('clickhouse://ana:hunter2-secret@127.0.0.1:1/analytics', mkdtempSync(join(tmpdir(), 'rc-ch-')));
  try {
    assert.equal(warehouse.location, 'clickhouse://ana@127.0.0.1:1/analytics');
    assert.equal(warehouse.kind, 'clickhouse');
    await assert.rejects(warehouse.init(), (e: Error & { kind?: string }) => {
      assert.equal(e.kind, 'network');
      assert.doesNotMatch(`${e.message} ${e.stack}`, /hunter2/);
      return true;
    });
  } finally {
    await warehouse.close();
    await state.close();
  }
  assert.equal(parseClickHouseUrl('clickhouse://h/db').port, 8123);
  assert.throws(() => parseClickHouseUrl('clickhouse://u:pw-in-bad-url@h/db?bogus=1'), /unknown ClickHouse URL option "bogus"/);
  assert.throws(
    () => parseClickHouseUrl('clickhouse://u:pw@[bad'),
    (e: Error) => !e.message.includes('pw') && /not a valid URL/.test(e.message),
  );
});

describe('clickhouse relabel, against a scripted server (no ClickHouse needed)', () => {
  /** A server whose counts always find rows to relabel, and whose mutations are `mutation` once queued. */
  const scripted = (failReasonColumn: boolean, mutation: { is_done: number; fail: string }) => {
    const seen: string[] = [];
    let queued = false;
    const server = {
      label: 'scripted:8123',
      async rows(sql: string) {
        seen.push(sql);
        if (sql.includes('system.columns')) return failReasonColumn ? [{ name: 'latest_fail_reason' }] : [];
        if (sql.includes('system.mutations')) return queued ? [{ table: ROWS_TABLE, mutation_id: 'mutation_7.txt', ...mutation }] : [];
        return [0, 1, 2].map((i) => ({ i, n: i === 0 ? '5' : '0' }));
      },
      async run(sql: string) {
        seen.push(sql);
        if (sql.includes(' UPDATE ')) queued = true;
      },
    };
    return { seen, shards: [{ num: 1, weight: 1, server: server as unknown as ChServer }] };
  };

  test('a mutation the server says failed (latest_fail_reason) throws at once, not after the 15-minute wait', async () => {
    const { relabel } = await import('../src/warehouse/clickhouse/currency.js');
    const { seen, shards } = scripted(true, { is_done: 0, fail: 'Code: 241, Memory limit exceeded' });
    const t0 = Date.now();
    await assert.rejects(relabel(new Layout('db', null), shards, 'c', 'EUR'), (e: unknown) =>
      e instanceof ConnectorError && e.kind === 'server' && /failed/.test(e.message) && /Memory limit exceeded/.test(e.message) && /system\.mutations/.test(e.hint ?? ''));
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(seen.some((q) => q.includes('latest_fail_reason') && q.includes('system.mutations')));
  });

  test('a server without latest_fail_reason (18.16) is not asked for it; the versions table is counted and updated for versions with rows only', async () => {
    const { relabel } = await import('../src/warehouse/clickhouse/currency.js');
    const { seen, shards } = scripted(false, { is_done: 1, fail: '' });
    // The scripted counts never reach 0: after its rounds relabel gives up, having waited for nothing.
    await assert.rejects(relabel(new Layout('db', null), shards, 'c', 'EUR'), /keep another currency/);
    assert.ok(!seen.some((q) => q.includes('system.mutations') && q.includes('latest_fail_reason')));
    const count = seen.find((q) => q.includes('count()'))!;
    assert.match(count, new RegExp(`FROM \`db\`\\.\`${VERSIONS_TABLE}\` WHERE [^)]*AND rows > 0`));
    assert.match(count, new RegExp(`FROM \`db\`\\.\`${ROWS_TABLE}\` WHERE _connector = 'c' AND \`currency\` != 'EUR'\\)? ?(UNION|$)`));
  });
});

for (const cluster of [false, true]) {
  const label = cluster ? 'ClickHouse two-shard cluster' : 'ClickHouse single server';
  const available = await clickHouseAvailable(cluster);
  if (!available && process.env.CI) {
    test(`${label} is reachable`, () => {
      assert.fail(`${label} is not answering: run scripts/clickhouse.sh ${cluster ? 'start-cluster' : 'start-single'}`);
    });
    continue;
  }

  describe(label, { skip: available ? false : `no ${label} (scripts/clickhouse.sh start)`, concurrency: false }, () => {
    let ctx: Ctx;
    before(async () => {
      ctx = await open(cluster);
    });
    after(async () => {
      await ctx?.drop();
    });

    test('init is idempotent, follows the model and drops staging tables of dead loads', async () => {
      const stale = 'rakuten_stage_1000_deadbeef';
      const live = `rakuten_stage_${Date.now()}_cafe`;
      for (const n of [stale, live]) await ctx.server.run(`CREATE TABLE ${ident(ctx.db)}.${ident(n)} (x UInt8) ENGINE = Memory`);
      await ctx.wh.init();
      const stages = await rawRows(ctx, `SELECT name FROM system.tables WHERE database = ${str(ctx.db)} AND name LIKE 'rakuten_stage_%' ORDER BY name`);
      assert.deepEqual(stages.map((r) => r.name), [live]);
      await ctx.server.run(`DROP TABLE ${ident(ctx.db)}.${ident(live)}`);
      const cols = await rawRows(ctx, `DESCRIBE TABLE $db.rakuten_affiliate_report`);
      assert.deepEqual(cols.map((c) => c.name), REPORT_TABLE.columns.map((c) => c.name));
      const types = Object.fromEntries(cols.map((c) => [c.name, c.type]));
      assert.equal(types.currency, 'String');
      assert.equal(types.sales, 'Nullable(Decimal(18, 4))');
      assert.equal(types._date, 'Date');
      assert.equal(types.clicks, 'Nullable(Int64)');
      const dim = await rawRows(ctx, `DESCRIBE TABLE $db.rakuten_publishers`);
      assert.deepEqual(dim.map((c) => c.name), ['_connector', 'id', 'name', 'url', 'first_seen', 'last_seen']);
    });

    test('no staging table survives a load, failed or not', async () => {
      const c = 'staging';
      const first = sampleRows('2026-01-01', 4, 300, 1);
      assert.equal(await ctx.wh.replaceWindow(load(c, '2026-01-01', '2026-01-04'), rowsBody(batches(first))), first.length);
      // One failure after thousands of rows reached the server, one before any row; then an empty window.
      const second = sampleRows('2026-01-01', 4, 3000, 2);
      for (const failAfter of [6000, 0]) {
        await assert.rejects(ctx.wh.replaceWindow(load(c, '2026-01-01', '2026-01-04', 'sync-2'), rowsBody(batches(second, 500, failAfter))), /report download broke/);
      }
      assert.equal(await ctx.wh.replaceWindow(load(c, '2026-01-03', '2026-01-04'), rowsBody(batches([]))), 0);
      // No staging table survives, failed or not.
      const left = await Promise.all(
        (await testServers(cluster, ctx.db).then(async (t) => {
          try {
            return await Promise.all(t.servers.map((s) => s.rows(`SELECT name FROM system.tables WHERE database = ${str(ctx.db)} AND name LIKE '%stage%'`)));
          } finally {
            await t.close();
          }
        })),
      );
      assert.deepEqual(left.flat(), []);
    });

    test('readers see each day either wholly old or wholly new during a replace', async () => {
      const c = 'readers';
      const old = sampleRows('2026-02-01', 3, 2000, 3);
      await ctx.wh.replaceWindow(load(c, '2026-02-01', '2026-02-03'), rowsBody(batches(old)));
      const oldTotals = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
      const fresh = sampleRows('2026-02-01', 3, 2500, 4);
      let done = false;
      const writer = ctx.wh.replaceWindow(load(c, '2026-02-01', '2026-02-03', 'sync-new'), rowsBody(batches(fresh, 250))).finally(() => {
        done = true;
      });
      do {
        const seen = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
        assert.equal(seen.length, 3);
        for (const d of seen) assert.ok(d.rows === 2000 || d.rows === 2500, `${d.day}: ${d.rows} rows is a mix`);
        // One insert into the versions table publishes the window: on one server, all its days switch together.
        if (!cluster) assert.ok(seen.every((d) => d.rows === seen[0]!.rows), `the window's days switched apart: ${seen.map((d) => d.rows).join(', ')}`);
      } while (!done);
      await writer;
      const newTotals = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
      assert.deepEqual(newTotals.map((d) => d.rows), [2500, 2500, 2500]);
      assert.notDeepEqual(newTotals, oldTotals);
    });

    /** Every shard's servers, for reading the physical tables. */
    const onShards = async <T>(fn: (s: ChServer) => Promise<T>): Promise<T[]> => {
      const t = await testServers(cluster, ctx.db);
      try {
        return await Promise.all(t.servers.map(fn));
      } finally {
        await t.close();
      }
    };
    const rowsLocal = () => `${ident(ctx.db)}.${ident(cluster ? 'rakuten_affiliate_report_rows_local' : 'rakuten_affiliate_report_rows')}`;

    test('currency: both load paths stamp it; tables without it (two inits at once) get the layout of new ones on every server; relabel mutates only what differs', async () => {
      const l = new Layout(ctx.db, cluster ? 'rakuten_test' : null);
      const layout = () => onShards(async (s) => {
        const tables = await s.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${str(ctx.db)} AND name LIKE 'rakuten_%' ORDER BY name`);
        return Promise.all(tables.map(async ({ name }) => [name, (await s.rows<Record<string, string>>(`DESCRIBE TABLE ${l.t(name)}`)).map((c) => `${c.name} ${c.type} ${c.default_type} ${c.default_expression}`)]));
      });
      const csvRows = sampleRows('2026-08-01', 1, 4000, 21);
      assert.equal(await ctx.wh.replaceWindow(load('cur-csv', '2026-08-01', '2026-08-01', 's', 'JPY'), csvBody(csvRows, '2026-08-01', 500)), csvRows.length);
      await ctx.wh.replaceWindow(load('cur-rows', '2026-08-01', '2026-08-02', 's', 'EUR'), rowsBody(batches(sampleRows('2026-08-01', 2, 50, 22))));
      const labels = async () => (await ctx.wh.dayTotals(null, '2026-08-01', '2026-08-02')).map((d) => `${d.day} ${d.currency}`);
      assert.deepEqual(await labels(), ['2026-08-01 EUR', '2026-08-01 JPY', '2026-08-02 EUR']);
      const fresh = await layout();
      for (const [name, cols] of fresh.flat()) if (!/^rakuten_(publishers|offers|links)/.test(name as string)) assert.match(cols.at(-1)!, /^currency String/, `${name} ends with currency`);
      // The layout before the column, on every server.
      await onShards(async (s) => {
        for (const [name] of modelViews(l)) for (const t of cluster ? [name, l.local(name)] : [name]) await s.run(`DROP TABLE ${l.t(t)}`);
        for (const name of [ROWS_TABLE, VERSIONS_TABLE, TOP_ROWS_TABLE]) for (const t of cluster ? [l.local(name), name] : [name]) await s.run(`ALTER TABLE ${l.t(t)} DROP COLUMN currency`);
        for (const [name, select] of modelViews(l, false)) {
          await s.run(`CREATE VIEW ${l.t(l.local(name))} AS ${select}`);
          if (cluster) await s.run(`CREATE TABLE ${l.t(name)} AS ${l.t(l.local(name))} ENGINE = Distributed('rakuten_test', ${str(ctx.db)}, ${str(l.local(name))})`);
        }
      });
      // Two processes start at once (another home: one DuckDB state file per process).
      const home = mkdtempSync(join(tmpdir(), 'rc-ch-'));
      const other = await openClickHouse(ctx.url, home);
      try {
        await Promise.all([ctx.wh.init(), other.warehouse.init()]);
      } finally {
        await other.warehouse.close();
        await other.state.close();
        rmSync(home, { recursive: true, force: true });
      }
      assert.deepEqual(await layout(), fresh, 'migrated tables have the layout of new ones');
      assert.deepEqual(await labels(), ['2026-08-01 ', '2026-08-02 ']);
      const unlabelled = async () => [...await ctx.wh.connectorCurrencies()].filter(([c, list]) => c.startsWith('cur-') && list.includes('')).map(([c]) => c);
      assert.deepEqual(await unlabelled(), ['cur-csv', 'cur-rows']);
      const mutations = async () => (await onShards((s) => s.rows(`SELECT mutation_id FROM system.mutations WHERE database = ${str(ctx.db)}`))).flat().length;
      const before = await mutations();
      await ctx.wh.relabelCurrency('cur-rows', 'EUR');
      assert.deepEqual(await labels(), ['2026-08-01 ', '2026-08-01 EUR', '2026-08-02 EUR'], 'read at once after relabel');
      const mutated = await mutations();
      assert.ok(mutated > before && mutated <= before + 3 * (cluster ? 2 : 1));
      await ctx.wh.relabelCurrency('cur-rows', 'EUR');
      await ctx.wh.relabelCurrency('nobody', 'EUR');
      assert.equal(await mutations(), mutated, 'nothing differs: no mutation');
      assert.deepEqual(await unlabelled(), ['cur-csv']);
      await ctx.wh.deleteConnectorData('cur-csv');
      assert.deepEqual(await unlabelled(), [], 'a deleted connector has no current rows');
    });

    test('partitions are months, whatever the number of connectors and days', async () => {
      for (const c of ['months-a', 'months-b', 'months-c']) {
        for (const start of ['2024-01-01', '2024-02-15', '2024-03-20']) {
          await ctx.wh.replaceWindow(load(c, start, addDays(start, 9)), rowsBody(batches(sampleRows(start, 10, 3, 7))));
        }
      }
      const parts = await onShards((s) =>
        s.rows<{ p: string }>(`SELECT DISTINCT partition AS p FROM system.parts WHERE database = ${str(ctx.db)} AND table LIKE 'rakuten_affiliate_report_rows%' AND active`),
      );
      // The table is shared with the other tests: its partitions are exactly the months its rows cover.
      const months = await onShards((s) => s.rows<{ p: string }>(`SELECT DISTINCT toString(toYYYYMM(_date)) AS p FROM ${rowsLocal()}`));
      const sorted = (xs: { p: string }[][]) => [...new Set(xs.flat().map((r) => r.p))].sort();
      assert.deepEqual(sorted(parts), sorted(months));
      assert.ok(sorted(parts).includes('202402'));
      const [days] = await rawRows(ctx, `SELECT toString(uniqExact(_connector, _date)) AS n FROM $db.rakuten_affiliate_report WHERE _connector LIKE 'months-%'`);
      assert.equal(days!.n, '90');
    });

    test('superseded and failed loads are cancelled: after a merge only the current rows are stored', async () => {
      const c = 'cancel';
      for (let i = 0; i < 3; i++) await ctx.wh.replaceWindow(load(c, '2026-06-01', '2026-06-03', `s${i}`), rowsBody(batches(sampleRows('2026-06-01', 3, 40 + i, 30 + i))));
      await assert.rejects(ctx.wh.replaceWindow(load(c, '2026-06-01', '2026-06-03', 'dies'), rowsBody(batches(sampleRows('2026-06-01', 3, 500, 9), 100, 1000))), /report download broke/);
      // The next load of those days cancels the dead load's rows too.
      const last = sampleRows('2026-06-02', 1, 7, 40);
      await ctx.wh.replaceWindow(load(c, '2026-06-02', '2026-06-02', 'last'), rowsBody(batches(last)));
      assert.deepEqual((await ctx.wh.dayTotals(c, '2026-06-01', '2026-06-03')).map((d) => d.rows), [42, 7, 42]);
      const stored = async () => (await onShards(async (s) => {
        await s.run(`OPTIMIZE TABLE ${rowsLocal()} FINAL`);
        const [r] = await s.rows<{ n: string; d: string }>(
          `SELECT toString(count()) AS n, toString(uniqExact(_date, _version)) AS d FROM ${rowsLocal()} WHERE _connector = ${str(c)} AND _date != toDate('2026-06-01') AND _date != toDate('2026-06-03')`,
        );
        return r!;
      }));
      const after = await stored();
      assert.equal(after.reduce((a, r) => a + Number(r.n), 0), 7, 'only the current version of 2026-06-02 is left on disk');
      assert.equal(after.reduce((a, r) => a + Number(r.d), 0), 1);
    });

    test('canonical CSV: loaded as bytes, no staging table left, a date outside Date range refused with the old rows kept', async () => {
      const c = 'csv-path';
      const rows = sampleRows('2026-07-01', 1, 50, 11);
      assert.equal(await ctx.wh.replaceWindow(load(c, '2026-07-01', '2026-07-01'), csvBody(rows, '2026-07-01', 9)), 50);
      const before = await ctx.wh.dayTotals(c, '2026-07-01', '2026-07-01');
      assert.equal(before[0]!.rows, 50);
      const bad = [...rows.slice(0, 3).map((r) => [...r]), row('2026-07-01', { transaction_date: '1969-12-31' })];
      bad[3]![COL._date] = '2026-07-01';
      await assert.rejects(ctx.wh.replaceWindow(load(c, '2026-07-01', '2026-07-01'), csvBody(bad.map((r) => { const x = [...r]; x[COL._date] = '2026-07-01'; return x; }), '2026-07-01')), /transaction_date 1969-12-31 is outside ClickHouse's Date range/);
      assert.deepEqual(await ctx.wh.dayTotals(c, '2026-07-01', '2026-07-01'), before);
      const left = await onShards((s) => s.rows(`SELECT name FROM system.tables WHERE database = ${str(ctx.db)} AND name LIKE '%stage%'`));
      assert.deepEqual(left.flat(), []);
    });

    test('canonical CSV over the small-window size goes through a staging table: same reads as the rows, a body that breaks keeps the old rows', async () => {
      const rows = sampleRows('2026-07-10', 1, 4000, 14).map((r, i) => {
        const x = [...r];
        x[COL.publisher_name] = i % 7 ? x[COL.publisher_name]! : `${HOSTILE[i % HOSTILE.length]} ${' '.repeat(i % 3)}`.trim() || 'x';
        return x;
      });
      const parts: CsvPart[] = [];
      const body = csvBody(rows, '2026-07-10', 500);
      if (body.format === 'canonical-csv') for await (const p of body.parts) parts.push(p);
      assert.ok(parts.flatMap((p) => p.chunks).reduce((n, c) => n + c.byteLength, 0) > 2 * SMALL_CSV_BYTES, 'the body is over the small-window size');
      const big: ReportBody = { format: 'canonical-csv', parts: (async function* () { yield* parts; })() };
      assert.equal(await ctx.wh.replaceWindow(load('csv-big', '2026-07-10', '2026-07-10'), big), rows.length);
      assert.equal(await ctx.wh.replaceWindow(load('csv-rows', '2026-07-10', '2026-07-10'), rowsBody(batches(rows))), rows.length);
      assert.deepEqual(await ctx.wh.dayTotals('csv-big', '2026-07-10', '2026-07-10'), await ctx.wh.dayTotals('csv-rows', '2026-07-10', '2026-07-10'));
      const topOf = async (c: string) => (await ctx.wh.top('publisher', c, '2026-07-10', '2026-07-10', 50)).map(({ connector, ...rest }) => (assert.equal(connector, c), rest));
      assert.deepEqual(await topOf('csv-big'), await topOf('csv-rows'));
      const [a] = await rawRows(ctx, `SELECT toString(count()) AS n, toString(sum(cityHash64(publisher_name, _extra, order_id))) AS h FROM $db.rakuten_affiliate_report WHERE _connector = 'csv-big'`);
      const [b] = await rawRows(ctx, `SELECT toString(count()) AS n, toString(sum(cityHash64(publisher_name, _extra, order_id))) AS h FROM $db.rakuten_affiliate_report WHERE _connector = 'csv-rows'`);
      assert.deepEqual(a, b, 'the same text stored both ways');
      const before = await ctx.wh.dayTotals('csv-big', '2026-07-10', '2026-07-10');
      const broken: ReportBody = {
        format: 'canonical-csv',
        parts: (async function* () {
          yield* parts.slice(0, 6);
          throw new Error('report download broke');
        })(),
      };
      await assert.rejects(ctx.wh.replaceWindow(load('csv-big', '2026-07-10', '2026-07-10', 'broken'), broken), /report download broke/);
      assert.deepEqual(await ctx.wh.dayTotals('csv-big', '2026-07-10', '2026-07-10'), before);
      const left = await onShards((s) => s.rows(`SELECT name FROM system.tables WHERE database = ${str(ctx.db)} AND name LIKE '%stage%'`));
      assert.deepEqual(left.flat(), []);
    });

    test("the report reader's stamped CSV goes straight into the rows table: text that looks like NULL stays text, the same reads as the rows form", async () => {
      // A Rakuten report over the small-window size, with hostile text (not NUL: the reader refuses it) and empty cells.
      const hostile = HOSTILE.filter((h) => !h.includes('\u0000'));
      const q = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
      const lines = [CANONICAL_HEADERS.map(q).join(',')];
      for (let i = 0; i < 4000; i++) {
        const t = (k: number): string => (i % 5 === k ? hostile[(i + k) % hostile.length]! : i % 11 === k ? '' : `v${k}-${i % 97}`);
        lines.push([
          '7/11/26', `${i % 9 ? '1,234' : ''}`, `${i % 7}`, '1', `$${i}.25`, i % 13 ? `-$0.${String(i % 10000).padStart(4, '0')}` : '', `$1,${100 + (i % 900)}.50`, `O${i}`,
          t(0), t(1), t(2), `G${i % 4}`, t(3), `P${i % 50}`, t(4), t(0), `F${i % 6}`, t(1), `L${i % 300}`, t(2),
        ].map(q).join(','));
      }
      const text = `\uFEFF${lines.join('\r\n')}\r\n`;
      assert.ok(text.length > 2 * SMALL_CSV_BYTES, 'the body is over the small-window size');
      const opts = { dateFormat: 'm/d/yy', dateType: 'transaction' as const, start: '2026-07-11', end: '2026-07-11' };
      const bytes = (async function* () { yield Buffer.from(text); })();
      const read = readReport(bytes, opts, 'canonical-csv');
      // Only the stamped form may be read: the warehouse must not fall back to restamping.
      const stampedOnly: ReportBody = { format: 'canonical-csv', parts: (async function* () { throw new Error('parts read'); })(), stamped: read.stamped };
      assert.equal(await ctx.wh.replaceWindow(load('stamped', '2026-07-11', '2026-07-11'), stampedOnly), 4000);
      const rows: ReportRow[] = [];
      for await (const b of readReport((async function* () { yield Buffer.from(text); })(), opts, 'rows').batches) rows.push(...b);
      assert.equal(await ctx.wh.replaceWindow(load('stamped-rows', '2026-07-11', '2026-07-11'), rowsBody(batches(rows))), 4000);
      assert.deepEqual(await ctx.wh.dayTotals('stamped', '2026-07-11', '2026-07-11'), await ctx.wh.dayTotals('stamped-rows', '2026-07-11', '2026-07-11'));
      const cols = LOADED_COLUMNS.map((c) => ident(c.name)).join(', ');
      const all = async (c: string) => rawRows(ctx, `SELECT ${cols} FROM $db.rakuten_affiliate_report WHERE _connector = '${c}' ORDER BY order_id`);
      const [a, b] = [await all('stamped'), await all('stamped-rows')];
      assert.equal(a.length, 4000);
      assert.deepEqual(a, b, 'every cell the same both ways');
      const literal = a.filter((r) => r.sub_publisher_id === '\\N');
      assert.ok(literal.length > 0, 'the text \\N is text');
      assert.ok(a.some((r) => r.sub_publisher_id === null), 'an empty cell is NULL');
    });

    test("a deleted connector's rows are removed in the background, not those of the same name loaded again", async () => {
      const c = 'deleted';
      await ctx.wh.replaceWindow(load(c, '2026-04-01', '2026-04-05'), rowsBody(batches(sampleRows('2026-04-01', 5, 20, 12))));
      await ctx.wh.deleteConnectorData(c);
      assert.deepEqual(await ctx.wh.coverage(c), { rows: 0, days: 0, firstDay: null, lastDay: null });
      await ctx.wh.replaceWindow(load(c, '2026-04-03', '2026-04-03'), rowsBody(batches(sampleRows('2026-04-03', 1, 6, 13))));
      for (let i = 0; i < 200; i++) {
        const pending = await onShards((s) => s.rows(`SELECT 1 FROM system.mutations WHERE database = ${str(ctx.db)} AND is_done = 0`));
        if (pending.flat().length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await ctx.wh.coverage(c), { rows: 6, days: 1, firstDay: '2026-04-03', lastDay: '2026-04-03' });
      const total = (await onShards((s) => s.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${rowsLocal()} WHERE _connector = ${str(c)}`))).flat().reduce((a, r) => a + Number(r.n), 0);
      assert.equal(total, 6, 'the deleted rows are gone from disk, the new ones kept');
    });

    test('raw text as stored: _sync_id, _extra, and NUL / control characters in a text column', async () => {
      // The contract checks text through the reads (and has no NUL): _sync_id and _extra are never read back there.
      const c = 'raw-text';
      const syncId = `sync'\\\t${HOSTILE[6]}`;
      const rows = HOSTILE.map((h, i) => row('2026-05-01', { order_id: `o${i}`, publisher_id: `pub-${i}`, publisher_name: h, _extra: JSON.stringify({ h }) }));
      await ctx.wh.replaceWindow(load(c, '2026-05-01', '2026-05-01', syncId), rowsBody(batches(rows)));
      const got = await rawRows(ctx, `SELECT order_id, publisher_name, _extra, _sync_id FROM $db.rakuten_affiliate_report WHERE _connector = ${str(c)}`);
      assert.equal(got.length, HOSTILE.length);
      const byOrder = new Map(got.map((g) => [g.order_id, g]));
      HOSTILE.forEach((h, i) => {
        const g = byOrder.get(`o${i}`)!;
        assert.equal(g.publisher_name, h);
        assert.equal(g._extra, JSON.stringify({ h }));
        assert.equal(g._sync_id, syncId);
      });
    });

    if (cluster) {
      test('cluster: the same database opened without ?cluster= is refused with a clear message', async () => {
        const { warehouse, state } = await openClickHouse(ctx.url.replace(/\?cluster=[^&]*/, ''), ctx.home);
        try {
          await assert.rejects(warehouse.init(), /was set up with \?cluster=/);
        } finally {
          await warehouse.close();
          await state.close();
        }
      });
    }

    test('a wrong password is a config error that does not show the password', async () => {
      const u = new URL(ctx.url.replace(/^clickhouse:/, 'http:'));
      u.username = 'default';
      u.password = 'not-the-Password-42';
      const { warehouse, state } = await openClickHouse(u.toString().replace(/^http:/, 'clickhouse:'), ctx.home);
      try {
        assert.doesNotMatch(warehouse.location, /not-the-Password-42/);
        await assert.rejects(warehouse.init(), (e: Error & { kind?: string }) => {
          assert.equal(e.kind, 'config');
          assert.match(e.message, /rejected the user or password/);
          assert.doesNotMatch(`${e.message} ${e.stack}`, /not-the-Password-42/);
          return true;
        });
      } finally {
        await warehouse.close();
        await state.close();
      }
    });

    if (cluster) {
      test('cluster: every (connector, day) lives on one shard, the one the Distributed table itself picks; replacing keeps one copy', async () => {
        const c = 'sharded';
        const rows = sampleRows('2026-08-01', 40, 5, 21);
        for (let i = 0; i < 3; i++) await ctx.wh.replaceWindow(load(c, '2026-08-01', '2026-09-09', `s${i}`), rowsBody(batches(rows, 7)));
        const t = await testServers(true, ctx.db);
        const live = (s: ChServer) =>
          s.rows<{ d: string; n: string }>(
            `SELECT toString(_date) AS d, toString(sum(_sign)) AS n FROM ${ident(ctx.db)}.rakuten_affiliate_report_rows_local WHERE _connector = 'sharded' AND _version > 0 GROUP BY _date HAVING sum(_sign) > 0`,
          );
        try {
          assert.equal(t.servers.length, 2);
          const perShard = await Promise.all(t.servers.map(live));
          const where = new Map<string, number[]>();
          perShard.forEach((rs, shard) => rs.forEach((r) => where.set(r.d, [...(where.get(r.d) ?? []), shard])));
          assert.equal(where.size, 40);
          for (const [d, shards] of where) assert.equal(shards.length, 1, `${d} is on shards ${shards.join(',')}`);
          assert.ok(perShard.every((rs) => rs.length > 0), 'both shards hold some days');
          // Rows inserted through the Distributed table (with a version nobody publishes, so
          // readers never see them) land on the shard the warehouse put that day on.
          const rowsDist = `${ident(ctx.db)}.rakuten_affiliate_report_rows`;
          await ctx.server.run(
            `INSERT INTO ${rowsDist} (_connector, _date, _synced_at, _sync_id, _version, _row, _sign)
             SELECT 'sharded', toDate('2026-08-01') + number, now(), 'probe', toUInt64(0), toUInt32(number), toInt8(1) FROM system.numbers LIMIT 40`,
          );
          const probe = (s: ChServer) =>
            s.rows<{ d: string }>(`SELECT toString(_date) AS d FROM ${ident(ctx.db)}.rakuten_affiliate_report_rows_local WHERE _connector = 'sharded' AND _version = 0`);
          let landed: { d: string }[][] = [];
          for (let i = 0; i < 100; i++) {
            landed = await Promise.all(t.servers.map(probe));
            if (landed.flat().length === 40) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(landed.flat().length, 40, 'the Distributed table delivered the probe rows');
          landed.forEach((rs, shard) => rs.forEach((r) => assert.deepEqual(where.get(r.d), [shard], `${r.d}: Distributed puts it on shard ${shard}`)));
          assert.equal((await ctx.wh.coverage(c)).rows, 200, 'the probe rows are invisible');
          // A replace on the cluster empties exactly its days, on their shards.
          await ctx.wh.replaceWindow(load(c, '2026-08-03', '2026-08-10'), rowsBody(batches(rows.filter((r) => r[0] === '2026-08-05'))));
          assert.deepEqual(await ctx.wh.coverage(c), { rows: 165, days: 33, firstDay: '2026-08-01', lastDay: '2026-09-09' });
          await ctx.wh.deleteConnectorData(c);
          assert.deepEqual(await ctx.wh.coverage(c), { rows: 0, days: 0, firstDay: null, lastDay: null });
        } finally {
          await t.close();
        }
      });

      test('cluster: big canonical-CSV windows land on the shard the Distributed table picks for their day (a one-day window straight into that shard)', async () => {
        const rows = sampleRows('2026-10-01', 6, 3000, 31);
        const days = [...new Set(rows.map((r) => r[0] as string))];
        const size = async (b: ReportBody) => {
          let n = 0;
          if (b.format === 'canonical-csv') for await (const p of b.parts) n += p.chunks.reduce((a, ch) => a + ch.byteLength, 0);
          return n;
        };
        assert.ok(await size(csvBody(rows.filter((r) => r[0] === days[0]), days[0]!)) > SMALL_CSV_BYTES, 'a day is over the small-window size');
        for (const d of days) assert.equal(await ctx.wh.replaceWindow(load('csv-sharded', d, d), csvBody(rows.filter((r) => r[0] === d), d, 500)), 3000);
        // A multi-day window may span shards: it goes through the Distributed table.
        const multi = rows.map((r) => { const x = [...r]; x[COL.transaction_date] = x[COL._date]!; return x; });
        assert.equal(await ctx.wh.replaceWindow(load('csv-sharded-multi', days[0]!, days[5]!), csvBody(multi, null, 500)), 18000);
        const t = await testServers(true, ctx.db);
        try {
          const local = `${ident(ctx.db)}.rakuten_affiliate_report_rows_local`;
          const placed = async (version: string) => (await Promise.all(t.servers.map((s) => s.rows<{ c: string; d: string }>(
            `SELECT _connector AS c, toString(_date) AS d FROM ${local} WHERE _connector LIKE 'csv-sharded%' AND _version ${version} AND _sign = 1 GROUP BY _connector, _date`,
          )))).map((rs) => rs.map((r) => `${r.c} ${r.d}`).sort());
          const mine = await placed('> 0');
          assert.equal(mine.flat().length, 12, 'each (connector, day) on one shard');
          assert.ok(mine.every((rs) => rs.length > 0), 'both shards hold some');
          await ctx.server.run(
            `INSERT INTO ${ident(ctx.db)}.rakuten_affiliate_report_rows (_connector, _date, _synced_at, _sync_id, _version, _row, _sign)
             SELECT c, toDate('2026-10-01') + number % 6, now(), 'probe', toUInt64(0), toUInt32(number), toInt8(1)
             FROM (SELECT number FROM system.numbers LIMIT 6) ARRAY JOIN ['csv-sharded', 'csv-sharded-multi'] AS c`,
          );
          let probe: string[][] = [];
          for (let i = 0; i < 100 && probe.flat().length < 12; i++) {
            probe = await placed('= 0');
            if (probe.flat().length < 12) await new Promise((r) => setTimeout(r, 100));
          }
          assert.deepEqual(probe, mine, 'the Distributed table puts every (connector, day) where the load did');
        } finally {
          await t.close();
        }
      });
    }
  });
}

test("a day outside ClickHouse's Date range is refused (old rows kept); a refused window still closes the caller's body", { skip: !(await clickHouseAvailable(false)) && !process.env.CI }, async () => {
  const ctx = await open(false);
  try {
    await ctx.wh.replaceWindow(load('out', '2026-09-01', '2026-09-01'), rowsBody(batches([row('2026-09-01', { publisher_id: 'b' })])));
    await assert.rejects(ctx.wh.replaceWindow(load('out', '2026-09-01', '2026-09-01'), rowsBody(batches([row('1969-12-31')]))), /outside ClickHouse's Date range/);
    assert.equal((await ctx.wh.coverage('out')).rows, 1);
    // A refused window still closes the caller's iterable (a download would be left hanging otherwise).
    let closed = false;
    async function* download(): AsyncGenerator<ReportRow[]> {
      try {
        yield [row('2026-09-05')];
      } finally {
        closed = true;
      }
    }
    const it = download();
    await it.next();
    await assert.rejects(ctx.wh.replaceWindow(load('out', '2026-09-05', '2026-09-04'), rowsBody(it)), /ends before it starts/);
    assert.equal(closed, true);
  } finally {
    await ctx.drop();
  }
});

test('?state=postgres://… keeps the bookkeeping in PostgreSQL', { skip: !(await clickHouseAvailable(false)) || !(await postgresAvailable()) ? 'needs ClickHouse and PostgreSQL' : false }, async () => {
  const ch = await createTestClickHouseUrl({ cluster: false });
  const pgDb = await createTestPostgresUrl();
  const home = mkdtempSync(join(tmpdir(), 'rc-ch-'));
  try {
    const url = `${ch.url}?state=${encodeURIComponent(pgDb.url)}`;
    const { warehouse, state } = await openClickHouse(url, home);
    try {
      assert.equal(state.kind, 'postgres');
      assert.equal(warehouse.capabilities.sharedState, true);
      assert.doesNotMatch(warehouse.location, /postgres:\/\//);
      await warehouse.init();
      await state.init();
      await state.advanceCursor('c', '2026-01-02');
      assert.equal(await state.getCursor('c'), '2026-01-02');
    } finally {
      await warehouse.close();
      await state.close();
    }
    assert.equal(existsSync(join(home, 'state.duckdb')), false);
  } finally {
    rmSync(home, { recursive: true, force: true });
    await pgDb.drop();
    await ch.drop();
  }
});
