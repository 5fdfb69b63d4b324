/**
 * How an alert is worded. One function, `alertMessage`, turns an event and what is known about it
 * into a title (a Slack line, an e-mail subject) and a plain-text body: what happened in plain
 * words, how to fix it ("How to fix: …"), and when. Every string passes through `redact`
 * (src/util/secrets.ts), so a report token or a webhook URL quoted by an error never goes out.
 */
import type { AlertEvent } from '../warehouse/types.js';
import { redact } from '../util/secrets.js';

export interface AlertInfo {
  /** The connector the alert is about; null for a test alert or one about no connector. */
  connector: string | null;
  /** What went wrong, in plain words (e.g. an error's message). */
  reason?: string;
  /** The fix (e.g. an error's hint). */
  hint?: string;
  /** The last successful sync (ISO), null when there was none. */
  lastSuccessAt?: string | null;
  /** The freshness limit in hours (stale/fresh). */
  limitHours?: number;
  /** When it happened (ISO). */
  at: string;
  /** Where to look: the `serve` dashboard's URL. */
  dashboardUrl?: string;
}

export interface AlertMessage {
  event: AlertEvent;
  connector: string | null;
  title: string;
  text: string;
  at: string;
  details: Record<string, unknown>;
}

const PRODUCT = 'rakuten-connector';

/** Whole hours from `from` to `to` (ISO), rounded down; null when either is missing or unparsable. */
function hoursBetween(from: string | null | undefined, to: string): number | null {
  if (!from) return null;
  const a = Date.parse(from);
  const b = Date.parse(to);
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  return Math.max(0, Math.floor((b - a) / 3_600_000));
}

function staleTitlePart(hours: number | null, limitHours: number | undefined): string {
  const since = hours === null ? 'no successful sync yet' : `no successful sync for ${hours} h`;
  return limitHours === undefined ? `(${since})` : `(${since}; limit ${limitHours} h)`;
}

interface Wording {
  title: string;
  /** Said when `info.reason` is absent. */
  what: string;
  /** Said when `info.hint` is absent; null: no fix line. */
  fix: string | null;
}

function wording(event: AlertEvent, info: AlertInfo, hours: number | null): Wording {
  const who = info.connector !== null ? `"${info.connector}"` : null;
  const subject = who ?? 'a connector';
  const lead = `${PRODUCT}: `;
  switch (event) {
    case 'failed':
      return {
        title: `${lead}${who ? `${who} sync failed` : 'a sync failed'}`,
        what: `The sync of ${subject} failed.`,
        fix: 'look at the run\'s error in `rakuten-connector status` or the dashboard, fix its cause, then sync again (the next scheduled run retries by itself).',
      };
    case 'recovered':
      return {
        title: `${lead}${who ? `${who} recovered` : 'a connector recovered'}`,
        what: `The sync of ${subject} succeeded again after failing.`,
        fix: null,
      };
    case 'stale':
      return {
        title: `${lead}${who ? `${who} data is stale` : 'data is stale'} ${staleTitlePart(hours, info.limitHours)}`,
        what: hours === null
          ? `${cap(subject)} has had no successful sync yet${info.limitHours !== undefined ? ` (its freshness limit is ${info.limitHours} h)` : ''}, so the warehouse has no data from it.`
          : `${cap(subject)} has had no successful sync for ${hours} h${info.limitHours !== undefined ? ` (its freshness limit is ${info.limitHours} h)` : ''}, so the warehouse is missing recent data.`,
        fix: 'check that the schedule is running (`rakuten-connector serve` or your cron job) and that the last syncs did not fail; `rakuten-connector sync` catches up.',
      };
    case 'fresh':
      return {
        title: `${lead}${who ? `${who} is fresh again` : 'data is fresh again'}`,
        what: `${cap(subject)} synced successfully and is within its freshness limit again.`,
        fix: null,
      };
    case 'token_rejected':
      return {
        title: `${lead}${who ? `${who}: the Rakuten token was rejected` : 'the Rakuten token was rejected'}`,
        what: `Rakuten refused the API token of ${subject}: it was revoked, regenerated or mistyped.`,
        fix: 'copy the current report URL ("Get API") or token from Rakuten Advertising and update the connector (`rakuten-connector edit`); syncs fail until then.',
      };
    case 'test':
      return {
        title: `${lead}test alert`,
        what: 'This is a test alert: this channel receives rakuten-connector alerts.',
        fix: null,
      };
    default:
      return { title: `${lead}${String(event)}`, what: `Event "${String(event)}".`, fix: null };
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function redactDeep(v: unknown): unknown {
  if (typeof v === 'string') return redact(v);
  if (Array.isArray(v)) return v.map(redactDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x)]));
  return v;
}

/** The alert for `event`: title, text and machine-readable details, all redacted. */
export function alertMessage(event: AlertEvent, info: AlertInfo): AlertMessage {
  const hours = hoursBetween(info.lastSuccessAt, info.at);
  const w = wording(event, info, hours);
  const reason = info.reason?.trim() || undefined;
  const hint = info.hint?.trim() || undefined;
  const lines = [event === 'test' && !reason ? w.what : `What happened: ${reason ?? w.what}`];
  const fix = hint ?? w.fix;
  if (fix) lines.push(`How to fix: ${fix}`);
  lines.push(`When: ${info.at}`);
  if (info.lastSuccessAt !== undefined && event !== 'test') {
    lines.push(`Last successful sync: ${info.lastSuccessAt ?? 'never'}`);
  }
  if (info.dashboardUrl) lines.push(`Dashboard: ${info.dashboardUrl}`);
  const details: Record<string, unknown> = {};
  if (reason !== undefined) details.reason = reason;
  if (hint !== undefined) details.hint = hint;
  if (info.lastSuccessAt !== undefined) details.lastSuccessAt = info.lastSuccessAt;
  if (hours !== null) details.hoursSinceSuccess = hours;
  if (info.limitHours !== undefined) details.limitHours = info.limitHours;
  if (info.dashboardUrl) details.dashboardUrl = info.dashboardUrl;
  return {
    event,
    connector: info.connector,
    title: redact(w.title),
    text: redact(lines.join('\n')),
    at: info.at,
    details: redactDeep(details) as Record<string, unknown>,
  };
}
