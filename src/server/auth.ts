/**
 * Who may talk to the server.
 * - Bound to a loopback address without an admin token: only this machine can connect. The Host
 *   header must name the loopback address (stops DNS-rebinding pages from reaching the API).
 * - With RAKUTEN_CONNECTOR_ADMIN_TOKEN (required for any other interface): every request needs
 *   `Authorization: Bearer <token>` or the session cookie set by the login form. The cookie holds
 *   an HMAC derived from the token, never the token itself.
 * Either way, requests that change something must be same-origin JSON (no cross-site form posts).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { registerSecret } from '../util/secrets.js';

export const SESSION_COOKIE = 'rc_session';
export const MIN_ADMIN_TOKEN_LENGTH = 16;

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

export class AdminAuth {
  readonly session: string;

  constructor(readonly token: string) {
    registerSecret(token);
    this.session = createHmac('sha256', token).update('rakuten-connector session v1').digest('base64url');
    registerSecret(this.session);
  }

  /** Bearer header or session cookie. */
  allows(authorization: string | undefined, cookie: string | undefined): boolean {
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (m && sameSecret(m[1]!.trim(), this.token)) return true;
    return cookie !== undefined && sameSecret(cookie, this.session);
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
