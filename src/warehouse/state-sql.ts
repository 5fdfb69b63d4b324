/**
 * The bookkeeping tables, shared by the SQL state stores (DuckDB, PostgreSQL). Timestamps are
 * ISO-8601 UTC text so every store compares and returns them the same way.
 */
import type {
  AlertChannelKind, AlertChannelRecord, AlertCondition, AlertDeliveryRecord, AlertEvent, ConnectorRecord, ConnectorSettings, RunRecord,
  RunStatus,
} from './types.js';

export const RUN_COLUMNS = [
  'id', 'connector', 'started_at', 'finished_at', 'status', 'range_start', 'range_end', 'windows_total', 'windows_done', 'rows',
  'error', 'worker',
];

/**
 * Every bookkeeping table and index, IF NOT EXISTS (so init adds new ones to an existing database).
 * `collate` orders the delivery index as the stores read it (PostgreSQL: ' COLLATE "C"').
 * `at` is quoted: DuckDB reserves the word.
 */
export function STATE_DDL(t: { text: string; int: string; ts: string; collate?: string }): string[] {
  const c = t.collate ?? '';
  return [
    `CREATE TABLE IF NOT EXISTS rakuten_connectors (
      name ${t.text} PRIMARY KEY, url ${t.text} NOT NULL, token_sealed ${t.text} NOT NULL, settings ${t.text} NOT NULL,
      created_at ${t.ts} NOT NULL, updated_at ${t.ts} NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS rakuten_sync_state (
      connector ${t.text} PRIMARY KEY, cursor_day ${t.text}, lease_owner ${t.text}, lease_expires ${t.ts})`,
    `CREATE TABLE IF NOT EXISTS rakuten_sync_runs (
      id ${t.text} PRIMARY KEY, connector ${t.text} NOT NULL, started_at ${t.ts} NOT NULL, finished_at ${t.ts},
      status ${t.text} NOT NULL, range_start ${t.text} NOT NULL, range_end ${t.text} NOT NULL, windows_total ${t.int} NOT NULL,
      windows_done ${t.int} NOT NULL, rows ${t.int} NOT NULL, error ${t.text}, worker ${t.text} NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS rakuten_alert_channels (
      id ${t.text} PRIMARY KEY, kind ${t.text} NOT NULL, target_sealed ${t.text} NOT NULL, connector ${t.text}, created_at ${t.ts} NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS rakuten_alert_deliveries (
      id ${t.text} PRIMARY KEY, channel_id ${t.text} NOT NULL, connector ${t.text}, event ${t.text} NOT NULL, "at" ${t.ts} NOT NULL,
      status ${t.text} NOT NULL, attempts ${t.int} NOT NULL, error ${t.text})`,
    `CREATE INDEX IF NOT EXISTS rakuten_alert_deliveries_at ON rakuten_alert_deliveries ("at"${c}, id${c})`,
    `CREATE TABLE IF NOT EXISTS rakuten_alert_conditions (
      connector ${t.text} NOT NULL, condition ${t.text} NOT NULL, active BOOLEAN NOT NULL, since ${t.ts} NOT NULL,
      PRIMARY KEY (connector, condition))`,
  ];
}

/** The relations STATE_DDL creates (PostgreSQL's init runs the DDL only when one is missing). */
export const STATE_RELATIONS = [
  'rakuten_connectors', 'rakuten_sync_state', 'rakuten_sync_runs', 'rakuten_alert_channels', 'rakuten_alert_deliveries',
  'rakuten_alert_deliveries_at', 'rakuten_alert_conditions',
];

