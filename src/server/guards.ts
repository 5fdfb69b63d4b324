/**
 * Request guards that run before anything else looks at a request:
 * - the body limit, the FIRST middleware: before authentication, before any route reads a body,
 *   so an anonymous client cannot make the server hold a large body in memory (login and other
 *   forms: 8 KiB, the JSON API: 64 KiB, GET/HEAD: never read). A declared Content-Length over the limit is refused
 *   unread; a chunked body is counted as it arrives and cut off at the limit. Either way the answer
 *   is 413 with `Connection: close`, so the connection ends and the client cannot keep streaming.
 * - what a request says about itself that may only be believed behind a declared reverse proxy
 *   (trustProxy): the client's address (X-Forwarded-For), https (X-Forwarded-Proto) and the
 *   browser's host (X-Forwarded-Host). Without trustProxy these headers are ignored: anyone can
 *   send them.
 * - the same-origin check for requests that change something.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Output } from '../app/output.js';
import { html, isApiPath, pathOf, SECURITY_HEADERS, send } from './respond.js';

/** Bodies of the login and logout forms (a token is well under 1 KiB). */
export const FORM_BODY_LIMIT = 8 * 1024;
/** Bodies of the JSON API (a connector's settings and URL). */
export const API_BODY_LIMIT = 64 * 1024;

const kib = (n: number) => `${n / 1024} KiB`;

/** The body limit middleware; must be registered before every other one. */
export function bodyLimits(out: Output): MiddlewareHandler {
  const tooLarge = (limit: number) => (c: Context): Response => {
    const path = pathOf(c);
    out.log('warn', `${c.req.method} ${path} 413: request body over ${kib(limit)} refused`, { event: 'http', method: c.req.method, path, status: 413 });
    // Connection: close makes Node end the connection once this answer is sent, instead of
    // draining (reading) whatever the client still sends.
    const headers = { ...SECURITY_HEADERS, Connection: 'close' };
    return isApiPath(path)
      ? send(c, 413, { errors: { body: `the request body is too large (at most ${kib(limit)})` } }, headers)
      : html(c, 413, `<!doctype html><title>Request too large</title><p>The request body is too large (at most ${kib(limit)}).</p>`, headers);
  };
  const api = bodyLimit({ maxSize: API_BODY_LIMIT, onError: tooLarge(API_BODY_LIMIT) });
  const form = bodyLimit({ maxSize: FORM_BODY_LIMIT, onError: tooLarge(FORM_BODY_LIMIT) });
  return async (c, next) => {
    // GET/HEAD: no route reads a body, the Node adapter does not even expose one, and Node closes
    // a connection whose request body was left unread, so nothing is buffered or drained.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return (isApiPath(pathOf(c)) ? api : form)(c, next);
  };
}

/** The request came over https: its own socket, or (trustProxy) the proxy says so. */
export function isHttps(c: Context, trustProxy: boolean): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  if (!trustProxy) return false;
  return (c.req.header('x-forwarded-proto') ?? '').split(',')[0]!.trim().toLowerCase() === 'https';
}

/**
 * Who is asking, as a throttling key. The socket's peer address; with trustProxy, the address the
 * proxy in front of us saw: the LAST X-Forwarded-For entry (the one that proxy appended; earlier
 * entries come from the client and can be anything). IPv6 clients are grouped by /64, the block
 * one host usually gets.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean).at(-1);
    if (forwarded && isIP(stripBrackets(forwarded))) return clientKey(stripBrackets(forwarded));
  }
  let address: string | undefined;
  try {
    address = getConnInfo(c).remote.address;
  } catch {
    address = undefined; // not served by the Node adapter (e.g. app.request in a unit test)
  }
  return address ? clientKey(address) : 'unknown';
}

function stripBrackets(s: string): string {
  return s.replace(/^\[|\](?::\d+)?$/g, '');
}

/** IPv4 as is (also when IPv4-mapped); IPv6 by its /64 prefix. */
export function clientKey(address: string): string {
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  if (isIP(a) !== 6) return a;
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

function originHost(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return '';
  }
}

/**
 * A request from another site: a foreign Origin, `Origin: null`, or Sec-Fetch-Site other than
 * same-origin/none. The browser's host is the Host header, or (trustProxy only) X-Forwarded-Host.
 */
export function isCrossSite(c: Context, trustProxy: boolean): boolean {
  const origin = c.req.header('origin');
  const site = c.req.header('sec-fetch-site');
  if (origin === 'null') return true;
  if (site && site !== 'same-origin' && site !== 'none') return true;
  if (!origin) return false;
  const hosts = [c.req.header('host'), ...(trustProxy ? (c.req.header('x-forwarded-host') ?? '').split(',') : [])]
    .map((x) => (x ?? '').trim().toLowerCase())
    .filter(Boolean);
  return !hosts.includes(originHost(origin));
}
