/**
 * What the duckdb warehouse can do, on its own: read by the registry (through index.ts, which must
 * stay light) and by the warehouse class. A module of its own so neither imports the other.
 */
import type { WarehouseCapabilities } from '../types.js';

/** One writer per file (read windows wait and commit together by size and time, see warehouse.ts), one process per file, its own CSV reader. */
export const DUCKDB_CAPABILITIES: WarehouseCapabilities = { sharedState: false, canonicalCsv: true, stagedWindows: 32 };
