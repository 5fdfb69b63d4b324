/**
 * The migration of a first-layout ClickHouse database (commit 72a98da: the fact table MergeTree
 * PARTITION BY (_connector, _date), on a cluster `_local` + Distributed, rows placed by a route
 * that hashed the day as a string) to the versioned layout (src/warehouse/clickhouse/migrate.ts),
 * on the single server and on the two-shard cluster: a v1 database is built by hand with the v1
 * DDL, the expected reads are computed from it with the first warehouse's SQL, then init() of the
 * new code must migrate it (and resume an interrupted migration). Without a server the tests
 * skip, except under CI (CI set), where they fail.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowsBody } from '../src/model/report-body.js';
import { LOADED_COLUMNS, type ReportRow } from '../src/model/schema.js';
import { addDays } from '../src/util/days.js';
import { ConnectorError } from '../src/util/errors.js';
import { coverageFrom, dayTotalsFrom, topEntryFrom } from '../src/warehouse/amounts.js';
import { type ChServer, ident, str } from '../src/warehouse/clickhouse/connection.js';
import { verify } from '../src/warehouse/clickhouse/migrate.js';
import { initServer, Layout, SHARDING_KEY } from '../src/warehouse/clickhouse/schema.js';
import { openWithoutInit } from '../src/warehouse/registry.js';
import type { Warehouse } from '../src/warehouse/types.js';
import { CLUSTER_NAME, clickHouseAvailable, createTestClickHouseUrl, testServers } from './helpers/clickhouse.js';

// ---- The first layout's DDL (72a98da, src/warehouse/clickhouse/schema.ts initServer), as the server renders it.

const V1_FACT_COLUMNS = `_connector String, _date Date, transaction_date Nullable(Date), order_id Nullable(String), publisher_id Nullable(String),
  publisher_name Nullable(String), publisher_url Nullable(String), publisher_group_id Nullable(String), publisher_group_name Nullable(String),
  sub_publisher_id Nullable(String), sub_publisher_name Nullable(String), sub_publisher_url Nullable(String), offer_id Nullable(String),
  offer_name Nullable(String), link_id Nullable(String), link_name Nullable(String), impressions Nullable(Int64), clicks Nullable(Int64),
  orders Nullable(Int64), sales Nullable(Decimal(18, 4)), gross_commissions Nullable(Decimal(18, 4)), total_commissions Nullable(Decimal(18, 4)),
  _extra Nullable(String), _synced_at DateTime('UTC'), _sync_id String`;
const NAME_STATE = 'AggregateFunction(argMax, Tuple(UInt8, String), Tuple(Date, UInt64))';
const V1_DIMS = [
  { table: 'rakuten_publishers', id: 'publisher_id', name: 'publisher_name', url: 'publisher_url' },
  { table: 'rakuten_offers', id: 'offer_id', name: 'offer_name' },
  { table: 'rakuten_links', id: 'link_id', name: 'link_name' },
] as { table: string; id: string; name: string; url?: string }[];

function v1Ddl(db: string, cluster: string | null): string[] {
  const t = (n: string) => `${ident(db)}.${ident(n)}`;
  const local = cluster ? 'rakuten_affiliate_report_local' : 'rakuten_affiliate_report';
  const out = [`CREATE TABLE ${t(local)} (${V1_FACT_COLUMNS}) ENGINE = MergeTree PARTITION BY (_connector, _date) ORDER BY (_connector, _date)`];
  if (cluster) {
    out.push(`CREATE TABLE ${t('rakuten_affiliate_report')} AS ${t(local)} ENGINE = Distributed(${str(cluster)}, ${str(db)}, ${str(local)}, cityHash64(_connector, _date))`);
  }
  for (const d of V1_DIMS) {
    const state = cluster ? `${d.table}_state_local` : `${d.table}_state`;
    out.push(
      `CREATE TABLE ${t(state)} (_connector String, id String, name ${NAME_STATE},${d.url ? ` url ${NAME_STATE},` : ''} first_seen AggregateFunction(min, Date), last_seen AggregateFunction(max, Date)) ENGINE = AggregatingMergeTree PARTITION BY _connector ORDER BY (_connector, id)`,
    );
    if (cluster) out.push(`CREATE TABLE ${t(`${d.table}_state`)} AS ${t(state)} ENGINE = Distributed(${str(cluster)}, ${str(db)}, ${str(state)})`);
    const url = d.url ? ['if(m_url.1 = 1, NULL, m_url.2) AS url, ', 'argMaxMerge(url) AS m_url, '] : ['', ''];
    out.push(
      `CREATE VIEW ${t(d.table)} AS SELECT _connector, id, if(m_name.1 = 1, NULL, m_name.2) AS name, ${url[0]}m_first_seen AS first_seen, m_last_seen AS last_seen FROM (SELECT _connector, id, argMaxMerge(name) AS m_name, ${url[1]}minMerge(first_seen) AS m_first_seen, maxMerge(last_seen) AS m_last_seen FROM ${t(`${d.table}_state`)} GROUP BY _connector, id)`,
    );
  }
  return out;
}

// ---- v1 data: several connectors (one with hostile text in its name), three months, NULL and negative amounts.

const HOSTILE = ['tab\there', 'new\nline', `quotes ' " \` ''`, 'back\\slash \\N \\t', '\\N', 'emoji 🎉 日本語', "x'); DROP TABLE rakuten_affiliate_report;--", '\u0000nul \u0001'];
const CONNECTORS = ['acme', "o'brien \\ shop\t1", 'zeta'];
const COL = Object.fromEntries(LOADED_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;

function v1Rows(connector: string, seed: number, start: string, days: number): ReportRow[] {
  let s = seed >>> 0;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
  const money = (allNull: boolean) => (allNull || rnd(6) === 0 ? null : `${rnd(3) === 0 ? '-' : ''}${rnd(100000)}.${String(rnd(10000)).padStart(4, '0')}`);
  const out: ReportRow[] = [];
  for (let d = 0; d < days; d++) {
    if (rnd(7) === 0) continue; // days without rows
    const day = addDays(start, d);
    const allNull = d === 3; // a day whose amounts are all NULL
    for (let i = 0, n = 1 + rnd(9); i < n; i++) {
      const r: ReportRow = new Array(LOADED_COLUMNS.length).fill(null);
      const pub = `p${rnd(6)}`;
      const off = rnd(8) === 0 ? null : `o${rnd(4)}`;
      const tx = rnd(9) === 0 ? null : addDays(day, -rnd(3));
      const name = rnd(5) === 0 ? HOSTILE[rnd(HOSTILE.length)]! : `Pub ${pub} ${tx ?? day}`;
      Object.assign(r, {
        [COL._date!]: day, [COL.transaction_date!]: tx, [COL.order_id!]: rnd(4) === 0 ? null : `ord-${d}-${i}`,
        [COL.publisher_id!]: pub, [COL.publisher_name!]: rnd(6) === 0 ? null : name, [COL.publisher_url!]: rnd(5) === 0 ? null : `https://${pub}.example/${day}`,
        [COL.offer_id!]: off, [COL.offer_name!]: off ? `Offer ${off} ${HOSTILE[rnd(HOSTILE.length)]}` : null,
        [COL.link_id!]: `l${rnd(9)}`, [COL.link_name!]: rnd(4) === 0 ? null : `Link ${tx ?? day}`,
        [COL.impressions!]: allNull || rnd(5) === 0 ? null : String(rnd(100000)), [COL.clicks!]: allNull ? null : String(rnd(1000) - 3),
        [COL.orders!]: allNull || rnd(3) === 0 ? null : String(rnd(20) - 2),
        [COL.sales!]: money(allNull), [COL.gross_commissions!]: money(allNull), [COL.total_commissions!]: money(allNull),
        [COL._extra!]: rnd(5) === 0 ? JSON.stringify({ note: HOSTILE[rnd(HOSTILE.length)] }) : null,
      });
      out.push(r);
    }
  }
  return out;
}

function values(connector: string, r: ReportRow): string {
  const cells = LOADED_COLUMNS.map((c, i) => {
    const v = r[i];
    if (v === null || v === undefined) return 'NULL';
    return c.type === 'bigint' || c.type === 'money' ? v : str(v);
  });
  return `(${str(connector)}, ${cells.join(', ')}, '2025-06-01 10:00:00', ${str(`v1-${connector}`)})`;
}

interface V1Db {
  url: string;
  db: string;
  cluster: boolean;
  servers: ChServer[];
  /** (connector \u0001 day) → shard index the v1 rows were put on. */
  placed: Map<string, number>;
  rows: number;
  q(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** A database of the first layout, filled as the first warehouse did (on the cluster: routed by the day's string hash). */
async function buildV1(cluster: boolean): Promise<V1Db> {
  const { url, drop } = await createTestClickHouseUrl({ cluster });
  const db = new URL(url.replace(/^clickhouse/, 'http')).pathname.slice(1);
  const t = await testServers(cluster, db);
  const main = t.servers[0]!;
  for (const s of t.servers) for (const sql of v1Ddl(db, cluster ? CLUSTER_NAME : null)) await s.run(sql);
  const local = `${ident(db)}.${cluster ? 'rakuten_affiliate_report_local' : 'rakuten_affiliate_report'}`;
  const placed = new Map<string, number>();
  let rows = 0;
  for (const [k, c] of CONNECTORS.entries()) {
    const all = v1Rows(c, 11 + k, k === 1 ? '2025-12-20' : '2025-12-28', 50);
    rows += all.length;
    const days = [...new Set(all.map((r) => r[COL._date!]!))];
    const shardOf = new Map<string, number>(days.map((d) => [d, 0]));
    if (cluster) {
      // The first layout's route(), alias shadowing and all: the day is hashed as a string.
      const routed = await main.rows<{ d: string; h: string }>(
        `SELECT toString(d) AS d, toString(cityHash64(c, d) % ${t.servers.length}) AS h
         FROM (SELECT arrayJoin([${days.map((d) => `toDate('${d}')`).join(', ')}]) AS d, materialize(${str(c)}) AS c)`,
      );
      for (const r of routed) shardOf.set(r.d, Number(r.h));
    }
    for (const [i, s] of t.servers.entries()) {
      const mine = all.filter((r) => shardOf.get(r[COL._date!]!) === i);
      if (mine.length) await s.run(`INSERT INTO ${local} VALUES ${mine.map((r) => values(c, r)).join(', ')}`);
    }
    for (const [d, i] of shardOf) placed.set(`${c}\u0001${d}`, i);
  }
  // Dimension states as the first layout's refreshDimensions left them (one load per connector).
  const src = `${ident(db)}.rakuten_affiliate_report`;
  const dayExpr = 'coalesce(transaction_date, _date)';
  const latest = (v: string) => `argMin(${v}, tuple(-toInt32(${dayExpr}), ${v}))`;
  for (const d of V1_DIMS) {
    const state = `${ident(db)}.${ident(cluster ? `${d.table}_state_local` : `${d.table}_state`)}`;
    const order = 'tuple(w_last, toUInt64(cityHash64(_connector) % 1000))';
    await main.run(
      `INSERT INTO ${state} (_connector, id, name, ${d.url ? 'url, ' : ''}first_seen, last_seen)
       SELECT _connector, w_id, argMaxState(tuple(toUInt8(isNull(w_name)), ifNull(w_name, '')), ${order}),
              ${d.url ? `argMaxState(tuple(toUInt8(isNull(w_url)), ifNull(w_url, '')), ${order}), ` : ''}minState(w_first), maxState(w_last)
       FROM (SELECT _connector, assumeNotNull(${d.id}) AS w_id, ${latest(d.name)} AS w_name${d.url ? `, ${latest(d.url)} AS w_url` : ''},
                    min(${dayExpr}) AS w_first, max(${dayExpr}) AS w_last
             FROM ${src} WHERE ${d.id} IS NOT NULL GROUP BY _connector, w_id)
       GROUP BY _connector, w_id`,
    );
  }
  return {
    url, db, cluster, servers: t.servers, placed, rows,
    q: (sql) => main.rows(sql.replace(/\$db\./g, `${ident(db)}.`)),
    close: async () => {
      await t.close();
      await drop();
    },
  };
}

// ---- What the first warehouse's reads said (72a98da warehouse.ts dayTotals / top / coverage), and the dimension views.

const RANGE = ['2025-11-01', '2026-03-31'] as const;

async function v1Expected(v: V1Db) {
  const where = (c: string | null) => `${c === null ? '' : `_connector = ${str(c)} AND `}_date BETWEEN toDate('${RANGE[0]}') AND toDate('${RANGE[1]}')`;
  const out: Record<string, unknown> = {};
  for (const c of [null, ...CONNECTORS]) {
    const days = await v.q(
      `SELECT toString(_date) AS d, toString(count()) AS n, toString(sum(impressions)) AS i, toString(sum(clicks)) AS cl, toString(sum(orders)) AS o,
              toString(sum(sales)) AS s, toString(sum(gross_commissions)) AS g, toString(sum(total_commissions)) AS tc
       FROM $db.rakuten_affiliate_report WHERE ${where(c)} GROUP BY _date ORDER BY _date`,
    );
    out[`days ${c}`] = days.map((r) => dayTotalsFrom({ day: r.d, rows: r.n, impressions: r.i, clicks: r.cl, orders: r.o, sales: r.s, gross_commissions: r.g, total_commissions: r.tc } as never));
    for (const [dim, id, name] of [['publisher', 'publisher_id', 'publisher_name'], ['offer', 'offer_id', 'offer_name']] as const) {
      const top = await v.q(
        `SELECT _connector AS cn, ${id} AS k, argMin(${name}, tuple(-toInt32(coalesce(transaction_date, _date)), ${name})) AS nm, toString(count()) AS n,
                sum(sales) AS s_order, toString(s_order) AS s_sales, toString(sum(total_commissions)) AS s_total
         FROM $db.rakuten_affiliate_report WHERE ${where(c)} AND ${id} IS NOT NULL GROUP BY _connector, ${id} ORDER BY s_order DESC NULLS LAST, k, cn LIMIT 1000`,
      );
      out[`top ${dim} ${c}`] = top.map((r) => topEntryFrom({ connector: r.cn, id: r.k, name: r.nm, rows: r.n, sales: r.s_sales, total_commissions: r.s_total } as never));
    }
    if (c !== null) {
      const [r] = await v.q(
        `SELECT toString(count()) AS n, toString(uniqExact(_date)) AS days, toString(min(_date)) AS first, toString(max(_date)) AS last FROM $db.rakuten_affiliate_report WHERE _connector = ${str(c)}`,
      );
      out[`coverage ${c}`] = coverageFrom(r && { rows: r.n, days: r.days, first: r.first, last: r.last } as never);
    }
  }
  out.dims = await dims(v);
  return out;
}

async function dims(v: V1Db) {
  const out: Record<string, unknown[]> = {};
  for (const d of V1_DIMS) {
    out[d.table] = await v.q(
      `SELECT _connector, id, name, ${d.url ? 'url, ' : ''}toString(first_seen) AS f, toString(last_seen) AS l FROM $db.${d.table} ORDER BY _connector, id`,
    );
  }
  return out;
}

async function reads(wh: Warehouse, v: V1Db) {
  const out: Record<string, unknown> = {};
  for (const c of [null, ...CONNECTORS]) {
    out[`days ${c}`] = await wh.dayTotals(c, ...RANGE);
    for (const dim of ['publisher', 'offer'] as const) out[`top ${dim} ${c}`] = await wh.top(dim, c, RANGE[0], RANGE[1], 1000);
    if (c !== null) out[`coverage ${c}`] = await wh.coverage(c);
  }
  out.dims = await dims(v);
  return out;
}

async function open(v: V1Db): Promise<{ wh: Warehouse; close(): Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), 'rc-chm-'));
  const { warehouse, state } = await openWithoutInit(v.url, home);
  return {
    wh: warehouse,
    close: async () => {
      await warehouse.close();
      await state.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Every table of the database on every server, with its engine. */
async function tableList(v: V1Db): Promise<string[]> {
  const per = await Promise.all(v.servers.map((s, i) => s.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${str(v.db)} ORDER BY name`).then((rs) => rs.map((r) => `${i}:${r.name}:${r.engine}`))));
  return per.flat();
}

async function leftovers(v: V1Db): Promise<string[]> {
  return (await tableList(v)).filter((n) => /_v1\b|_v1:|rakuten_v1_migration|:MergeTree$/.test(n));
}

/** Per shard: the (connector, day)s with live rows in the rows, versions and top tables, and the slot the Distributed key gives each. */
async function placement(v: V1Db) {
  const t = (n: string) => `${ident(v.db)}.${ident(v.cluster ? `${n}_local` : n)}`;
  const n = v.servers.length;
  return Promise.all(
    v.servers.map(async (s) => {
      const q = (table: string, having: string) =>
        s.rows<{ c: string; d: string; h: string }>(
          `SELECT _connector AS c, toString(_date) AS d, toString(any(cityHash64(_connector, _date) % ${n})) AS h FROM ${t(table)} GROUP BY _connector, _date ${having}`,
        );
      return [...(await q('rakuten_affiliate_report_rows', 'HAVING sum(_sign) > 0')), ...(await q('rakuten_day_versions', '')), ...(await q('rakuten_day_top_rows', 'HAVING sum(_sign) > 0'))];
    }),
  );
}

/** Rows inserted through a Distributed table with the warehouse's sharding key land on the shard each (connector, day) was migrated to. */
async function probeDistributed(v: V1Db, where: { c: string; d: string }[][]): Promise<void> {
  const db = ident(v.db);
  for (const s of v.servers) await s.run(`CREATE TABLE ${db}.probe_local (_connector String, _date Date) ENGINE = MergeTree ORDER BY _connector`);
  await v.servers[0]!.run(`CREATE TABLE ${db}.probe AS ${db}.probe_local ENGINE = Distributed(${str(CLUSTER_NAME)}, ${str(v.db)}, 'probe_local', ${SHARDING_KEY})`);
  const keys = new Map<string, number>();
  where.forEach((rs, shard) => rs.forEach((r) => keys.set(`${r.c}\u0001${r.d}`, shard)));
  await v.servers[0]!.run(`INSERT INTO ${db}.probe VALUES ${[...keys.keys()].map((k) => { const [c, d] = k.split('\u0001'); return `(${str(c!)}, '${d}')`; }).join(', ')}`);
  let landed: { c: string; d: string }[][] = [];
  for (let i = 0; i < 100; i++) {
    landed = await Promise.all(v.servers.map((s) => s.rows<{ c: string; d: string }>(`SELECT _connector AS c, toString(_date) AS d FROM ${db}.probe_local`)));
    if (landed.flat().length === keys.size) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(landed.flat().length, keys.size, 'the Distributed table delivered the probe rows');
  landed.forEach((rs, shard) => rs.forEach((r) => assert.equal(keys.get(`${r.c}\u0001${r.d}`), shard, `${r.c} ${r.d}: Distributed puts it on shard ${shard}`)));
  await v.servers[0]!.run(`DROP TABLE ${db}.probe`);
  for (const s of v.servers) await s.run(`DROP TABLE ${db}.probe_local`);
}

function countByDay(rows: ReportRow[]): [string, number][] {
  const n = new Map<string, number>();
  for (const r of rows) n.set(r[COL._date!]!, (n.get(r[COL._date!]!) ?? 0) + 1);
  return [...n].sort(([a], [b]) => (a < b ? -1 : 1));
}

function labelOf(cluster: boolean): string {
  return cluster ? 'ClickHouse two-shard cluster' : 'ClickHouse single server';
}

for (const cluster of [false, true]) {
  const label = labelOf(cluster);
  const available = await clickHouseAvailable(cluster);
  if (!available && process.env.CI) {
    test(`${label} is reachable`, () => {
      assert.fail(`${label} is not answering: run scripts/clickhouse.sh ${cluster ? 'start-cluster' : 'start-single'}`);
    });
    continue;
  }

  describe(`migration from the first layout, ${label}`, { skip: available ? false : `no ${label} (scripts/clickhouse.sh start)`, concurrency: false }, () => {
    test('init() migrates: reads and dimensions as v1 said, every day on its shard, v1 dropped, a second init is a no-op, replace works after', async () => {
      const v = await buildV1(cluster);
      const o = await open(v);
      try {
        const expected = await v1Expected(v);
        assert.ok((expected['days null'] as unknown[]).length > 40, 'the v1 data spans many days');
        const started = Date.now();
        await o.wh.init();
        const took = Date.now() - started;
        assert.deepEqual(await reads(o.wh, v), expected);
        assert.deepEqual(await leftovers(v), [], 'the v1 tables and the lease are gone');
        // Every live row, version and top row is on the shard the Distributed key picks, and rows are numbered uniquely.
        const where = await placement(v);
        let moved = 0;
        where.forEach((rs, shard) => {
          for (const r of rs) {
            assert.equal(Number(r.h), shard, `${r.c} ${r.d} on shard ${shard}`);
            if (v.placed.get(`${r.c}\u0001${r.d}`) !== shard) moved++;
          }
        });
        if (cluster) {
          assert.ok(moved > 0 && moved < where.flat().length, `some days moved shard (${moved})`);
          await probeDistributed(v, where);
        }
        const [u] = await v.q(`SELECT toString(count()) AS n, toString(uniqExact(_connector, _date, _version, _row)) AS u, toString(uniqExact(_version)) AS vs FROM $db.rakuten_affiliate_report_rows`);
        assert.deepEqual(u, { n: String(v.rows), u: String(v.rows), vs: '1' });
        // A second init changes nothing.
        const versions = () => v.q(`SELECT toString(count()) AS n, toString(max(_version)) AS m FROM $db.rakuten_day_versions`);
        const before = { tables: await tableList(v), versions: await versions() };
        await o.wh.init();
        assert.deepEqual({ tables: await tableList(v), versions: await versions() }, before);
        const migrated = String(before.versions[0]!.m);
        // A replace of migrated days replaces them (and only them).
        const c = CONNECTORS[1]!;
        const window = ['2026-01-05', '2026-01-09'] as const;
        const fresh = v1Rows(c, 99, window[0], 5).map((r) => ((r[COL.publisher_name!] = 'Fresh name'), r));
        await o.wh.replaceWindow({ connector: c, start: window[0], end: window[1], syncId: 'after', syncedAt: new Date(), currency: 'USD' }, rowsBody((async function* () {
          yield fresh;
        })()));
        const after = await o.wh.dayTotals(c, ...RANGE);
        const old = expected[`days ${c}`] as { day: string; rows: number }[];
        const inWindow = (d: string) => d >= window[0] && d <= window[1];
        assert.deepEqual(after.filter((d) => !inWindow(d.day)), old.filter((d) => !inWindow(d.day)));
        assert.deepEqual(after.filter((d) => inWindow(d.day)).map((d) => [d.day, d.rows]), countByDay(fresh));
        assert.equal((await o.wh.coverage(c)).rows, (expected[`coverage ${c}`] as { rows: number }).rows - old.filter((d) => inWindow(d.day)).reduce((a, d) => a + d.rows, 0) + fresh.length);
        const [gone] = await v.q(
          `SELECT toString(sum(_sign)) AS n FROM $db.rakuten_affiliate_report_rows WHERE _connector = ${str(c)} AND _date BETWEEN toDate('${window[0]}') AND toDate('${window[1]}') AND _version = ${migrated}`,
        );
        assert.equal(gone!.n, '0', 'the migrated rows of the replaced days are cancelled');
        console.log(`# ${label}: migrated ${v.rows} rows in ${took} ms`);
      } finally {
        await o.close();
        await v.close();
      }
    });
    test('resume: an interrupted migration (claimed, partly copied or partly claimed, a dead lease) finishes with a new version; the earlier attempt is cancelled', async () => {
      const v = await buildV1(cluster);
      const o = await open(v);
      try {
        const expected = await v1Expected(v);
        const l = new Layout(v.db, cluster ? CLUSTER_NAME : null);
        const head = v.servers[0]!;
        const db = ident(v.db);
        // The process that died: its lease row is an hour old.
        await head.run(`CREATE TABLE ${db}.rakuten_v1_migration (owner String, at DateTime) ENGINE = Log`);
        await head.run(`INSERT INTO ${db}.rakuten_v1_migration SELECT 'dead', now() - 3600`);
        if (cluster) {
          // It died within the claim: only the first shard's fact table is renamed.
          await head.run(`RENAME TABLE ${db}.rakuten_affiliate_report_local TO ${db}.rakuten_affiliate_report_local_v1`);
        } else {
          // It died within the copy: December copied and (as a harder case) published at version 1000 with
          // a made-up top row, January copied at 2000 and not published.
          await head.run(`RENAME TABLE ${db}.rakuten_affiliate_report TO ${db}.rakuten_affiliate_report_v1`);
          assert.equal(await initServer(head, l), 'v1', 'initServer reports the unfinished migration');
          const fact = LOADED_COLUMNS.map((c) => ident(c.name)).join(', ');
          for (const [version, range] of [[1000, "_date < '2026-01-01'"], [2000, "_date >= '2026-01-01' AND _date < '2026-02-01'"]] as const) {
            await head.run(
              `INSERT INTO ${db}.rakuten_affiliate_report_rows (_connector, ${fact}, _synced_at, _sync_id, _version, _row, _sign)
               SELECT _connector, ${fact}, _synced_at, _sync_id, toUInt64(${version}), toUInt32(rowNumberInAllBlocks()), toInt8(1) FROM ${db}.rakuten_affiliate_report_v1 WHERE ${range}`,
            );
          }
          await head.run(
            `INSERT INTO ${db}.rakuten_day_versions (_connector, _date, rows, _version)
             SELECT _connector, _date, toDecimal128(count(), 0), toUInt64(1000) FROM ${db}.rakuten_affiliate_report_rows WHERE _version = 1000 GROUP BY _connector, _date`,
          );
          await head.run(`INSERT INTO ${db}.rakuten_day_top_rows (_connector, _date, dimension, id, rows, _version, _sign) SELECT 'acme', toDate('2025-12-29'), 'publisher', 'ghost', toDecimal128(1, 0), toUInt64(1000), toInt8(1)`);
        }
        await o.wh.init();
        assert.deepEqual(await reads(o.wh, v), expected);
        assert.deepEqual(await leftovers(v), [], 'the v1 tables and the lease are gone');
        const where = await placement(v);
        where.forEach((rs, shard) => rs.forEach((r) => assert.equal(Number(r.h), shard, `${r.c} ${r.d} on shard ${shard}`)));
        const [live] = await v.q(`SELECT toString(sum(_sign)) AS n, toString(uniqExactIf(_version, _sign = 1 AND _version > 2000)) AS vs FROM $db.rakuten_affiliate_report_rows`);
        assert.deepEqual(live, { n: String(v.rows), vs: '1' }, 'one live version, the earlier attempt cancelled');
        if (!cluster) {
          const [old] = await v.q(
            `SELECT toString(sum(_sign)) AS n, toString(count()) AS k FROM $db.rakuten_affiliate_report_rows WHERE _version IN (1000, 2000)`,
          );
          assert.equal(old!.n, '0');
          assert.ok(Number(old!.k) > 0);
          const [ghost] = await v.q(`SELECT toString(sum(_sign)) AS n FROM $db.rakuten_day_top_rows WHERE id = 'ghost'`);
          assert.equal(ghost!.n, '0');
        }
      } finally {
        await o.close();
        await v.close();
      }
    });

    test('two processes initialising at once: one migrates, the other waits for it', async () => {
      const v = await buildV1(cluster);
      const a = await open(v);
      const b = await open(v);
      try {
        const expected = await v1Expected(v);
        await Promise.all([a.wh.init(), b.wh.init()]);
        assert.deepEqual(await reads(a.wh, v), expected);
        assert.deepEqual(await reads(b.wh, v), expected);
        const [u] = await v.q(`SELECT toString(count()) AS n, toString(uniqExact(_version)) AS vs FROM $db.rakuten_affiliate_report_rows`);
        assert.deepEqual(u, { n: String(v.rows), vs: '1' }, 'copied once');
        assert.deepEqual(await leftovers(v), []);
      } finally {
        await a.close();
        await b.close();
        await v.close();
      }
    });

    if (!cluster) {
      test('verification refuses a copy that differs from v1, naming the database, and v1 stays', async () => {
        const v = await buildV1(false);
        const o = await open(v);
        try {
          const expected = await v1Expected(v);
          const l = new Layout(v.db, null);
          const head = v.servers[0]!;
          await head.run(`RENAME TABLE ${ident(v.db)}.rakuten_affiliate_report TO ${ident(v.db)}.rakuten_affiliate_report_v1`);
          await initServer(head, l);
          await assert.rejects(verify(head, l), (e: unknown) => {
            assert.ok(e instanceof ConnectorError);
            assert.match(e.message, new RegExp(`migrating ${v.db} from the first layout: .*rakuten_affiliate_report_v1 is left in place`));
            assert.match(e.message, /"acme" 2025-12-28/);
            return true;
          });
          assert.ok((await tableList(v)).includes('0:rakuten_affiliate_report_v1:MergeTree'));
          // The next init takes the claimed table over and finishes.
          await o.wh.init();
          assert.deepEqual(await reads(o.wh, v), expected);
          assert.deepEqual(await leftovers(v), []);
        } finally {
          await o.close();
          await v.close();
        }
      });
    }

    test('measure: migrating a bulk first-layout database', async () => {
      const n = Number(process.env.RAKUTEN_TEST_MIGRATE_ROWS || 100_000);
      const { url, drop } = await createTestClickHouseUrl({ cluster });
      const db = new URL(url.replace(/^clickhouse/, 'http')).pathname.slice(1);
      const t = await testServers(cluster, db);
      const home = mkdtempSync(join(tmpdir(), 'rc-chm-'));
      const { warehouse, state } = await openWithoutInit(url, home);
      try {
        for (const s of t.servers) for (const sql of v1Ddl(db, cluster ? CLUSTER_NAME : null)) await s.run(sql);
        // 8 connectors x 180 days (1 440 first-layout partitions), routed as the first layout did.
        const gen = `SELECT concat('bulk', toString(number % 8)) AS c, toDate('2025-01-01') + intDiv(number, 8) % 180 AS d, number FROM system.numbers LIMIT ${n}`;
        for (const [i, s] of t.servers.entries()) {
          await s.run(
            `INSERT INTO ${ident(db)}.${cluster ? 'rakuten_affiliate_report_local' : 'rakuten_affiliate_report'}
               (_connector, _date, transaction_date, publisher_id, publisher_name, offer_id, clicks, sales, total_commissions, _synced_at, _sync_id)
             SELECT c, d, d, concat('p', toString(number % 50)), concat('Publisher ', toString(number % 50)), concat('o', toString(number % 7)), toInt64(number % 100),
                    toDecimal64(toInt64(number % 10000) - 3000, 4) / 100, toDecimal64(number % 77, 4), now(), 'bulk'
             FROM (${gen}) WHERE ${cluster ? `cityHash64(c, toString(d)) % ${t.servers.length} = ${i}` : '1'}`,
          );
        }
        const started = Date.now();
        await warehouse.init();
        const took = Date.now() - started;
        const days = await warehouse.dayTotals(null, '2025-01-01', '2025-12-31');
        assert.equal(days.length, 180);
        assert.equal(days.reduce((a, d) => a + d.rows, 0), n);
        console.log(`# ${label}: migrated ${n} rows (8 connectors x 180 days) in ${took} ms (${Math.round(n / (took / 1000))} rows/s)`);
      } finally {
        await warehouse.close();
        await state.close();
        rmSync(home, { recursive: true, force: true });
        await t.close();
        await drop();
      }
    });
  });
}
