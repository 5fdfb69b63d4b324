/**
 * The bookkeeping tables, shared by the SQL state stores (DuckDB, PostgreSQL). Timestamps are
 * ISO-8601 UTC text so every store compares and returns them the same way.
 */
import type { ConnectorRecord, ConnectorSettings, RunRecord, RunStatus } from './types.js';

export const RUN_COLUMNS = [
  'id', 'connector', 'started_at', 'finished_at', 'status', 'range_start', 'range_end', 'windows_total', 'windows_done', 'rows',
  'error', 'worker',
];

export function STATE_DDL(t: { text: string; int: string; ts: string }): string[] {
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
  ];
}

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
  const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
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
