/**
 * `rakuten-connector` command line. Exit codes: 0 success, 1 failure, 2 usage error.
 * Started by src/main.ts, which hands it `serve` (the server): cli/ never imports server/.
 * Start-up: the App (and through it the sync engine, the HTTP client, the warehouses) is loaded
 * only when a command runs one (withApp), so `--help`, usage errors and bad settings load none
 * of it; the types come in with `import type`.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { App, ConnectorInput, SyncAllResult } from '../app/app.js';
import { leaseTtlFromEnv, requestOptionsFromEnv, retryPolicyFromEnv } from '../app/options.js';
import { LOOKBACK_DAYS, STALE_AFTER_HOURS, WINDOW_DAYS } from '../app/settings.js';
import { ConfigError, flagSetting, textSetting, validateEnvironment } from '../util/config.js';
import { ConnectorError, describeError } from '../util/errors.js';
import { redact, safeError } from '../util/secrets.js';
import type { SyncOptions } from '../sync/engine.js';
import type { RunRecord } from '../warehouse/types.js';
import { fmtInt, Output } from '../app/output.js';
import { readSecret } from './secret-input.js';
import type { CliParts } from './parts.js';
import { DEFAULT_SYNC_PARALLEL } from '../app/defaults.js';
import { checkName, checkRange, checkSettings, int, printChecks, staleAfter, UsageError } from './common.js';
import { addEditCommands, settingsText } from './commands-edit.js';
import { addFreshnessCommand } from './commands-freshness.js';
import { addAlertCommands } from './commands-alerts.js';
import { demoSyncCheck } from './demo-connector.js';
import type { CliApp } from './remote.js';
import { defaultWarehouseUrl } from '../warehouse/index.js';

export type { CliParts, ServeCommand } from './parts.js';


/** Before any command: private files, and crashes printed through the redactor. */
function guardProcess(): void {
  // Files we create (DuckDB, secret key, temp files) are private to the user: the token is a password.
  process.umask(0o077);

  // Even a crash prints through the redactor: Node's default handler would dump raw errors (URLs included).
  for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(ev, (e: unknown) => {
      const safe = safeError(e);
      process.stderr.write(`error: unexpected failure: ${safe.message}\n${debug() ? `${safe.stack}\n` : ''}`);
      process.exit(1);
    });
  }
}

function debug(): boolean {
  try {
    return flagSetting('RAKUTEN_DEBUG');
  } catch {
    return false;
  }
}

/** SIGINT/SIGTERM cancel running syncs: the window in flight is rolled back whole, the run is marked interrupted. */
const cancel = new AbortController();
function cancelOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (cancel.signal.aborted) process.exit(130);
      cancel.abort(new ConnectorError('internal', `cancelled by ${sig}`));
      process.stderr.write(`\n${sig}: stopping; the window in flight is rolled back (send again to force)\n`);
      setTimeout(() => process.exit(130), 30_000).unref();
    });
  }
}

interface Globals {
  home: string;
  warehouse?: string;
  json?: boolean;
}

