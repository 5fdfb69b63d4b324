/**
 * Bookkeeping in the same DuckDB file as the data: connectors, cursors, leases, the sync-run
 * history and the alert channels, deliveries and conditions (tables: state-sql.ts). Also the 'local' bookkeeping of a warehouse that keeps none
 * itself (<home>/state.duckdb, see registry.ts).
 */
import {
  ALERT_CHANNEL_COLUMNS, ALERT_DELIVERY_COLUMNS, alertChannelFromRow, alertChannelValues, alertConditionsFrom, alertDeliveryFromRow,
  alertDeliveryValues, connectorFromRow, latestRunsFrom, latestRunsSql, runFromRow, sqlLimit, STATE_DDL, runInsertSql, runUpdateSql,
} from '../state-sql.js';
import type {
  AlertChannelRecord, AlertCondition, AlertDeliveryRecord, ConnectorRecord, RunRecord, StateStore, SyncStateRecord,
} from '../types.js';
import { openDuckDb, releaseDuckDb, SerialConnection } from './connection.js';

export class DuckDbStateStore implements StateStore {
  readonly kind = 'duckdb';
  private conn!: SerialConnection;
  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<DuckDbStateStore> {
    const s = new DuckDbStateStore(path);
    s.conn = await SerialConnection.open(await openDuckDb(path));
    return s;
  }

  async init(): Promise<void> {
    for (const ddl of STATE_DDL({ text: 'VARCHAR', int: 'BIGINT', ts: 'VARCHAR' })) await this.conn.run(ddl);
  }

  async listConnectors(): Promise<ConnectorRecord[]> {
    return (await this.conn.rows('SELECT * FROM rakuten_connectors ORDER BY name')).map(connectorFromRow);
  }

  async getConnector(name: string): Promise<ConnectorRecord | undefined> {
    const [r] = await this.conn.rows('SELECT * FROM rakuten_connectors WHERE name = $1', [name]);
    return r ? connectorFromRow(r) : undefined;
  }

  async saveConnector(rec: ConnectorRecord): Promise<void> {
    await this.conn.run(
      `INSERT INTO rakuten_connectors (name, url, token_sealed, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET url = excluded.url, token_sealed = excluded.token_sealed, settings = excluded.settings,
         updated_at = excluded.updated_at`,
      [rec.name, rec.url, rec.tokenSealed, JSON.stringify(rec.settings), rec.createdAt, rec.updatedAt],
    );
  }

  async deleteConnector(name: string): Promise<void> {
    await this.conn.run('DELETE FROM rakuten_connectors WHERE name = $1', [name]);
    await this.conn.run('DELETE FROM rakuten_sync_state WHERE connector = $1', [name]);
    await this.conn.run('DELETE FROM rakuten_sync_runs WHERE connector = $1', [name]);
    await this.conn.run('DELETE FROM rakuten_alert_conditions WHERE connector = $1', [name]);
  }

  async getCursor(connector: string): Promise<string | undefined> {
    const [r] = await this.conn.rows('SELECT cursor_day FROM rakuten_sync_state WHERE connector = $1', [connector]);
    return (r?.cursor_day as string | null) ?? undefined;
  }

  async advanceCursor(connector: string, day: string): Promise<void> {
    await this.ensureState(connector);
    await this.conn.run(
      `UPDATE rakuten_sync_state SET cursor_day = $2 WHERE connector = $1 AND (cursor_day IS NULL OR cursor_day < $2)`,
      [connector, day],
    );
  }

  async startRun(run: RunRecord): Promise<void> {
    const q = runInsertSql(run);
    await this.conn.run(q.sql, q.values);
  }

  async updateRun(id: string, patch: Partial<Omit<RunRecord, 'id' | 'connector'>>): Promise<void> {
    const q = runUpdateSql(id, patch);
    if (q) await this.conn.run(q.sql, q.values);
  }

  async listRuns(connector: string | null, limit: number): Promise<RunRecord[]> {
    const rows = await this.conn.rows(
      `SELECT * FROM rakuten_sync_runs WHERE ($1::VARCHAR IS NULL OR connector = $1) ORDER BY started_at DESC, id DESC LIMIT ${sqlLimit(limit)}`,
      [connector],
    );
    return rows.map(runFromRow);
  }

  async markInterrupted(connector: string, exceptRunId?: string): Promise<void> {
    await this.conn.run(
      `UPDATE rakuten_sync_runs SET status = 'interrupted', finished_at = coalesce(finished_at, $3),
         error = coalesce(error, 'the sync process stopped before finishing (killed or crashed); the next sync resumed')
       WHERE connector = $1 AND status = 'running' AND id <> $2`,
      [connector, exceptRunId ?? '', new Date().toISOString()],
    );
  }

