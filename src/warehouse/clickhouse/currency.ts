/**
 * The `currency` column on ClickHouse (src/model/schema.ts; docs/CLICKHOUSE.md, "Currency"): the
 * migration of tables made before it, the check of a load's currency, relabelCurrency and
 * connectorCurrencies. A module of its own because each has rules of its own that 18.16 dictates:
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
 * - checkCurrency (each load, before it inserts anything): one SELECT … LIMIT 1 over the current
 *   versions of the connector's days (every shard's, through the Distributed versions table): a
 *   day with rows in a non-empty currency other than the load's refuses the load (relabel first).
 *   Its IN set (days with any such version) keeps the read to those days, usually none.
 * - relabel: `ALTER TABLE … UPDATE currency = … WHERE _connector = … AND currency != …` on each
 *   shard's rows, versions (those with rows > 0 only: the zero-row versions deleteConnectorData
 *   and emptied windows publish are never read for a currency) and top rows tables (a mutation;
 *   skipped where no row differs: on 18.16 a mutation rewrites every part of the table, on newer
 *   servers the parts holding rows it matches), then a wait until system.mutations says done
 *   (18.16 has no mutations_sync), so reads right after see the new label. A mutation the server
 *   says failed (latest_fail_reason, where system.mutations has it: not 18.16) throws at once.
 * - connectorCurrencies: from the versions table (a row per connector, day and load), the current
 *   version of each day with rows only.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectorError } from '../../util/errors.js';
import { currenciesByConnector, currencyRefused, loadCurrency } from '../currency.js';
import type { WindowLoad } from '../types.js';
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
  // 1. Physical tables: each shard's local ones have it already (initServer adds it, on every
  // server, before init calls this), so only the Distributed ones over them.
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
  const base = `_connector = ${str(connector)} AND ${ident(CURRENCY)} != ${str(currency)}`;
  const tables = PHYSICAL.map((n) => ({ name: l.local(n), where: n === VERSIONS_TABLE ? `${base} AND rows > 0` : base }));
  await Promise.all(
    shards.map(async ({ server: s }) => {
      const failReason = await hasFailReason(s);
      for (let round = 0; ; round++) {
        const counts = await s.rows<{ i: number; n: string }>(
          tables.map((t, i) => `SELECT toUInt8(${i}) AS i, toString(count()) AS n FROM ${l.t(t.name)} WHERE ${t.where}`).join(' UNION ALL '),
        );
        const todo = tables.filter((_, i) => Number(counts.find((r) => Number(r.i) === i)?.n ?? 0) > 0);
        if (todo.length === 0) return;
        if (round >= 3) throw new ConnectorError('server', `ClickHouse at ${s.label}: rows of ${connector} keep another currency after relabelling (is it syncing?)`);
        const names = todo.map((t) => t.name);
        const before = new Set((await mutations(s, l, names, failReason)).map((m) => `${m.table}\u0000${m.mutation_id}`));
        for (const t of todo) await s.run(`ALTER TABLE ${l.t(t.name)} UPDATE ${ident(CURRENCY)} = ${str(currency)} WHERE ${t.where}`);
        const deadline = Date.now() + MUTATION_TIMEOUT_MS;
        for (let wait = 20; ; wait = Math.min(wait * 2, 1000)) {
          const pending = (await mutations(s, l, names, failReason)).filter((m) => !before.has(`${m.table}\u0000${m.mutation_id}`) && Number(m.is_done) !== 1);
          if (pending.length === 0) break;
          const failed = pending.find((m) => m.fail);
          if (failed) {
            throw new ConnectorError('server', `ClickHouse at ${s.label}: relabelling ${connector} failed: the mutation ${failed.mutation_id} of ${failed.table} says ${failed.fail}`, {
              hint: 'see system.mutations (KILL MUTATION stops it); relabel again once the cause is fixed',
            });
          }
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

/** Does the server's system.mutations say why a mutation failed (latest_fail_reason: newer servers, not 18.16)? */
async function hasFailReason(s: ChServer): Promise<boolean> {
  const rows = await s.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = 'system' AND table = 'mutations' AND name = 'latest_fail_reason'`);
  return rows.length > 0;
}

async function mutations(s: ChServer, l: Layout, tables: string[], failReason: boolean) {
  return s.rows<{ table: string; mutation_id: string; is_done: number; fail: string }>(
    `SELECT table, mutation_id, is_done, ${failReason ? 'latest_fail_reason' : "''"} AS fail
     FROM system.mutations WHERE database = ${str(l.db)} AND table IN (${tables.map(str).join(', ')})`,
  );
}

/**
 * checkCurrency (see the header): refuse a load whose connector has a current day with rows in a
 * non-empty currency other than the load's. On `s`, through the Distributed versions table (on a
 * cluster: each day's versions live on its shard, where the IN set is evaluated too).
 */
export async function checkCurrency(s: ChServer, l: Layout, load: WindowLoad): Promise<void> {
  const currency = loadCurrency(load);
  const other = `${ident(CURRENCY)} NOT IN ('', ${str(currency)})`;
  const c = str(load.connector);
  const [r] = await s.rows<{ cur: string }>(
    `SELECT cur FROM (
       SELECT rows, ${ident(CURRENCY)} AS cur FROM ${l.t(VERSIONS_TABLE)}
       WHERE _connector = ${c} AND _date IN (SELECT _date FROM ${l.t(l.local(VERSIONS_TABLE))} WHERE _connector = ${c} AND rows > 0 AND ${other})
       ORDER BY _date, _version DESC LIMIT 1 BY _date
     ) WHERE rows > 0 AND cur NOT IN ('', ${str(currency)}) LIMIT 1`,
  );
  if (r) throw currencyRefused(load.connector, currency, r.cur);
}

/** connectorCurrencies: the currencies of the current versions with rows (`currentDays`: the warehouse's read of them). */
export function currenciesSql(currentDays: string): string {
  return `SELECT DISTINCT _connector AS c, currency AS cur FROM (${currentDays})`;
}

export function currenciesFrom(rows: { c: string; cur: string }[]): Map<string, string[]> {
  return currenciesByConnector(rows.map((r) => ({ connector: r.c, currency: r.cur })));
}