/** The package's version (`--version`): package.json is two levels up from both src/cli/ and dist/cli/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const program = new Command('rakuten-connector')
  .description('Keep a data warehouse in sync with Rakuten Advertising affiliate reports')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--home <dir>', 'connector home (state, default warehouse file); default RAKUTEN_CONNECTOR_HOME or ./.rakuten-connector')
  .option('--warehouse <url>', 'duckdb:<file> (default: <home>/warehouse.duckdb), postgres://… or clickhouse://…; default RAKUTEN_WAREHOUSE')
  .option('--json', 'machine-readable output (JSON lines)')
  .showHelpAfterError()
  .exitOverride();

function globals(): Globals & { out: Output } {
  const g = program.opts<Partial<Globals>>();
  const home = g.home ?? textSetting('RAKUTEN_CONNECTOR_HOME') ?? './.rakuten-connector';
  return { ...g, home: resolve(home), warehouse: g.warehouse ?? textSetting('RAKUTEN_WAREHOUSE'), out: new Output(Boolean(g.json)) };
}

async function withApp<T>(fn: (app: App, out: Output) => Promise<T>): Promise<T> {
  const g = globals();
  const { App } = await import('../app/app.js');
  let app: App;
  try {
    app = await App.open({ home: g.home, warehouse: g.warehouse });
  } catch (e) {
    // The warehouse is held by this home's `serve`: the command goes through it (remote.ts), or e stands.
    const { remoteAfter } = await import('./remote.js');
    const remote = await remoteAfter(e, g.home, g.warehouse || defaultWarehouseUrl(g.home), g.out);
    remote.syncCheck = demoSyncCheck;
    return fn(remote as CliApp as App, g.out); // the commands call only CliApp's methods
  }
  app.syncCheck = demoSyncCheck;
  for (const w of app.vault.warnings) g.out.log('warn', w);
  try {
    return await fn(app, g.out);
  } finally {
    await app.close();
  }
}

program
  .command('add')
  .description('Save & Test a connector: check the report URL, token and columns; save only if all pass')
  .requiredOption('--name <name>', 'connector name')
  .option('--url <url>', 'the "Get API" URL copied from Rakuten reporting; "-" reads it from standard input (a prompt on a terminal), keeping the token out of `ps`; or set RAKUTEN_REPORT_URL')
  .option('--report-key <key>', 'report key (instead of --url, with --token)')
  .option('--token <token>', 'API token (instead of --url, with --report-key); "-" reads it from standard input; or set RAKUTEN_TOKEN')
  .option('--start-date <day>', 'first day to sync (YYYY-MM-DD; default: the last 90 days, today included)')
  .option('--lookback-days <n>', 'days re-fetched on every sync to catch restatements (default 30)', int('--lookback-days', LOOKBACK_DAYS.min, LOOKBACK_DAYS.max))
  .option('--window-days <n>', 'days per request (transaction-date reports only; default 1)', int('--window-days', WINDOW_DAYS.min, WINDOW_DAYS.max))
  .option('--schedule <cron>', 'sync schedule for `serve`, cron in the report time zone (default "0 6 * * *")')
  .option('--currency <code>', "ISO 4217 code of the report's amounts (default: the URL's network's: 1 USD, 3 GBP, 5 CAD, 7 and 9 EUR, 41 AUD; else USD, with a warning)")
  .option('--stale-after <hours>', '`serve` and `check-freshness` call it stale (and alert) after this many hours without a successful sync (default "auto": twice the schedule\'s interval plus 2 h)', staleAfter(STALE_AFTER_HOURS.min, STALE_AFTER_HOURS.max))
  .option('--adopt-data', 'an earlier connector of this name left rows in the warehouse: keep them for this one')
  .option('--sync', 'once saved, run its first sync right away (as `sync NAME` would)')
  .action(async (o: { name: string; url?: string; reportKey?: string; token?: string; startDate?: string; lookbackDays?: number; windowDays?: number; schedule?: string; currency?: string; staleAfter?: number | null; adoptData?: boolean; sync?: boolean }) => {
    checkName(o.name);
    const url = o.url === '-' ? await readSecret('Paste the "Get API" URL (not shown): ') : o.url ?? (o.reportKey ? undefined : textSetting('RAKUTEN_REPORT_URL'));
    const token = o.token === '-' ? await readSecret('Paste the API token (not shown): ') : o.token ?? (o.reportKey ? textSetting('RAKUTEN_TOKEN') : undefined);
    const { staleAfter: staleAfterHours, ...flags } = o;
    const input: ConnectorInput = { ...flags, url: url || undefined, token, staleAfterHours };
    if (!input.url && !input.reportKey) throw new UsageError('give --url (or --url - to paste it, or RAKUTEN_REPORT_URL), or --report-key with --token');
    checkSettings({ startDate: o.startDate, lookbackDays: o.lookbackDays, windowDays: o.windowDays, schedule: o.schedule, currency: o.currency, staleAfterHours });
    if (o.sync) cancelOnSignals();
    await withApp(async (app, out) => {
      const { sync, ...fields } = input as ConnectorInput & { sync?: boolean };
      const res = await app.saveAndTest(fields, { request: requestOptionsFromEnv() });
      if (out.json) out.data({ saved: res.saved, checks: res.checks, warnings: res.warnings, connector: res.connector });
      else {
        out.line(`Save & Test ${o.name}:`);
        printChecks(out, res);
        if (!res.saved) out.line('nothing was saved.');
        else {
          out.line(`saved connector "${o.name}" (${res.connector?.url}); amounts in ${res.connector?.settings.currency}.`);
          // What to do next: the first sync loads startDate..today.
          if (!sync) out.line(`next: \`rakuten-connector sync ${o.name}\` loads ${res.connector?.settings.startDate ?? 'its start date'} to today (or add with --sync); \`rakuten-connector serve\` syncs it on its schedule`);
        }
      }
      if (!res.saved) {
        process.exitCode = 1;
        return;
      }
      if (sync) await syncOne(app, out, o.name, syncOptions(out, o.name, {}));
    });
  });

program
  .command('test')
  .description('re-run Save & Test for a saved connector')
  .argument('<name>')
  .action(async (name: string) => {
    await withApp(async (app, out) => {
      const res = await app.test(name, { request: requestOptionsFromEnv() });
      if (out.json) out.data({ ok: res.ok, checks: res.checks, warnings: res.warnings });
      else {
        out.line(`Test ${name}:`);
        printChecks(out, res);
        out.line(res.ok ? 'all checks passed.' : 'some checks failed.');
      }
      if (!res.ok) process.exitCode = 1;
    });
  });

program
  .command('sync')
  .description('bring the warehouse up to date (or re-sync --from/--to)')
  .argument('[name]')
  .option('--all', 'every connector that is not paused')
  .option('--from <day>', 'backfill from this day (YYYY-MM-DD), with --to')
  .option('--to <day>', 'backfill to this day (YYYY-MM-DD), with --from')
  .option('--concurrency <n>', 'windows fetched at once, per connector (default 3)', int('--concurrency', 1, 32))
  .option('--parallel <n>', `with --all: connectors synced at once (default ${DEFAULT_SYNC_PARALLEL})`, int('--parallel', 1, 64))
  .action(async (name: string | undefined, o: { all?: boolean; from?: string; to?: string; concurrency?: number; parallel?: number }) => {
    if (!name && !o.all) throw new UsageError('give a connector name or --all');
    if (name && o.all) throw new UsageError('give a connector name or --all, not both');
    if (o.parallel !== undefined && !o.all) throw new UsageError('--parallel goes with --all');
    if (Boolean(o.from) !== Boolean(o.to)) throw new UsageError('--from and --to go together');
    checkRange(o.from && o.to ? { from: o.from, to: o.to } : undefined);
    cancelOnSignals();
    await withApp(async (app, out) => {
      const options = (n: string): SyncOptions => syncOptions(out, n, o);
      if (!o.all) return syncOne(app, out, name!, options(name!));
      const res = await app.syncAll(options, {
        signal: cancel.signal,
        parallel: o.parallel,
        pollMs: Math.min(2000, leaseTtlFromEnv() / 3),
        onBusy: (n, owner) => out.log('info', `[${n}] being synced by worker ${owner.split(':').slice(0, 2).join(' pid ')}; will check again`, { connector: n, event: 'busy' }),
        onDone: (n, r) => {
          if (r === 'synced-elsewhere') out.log('info', `[${n}] synced by another worker`, { connector: n, event: 'elsewhere' });
          else if (r instanceof Error) out.log('error', `[${n}] sync failed: ${describeError(r)}`, { connector: n, event: 'failed' });
          else printRun(out, r);
        },
      });
      for (const n of res.stillBusy) out.log('warn', `[${n}] still being synced by another worker; not waiting longer`, { connector: n });
      printTally(out, res);
      if (res.failed.length + res.stillBusy.length > 0) process.exitCode = 1;
    });
  });

/** How the CLI syncs a connector: the environment's retry, request and lease settings, progress on stderr, Ctrl-C. */
function syncOptions(out: Output, name: string, o: { from?: string; to?: string; concurrency?: number }): SyncOptions {
  return {
    range: o.from && o.to ? { from: o.from, to: o.to } : undefined,
    concurrency: o.concurrency,
    retry: retryPolicyFromEnv(),
    request: requestOptionsFromEnv(),
    leaseTtlMs: leaseTtlFromEnv(),
    onEvent: out.syncListener(name),
    signal: cancel.signal,
  };
}

