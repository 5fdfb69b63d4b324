/**
 * Access rules and the routes about access (split from api.ts, which holds the connector API):
 * - the middleware deciding who may ask: loopback Host check, same-origin for changes, the
 *   admin token (session cookie or Bearer header, wrong Bearer tokens throttled), shutdown;
 * - GET/POST /login (throttled; a new random session per login), POST /logout (needs the
 *   session, same-origin; revokes it), GET /healthz (the real state, see health.ts).
 * See auth.ts for the rules in words.
 */
import type { Context, Hono } from 'hono';
import type { LocalCredential } from './local-credential.js';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Output } from '../app/output.js';
import { type AdminAuth, bearerOf, isLoopbackHostHeader, SESSION_COOKIE } from './auth.js';
import { clientAddress, isCrossSite, isHttps } from './guards.js';
import type { Health } from './health.js';
import { loginPage } from './pages.js';
import { html, isApiPath, pathOf, send } from './respond.js';

export interface AccessOptions {
  out: Output;
  /** Set when RAKUTEN_CONNECTOR_ADMIN_TOKEN is: every request must carry it. */
  auth?: AdminAuth;
  /** Answer only requests whose Host header names a loopback address (loopback without a token). */
  loopbackOnly?: boolean;
  /** Behind a declared reverse proxy: believe X-Forwarded-For/-Proto/-Host. */
  trustProxy?: boolean;
  closing: () => boolean;
  health: () => Promise<Health>;
  /** The credential of `<home>/serve.json` (local-credential.ts): a Bearer login for the CLI; /api/cli/* needs it. */
  local?: LocalCredential;
  /** Routes registered after these rules (and before the API's own): the CLI's (cli-api.ts). */
  extraRoutes?: (http: Hono) => void;
}

/** Paths anyone may fetch (the login page itself, its assets, health checks). */
const OPEN = (path: string) => path === '/healthz' || path.startsWith('/assets/') || path === '/login' || path === '/favicon.ico' || path === CLI_HELLO;

/** The CLI's handshake: a proof of the credential, asked before the CLI sends it (cli-api.ts). */
const CLI_HELLO = '/api/cli/hello';

function tooManyTries(c: Context, seconds: number, api: boolean): Response {
  const msg = `too many wrong admin tokens from your address: try again in ${seconds} s`;
  const headers = { 'Retry-After': String(seconds) };
  return api ? send(c, 429, { errors: { auth: msg } }, headers) : html(c, 429, loginPage(`Too many wrong tokens: try again in ${seconds} seconds.`), headers);
}

export function installAccess(http: Hono, ctx: AccessOptions): void {
  const trustProxy = Boolean(ctx.trustProxy);
  /** Count a wrong token; say so in the log when it makes the client wait (never the token). */
  const wrongToken = (auth: AdminAuth, client: string, where: string) => {
    auth.throttle.failed(client);
    const wait = auth.throttle.retryAfter(client);
    if (wait) ctx.out.log('warn', `${auth.throttle.limits.max} wrong admin tokens (${where}) from ${client} within a minute: it waits ${wait} s`, { event: 'auth-throttled', client });
  };

  http.use('*', async (c, next) => {
    if (ctx.loopbackOnly && !isLoopbackHostHeader(c.req.header('host'))) {
      return send(c, 421, { errors: { host: 'this server only answers on its loopback address (use http://127.0.0.1:<port>/)' } });
    }
    const path = pathOf(c);
    const method = c.req.method;
    const api = isApiPath(path);
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && isCrossSite(c, trustProxy)) {
      return send(c, 403, { errors: { origin: 'cross-site requests are not accepted' } });
    }
    if (OPEN(path)) return next();
    // The CLI of this home: the local credential is an admin login (constant-time comparison).
    const local = Boolean(ctx.local?.check(bearerOf(c.req.header('authorization'))));
    if (path.startsWith('/api/cli/') && !local) {
      c.header('WWW-Authenticate', 'Bearer realm="rakuten-connector-cli"');
      return send(c, 401, { errors: { auth: 'the CLI\'s routes need the credential of <home>/serve.json' } });
    }
    const auth = ctx.auth;
    if (auth && !local && !auth.sessions.check(getCookie(c, SESSION_COOKIE))) {
      const bearer = bearerOf(c.req.header('authorization'));
      let allowed = false;
      if (bearer !== undefined) {
        const client = clientAddress(c, trustProxy);
        const wait = auth.throttle.retryAfter(client);
        // While a client waits even the right token is refused: no answer tells a guess apart.
        if (wait) return tooManyTries(c, wait, api);
        allowed = auth.checkToken(bearer);
        if (allowed) auth.throttle.succeeded(client);
        else wrongToken(auth, client, 'Bearer');
      }
      if (!allowed) {
        if (api) {
          c.header('WWW-Authenticate', 'Bearer realm="rakuten-connector"');
          return send(c, 401, { errors: { auth: 'sign in: send Authorization: Bearer <RAKUTEN_CONNECTOR_ADMIN_TOKEN>, or log in at /login' } });
        }
        return c.redirect('/login', 303);
      }
    }
    if (api && ctx.closing() && method !== 'GET') {
      return send(c, 503, { errors: { server: 'the server is shutting down' } });
    }
    return next();
  });

  ctx.extraRoutes?.(http);

  http.get('/healthz', async (c) => {
    const h = await ctx.health();
    return c.json(h, h.ok ? 200 : 503, { 'Cache-Control': 'no-store' });
  });

  http.get('/login', (c) => (ctx.auth ? html(c, 200, loginPage()) : c.redirect('/', 303)));

  http.post('/login', async (c) => {
    const auth = ctx.auth;
    if (!auth) return c.redirect('/', 303);
    const client = clientAddress(c, trustProxy);
    const wait = auth.throttle.retryAfter(client);
    if (wait) return tooManyTries(c, wait, false);
    const form = await c.req.parseBody(); // at most FORM_BODY_LIMIT bytes (guards.ts)
    const token = typeof form.token === 'string' ? form.token : '';
    if (!token || !auth.checkToken(token)) {
      wrongToken(auth, client, 'login form');
      return html(c, 401, loginPage('That is not the admin token. It is the value of RAKUTEN_CONNECTOR_ADMIN_TOKEN on the server.'));
    }
    auth.throttle.succeeded(client);
    auth.sessions.revoke(getCookie(c, SESSION_COOKIE)); // a session from before this login ends
    setCookie(c, SESSION_COOKIE, auth.sessions.create(), {
      httpOnly: true, sameSite: 'Strict', path: '/', maxAge: auth.sessions.maxAgeSeconds, secure: isHttps(c, trustProxy),
    });
    return c.redirect('/', 303);
  });

  // Reached only with a live session or the Bearer token, and same-origin (the middleware above).
  http.post('/logout', (c) => {
    ctx.auth?.sessions.revoke(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c, trustProxy), httpOnly: true, sameSite: 'Strict' });
    return c.redirect(ctx.auth ? '/login' : '/', 303);
  });
}
