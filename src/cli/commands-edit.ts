/**
 * The commands that change a saved connector, as the web app does through the same App methods:
 * `edit` (App.edit: a new URL, key, token or time zone is Saved & Tested first and nothing changes
 * unless it passes; other settings are saved at once), `pause` / `resume`, and `remove-data` for
 * the rows an earlier connector of that name left in the warehouse.
 */
import type { Command } from 'commander';
import type { App, ConnectorChange, ConnectorView } from '../app/app.js';
import { requestOptionsFromEnv } from '../app/options.js';
import { fmtInt, type Output } from '../app/output.js';
import { LOOKBACK_DAYS, STALE_AFTER_HOURS, WINDOW_DAYS } from '../app/settings.js';
import { checkName, checkSettings, checkTimeZone, int, printChecks, staleAfter, UsageError } from './common.js';
import { readSecret } from './secret-input.js';

type WithApp = <T>(fn: (app: App, out: Output) => Promise<T>) => Promise<T>;

interface EditFlags {
  url?: string; reportKey?: string; token?: string; timeZone?: string;
  startDate?: string; lookbackDays?: number; windowDays?: number; schedule?: string; currency?: string;
  /** --stale-after: the setting staleAfterHours. */
  staleAfter?: number | null;
}

/** A connector's settings in words, as `status` shows them. */
export function settingsText(v: ConnectorView): string {
  const s = v.settings;
  return `currency ${s.currency}, start ${s.startDate}, lookback ${s.lookbackDays} days, window ${s.windowDays} day(s), schedule "${s.schedule}"${s.staleAfterHours !== null ? `, stale after ${s.staleAfterHours} h` : ''}${s.paused ? ', paused' : ''}`;
}

export function addEditCommands(program: Command, withApp: WithApp): void {
  program
    .command('edit')
    .description('change a connector: a new URL, report key, token or time zone is Saved & Tested first (nothing changes unless it passes); other settings are saved at once')
    .argument('<name>')
    .option('--url <url>', 'a new "Get API" URL; "-" reads it from standard input (a prompt on a terminal)')
    .option('--report-key <key>', 'another report key (the saved URL and token are kept)')
    .option('--token <token>', 'a new API token; "-" reads it from standard input')
    .option('--time-zone <tz>', 'the report time zone (the URL\'s tz): GMT or an IANA zone')
    .option('--start-date <day>', 'first day to sync (YYYY-MM-DD); earlier days are not reloaded by themselves: backfill them')
    .option('--lookback-days <n>', 'days re-fetched on every sync', int('--lookback-days', LOOKBACK_DAYS.min, LOOKBACK_DAYS.max))
    .option('--window-days <n>', 'days per request (transaction-date reports only)', int('--window-days', WINDOW_DAYS.min, WINDOW_DAYS.max))
    .option('--schedule <cron>', 'sync schedule for `serve`, cron in the report time zone ("" = manual syncs only)')
    .option('--currency <code>', "ISO 4217 code of the report's amounts (USD, GBP, EUR…): the rows already loaded are relabelled")
    .option('--stale-after <hours>', '`serve` and `check-freshness` call it stale (and alert) after this many hours without a successful sync; "auto": twice the schedule\'s interval plus 2 h', staleAfter(STALE_AFTER_HOURS.min, STALE_AFTER_HOURS.max))
    .action(async (name: string, o: EditFlags) => {
      if (o.url !== undefined && (o.reportKey !== undefined || o.token !== undefined)) throw new UsageError('give --url, or --report-key / --token, not both');
      checkSettings({ startDate: o.startDate, lookbackDays: o.lookbackDays, windowDays: o.windowDays, schedule: o.schedule, currency: o.currency, staleAfterHours: o.staleAfter });
      checkTimeZone(o.timeZone);
      const change: ConnectorChange = {};
      for (const [k, v] of Object.entries(o) as [keyof EditFlags, string | number | null | undefined][]) {
        if (v !== undefined) (change as Record<string, unknown>)[k === 'staleAfter' ? 'staleAfterHours' : k] = v;
      }
      if (!Object.keys(change).length) {
        throw new UsageError('give what to change: --url, --report-key, --token, --time-zone, --start-date, --lookback-days, --window-days, --schedule, --currency or --stale-after');
      }
      if (o.url === '-') change.url = await readSecret('Paste the new "Get API" URL (not shown): ');
      if (o.token === '-') change.token = await readSecret('Paste the new API token (not shown): ');
      if (change.url === '' || change.token === '') throw new UsageError(change.url === '' ? 'the URL read from standard input is empty' : 'the token read from standard input is empty');
      await withApp(async (app, out) => {
        const res = await app.edit(name, change, { request: requestOptionsFromEnv() });
        if (out.json) out.data({ saved: res.saved, tested: res.tested, checks: res.checks, warnings: res.warnings, connector: res.connector });
        else if (res.tested) {
          out.line(`Save & Test ${name}:`);
          printChecks(out, res);
          out.line(res.saved ? `saved the changes to connector "${name}" (${res.connector?.url}): ${settingsText(res.connector!)}` : 'nothing was changed.');
        } else out.line(`updated connector "${name}": ${settingsText(res.connector!)}`);
        if (!res.saved) process.exitCode = 1;
      });
    });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    program
      .command(action)
      .description(paused ? 'pause a connector: `serve` no longer schedules it and `sync --all` skips it (`sync NAME` still works)' : 'resume a paused connector')
      .argument('<name>')
      .action(async (name: string) => {
        await withApp(async (app, out) => {
          const view = await app.updateSettings(name, { paused });
          if (out.json) return out.data({ name, paused: view.settings.paused });
          out.line(paused
            ? `paused connector "${name}": no scheduled syncs, \`sync --all\` skips it (\`sync ${name}\` still works)`
            : `resumed connector "${name}": ${view.settings.schedule ? `scheduled again ("${view.settings.schedule}")` : 'manual syncs only (no schedule)'}, synced by \`sync --all\``);
        });
      });
  }

  program
    .command('remove-data')
    .description('delete the rows an earlier (removed) connector of this name left in the warehouse')
    .argument('<name>')
    .action(async (name: string) => {
      checkName(name);
      await withApp(async (app, out) => {
        const gone = await app.removeData(name);
        if (out.json) return out.data({ name, deletedRows: gone.rows, days: gone.days, firstDay: gone.firstDay, lastDay: gone.lastDay });
        out.line(gone.rows
          ? `deleted ${fmtInt(gone.rows)} rows (${gone.days} day${gone.days === 1 ? '' : 's'}, ${gone.firstDay}..${gone.lastDay}) of the earlier connector "${name}"`
          : `no rows of a connector named "${name}" in the warehouse: nothing deleted`);
      });
    });
}
