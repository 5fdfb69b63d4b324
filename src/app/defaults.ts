/**
 * The App's defaults for new connectors and `sync --all`, in a module of their own so the CLI can
 * show them in --help without loading the App (app.ts re-exports them).
 */
export const DEFAULT_SCHEDULE = '0 6 * * *';
export const DEFAULT_LOOKBACK_DAYS = 30;
/** A new connector's first sync starts this many days before today: 90 days, today included (the web app's 90-day chart). */
export const DEFAULT_START_DAYS_AGO = 89;
/** Connectors `sync --all` runs at once. */
export const DEFAULT_SYNC_PARALLEL = 8;
