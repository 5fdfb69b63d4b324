/**
 * What the postgres warehouse can do, on its own: read by the registry (through index.ts, which must
 * stay light) and by the warehouse class. A module of its own so neither imports the other.
 */
import type { WarehouseCapabilities } from '../types.js';

/** Parallel loads on pooled clients, leases in the shared schema, canonical CSV (or rows) streamed into COPY. */
export const POSTGRES_CAPABILITIES: WarehouseCapabilities = { sharedState: true, canonicalCsv: true };
