/**
 * The warehouses the connector knows, and how a URL becomes a warehouse with its bookkeeping.
 * Each warehouse is one folder, src/warehouse/<name>/, whose index.ts exports a WarehouseEntry
 * (types.ts); registering it is its line in WAREHOUSES. No warehouse imports another: when one
 * keeps no bookkeeping (ClickHouse), its `open` asks the context for a state store, and the
 * registry picks the entry that provides it ('local' = a DuckDB file in the home; a URL = an entry
 * whose capabilities.sharedState is true) and closes it with the warehouse.
 */
import { join, resolve } from 'node:path';
import { ConnectorError } from '../util/errors.js';
import { clickhouse } from './clickhouse/index.js';
import { duckdb } from './duckdb/index.js';
import { postgres } from './postgres/index.js';
import type { OpenContext, StateStore, Warehouse, WarehouseEntry } from './types.js';

/** Every warehouse, in the order messages list them; the first URL match wins. */
export const WAREHOUSES: readonly WarehouseEntry[] = [duckdb, postgres, clickhouse];

export interface Opened {
  warehouse: Warehouse;
  state: StateStore;
  close(): Promise<void>;
}

/** The entry whose URLs `url` (trimmed) is one of. */
export function findWarehouse(url: string): WarehouseEntry | undefined {
  return WAREHOUSES.find((e) => e.matches(url));
}

/** Bookkeeping of a warehouse that keeps none, by default: a DuckDB file in the home (one worker per home). */
export function localStateUrl(home: string): string {
  return `duckdb:${join(resolve(home), 'state.duckdb')}`;
}

/** Can this entry hold another warehouse's bookkeeping, shared by every worker? */
const lendsSharedState = (e: WarehouseEntry): boolean => e.capabilities.sharedState && e.openState !== undefined;

/**
 * The warehouse and state store for `spec`, NOT initialised (no DDL; most warehouses do not even
 * connect yet): openWarehouse (index.ts) is this plus init(). For tests that look at a warehouse
 * before or without init. close() closes both, and any bookkeeping lent to the warehouse.
 */
export async function openWithoutInit(spec: string, home: string): Promise<Opened> {
  const url = spec.trim();
  const entry = findWarehouse(url);
  if (!entry) {
    const examples = WAREHOUSES.map((e) => e.example);
    throw new ConnectorError('config', `unknown warehouse "${url.split(':')[0]}"`, {
      hint: `use ${examples.slice(0, -1).join(', ')} or ${examples[examples.length - 1]}`,
    });
  }
  const lent: StateStore[] = [];
  const ctx: OpenContext = {
    home,
    sharedStateForms: WAREHOUSES.filter(lendsSharedState).map((e) => e.prefix),
    async openState(where) {
      const stateUrl = where === 'local' ? localStateUrl(home) : where.url;
      const lender = findWarehouse(stateUrl);
      if (!lender?.openState || (where !== 'local' && !lendsSharedState(lender))) return null;
      const store = await lender.openState(stateUrl, ctx);
      lent.push(store);
      return { store, sharedState: lender.capabilities.sharedState };
    },
  };
  let opened: { warehouse: Warehouse; state: StateStore };
  try {
    opened = await entry.open(url, ctx);
  } catch (e) {
    await closeAll(lent.map((s) => () => s.close())).catch(() => undefined);
    throw e;
  }
  const { warehouse, state } = opened;
  const others = lent.filter((s) => s !== state);
  return {
    warehouse,
    state,
    close: () => closeAll([() => state.close(), ...others.map((s) => () => s.close()), () => warehouse.close()]),
  };
}

/** Run every close in order, even after one fails; then throw the first failure. */
async function closeAll(closes: (() => Promise<void>)[]): Promise<void> {
  let first: { error: unknown } | undefined;
  for (const close of closes) {
    try {
      await close();
    } catch (e) {
      first ??= { error: e };
    }
  }
  if (first) throw first.error;
}
