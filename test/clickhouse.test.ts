/**
 * The ClickHouse warehouse against real servers (scripts/clickhouse.sh start-single / start-cluster):
 * atomic, idempotent window replaces, exact decimals, hostile text, shard routing, and the same
 * answers as DuckDB for the same rows. Without a server the tests skip, except under CI (CI set),
 * where they fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOADED_COLUMNS, type ReportRow } from '../src/model/schema.js';
import { addDays } from '../src/util/days.js';
import { fromUnits, toUnits } from '../src/util/decimal.js';
import { ChServer, ident, parseClickHouseUrl, str } from '../src/warehouse/clickhouse-conn.js';
import { ClickHouseWarehouse, moneyText, openClickHouse } from '../src/warehouse/clickhouse.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.js';
import type { StateStore, Warehouse, WindowLoad } from '../src/warehouse/types.js';
import { clickHouseAvailable, createTestClickHouseUrl, testServers } from './helpers/clickhouse.js';
import { createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';

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

function load(connector: string, start: string, end: string, syncId = 'sync-1'): WindowLoad {
  return { connector, start, end, syncId, syncedAt: new Date('2026-03-01T12:34:56.789Z') };
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

const sum = (xs: (string | null)[]) => fromUnits(xs.reduce((a, x) => a + (x ? toUnits(x) : 0n), 0n));

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
      assert.deepEqual(cols.map((c) => c.name), ['_connector', ...LOADED_COLUMNS.map((c) => c.name), '_synced_at', '_sync_id']);
      const types = Object.fromEntries(cols.map((c) => [c.name, c.type]));
      assert.equal(types.sales, 'Nullable(Decimal(18, 4))');
      assert.equal(types._date, 'Date');
      assert.equal(types.clicks, 'Nullable(Int64)');
      const dim = await rawRows(ctx, `DESCRIBE TABLE $db.rakuten_publishers`);
      assert.deepEqual(dim.map((c) => c.name), ['_connector', 'id', 'name', 'url', 'first_seen', 'last_seen']);
    });

    test('replace is atomic and idempotent: a failing iterable leaves the old rows', async () => {
      const c = 'atomic';
      const first = sampleRows('2026-01-01', 4, 300, 1);
      assert.equal(await ctx.wh.replaceWindow(load(c, '2026-01-01', '2026-01-04'), batches(first)), first.length);
      const before = await ctx.wh.dayTotals(c, '2026-01-01', '2026-01-04');
      assert.equal(before.reduce((a, d) => a + d.rows, 0), first.length);

      // Thousands of rows reach the server before the failure: they must not become visible.
      const second = sampleRows('2026-01-01', 4, 3000, 2);
      await assert.rejects(ctx.wh.replaceWindow(load(c, '2026-01-01', '2026-01-04', 'sync-2'), batches(second, 500, 6000)), /report download broke/);
      assert.deepEqual(await ctx.wh.dayTotals(c, '2026-01-01', '2026-01-04'), before);
      await assert.rejects(ctx.wh.replaceWindow(load(c, '2026-01-01', '2026-01-04', 'sync-2'), batches(second, 500, 0)), /report download broke/);
      assert.deepEqual(await ctx.wh.dayTotals(c, '2026-01-01', '2026-01-04'), before);

      // Replacing twice with the same rows: one copy.
      for (let i = 0; i < 2; i++) await ctx.wh.replaceWindow(load(c, '2026-01-02', '2026-01-03', `sync-3${i}`), batches(second.filter((r) => r[0] === '2026-01-02' || r[0] === '2026-01-03')));
      const after = await ctx.wh.dayTotals(c, '2026-01-01', '2026-01-04');
      assert.deepEqual(after.map((d) => d.rows), [300, 3000, 3000, 300]);
      assert.deepEqual(after[0], before[0]);
      assert.deepEqual(after[3], before[3]);
      const want = second.filter((r) => r[0] === '2026-01-02');
      assert.equal(after[1]!.sales, sum(want.map((r) => r[COL.sales]!)));

      // An empty window empties its days.
      assert.equal(await ctx.wh.replaceWindow(load(c, '2026-01-03', '2026-01-04'), batches([])), 0);
      assert.deepEqual((await ctx.wh.dayTotals(c, '2026-01-01', '2026-01-04')).map((d) => d.day), ['2026-01-01', '2026-01-02']);

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
      await ctx.wh.replaceWindow(load(c, '2026-02-01', '2026-02-03'), batches(old));
      const oldTotals = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
      const fresh = sampleRows('2026-02-01', 3, 2500, 4);
      let done = false;
      const writer = ctx.wh.replaceWindow(load(c, '2026-02-01', '2026-02-03', 'sync-new'), batches(fresh, 250)).finally(() => {
        done = true;
      });
      do {
        const seen = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
        assert.equal(seen.length, 3);
        for (const d of seen) assert.ok(d.rows === 2000 || d.rows === 2500, `${d.day}: ${d.rows} rows is a mix`);
      } while (!done);
      await writer;
      const newTotals = await ctx.wh.dayTotals(c, '2026-02-01', '2026-02-03');
      assert.deepEqual(newTotals.map((d) => d.rows), [2500, 2500, 2500]);
      assert.notDeepEqual(newTotals, oldTotals);
    });

    test('connectors are isolated', async () => {
      const rowsA = sampleRows('2026-03-01', 2, 50, 5);
      const rowsB = sampleRows('2026-03-01', 2, 70, 6);
      await ctx.wh.replaceWindow(load('iso-a', '2026-03-01', '2026-03-02'), batches(rowsA));
      await ctx.wh.replaceWindow(load('iso-b', '2026-03-01', '2026-03-02'), batches(rowsB));
      await ctx.wh.replaceWindow(load('iso-a', '2026-03-01', '2026-03-02'), batches(rowsA.slice(0, 10)));
      assert.equal((await ctx.wh.coverage('iso-a')).rows, 10);
      assert.deepEqual(await ctx.wh.coverage('iso-b'), { rows: 140, days: 2, firstDay: '2026-03-01', lastDay: '2026-03-02' });
      await ctx.wh.deleteConnectorData('iso-a');
      assert.deepEqual(await ctx.wh.coverage('iso-a'), { rows: 0, days: 0, firstDay: null, lastDay: null });
      assert.equal((await ctx.wh.coverage('iso-b')).rows, 140);
      const dims = await rawRows(ctx, `SELECT _connector, count() AS n FROM $db.rakuten_publishers WHERE _connector IN ('iso-a', 'iso-b') GROUP BY _connector`);
      assert.deepEqual(dims.map((d) => d._connector), ['iso-b']);
      const all = await ctx.wh.dayTotals(null, '2026-03-01', '2026-03-02');
      assert.deepEqual(all.map((d) => d.rows), [70, 70]);
    });

    test('decimals stay exact: no floats in or out', async () => {
      const c = 'exact';
      const values = ['0.1', '0.2', '99999999999999.9999', '99999999999999.9999', '-0.0001', '12345678901234.5678', '-99999999999999.9999', '0.0003'];
      const rows = values.map((v, i) => row('2026-04-01', { publisher_id: 'p', sales: v, gross_commissions: i % 2 ? null : v, total_commissions: '0.1', impressions: '9007199254740993', clicks: String(i) }));
      await ctx.wh.replaceWindow(load(c, '2026-04-01', '2026-04-01'), batches(rows));
      const [d] = await ctx.wh.dayTotals(c, '2026-04-01', '2026-04-01');
      assert.equal(d!.sales, sum(values));
      assert.equal(d!.sales, '112345678901234.8679');
      assert.equal(d!.gross_commissions, sum(values.filter((_, i) => i % 2 === 0)));
      assert.equal(d!.total_commissions, '0.8000');
      assert.equal(d!.impressions, (9007199254740993n * BigInt(values.length)).toString(), 'bigint sums beyond 2^53 are exact');
      const [top] = await ctx.wh.top('publisher', c, '2026-04-01', '2026-04-01', 5);
      assert.equal(top!.sales, '112345678901234.8679');
      const raw = await rawRows(ctx, `SELECT toString(sales) AS s FROM $db.rakuten_affiliate_report WHERE _connector = 'exact' ORDER BY s`);
      assert.deepEqual(raw.map((r) => moneyText(String(r.s))).sort(), values.map((v) => moneyText(v)).sort());
      // Days with only null amounts say 0, like DuckDB's coalesce(sum, 0).
      await ctx.wh.replaceWindow(load(c, '2026-04-02', '2026-04-02'), batches([row('2026-04-02', { publisher_id: 'q' })]));
      const [z] = await ctx.wh.dayTotals(c, '2026-04-02', '2026-04-02');
      assert.deepEqual(z, { day: '2026-04-02', rows: 1, impressions: '0', clicks: '0', orders: '0', sales: '0.0000', gross_commissions: '0.0000', total_commissions: '0.0000' });
      const [zt] = await ctx.wh.top('publisher', c, '2026-04-02', '2026-04-02', 5);
      assert.deepEqual(zt, { id: 'q', name: null, rows: 1, sales: '0', total_commissions: '0' });
    });

    test('hostile text round-trips, in data, connector names and sync ids', async () => {
      const c = `evil'\\"\t\n🎉`;
      const rows = HOSTILE.map((h, i) =>
        row('2026-05-01', { order_id: `o${i}`, publisher_id: `pub-${i}`, publisher_name: h, publisher_url: h, offer_id: h, offer_name: h, _extra: JSON.stringify({ h }) }),
      );
      await ctx.wh.replaceWindow(load(c, '2026-05-01', '2026-05-01', `sync'\\\t${HOSTILE[6]}`), batches(rows));
      const got = await rawRows(
        ctx,
        `SELECT order_id, publisher_name, publisher_url, offer_id, _extra, _sync_id, _connector FROM $db.rakuten_affiliate_report WHERE _connector = ${str(c)} ORDER BY order_id`,
      );
      assert.equal(got.length, HOSTILE.length);
      const byOrder = new Map(got.map((g) => [g.order_id, g]));
      HOSTILE.forEach((h, i) => {
        const g = byOrder.get(`o${i}`)!;
        assert.equal(g.publisher_name, h);
        assert.equal(g.publisher_url, h);
        assert.equal(g.offer_id, h);
        assert.equal(g._extra, JSON.stringify({ h }));
        assert.equal(g._sync_id, `sync'\\\t${HOSTILE[6]}`);
        assert.equal(g._connector, c);
      });
      const top = await ctx.wh.top('offer', c, '2026-05-01', '2026-05-01', 100);
      assert.deepEqual(top.map((t) => t.id).sort(), [...HOSTILE].sort());
      for (const t of top) assert.equal(t.name, t.id);
      const dims = await rawRows(ctx, `SELECT id, name, url FROM $db.rakuten_publishers WHERE _connector = ${str(c)} ORDER BY id`);
      assert.deepEqual(dims.map((d) => d.name).sort(), [...HOSTILE].sort());
      assert.equal((await ctx.wh.coverage(c)).rows, HOSTILE.length);
      // Empty text is NULL, as in DuckDB (its CSV load reads '' as NULL).
      await ctx.wh.replaceWindow(load(c, '2026-05-02', '2026-05-02'), batches([row('2026-05-02', { publisher_id: 'e', publisher_name: '', order_id: '' })]));
      const [e] = await rawRows(ctx, `SELECT isNull(publisher_name) AS n, isNull(order_id) AS o FROM $db.rakuten_affiliate_report WHERE _date = '2026-05-02' AND _connector = ${str(c)}`);
      assert.deepEqual([Number(e!.n), Number(e!.o)], [1, 1]);
      await ctx.wh.deleteConnectorData(c);
      assert.equal((await ctx.wh.coverage(c)).rows, 0);
    });

    test('same rows, same answers as DuckDB (totals, top, coverage, dimensions)', async () => {
      const home = mkdtempSync(join(tmpdir(), 'rc-ch-duck-'));
      const duck = await DuckDbWarehouse.open(join(home, 'w.duckdb'), join(home, 'tmp'));
      try {
        await duck.init();
        const loads: [WindowLoad, ReportRow[]][] = [
          [load('cmp-a', '2026-06-01', '2026-06-10', 's1'), sampleRows('2026-06-01', 10, 40, 11)],
          [load('cmp-b', '2026-06-03', '2026-06-06', 's2'), sampleRows('2026-06-03', 4, 30, 12)],
          // Reload part of a's window with other rows: dimensions merge across loads.
          [load('cmp-a', '2026-06-05', '2026-06-12', 's3'), sampleRows('2026-06-05', 8, 25, 13)],
          [load('cmp-a', '2026-06-01', '2026-06-02', 's4'), sampleRows('2026-06-01', 2, 35, 14)],
        ];
        for (const [l, rows] of loads) {
          assert.equal(await ctx.wh.replaceWindow(l, batches(rows, 37)), await duck.replaceWindow(l, batches(rows, 37)));
        }
        for (const conn of ['cmp-a', 'cmp-b']) {
          assert.deepEqual(await ctx.wh.dayTotals(conn, '2026-05-01', '2026-07-01'), await duck.dayTotals(conn, '2026-05-01', '2026-07-01'), conn);
          assert.deepEqual(await ctx.wh.coverage(conn), await duck.coverage(conn), conn);
          for (const dim of ['publisher', 'offer'] as const) {
            assert.deepEqual(await ctx.wh.top(dim, conn, '2026-06-02', '2026-06-11', 4), await duck.top(dim, conn, '2026-06-02', '2026-06-11', 4), `${conn} ${dim}`);
          }
        }
        const ours = await ctx.wh.dayTotals(null, '2026-06-01', '2026-06-30');
        assert.deepEqual(ours, await duck.dayTotals(null, '2026-06-01', '2026-06-30'));
        assert.deepEqual(await ctx.wh.top('publisher', null, '2026-06-01', '2026-06-30', 100), await duck.top('publisher', null, '2026-06-01', '2026-06-30', 100));
        // Dimensions: the same rows, names, urls and first/last seen.
        const duckConn = (duck as unknown as { conn: { rows(sql: string): Promise<Record<string, unknown>[]> } }).conn;
        for (const [table, hasUrl] of [['rakuten_publishers', true], ['rakuten_offers', false], ['rakuten_links', false]] as const) {
          const sel = `_connector, id, name${hasUrl ? ', url' : ''}`;
          const want = await duckConn.rows(
            `SELECT ${sel}, strftime(first_seen, '%Y-%m-%d') AS first_seen, strftime(last_seen, '%Y-%m-%d') AS last_seen FROM ${table} WHERE _connector LIKE 'cmp-%' ORDER BY _connector, id`,
          );
          const got = await rawRows(
            ctx,
            `SELECT ${sel}, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen FROM $db.${table} WHERE _connector LIKE 'cmp-%' ORDER BY _connector, id`,
          );
          assert.ok(want.length > 3);
          assert.deepEqual(got, want, table);
        }
      } finally {
        await duck.close();
        rmSync(home, { recursive: true, force: true });
      }
    });

    test('dimensions keep DuckDB semantics: latest name by day, newest load wins ties, history kept', async () => {
      const c = 'dims';
      await ctx.wh.replaceWindow(load(c, '2026-07-01', '2026-07-03'), batches([
        row('2026-07-01', { publisher_id: 'p', publisher_name: 'Old', publisher_url: 'u1' }),
        row('2026-07-03', { publisher_id: 'p', publisher_name: 'Newer', publisher_url: 'u3' }),
        row('2026-07-02', { publisher_id: 'gone', publisher_name: 'Gone' }),
      ]));
      // A later load of an earlier day does not rename; a reload of the same last day does.
      await ctx.wh.replaceWindow(load(c, '2026-07-02', '2026-07-02'), batches([row('2026-07-02', { publisher_id: 'p', publisher_name: 'Earlier day' })]));
      await ctx.wh.replaceWindow(load(c, '2026-07-03', '2026-07-03'), batches([row('2026-07-03', { publisher_id: 'p', publisher_name: 'Same day, later load', publisher_url: 'u3b' })]));
      const got = await rawRows(ctx, `SELECT id, name, url, toString(first_seen) AS f, toString(last_seen) AS l FROM $db.rakuten_publishers WHERE _connector = 'dims' ORDER BY id`);
      assert.deepEqual(got, [
        { id: 'gone', name: 'Gone', url: null, f: '2026-07-02', l: '2026-07-02' },
        { id: 'p', name: 'Same day, later load', url: 'u3b', f: '2026-07-01', l: '2026-07-03' },
      ]);
      // The latest non-null name of a load; a load whose names are all null on a later day clears it, as in DuckDB.
      await ctx.wh.replaceWindow(load(c, '2026-07-04', '2026-07-05'), batches([
        row('2026-07-04', { publisher_id: 'p', publisher_name: 'Four' }),
        row('2026-07-05', { publisher_id: 'p', publisher_name: null }),
      ]));
      await ctx.wh.replaceWindow(load(c, '2026-07-06', '2026-07-06'), batches([row('2026-07-06', { publisher_id: 'gone', publisher_name: null })]));
      const after = await rawRows(ctx, `SELECT id, name FROM $db.rakuten_publishers WHERE _connector = 'dims' ORDER BY id`);
      assert.deepEqual(after, [{ id: 'gone', name: null }, { id: 'p', name: 'Four' }]);
    });

    if (cluster) {
      test('cluster: the same database opened without ?cluster= is refused with a clear message', async () => {
        const { warehouse, state } = await openClickHouse(ctx.url.replace(/\?cluster=[^&]*/, ''), ctx.home);
        try {
          await assert.rejects(warehouse.init(), /is a Distributed table, expected MergeTree/);
        } finally {
          await warehouse.close();
          await state.close();
        }
      });
    }

    test('ties on the latest day go to the smallest name (byte order), in top() and the dimensions', async () => {
      const c = 'ties';
      await ctx.wh.replaceWindow(load(c, '2026-07-10', '2026-07-11'), batches([
        row('2026-07-10', { publisher_id: 't', publisher_name: 'A older day', sales: '1' }),
        row('2026-07-11', { publisher_id: 't', publisher_name: 'b', sales: '1' }),
        row('2026-07-11', { publisher_id: 't', publisher_name: 'B', sales: '1' }),
        row('2026-07-11', { publisher_id: 't', publisher_name: null, sales: '1' }),
      ]));
      const [t] = await ctx.wh.top('publisher', c, '2026-07-10', '2026-07-11', 1);
      assert.deepEqual(t, { id: 't', name: 'B', rows: 4, sales: '4.0000', total_commissions: '0' });
      const [d] = await rawRows(ctx, `SELECT name FROM $db.rakuten_publishers WHERE _connector = 'ties'`);
      assert.equal(d!.name, 'B');
    });

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
      test('cluster: every (connector, day) lives on one shard, the one the Distributed key picks; replacing keeps one copy', async () => {
        const c = 'sharded';
        const rows = sampleRows('2026-08-01', 12, 20, 21);
        for (let i = 0; i < 3; i++) await ctx.wh.replaceWindow(load(c, '2026-08-01', '2026-08-12', `s${i}`), batches(rows, 7));
        const t = await testServers(true, ctx.db);
        try {
          assert.equal(t.servers.length, 2);
          const perShard = await Promise.all(
            t.servers.map((s) => s.rows<{ d: string; n: string }>(`SELECT toString(_date) AS d, toString(count()) AS n FROM ${ident(ctx.db)}.rakuten_affiliate_report_local WHERE _connector = 'sharded' GROUP BY _date`)),
          );
          const where = new Map<string, number[]>();
          perShard.forEach((rs, shard) => rs.forEach((r) => where.set(r.d, [...(where.get(r.d) ?? []), shard])));
          assert.equal(where.size, 12);
          for (const [d, shards] of where) assert.equal(shards.length, 1, `${d} is on shards ${shards.join(',')}`);
          assert.ok(perShard.every((rs) => rs.length > 0), 'both shards hold some days');
          for (const rs of perShard) for (const r of rs) assert.equal(Number(r.n), 20, `${r.d}: one copy`);
          const key = await ctx.server.rows<{ d: string; s: string }>(
            `SELECT toString(d) AS d, toString(cityHash64(c, d) % 2) AS s FROM (SELECT arrayJoin([${[...where.keys()].map((d) => `toDate('${d}')`).join(',')}]) AS d, materialize('sharded') AS c)`,
          );
          for (const k of key) assert.deepEqual(where.get(k.d), [Number(k.s)], `${k.d} follows cityHash64(_connector, _date)`);
          // The Distributed table reads both shards.
          assert.equal((await ctx.wh.coverage(c)).rows, 240);
          // A replace on the cluster empties exactly its days, on their shards.
          await ctx.wh.replaceWindow(load(c, '2026-08-03', '2026-08-10'), batches(rows.filter((r) => r[0] === '2026-08-05')));
          assert.deepEqual(await ctx.wh.coverage(c), { rows: 100, days: 5, firstDay: '2026-08-01', lastDay: '2026-08-12' });
          await ctx.wh.deleteConnectorData(c);
          for (const s of t.servers) {
            const [left] = await s.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${ident(ctx.db)}.rakuten_affiliate_report_local WHERE _connector = 'sharded'`);
            assert.equal(left!.n, '0');
          }
        } finally {
          await t.close();
        }
      });
    }
  });
}

test('rows for a day outside the window are appended, like DuckDB (no old rows of that day are lost)', { skip: !(await clickHouseAvailable(false)) && !process.env.CI }, async () => {
  const ctx = await open(false);
  try {
    await ctx.wh.replaceWindow(load('out', '2026-09-02', '2026-09-02'), batches([row('2026-09-02', { publisher_id: 'a' })]));
    await ctx.wh.replaceWindow(load('out', '2026-09-01', '2026-09-01'), batches([row('2026-09-01', { publisher_id: 'b' }), row('2026-09-02', { publisher_id: 'c' })]));
    assert.deepEqual((await ctx.wh.dayTotals('out', '2026-09-01', '2026-09-02')).map((d) => [d.day, d.rows]), [['2026-09-01', 1], ['2026-09-02', 2]]);
    await assert.rejects(ctx.wh.replaceWindow(load('out', '2026-09-01', '2026-09-01'), batches([row('1969-12-31')])), /outside ClickHouse's Date range/);
    assert.equal((await ctx.wh.coverage('out')).rows, 3);
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
    await assert.rejects(ctx.wh.replaceWindow(load('out', '2026-09-05', '2026-09-04'), it), /ends before it starts/);
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
      assert.equal(warehouse.capabilities.shared, true);
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

void ({} as Warehouse);
