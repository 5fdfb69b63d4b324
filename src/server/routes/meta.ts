/**
 * Routes about the form rather than a connector: GET /api/meta (required columns, defaults,
 * time zones, auth mode, which warehouse, the networks' currencies and the ISO 4217 codes) and
 * POST /api/parse-url (the form's live preview of a pasted URL, its network's currency included:
 * parses only, fetches nothing). Split from api.ts by resource.
 */
import type { Hono } from 'hono';
import { DEFAULT_LOOKBACK_DAYS, DEFAULT_SCHEDULE, DEFAULT_START_DAYS_AGO } from '../../app/app.js';
import { REPORT_COLUMNS } from '../../rakuten/columns.js';
import { NETWORKS, networkCurrency } from '../../rakuten/networks.js';
import { parseReportUrl } from '../../rakuten/url.js';
import { CURRENCY_CODES } from '../../app/settings.js';
import { describeSchedule } from '../../scheduler/cron.js';
import { ConnectorError } from '../../util/errors.js';
import { maskToken } from '../../util/secrets.js';
import { HttpError, send } from '../respond.js';
import { parseUrlSchema } from '../validate.js';
import { readJson, type ServerContext } from './common.js';

export function metaRoutes(http: Hono, ctx: ServerContext): void {
  const { app } = ctx;

  http.get('/api/meta', (c) =>
    send(c, 200, {
      requiredColumns: REPORT_COLUMNS.map((col) => col.label),
      defaults: { schedule: describeSchedule(DEFAULT_SCHEDULE, 'GMT'), lookbackDays: DEFAULT_LOOKBACK_DAYS, startDaysAgo: DEFAULT_START_DAYS_AGO },
      timeZones: ['GMT', ...Intl.supportedValuesOf('timeZone')],
      auth: ctx.auth ? 'token' : 'local',
      // The form's currency: the URL's network's by default (parse-url says which), else one of these.
      networks: NETWORKS,
      currencies: [...CURRENCY_CODES],
      warehouse: app.warehouseInfo(),
    }),
  );

  http.post('/api/parse-url', async (c) => {
    const { url } = await readJson(c, parseUrlSchema);
    try {
      const s = parseReportUrl(url);
      const warnings: string[] = [];
      if (s.dateRange) warnings.push(`date_range=${s.dateRange} is ignored: the connector requests each day itself`);
      if (s.includeSummary) warnings.push('include_summary=Y is ignored: the connector asks for the report without summary lines');
      return send(c, 200, {
        reportKey: s.reportKey, dateType: s.dateType, timeZone: s.tz, dateFormat: s.dateFormat, lang: s.lang,
        host: new URL(s.origin).host, tokenMasked: maskToken(s.token), warnings,
        network: s.network ?? null, currency: networkCurrency(s.network) ?? null,
      });
    } catch (e) {
      if (e instanceof ConnectorError) throw new HttpError(400, { url: e.hint ? `${e.message}: ${e.hint}` : e.message });
      throw e;
    }
  });
}
