/**
 * Databases of the first ClickHouse layout (the fact table partitioned per connector and day,
 * which made every statement cost the number of partitions) are moved to the versioned layout
 * of schema.ts by init(). See docs/CLICKHOUSE.md, "Upgrading from the first layout". The
 * dimension state tables and views are the same in both layouts and stay as they are.
 *
 * ClickHouse has no transactions, so the protocol is steps that are safe to repeat:
 *
 * 1. Claim: RENAME of the first shard's fact table (`rakuten_affiliate_report[_local]` → `…_v1`
 *    / `…_local_v1`). It is atomic: one process wins, the others wait (below). Just before, the
 *    claimer writes a lease row (rakuten_v1_migration, owner and server time), and one every 10 s
 *    while it works. Then on every server: the other shards' fact tables are renamed too, the
 *    first layout's Distributed table dropped, a Distributed `rakuten_affiliate_report_v1` over
 *    the `_local_v1` tables created, and initServer creates the new tables.
 * 2. Copy, with one version for the whole migration (nextSeq, above every version the rows table
 *    has), month by month: each shard inserts the rows of the (connector, day)s the Distributed key
 *    gives it (the first layout hashed the day as a string, so many days move), stamped
 *    (_version, rowNumberInAllBlocks(), +1) and currency '' (unlabelled: the first layout had no
 *    currency, the app labels them), then that month's top summary. Then ONE insert per
 *    shard into rakuten_day_versions publishes all its days.
 * 3. Verify: per (connector, day), rows and sum(sales) of the v1 table, of the fact view and of the
 *    day totals must agree, else refuse (ConnectorError, v1 left in place). Then the rows of older
 *    versions (earlier attempts) are cancelled (_sign = -1 copies) and the v1 tables dropped: the
 *    first shard's fact table first, the lease last.
 *
 * Resume: initServer reports 'v1' while `_v1` tables or the lease are left, so init() comes back
 * here. A lease row of another process younger than 60 s: wait until its migration ends. Older
 * (the process died): take over, finishing the claim and copying again with a NEW version. Only a
 * whole copy is ever published and readers take the latest published version of each day, so an
 * earlier attempt's rows (unpublished, or published and now superseded) are invisible, and step 3
 * cancels them. Two processes that take over at the same instant both copy (wasted work, same
 * result; the second fails once the first drops v1). The first shard's v1 table gone means the
 * copy was verified: only the drops are finished.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAY_SUMMARY_TABLE } from '../../model/schema.js';
import { addDays } from '../../util/days.js';
import { ConnectorError } from '../../util/errors.js';
import { type ChServer, day, type Shard, str } from './connection.js';
import { DAY_SUM_VALUES, daySums, nextSeq, topSummaryInsert, VERSION_COLUMNS } from './load.js';
import {
  FACT_COLUMNS, factColumnsWith, initServer, type Layout, MAX_DAY, MIGRATION_LEASE, ROWS_TABLE, SHARDING_KEY, T, TOP_COLUMNS, TOP_ROWS_TABLE, V1_LOCAL_TABLE, V1_TABLE, VERSIONS_TABLE,
} from './schema.js';

export interface MigrateTarget {
  layout: Layout;
  /** Every server that gets DDL (the shards, and the URL's server if it is not one). */
  servers: ChServer[];
  shards: Shard[];
  /** Distributed's routing: slot (hash % total weight) → shard index. */
  slots: number[];
}

const BEAT_MS = 10_000;
/** A lease row younger than this: its owner is alive. */
export const LEASE_SECONDS = 60;

/** The first layout's fact table on a server, and its claimed name. */
const oldFact = (l: Layout): string => l.local(T);
const v1Fact = (l: Layout): string => (l.cluster ? V1_LOCAL_TABLE : V1_TABLE);

async function tables(s: ChServer, l: Layout): Promise<Map<string, string>> {
  const names = [T, `${T}_local`, ROWS_TABLE, V1_TABLE, V1_LOCAL_TABLE, MIGRATION_LEASE];
  const rows = await s.rows<{ name: string; engine: string }>(
    `SELECT name, engine FROM system.tables WHERE database = ${str(l.db)} AND name IN (${names.map(str).join(', ')})`,
  );
  return new Map(rows.map((r) => [r.name, r.engine]));
}

function both(l: Layout, s: ChServer): ConnectorError {
  return new ConnectorError('config', `${l.db} on ${s.label} holds both ${oldFact(l)} (first layout) and ${v1Fact(l)} (its migration)`, {
    hint: `a process of the first version recreated ${oldFact(l)}: stop it, then drop or rename one of the two tables`,
  });
}

