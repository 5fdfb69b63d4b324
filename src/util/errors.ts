/**
 * Error kinds the sync engine acts on. `retryable` errors are retried with backoff; the others
 * stop a sync at once. `hint` tells the user how to fix it.
 */
export type ErrorKind =
  | 'config' // bad URL, bad option
  | 'auth' // token rejected
  | 'not_found' // unknown report
  | 'bad_request' // bad dates or parameters
  | 'columns' // report lacks required columns
  | 'data' // malformed CSV row
  | 'not_csv' // HTML page or JSON where CSV was expected
  | 'rate_limited'
  | 'server' // 5xx
  | 'network' // connection refused/reset, DNS
  | 'timeout'
  | 'truncated'
  | 'busy' // another sync holds the connector / warehouse
  | 'internal';

/**
 * The input an error is about, for a form to show it under that field (the HTTP API answers
 * 400 { errors: { [field]: message } }; without a field it is the URL's).
 */
export type ErrorField = 'startDate' | 'lookbackDays' | 'windowDays' | 'schedule' | 'paused' | 'currency' | 'staleAfterHours' | 'token' | 'reportKey' | 'name' | 'from' | 'url';

const RETRYABLE: ReadonlySet<ErrorKind> = new Set(['rate_limited', 'server', 'network', 'timeout', 'truncated', 'not_csv']);

export class ConnectorError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  /** Seconds the server asked us to wait (429 Retry-After). */
  readonly retryAfterSec?: number;
  /** The input this error is about, when it is about one (an own property only then). */
  declare readonly field?: ErrorField;
  constructor(kind: ErrorKind, message: string, opts: { hint?: string; retryAfterSec?: number; field?: ErrorField } = {}) {
    super(message);
    this.name = 'ConnectorError';
    this.kind = kind;
    this.hint = opts.hint;
    this.retryAfterSec = opts.retryAfterSec;
    if (opts.field !== undefined) this.field = opts.field;
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }
}

/** The same error, said to be about `field` (unless it already names one); anything else as is. */
export function aboutField(err: unknown, field: ErrorField): unknown {
  if (!(err instanceof ConnectorError) || err.field !== undefined) return err;
  const e = new ConnectorError(err.kind, err.message, { hint: err.hint, retryAfterSec: err.retryAfterSec, field });
  if (err.stack) e.stack = err.stack;
  return e;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ConnectorError ? err.retryable : false;
}

/** Message with its fix, as shown to a user. */
export function describeError(err: unknown): string {
  if (err instanceof ConnectorError) return err.hint ? `${err.message} (${err.hint})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
