/**
 * What a warehouse must do for the sync engine (the data plane) and what a state store must do
 * for bookkeeping (connectors, cursors, run history, leases). Each warehouse lives in
 * src/warehouse/<name>.ts and renders the one data model of src/model/schema.ts.
 */
import type { ReportRow } from '../model/schema.js';

export interface WarehouseCapabilities {
  /** Can several windows be loaded at the same time (separate connections)? */
  concurrentLoads: boolean;
  /** Do several processes/machines share it (so leases must live in it)? */
  shared: boolean;
}

export interface WindowLoad {
  connector: string;
  /** Inclusive ISO days whose rows this load replaces. */
  start: string;
  end: string;
  syncId: string;
  syncedAt: Date;
}

export interface DayTotals {
  day: string;
  rows: number;
  impressions: string;
  clicks: string;
  orders: string;
  sales: string;
  gross_commissions: string;
  total_commissions: string;
}

export interface TopEntry {
  id: string;
  name: string | null;
  rows: number;
  sales: string;
  total_commissions: string;
}

export interface Coverage {
  rows: number;
  days: number;
  firstDay: string | null;
  lastDay: string | null;
}

export interface Warehouse {
  readonly kind: string;
  /** Where it is, for messages (no credentials). */
  readonly location: string;
  readonly capabilities: WarehouseCapabilities;
  /** Create the tables if they are missing (idempotent). */
  init(): Promise<void>;
  /**
   * Replace the connector's rows of days start..end with `rows`, atomically as readers see it:
   * if `rows` throws, or the process dies, the old rows stay. Also refreshes the dimensions.
   * Returns the number of rows loaded.
   */
  replaceWindow(load: WindowLoad, rows: AsyncIterable<ReportRow[]>): Promise<number>;
  /** Remove every row a connector loaded (fact and dimension tables). */
  deleteConnectorData(connector: string): Promise<void>;
  /** Exact per-day totals (decimals as strings); connector null = all connectors. Days without rows are omitted. */
  dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]>;
  /** Top publishers or offers by sales over the period. */
  top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]>;
  coverage(connector: string): Promise<Coverage>;
  close(): Promise<void>;
}

export interface ConnectorSettings {
  /** First day of the first sync (ISO). */
  startDate: string;
  lookbackDays: number;
  windowDays: number;
  /** Cron expression in the report's time zone; empty = manual only. */
  schedule: string;
  paused: boolean;
}

export interface ConnectorRecord {
  name: string;
  /** The report URL without its token. */
  url: string;
  /** The token, encrypted (see src/util/vault.ts). Never the plain token. */
  tokenSealed: string;
  settings: ConnectorSettings;
  createdAt: string;
  updatedAt: string;
}

export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted';

export interface RunRecord {
  id: string;
  connector: string;
  startedAt: string;
  finishedAt: string | null;
  status: RunStatus;
  rangeStart: string;
  rangeEnd: string;
  windowsTotal: number;
  windowsDone: number;
  rows: number;
  error: string | null;
  /** Who ran it: host:pid. */
  worker: string;
}

export interface StateStore {
  readonly kind: string;
  init(): Promise<void>;
  listConnectors(): Promise<ConnectorRecord[]>;
  getConnector(name: string): Promise<ConnectorRecord | undefined>;
  /** Insert or replace. */
  saveConnector(rec: ConnectorRecord): Promise<void>;
  deleteConnector(name: string): Promise<void>;
  /** Last day synced (the cursor) or undefined before the first sync. */
  getCursor(connector: string): Promise<string | undefined>;
  /** Move the cursor forward to `day` (never backwards). */
  advanceCursor(connector: string, day: string): Promise<void>;
  startRun(run: RunRecord): Promise<void>;
  updateRun(id: string, patch: Partial<Omit<RunRecord, 'id' | 'connector'>>): Promise<void>;
  listRuns(connector: string | null, limit: number): Promise<RunRecord[]>;
  /** Mark runs of this connector still 'running' but not held by a live lease as 'interrupted'. */
  markInterrupted(connector: string, exceptRunId?: string): Promise<void>;
  /**
   * Take the connector's lease for `owner` for ttlMs, if free or expired. True when taken.
   * A holder renews it with the same call before it expires.
   */
  acquireLease(connector: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(connector: string, owner: string): Promise<void>;
  /** Current lease holder, if any and unexpired. */
  leaseHolder(connector: string): Promise<{ owner: string; expiresAt: string } | undefined>;
  close(): Promise<void>;
}
