/**
 * What the clickhouse warehouse can do, on its own: read by the registry (through index.ts, which must
 * stay light) and by the warehouse class. A module of its own so neither imports the other.
 */
import type { WarehouseCapabilities } from '../types.js';

/** Each load has its own staging table (loads overlap); rows go in as TabSeparated; sharedState: the lender's. */
export const CLICKHOUSE_CAPABILITIES: WarehouseCapabilities = { sharedState: false, canonicalCsv: false };
