/**
 * `npm run demo`: the main job on the embedded default, end to end. Starts the Rakuten
 * simulator, saves a demo connector through Save & Test, syncs it with progress, shows what
 * landed and how to query it, then (unless --no-serve) serves the dashboard with the `serve`
 * it is given (src/main.ts composes it: cli/ does not import server/). Run again in the same home,
 * it resumes the same connector (pointed at the new simulator's port; rows replaced day by day,
 * never duplicated); a connector named "demo" that is not the demo's is left alone.
 */
import { App } from '../app/app.js';
import { addDays, todayIn } from '../util/days.js';
import { describeError } from '../util/errors.js';
import { formatMoney, fromUnits, toUnits } from '../util/decimal.js';
import { DEMO_TOKEN, startSimulator } from '../simulator/index.js';
import { fmtInt, type Output } from '../app/output.js';
import { requestOptionsFromEnv, retryPolicyFromEnv } from '../app/options.js';
import type { ServeCommand } from './parts.js';
import { DEMO_NAME, DEMO_REPORT_KEY, demoHost } from './demo-connector.js';

export async function runDemo(o: {
  home: string; warehouse?: string; out: Output; days: number;
  /** Serve the dashboard at the end (false: --no-serve), with serveCommand. */
  serve: boolean; port: number; serveCommand: ServeCommand;
}): Promise<void> {
  const { out } = o;
  /** Text lines; with --json the same facts come as JSON lines (`fact`) instead. */
  const say = (text: string) => (out.json ? undefined : out.line(text));
  const fact = (obj: Record<string, unknown>) => (out.json ? out.data(obj) : undefined);
  const sim = await startSimulator({ port: 0, rowsPerDay: 400 });
  const host = new URL(sim.url).host;
  process.env.RAKUTEN_ALLOWED_HOSTS = [process.env.RAKUTEN_ALLOWED_HOSTS, host].filter(Boolean).join(',');
  say(`Rakuten API simulator running at ${sim.url}`);
  fact({ event: 'simulator', url: sim.url });
  const today = todayIn('GMT');
  const start = addDays(today, -(Math.max(1, o.days) - 1));
  const url = `${sim.url}/en/reports/${DEMO_REPORT_KEY}/filters?start_date=${start}&end_date=${today}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${DEMO_TOKEN}`;
  let keepOpen = false;
  const app = await App.open({ home: o.home, warehouse: o.warehouse });
  try {
    const prev = await app.find(DEMO_NAME);
    if (prev && !demoHost(app.view(prev))) {
      throw new Error(`this home already has a connector named "${DEMO_NAME}" that is not the demo's (${app.view(prev).url}); it is left as it is: run the demo with another --home`);
    }
    const cursor = prev ? (await app.status(DEMO_NAME, 1)).cursor : null;
    say(`\n1. Save & Test connector "demo" (warehouse: ${app.warehouseInfo().location})${prev ? `: resuming it (synced to ${cursor ?? 'never'}), now at the new simulator` : ''}`);
    // The rows a removed demo connector left are the demo's: taken over, like the connector itself.
    const saved = await app.saveAndTest({ name: DEMO_NAME, url, startDate: start, adoptData: true }, { replace: true });
    for (const c of saved.checks) say(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.label}${c.ok === false ? `: ${c.detail}` : ''}`);
    fact({ event: 'saved', connector: DEMO_NAME, resumed: Boolean(prev), cursor, warehouse: app.warehouseInfo().location, saved: saved.saved, checks: saved.checks });
    if (!saved.saved) throw new Error('Save & Test failed');
    await app.updateSettings('demo', { startDate: start });

    say(`\n2. Sync ${start}..${today} (one window per day)`);
    const run = await app.sync('demo', { onEvent: out.syncListener('demo'), retry: retryPolicyFromEnv(), request: requestOptionsFromEnv() });
    const secs = (Date.parse(run.finishedAt!) - Date.parse(run.startedAt)) / 1000;
    say(`   synced ${run.windowsDone} windows, ${fmtInt(run.rows)} rows in ${secs.toFixed(1)}s`);
    fact({ event: 'summary', run });

    say('\n3. What landed in rakuten_affiliate_report');
    // Every amount with its currency: the connector's (network=1 is Rakuten US: USD).
    const currency = (await app.get(DEMO_NAME)).settings.currency;
    const days = (await app.dayTotals('demo', start, today)).filter((d) => d.currency === currency);
    const sum = (k: 'impressions' | 'clicks' | 'orders' | 'sales' | 'total_commissions' | 'gross_commissions') =>
      fromUnits(days.reduce((acc, d) => acc + toUnits(d[k]), 0n));
    const whole = (s: string) => fmtInt(Number(s.split('.')[0]));
    const money = (s: string) => `${formatMoney(s)} ${currency}`;
    say(`   rows ${fmtInt(days.reduce((a, d) => a + d.rows, 0))} over ${days.length} days · impressions ${whole(sum('impressions'))} · clicks ${whole(sum('clicks'))} · orders ${whole(sum('orders'))}`);
    say(`   sales ${money(sum('sales'))} · gross commissions ${money(sum('gross_commissions'))} · total commissions ${money(sum('total_commissions'))}`);
    say('   top publishers by sales:');
    const top = await app.top('publisher', 'demo', start, today, 5);
    for (const p of top) {
      say(`     ${(p.name ?? p.id).slice(0, 40).padEnd(40)} ${formatMoney(p.sales).padStart(14)} ${p.currency}`);
    }
    fact({
      event: 'landed', currency, rows: days.reduce((a, d) => a + d.rows, 0), days: days.length, impressions: sum('impressions'), clicks: sum('clicks'), orders: sum('orders'),
      sales: sum('sales'), grossCommissions: sum('gross_commissions'), totalCommissions: sum('total_commissions'),
      topPublishers: top.map((p) => ({ id: p.id, name: p.name, sales: p.sales, currency: p.currency })),
    });
    say('\n4. Query it yourself (DuckDB SQL on the warehouse file):');
    const sql = `SELECT _date, currency, sum(sales), sum(total_commissions) FROM rakuten_affiliate_report WHERE _connector = 'demo' GROUP BY 1, 2 ORDER BY 1;`;
    say(`   ${sql}`);
    fact({ event: 'query', sql, file: app.warehouseInfo().location, status: `rakuten-connector --home ${o.home} status demo` });
    say(`   file: ${app.warehouseInfo().location}   (e.g. with the duckdb CLI, or any DuckDB client)`);
    say(`   more: rakuten-connector --home ${o.home} status demo`);
    say('   (the demo connector points at the built-in simulator, which stops with the demo: afterwards `list` and');
    say('   `status` show it as "cannot be used"; its rows stay in the warehouse; `npm run demo` again resumes it)');
    if (o.serve) {
      await app.close();
      say(`\n5. Dashboard: http://127.0.0.1:${o.port}/ (Ctrl-C to stop)`);
      fact({ event: 'dashboard', url: `http://127.0.0.1:${o.port}/` });
      keepOpen = true;
      await o.serveCommand({ home: o.home, warehouse: o.warehouse, out, host: '127.0.0.1', port: o.port, onClose: () => sim.close() });
      return;
    }
  } catch (e) {
    out.log('error', `demo failed: ${describeError(e)}`);
    process.exitCode = 1;
  } finally {
    if (!keepOpen) {
      await app.close().catch(() => undefined);
      await sim.close();
    }
  }
}
