/**
 * A connector's currency, where the App needs more than the setting's rule (settings.ts): the
 * default for a record saved before the setting existed (and of the other settings added since), the question the web form asks when the
 * URL's network has no known currency, and the CLI's warning when it takes USD instead.
 */
import { networkCurrency } from '../rakuten/networks.js';
import { withLease } from '../sync/engine.js';
import { ConnectorError } from '../util/errors.js';
import type { ConnectorRecord, StateStore, Warehouse } from '../warehouse/types.js';
import { CURRENCY_HINT } from './settings.js';

/** The App's warehouse and bookkeeping. */
interface Db {
  warehouse: Warehouse;
  state: StateStore;
}

/** The currency of amounts whose network names none, when the user did not say (the CLI, with a warning). */
export const FALLBACK_CURRENCY = 'USD';

/** A stored URL's `network` parameter (an empty one is none), or undefined. */
function networkOf(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('network') || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A record saved by an earlier version lacks the settings added since: the currency is its URL's
 * network's, else USD (what Save & Test would have chosen); no staleAfterHours (the schedule's rule).
 */
export function withSettingDefaults(rec: ConnectorRecord): ConnectorRecord {
  if (rec.settings.currency && rec.settings.staleAfterHours !== undefined) return rec;
  return {
    ...rec,
    settings: {
      ...rec.settings,
      currency: rec.settings.currency || (networkCurrency(networkOf(rec.url)) ?? FALLBACK_CURRENCY),
      staleAfterHours: rec.settings.staleAfterHours ?? null,
    },
  };
}

/** The web form's question: the URL's network (or none) says nothing of the currency. */
export function currencyNeeded(network: string | undefined): ConnectorError {
  return new ConnectorError('config', network === undefined
    ? "which currency are this report's amounts in? The URL names no network"
    : `which currency are this report's amounts in? The URL's network=${network} is not one with a known currency`, { hint: CURRENCY_HINT, field: 'currency' });
}

/** The CLI's warning when it takes USD. */
export function usdNotice(name: string, network: string | undefined): string {
  return `amounts are taken to be in ${FALLBACK_CURRENCY}: the URL names ${network === undefined ? 'no network' : `network=${network}, which has no known currency`}; if they are not, run: rakuten-connector edit ${name} --currency CODE`;
}

/**
 * Each connector's rows must all be in its currency: when the App opens, a connector whose rows
 * are not (rows loaded before the column existed have '', and a relabel that was interrupted, say a
 * ClickHouse mutation that finished after its process died, leaves some in another) is relabelled,
 * under its lease (one being synced is left for the next open). Rows of a removed connector are
 * left as they are until a connector adopts them. A warehouse that cannot tell (a PostgreSQL role
 * that could not add the column: a config error) is left as it is; its loads say what to do.
 */
export async function labelCurrencies(db: Db, find: (name: string) => Promise<ConnectorRecord | undefined>): Promise<void> {
  let found: Map<string, string[]>;
  try {
    found = await db.warehouse.connectorCurrencies();
  } catch (e) {
    if (e instanceof ConnectorError && e.kind === 'config') return;
    throw e;
  }
  if (!found.size) return;
  // One read of the saved connectors for all of them (this runs at every open), not one each.
  const want = new Map((await db.state.listConnectors()).map((r) => [r.name, withSettingDefaults(r).settings.currency]));
  for (const [name, currencies] of found) {
    const currency = want.get(name);
    if (!currency || (currencies.length === 1 && currencies[0] === currency)) continue;
    try {
      await withLease(db.state, name, async () => {
        const rec = await find(name); // as saved now, under the lease
        if (rec) await db.warehouse.relabelCurrency(name, rec.settings.currency);
      });
    } catch (e) {
      if (!(e instanceof ConnectorError && e.kind === 'busy')) throw e;
    }
  }
}

/**
 * Save a connector record whose currency its rows do not have yet: first relabel every row it has
 * (its own, or those of an earlier connector it adopts), holding its lease so that no sync loads
 * rows in the old currency meanwhile; a busy ConnectorError while one syncs. If the relabel or the
 * save fails, the rows go back to `previous` (when known), so rows and settings agree.
 */
export async function saveWithCurrency(db: Db, rec: ConnectorRecord, previous: string | undefined): Promise<void> {
  await withLease(db.state, rec.name, async () => {
    try {
      await db.warehouse.relabelCurrency(rec.name, rec.settings.currency);
      await db.state.saveConnector(rec);
    } catch (e) {
      // A relabel that failed part-way (or a save that failed after it) goes back; if even that
      // fails, the next open relabels the rows to the saved currency (labelCurrencies).
      if (previous !== undefined) await db.warehouse.relabelCurrency(rec.name, previous).catch(() => undefined);
      throw e;
    }
  });
}
