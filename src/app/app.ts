/**
 * The connector application: what the CLI and the web server both do, in one place.
 * Holds the open warehouse and state store for a home directory; the CLI and the server reach
 * them only through the methods here (reads for pages and charts included), never through `db`.
 */
import { mkdirSync } from 'node:fs';
import { checkHostAllowed, MIN_TOKEN_LENGTH, parseReportUrl, type ReportSource } from '../rakuten/url.js';
import { addDays, todayIn } from '../util/days.js';
import { secretSetting } from '../util/config.js';
import { aboutField, ConnectorError, describeError } from '../util/errors.js';
import { maskToken } from '../util/secrets.js';
import { Vault } from '../util/vault.js';
import { liveLeaseHolder, runSync, type SyncOptions, WORKER_ID } from '../sync/engine.js';
import { isDeadLocalWorker } from '../sync/worker.js';
import { sleep } from '../sync/retry.js';
import { eachLimited } from '../util/pool.js';
import { defaultWarehouseUrl, type Opened, openWarehouse } from '../warehouse/index.js';
import type { ConnectorRecord, ConnectorSettings, Coverage, DayTotals, RunRecord, TopEntry } from '../warehouse/types.js';
import { Alerts } from './alerts.js';
import { type Freshness, freshnessOf } from './freshness.js';
import { saveAndTestChecks, type TestReport } from './save-and-test.js';
import { type ConnectorChange, type ConnectorInput, type ConnectorStatus, type ConnectorView, type EditResult, KeptDataError, type SaveResult, type SyncAllResult } from './connector-types.js';
import { currencyNeeded, FALLBACK_CURRENCY, labelCurrencies, saveWithCurrency, usdNotice, withSettingDefaults } from './currency.js';
import { nameError, settingError, settingsInputProblems, validateRange, validateSettings } from './settings.js';
import { networkCurrency } from '../rakuten/networks.js';
import { storedUrl, stripToken, testUrl, withToken } from './connector-url.js';
import type { RequestOptions } from '../rakuten/client.js';

import { DEFAULT_LOOKBACK_DAYS, DEFAULT_SCHEDULE, DEFAULT_START_DAYS_AGO, DEFAULT_SYNC_PARALLEL } from './defaults.js';

export { DEFAULT_LOOKBACK_DAYS, DEFAULT_SCHEDULE, DEFAULT_START_DAYS_AGO, DEFAULT_SYNC_PARALLEL };
export { KeptDataError } from './connector-types.js';
export type { ConnectorChange, ConnectorInput, ConnectorStatus, ConnectorView, EditResult, SaveResult, SyncAllResult } from './connector-types.js';

export class App {
  /**
   * Called before every sync with the connector's name and how to get it as shown, built only if the
   * check needs it (the CLI fails the demo's at once when its simulator is gone).
   */
  syncCheck?: (name: string, view: () => Promise<ConnectorView>) => Promise<void>;

  /** Where alerts go and what was sent (src/app/alerts.ts). */
  readonly alerts: Alerts;

  private constructor(readonly home: string, readonly warehouseUrl: string, readonly db: Opened, readonly vault: Vault) {
    this.alerts = new Alerts(db.state, vault, (name) => this.get(name));
  }

