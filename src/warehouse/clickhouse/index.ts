/**
 * The ClickHouse warehouse's entry in the registry (src/warehouse/registry.ts):
 * `clickhouse://user:pass@host:8123/db[?cluster=NAME][&shards=h1:8123,h2:8123][&state=postgres://…]`
 * (`clickhouses://` for HTTPS; docs/CLICKHOUSE.md). ClickHouse has no transactions, so it keeps no
 * bookkeeping: the registry lends it the 'local' store (<home>/state.duckdb, one worker per home)
 * or, with `?state=`, a shared one (PostgreSQL), and its sharedState is the lender's. The client
 * library is loaded on first open.
 */
import { ConnectorError } from '../../util/errors.js';
import type { WarehouseEntry } from '../types.js';
import { CLICKHOUSE_CAPABILITIES } from './capabilities.js';


export const clickhouse: WarehouseEntry = {
  name: 'clickhouse',
  prefix: 'clickhouse://',
  example: 'clickhouse://user@host:8123/db',
  matches: (url) => /^clickhouses?:\/\//.test(url),
  capabilities: CLICKHOUSE_CAPABILITIES,
  async open(url, ctx) {
    const [{ parseClickHouseUrl }, { ClickHouseWarehouse }] = await Promise.all([import('./connection.js'), import('./warehouse.js')]);
    const target = parseClickHouseUrl(url);
    const lent = await ctx.openState(target.state === null ? 'local' : { url: target.state });
    if (!lent) {
      throw new ConnectorError('config', `the ClickHouse URL option state= must be a ${ctx.sharedStateForms.join(' or ')} URL`, {
        hint: 'URL-encode it if it has its own ?options',
      });
    }
    return { warehouse: ClickHouseWarehouse.create(target, lent.sharedState), state: lent.store };
  },
};
