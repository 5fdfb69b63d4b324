/**
 * GET /api/charts: a connector's (or all connectors') totals per day over the last `days` days,
 * every day present (zeros, not gaps), exact totals, and the top publishers and offers. The
 * numbers are the warehouse's (through App.dayTotals and App.top), unchanged. Split from api.ts.
 *
 * Per currency: `byCurrency` has one series and one set of totals per currency (of the rows, and
 * of the connectors in view), never a sum across currencies; `series`/`totals`/`currency` are the
 * one currency's when there is exactly one, null when there are several.
 */
import type { Hono } from 'hono';
import { addDays, todayIn } from '../../util/days.js';
import { fromUnits, toUnits } from '../../util/decimal.js';
import type { DayTotals } from '../../warehouse/types.js';
import { send } from '../respond.js';
import { chartQuerySchema } from '../validate.js';
import { mustGet, readQuery, type ServerContext } from './common.js';

const ZERO_DAY = (day: string, currency: string): DayTotals => ({
  day, currency, rows: 0, impressions: '0', clicks: '0', orders: '0', sales: '0', gross_commissions: '0', total_commissions: '0',
});

const MONEY_KEYS = ['sales', 'gross_commissions', 'total_commissions'] as const;
const COUNT_KEYS = ['impressions', 'clicks', 'orders'] as const;

/** Exact totals: BigInt sums of the warehouse's decimal strings, never floats. */
export function sumDays(days: DayTotals[]): Record<(typeof MONEY_KEYS)[number] | (typeof COUNT_KEYS)[number], string> & { rows: number; days: number } {
  const out = { rows: 0, days: days.filter((d) => d.rows > 0).length } as Record<string, string | number>;
  for (const k of MONEY_KEYS) out[k] = fromUnits(days.reduce((a, d) => a + toUnits(d[k]), 0n));
  for (const k of COUNT_KEYS) out[k] = days.reduce((a, d) => a + BigInt(d[k].split('.')[0] || '0'), 0n).toString();
  out.rows = days.reduce((a, d) => a + d.rows, 0);
  return out as ReturnType<typeof sumDays>;
}

export function chartRoutes(http: Hono, ctx: ServerContext): void {
  const { app } = ctx;

  http.get('/api/charts', async (c) => {
    const q = readQuery(c, chartQuerySchema);
    const days = q.days ?? 30;
    let to: string;
    let timeZone: string;
    let timeZones: string[];
    /** The currency of each connector in view. */
    let connectors: { name: string; currency: string }[];
    if (q.connector) {
      const view = app.view(await mustGet(app, q.connector));
      timeZone = view.timeZone;
      timeZones = [timeZone];
      to = todayIn(timeZone);
      connectors = [{ name: view.name, currency: view.settings.currency }];
    } else {
      // All connectors: a day is each connector's report day in its own time zone (a Rakuten
      // report's days are its `tz`'s), added up by date; up to the latest "today" among them.
      const views = await app.list();
      connectors = views.map((v) => ({ name: v.name, currency: v.settings.currency }));
      timeZones = [...new Set(views.map((v) => v.timeZone))].sort();
      timeZone = timeZones.length === 1 ? timeZones[0]! : 'GMT';
      to = timeZones.length ? timeZones.map((z) => todayIn(z)).sort().at(-1)! : todayIn('GMT');
    }
    const from = addDays(to, -(days - 1));
    const connector = q.connector ?? null;
    // Independent reads, at once: on a server warehouse each has its own connection.
    const [rows, publishers, offers] = await Promise.all([
      app.dayTotals(connector, from, to),
      app.top('publisher', connector, from, to, q.top ?? 10),
      app.top('offer', connector, from, to, q.top ?? 10),
    ]);
    const currencies = [...new Set([...connectors.map((x) => x.currency), ...rows.map((r) => r.currency)])].sort();
    const byCurrency = currencies.map((currency) => {
      const byDay = new Map(rows.filter((r) => r.currency === currency).map((r) => [r.day, r]));
      const series: DayTotals[] = [];
      for (let d = from; d <= to; d = addDays(d, 1)) series.push(byDay.get(d) ?? ZERO_DAY(d, currency));
      return { currency, connectors: connectors.filter((x) => x.currency === currency).map((x) => x.name), series, totals: sumDays(series) };
    });
    const one = byCurrency.length === 1 ? byCurrency[0]! : null;
    return send(c, 200, {
      connector, days, from, to, timeZone, timeZones, currencies, byCurrency,
      currency: one?.currency ?? null, series: one?.series ?? null, totals: one?.totals ?? null,
      topPublishers: publishers, topOffers: offers,
    });
  });
}
