/**
 * What every warehouse does alike with WindowLoad.currency (src/model/schema.ts CURRENCY_COLUMN):
 * the check of the load's code, and the refusal of a load whose currency is not that of the
 * connector's rows (the contract on WindowLoad.currency in types.ts). Each warehouse finds the
 * other currency its own way (DuckDB and PostgreSQL: the day summary; ClickHouse: the current
 * versions), before it changes anything, and throws `currencyRefused`.
 */
import { ConnectorError } from '../util/errors.js';
import type { WindowLoad } from './types.js';

/** An ISO 4217 code as the connector's setting holds it. */
const CODE = /^[A-Z]{3}$/;

/** The load's currency (WindowLoad.currency), which every row and summary row of the load carries: three capital letters, or an internal error. */
export function loadCurrency(load: WindowLoad): string {
  const c: unknown = load.currency;
  if (typeof c !== 'string' || !CODE.test(c)) {
    throw new ConnectorError('internal', `connector ${load.connector}: a load of ${load.start}..${load.end} without an ISO 4217 currency (WindowLoad.currency is ${typeof c === 'string' ? JSON.stringify(c) : String(c)})`);
  }
  return c;
}

/** The refusal of a load in `currency` while the connector's rows are in `rowsIn` (never '': rows in '' take any load). */
export function currencyRefused(connector: string, currency: string, rowsIn: string): ConnectorError {
  return new ConnectorError('internal', `connector ${connector}: a load in ${currency} while its rows are in ${rowsIn}`, {
    hint: 'relabel its rows to the new currency first (Warehouse.relabelCurrency; the app does when the currency setting changes)',
  });
}

/** connectorCurrencies from (connector, currency) pairs: each connector's currencies, deduplicated, in byte order. */
export function currenciesByConnector(pairs: Iterable<{ connector: string; currency: string }>): Map<string, string[]> {
  const sets = new Map<string, Set<string>>();
  for (const { connector, currency } of pairs) {
    const set = sets.get(connector) ?? new Set<string>();
    set.add(currency);
    sets.set(connector, set);
  }
  const bytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return new Map([...sets].sort(([a], [b]) => bytes(a, b)).map(([c, set]) => [c, [...set].sort(bytes)]));
}