  /** One process owns a DuckDB file, so the lease guards against overlapping syncs inside it and survives crashes by expiry. */
  async acquireLease(connector: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensureState(connector);
    const now = new Date();
    return this.conn.exclusive(async (c) => {
      const r = await c.runAndReadAll(
        `UPDATE rakuten_sync_state SET lease_owner = $2, lease_expires = $3
         WHERE connector = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires < $4) RETURNING connector`,
        [connector, owner, new Date(now.getTime() + ttlMs).toISOString(), now.toISOString()],
      );
      return r.currentRowCount > 0;
    });
  }

  async releaseLease(connector: string, owner: string): Promise<void> {
    await this.conn.run(
      'UPDATE rakuten_sync_state SET lease_owner = NULL, lease_expires = NULL WHERE connector = $1 AND lease_owner = $2',
      [connector, owner],
    );
  }

  async syncStates(): Promise<Map<string, SyncStateRecord>> {
    const now = new Date().toISOString();
    const rows = await this.conn.rows('SELECT connector, cursor_day, lease_owner, lease_expires FROM rakuten_sync_state');
    return new Map(rows.map((r) => [String(r.connector), {
      cursor: (r.cursor_day as string | null) ?? null,
      lease: r.lease_owner && String(r.lease_expires) >= now ? { owner: String(r.lease_owner), expiresAt: String(r.lease_expires) } : null,
    }]));
  }

  async latestRuns(): Promise<Map<string, { last: RunRecord | null; lastSuccess: RunRecord | null }>> {
    return latestRunsFrom(await this.conn.rows(latestRunsSql()));
  }

  async leaseHolder(connector: string): Promise<{ owner: string; expiresAt: string } | undefined> {
    const [r] = await this.conn.rows('SELECT lease_owner, lease_expires FROM rakuten_sync_state WHERE connector = $1', [connector]);
    if (!r?.lease_owner || String(r.lease_expires) < new Date().toISOString()) return undefined;
    return { owner: String(r.lease_owner), expiresAt: String(r.lease_expires) };
  }

  async listAlertChannels(): Promise<AlertChannelRecord[]> {
    return (await this.conn.rows('SELECT * FROM rakuten_alert_channels ORDER BY created_at, id')).map(alertChannelFromRow);
  }

  /** Insert or replace by id; created_at stays the first save's (as a connector's does). */
  async saveAlertChannel(rec: AlertChannelRecord): Promise<void> {
    await this.conn.run(
      `INSERT INTO rakuten_alert_channels (${ALERT_CHANNEL_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target_sealed = excluded.target_sealed, connector = excluded.connector`,
      alertChannelValues(rec),
    );
  }

  async deleteAlertChannel(id: string): Promise<boolean> {
    return this.conn.exclusive(async (c) => (await c.runAndReadAll('DELETE FROM rakuten_alert_channels WHERE id = $1 RETURNING id', [id])).currentRowCount > 0);
  }

  async recordAlertDelivery(d: AlertDeliveryRecord): Promise<void> {
    await this.conn.run(
      `INSERT INTO rakuten_alert_deliveries (${ALERT_DELIVERY_COLUMNS.join(', ')}) VALUES (${ALERT_DELIVERY_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
      alertDeliveryValues(d),
    );
  }

  async listAlertDeliveries(limit: number, channelId?: string): Promise<AlertDeliveryRecord[]> {
    const rows = await this.conn.rows(
      `SELECT * FROM rakuten_alert_deliveries WHERE ($1::VARCHAR IS NULL OR channel_id = $1) ORDER BY "at" DESC, id DESC LIMIT ${sqlLimit(limit)}`,
      [channelId ?? null],
    );
    return rows.map(alertDeliveryFromRow);
  }

  /**
   * One statement per direction, a row back only when it changed the condition. In: insert, or
   * flip an inactive row. Out: flip an active row; a connector never set has no row, stays out and
   * gets none (absent = in no condition).
   */
  async setAlertCondition(connector: string, condition: AlertCondition, active: boolean, at: string): Promise<boolean> {
    const sql = active
      ? `INSERT INTO rakuten_alert_conditions AS t (connector, condition, active, since) VALUES ($1, $2, true, $3)
         ON CONFLICT (connector, condition) DO UPDATE SET active = excluded.active, since = excluded.since WHERE NOT t.active
         RETURNING 1 AS changed`
      : `UPDATE rakuten_alert_conditions SET active = false, since = $3 WHERE connector = $1 AND condition = $2 AND active
         RETURNING 1 AS changed`;
    return this.conn.exclusive(async (c) => (await c.runAndReadAll(sql, [connector, condition, at])).currentRowCount > 0);
  }

  async alertConditions(): Promise<Map<string, Set<AlertCondition>>> {
    return alertConditionsFrom(await this.conn.rows('SELECT connector, condition FROM rakuten_alert_conditions WHERE active ORDER BY connector, condition'));
  }

  private async ensureState(connector: string): Promise<void> {
    await this.conn.run('INSERT INTO rakuten_sync_state (connector) VALUES ($1) ON CONFLICT DO NOTHING', [connector]);
  }

  async close(): Promise<void> {
    this.conn.close();
    releaseDuckDb(this.path);
  }
}
