/**
 * `npm run demo`: the main job on the embedded default, end to end. Starts the Rakuten
 * simulator, saves a demo connector through Save & Test, syncs it with progress, shows what
 * landed and how to query it, then (unless --no-serve) serves the dashboard with the `serve`
 * it is given (src/main.ts composes it: cli/ does not import server/).
 */
import { App } from '../app/app.js';
import { addDays, todayIn } from '../util/days.js';
import { describeError } from '../util/errors.js';
import { formatMoney, fromUnits, toUnits } from '../util/decimal.js';
import { DEMO_TOKEN, startSimulator } from '../simulator/index.js';
import { fmtInt, type Output } from '../app/output.js';
import { requestOptionsFromEnv, retryPolicyFromEnv } from '../app/options.js';
import type { ServeCommand } from './parts.js';

export async function runDemo(o: {
  home: string; warehouse?: string; out: Output; days: number;
  /** Serve the dashboard at the end (false: --no-serve), with serveCommand. */
  serve: boolean; port: number; serveCommand: ServeCommand;
}): Promise<void> {
  const { out } = o;
  const sim = await startSimulator({ port: 0, rowsPerDay: 400 });
  const host = new URL(sim.url).host;
  process.env.RAKUTEN_ALLOWED_HOSTS = [process.env.RAKUTEN_ALLOWED_HOSTS, host].filter(Boolean).join(',');
  out.line(`Rakuten API simulator running at ${sim.url}`);
  const today = todayIn('GMT');
  const start = addDays(today, -(Math.max(1, o.days) - 1));
  const url = `${sim.url}/en/reports/demo-report/filters?start_date=${start}&end_date=${today}&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${DEMO_TOKEN}`;
  let keepOpen = false;
  const app = await App.open({ home: o.home, warehouse: o.warehouse });
  try {
    out.line(`\n1. Save & Test connector "demo" (warehouse: ${app.warehouseInfo().location})`);
    const saved = await app.saveAndTest({ name: 'demo', url, startDate: start }, { replace: true });
    for (const c of saved.checks) out.line(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.label}${c.ok === false ? `: ${c.detail}` : ''}`);
    if (!saved.saved) throw new Error('Save & Test failed');
    await app.updateSettings('demo', { startDate: start });

    out.line(`\n2. Sync ${start}..${today} (one window per day)`);
    const run = await app.sync('demo', { onEvent: out.syncListener('demo'), retry: retryPolicyFromEnv(), request: requestOptionsFromEnv() });
    const secs = (Date.parse(run.finishedAt!) - Date.parse(run.startedAt)) / 1000;
    out.line(`   synced ${run.windowsDone} windows, ${fmtInt(run.rows)} rows in ${secs.toFixed(1)}s`);

    out.line('\n3. What landed in rakuten_affiliate_report');
    const days = await app.dayTotals('demo', start, today);
    const sum = (k: 'impressions' | 'clicks' | 'orders' | 'sales' | 'total_commissions' | 'gross_commissions') =>
      fromUnits(days.reduce((acc, d) => acc + toUnits(d[k]), 0n));
    const whole = (s: string) => fmtInt(Number(s.split('.')[0]));
    const money = formatMoney;
    out.line(`   rows ${fmtInt(days.reduce((a, d) => a + d.rows, 0))} over ${days.length} days · impressions ${whole(sum('impressions'))} · clicks ${whole(sum('clicks'))} · orders ${whole(sum('orders'))}`);
    out.line(`   sales $${money(sum('sales'))} · gross commissions $${money(sum('gross_commissions'))} · total commissions $${money(sum('total_commissions'))}`);
    out.line('   top publishers by sales:');
    for (const p of await app.top('publisher', 'demo', start, today, 5)) {
      out.line(`     ${(p.name ?? p.id).slice(0, 40).padEnd(40)} $${formatMoney(p.sales).padStart(14)}`);
    }
    out.line('\n4. Query it yourself (DuckDB SQL on the warehouse file):');
    out.line(`   SELECT _date, sum(sales), sum(total_commissions) FROM rakuten_affiliate_report WHERE _connector = 'demo' GROUP BY 1 ORDER BY 1;`);
    out.line(`   file: ${app.warehouseInfo().location}   (e.g. with the duckdb CLI, or any DuckDB client)`);
    out.line(`   more: rakuten-connector --home ${o.home} status demo`);
    out.line('   (the demo connector points at the built-in simulator, which stops with the demo: afterwards `list` and');
    out.line('   `status` show it as "cannot be used"; its rows stay in the warehouse)');
    if (o.serve) {
      await app.close();
      out.line(`\n5. Dashboard: http://127.0.0.1:${o.port}/ (Ctrl-C to stop)`);
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
