// @ts-check
// The JSON API's objects (docs/API.md) as JSDoc types, for the type check of the other modules
// (`tsc -p src/server/public`). Types only: no module imports it at run time, nothing serves it.

/** @typedef {'queued' | 'running' | 'success' | 'failed'} ProgressState */
/** @typedef {'scheduled' | 'catch-up' | 'retry' | 'manual' | 'backfill'} JobKind */

/**
 * A connector's current or last sync (`progress` of a Connector, `GET …/progress`, `GET /api/progress`).
 * @typedef {{
 *   connector: string, kind: JobKind, state: ProgressState, runId: string | null,
 *   rangeStart: string | null, rangeEnd: string | null, windowsDone: number, windowsTotal: number,
 *   rows: number, rowsPerSec: number, elapsedMs: number, queuedAt: string, startedAt: string | null,
 *   finishedAt: string | null, error: string | null, note: string | null,
 * }} Progress
 */

/**
 * One recorded sync (`GET …/runs`: with `durationMs`, null while it runs).
 * @typedef {{
 *   id: string, connector: string, status: 'running' | 'success' | 'failed' | 'interrupted',
 *   startedAt: string, finishedAt: string | null, rangeStart: string, rangeEnd: string,
 *   windowsTotal: number, windowsDone: number, rows: number, error: string | null, worker: string,
 *   durationMs?: number | null,
 * }} Run
 */

/** @typedef {{ type: 'daily' | 'hourly' | 'manual' | 'cron', cron: string, time?: string, label: string }} Schedule */
/**
 * `currency`: the ISO 4217 code of every amount of its report (sales, commissions).
 * `staleAfterHours`: the freshness limit set (1–8760), null = automatic (twice the schedule's interval plus 2 h).
 */
/** @typedef {{ startDate: string, lookbackDays: number, windowDays: number, schedule: string, paused: boolean, currency: string, staleAfterHours: number | null }} Settings */
/**
 * A connector's freshness now (src/app/freshness.ts, as `check-freshness`): `stale` when its last
 * successful sync (never synced: its saving) is older than `limitHours`; `paused` and `no-limit`
 * (manual syncs only, no staleAfterHours) are never stale. `limitHours` to 0.1 h, null without a
 * limit; `ageHours` whole hours since that sync (or the saving).
 * @typedef {{ state: 'fresh' | 'stale' | 'paused' | 'no-limit', limitHours: number | null, lastSuccessAt: string | null, ageHours: number }} Freshness
 */
/** @typedef {{ rows: number, days: number, firstDay: string | null, lastDay: string | null }} Coverage */
/** @typedef {'syncing' | 'unusable' | 'paused' | 'failing' | 'healthy' | 'new'} ConnectorStatus */

/**
 * A connector as the API shows it (`GET /api/connectors`, `GET /api/connectors/:name`).
 * @typedef {{
 *   name: string, problem: string | null, url: string, tokenMasked: string,
 *   reportKey: string, dateType: string, timeZone: string,
 *   settings: Settings, schedule: Schedule, status: ConnectorStatus,
 *   lastRun: Run | null, lastSuccess: Run | null, lastSuccessAt: string | null, freshness: Freshness,
 *   nextRunAt: string | null, nextRunKind: 'scheduled' | 'catch-up' | 'retry' | null,
 *   failures: number, backoffUntil: string | null, lastError: string | null,
 *   cursor: string | null, coverage: Coverage, progress: Progress | null,
 *   createdAt: string, updatedAt: string,
 * }} Connector
 */

/** @typedef {{ id: string, label: string, ok: boolean | null, detail: string, hint?: string }} Check */
/**
 * A Save & Test report (`POST …/test`; also inside the create and update answers).
 * @typedef {{ ok: boolean, checks: Check[], warnings: string[], sampleRows?: number }} TestReport
 */

/**
 * The answer to `POST /api/connectors` and `PATCH /api/connectors/:name` (201/200, or 422 when
 * Save & Test failed: then `saved` is false and there is no connector). `syncStarted` (create
 * only): whether the connector's first sync was started (body `sync`).
 * @typedef {Partial<TestReport> & { saved: boolean, tested?: boolean, syncStarted?: boolean, connector: Connector }} SaveResult
 */

