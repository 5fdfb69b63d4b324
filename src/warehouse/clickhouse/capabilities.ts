/**
 * What the clickhouse warehouse can do, on its own: read by the registry (through index.ts, which must
 * stay light) and by the warehouse class. A module of its own so neither imports the other.
 */
import type { WarehouseCapabilities } from '../types.js';

/**
 * Loads overlap; canonical CSV goes to the server as bytes (csv-load.ts); sharedState: the lender's.
 * stagedWindows: a window whose CSV is staged gives its download slot to the next while its typed
 * insert and publish run (1M rows: 4.87 -> 4.65 s, docs/BENCHMARKS.md).
 */
export const CLICKHOUSE_CAPABILITIES: WarehouseCapabilities = { sharedState: false, canonicalCsv: true, stagedWindows: 3 };
