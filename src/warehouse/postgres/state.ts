/**
 * Bookkeeping in PostgreSQL, in the warehouse's schema: the same tables as DuckDB (state-sql.ts),
 * timestamps as ISO-8601 UTC text. Many workers on many machines share these tables, so every
 * check-and-set is one statement, and leases are judged by the database clock (`now()`), never a
 * worker's, so clock skew between machines cannot hand one lease to two owners.
 */
import type pg from 'pg';
import { ConnectorError } from '../../util/errors.js';
import { inTransaction, isoSql, mapPgError, runDdl, type PostgresTarget } from './connection.js';
import {
  ALERT_CHANNEL_COLUMNS, ALERT_DELIVERY_COLUMNS, alertChannelFromRow, alertChannelValues, alertConditionsFrom, alertDeliveryFromRow,
  alertDeliveryValues, connectorFromRow, latestRunsFrom, latestRunsSql, runFromRow, sqlLimit, STATE_DDL, STATE_RELATIONS, runInsertSql,
  runUpdateSql,
} from '../state-sql.js';
import type {
  AlertChannelRecord, AlertCondition, AlertDeliveryRecord, ConnectorRecord, RunRecord, StateStore, SyncStateRecord,
} from '../types.js';

/** Caps absurd TTLs (Infinity) at ten years so now() + ttl stays a valid timestamp. */
const MAX_TTL_MS = 10 * 365 * 86_400_000;
/** Lease expiry as written: DB clock + ttl, fixed-width ISO text (ms precision). */
const EXPIRES = isoSql(`now() + $3::bigint * interval '1 millisecond'`);
/** A lease is live while its expiry (parsed, not compared as text) is still ahead of the DB clock. */
const EXPIRED = (col: string): string => `(${col} IS NULL OR ${col}::timestamptz < now())`;

export class PostgresStateStore implements StateStore {
  readonly kind = 'postgres';
  private closed = false;

  constructor(private readonly target: PostgresTarget, private readonly pool: pg.Pool) {}

  /**
   * The DDL runs only when a table or index is missing (under the DDL advisory lock: runDdl), so
   * a worker without CREATE rights starts fine once they exist, and an existing database gets the
   * tables added since (the alert tables) from the first init by a role that may create them.
   */
  async init(): Promise<void> {
    const ddl = STATE_DDL({ text: 'text', int: 'bigint', ts: 'text', collate: ' COLLATE "C"' });
    try {
      await runDdl(this.pool, this.target.location, this.target.schema, ddl, STATE_RELATIONS);
    } catch (e) {
      if ((e as { code?: string }).code === '42501') {
        throw new ConnectorError('config', `PostgreSQL at ${this.target.location}: cannot create the bookkeeping tables in schema "${this.target.schema}": ${(e as Error).message}`, {
          hint: 'start it once as the tables\' owner (or a role with CREATE on the schema): this version adds tables (the alert tables)',
        });
      }
      throw mapPgError(e, this.target.location);
    }
  }

  async listConnectors(): Promise<ConnectorRecord[]> {
    return (await this.rows('SELECT * FROM rakuten_connectors ORDER BY name COLLATE "C"')).map(connectorFromRow);
  }

  async getConnector(name: string): Promise<ConnectorRecord | undefined> {
    const [r] = await this.rows('SELECT * FROM rakuten_connectors WHERE name = $1', [name]);
    return r ? connectorFromRow(r) : undefined;
  }

  async saveConnector(rec: ConnectorRecord): Promise<void> {
    await this.rows(
      `INSERT INTO rakuten_connectors (name, url, token_sealed, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET url = excluded.url, token_sealed = excluded.token_sealed, settings = excluded.settings,
         updated_at = excluded.updated_at`,
      [rec.name, rec.url, rec.tokenSealed, JSON.stringify(rec.settings), rec.createdAt, rec.updatedAt],
    );
  }

  async deleteConnector(name: string): Promise<void> {
    await inTransaction(this.pool, this.target.location, async (c) => {
      await c.query('DELETE FROM rakuten_connectors WHERE name = $1', [name]);
      await c.query('DELETE FROM rakuten_sync_state WHERE connector = $1', [name]);
      await c.query('DELETE FROM rakuten_sync_runs WHERE connector = $1', [name]);
      await c.query('DELETE FROM rakuten_alert_conditions WHERE connector = $1', [name]);
    });
  }

