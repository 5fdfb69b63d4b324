/**
 * Alert channel targets: what a channel's target may be, and how it is shown.
 *
 * - webhook / slack: an absolute http(s) URL. https is required, except on loopback hosts
 *   (127.0.0.1, localhost, ::1: tests and local relays). No credentials in it (user:pass@). Slack
 *   channels accept any host: Mattermost, Rocket.Chat and others take the same incoming-webhook JSON.
 * - email: one plausible address (one @, no spaces, at most 254 characters).
 *
 * A webhook URL is a secret (its path or query is the credential), so it is never shown whole:
 * `maskTarget` gives `https://host/…` (webhook) or `https://host/first-segment/…` (slack), and
 * `useTarget` — called whenever a target is unsealed for use — registers the URL with the redactor
 * (src/util/secrets.ts), so it cannot leak through an error message or a log line either.
 */
import type { AlertChannelKind } from '../warehouse/types.js';
import { ConnectorError } from '../util/errors.js';
import { registerSecret } from '../util/secrets.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_EMAIL = 254;

const URL_HINT = 'use the https:// URL your service gave for an incoming webhook (http:// only for 127.0.0.1, localhost or [::1])';
const EMAIL_HINT = 'use one e-mail address, e.g. data-team@example.com';

function bad(message: string, hint: string, isUrl: boolean): ConnectorError {
  return new ConnectorError('config', message, isUrl ? { hint, field: 'url' } : { hint });
}

/** A kind's name in messages. */
function label(kind: AlertChannelKind): string {
  return kind === 'slack' ? 'Slack webhook URL' : kind === 'webhook' ? 'webhook URL' : 'e-mail address';
}

/**
 * The target, validated and normalised (URL: as `URL.href`, fragment dropped; e-mail: trimmed,
 * domain lower-cased). Throws ConnectorError('config') saying what is wrong and how to fix it;
 * the message never quotes a URL (it may carry a secret).
 */
export function parseTarget(kind: AlertChannelKind, input: string): string {
  const v = String(input ?? '').trim();
  if (kind === 'email') return parseEmail(v);
  if (kind !== 'webhook' && kind !== 'slack') throw bad(`unknown alert channel kind "${String(kind)}"`, 'use webhook, slack or email', false);
  if (v === '') throw bad(`the ${label(kind)} is empty`, URL_HINT, true);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw bad(`the ${label(kind)} is not an absolute URL`, URL_HINT, true);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw bad(`the ${label(kind)} must start with https:// (not ${u.protocol}//)`, URL_HINT, true);
  }
  if (!u.hostname) throw bad(`the ${label(kind)} has no host`, URL_HINT, true);
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname.toLowerCase())) {
    throw bad(`the ${label(kind)} must use https:// (http:// is allowed for loopback hosts only)`, URL_HINT, true);
  }
  if (u.username || u.password) {
    throw bad(`the ${label(kind)} must not contain a user name or password`, 'remove the user:password@ part; webhooks authenticate with the secret in their path or query', true);
  }
  u.hash = '';
  return u.href;
}

function parseEmail(v: string): string {
  if (v === '') throw bad('the e-mail address is empty', EMAIL_HINT, false);
  if (v.length > MAX_EMAIL) throw bad(`the e-mail address is too long (${v.length} characters; at most ${MAX_EMAIL})`, EMAIL_HINT, false);
  if (/\s/.test(v)) throw bad('the e-mail address contains a space', EMAIL_HINT, false);
  const parts = v.split('@');
  if (parts.length !== 2) throw bad(`"${v}" is not an e-mail address: it must contain exactly one @`, EMAIL_HINT, false);
  const [local, domain] = parts as [string, string];
  if (!local) throw bad(`"${v}" is not an e-mail address: nothing before the @`, EMAIL_HINT, false);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(domain)) {
    throw bad(`"${v}" is not an e-mail address: "${domain}" is not a domain`, EMAIL_HINT, false);
  }
  if (/[<>(),;:"[\]\\]/.test(local)) throw bad(`"${v}" is not a plain e-mail address`, EMAIL_HINT, false);
  return `${local}@${domain.toLowerCase()}`;
}

/**
 * A target as shown to people (lists, history, messages): webhook `https://host/…`, slack
 * `https://hooks.slack.com/services/…` (host and first path segment), email as is.
 */
export function maskTarget(kind: AlertChannelKind, target: string): string {
  if (kind === 'email') return target;
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    return '…';
  }
  const base = `${u.protocol}//${u.host}`;
  if (kind === 'slack') {
    // Slack's "/services/…": the first segment only when it is a plain word (a relay's may be its key).
    const first = u.pathname.split('/').find((s) => s !== '');
    return first !== undefined && /^[a-z]{1,12}$/.test(first) ? `${base}/${first}/…` : `${base}/…`;
  }
  return `${base}/…`;
}

/** Shortest path or query registered on its own: shorter ones (`/api`) are not secrets, and masking them everywhere would garble logs. */
const MIN_SECRET_PART = 12;

/**
 * The target as unsealed for use (delivery): the same string, after registering the secret parts
 * of a URL — the whole URL, and its path+query and query when long enough to be a secret — with
 * the redactor. Call it every time a target is unsealed; `deliver` does too.
 */
export function useTarget(kind: AlertChannelKind, target: string): string {
  if (kind === 'email') return target;
  registerSecret(target);
  try {
    const u = new URL(target);
    for (const part of [`${u.pathname}${u.search}`, u.search.slice(1)]) {
      if (part.length >= MIN_SECRET_PART) registerSecret(part);
    }
  } catch {
    // Not a URL (an old or corrupt record): the whole string is registered above.
  }
  return target;
}
