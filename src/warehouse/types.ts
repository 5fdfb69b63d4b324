/**
 * The documented interface a warehouse implements, and what the sync engine, the app and the
 * registry rely on:
 *
 * - `Warehouse`: the data plane (create tables, replace a window, delete a connector, dashboard reads);
 * - `StateStore`: the bookkeeping (connectors, cursors, run history, leases);
 * - `WarehouseEntry`: how a warehouse folder (src/warehouse/<name>/index.ts) announces itself to the
 *   registry (src/warehouse/registry.ts): which URLs it takes, what it can do, how to open it;
 * - `OpenContext`: what the registry hands `open`, notably where bookkeeping lives when the warehouse
 *   cannot keep its own (ClickHouse).
 *
 * Every warehouse renders the one data model of src/model/schema.ts (see render.ts) and formats the
 * dashboard's amounts through amounts.ts, so all of them return the same strings for the same rows.
 *
 * Adding a warehouse (say BigQuery): a folder src/warehouse/bigquery/ with a Warehouse class (its
 * `capabilities`, replaceWindow taking `rows` bodies via body.ts, reads through amounts.ts), a
 * StateStore or a call to ctx.openState, and index.ts exporting a light WarehouseEntry that
 * imports the driver inside `open`; then its line in registry.ts's WAREHOUSES. It imports only
 * from src/warehouse/*.ts, src/model and src/util, never from another warehouse's folder.
 * test/warehouse-contract.test.ts is the behaviour it must match.
 */
import type { ReportBody } from '../model/report-body.js';

/**
 * What a warehouse can do: code that must treat warehouses differently reads these, never `kind`.
 * Every field is read by code (named below); a capability nobody reads does not belong here. Any
 * warehouse may be handed several windows at once (`--concurrency`): one that cannot load them in
 * parallel queues them itself (DuckDB), so the engine needs no flag for it.
 */
export interface WarehouseCapabilities {
  /**
   * The bookkeeping this warehouse uses is shared by every process and machine that opens the same
   * URL, so leases there keep workers apart. False: one process per home (a DuckDB file). Read by
   * the registry: only a warehouse with sharedState can hold another warehouse's bookkeeping
   * (ClickHouse's `?state=`), and the borrower's sharedState is its lender's.
   */
  sharedState: boolean;
  /**
   * The warehouse loads the `canonical-csv` body form fastest (its own CSV reader, e.g. DuckDB's
   * read_csv). Read by the sync engine to pick the ReportBody form it hands `replaceWindow`; a
   * warehouse with `canonicalCsv: false` only ever gets `rows` bodies.
   */
  canonicalCsv: boolean;
  /**
   * How many windows, already read and staged by the warehouse, may wait for their commit on top
   * of the ones downloading (the sync's concurrency). Read by the sync engine: a window whose body
   * has been read gives its download slot to the next window, and up to this many such windows
   * wait. A warehouse that commits by size (DuckDB: several row groups per transaction) needs several;
   * one that loads while it reads needs none (default 0).
   */
  stagedWindows?: number;
}

export interface WindowLoad {
  connector: string;
  /** Inclusive ISO days whose rows this load replaces. */
  start: string;
  end: string;
  syncId: string;
  syncedAt: Date;
  /**
   * ISO 4217 code of the rows' amounts (the connector's currency setting), stored on every row and
   * summary. It must be the currency of the connector's rows already loaded (or those are ''):
   * otherwise replaceWindow throws a ConnectorError before changing anything (relabel first).
   */
  currency: string;
}

/**
 * One day's totals in one currency. Over several connectors a day has one entry per currency of
 * its rows: amounts of different currencies are never added up.
 */
export interface DayTotals {
  day: string;
  currency: string;
  rows: number;
  impressions: string;
  clicks: string;
  orders: string;
  sales: string;
  gross_commissions: string;
  total_commissions: string;
}

