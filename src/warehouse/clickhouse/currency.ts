/**
 * The `currency` column on ClickHouse (src/model/schema.ts; docs/CLICKHOUSE.md, "Currency"): the
 * migration of tables made before it, relabelCurrency and unlabelledConnectors. A module of its
 * own because each has rules of its own that 18.16 dictates:
 *
 * - migrateCurrency (init): `ALTER TABLE … ADD COLUMN currency String DEFAULT ''` (metadata only;
 *   old rows read '') on every physical table without it, shards' local tables (initServer, before
 *   it names the column in a view) before the Distributed tables (whose structure was copied at
 *   creation). A view cannot be altered on 18.16
 *   (no CREATE OR REPLACE VIEW either), so each view without the column is swapped: the new view is
 *   created under a temporary name, then ONE `RENAME TABLE view TO old, new TO view` (readers miss
 *   it only inside that statement), then the old one is dropped. Every shard's views are swapped
 *   before the Distributed tables over them get the column, so a read through them never asks a
 *   shard for a column it lacks. Each step checks system.columns first and, when it fails, looks
 *   again (another process running init did it): idempotent, and concurrent inits both succeed.
 * - relabel: `ALTER TABLE … UPDATE currency = … WHERE _connector = … AND currency != …` on each
 *   shard's rows, versions and top rows tables (a mutation; skipped where no row differs, because an
 *   18.16 mutation rewrites every part it is given), then a wait until system.mutations says done
 *   (18.16 has no mutations_sync), so reads right after see the new label.
 * - unlabelled: from the versions table (a row per connector, day and load), the current version
 *   of each day only.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectorError } from '../../util/errors.js';
import { type ChServer, ident, type Shard, str } from './connection.js';
import { addCurrency, CURRENCY, type Layout, modelViews, tablesWithCurrency, ROWS_TABLE, TOP_ROWS_TABLE, VERSIONS_TABLE } from './schema.js';

const PHYSICAL = [ROWS_TABLE, VERSIONS_TABLE, TOP_ROWS_TABLE];
/** Temporary names of a view swap: `rakuten_currency_swap_<ms>_<hex>`; leftovers of a dead process are dropped after an hour. */
const SWAP_PREFIX = 'rakuten_currency_swap_';
const SWAP_MAX_AGE_MS = 3600_000;
/** How long relabel waits for its mutations. */
const MUTATION_TIMEOUT_MS = 15 * 60_000;