/** `sync NAME` (and `add --sync`): its summary, or the failure (exit 1). */
async function syncOne(app: App, out: Output, name: string, opts: SyncOptions): Promise<void> {
  try {
    printRun(out, await app.sync(name, opts));
  } catch (e) {
    out.log('error', `[${name}] sync failed: ${describeError(e)}`, { connector: name, event: 'failed' });
    throw new Reported(e);
  }
}

/** The line `sync --all` ends with: how many connectors were synced, failed, skipped. */
function printTally(out: Output, res: SyncAllResult): void {
  const tally = { synced: res.synced.length, failed: res.failed.length + res.stillBusy.length, skipped: res.elsewhere.length };
  if (out.json) return out.data({ event: 'tally', ...tally, failedConnectors: [...res.failed, ...res.stillBusy].sort(), skippedConnectors: [...res.elsewhere].sort() });
  const failedNames = [...res.failed, ...res.stillBusy].sort();
  out.line(`sync --all: ${tally.synced} synced, ${tally.failed} failed${failedNames.length ? ` (${failedNames.join(', ')})` : ''}, ${tally.skipped} skipped (synced by another worker)`);
}

function printRun(out: Output, run: RunRecord): void {
  const secs = run.finishedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : 0;
  if (out.json) out.data({ event: 'summary', run });
  else out.line(`synced ${run.connector}: ${run.windowsDone} windows, ${fmtInt(run.rows)} rows in ${secs.toFixed(1)}s (${run.rangeStart}..${run.rangeEnd}), run ${run.id}`);
}