/** A LIMIT the SQL can take: at least 1, an integer (NaN → 1, Infinity → the largest safe integer). */
export function sqlLimit(limit: number): number {
  return Number.isNaN(limit) ? 1 : Math.max(1, Math.floor(Math.min(limit, Number.MAX_SAFE_INTEGER)));
}

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function connectorFromRow(r: Record<string, unknown>): ConnectorRecord {
  return {
    name: String(r.name),
    url: String(r.url),
    tokenSealed: String(r.token_sealed),
    settings: JSON.parse(String(r.settings)) as ConnectorSettings,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
}

export function runFromRow(r: Record<string, unknown>): RunRecord {
  const str = strOrNull;
  return {
    id: String(r.id),
    connector: String(r.connector),
    startedAt: String(r.started_at),
    finishedAt: str(r.finished_at),
    status: String(r.status) as RunStatus,
    rangeStart: String(r.range_start),
    rangeEnd: String(r.range_end),
    windowsTotal: Number(r.windows_total),
    windowsDone: Number(r.windows_done),
    rows: Number(r.rows),
    error: str(r.error),
    worker: String(r.worker),
  };
}

export const ALERT_CHANNEL_COLUMNS = ['id', 'kind', 'target_sealed', 'connector', 'created_at'];
export const ALERT_DELIVERY_COLUMNS = ['id', 'channel_id', 'connector', '"at"', 'event', 'status', 'attempts', 'error'];

export function alertChannelFromRow(r: Record<string, unknown>): AlertChannelRecord {
  return {
    id: String(r.id),
    kind: String(r.kind) as AlertChannelKind,
    targetSealed: String(r.target_sealed),
    connector: strOrNull(r.connector),
    createdAt: String(r.created_at),
  };
}

/** A channel's values in ALERT_CHANNEL_COLUMNS' order. */
export function alertChannelValues(c: AlertChannelRecord): (string | null)[] {
  return [c.id, c.kind, c.targetSealed, c.connector, c.createdAt];
}

export function alertDeliveryFromRow(r: Record<string, unknown>): AlertDeliveryRecord {
  return {
    id: String(r.id),
    channelId: String(r.channel_id),
    connector: strOrNull(r.connector),
    event: String(r.event) as AlertEvent,
    at: String(r.at),
    status: String(r.status) as AlertDeliveryRecord['status'],
    attempts: Number(r.attempts),
    error: strOrNull(r.error),
  };
}

/** A delivery's values in ALERT_DELIVERY_COLUMNS' order. */
export function alertDeliveryValues(d: AlertDeliveryRecord): (string | number | null)[] {
  return [d.id, d.channelId, d.connector, d.at, d.event, d.status, d.attempts, d.error];
}

/** Rows of (connector, condition) of the active conditions → alertConditions' map. */
export function alertConditionsFrom(rows: Record<string, unknown>[]): Map<string, Set<AlertCondition>> {
  const out = new Map<string, Set<AlertCondition>>();
  for (const r of rows) {
    const c = String(r.connector);
    const set = out.get(c) ?? new Set<AlertCondition>();
    set.add(String(r.condition) as AlertCondition);
    out.set(c, set);
  }
  return out;
}

type SqlValue = string | number | null;

/** INSERT of a new run, with $n parameters (DuckDB and PostgreSQL alike). */
export function runInsertSql(run: RunRecord): { sql: string; values: SqlValue[] } {
  return {
    sql: `INSERT INTO rakuten_sync_runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
    values: [run.id, run.connector, run.startedAt, run.finishedAt, run.status, run.rangeStart, run.rangeEnd, run.windowsTotal,
      run.windowsDone, run.rows, run.error, run.worker],
  };
}

/** UPDATE of a run's changed fields (camelCase → snake_case columns); null when nothing to set. */
export function runUpdateSql(id: string, patch: Partial<Omit<RunRecord, 'id' | 'connector'>>): { sql: string; values: SqlValue[] } | null {
  const sets: string[] = [];
  const values: SqlValue[] = [id];
  for (const [k, v] of Object.entries(patch)) {
    const col = k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
    if (!RUN_COLUMNS.includes(col) || col === 'id' || col === 'connector' || v === undefined) continue;
    values.push(v as SqlValue);
    sets.push(`${col} = $${values.length}`);
  }
  return sets.length ? { sql: `UPDATE rakuten_sync_runs SET ${sets.join(', ')} WHERE id = $1`, values } : null;
}

/**
 * Each connector's latest run (k = 1) and latest success (s = 1), in listRuns' order; `collate`
 * makes text order byte order where the database needs telling (PostgreSQL: ' COLLATE "C"').
 */
export function latestRunsSql(collate = ''): string {
  const order = `ORDER BY started_at${collate} DESC, id${collate} DESC`;
  return `SELECT * FROM (
      SELECT *, row_number() OVER (PARTITION BY connector ${order}) AS k,
             row_number() OVER (PARTITION BY connector, status = 'success' ${order}) AS s
      FROM rakuten_sync_runs) AS r
    WHERE k = 1 OR (status = 'success' AND s = 1)`;
}

/** latestRunsSql's rows, by connector. */
export function latestRunsFrom(rows: Record<string, unknown>[]): Map<string, { last: RunRecord | null; lastSuccess: RunRecord | null }> {
  const out = new Map<string, { last: RunRecord | null; lastSuccess: RunRecord | null }>();
  for (const r of rows) {
    const run = runFromRow(r);
    const e = out.get(run.connector) ?? { last: null, lastSuccess: null };
    if (Number(r.k) === 1) e.last = run;
    if (run.status === 'success' && Number(r.s) === 1) e.lastSuccess = run;
    out.set(run.connector, e);
  }
  return out;
}
