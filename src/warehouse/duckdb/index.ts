/**
 * The DuckDB warehouse's entry in the registry (src/warehouse/registry.ts): `duckdb:` (the default,
 * <home>/warehouse.duckdb), `duckdb:<file>`, `duckdb::memory:`. Data and bookkeeping share the
 * file; it also provides the 'local' bookkeeping of warehouses that keep none (<home>/state.duckdb).
 * The driver is loaded on first open.
 */
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { WarehouseEntry } from '../types.js';
import { DUCKDB_CAPABILITIES } from './capabilities.js';

/**
 * DuckDB's allocator (its own jemalloc) keeps freed pages for seconds by default, so a sync's
 * peak memory held what earlier statements had already freed: returning them at once cut the
 * peak RSS of a 1M-row sync from ~300 to ~255 MB (5M rows: 360 -> 282 MB) for ~7 % more CPU
 * (docs/BENCHMARKS.md). Read by jemalloc when the library loads, so it is set before the driver is
 * imported; a DUCKDB_JE_MALLOC_CONF of the user's own is left alone.
 */
function loadDriver<T>(load: () => Promise<T>): Promise<T> {
  process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';
  return load();
}

/**
 * A process that loads a DuckDB warehouse keeps V8's young generation at its initial size: it
 * otherwise grows during a sync (the report reader's short-lived objects) and held 15-35 MB more at
 * the peak: 1M rows 267 -> 232 MB, 5M rows 286 -> 251 MB, for 4-7 % more time (docs/BENCHMARKS.md).
 * A growth factor is read whenever V8 would grow the space, so it can be set now; the space's
 * maximum (--max-semi-space-size) only when Node starts. It holds for the whole process (a
 * `serve` with this warehouse too), so it is set once.
 */
let youngGenerationKeptSmall = false;
function keepYoungGenerationSmall(): void {
  if (youngGenerationKeptSmall) return;
  youngGenerationKeptSmall = true;
  setFlagsFromString('--semi-space-growth-factor=1');
}


/** The file a `duckdb:` URL names; `duckdb:` alone is <home>/warehouse.duckdb. */
function filePath(url: string, home: string): string {
  const file = url.replace(/^duckdb:?/, '').replace(/^\/\//, '') || join(home, 'warehouse.duckdb');
  return file === ':memory:' ? file : resolve(file);
}

export const duckdb: WarehouseEntry = {
  name: 'duckdb',
  prefix: 'duckdb:',
  example: 'duckdb:<file>',
  matches: (url) => url === 'duckdb' || url.startsWith('duckdb:'),
  capabilities: DUCKDB_CAPABILITIES,
  async open(url, ctx) {
    const path = filePath(url, ctx.home);
    keepYoungGenerationSmall();
    const [{ DuckDbWarehouse }, { DuckDbStateStore }] = await loadDriver(() => Promise.all([import('./warehouse.js'), import('./state.js')]));
    const warehouse = await DuckDbWarehouse.open(path, join(ctx.home, 'tmp'));
    try {
      return { warehouse, state: await DuckDbStateStore.open(path) };
    } catch (e) {
      await warehouse.close().catch(() => undefined);
      throw e;
    }
  },
  async openState(url, ctx) {
    const { DuckDbStateStore } = await loadDriver(() => import('./state.js'));
    return DuckDbStateStore.open(filePath(url, ctx.home));
  },
};
