/**
 * The "Get API" URL a user copies from Rakuten's reporting UI, parsed and validated.
 * Only Rakuten's reporting host over https is accepted unless RAKUTEN_ALLOWED_HOSTS adds
 * `host:port` entries (tests, the demo simulator): the connector must not become a way to
 * fetch arbitrary addresses.
 */
import { hostsSetting } from '../util/config.js';
import { ConnectorError, type ErrorField } from '../util/errors.js';
import { registerSecret } from '../util/secrets.js';

export const REPORTING_HOST = 'ran-reporting.rakutenmarketing.com';

/** Shorter than this is a copying mistake, and could not be masked safely. */
export const MIN_TOKEN_LENGTH = 8;

export type DateType = 'transaction' | 'process';

export interface ReportSource {
  /** scheme://host[:port] */
  origin: string;
  lang: string;
  reportKey: string;
  token: string;
  tz: string;
  dateType: DateType;
  dateFormat: string;
  network?: string;
  includeSummary: boolean;
  /** A preset such as this-month; ignored for requests (the connector sets dates itself). */
  dateRange?: string;
  /** Any other query parameters, passed through as given. */
  extraParams: [string, string][];
}

export const SUPPORTED_DATE_FORMATS = ['m/d/yy', 'm/d/yyyy', 'm-d-yy', 'm-d-yyyy', 'yyyy-mm-dd', 'd/m/yy', 'd/m/yyyy'];

const KNOWN_PARAMS = new Set([
  'start_date', 'end_date', 'include_summary', 'tz', 'date_type', 'date_format', 'token', 'network', 'date_range',
]);

function fail(message: string, hint: string, field: ErrorField): never {
  throw new ConnectorError('config', message, { hint, field });
}

export function allowedHosts(env: NodeJS.ProcessEnv = process.env): Set<string> {
  return hostsSetting('RAKUTEN_ALLOWED_HOSTS', env);
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Skip the allow-list: for showing a saved connector. The allow-list guards fetching, never
   * displaying (a connector saved against the demo simulator must still be listed).
   */
  display?: boolean;
}

/** Parse a "Get API" URL. Throws ConnectorError('config') with a specific message and hint. */
export function parseReportUrl(input: string, opts: ParseOptions = {}): ReportSource {
  const text = input.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail('not a URL', 'paste the whole URL from "Get API" in Rakuten reporting, starting with https://', 'url');
  }
  // A fragment is never sent to the server; kept, it would swallow a `&token=` appended later.
  url.hash = '';
  const token = url.searchParams.get('token') ?? '';
  if (token) registerSecret(token);

  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail(`unsupported URL scheme "${url.protocol.replace(':', '')}"`, 'the API URL starts with https://', 'url');
  }
  if (!opts.display) checkHostAllowed(url, opts.env);
  const m = /^\/([A-Za-z]{2}(?:[-_][A-Za-z]{2})?)\/reports\/([^/]+)\/filters\/?$/.exec(url.pathname);
  if (!m) {
    fail(
      'the URL has no /<lang>/reports/<report-key>/filters path',
      'copy the URL from "Get API" on a saved report: it looks like https://ran-reporting.rakutenmarketing.com/en/reports/<report-key>/filters?…&token=…',
      'url',
    );
  }
  if (!token) fail('the URL has no token', 'copy the whole URL from "Get API": it ends with &token=…', 'token');
  let reportKey: string;
  try {
    reportKey = decodeURIComponent(m[2]!);
  } catch {
    fail('the report key in the URL has a malformed %-escape', 'copy the URL from "Get API" again, unchanged', 'reportKey');
  }

  const dateType = (url.searchParams.get('date_type') ?? 'transaction').toLowerCase();
  if (dateType !== 'transaction' && dateType !== 'process') {
    fail(`unknown date_type "${dateType}"`, 'use date_type=transaction or date_type=process', 'url');
  }
  const dateFormat = url.searchParams.get('date_format') ?? 'm/d/yy';
  if (!SUPPORTED_DATE_FORMATS.includes(dateFormat.toLowerCase())) {
    fail(`unsupported date_format "${dateFormat}"`, `use one of ${SUPPORTED_DATE_FORMATS.join(', ')}`, 'url');
  }
  const tz = url.searchParams.get('tz') ?? 'GMT';
  if (!isValidTimeZone(tz)) fail(`unknown time zone tz="${tz}"`, 'use GMT or an IANA zone such as America/New_York', 'url');
  const includeSummary = (url.searchParams.get('include_summary') ?? 'N').toUpperCase() === 'Y';
  if (token.length < MIN_TOKEN_LENGTH) {
    fail(`the token is too short (${token.length} characters) to be a Rakuten API token`, 'copy the whole URL from "Get API": the token is the long value after token=', 'token');
  }

  return {
    origin: url.origin,
    lang: m[1]!,
    reportKey,
    token,
    tz,
    dateType,
    dateFormat: dateFormat.toLowerCase(),
    network: url.searchParams.get('network') || undefined,
    includeSummary,
    dateRange: url.searchParams.get('date_range') ?? undefined,
    extraParams: [...url.searchParams.entries()].filter(([k]) => !KNOWN_PARAMS.has(k)),
  };
}