  async getCursor(connector: string): Promise<string | undefined> {
    const [r] = await this.rows('SELECT cursor_day FROM rakuten_sync_state WHERE connector = $1', [connector]);
    return (r?.cursor_day as string | null) ?? undefined;
  }

  async advanceCursor(connector: string, day: string): Promise<void> {
    // One statement: two workers advancing at once can only move it forward.
    await this.rows(
      `INSERT INTO rakuten_sync_state AS s (connector, cursor_day) VALUES ($1, $2)
       ON CONFLICT (connector) DO UPDATE SET cursor_day = excluded.cursor_day
       WHERE s.cursor_day IS NULL OR s.cursor_day COLLATE "C" < excluded.cursor_day`,
      [connector, day],
    );
  }

  async startRun(run: RunRecord): Promise<void> {
    const q = runInsertSql(run);
    await this.rows(q.sql, q.values);
  }

  async updateRun(id: string, patch: Partial<Omit<RunRecord, 'id' | 'connector'>>): Promise<void> {
    const q = runUpdateSql(id, patch);
    if (q) await this.rows(q.sql, q.values);
  }

  async listRuns(connector: string | null, limit: number): Promise<RunRecord[]> {
    const where = connector === null ? '' : 'WHERE connector = $1';
    const rows = await this.rows(
      `SELECT * FROM rakuten_sync_runs ${where}
       ORDER BY started_at COLLATE "C" DESC, id COLLATE "C" DESC LIMIT ${sqlLimit(limit)}`,
      connector === null ? [] : [connector],
    );
    return rows.map(runFromRow);
  }

  async markInterrupted(connector: string, exceptRunId?: string): Promise<void> {
    await this.rows(
      `UPDATE rakuten_sync_runs SET status = 'interrupted', finished_at = coalesce(finished_at, ${isoSql('now()')}),
         error = coalesce(error, 'the sync process stopped before finishing (killed or crashed); the next sync resumed')
       WHERE connector = $1 AND status = 'running' AND id <> $2`,
      [connector, exceptRunId ?? ''],
    );
  }

  /**
   * Atomic across processes and machines: the row is created or taken over in one statement, and
   * ON CONFLICT DO UPDATE … WHERE re-checks the committed row under its row lock, so of two racing
   * owners exactly one gets a row back. Free = no owner, same owner (renewal), or expired by the
   * DB clock.
   */
  async acquireLease(connector: string, owner: string, ttlMs: number): Promise<boolean> {
    const rows = await this.rows(
      `INSERT INTO rakuten_sync_state AS s (connector, lease_owner, lease_expires) VALUES ($1, $2, ${EXPIRES})
       ON CONFLICT (connector) DO UPDATE SET lease_owner = excluded.lease_owner, lease_expires = excluded.lease_expires
       WHERE s.lease_owner IS NULL OR s.lease_owner = excluded.lease_owner OR ${EXPIRED('s.lease_expires')}
       RETURNING connector`,
      [connector, owner, Math.round(Math.min(Math.max(0, ttlMs), MAX_TTL_MS)) || 0],
    );
    return rows.length > 0;
  }

  async releaseLease(connector: string, owner: string): Promise<void> {
    await this.rows(
      'UPDATE rakuten_sync_state SET lease_owner = NULL, lease_expires = NULL WHERE connector = $1 AND lease_owner = $2',
      [connector, owner],
    );
  }

  async syncStates(): Promise<Map<string, SyncStateRecord>> {
    const rows = await this.rows(
      `SELECT connector, cursor_day, CASE WHEN lease_owner IS NOT NULL AND NOT ${EXPIRED('lease_expires')} THEN lease_owner END AS lease_owner, lease_expires
       FROM rakuten_sync_state`,
    );
    return new Map(rows.map((r) => [String(r.connector), {
      cursor: (r.cursor_day as string | null) ?? null,
      lease: r.lease_owner ? { owner: String(r.lease_owner), expiresAt: String(r.lease_expires) } : null,
    }]));
  }

