/**
 * Warehouse URL → initialised warehouse + state store, for the app, the CLI and the server:
 * `duckdb:` (default: <home>/warehouse.duckdb), `duckdb:<file>`, `postgres://…`, `clickhouse://…`.
 * Which warehouse takes a URL, and where its bookkeeping lives, is the registry's (registry.ts).
 */
import { join } from 'node:path';
import { type Opened, openWithoutInit } from './registry.js';

export type { Opened } from './registry.js';

export function defaultWarehouseUrl(home: string): string {
  return `duckdb:${join(home, 'warehouse.duckdb')}`;
}

/** Open the warehouse `spec` names and create its tables and bookkeeping tables if missing. */
export async function openWarehouse(spec: string, home: string): Promise<Opened> {
  const opened = await openWithoutInit(spec, home);
  try {
    await opened.warehouse.init();
    await opened.state.init();
  } catch (e) {
    await opened.close().catch(() => undefined);
    throw e;
  }
  return opened;
}
