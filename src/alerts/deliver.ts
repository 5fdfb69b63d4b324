/**
 * How an alert reaches a channel.
 *
 * - webhook: POST of the message as JSON `{ event, connector, title, text, at, details }`.
 * - slack: POST of `{ text: "*title*\ntext" }`, the incoming-webhook format Slack, Mattermost and
 *   others accept (`&`, `<`, `>` escaped as Slack asks).
 * - email: one plain-text mail (subject = title) through the SMTP server of RAKUTEN_SMTP_URL
 *   (`smtp://user:pass@host:587`, `smtps://…:465` for TLS from the start), from RAKUTEN_ALERT_FROM.
 *
 * Webhooks never follow redirects (a 3xx fails: following one would send the alert, and whatever
 * the URL's secret protects, to a host nobody configured). 2xx is sent; 4xx fails at once, except
 * 429; 5xx, network errors and timeouts are retried `attempts` times with exponential backoff.
 * Every error text is redacted: never a webhook's path or query, never the SMTP password.
 */
import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import type { AlertChannelKind } from '../warehouse/types.js';
import { secretSetting, textSetting } from '../util/config.js';
import { registerSecret, redact } from '../util/secrets.js';
import { maskTarget, useTarget } from './channels.js';
import type { AlertMessage } from './messages.js';

export interface DeliveryOptions {
  /** Per attempt (ms); default 10 000. */
  timeoutMs?: number;
  /** Tries in all; default 3. */
  attempts?: number;
  /** First retry delay (ms), doubled each retry; default 1000. */
  baseDelayMs?: number;
  /** RAKUTEN_SMTP_URL's value: needed for email channels. */
  smtpUrl?: string;
  /** The sender (RAKUTEN_ALERT_FROM); default `rakuten-connector@<hostname>`. */
  from?: string;
}

export interface DeliveryChannel {
  id: string;
  kind: AlertChannelKind;
  /** The plain (unsealed) target. */
  target: string;
  connector: string | null;
}

export interface DeliveryResult {
  status: 'sent' | 'failed';
  attempts: number;
  /** Why it failed (redacted), or null. */
  error: string | null;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_BASE_DELAY_MS = 1000;
const USER_AGENT = 'rakuten-connector';

/** The default sender: `rakuten-connector@<hostname>`. */
export function defaultAlertFrom(): string {
  return `rakuten-connector@${hostname() || 'localhost'}`;
}

/** The delivery settings (RAKUTEN_SMTP_URL, RAKUTEN_ALERT_FROM), validated (throws ConfigError). */
export function alertDeliveryOptions(env: NodeJS.ProcessEnv = process.env): DeliveryOptions {
  const smtpUrl = secretSetting('RAKUTEN_SMTP_URL', env)?.trim();
  if (smtpUrl) registerSmtpSecrets(smtpUrl);
  return { smtpUrl, from: textSetting('RAKUTEN_ALERT_FROM', env) ?? defaultAlertFrom() };
}

/** One attempt's outcome: `retry` says whether another attempt may succeed. */
type Attempt = { ok: true } | { ok: false; retry: boolean; error: string };

/** Sends `msg` to the channel; never throws (the result says what happened). */
export async function deliver(channel: DeliveryChannel, msg: AlertMessage, opts: DeliveryOptions = {}): Promise<DeliveryResult> {
  const attempts = Math.max(1, Math.floor(opts.attempts ?? DEFAULT_ATTEMPTS));
  const baseDelayMs = Math.max(0, opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
  const timeoutMs = Math.max(1, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const target = useTarget(channel.kind, channel.target);
  const secrets = channel.kind === 'email' ? smtpSecrets(opts.smtpUrl) : [target];
  const once = (): Promise<Attempt> => {
    switch (channel.kind) {
      case 'webhook':
        return postJson(channel.kind, target, webhookBody(msg), timeoutMs);
      case 'slack':
        return postJson(channel.kind, target, slackBody(msg), timeoutMs);
      case 'email':
        return sendMail(target, msg, opts, timeoutMs);
      default:
        return Promise.resolve({ ok: false, retry: false, error: `unknown channel kind "${String(channel.kind)}"` });
    }
  };
  let last: Attempt = { ok: false, retry: false, error: 'not attempted' };
  for (let n = 1; n <= attempts; n++) {
    try {
      last = await once();
    } catch (e) {
      last = { ok: false, retry: false, error: `internal error: ${errorText(e)}` };
    }
    if (last.ok) return { status: 'sent', attempts: n, error: null };
    if (!last.retry || n === attempts) {
      return { status: 'failed', attempts: n, error: scrub(last.error, secrets) };
    }
    await sleep(baseDelayMs * 2 ** (n - 1));
  }
  return { status: 'failed', attempts, error: scrub(last.ok ? 'failed' : last.error, secrets) };
}

/** The webhook JSON body. */
export function webhookBody(msg: AlertMessage): Record<string, unknown> {
  return { event: msg.event, connector: msg.connector, title: msg.title, text: msg.text, at: msg.at, details: msg.details };
}

/** The Slack incoming-webhook body: the title in bold, then the text. */
export function slackBody(msg: AlertMessage): { text: string } {
  return { text: `*${slackEscape(msg.title)}*\n${slackEscape(msg.text)}` };
}

function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function postJson(kind: AlertChannelKind, url: string, body: unknown, timeoutMs: number): Promise<Attempt> {
  const shown = maskTarget(kind, url);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal,
    });
  } catch (e) {
    if (signal.aborted) return { ok: false, retry: true, error: `${shown} did not answer within ${timeoutMs} ms` };
    return { ok: false, retry: true, error: `${shown} could not be reached: ${errorText(e)}` };
  }
  // The body is not needed; reading a little of it frees the connection and gives an error some context.
  const excerpt = await readExcerpt(res);
  const s = res.status;
  if (s >= 200 && s < 300) return { ok: true };
  const said = excerpt ? `: ${JSON.stringify(excerpt)}` : '';
  if (s >= 300 && s < 400) {
    return { ok: false, retry: false, error: `${shown} answered ${s} (a redirect): webhooks never follow redirects; use the final URL` };
  }
  if (s === 429) return { ok: false, retry: true, error: `${shown} answered 429 (too many requests)${said}` };
  if (s >= 400 && s < 500) return { ok: false, retry: false, error: `${shown} answered ${s}${said}` };
  return { ok: false, retry: true, error: `${shown} answered ${s}${said}` };
}