/** The tables of the database on a server: engine, and whether it has the currency column. */
async function columnsOf(s: ChServer, l: Layout): Promise<Map<string, { engine: string; currency: boolean }>> {
  const [tables, has] = await Promise.all([
    s.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${str(l.db)}`),
    tablesWithCurrency(s, l),
  ]);
  return new Map(tables.map((t) => [t.name, { engine: t.engine, currency: has.has(t.name) }]));
}

/** Replace a view without the column by the model's (see the header), retrying when a concurrent init gets in the way. */
async function swapView(s: ChServer, l: Layout, name: string, select: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const on = (await columnsOf(s, l)).get(name);
    if (on?.currency) return;
    if (!on) {
      // Lost between the two renames of a swap that failed half-way: create it.
      await s.run(`CREATE VIEW IF NOT EXISTS ${l.t(name)} AS ${select}`);
      continue;
    }
    const tag = `${SWAP_PREFIX}${Date.now()}_${randomBytes(5).toString('hex')}`;
    const [fresh, old] = [`${tag}_new`, `${tag}_old`];
    await s.run(`CREATE VIEW ${l.t(fresh)} AS ${select}`);
    try {
      await s.run(`RENAME TABLE ${l.t(name)} TO ${l.t(old)}, ${l.t(fresh)} TO ${l.t(name)}`);
      await s.run(`DROP TABLE IF EXISTS ${l.t(old)}`);
      return;
    } catch (e) {
      await s.run(`DROP TABLE IF EXISTS ${l.t(fresh)}`).catch(() => undefined);
      await s.run(`DROP TABLE IF EXISTS ${l.t(old)}`).catch(() => undefined);
      if (attempt >= 5) throw e;
    }
  }
}

/**
 * Give every table of the current layout that lacks `currency` the column, and the views (and
 * Distributed tables over them) too, on every server (see the header). A database of the first
 * layout has none of these tables yet: nothing to do until migrate.ts made them (with the column).
 */
export async function migrateCurrency(servers: ChServer[], l: Layout): Promise<void> {
  const state = await Promise.all(servers.map((s) => columnsOf(s, l)));
  const lacks = (i: number, name: string, engine: (e: string) => boolean): boolean => {
    const t = state[i]!.get(name);
    return !!t && !t.currency && engine(t.engine);
  };
  const isDist = (e: string) => e === 'Distributed';
  const each = (f: (s: ChServer, i: number) => Promise<void>) => Promise.all(servers.map((s, i) => f(s, i)));
  // 1. Physical tables: each shard's, then the Distributed ones over them.
  await each(async (s, i) => {
    for (const name of PHYSICAL) if (lacks(i, l.local(name), (e) => e.endsWith('MergeTree'))) await addCurrency(s, l, l.local(name));
  });
  if (l.cluster) {
    await each(async (s, i) => {
      for (const name of PHYSICAL) if (lacks(i, name, isDist)) await addCurrency(s, l, name);
    });
  }
  // 2. The views (each shard's), 3. the Distributed tables over them (as CREATE TABLE … AS the view makes them).
  const views = modelViews(l);
  await each(async (s, i) => {
    for (const [name, select] of views) if (lacks(i, l.local(name), (e) => e === 'View')) await swapView(s, l, l.local(name), select);
  });
  if (l.cluster) {
    await each(async (s, i) => {
      for (const [name] of views) {
        if (state[i]!.get(l.local(name))?.engine === 'View' && lacks(i, name, isDist)) await addCurrency(s, l, name, `${ident(CURRENCY)} String`);
      }
    });
  }
  // Swaps of a process that died between its statements.
  const now = Date.now();
  await each(async (s, i) => {
    for (const name of state[i]!.keys()) {
      const born = Number(new RegExp(`^${SWAP_PREFIX}(\\d+)_`).exec(name)?.[1] ?? NaN);
      if (Number.isFinite(born) && now - born > SWAP_MAX_AGE_MS) await s.run(`DROP TABLE IF EXISTS ${l.t(name)}`).catch(() => undefined);
    }
  });
}

/**
 * relabelCurrency on every shard (see the header): per table, a mutation only where a row of the
 * connector has another currency, then a wait for it; again until no row differs (a mutation
 * covers the parts that existed when it was queued).
 */
export async function relabel(l: Layout, shards: Shard[], connector: string, currency: string): Promise<void> {
  const where = `_connector = ${str(connector)} AND ${ident(CURRENCY)} != ${str(currency)}`;
  const tables = PHYSICAL.map((n) => l.local(n));
  await Promise.all(
    shards.map(async ({ server: s }) => {
      for (let round = 0; ; round++) {
        const counts = await s.rows<{ i: number; n: string }>(
          tables.map((t, i) => `SELECT toUInt8(${i}) AS i, toString(count()) AS n FROM ${l.t(t)} WHERE ${where}`).join(' UNION ALL '),
        );
        const todo = tables.filter((_, i) => Number(counts.find((r) => Number(r.i) === i)?.n ?? 0) > 0);
        if (todo.length === 0) return;
        if (round >= 3) throw new ConnectorError('server', `ClickHouse at ${s.label}: rows of ${connector} keep another currency after relabelling (is it syncing?)`);
        const before = new Set((await mutations(s, l, todo)).map((m) => `${m.table}\u0000${m.mutation_id}`));
        for (const t of todo) await s.run(`ALTER TABLE ${l.t(t)} UPDATE ${ident(CURRENCY)} = ${str(currency)} WHERE ${where}`);
        const deadline = Date.now() + MUTATION_TIMEOUT_MS;
        for (let wait = 20; ; wait = Math.min(wait * 2, 1000)) {
          const pending = (await mutations(s, l, todo)).filter((m) => !before.has(`${m.table}\u0000${m.mutation_id}`) && Number(m.is_done) !== 1);
          if (pending.length === 0) break;
          if (Date.now() > deadline) {
            throw new ConnectorError('server', `ClickHouse at ${s.label}: relabelling ${connector} waits for mutations of ${pending.map((m) => m.table).join(', ')}`, {
              hint: 'see system.mutations; relabel again once they are done',
            });
          }
          await sleep(wait);
        }
      }
    }),
  );
}

async function mutations(s: ChServer, l: Layout, tables: string[]) {
  return s.rows<{ table: string; mutation_id: string; is_done: number }>(
    `SELECT table, mutation_id, is_done FROM system.mutations WHERE database = ${str(l.db)} AND table IN (${tables.map(str).join(', ')})`,
  );
}

/**
 * unlabelledConnectors: connectors whose current version of a day with rows is labelled ''. The
 * IN set (connectors with any such version, per shard: each day's versions live on its shard)
 * keeps the read to those connectors, usually none.
 */
export function unlabelledSql(l: Layout): string {
  return `SELECT DISTINCT _connector AS c FROM (
      SELECT _connector, rows, ${ident(CURRENCY)} AS cur FROM ${l.t(VERSIONS_TABLE)}
      WHERE _connector IN (SELECT _connector FROM ${l.t(l.local(VERSIONS_TABLE))} WHERE ${ident(CURRENCY)} = '' AND rows > 0)
      ORDER BY _connector, _date, _version DESC LIMIT 1 BY _connector, _date
    ) WHERE rows > 0 AND cur = '' ORDER BY c`;
}
