/**
 * PostgreSQL plumbing shared by the warehouse and the state store: URL parsing (the password never
 * reaches a message or `location`), pools that return every value as raw text (so decimals,
 * bigints and dates are never turned into JS numbers or Dates), error mapping, and the
 * advisory-locked DDL that lets many processes run `init` at once.
 */
import pg from 'pg';
import { ConnectorError } from '../../util/errors.js';
import { registerSecret } from '../../util/secrets.js';

export interface PostgresTarget {
  /** For pg: the URL without our own `schema` parameter. */
  connectionString: string;
  schema: string;
  /** The URL with the password masked, for messages. */
  location: string;
}

const URL_HINT = 'use postgres://user:password@host:5432/database?schema=name';
/** Schema names we accept unquoted-safe; keeps search_path and DDL free of injection. */
const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function parsePostgresUrl(url: string): PostgresTarget {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    // Never echo the URL: it may hold the password.
    throw new ConnectorError('config', 'the PostgreSQL URL is not a valid URL', { hint: URL_HINT });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ConnectorError('config', `"${u.protocol}" is not a PostgreSQL URL`, { hint: URL_HINT });
  }
  // Secrets can sit in the userinfo or (libpq style) in the query: register them all for redaction.
  const secrets = [u.password, u.searchParams.get('password'), u.searchParams.get('sslpassword')];
  for (const secret of secrets) {
    if (!secret) continue;
    registerSecret(secret);
    try {
      registerSecret(decodeURIComponent(secret));
    } catch {
      /* not percent-encoded: the raw form is registered */
    }
  }
  const schema = u.searchParams.get('schema') ?? 'public';
  if (!SCHEMA_RE.test(schema)) {
    throw new ConnectorError('config', `"${schema}" is not a usable schema name`, {
      hint: 'use letters, digits and underscores, starting with a letter or underscore',
    });
  }
  u.searchParams.delete('schema');
  const connectionString = u.toString();
  const masked = new URL(u.toString());
  if (masked.password) masked.password = '***';
  for (const key of ['password', 'sslpassword']) if (masked.searchParams.has(key)) masked.searchParams.set(key, '***');
  masked.searchParams.set('schema', schema);
  return { connectionString, schema, location: masked.toString() };
}

/** Every type comes back as the server's text: exact decimals, ISO days, no Date/number surprises. */
const rawText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export function createPool(target: PostgresTarget, max: number, role: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 30_000,
    application_name: `rakuten-connector ${role}`,
    // search_path as a startup option: applies to every pooled connection, no extra round trip.
    options: `-c search_path="${target.schema}"`,
    types: rawText,
  });
  // An idle client dropped by the server (restart, pg_terminate_backend) must not crash the process;
  // the pool discards it and the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * Errors that did not come from PostgreSQL (the report stream of a load) and must reach the caller
 * as the very same object, even when they carry a network-looking code like ECONNRESET.
 */
const foreign = new WeakSet<object>();
export function markForeign(e: unknown): void {
  if (typeof e === 'object' && e !== null) foreign.add(e);
}

/** Connection-level failures become ConnectorErrors (retryable when transient); query errors pass through. */
export function mapPgError(e: unknown, location: string): unknown {
  if (!(e instanceof Error) || e instanceof ConnectorError || foreign.has(e)) return e;
  const code = (e as { code?: string }).code ?? '';
  if (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P03' || /timeout exceeded when trying to connect|Connection terminated/i.test(e.message)) {
    return new ConnectorError('network', `PostgreSQL at ${location} is unreachable: ${e.message}`, {
      hint: 'check that the server is running and the host/port in the warehouse URL',
    });
  }
  if (code === '28P01' || code === '28000') {
    return new ConnectorError('config', `PostgreSQL at ${location} rejected the login: ${e.message}`, {
      hint: 'check the user and password in the warehouse URL',
    });
  }
  if (code === '3D000') {
    return new ConnectorError('config', `PostgreSQL at ${location}: ${e.message}`, { hint: 'create the database or fix its name in the URL' });
  }
  if (/password must be a string/i.test(e.message)) {
    return new ConnectorError('config', `PostgreSQL at ${location} requires a password`, { hint: URL_HINT });
  }
  return e;
}

export async function checkout(pool: pg.Pool, location: string): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (e) {
    throw mapPgError(e, location);
  }
}

/**
 * Run fn inside BEGIN/COMMIT on one pooled client. On failure: ROLLBACK and rethrow the original
 * error; a client whose ROLLBACK failed is destroyed rather than returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, location: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await checkout(pool, location);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (e) {
    try {
      await client.query('ROLLBACK');
    } catch (re) {
      broken = re instanceof Error ? re : new Error(String(re));
    }
    throw mapPgError(e, location);
  } finally {
    client.release(broken);
  }
}

/**
 * Idempotent DDL that several processes may run at the same moment: CREATE … IF NOT EXISTS alone
 * races on the catalogs (duplicate key in pg_type), so the statements run under a transaction-scoped
 * advisory lock. When every relation already exists nothing runs at all: a role without CREATE
 * rights can use tables a DBA made, and CREATE INDEX IF NOT EXISTS (which takes a SHARE lock on the
 * table before it finds the index) never queues behind other workers' loads.
 *
 * `fill`, if given, runs after the statements in the same transaction (still under the lock), told
 * which relations were missing: e.g. filling a table that was just created, exactly once however
 * many processes init at the same moment (the others wait, then find every relation present).
 */
export async function runDdl(
  pool: pg.Pool,
  location: string,
  schema: string,
  statements: string[],
  relations: string[],
  fill?: (c: pg.ClientBase, missing: ReadonlySet<string>) => Promise<void>,
): Promise<void> {
  const missing = async (c: pg.ClientBase): Promise<Set<string>> => {
    const { rows } = await c.query(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
      [schema, relations],
    );
    const found = new Set(rows.map((r: { relname: string }) => r.relname));
    return new Set(relations.filter((r) => !found.has(r)));
  };
  await inTransaction(pool, location, async (c) => {
    if ((await missing(c)).size === 0) return;
    await c.query(`SELECT pg_advisory_xact_lock(hashtext('rakuten-connector:ddl'))`);
    const absent = await missing(c);
    if (absent.size === 0) return; // another process finished it while we waited
    const { rowCount } = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!rowCount) await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    for (const sql of statements) await c.query(sql);
    await fill?.(c, absent);
  });
}

/** The DB clock as the ISO-8601 UTC text the state tables hold (fixed width: sorts as it compares). */
export function isoSql(expr: string): string {
  return `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
