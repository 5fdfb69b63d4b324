/**
 * The HTTP API and the web app's files: the Hono app the server listens with. This file sets the
 * order every request goes through and how errors are answered; the routes themselves are
 * registered by resource from src/server/routes/ (meta, connectors, syncs, charts). Every route
 * goes through the App service (Save & Test, sync, settings, remove, and the reads behind pages
 * and charts). Documented in docs/API.md.
 *
 * Secrets: responses never carry a token. Connectors are shown through App.view (token masked),
 * Save & Test answers lose their `source` (it holds the token), and every body passes through
 * redact() on the way out as a last guard.
 *
 * Before any route: the body limit (guards.ts), then who may ask (access.ts: login, sessions,
 * throttling, same-origin, /healthz).
 */
import { Hono } from 'hono';
import { SchedulerBusyError } from '../scheduler/scheduler.js';
import { flagSetting } from '../util/config.js';
import { ConnectorError } from '../util/errors.js';
import { safeError } from '../util/secrets.js';
import { installAccess } from './access.js';
import { bodyLimits } from './guards.js';
import { METRICS_PATH, metricsRefusal, type ServerMetrics } from './metrics.js';
import { staticFile } from './pages.js';
import { html, HttpError, pathOf, SECURITY_HEADERS, send } from './respond.js';
import { chartRoutes } from './routes/charts.js';
import type { ServerContext } from './routes/common.js';
import { connectorRoutes } from './routes/connectors.js';
import { metaRoutes } from './routes/meta.js';
import { alertRoutes } from './routes/alerts.js';
import { syncRoutes } from './routes/syncs.js';

export type { ServerContext } from './routes/common.js';
export type { ConnectorState } from './routes/connectors.js';
export { sumDays } from './routes/charts.js';

/** `metrics`: GET /metrics (metrics.ts), behind the same access rules as the API. */
export function createHttpApp(ctx: ServerContext & { metrics?: ServerMetrics }): Hono {
  const { out } = ctx;
  const http = new Hono();

  // ---- first of all, before authentication: no body over its limit is read ----
  http.use('*', bodyLimits(out));

  // ---- every response: security headers; errors as JSON ----
  http.use('*', async (c, next) => {
    const started = Date.now();
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
    const path = pathOf(c);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      out.log(c.res.status >= 500 ? 'error' : 'info', `${c.req.method} ${path} ${c.res.status} (${Date.now() - started} ms)`, { event: 'http', method: c.req.method, path, status: c.res.status });
    }
  });

  http.onError((err, c) => {
    if (err instanceof HttpError) return send(c, err.status, { errors: err.errors, ...err.extra });
    if (err instanceof SchedulerBusyError) return send(c, 409, { errors: { sync: err.message } });
    if (err instanceof ConnectorError) {
      const msg = err.hint ? `${err.message} (${err.hint})` : err.message;
      if (err.kind === 'busy') return send(c, 409, { errors: { sync: msg } });
      // The field is named where the error was thrown (App, settings, the URL parser); else the URL's.
      if (err.kind === 'config') return send(c, 400, { errors: { [err.field ?? 'url']: msg } });
      return send(c, 502, { errors: { rakuten: msg } });
    }
    const safe = safeError(err);
    out.log('error', `internal error: ${safe.message}`, flagSetting('RAKUTEN_DEBUG') ? { stack: safe.stack } : {});
    return send(c, 500, { errors: { server: 'internal error; see the server log' } });
  });

  // ---- who may ask; /login, /logout, /healthz; /metrics (refused as the API refuses) ----
  if (ctx.metrics) http.use(METRICS_PATH, metricsRefusal());
  installAccess(http, ctx);
  ctx.metrics?.routes(http);

  // ---- pages and files ----
  http.get('/favicon.ico', (c) => c.body(null, 204));
  http.get('/assets/:file', (c) => {
    const f = staticFile(c.req.param('file'));
    if (!f) return c.text('not found', 404);
    return c.body(f.body, 200, { 'Content-Type': f.type, 'Cache-Control': 'no-cache' });
  });
  http.get('/', (c) => {
    const f = staticFile('index.html')!;
    return html(c, 200, f.body.replace('__AUTH__', ctx.auth ? 'token' : 'local'));
  });

  // ---- API, by resource (src/server/routes/) ----
  metaRoutes(http, ctx);
  connectorRoutes(http, ctx);
  syncRoutes(http, ctx);
  chartRoutes(http, ctx);
  alertRoutes(http, ctx);

  http.all('/api/*', (c) => send(c, 404, { errors: { path: `no such API route: ${c.req.method} ${new URL(c.req.url).pathname}` } }));
  http.notFound((c) => c.text('not found', 404));
  return http;
}