/** The column names `list` starts with (each connector's line has these cells, "paused" only when paused). */
const LIST_HEADER = ['name', 'report key', 'date type', 'currency', 'token', 'synced to', 'rows', 'last run', 'paused'];

program
  .command('list')
  .description('list connectors')
  .action(async () => {
    await withApp(async (app, out) => {
      // One read for every connector (App.statuses); one line (--json: one JSON line) per connector.
      const list = await app.statuses();
      if (out.json) {
        for (const c of list) {
          out.data({
            name: c.name, reportKey: c.reportKey, dateType: c.dateType, currency: c.settings.currency, tokenMasked: c.tokenMasked, cursor: c.cursor,
            rows: c.coverage.rows, lastRun: c.lastRun?.status ?? null, paused: c.settings.paused, problem: c.problem,
          });
        }
        return;
      }
      if (!list.length) return out.line('no connectors yet: rakuten-connector add --name NAME --url "<Get API URL>"');
      out.line(LIST_HEADER.join('\t'));
      for (const c of list) {
        if (c.problem) out.line(`${c.name}\tcannot be used: ${c.problem}`);
        out.line(`${c.name}\t${c.reportKey}\t${c.dateType}\t${c.settings.currency}\ttoken ${c.tokenMasked}\tsynced to ${c.cursor ?? '-'}\t${fmtInt(c.coverage.rows)} rows\t${c.lastRun ? c.lastRun.status : 'never synced'}${c.settings.paused ? '\tpaused' : ''}`);
      }
    });
  });

program
  .command('status')
  .description('a connector\'s settings, coverage and recent runs')
  .argument('<name>')
  .option('--runs <n>', 'runs to show', int('--runs', 1, 1000), 10)
  .action(async (name: string, o: { runs: number }) => {
    await withApp(async (app, out) => {
      const st = await app.status(name, o.runs);
      if (out.json) return out.data(st);
      out.line(`${st.name}: report ${st.reportKey} (${st.dateType} dates, tz ${st.timeZone}), token ${st.tokenMasked}`);
      out.line(`  url          ${st.url}`);
      if (st.problem) out.line(`  PROBLEM      ${st.problem}`);
      out.line(`  settings     ${settingsText(st)}`);
      out.line(`  synced to    ${st.cursor ?? 'never'}${st.running ? ` (sync running: ${st.running.owner.split(':').slice(0, 2).join(' pid ')})` : ''}`);
      out.line(`  warehouse    ${fmtInt(st.coverage.rows)} rows over ${st.coverage.days} days (${st.coverage.firstDay ?? '-'}..${st.coverage.lastDay ?? '-'})`);
      out.line('  recent runs:');
      if (!st.runs.length) out.line('    none');
      for (const r of st.runs) {
        const secs = r.finishedAt ? `${((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)}s` : '…';
        out.line(`    ${r.startedAt}  ${r.status.padEnd(11)} ${r.rangeStart}..${r.rangeEnd}  ${r.windowsDone}/${r.windowsTotal} windows  ${fmtInt(r.rows)} rows  ${secs}${r.error ? `  ${r.error}` : ''}`);
      }
    });
  });

