/**
 * How the server answers: JSON or HTML bodies passed through the redactor, the security headers
 * every response carries, and the error type routes throw. Shared by the API routes (api.ts), the
 * access rules (access.ts) and the request guards (guards.ts), so they answer alike.
 */
import type { Context } from 'hono';
import { redact } from '../util/secrets.js';

export class HttpError extends Error {
  constructor(readonly status: number, readonly errors: Record<string, string>, readonly extra: Record<string, unknown> = {}) {
    super(Object.values(errors).join('; '));
  }
}

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** JSON out, redacted. */
export function send(c: Context, status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return c.body(redact(JSON.stringify(body)), status as 200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
}

export function html(c: Context, status: number, text: string, headers: Record<string, string> = {}): Response {
  return c.body(redact(text), status as 200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
}

export function pathOf(c: Context): string {
  return new URL(c.req.url).pathname;
}

export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}