/** One row of a top table: an id of one connector (over all connectors, the same id of two connectors is two rows). */
export interface TopEntry {
  connector: string;
  /** The currency of `sales` and `total_commissions` (the connector's). */
  currency: string;
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
   * Replace the connector's rows of days start..end with the rows of `body`, atomically as readers
   * see it: if reading the body throws, or the process dies, the old rows stay. Also refreshes the
   * dimensions. Returns the number of rows loaded. Every warehouse takes `rows` bodies; only one
   * with `capabilities.canonicalCsv` is handed `canonical-csv` bodies (others throw an internal
   * ConnectorError for them, see body.ts). May be called for several windows at once.
   */
  replaceWindow(load: WindowLoad, body: ReportBody): Promise<number>;
  /** Remove every row a connector loaded (fact and dimension tables). */
  deleteConnectorData(connector: string): Promise<void>;
  /**
   * Exact per-day totals (decimals as strings, formatted by amounts.ts); connector null = all
   * connectors. Days without rows are omitted. One entry per (day, currency), ordered by day then
   * currency in byte order: rows of different currencies are never summed together.
   */
  dayTotals(connector: string | null, from: string, to: string): Promise<DayTotals[]>;
  /**
   * Top publishers or offers by sales over the period (per (connector, id); ties by id, then
   * connector, in byte order; amounts via amounts.ts). Ranked within each currency: up to `limit`
   * entries per currency, the currencies in byte order.
   */
  top(dimension: 'publisher' | 'offer', connector: string | null, from: string, to: string, limit: number): Promise<TopEntry[]>;
  /**
   * Set the currency of every row the connector has loaded (fact and summary tables) to
   * `currency`: when its currency setting changes, and to label rows loaded before the column
   * existed. No other connector's rows change; idempotent. Not called while the connector syncs
   * (the caller holds its lease).
   */
  relabelCurrency(connector: string, currency: string): Promise<void>;
  /**
   * The currencies of each connector's rows (from the day summary: cheap), each list in byte order;
   * a connector without rows is absent. '' = loaded before the column existed. The app relabels
   * every connector whose list is not exactly its currency (an interrupted relabel included).
   */
  connectorCurrencies(): Promise<Map<string, string[]>>;
  coverage(connector: string): Promise<Coverage>;
  /** Every connector's coverage in one read (a connector without rows is absent): for listings. */
  coverages(): Promise<Map<string, Coverage>>;
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
  /** ISO 4217 code of the report's amounts (by default from the URL's `network`, see src/rakuten/networks.ts). */
  currency: string;
  /** Stale after this many hours without a successful sync; null: twice the schedule's interval plus 2 h (src/app/freshness.ts). */
  staleAfterHours: number | null;
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

/** Where alerts go (src/alerts): a JSON webhook, a Slack-compatible incoming webhook, or an e-mail address. */
export type AlertChannelKind = 'webhook' | 'slack' | 'email';

export interface AlertChannelRecord {
  id: string;
  kind: AlertChannelKind;
  /** The URL (webhook, slack: it carries a secret) sealed like a token (src/util/vault.ts); an e-mail address as it is (not a secret). */
  targetSealed: string;
  /** Alerts of this connector only; null = every connector. */
  connector: string | null;
  createdAt: string;
}

/** What an alert says happened; `test` is `alerts test`. */
export type AlertEvent = 'failed' | 'recovered' | 'stale' | 'fresh' | 'token_rejected' | 'test';

/** A condition a connector is in or not: an alert is sent when it changes (failing → failed/recovered, stale → stale/fresh, token → token_rejected). */
export type AlertCondition = 'failing' | 'stale' | 'token';

/** One alert sent (or given up on) to one channel: the alert history. */
export interface AlertDeliveryRecord {
  id: string;
  channelId: string;
  connector: string | null;
  event: AlertEvent;
  /** When the delivery ended (ISO). */
  at: string;
  status: 'sent' | 'failed';
  attempts: number;
  /** Why it failed (redacted, never a secret), or null. */
  error: string | null;
}

/** A connector's cursor and lease, as syncStates() returns them. */
export interface SyncStateRecord {
  cursor: string | null;
  lease: { owner: string; expiresAt: string } | null;
}

export interface StateStore {
  readonly kind: string;
  init(): Promise<void>;
  listConnectors(): Promise<ConnectorRecord[]>;
  getConnector(name: string): Promise<ConnectorRecord | undefined>;
  /** Insert or replace. */
  saveConnector(rec: ConnectorRecord): Promise<void>;
  /** Delete the connector with its cursor, runs, lease and alert conditions (alert channels and history stay). */
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
  /** For listings, one read each: every connector's cursor and unexpired lease (absent: never synced)… */
  syncStates(): Promise<Map<string, SyncStateRecord>>;
  /** …and every connector's latest run and latest successful run (in listRuns' order). */
  latestRuns(): Promise<Map<string, { last: RunRecord | null; lastSuccess: RunRecord | null }>>;
  /** Alert channels, oldest first (ties by id). */
  listAlertChannels(): Promise<AlertChannelRecord[]>;
  /** Insert or replace (by id). */
  saveAlertChannel(rec: AlertChannelRecord): Promise<void>;
  /** Delete a channel (its delivery history stays); false when there was none of that id. */
  deleteAlertChannel(id: string): Promise<boolean>;
  recordAlertDelivery(d: AlertDeliveryRecord): Promise<void>;
  /** The alert history, newest first (ties by id descending): of one channel, or of all. */
  listAlertDeliveries(limit: number, channelId?: string): Promise<AlertDeliveryRecord[]>;
  /**
   * Put the connector in or out of an alert condition. True only when this call changed it: of
   * workers that make the same change at once, exactly one gets true (and sends the alert).
   * A connector never set is in no condition.
   */
  setAlertCondition(connector: string, condition: AlertCondition, active: boolean, at: string): Promise<boolean>;
  /** Every connector's active conditions (absent: none). */
  alertConditions(): Promise<Map<string, Set<AlertCondition>>>;
  close(): Promise<void>;
}

/** A state store opened for a warehouse that keeps no bookkeeping itself (see OpenContext.openState). */
export interface OpenedState {
  store: StateStore;
  /** The lender's `capabilities.sharedState`: are these leases seen by every worker? */
  sharedState: boolean;
}

/** What the registry hands a warehouse's `open`. */
export interface OpenContext {
  /** The connector's home directory (state, secret key, temporary files), as the user gave it. */
  readonly home: string;
  /**
   * URL beginnings of the registered warehouses that can hold another warehouse's bookkeeping
   * (`prefix` of each entry with sharedState and openState), for messages: today ['postgres://'].
   */
  readonly sharedStateForms: readonly string[];
  /**
   * Open bookkeeping for a warehouse that cannot keep its own: 'local' = the embedded store in the
   * home (<home>/state.duckdb, one process per home), or `{ url }` of a registered warehouse whose
   * state store is shared (capabilities.sharedState). Null when the URL is none of those (the caller
   * says what it accepts, with sharedStateForms). The registry closes what it opened, with the
   * warehouse (or at once if `open` fails): `open` returns it as its `state`, never closes it.
   */
  openState(where: 'local' | { url: string }): Promise<OpenedState | null>;
}

/**
 * One warehouse, as its folder (src/warehouse/<name>/index.ts) exports it to the registry. Keep
 * this module light: import the driver inside `open` (a DuckDB user never loads pg).
 */
export interface WarehouseEntry {
  /** The `kind` of what it opens ('duckdb', 'postgres', …). */
  readonly name: string;
  /** How its URLs begin, for messages ('postgres://'). */
  readonly prefix: string;
  /** A URL form for the "unknown warehouse" hint ('postgres://user@host/db'). */
  readonly example: string;
  /** Is this URL (already trimmed) one of this warehouse's? The first matching entry wins. */
  matches(url: string): boolean;
  /**
   * What a warehouse opened by this entry can do with its plain URL (for listings and for deciding
   * who may lend bookkeeping); the opened Warehouse's own `capabilities` are authoritative (e.g.
   * ClickHouse's sharedState follows `?state=`).
   */
  readonly capabilities: WarehouseCapabilities;
  /**
   * Open the warehouse and its state store for `url`, without network or DDL if possible: the
   * caller runs `init()` on both. A state store obtained from ctx.openState is returned as `state`.
   */
  open(url: string, ctx: OpenContext): Promise<{ warehouse: Warehouse; state: StateStore }>;
  /**
   * Only for a warehouse whose bookkeeping can serve another warehouse: just its state store for
   * `url` ('local' bookkeeping is the duckdb entry's; `?state=` URLs need capabilities.sharedState).
   */
  openState?(url: string, ctx: OpenContext): Promise<StateStore>;
}