program
  .command('remove')
  .description('remove a connector (its rows stay unless --drop-data)')
  .argument('<name>')
  .option('--drop-data', 'also delete its rows from the warehouse')
  .action(async (name: string, o: { dropData?: boolean }) => {
    await withApp(async (app, out) => {
      await app.remove(name, Boolean(o.dropData));
      if (out.json) return out.data({ removed: name, dataDropped: Boolean(o.dropData) });
      out.line(`removed connector "${name}"${o.dropData ? ' and its data' : ` (its rows stay in the warehouse: \`rakuten-connector remove-data ${name}\` deletes them, \`add --name ${name} … --adopt-data\` takes them over)`}`);
    });
  });

addEditCommands(program, withApp);
addFreshnessCommand(program, withApp);
addAlertCommands(program, withApp);

/** The commands that serve (the last two, as `--help` lists them): they run what src/main.ts gave. */
function addServeCommands(parts: CliParts): void {
  program
    .command('demo')
    .description('start the Rakuten simulator, add a demo connector, sync it and show what landed')
    .option('--days <n>', 'days of demo data', int('--days', 1, 366), 30)
    .option('--no-serve', 'do not start the dashboard afterwards')
    .addOption(new Option('--port <n>', 'dashboard port').argParser(int('--port', 0, 65535)).default(8080))
    .action(async (o: { days: number; serve: boolean; port: number }) => {
      const { runDemo } = await import('./demo.js');
      const g = globals();
      await runDemo({ home: g.home, warehouse: g.warehouse, out: g.out, days: o.days, serve: o.serve, port: o.port, serveCommand: parts.serve });
    });

  program
    .command('serve')
    .description('web app and scheduler: setup form, dashboard, scheduled syncs')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--port <n>', 'port', int('--port', 0, 65535), 8080)
    .option('--trust-proxy', 'behind a TLS reverse proxy: trust its X-Forwarded-Proto/-Host/-For headers, mark the session cookie Secure')
    .action(async (o: { host: string; port: number; trustProxy?: boolean }) => {
      const g = globals();
      // A server's log: one JSON line per event (pino) unless a person watches its terminal.
      const out = g.out.json || process.stderr.isTTY ? g.out : new Output(true);
      await parts.serve({ home: g.home, warehouse: g.warehouse, out, host: o.host, port: o.port, trustProxy: Boolean(o.trustProxy) });
    });
}

/** An error already printed by the command. */
class Reported extends Error {
  constructor(readonly inner: unknown) {
    super('reported');
  }
}

/** Run the command line (process.argv) to its end; the exit code is left in process.exitCode. */
export async function runCli(parts: CliParts): Promise<void> {
  guardProcess();
  addServeCommands(parts);
  try {
    // Every setting is checked before any command runs: a wrong value names itself and its range.
    validateEnvironment();
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`error: ${redact(p)}\n`);
      process.stderr.write('see the configuration table in the README\n');
      process.exitCode = 2;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${redact(e.message)}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof Reported) {
      process.exitCode = 1;
      return;
    }
    const out = new Output(Boolean(program.opts<Globals>().json));
    if (e instanceof ConnectorError) {
      out.log('error', describeError(e), { kind: e.kind });
    } else {
      const safe = safeError(e);
      out.log('error', safe.message, debug() ? { stack: safe.stack } : {});
    }
    process.exitCode = 1;
  }
}