/** Throws unless the URL's host is Rakuten's reporting host (https) or in RAKUTEN_ALLOWED_HOSTS. */
export function checkHostAllowed(url: URL, env: NodeJS.ProcessEnv = process.env): void {
  const hostPort = url.port ? `${url.hostname}:${url.port}`.toLowerCase() : url.hostname.toLowerCase();
  const extra = allowedHosts(env);
  const isRakuten = url.hostname.toLowerCase() === REPORTING_HOST && (url.port === '' || url.port === '443');
  const isAllowed = extra.has(hostPort) || (url.port === '' && extra.has(`${url.hostname.toLowerCase()}:${url.protocol === 'https:' ? 443 : 80}`));
  if (!isRakuten && !isAllowed) {
    fail(
      `not a Rakuten reporting host: ${url.port ? `${url.hostname}:${url.port}` : url.hostname}`,
      `the API URL must point to https://${REPORTING_HOST}/ (other hosts can be allowed with RAKUTEN_ALLOWED_HOSTS=host:port)`,
      'url',
    );
  }
  if (isRakuten && !isAllowed && url.protocol !== 'https:') {
    fail('the API URL must use https', `use https://${REPORTING_HOST}/…`, 'url');
  }
}

/** Build a report URL from a key and token (the "two fields" form of setup). */
export function sourceFromKey(reportKey: string, token: string, base = `https://${REPORTING_HOST}`, lang = 'en'): string {
  if (!reportKey.trim()) fail('the report key is empty', 'copy it from the report URL: …/reports/<report-key>/filters', 'reportKey');
  if (!token.trim()) fail('the token is empty', 'copy it from the "Get API" URL: the value after token=', 'token');
  const u = new URL(`${base.replace(/\/$/, '')}/${lang}/reports/${encodeURIComponent(reportKey.trim())}/filters`);
  u.searchParams.set('include_summary', 'N');
  u.searchParams.set('tz', 'GMT');
  u.searchParams.set('date_type', 'transaction');
  u.searchParams.set('token', token.trim());
  return u.toString();
}

/** The URL for one request: our own dates, no preset, no summary unless the report insists. */
export function requestUrl(src: ReportSource, startDate: string, endDate: string): string {
  const u = new URL(`${src.origin}/${src.lang}/reports/${encodeURIComponent(src.reportKey)}/filters`);
  const p = u.searchParams;
  p.set('start_date', startDate);
  p.set('end_date', endDate);
  p.set('include_summary', 'N');
  p.set('tz', src.tz);
  p.set('date_type', src.dateType);
  p.set('date_format', src.dateFormat);
  if (src.network !== undefined) p.set('network', src.network);
  for (const [k, v] of src.extraParams) p.append(k, v);
  p.set('token', src.token);
  return u.toString();
}

/** The source as a URL with the token masked, for display. */
export function displayUrl(src: ReportSource, mask: (t: string) => string): string {
  return requestUrl(src, 'START', 'END').replace(encodeURIComponent(src.token), mask(src.token))
    .replace('start_date=START&end_date=END&', '');
}

export function isValidTimeZone(tz: string): boolean {
  if (/^(GMT|UTC)$/i.test(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
