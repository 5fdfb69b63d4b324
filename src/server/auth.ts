/**
 * Who may talk to the server.
 * - Bound to a loopback address without an admin token: only this machine can connect. The Host
 *   header must name the loopback address (stops DNS-rebinding pages from reaching the API).
 * - With RAKUTEN_CONNECTOR_ADMIN_TOKEN (required for any other interface): every request needs
 *   `Authorization: Bearer <token>` or the session cookie set by the login form. The cookie holds
 *   a random server-side session id (sessions.ts), never the token or anything derived from it;
 *   logout revokes it. Wrong tokens are throttled per client (sessions.ts: FailureThrottle).
 * Either way, requests that change something must be same-origin (guards.ts, access.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { registerSecret } from '../util/secrets.js';
import { FailureThrottle, SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'rc_session';

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7));
  return false;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The Bearer credential of an Authorization header, if it carries one. */
export function bearerOf(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  return m ? m[1]!.trim() : undefined;
}

export class AdminAuth {
  readonly sessions: SessionStore;
  readonly throttle: FailureThrottle;

  /** `now`: the server's clock in ms (tests inject a fake one). */
  constructor(private readonly token: string, now: () => number = Date.now) {
    registerSecret(token);
    this.sessions = new SessionStore(now);
    this.throttle = new FailureThrottle(now);
  }

  checkToken(candidate: string): boolean {
    return sameSecret(candidate.trim(), this.token);
  }
}

/**
 * Whether a Host header names a loopback address (any port: an SSH tunnel may use another).
 * A DNS-rebinding page sends its own host name, so it is refused.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host.trim());
  return Boolean(m && isLoopbackHost(m[1]!));
}
