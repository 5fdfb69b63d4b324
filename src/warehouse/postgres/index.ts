/**
 * The PostgreSQL warehouse's entry in the registry (src/warehouse/registry.ts): `postgres://…` and
 * `postgresql://…` (`?schema=` picks the schema). Data and bookkeeping share the schema, so every
 * worker on every machine sees the same leases (sharedState): its bookkeeping can also serve a
 * warehouse that keeps none (ClickHouse's `?state=postgres://…`). pg is loaded on first open.
 */
import type { WarehouseEntry } from '../types.js';
import { POSTGRES_CAPABILITIES } from './capabilities.js';


export const postgres: WarehouseEntry = {
  name: 'postgres',
  prefix: 'postgres://',
  example: 'postgres://user@host/db',
  matches: (url) => /^postgres(ql)?:\/\//.test(url),
  capabilities: POSTGRES_CAPABILITIES,
  async open(url) {
    return (await import('./warehouse.js')).openPostgres(url);
  },
  async openState(url) {
    return (await import('./warehouse.js')).openPostgresState(url);
  },
};