  async latestRuns(): Promise<Map<string, { last: RunRecord | null; lastSuccess: RunRecord | null }>> {
    return latestRunsFrom(await this.rows(latestRunsSql(' COLLATE "C"')));
  }

  async leaseHolder(connector: string): Promise<{ owner: string; expiresAt: string } | undefined> {
    const [r] = await this.rows(
      `SELECT lease_owner, lease_expires FROM rakuten_sync_state
       WHERE connector = $1 AND lease_owner IS NOT NULL AND NOT ${EXPIRED('lease_expires')}`,
      [connector],
    );
    return r ? { owner: String(r.lease_owner), expiresAt: String(r.lease_expires) } : undefined;
  }

  async listAlertChannels(): Promise<AlertChannelRecord[]> {
    return (await this.rows('SELECT * FROM rakuten_alert_channels ORDER BY created_at COLLATE "C", id COLLATE "C"')).map(alertChannelFromRow);
  }

  /** Insert or replace by id; created_at stays the first save's (as a connector's does). */
  async saveAlertChannel(rec: AlertChannelRecord): Promise<void> {
    await this.rows(
      `INSERT INTO rakuten_alert_channels (${ALERT_CHANNEL_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target_sealed = excluded.target_sealed, connector = excluded.connector`,
      alertChannelValues(rec),
    );
  }

  async deleteAlertChannel(id: string): Promise<boolean> {
    return (await this.rows('DELETE FROM rakuten_alert_channels WHERE id = $1 RETURNING id', [id])).length > 0;
  }

  async recordAlertDelivery(d: AlertDeliveryRecord): Promise<void> {
    await this.rows(
      `INSERT INTO rakuten_alert_deliveries (${ALERT_DELIVERY_COLUMNS.join(', ')}) VALUES (${ALERT_DELIVERY_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
      alertDeliveryValues(d),
    );
  }

  /** Newest first in byte order (the index rakuten_alert_deliveries_at is in that order). */
  async listAlertDeliveries(limit: number, channelId?: string): Promise<AlertDeliveryRecord[]> {
    const where = channelId === undefined ? '' : 'WHERE channel_id = $1';
    const rows = await this.rows(
      `SELECT * FROM rakuten_alert_deliveries ${where} ORDER BY "at" COLLATE "C" DESC, id COLLATE "C" DESC LIMIT ${sqlLimit(limit)}`,
      channelId === undefined ? [] : [channelId],
    );
    return rows.map(alertDeliveryFromRow);
  }

  /**
   * One statement per direction, atomic across workers: a row comes back only when this statement
   * changed the condition. In: insert, or flip an inactive row; ON CONFLICT … DO UPDATE … WHERE
   * re-checks the committed row under its row lock, so of racing workers exactly one flips it.
   * Out: UPDATE … WHERE active, re-checked under the row lock the same way; a connector never set
   * has no row, stays out and gets none (absent = in no condition).
   */
  async setAlertCondition(connector: string, condition: AlertCondition, active: boolean, at: string): Promise<boolean> {
    const sql = active
      ? `INSERT INTO rakuten_alert_conditions AS t (connector, condition, active, since) VALUES ($1, $2, true, $3)
         ON CONFLICT (connector, condition) DO UPDATE SET active = excluded.active, since = excluded.since WHERE NOT t.active
         RETURNING 1 AS changed`
      : `UPDATE rakuten_alert_conditions SET active = false, since = $3 WHERE connector = $1 AND condition = $2 AND active
         RETURNING 1 AS changed`;
    return (await this.rows(sql, [connector, condition, at])).length > 0;
  }

  async alertConditions(): Promise<Map<string, Set<AlertCondition>>> {
    return alertConditionsFrom(await this.rows(
      'SELECT connector, condition FROM rakuten_alert_conditions WHERE active ORDER BY connector COLLATE "C", condition COLLATE "C"',
    ));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** pool.query: checkout, release, and a client whose connection broke is discarded, not reused. */
  private async rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
    } catch (e) {
      throw mapPgError(e, this.target.location);
    }
  }

}
