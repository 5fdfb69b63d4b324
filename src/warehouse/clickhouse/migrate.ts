/**
 * Databases of the first ClickHouse layout (the fact table partitioned per connector and day,
 * which made every statement cost the number of partitions) are moved to the versioned layout
 * of schema.ts by init(). See docs/CLICKHOUSE.md, "Upgrading from the first layout".
 */
import { ConnectorError } from '../../util/errors.js';
import type { ChServer, Shard } from './connection.js';
import type { Layout } from './schema.js';

export interface MigrateTarget {
  layout: Layout;
  /** Every server that gets DDL (the shards, and the URL's server if it is not one). */
  servers: ChServer[];
  shards: Shard[];
  /** Distributed's routing: slot (hash % total weight) → shard index. */
  slots: number[];
}

export async function migrateV1(t: MigrateTarget): Promise<void> {
  throw new ConnectorError('config', `${t.layout.db} holds tables of the first rakuten-connector layout (partitions per connector and day)`, {
    hint: 'sync into a new database',
  });
}
