/**
 * Throwaway PostgreSQL databases for tests: each call creates a uniquely named database on the
 * server of RAKUTEN_TEST_PG (default: local trust auth), so test files can run in parallel
 * without seeing each other's tables.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env.RAKUTEN_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: timeoutMs });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Is the test server reachable? (Tests skip without it, except under CI where they must fail.) */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await withAdmin((c) => c.query('SELECT 1'), 3_000);
    return true;
  } catch {
    return false;
  }
}

/** A fresh database and its URL (optionally with ?schema=…); drop() terminates its sessions and removes it. */
export async function createTestPostgresUrl(opts: { schema?: string } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `rc_test_${process.pid}_${randomBytes(5).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  if (opts.schema) u.searchParams.set('schema', opts.schema);
  let dropped = false;
  return {
    url: u.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin(async (c) => {
        // Leftover sessions (a test that forgot close(), a killed worker) would block DROP DATABASE.
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}