async function readExcerpt(res: Response): Promise<string> {
  try {
    const text = await res.text();
    return text.replace(/\s+/g, ' ').trim().slice(0, 200);
  } catch {
    return '';
  }
}

async function sendMail(to: string, msg: AlertMessage, opts: DeliveryOptions, timeoutMs: number): Promise<Attempt> {
  if (!opts.smtpUrl) {
    return { ok: false, retry: false, error: 'e-mail alerts need an SMTP server: set RAKUTEN_SMTP_URL (smtp://user:pass@host:587, or smtps://… for TLS)' };
  }
  const shown = maskSmtpUrl(opts.smtpUrl);
  if (!shown) return { ok: false, retry: false, error: 'RAKUTEN_SMTP_URL is not an smtp:// or smtps:// URL' };
  registerSmtpSecrets(opts.smtpUrl);
  // `url` is parsed by nodemailer (smtps: TLS from the start; user:pass: AUTH); a per-attempt timeout on every phase.
  // A password is never sent in clear: smtp:// with a login needs STARTTLS (unless on this machine).
  const u = new URL(opts.smtpUrl);
  const requireTLS = u.protocol === 'smtp:' && u.password !== '' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  // The phases' timeouts do not bound the whole: a server that answers each command just in time
  // could hold an attempt for minutes. The attempt as a whole gets `timeoutMs` too: its signal
  // makes nodemailer close the connection, so a mail given up on before the end of its DATA is
  // not sent later anyway (one given up on while the server acknowledges it may arrive twice).
  const transport = nodemailer.createTransport({ url: opts.smtpUrl, requireTLS, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs });
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await transport.sendMail({ from: opts.from ?? defaultAlertFrom(), to, subject: msg.title, text: msg.text, signal });
    return { ok: true };
  } catch (e) {
    if (signal.aborted) return { ok: false, retry: true, error: `sending mail through ${shown} did not finish within ${timeoutMs} ms` };
    const err = e as { code?: string; responseCode?: number };
    // A permanent SMTP answer (5xx) or a refused login will not change on retry.
    const permanent = (err.responseCode !== undefined && err.responseCode >= 500) || err.code === 'EAUTH' || err.code === 'EENVELOPE';
    return { ok: false, retry: !permanent, error: `sending mail through ${shown} failed: ${errorText(e)}` };
  } finally {
    transport.close();
  }
}

/** `smtp://user:…@host:port`: the password never shown. Null when not an smtp(s) URL. */
export function maskSmtpUrl(smtpUrl: string): string | null {
  try {
    const u = new URL(smtpUrl);
    if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') return null;
    const user = u.username ? `${decodeSafe(u.username)}${u.password ? ':…' : ''}@` : '';
    return `${u.protocol}//${user}${u.host}`;
  } catch {
    return null;
  }
}

/** The strings of an SMTP URL that must never be shown: the URL itself, its password (raw and decoded). */
function smtpSecrets(smtpUrl: string | undefined): string[] {
  if (!smtpUrl) return [];
  const out = [smtpUrl];
  try {
    const u = new URL(smtpUrl);
    if (u.password) out.push(u.password, decodeSafe(u.password));
  } catch {
    // Not a URL: the whole value is the secret.
  }
  return out;
}

function registerSmtpSecrets(smtpUrl: string): void {
  for (const s of smtpSecrets(smtpUrl)) registerSecret(s);
}

/** Redacted, and each secret replaced even when too short for the redactor (< 4 characters). */
function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s) out = out.split(s).join('…');
  }
  return redact(out);
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  const code = (e as { code?: string }).code;
  let text = e.message;
  if (cause instanceof Error && !text.includes(cause.message)) text += ` (${cause.message})`;
  else if (code && !text.includes(code)) text += ` (${code})`;
  return text;
}

function decodeSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}
