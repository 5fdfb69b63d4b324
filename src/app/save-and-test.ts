/**
 * Save & Test: every check a user needs before a connector is saved, each with a fix hint.
 * The test request is a short recent range (yesterday and today in the report's time zone):
 * it proves the host answers, the token is accepted, the answer is the CSV report, the
 * columns are there and the rows parse.
 */
import { DEFAULT_TEST_DEADLINE_MS, formatDuration, type RequestOptions } from '../rakuten/client.js';
import { parseReportUrl, type ReportSource } from '../rakuten/url.js';
import { addDays, todayIn } from '../util/days.js';
import { ConnectorError } from '../util/errors.js';
import { redact } from '../util/secrets.js';
import { fetchWindow } from '../sync/fetch-window.js';
import { withRetry } from '../sync/retry.js';

export type CheckId = 'url' | 'reachable' | 'token' | 'report' | 'csv' | 'columns' | 'data';

export interface Check {
  id: CheckId;
  label: string;
  /** null: not run because an earlier check failed. */
  ok: boolean | null;
  detail: string;
  hint?: string;
}

export interface TestReport {
  ok: boolean;
  checks: Check[];
  warnings: string[];
  /** Rows read from the test range (when the data check ran). */
  sampleRows?: number;
  source?: ReportSource;
}

const LABELS: Record<CheckId, string> = {
  url: 'API URL is a Rakuten report URL',
  reachable: 'Rakuten reporting answers',
  token: 'token accepted',
  report: 'report found',
  csv: 'answer is the CSV report',
  columns: 'report has the required columns',
  data: 'rows can be read exactly',
};

const ORDER: CheckId[] = ['url', 'reachable', 'token', 'report', 'csv', 'columns', 'data'];

/** Which check an error fails; the checks before it passed. */
const FAILS: Partial<Record<ConnectorError['kind'], CheckId>> = {
  config: 'url', network: 'reachable', timeout: 'reachable', auth: 'token', not_found: 'report', bad_request: 'report',
  server: 'csv', rate_limited: 'csv', not_csv: 'csv', truncated: 'csv', columns: 'columns', data: 'data',
};

export async function saveAndTestChecks(input: string | ReportSource, opts: { request?: RequestOptions; now?: Date } = {}): Promise<TestReport> {
  const warnings: string[] = [];
  let source: ReportSource;
  try {
    source = typeof input === 'string' ? parseReportUrl(input) : input;
  } catch (e) {
    return finish('url', e, warnings);
  }
  if (source.dateRange) warnings.push(`date_range=${source.dateRange} is ignored: the connector requests each day itself`);
  if (source.includeSummary) warnings.push('include_summary=Y is ignored: the connector asks for the report without summary lines');
  const end = todayIn(source.tz, opts.now);
  // Process-date rows carry earlier transaction dates: only a one-day request assigns them a day.
  const start = source.dateType === 'process' ? end : addDays(end, -1);
  let rows = 0;
  // Whatever the server does (hangs, trickles a byte a second, sends gigabytes), the user gets an
  // answer within the test deadline: it bounds every attempt and the wait between them.
  const deadlineMs = opts.request?.testDeadlineMs ?? DEFAULT_TEST_DEADLINE_MS;
  const overall = new AbortController();
  const timer = setTimeout(() => overall.abort(new ConnectorError('timeout', `Save & Test gave up after ${formatDuration(deadlineMs)}: Rakuten did not send the test report in time`, {
    hint: 'Rakuten may be slow right now: try Save & Test again later',
  })), deadlineMs);
  const outer = opts.request?.signal;
  const onOuterAbort = () => overall.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  /** The last attempt got a CSV answer: a timeout after that is about the body, not about reaching Rakuten. */
  let answered = false;
  try {
    // One quick retry for a passing hiccup; a user is waiting for the answer.
    await withRetry({ maxAttempts: 2, baseMs: 500, maxMs: 2000 }, async () => {
      rows = 0;
      answered = false;
      await fetchWindow({
        source, start, end, format: 'rows',
        request: { headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, ...opts.request, signal: overall.signal },
        onHeader: (m) => {
          if (m.extra.length) warnings.push(`extra columns will be kept as JSON in _extra: ${m.extra.map((x) => x.name).join(', ')}`);
          if (m.duplicates.length) warnings.push(`duplicate columns ignored: ${m.duplicates.join(', ')}`);
        },
      }, async (body) => {
        answered = true;
        for await (const batch of body.batches) rows += batch.length;
      });
    }, { signal: overall.signal });
  } catch (e) {
    const kind = (e as ConnectorError).kind;
    const failed = kind === 'timeout' && answered ? 'csv' : FAILS[kind] ?? 'csv';
    return { ...finish(failed, e, warnings), source };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
  return {
    ok: true,
    checks: ORDER.map((id) => ({ id, label: LABELS[id], ok: true, detail: id === 'data' ? `${rows} rows for ${start}..${end}` : 'ok' })),
    warnings,
    sampleRows: rows,
    source,
  };
}

function finish(failed: CheckId, err: unknown, warnings: string[]): TestReport {
  const at = ORDER.indexOf(failed);
  const e = err instanceof ConnectorError ? err : new ConnectorError('internal', err instanceof Error ? err.message : String(err));
  const checks = ORDER.map((id, i): Check => {
    if (i < at) return { id, label: LABELS[id], ok: true, detail: 'ok' };
    if (i === at) return { id, label: LABELS[id], ok: false, detail: redact(e.message), hint: e.hint ? redact(e.hint) : undefined };
    return { id, label: LABELS[id], ok: null, detail: 'not checked' };
  });
  // A 404 says nothing about the token: do not claim it passed.
  if (failed === 'report') checks[ORDER.indexOf('token')] = { id: 'token', label: LABELS.token, ok: null, detail: 'not checked (the report was not found)' };
  return { ok: false, checks, warnings };
}
