/**
 * Every input the HTTP API accepts, as zod schemas. A failed parse becomes
 * 400 { errors: { field: message } }: one plain message per field, what the form shows under it.
 */
import { z } from 'zod';
import { CONNECTOR_NAME_HINT, CONNECTOR_NAME_RE, cronSchema, currencySchema, daySchema, lookbackDaysSchema, staleAfterHoursSchema, timeZoneSchema, windowDaysSchema } from '../app/settings.js';
import { isIsoDay } from '../util/days.js';

export { timeZoneSchema };
/** The connector name rule is the App's (src/app/settings.ts). */
export const NAME_RE = CONNECTOR_NAME_RE;
const NAME_MSG = CONNECTOR_NAME_HINT;

/** '' and whitespace-only strings count as "not given" (an empty form field). */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
/** "30" from a form field is 30. */
const digitsToNumber = (v: unknown) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : blankToUndefined(v));

const optText = (max: number, what: string) =>
  z.preprocess(blankToUndefined, z.string({ invalid_type_error: `${what} must be text` }).trim().max(max, `${what} is too long (at most ${max} characters)`).optional());

const isoDay = z.string({ invalid_type_error: 'use a date as YYYY-MM-DD' }).refine(isIsoDay, 'use a date as YYYY-MM-DD');

/** A form's "30" is 30; the rule itself is the App's (src/app/settings.ts). */
const formNumber = (schema: z.ZodNumber) => z.preprocess(digitsToNumber, schema.optional());

export const scheduleSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('daily'), time: z.string({ required_error: 'give a time as HH:MM' }).regex(/^([01]?\d|2[0-3]):[0-5]\d$/, 'use a time as HH:MM, from 00:00 to 23:59') }).strict(),
  z.object({ type: z.literal('hourly') }).strict(),
  z.object({ type: z.literal('manual') }).strict(),
  z.object({
    type: z.literal('cron'),
    cron: cronSchema,
  }).strict(),
], { errorMap: (issue, ctx) => (issue.code === 'invalid_union_discriminator' ? { message: 'choose daily, hourly, manual or cron' } : { message: ctx.defaultError }) });

const settingsFields = {
  url: optText(4096, 'the URL'),
  reportKey: optText(200, 'the report key'),
  token: optText(500, 'the token'),
  timeZone: z.preprocess(blankToUndefined, timeZoneSchema.optional()),
  lookbackDays: formNumber(lookbackDaysSchema),
  windowDays: formNumber(windowDaysSchema),
  startDate: z.preprocess(blankToUndefined, daySchema.optional()),
  schedule: scheduleSchema.optional(),
  paused: z.boolean({ invalid_type_error: 'true or false' }).optional(),
  /** ISO 4217; not given: the URL's network's (the form is asked for it when the network has none). */
  currency: z.preprocess(blankToUndefined, currencySchema.optional()),
  /** Hours without a successful sync before the connector is stale; null: the schedule's rule. */
  staleAfterHours: z.preprocess(digitsToNumber, staleAfterHoursSchema.optional()),
};

export const createConnectorSchema = z
  .object({
    name: z.string({ required_error: 'give the connector a name', invalid_type_error: 'give the connector a name' }).trim()
      .min(1, 'give the connector a name').regex(NAME_RE, NAME_MSG),
    ...settingsFields,
    /** Adopt the rows an earlier connector of this name left in the warehouse (else such a name is refused). */
    adoptData: z.boolean({ invalid_type_error: 'true or false' }).optional(),
    /** Start the first sync in the background once saved (FIRST_SYNC_DEFAULT when not given). */
    sync: z.boolean({ invalid_type_error: 'true or false' }).optional(),
  })
  .strict();

/**
 * Whether POST /api/connectors starts the first sync when its body has no `sync` field (a paused
 * connector's only when `sync` is true). The web app's setup form always sends `sync` (its box
 * "Start the first sync now"). True, as Save & Test does in the web app: an API client that creates
 * a connector and then calls …/sync itself sends `sync: false` (otherwise …/sync answers 409 while
 * the first sync runs).
 */
export const FIRST_SYNC_DEFAULT = true;

/**
 * The URL, or the report key and the token: checked on the raw body, so these errors come
 * together with every other field's (a zod refinement would wait for the rest to pass).
 */
export function sourceErrors(raw: unknown, creating: boolean): Record<string, string> {
  if (typeof raw !== 'object' || raw === null) return {};
  const given = (k: string) => {
    const v = (raw as Record<string, unknown>)[k];
    return typeof v === 'string' && v.trim() !== '';
  };
  if (given('url') && (given('reportKey') || given('token'))) return { url: 'give the "Get API" URL, or the report key and the token — not both' };
  if (!creating || given('url')) return {};
  if (!given('reportKey') && !given('token')) return { url: 'paste the "Get API" URL from Rakuten reporting (or give the report key and the token)' };
  if (!given('reportKey')) return { reportKey: 'give the report key too: it is in the report URL, …/reports/<report-key>/filters' };
  if (!given('token')) return { token: 'give the token too: it is the value after token= in the "Get API" URL' };
  return {};
}

export const updateConnectorSchema = z.object(settingsFields).strict();

export const parseUrlSchema = z.object({ url: z.string({ required_error: 'paste the "Get API" URL' }).trim().min(1, 'paste the "Get API" URL').max(4096, 'the URL is too long') }).strict();

export const backfillSchema = z
  .object({ from: isoDay, to: isoDay })
  .strict()
  .superRefine((b, ctx) => {
    if (isIsoDay(b.from) && isIsoDay(b.to) && b.from > b.to) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['to'], message: 'must be on or after the first day' });
  });

export const emptySchema = z.object({}).strict();

export const deleteQuerySchema = z.object({ dropData: z.enum(['true', 'false', '1', '0'], { errorMap: () => ({ message: 'true or false' }) }).optional() }).strict();

export const chartQuerySchema = z
  .object({
    connector: z.string().regex(NAME_RE, NAME_MSG).optional(),
    days: z.preprocess(digitsToNumber, z.number({ invalid_type_error: 'use a whole number of days' }).int('use a whole number of days').min(1, 'from 1 to 366 days').max(366, 'from 1 to 366 days').optional()),
    top: z.preprocess(digitsToNumber, z.number().int().min(1, 'from 1 to 50').max(50, 'from 1 to 50').optional()),
  })
  .strict();

export const limitQuerySchema = z.object({ limit: z.preprocess(digitsToNumber, z.number({ invalid_type_error: 'use a whole number' }).int().min(1, 'from 1 to 200').max(200, 'from 1 to 200').optional()) }).strict();

export type CreateConnectorBody = z.infer<typeof createConnectorSchema>;
export type UpdateConnectorBody = z.infer<typeof updateConnectorSchema>;

/** zod issues → { field: first message }. */
export function fieldErrors(err: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of err.issues) {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      for (const k of issue.keys) out[[...issue.path, k].join('.')] ??= 'unknown field';
      continue;
    }
    const field = issue.path.join('.') || 'body';
    out[field] ??= issue.message;
  }
  return out;
}
