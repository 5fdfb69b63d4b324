/**
 * The warehouses the end-to-end suite runs against. RAKUTEN_TEST_WAREHOUSES picks them
 * (comma-separated: duckdb, postgres, clickhouse, clickhouse-cluster); default: duckdb.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestWarehouse {
  /** --warehouse URL, or undefined for the embedded default in the home. */
  url: string | undefined;
  drop(): Promise<void>;
}

export type TargetName = 'duckdb' | 'postgres' | 'clickhouse' | 'clickhouse-cluster';

export async function createTarget(name: TargetName): Promise<TestWarehouse> {
  switch (name) {
    case 'duckdb':
      return { url: undefined, drop: async () => undefined };
    case 'postgres': {
      const { createTestPostgresUrl } = await import('./postgres.js');
      return createTestPostgresUrl();
    }
    case 'clickhouse':
    case 'clickhouse-cluster': {
      const { createTestClickHouseUrl } = await import('./clickhouse.js');
      return createTestClickHouseUrl({ cluster: name === 'clickhouse-cluster' });
    }
  }
}

export function tempHome(prefix = 'rc-home-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