/**
 * `POST /api/parse-url`: `network` the URL's network parameter (null without one), `currency`
 * that network's currency (null when the URL has no known network: the form then asks).
 * @typedef {{
 *   reportKey: string, dateType: string, timeZone: string, dateFormat: string, lang: string,
 *   host: string, tokenMasked: string, warnings: string[], network: string | null, currency: string | null,
 * }} ParsedUrl
 */

/**
 * `GET /api/meta` (the web app falls back to a few defaults when it fails: no warehouse then).
 * `networks`: Rakuten's networks by number, with their region and currency; `currencies`: every
 * ISO 4217 code the server accepts, sorted.
 * @typedef {{
 *   requiredColumns: string[], timeZones: string[],
 *   networks: Record<string, { region: string, currency: string }>, currencies: string[],
 *   defaults: { lookbackDays: number, startDaysAgo: number, schedule?: Schedule },
 *   auth?: 'token' | 'local', warehouse?: { kind: string, location: string },
 * }} Meta
 */

/**
 * The four numbers the charts draw (exact decimal strings).
 * @typedef {'sales' | 'total_commissions' | 'clicks' | 'orders'} SeriesKey
 */

/**
 * One day of the charts' series in one currency: every day of the period is present, zeros when
 * it has no rows.
 * @typedef {{
 *   day: string, currency: string, rows: number, impressions: string, clicks: string, orders: string,
 *   sales: string, gross_commissions: string, total_commissions: string,
 * }} DayPoint
 */

/** @typedef {Omit<DayPoint, 'day' | 'currency'> & { days: number }} Totals */
/** A top publisher or offer: its amounts are in `currency` (ranked within it). */
/** @typedef {{ connector: string, id: string, name: string | null, rows: number, currency: string, sales: string, total_commissions: string }} TopEntry */

/**
 * One currency's part of `GET /api/charts`: the connectors in view that report in it, its days and totals.
 * @typedef {{ currency: string, connectors: string[], series: DayPoint[], totals: Totals }} CurrencyPart
 */

/**
 * `GET /api/charts`. Amounts of different currencies are never added: `byCurrency` has one part
 * per currency (sorted); `currency`, `series` and `totals` are the one currency's when there is
 * exactly one, null when there are several. The top lists are ranked within each currency, grouped
 * by currency.
 * @typedef {{
 *   connector: string | null, days: number, from: string, to: string, timeZone: string, timeZones: string[],
 *   currencies: string[], byCurrency: CurrencyPart[], currency: string | null,
 *   series: DayPoint[] | null, totals: Totals | null, topPublishers: TopEntry[], topOffers: TopEntry[],
 * }} ChartData
 */

/** @typedef {'webhook' | 'slack' | 'email'} AlertChannelKind */
/** What an alert said happened (`test`: a test alert sent from the alerts page or `alerts test`). */
/** @typedef {'failed' | 'recovered' | 'stale' | 'fresh' | 'token_rejected' | 'test'} AlertEvent */

/**
 * Where alerts go (`GET /api/alerts`, `POST /api/alerts`): `target` masked by the server (a
 * webhook's path and query carry secrets; an e-mail address as it is); `connector` null = every connector.
 * @typedef {{ id: string, kind: AlertChannelKind, target: string, connector: string | null, createdAt: string }} AlertChannel
 */

/**
 * One alert sent (or given up on) to one channel, the alert history (`GET /api/alerts`, and the
 * answer of the test routes). `channelId` may name a channel removed since; `error` is redacted.
 * @typedef {{
 *   id: string, channelId: string, connector: string | null, event: AlertEvent, at: string,
 *   status: 'sent' | 'failed', attempts: number, error: string | null,
 * }} AlertDelivery
 */

/** `GET /api/alerts`: the channels and the recent deliveries, newest first. */
/** @typedef {{ channels: AlertChannel[], deliveries: AlertDelivery[] }} AlertsAnswer */

export {};