export async function migrateV1(t: MigrateTarget): Promise<void> {
  const l = t.layout;
  const head = t.shards[0]!.server;
  const me = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const lease = (): Promise<void> => head.run(`CREATE TABLE IF NOT EXISTS ${l.t(MIGRATION_LEASE)} (owner String, at DateTime) ENGINE = Log`);
  const beat = (): Promise<void> => head.run(`INSERT INTO ${l.t(MIGRATION_LEASE)} (owner, at) SELECT ${str(me)}, now()`).catch(() => undefined);
  for (;;) {
    const on = await tables(head, l);
    if (on.get(oldFact(l)) === 'MergeTree') {
      if (on.has(v1Fact(l))) throw both(l, head);
      await lease();
      await beat();
      const won = await head.run(`RENAME TABLE ${l.t(oldFact(l))} TO ${l.t(v1Fact(l))}`).then(
        () => true,
        async (e: unknown) => {
          if ((await tables(head, l)).get(oldFact(l)) === 'MergeTree') throw e;
          return false; // another process renamed it first
        },
      );
      if (won) break;
      continue;
    }
    if (!on.has(v1Fact(l))) return finishDrops(t);
    if (!(on.has(MIGRATION_LEASE) && (await leaseHeld(head, l, me)))) break;
    await sleep(2000);
  }
  await lease();
  await beat();
  const timer = setInterval(() => void beat(), BEAT_MS);
  timer.unref();
  try {
    await claimServers(t);
    for (const s of t.servers) await initServer(s, l);
    const [top] = await head.rows<{ v: string }>(`SELECT toString(max(_version)) AS v FROM ${l.t(ROWS_TABLE)}`);
    const version = nextSeq(Number(top?.v ?? 0) + 1);
    await copy(t, version);
    await Promise.all(t.shards.map(({ server }) => publish(server, l, version)));
    await verify(head, l);
    await Promise.all(t.shards.map(({ server }) => cancelOlder(server, l, version)));
    await dropV1(t);
  } catch (e) {
    // Let the next init() take over at once instead of waiting for the lease to age.
    await head.run(`DROP TABLE IF EXISTS ${l.t(MIGRATION_LEASE)}`).catch(() => undefined);
    throw e;
  } finally {
    clearInterval(timer);
  }
}

