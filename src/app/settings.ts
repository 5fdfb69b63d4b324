/**
 * A connector's settings, one schema for every way in: the CLI flags (`add --start-date …`), the
 * HTTP API's JSON and what the App saves. Each rule lives here once, so `add --schedule 'not a
 * cron'` is refused from the CLI exactly as from the web form, and no path can plan 45,991
 * windows from `--start-date 0001-01-01`.
 */
import { z } from 'zod';
import { scheduleError } from '../scheduler/cron.js';
import { addDays, isIsoDay, todayIn } from '../util/days.js';
import { ConnectorError, type ErrorField } from '../util/errors.js';
import { isValidTimeZone } from '../rakuten/url.js';
import type { ConnectorSettings } from '../warehouse/types.js';

/** No affiliate data is older; earlier is a typo that would plan tens of thousands of windows. */
export const MIN_DAY = '2000-01-01';
export const LOOKBACK_DAYS = { min: 0, max: 365 } as const;
export const WINDOW_DAYS = { min: 1, max: 31 } as const;

/** A connector's name: what `add --name` and the API's `name` accept. */
export const CONNECTOR_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const CONNECTOR_NAME_HINT = 'use letters, digits, "-", "_" or "." (up to 63 characters), starting with a letter or digit';

/** The error about a connector name that is not one, or null when it is fine. */
export function nameError(name: string | undefined): ConnectorError | null {
  if (CONNECTOR_NAME_RE.test(name ?? '')) return null;
  return new ConnectorError('config', `invalid connector name "${name ?? ''}"`, { hint: CONNECTOR_NAME_HINT, field: 'name' });
}

/** A report time zone (the URL's `tz`): GMT, UTC or an IANA zone. */
export const timeZoneSchema = z
  .string({ invalid_type_error: 'pick a time zone' })
  .trim()
  .max(64, 'unknown time zone')
  .refine((tz) => isValidTimeZone(tz), 'unknown time zone: use GMT or an IANA zone such as America/New_York');

const wholeMsg = (r: { min: number; max: number }) => `use a whole number from ${r.min} to ${r.max}`;

/** The latest day any report time zone can call today. */
function latestToday(): string {
  return addDays(todayIn('UTC'), 1);
}

/** An ISO day from MIN_DAY to today (a backfill or a start date cannot begin in the future). */
export const daySchema = z
  .string({ invalid_type_error: 'use a date as YYYY-MM-DD' })
  .trim()
  .refine(isIsoDay, 'use a date as YYYY-MM-DD')
  .refine((d) => !isIsoDay(d) || (d >= MIN_DAY && d <= latestToday()), () => ({ message: `use a day from ${MIN_DAY} to today` }));

const whole = (r: { min: number; max: number }) =>
  z.number({ invalid_type_error: wholeMsg(r) }).int(wholeMsg(r)).min(r.min, wholeMsg(r)).max(r.max, wholeMsg(r));

export const lookbackDaysSchema = whole(LOOKBACK_DAYS);
/** Up to a year; null (not set): the schedule's rule (src/app/freshness.ts). */
export const STALE_AFTER_HOURS = { min: 1, max: 8760 } as const;
export const staleAfterHoursSchema = whole(STALE_AFTER_HOURS).nullable();
export const windowDaysSchema = whole(WINDOW_DAYS);

/** A 5-field cron expression in the report's time zone; '' = manual syncs only. */
export const cronSchema = z
  .string({ invalid_type_error: 'a schedule is a cron expression' })
  .max(100, 'too long')
  .superRefine((v, ctx) => {
    const err = scheduleError(v);
    if (err) ctx.addIssue({ code: z.ZodIssueCode.custom, message: err });
  })
  .transform((v) => v.trim().split(/\s+/).join(' '));

/** ISO 4217 codes this Node knows (its ICU data), sorted; a 3-letter pattern if it knows none. */
export const CURRENCY_CODES: readonly string[] = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('currency') : [];
const KNOWN_CURRENCIES: ReadonlySet<string> = new Set(CURRENCY_CODES);
export const CURRENCY_HINT = 'use an ISO 4217 currency code such as USD, GBP, EUR, CAD or AUD';

/** Is this an ISO 4217 code (upper case)? */
function isCurrencyCode(c: string): boolean {
  return /^[A-Z]{3}$/.test(c) && (KNOWN_CURRENCIES.size === 0 || KNOWN_CURRENCIES.has(c));
}

/** A connector's currency: an ISO 4217 code, any case ("gbp" is GBP). */
export const currencySchema = z
  .string({ invalid_type_error: CURRENCY_HINT })
  .trim()
  .transform((c) => c.toUpperCase())
  .refine(isCurrencyCode, CURRENCY_HINT);

export const connectorSettingsSchema = z
  .object({
    startDate: daySchema,
    lookbackDays: lookbackDaysSchema,
    windowDays: windowDaysSchema,
    schedule: cronSchema,
    paused: z.boolean({ invalid_type_error: 'true or false' }),
    currency: currencySchema,
    staleAfterHours: staleAfterHoursSchema,
  })
  .strict();

/** How each setting is named in messages. */
export const SETTING_LABELS: Record<keyof ConnectorSettings, string> = {
  startDate: 'start date',
  lookbackDays: 'lookback days',
  windowDays: 'window days',
  schedule: 'schedule',
  paused: 'paused',
  currency: 'currency',
  staleAfterHours: 'stale after hours',
};

/** The error about one setting (its field is the setting: the HTTP API answers under that name). */
export function settingError(key: keyof ConnectorSettings, value: unknown, hint: string): ConnectorError {
  const field: ErrorField | undefined = Object.hasOwn(SETTING_LABELS, key) ? key : undefined;
  return new ConnectorError('config', `invalid ${SETTING_LABELS[key] ?? String(key)} ${JSON.stringify(value)}`, { hint, field });
}

/** Whole settings, validated; a ConnectorError('config') naming the first bad one. */
export function validateSettings(s: ConnectorSettings): ConnectorSettings {
  const r = connectorSettingsSchema.safeParse(s);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = issue.path[0] as keyof ConnectorSettings;
  throw settingError(key, (s as unknown as Record<string, unknown>)[key], issue.message);
}

/** A backfill range: two ISO days from MIN_DAY on, in order, starting by today (a later end is cut to today). */
export function validateRange(range: { from: string; to: string }): void {
  for (const d of [range.from, range.to]) {
    if (!isIsoDay(d)) throw new ConnectorError('config', `invalid date "${d}"`, { hint: 'use YYYY-MM-DD', field: 'from' });
    if (d < MIN_DAY) throw new ConnectorError('config', `invalid date "${d}"`, { hint: `use a day from ${MIN_DAY} on`, field: 'from' });
  }
  if (range.from > latestToday()) throw new ConnectorError('config', `invalid date "${range.from}": it is in the future`, { hint: 'a backfill starts today or earlier', field: 'from' });
  if (range.from > range.to) throw new ConnectorError('config', '--from is after --to', { hint: 'swap the dates', field: 'from' });
}

/** Problems with the settings a user gave (before any network check): [setting, message] pairs. */
export function settingsInputProblems(input: Partial<ConnectorSettings>): [keyof ConnectorSettings, string][] {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const r = connectorSettingsSchema.partial().safeParse(given);
  if (r.success) return [];
  return r.error.issues.map((i) => [i.path[0] as keyof ConnectorSettings, i.message]);
}
