/**
 * Warehouse URL → warehouse + state store. `duckdb:` (default: <home>/warehouse.duckdb),
 * `duckdb:<file>`, `postgres://…`, `clickhouse://…`.
 */
import { join, resolve } from 'node:path';
import { ConnectorError } from '../util/errors.js';
import { DuckDbStateStore } from './duckdb-state.js';
import { DuckDbWarehouse } from './duckdb.js';
import type { StateStore, Warehouse } from './types.js';

export interface Opened {
  warehouse: Warehouse;
  state: StateStore;
  close(): Promise<void>;
}

export function defaultWarehouseUrl(home: string): string {
  return `duckdb:${join(home, 'warehouse.duckdb')}`;
}

export async function openWarehouse(spec: string, home: string): Promise<Opened> {
  const s = spec.trim();
  let warehouse: Warehouse;
  let state: StateStore;
  if (s === 'duckdb:' || s === 'duckdb' || s.startsWith('duckdb:')) {
    const file = s.replace(/^duckdb:?/, '').replace(/^\/\//, '') || join(home, 'warehouse.duckdb');
    const path = file === ':memory:' ? file : resolve(file);
    warehouse = await DuckDbWarehouse.open(path, join(home, 'tmp'));
    state = await DuckDbStateStore.open(path);
  } else if (/^postgres(ql)?:\/\//.test(s)) {
    const mod = await import('./postgres.js');
    ({ warehouse, state } = await mod.openPostgres(s));
  } else if (/^clickhouse(s)?:\/\//.test(s)) {
    const mod = await import('./clickhouse.js');
    ({ warehouse, state } = await mod.openClickHouse(s, home));
  } else {
    throw new ConnectorError('config', `unknown warehouse "${s.split(':')[0]}"`, {
      hint: 'use duckdb:<file>, postgres://user@host/db or clickhouse://user@host:8123/db',
    });
  }
  try {
    await warehouse.init();
    await state.init();
  } catch (e) {
    await warehouse.close().catch(() => undefined);
    await state.close().catch(() => undefined);
    throw e;
  }
  return {
    warehouse,
    state,
    close: async () => {
      await state.close();
      await warehouse.close();
    },
  };
}