/** Is a lease row of another process younger than LEASE_SECONDS (server time)? */
async function leaseHeld(s: ChServer, l: Layout, me: string): Promise<boolean> {
  const [r] = await s
    .rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${l.t(MIGRATION_LEASE)} WHERE owner != ${str(me)} AND toInt64(at) > toInt64(now()) - ${LEASE_SECONDS}`,
    )
    .catch(() => [{ n: '1' }]); // dropped meanwhile: its owner is finishing; look again
  return Number(r?.n) > 0;
}

/** Step 1 on every server (idempotent): fact tables renamed, the first layout's Distributed table replaced by one over the `_local_v1` tables. */
async function claimServers(t: MigrateTarget): Promise<void> {
  const l = t.layout;
  for (const s of t.servers) {
    const on = await tables(s, l);
    if (on.get(oldFact(l)) === 'MergeTree') {
      if (on.has(v1Fact(l))) throw both(l, s);
      await s.run(`RENAME TABLE ${l.t(oldFact(l))} TO ${l.t(v1Fact(l))}`);
      on.set(v1Fact(l), 'MergeTree');
    }
    if (!l.cluster) continue;
    // A Distributed table with the model's name and no rows table yet is the first layout's.
    if (on.has(T) && !on.has(ROWS_TABLE)) await s.run(`DROP TABLE IF EXISTS ${l.t(T)}`);
    if (on.has(V1_LOCAL_TABLE)) {
      await s.run(
        `CREATE TABLE IF NOT EXISTS ${l.t(V1_TABLE)} AS ${l.t(V1_LOCAL_TABLE)} ENGINE = Distributed(${str(l.cluster)}, ${str(l.db)}, ${str(V1_LOCAL_TABLE)})`,
      );
    }
  }
}

/**
 * Step 2's copy, a month at a time (one partition per insert, memory bounded by a block). On a
 * cluster each shard reads through the Distributed v1 table only the (connector, day)s whose
 * Distributed key falls into its slots; the filter runs on the shard holding the row. The row
 * number is taken after the union of the shards' rows, so it is unique in the month's insert.
 */
async function copy(t: MigrateTarget, version: number): Promise<void> {
  const l = t.layout;
  const months = await t.shards[0]!.server.rows<{ m: string }>(`SELECT toString(toStartOfMonth(_date)) AS m FROM ${l.t(V1_TABLE)} GROUP BY m ORDER BY m`);
  for (const { m } of months) {
    const [y, mo] = [Number(m.slice(0, 4)), Number(m.slice(5, 7))];
    const end = addDays(mo === 12 ? `${y + 1}-01-01` : `${y}-${String(mo + 1).padStart(2, '0')}-01`, -1);
    // Bounds as Date literals: one past MAX_DAY would wrap.
    const range = `_date BETWEEN ${day(m)} AND ${day(end < MAX_DAY ? end : MAX_DAY)}`;
    await Promise.all(
      t.shards.map(async ({ server }, i) => {
        const slots = t.slots.flatMap((s, k) => (s === i ? [k] : []));
        if (slots.length === 0) return;
        const mine = l.cluster ? ` AND (${SHARDING_KEY} % ${t.slots.length}) IN (${slots.join(', ')})` : '';
        await server.run(
          `INSERT INTO ${l.t(l.local(ROWS_TABLE))} (${FACT_COLUMNS}, _version, _row, _sign)
           SELECT ${FACT_COLUMNS}, toUInt64(${version}), toUInt32(rowNumberInAllBlocks()), toInt8(1)
           FROM (SELECT ${factColumnsWith(`'' AS currency`)} FROM ${l.t(V1_TABLE)} WHERE ${range}${mine})`,
        );
        await server.run(topSummaryInsert(l, `_version = ${version} AND ${range}`));
      }),
    );
  }
}

/** Step 2's switch on one shard: a versions row (count and sums, as publishShard computes them) for every (connector, day) of the copy. */
async function publish(s: ChServer, l: Layout, version: number): Promise<void> {
  await s.run(
    `INSERT INTO ${l.t(l.local(VERSIONS_TABLE))} (${VERSION_COLUMNS})
     SELECT _connector, _date, ${DAY_SUM_VALUES}, toUInt64(${version}), '' FROM (${daySums(l, `_version = ${version}`, '_connector, _date')})`,
  );
}

/** Step 3: rows and sum(sales) per (connector, day) agree between v1, the fact view and the day totals (through the Distributed tables on a cluster). */
export async function verify(s: ChServer, l: Layout): Promise<void> {
  const sales = "ifNull(toString(sum(toNullable(toDecimal128(sales, 4)))), 'NULL')";
  const bad = await s.rows<{ c: string; d: string }>(
    `SELECT _connector AS c, toString(_date) AS d FROM (
       SELECT _connector, _date, toString(count()) AS n, ${sales} AS s FROM ${l.t(V1_TABLE)} GROUP BY _connector, _date
       UNION ALL SELECT _connector, _date, toString(count()), ${sales} FROM ${l.t(T)} GROUP BY _connector, _date
       UNION ALL SELECT _connector, _date, toString(rows), ifNull(toString(sales), 'NULL') FROM ${l.t(DAY_SUMMARY_TABLE.name)}
     ) GROUP BY _connector, _date HAVING count() != 3 OR uniqExact(n, s) != 1 ORDER BY _connector, _date LIMIT 3`,
  );
  if (bad.length > 0) {
    const which = bad.map((b) => `${JSON.stringify(b.c.slice(0, 40))} ${b.d}`).join(', ');
    throw new ConnectorError('internal', `migrating ${l.db} from the first layout: rows or sales differ between ${V1_TABLE} and the copy (${which}); ${V1_TABLE} is left in place`, {
      hint: 'the database cannot be used until this is resolved; report it with the ClickHouse version',
    });
  }
}

/** Cancel, on one shard, the rows of versions older than the copy's (earlier attempts) that are not cancelled yet. */
async function cancelOlder(s: ChServer, l: Layout, version: number): Promise<void> {
  for (const [table, cols] of [
    [ROWS_TABLE, `${FACT_COLUMNS}, _version, _row`],
    [TOP_ROWS_TABLE, `${TOP_COLUMNS}, _version`],
  ] as const) {
    const x = l.t(l.local(table));
    await s.run(
      `INSERT INTO ${x} (${cols}, _sign) SELECT ${cols}, toInt8(-1) FROM ${x} WHERE _sign = 1 AND _version < ${version}
       AND (_connector, _date, _version) IN (SELECT _connector, _date, _version FROM ${x} WHERE _version < ${version} GROUP BY _connector, _date, _version HAVING sum(_sign) > 0)`,
    );
  }
}

/** The v1 tables, the first shard's fact table first (its absence says "verified"), the lease last. */
async function dropV1(t: MigrateTarget): Promise<void> {
  const l = t.layout;
  const head = t.shards[0]!.server;
  await head.run(`DROP TABLE IF EXISTS ${l.t(v1Fact(l))}`);
  for (const s of t.servers) for (const name of [V1_TABLE, V1_LOCAL_TABLE]) await s.run(`DROP TABLE IF EXISTS ${l.t(name)}`);
  await head.run(`DROP TABLE IF EXISTS ${l.t(MIGRATION_LEASE)}`);
}

/**
 * Nothing to copy on the first shard (verified, or never of the first layout): finish the drops.
 * A first-layout fact table the claim never reached must be empty (a server that was never a shard).
 */
async function finishDrops(t: MigrateTarget): Promise<void> {
  const l = t.layout;
  for (const s of t.servers) {
    const on = await tables(s, l);
    if (on.get(oldFact(l)) === 'MergeTree') {
      const [r] = await s.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${l.t(oldFact(l))}`);
      if (Number(r?.n) > 0) {
        throw new ConnectorError('config', `${l.db} on ${s.label} holds rows of the first layout, but the first shard ${t.shards[0]!.server.label} does not`, {
          hint: 'the cluster changed since the data was loaded: migrate with the shards in their former order',
        });
      }
      await s.run(`DROP TABLE IF EXISTS ${l.t(oldFact(l))}`);
    }
    if (l.cluster && on.has(T) && !on.has(ROWS_TABLE)) await s.run(`DROP TABLE IF EXISTS ${l.t(T)}`);
  }
  await dropV1(t);
}