  static async open(opts: { home: string; warehouse?: string }): Promise<App> {
    mkdirSync(opts.home, { recursive: true, mode: 0o700 });
    const url = opts.warehouse || defaultWarehouseUrl(opts.home);
    // The key first: a home whose key is unusable stops here, before the warehouse is touched.
    const vault = Vault.forHome(opts.home, { key: secretSetting('RAKUTEN_CONNECTOR_KEY') });
    const db = await openWarehouse(url, opts.home);
    const app = new App(opts.home, url, db, vault);
    try {
      await labelCurrencies(db, (name) => app.find(name));
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
    return app;
  }

  /**
   * Waits for the alerts still being delivered (they run in the background; `alertsWaitMs`: at
   * most that long, then they are given up), then closes the warehouse.
   */
  async close(opts: { alertsWaitMs?: number } = {}): Promise<void> {
    await this.alerts.close(opts.alertsWaitMs);
    await this.db.close();
  }

  /**
   * Save & Test: validate settings, run every check, save only when all pass. Without a currency
   * and with a URL whose network has none, `askCurrency` (the web form) refuses once the checks
   * pass, naming the field; else (the CLI) the amounts are taken as USD and a warning says so.
   */
  async saveAndTest(input: ConnectorInput, opts: { replace?: boolean; request?: RequestOptions; askCurrency?: boolean } = {}): Promise<SaveResult> {
    const badName = nameError(input.name);
    if (badName) throw badName;
    const bad = settingsInputProblems({
      startDate: input.startDate, lookbackDays: input.lookbackDays, windowDays: input.windowDays, schedule: input.schedule, paused: input.paused,
      currency: input.currency, staleAfterHours: input.staleAfterHours,
    });
    if (bad.length) {
      const [key, message] = bad[0]!;
      throw settingError(key, input[key], message);
    }
    const existing = await this.find(input.name);
    if (existing && !opts.replace) {
      throw new ConnectorError('config', `a connector named "${input.name}" already exists`, { hint: 'choose another name, or remove it first', field: 'name' });
    }
    if (!existing && !input.adoptData) {
      const kept = await this.db.warehouse.coverage(input.name);
      if (kept.rows > 0) throw new KeptDataError(input.name, kept);
    }
    const url = testUrl(input, existing ? { url: () => storedUrl(existing), token: () => this.token(existing) } : undefined);
    const report = await saveAndTestChecks(url, { request: opts.request });
    if (!report.ok || !report.source) return { ...report, saved: false };
    const src = report.source;
    // Asked once the checks pass: what is wrong with the URL or the token is told first.
    const known = input.currency ?? existing?.settings.currency ?? networkCurrency(src.network);
    if (!known && opts.askCurrency) throw currencyNeeded(src.network);
    const settings = this.settingsFor(input, src, existing?.settings);
    if (!known) report.warnings.push(usdNotice(input.name, src.network));
    const now = new Date().toISOString();
    const rec: ConnectorRecord = {
      name: input.name,
      url: stripToken(url),
      tokenSealed: this.vault.seal(src.token),
      settings,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    // Everything that shows the connector must work before it is saved: never report a failure after saving.
    const view = this.view(rec);
    if (view.problem) throw new ConnectorError('config', `the connector cannot be saved: ${view.problem}`);
    // A new connector starts with no alert condition (see Alerts.fresh).
    if (!existing) await this.alerts.fresh(input.name);
    // Rows it already has (its own, or an earlier connector's it adopts) take its currency first.
    if (existing ? existing.settings.currency !== settings.currency : input.adoptData) await saveWithCurrency(this.db, rec, existing?.settings.currency);
    else await this.db.state.saveConnector(rec);
    // A token that passed clears an earlier rejection: the next one is alerted again.
    if (existing) await this.alerts.afterTest(input.name, report).catch(() => undefined);
    if (existing && !input.currency && networkCurrency(src.network) && networkCurrency(src.network) !== settings.currency) {
      report.warnings.push(`the new URL's network=${src.network} reports in ${networkCurrency(src.network)}; this connector stays in ${settings.currency}: to change it, edit --currency ${networkCurrency(src.network)}`);
    }
    return { ...report, saved: true, connector: view };
  }

  /** Re-run the checks for a saved connector (a rejected token is alerted once: src/app/alerts.ts). */
  async test(name: string, opts: { request?: RequestOptions } = {}): Promise<TestReport> {
    const report = await saveAndTestChecks(this.source(await this.get(name)), opts);
    await this.alerts.afterTest(name, report).catch(() => undefined);
    return report;
  }

  /** Whether a change needs Save & Test: a new URL, report key or token, or another time zone. */
  needsTest(rec: ConnectorRecord, change: ConnectorChange): boolean {
    return Boolean(change.url || change.reportKey || change.token || (change.timeZone && change.timeZone !== this.view(rec).timeZone));
  }

  /**
   * Change a connector (CLI `edit`, API PATCH): a change of its source is Saved & Tested and
   * saved only if every check passes (not while it syncs); other settings are saved at once.
   */
  async edit(name: string, change: ConnectorChange, opts: { request?: RequestOptions } = {}): Promise<EditResult> {
    const rec = await this.get(name);
    if (this.needsTest(rec, change)) {
      if (await liveLeaseHolder(this.db.state, name)) {
        throw new ConnectorError('busy', `connector "${name}" is syncing right now`, { hint: 'change its URL or token when the sync has finished' });
      }
      return { ...(await this.saveAndTest({ ...change, name }, { replace: true, request: opts.request })), tested: true };
    }
    const patch: Partial<ConnectorSettings> = {};
    for (const k of ['startDate', 'lookbackDays', 'windowDays', 'schedule', 'paused', 'currency', 'staleAfterHours'] as const) {
      if (change[k] !== undefined) (patch as Record<string, unknown>)[k] = change[k];
    }
    const view = Object.keys(patch).length ? await this.updateSettings(name, patch) : this.view(rec);
    return { ok: true, checks: [], warnings: [], saved: true, tested: false, connector: view };
  }

  /**
   * Delete the rows an earlier (removed) connector of this name left in the warehouse; returns
   * what was deleted. A connector of that name that exists is removed with its rows instead.
   */
  async removeData(name: string): Promise<Coverage> {
    const badName = nameError(name);
    if (badName) throw badName;
    if (await this.find(name)) {
      throw new ConnectorError('config', `connector "${name}" exists: its rows are not left over`, { hint: `to delete it with its rows: rakuten-connector remove ${name} --drop-data`, field: 'name' });
    }
    const kept = await this.db.warehouse.coverage(name);
    if (kept.rows > 0) await this.db.warehouse.deleteConnectorData(name);
    return kept;
  }

  /** Change settings that need no new test (schedule, pause, lookback, currency: its rows are relabelled). */
  async updateSettings(name: string, patch: Partial<ConnectorSettings>): Promise<ConnectorView> {
    const rec = await this.get(name);
    const settings = validateSettings({ ...rec.settings, ...patch });
    const next = { ...rec, settings, updatedAt: new Date().toISOString() };
    if (settings.currency !== rec.settings.currency) await saveWithCurrency(this.db, next, rec.settings.currency);
    else await this.db.state.saveConnector(next);
    return this.view(next);
  }

  async sync(name: string, opts: SyncOptions = {}): Promise<RunRecord> {
    const rec = await this.get(name);
    if (opts.range) validateRange(opts.range);
    await this.syncCheck?.(rec.name, async () => this.view(rec));
    let run: RunRecord;
    try {
      run = await runSync({ warehouse: this.db.warehouse, state: this.db.state, worker: WORKER_ID, current: () => this.get(name) }, rec, this.source(rec), opts);
    } catch (e) {
      // A failed sync is alerted once (until it recovers); an interrupted one is not a failure.
      if (!opts.signal?.aborted) await this.alerts.afterSync(name, { error: e }).catch(() => undefined);
      throw e;
    }
    await this.alerts.afterSync(name, { run }).catch(() => undefined);
    return run;
  }

  /** Every connector's freshness now (src/app/freshness.ts); a change to or from stale is alerted once. */
  async checkFreshness(now = new Date()): Promise<Freshness[]> {
    const all = (await this.statuses()).map((st) => freshnessOf(st, now));
    await this.alerts.afterFreshness(all).catch(() => undefined);
    return all;
  }


  /**
   * Sync every connector that is not paused — the job of one worker among many. A connector
   * another worker is syncing is not an error: we come back to it until that worker has
   * finished a sync (then it is fresh) or its lease has expired because it died (then we take
   * it over), so when every worker's `sync --all` ends, every connector has been synced.
   */
  async syncAll(
    options: (name: string) => SyncOptions,
    o: { busyWaitMs?: number; pollMs?: number; signal?: AbortSignal; parallel?: number; onBusy?: (name: string, owner: string) => void;
      onDone?: (name: string, result: RunRecord | 'synced-elsewhere' | Error) => void } = {},
  ): Promise<SyncAllResult> {
    const started = new Date().toISOString();
    const deadline = Date.now() + (o.busyWaitMs ?? 30 * 60_000);
    let pending = (await this.records()).filter((c) => !c.settings.paused).map((c) => c.name);
    const out: SyncAllResult = { synced: [], failed: [], elsewhere: [], stillBusy: [] };
    const freshElsewhere = async (name: string, notUs: boolean): Promise<boolean> => {
      const last = (await this.db.state.listRuns(name, 20)).find((r) => r.status === 'success');
      return Boolean(last?.finishedAt && last.finishedAt >= started && (!notUs || last.worker !== WORKER_ID));
    };
    while (pending.length > 0 && !o.signal?.aborted) {
      const busy: string[] = [];
      // Up to `parallel` connectors at once (each with its own windows in flight); the
      // warehouse shares one connection pool and batches what they publish together.
      await eachLimited(pending, o.parallel ?? DEFAULT_SYNC_PARALLEL, async (name) => {
        if (await freshElsewhere(name, true)) {
          out.elsewhere.push(name);
          o.onDone?.(name, 'synced-elsewhere');
          return;
        }
        try {
          const run = await this.sync(name, options(name));
          out.synced.push(name);
          o.onDone?.(name, run);
        } catch (e) {
          if (e instanceof ConnectorError && e.kind === 'busy') {
            busy.push(name);
            o.onBusy?.(name, (await liveLeaseHolder(this.db.state, name))?.owner ?? 'another worker');
          } else {
            out.failed.push(name);
            o.onDone?.(name, e instanceof Error ? e : new Error(String(e)));
          }
        }
      }, () => Boolean(o.signal?.aborted));
      pending = [];
      for (const name of busy) {
        if (await freshElsewhere(name, false)) {
          out.elsewhere.push(name);
          o.onDone?.(name, 'synced-elsewhere');
        } else pending.push(name);
      }
      if (pending.length === 0) break;
      if (Date.now() > deadline) {
        out.stillBusy.push(...pending);
        break;
      }
      await sleep(o.pollMs ?? 2000, o.signal).catch(() => undefined);
    }
    return out;
  }

  async list(): Promise<ConnectorView[]> {
    return (await this.records()).map((r) => this.view(r));
  }

  /** Every saved connector, with the defaults of settings added since it was saved. */
  private async records(): Promise<ConnectorRecord[]> {
    return (await this.db.state.listConnectors()).map(withSettingDefaults);
  }

  async status(name: string, runs = 10): Promise<ConnectorStatus & { runs: RunRecord[] }> {
    const rec = await this.get(name);
    // Independent reads, at once (a listing asks this of every connector).
    const [history, cursor, coverage, running] = await Promise.all([
      this.db.state.listRuns(name, Math.max(runs, 50)),
      this.db.state.getCursor(name),
      this.db.warehouse.coverage(name),
      liveLeaseHolder(this.db.state, name),
    ]);
    return {
      ...this.view(rec),
      cursor: cursor ?? null,
      coverage,
      lastRun: history[0] ?? null,
      lastSuccess: history.find((r) => r.status === 'success') ?? null,
      running: running ?? null,
      runs: history.slice(0, runs),
    };
  }

  /**
   * status(name, 0) of every connector, in a handful of reads whatever their number (listings:
   * `list`, /api/connectors), in listConnectors' order.
   */
  async statuses(): Promise<ConnectorStatus[]> {
    const [recs, coverages, states, latest] = await Promise.all([
      this.records(),
      this.db.warehouse.coverages(),
      this.db.state.syncStates(),
      this.db.state.latestRuns(),
    ]);
    return recs.map((rec) => {
      const st = states.get(rec.name);
      const runs = latest.get(rec.name);
      const lease = st?.lease && !isDeadLocalWorker(st.lease.owner) ? st.lease : null;
      return {
        ...this.view(rec),
        cursor: st?.cursor ?? null,
        coverage: coverages.get(rec.name) ?? { rows: 0, days: 0, firstDay: null, lastDay: null },
        lastRun: runs?.last ?? null,
        lastSuccess: runs?.lastSuccess ?? null,
        running: lease,
      };
    });
  }

  async remove(name: string, dropData: boolean): Promise<void> {
    await this.get(name);
    if (await liveLeaseHolder(this.db.state, name)) {
      throw new ConnectorError('busy', `connector "${name}" is syncing right now`, { hint: 'wait for the sync to finish, then remove it' });
    }
    if (dropData) await this.db.warehouse.deleteConnectorData(name);
    await this.db.state.deleteConnector(name);
    await this.alerts.forget(name);
  }

  async get(name: string): Promise<ConnectorRecord> {
    const rec = await this.find(name);
    if (!rec) throw new ConnectorError('config', `no connector named "${name}"`, { hint: 'see `rakuten-connector list`', field: 'name' });
    return rec;
  }

  /** The saved connector of that name, or undefined (no error: for "does it exist?"). */
  async find(name: string): Promise<ConnectorRecord | undefined> {
    const rec = await this.db.state.getConnector(name);
    return rec && withSettingDefaults(rec);
  }

  /** Recorded runs, newest first: of one connector, or of all (null). */
  async runs(name: string | null, limit: number): Promise<RunRecord[]> {
    return this.db.state.listRuns(name, limit);
  }

  /** Totals per day with rows, from..to inclusive: of one connector, or of all (null); exact decimal strings. */
  async dayTotals(name: string | null, from: string, to: string): Promise<DayTotals[]> {
    return this.db.warehouse.dayTotals(name, from, to);
  }

  /** The biggest publishers or offers by sales, from..to inclusive: of one connector, or of all (null). */
  async top(dimension: 'publisher' | 'offer', name: string | null, from: string, to: string, limit: number): Promise<TopEntry[]> {
    return this.db.warehouse.top(dimension, name, from, to, limit);
  }

  /** Which warehouse this is ('duckdb', 'postgres', …) and where (a file, or the URL without its password). */
  warehouseInfo(): { kind: string; location: string } {
    return { kind: this.db.warehouse.kind, location: this.db.warehouse.location };
  }

  /** One cheap read through the state store (a lookup by an impossible name): rejects when the warehouse does not answer. */
  async probe(): Promise<void> {
    await this.db.state.getConnector('');
  }

  /** The source to fetch from: throws a config error naming the cause when it cannot be used. */
  source(rec: ConnectorRecord): ReportSource {
    const token = this.token(rec);
    return parseReportUrl(withToken(storedUrl(rec), token));
  }

  /** The connector's token, unsealed; an error about the token when it cannot be. */
  private token(rec: ConnectorRecord): string {
    try {
      return this.vault.open(rec.tokenSealed);
    } catch (e) {
      throw aboutField(e, 'token');
    }
  }

  /** How a connector is shown. Never throws: a connector that cannot be used says why in `problem`. */
  view(rec: ConnectorRecord): ConnectorView {
    const base = { name: rec.name, settings: rec.settings, createdAt: rec.createdAt, updatedAt: rec.updatedAt };
    let token: string | undefined;
    let problem: string | null = null;
    try {
      token = this.vault.open(rec.tokenSealed);
    } catch (e) {
      problem = describeError(e);
    }
    const mask = token === undefined ? '(cannot be unsealed)' : maskToken(token);
    let url: URL;
    try {
      url = storedUrl(rec);
    } catch (e) {
      return { ...base, problem: describeError(e), url: '(invalid stored URL)', tokenMasked: mask, reportKey: '', dateType: 'transaction', timeZone: 'GMT' };
    }
    let shown: ReportSource | undefined;
    try {
      shown = parseReportUrl(withToken(url, 'x'.repeat(MIN_TOKEN_LENGTH)), { display: true });
      checkHostAllowed(url);
    } catch (e) {
      problem ??= describeError(e);
    }
    return {
      ...base,
      problem,
      url: `${url.toString()}${url.search ? '&' : '?'}token=${mask}`,
      tokenMasked: mask,
      reportKey: shown?.reportKey ?? '',
      dateType: shown?.dateType ?? 'transaction',
      timeZone: shown?.tz ?? 'GMT',
    };
  }

  private settingsFor(input: ConnectorInput, src: ReportSource, prev?: ConnectorSettings): ConnectorSettings {
    const today = todayIn(src.tz);
    return validateSettings({
      startDate: input.startDate ?? prev?.startDate ?? addDays(today, -DEFAULT_START_DAYS_AGO),
      lookbackDays: input.lookbackDays ?? prev?.lookbackDays ?? DEFAULT_LOOKBACK_DAYS,
      windowDays: input.windowDays ?? prev?.windowDays ?? 1,
      schedule: input.schedule ?? prev?.schedule ?? DEFAULT_SCHEDULE,
      paused: input.paused ?? prev?.paused ?? false,
      currency: input.currency ?? prev?.currency ?? networkCurrency(src.network) ?? FALLBACK_CURRENCY,
      staleAfterHours: input.staleAfterHours !== undefined ? input.staleAfterHours : prev?.staleAfterHours ?? null,
    });
  }
}
