/**
 * Throwaway ClickHouse databases for tests: each call creates a uniquely named database on the
 * single server (RAKUTEN_TEST_CLICKHOUSE, default http://127.0.0.1:8123) or on every shard of
 * the cluster whose first shard is RAKUTEN_TEST_CLICKHOUSE_CLUSTER (default
 * http://127.0.0.1:8124, cluster rakuten_test). scripts/clickhouse.sh starts both.
 * Credentials may be given in those URLs (http://user:pass@host:port); default user otherwise.
 */
import { randomBytes } from 'node:crypto';
import { ChServer, discoverShards, ident, parseClickHouseUrl, type ClickHouseTarget } from '../../src/warehouse/clickhouse/connection.js';

export const SINGLE_URL = process.env.RAKUTEN_TEST_CLICKHOUSE || 'http://127.0.0.1:8123';
export const CLUSTER_URL = process.env.RAKUTEN_TEST_CLICKHOUSE_CLUSTER || 'http://127.0.0.1:8124';
export const CLUSTER_NAME = process.env.RAKUTEN_TEST_CLICKHOUSE_CLUSTER_NAME || 'rakuten_test';

/** The warehouse URL for a database on the test server (http(s)://… → clickhouse(s)://…). */
export function clickHouseUrl(cluster: boolean, database: string): string {
  const u = new URL(cluster ? CLUSTER_URL : SINGLE_URL);
  const scheme = u.protocol === 'https:' ? 'clickhouses:' : 'clickhouse:';
  const auth = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : '';
  return `${scheme}//${auth}${u.host}/${database}${cluster ? `?cluster=${CLUSTER_NAME}` : ''}`;
}

/** Every server of the test setup (one, or each shard), with its client. */
export async function testServers(cluster: boolean, database = 'default'): Promise<{ target: ClickHouseTarget; servers: ChServer[]; close(): Promise<void> }> {
  const target = parseClickHouseUrl(clickHouseUrl(cluster, database));
  const main = new ChServer(target, target.host, target.port);
  let servers = [main];
  try {
    if (cluster) servers = (await discoverShards(target, main)).shards.map((s) => s.server);
  } catch (e) {
    await main.close();
    throw e;
  }
  return {
    target,
    servers,
    close: async () => {
      await Promise.all([...new Set([main, ...servers])].map((s) => s.close().catch(() => undefined)));
    },
  };
}

/** Is the test server (or every shard of the test cluster) answering? Tests skip without it, except under CI. */
export async function clickHouseAvailable(cluster: boolean): Promise<boolean> {
  try {
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000).unref());
    const probe = (async () => {
      const t = await testServers(cluster);
      try {
        for (const s of t.servers) await s.rows('SELECT 1 AS one');
        return !cluster || t.servers.length >= 2;
      } finally {
        await t.close();
      }
    })();
    return await Promise.race([probe, deadline]);
  } catch {
    return false;
  }
}

/** A fresh database (on every shard for the cluster) and its warehouse URL; drop() removes it everywhere. */
export async function createTestClickHouseUrl(opts: { cluster?: boolean } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const cluster = opts.cluster ?? false;
  const name = `rc_test_${process.pid}_${randomBytes(5).toString('hex')}`;
  const t = await testServers(cluster);
  try {
    for (const s of t.servers) await s.run(`CREATE DATABASE ${ident(name)}`);
  } finally {
    await t.close();
  }
  let dropped = false;
  return {
    url: clickHouseUrl(cluster, name),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      const d = await testServers(cluster);
      try {
        for (const s of d.servers) await s.run(`DROP DATABASE IF EXISTS ${ident(name)}`);
      } finally {
        await d.close();
      }
    },
  };
}
