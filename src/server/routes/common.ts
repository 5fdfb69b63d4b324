/**
 * What every API route module (src/server/routes/*.ts) shares: the server context they are
 * registered with, reading a JSON body or a query through its zod schema (400 { errors } when it
 * does not parse), the connector a path names (404 when there is none), and the Save & Test
 * answer without its secret. Split from api.ts so each resource's routes stand alone.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import type { App } from '../../app/app.js';
import type { TestReport } from '../../app/save-and-test.js';
import type { RequestOptions } from '../../rakuten/client.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { ConnectorRecord } from '../../warehouse/types.js';
import type { AccessOptions } from '../access.js';
import { API_BODY_LIMIT } from '../guards.js';
import { HttpError } from '../respond.js';
import type { SyncRunner } from '../runner.js';
import { fieldErrors, NAME_RE } from '../validate.js';

export interface ServerContext extends AccessOptions {
  app: App;
  scheduler: Scheduler;
  runner: SyncRunner;
  /** Request options for Save & Test (timeouts). */
  request?: () => RequestOptions;
}

const MAX_BODY = API_BODY_LIMIT;

export async function readJson<S extends z.ZodTypeAny>(c: Context, schema: S, more?: (raw: unknown) => Record<string, string>): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  // JSON only, even when empty: a cross-site HTML form cannot send it.
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, { body: 'send JSON (Content-Type: application/json)' });
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, { body: `the request body is too large (at most ${MAX_BODY / 1024} KiB)` });
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new HttpError(413, { body: `the request body is too large (at most ${MAX_BODY / 1024} KiB)` });
  let raw: unknown = {};
  if (text.trim()) {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpError(400, { body: 'the request body is not valid JSON' });
    }
  }
  const r = schema.safeParse(raw);
  const errors = { ...(more?.(raw) ?? {}), ...(r.success ? {} : fieldErrors(r.error)) };
  if (!r.success || Object.keys(errors).length) throw new HttpError(400, errors);
  return r.data;
}

export function readQuery<S extends z.ZodTypeAny>(c: Context, schema: S): z.infer<S> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) throw new HttpError(400, fieldErrors(r.error));
  return r.data;
}

/** The saved connector a path or query names; 404 when there is none. */
export async function mustGet(app: App, name: string): Promise<ConnectorRecord> {
  const rec = NAME_RE.test(name) ? await app.find(name) : undefined;
  if (!rec) throw new HttpError(404, { name: `no connector named "${name}"` });
  return rec;
}

/** Save & Test answer for the browser: the parsed source (with the token) stays here. */
export function publicReport(r: TestReport): Omit<TestReport, 'source'> {
  const { source: _source, ...rest } = r;
  return rest;
}
