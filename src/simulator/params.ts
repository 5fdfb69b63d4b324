// Validation of report requests. Errors mirror the real API's JSON shape and
// never echo the token.
import type { DateType } from './data.js';
import { DATE_RANGES, isDateFormat, isoDay, namedRange, parseIsoDay, type DateFormat } from './dates.js';
import type { SimAccount, SimReport } from './fixtures.js';
import type { SimState } from './state.js';

export interface ReportRequest {
  token: string;
  account: SimAccount;
  reportKey: string;
  report: SimReport;
  from: number;
  to: number;
  dateType: DateType;
  dateFormat: DateFormat;
  includeSummary: boolean;
}

export interface ApiError {
  status: number;
  code: string;
  message: string;
}

export const MAX_RANGE_DAYS = 366;

const err = (status: number, code: string, message: string): ApiError => ({ status, code, message });

/** Token from ?token=, or (convenience) an Authorization: Bearer header. */
export function tokenOf(url: URL, authorization: string | undefined): string {
  const q = url.searchParams.get('token');
  if (q) return q;
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m ? (m[1] as string) : '';
}

export function parseReportRequest(
  state: SimState,
  url: URL,
  reportKey: string,
  authorization: string | undefined,
): ReportRequest | ApiError {
  const q = url.searchParams;
  const token = tokenOf(url, authorization);
  if (!token) return err(401, 'INVALID_TOKEN', 'Missing access token.');
  const account = state.account(token);
  if (!account) return err(401, 'INVALID_TOKEN', 'The access token is invalid or has expired.');
  const report = account.reports[reportKey];
  if (!report) return err(404, 'REPORT_NOT_FOUND', `Report "${reportKey}" was not found for this account.`);

  const dateType = q.get('date_type') ?? 'transaction';
  if (dateType !== 'transaction' && dateType !== 'process')
    return err(400, 'INVALID_DATE_TYPE', 'date_type must be "transaction" or "process".');

  const dateFormat = q.get('date_format') ?? 'm/d/yy';
  if (!isDateFormat(dateFormat))
    return err(400, 'INVALID_DATE_FORMAT', 'date_format must be one of m/d/yy, m/d/yyyy, m-d-yy, yyyy-mm-dd, d/m/yy.');

  const summary = (q.get('include_summary') ?? 'N').toUpperCase();
  if (summary !== 'Y' && summary !== 'N') return err(400, 'INVALID_PARAMETER', 'include_summary must be Y or N.');

  const start = q.get('start_date');
  const end = q.get('end_date');
  let from: number;
  let to: number;
  if (start === null && end === null) {
    const name = q.get('date_range');
    if (name === null) return err(400, 'INVALID_DATE_RANGE', 'start_date and end_date (YYYY-MM-DD) are required.');
    const r = namedRange(name, state.today());
    if (!r) return err(400, 'INVALID_DATE_RANGE', `date_range must be one of ${DATE_RANGES.join(', ')}.`);
    ({ from, to } = r);
  } else {
    if (start === null || end === null) return err(400, 'INVALID_DATE_RANGE', 'Both start_date and end_date are required.');
    const f = parseIsoDay(start);
    const t = parseIsoDay(end);
    if (f === null || t === null) return err(400, 'INVALID_DATE_RANGE', 'Dates must be valid YYYY-MM-DD dates.');
    from = f;
    to = t;
  }
  if (to < from) return err(400, 'INVALID_DATE_RANGE', 'end_date must not be before start_date.');
  if (to - from + 1 > MAX_RANGE_DAYS)
    return err(400, 'INVALID_DATE_RANGE', `The date range must not exceed ${MAX_RANGE_DAYS} days.`);

  return { token, account, reportKey, report, from, to, dateType, dateFormat, includeSummary: summary === 'Y' };
}

export const isApiError = (x: ReportRequest | ApiError): x is ApiError => 'code' in x;

export const startIso = (r: ReportRequest): string => isoDay(r.from);
