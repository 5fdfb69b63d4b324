/**
 * What the App takes and gives about connectors (split from app.ts): the inputs of Save & Test and
 * edit, what they answer, and how a connector is shown (never its token, only its mask).
 */
import { ConnectorError } from '../util/errors.js';
import type { ConnectorSettings, Coverage, RunRecord } from '../warehouse/types.js';
import type { TestReport } from './save-and-test.js';

/** What `sync --all` did with each connector: the tally it ends with. */
export interface SyncAllResult {
  synced: string[];
  failed: string[];
  /** Synced by another worker meanwhile (skipped here). */
  elsewhere: string[];
  /** Still being synced by another worker when we stopped waiting. */
  stillBusy: string[];
}

export interface ConnectorInput {
  name: string;
  /** The "Get API" URL, or reportKey + token. */
  url?: string;
  reportKey?: string;
  token?: string;
  startDate?: string;
  lookbackDays?: number;
  windowDays?: number;
  schedule?: string;
  paused?: boolean;
  /** Replaces the URL's `tz` (re-tested). */
  timeZone?: string;
  /** ISO 4217 code of the report's amounts; default: the URL's network's (src/rakuten/networks.ts). */
  currency?: string;
  /** Freshness limit in hours; null: the schedule's rule (src/app/freshness.ts). */
  staleAfterHours?: number | null;
  /**
   * A new connector whose name an earlier (removed) connector used, and whose rows are still in
   * the warehouse, takes those rows over. Without it such a name is refused (KeptDataError).
   */
  adoptData?: boolean;
}

/** What `edit` / PATCH may change: anything but the name. */
export type ConnectorChange = Omit<ConnectorInput, 'name' | 'adoptData'>;

/** An edit: re-tested (then saved only if Save & Test passed) or settings saved at once. */
export interface EditResult extends SaveResult {
  tested: boolean;
}

/**
 * A new connector's name is that of an earlier connector whose rows are still in the warehouse:
 * refused unless the rows are adopted (adoptData) or deleted first (App.removeData).
 */
export class KeptDataError extends ConnectorError {
  constructor(readonly connector: string, readonly kept: Coverage) {
    super('config', `the warehouse still has ${kept.rows.toLocaleString('en-US')} rows (${kept.days} day${kept.days === 1 ? '' : 's'}, ${kept.firstDay}..${kept.lastDay}) of an earlier connector named "${connector}"`, {
      hint: `to keep them for the new connector, add it with --adopt-data (API: "adoptData": true); to delete them first: rakuten-connector remove-data ${connector}`,
      field: 'name',
    });
  }
}

export interface SaveResult extends TestReport {
  saved: boolean;
  connector?: ConnectorView;
}

/** What may be shown about a connector: never the token, only its mask. */
export interface ConnectorView {
  name: string;
  /**
   * Why the connector cannot be used right now, in plain words (its host is no longer allowed,
   * its token cannot be unsealed with this key, its stored URL is broken), or null. Such a
   * connector is still listed; syncing it fails at once with this reason.
   */
  problem: string | null;
  url: string;
  tokenMasked: string;
  reportKey: string;
  dateType: string;
  timeZone: string;
  settings: ConnectorSettings;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectorStatus extends ConnectorView {
  cursor: string | null;
  coverage: Coverage;
  lastRun: RunRecord | null;
  lastSuccess: RunRecord | null;
  running: { owner: string; expiresAt: string } | null;
}
