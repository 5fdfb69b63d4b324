/**
 * The bad-input catalogue: every mistake a user or Rakuten can make, run through the real CLI,
 * with the exact message the user sees. docs/BAD_INPUTS.md is generated from these very cases
 * (and this test fails when it drifts): RAKUTEN_WRITE_DOCS=1 node --import tsx --test test/bad-inputs.test.ts
 *
 * URL and account mistakes go to the simulator; malformed bodies come from a small hand-written
 * node:http server whose report key picks the body.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ACME_TOKEN, CANONICAL_HEADERS, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { ROOT, runCli, type CliResult } from './helpers/cli.js';
import { readReport } from '../src/rakuten/report-reader.js';
import { CsvParser } from '../src/rakuten/csv.js';
import { COLUMN_INDEX, LOADED_COLUMNS, type ReportRow } from '../src/model/schema.js';
import { Rng } from '../src/simulator/prng.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const yesterday = addDays(today, -1);
const TOKEN = 'tok_badinputs_0000111122223333';
const HEADER = CANONICAL_HEADERS.join(',');

/** A valid report row of `day` (m/d/yy) with cells overridden by header name. */
function row(day: string, over: Record<string, string> = {}): string {
  const [y, m, d] = day.split('-');
  const cells: Record<string, string> = {
    'Transaction Date': `${+m!}/${+d!}/${y!.slice(2)}`, '# of Impressions': '100', '# of Clicks': '10', '# of Orders': '1',
    'Gross Commissions': '1.00', 'Total Commission': '1.10', Sales: '10.00', 'Order ID': `O-${day}`, 'Sub-Publisher ID': '',
    'Sub-Publisher Name': '', 'Sub-Publisher URL': '', 'Publisher Group ID': '1', 'Publisher Group Name': 'G', 'Publisher ID': '42',
    'Publisher Name': 'Pub', 'Publisher URL': 'https://p.example', 'Offer ID': '7', 'Offer Name': 'Offer', 'Link ID': '9', 'Link Name': 'Link',
    ...over,
  };
  return CANONICAL_HEADERS.map((h) => cells[h]).join(',');
}

interface Answer {
  status?: number;
  type?: string;
  body: string | Buffer;
  /** Drop the connection after sending the body (no proper end). */
  cut?: boolean;
  /** Send the body gzip-compressed (whether asked or not), or as corrupt gzip. */
  gzip?: 'ok' | 'corrupt';
  /** Send the body one byte every this many ms. */
  trickleMs?: number;
}

/** Days on which the `daily` report holds a malformed row. */
const brokenDays = new Set<string>();

/** What the hand-written server answers for report key `key` (day = start_date of the request). */
const BODIES: Record<string, (day: string) => Answer> = {
  daily: (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n${brokenDays.has(d) ? row(d, { Sales: '"10,00"' }) : row(d)}\r\n` }),
  ok: (d) => ({ body: `\uFEFF${HEADER}\r\n${row(d)}\r\n` }),
  'header-only': () => ({ body: `\uFEFF${HEADER}\r\n` }),
  empty: () => ({ body: '' }),
  'no-header': () => ({ body: 'Report Name,Affiliate Report\r\nDate Range,1/1/26 - 1/2/26\r\n' }),
  'not-csv-text': () => ({ body: 'Your report is being generated, please check back later.' }),
  'missing-one': (d) => ({ body: `${HEADER.replace(',Offer Name', '')}\r\n${row(d).replace(',Offer,', ',')}\r\n` }),
  'extra-col': (d) => ({ body: `${HEADER},Currency\r\n${row(d)},USD\r\n` }),
  'duplicate-col': (d) => ({ body: `${HEADER},Sales\r\n${row(d)},10.00\r\n` }),
  'field-count': (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n${row(d)},surplus\r\n` }),
  'open-quote': (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n${row(d, { 'Link Name': '"Link' })}` }),
  'money-grouping': (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n${row(d, { Sales: '"12,34.5"' })}\r\n` }),
  'money-decimals': (d) => ({ body: `${HEADER}\r\n${row(d, { Sales: '12.34567' })}\r\n` }),
  'money-exponent': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Gross Commissions': '1e5' })}\r\n` }),
  'money-text': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Total Commission': 'n/a' })}\r\n` }),
  'money-huge': (d) => ({ body: `${HEADER}\r\n${row(d, { Sales: '123456789012345678.00' })}\r\n` }),
  'count-fraction': (d) => ({ body: `${HEADER}\r\n${row(d, { '# of Clicks': '12.5' })}\r\n` }),
  'count-huge': (d) => ({ body: `${HEADER}\r\n${row(d, { '# of Impressions': '12345678901234567890' })}\r\n` }),
  'date-invalid': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Transaction Date': '13/45/26' })}\r\n` }),
  'date-format': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Transaction Date': '05.01.2026' })}\r\n` }),
  'date-year-first': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Transaction Date': '2026/01/05' })}\r\n` }),
  'date-words': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Transaction Date': '"Jan 5, 2026"' })}\r\n` }),
  'date-outside': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Transaction Date': '1/1/20' })}\r\n` }),
  'huge-field': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Link Name': 'x'.repeat(5 * 1024 * 1024) })}\r\n` }),
  'big-field-ok': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Link Name': `"${'y,'.repeat(1024 * 1024)}"` })}\r\n` }),
  'invalid-utf8': (d) => ({ body: Buffer.concat([Buffer.from(`${HEADER}\r\n${row(d)}\r\n`), Buffer.from(row(d, { 'Publisher Name': 'Caf\u00e9' }), 'latin1'), Buffer.from('\r\n')]) }),
  'nul-byte': (d) => ({ body: `${HEADER}\r\n${row(d, { 'Publisher Name': 'Nul\u0000Byte' })}\r\n` }),
  trickle: (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n`, trickleMs: 100 }),
  'too-large': (d) => ({ body: `${HEADER}\r\n${`${row(d)}\r\n`.repeat(12_000)}` }),
  gzip: (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n`, gzip: 'ok' }),
  'gzip-401': () => ({ status: 401, type: 'application/json', body: '{"errors":[{"code":"INVALID_TOKEN","message":"The access token is invalid or has expired."}]}', gzip: 'ok' }),
  'bad-gzip': (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n`, gzip: 'corrupt' }),
  'html-200': () => ({ type: 'text/html; charset=utf-8', body: '<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>' }),
  'json-200': () => ({ type: 'application/json', body: '{"errors":[{"code":"REPORT_PENDING","message":"Report is being generated"}]}' }),
  'http-500': () => ({ status: 500, type: 'application/json', body: '{"errors":[{"code":"INTERNAL_SERVER_ERROR","message":"An unexpected error occurred."}]}' }),
  'http-400': () => ({ status: 400, type: 'application/json', body: '{"errors":[{"code":"INVALID_PARAMETER","message":"network must be a number."}]}' }),
  truncated: (d) => ({ body: `${HEADER}\r\n${row(d)}\r\n${row(d).slice(0, 40)}`, cut: true }),
  'tricky-ok': (d) => ({
    body: `\uFEFFReport Name,X\r\n\r\n${HEADER}\r\n${row(d, { Sales: '"-$1,045.10"', 'Gross Commissions': '(45.10)', '# of Impressions': '"1,234"', 'Publisher Name': '"  Café ""Ünïcode"", Inc.  "', 'Link Name': '"multi\r\nline"' })}\r\n\r\n`,
  }),
};

interface Case {
  /** What the user tried. */
  input: string;
  /** CLI arguments after the global options; {sim} {bad} {start} are filled in. */
  args: string[];
  /** The message must match (the doc shows the message itself). */
  expect: RegExp;
  code: 0 | 1 | 2;
  group: string;
  /** Environment for this case (on top of the common one). */
  env?: Record<string, string>;
  /** Prepare the case's home first. */
  setup?: (home: string) => void;
}

/** A `secret.key` with these contents (and mode) in the case's home. */
const keyFile = (text: string, mode = 0o600) => (home: string) => writeFileSync(join(home, 'secret.key'), text, { mode });

const simUrl = (report: string, extra = '', token: string = ACME_TOKEN) => `{sim}/en/reports/${report}/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1${extra}&token=${token}`;
const badUrl = (key: string, extra = '') => `{bad}/en/reports/${key}/filters?include_summary=N&tz=GMT&date_type=transaction&network=1${extra}&token=${TOKEN}`;
const add = (url: string, ...more: string[]) => ['add', '--name', 'c', '--url', url, ...more];

const CASES: Case[] = [
  // URL mistakes
  { group: 'URL', input: 'not a URL at all (`hello`)', args: add('hello'), code: 1, expect: /FAIL API URL is a Rakuten report URL: not a URL/ },
  { group: 'URL', input: 'the URL pasted without its scheme', args: add('ran-reporting.rakutenmarketing.com/en/reports/r/filters?token=t'), code: 1, expect: /not a URL/ },
  { group: 'URL', input: 'an ftp:// URL', args: add('ftp://ran-reporting.rakutenmarketing.com/en/reports/r/filters?token=t'), code: 1, expect: /unsupported URL scheme "ftp"/ },
  { group: 'URL', input: 'another host (a phishing look-alike)', args: add('https://ran-reporting.rakutenmarketing.com.evil.example/en/reports/r/filters?token=t'), code: 1, expect: /not a Rakuten reporting host/ },
  { group: 'URL', input: 'Rakuten host over http://', args: add('http://ran-reporting.rakutenmarketing.com/en/reports/r/filters?token=t'), code: 1, expect: /must use https/ },
  { group: 'URL', input: 'the reporting home page instead of a report URL', args: add('https://ran-reporting.rakutenmarketing.com/en/reports?token=t'), code: 1, expect: /no \/<lang>\/reports\/<report-key>\/filters path/ },
  { group: 'URL', input: 'the URL without `&token=…` (cut when copied)', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?tz=GMT'), code: 1, expect: /the URL has no token/ },
  { group: 'URL', input: '`date_type=sale`', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?date_type=sale&token=t'), code: 1, expect: /unknown date_type "sale"/ },
  { group: 'URL', input: '`date_format=dd.mm.yyyy`', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?date_format=dd.mm.yyyy&token=t'), code: 1, expect: /unsupported date_format/ },
  { group: 'URL', input: '`tz=Mars/Olympus`', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?tz=Mars/Olympus&token=t'), code: 1, expect: /unknown time zone/ },
  { group: 'URL', input: 'no URL and no key (`add --name c`)', args: ['add', '--name', 'c'], code: 2, expect: /--url|report-key/ },
  { group: 'URL', input: 'an invalid connector name', args: ['add', '--name', 'my shop!', '--url', simUrl('affiliate-report')], code: 2, expect: /invalid connector name/ },
  { group: 'URL', input: 'a token too short to be one (`token=abc`)', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?token=abc'), code: 1, expect: /the token is too short \(3 characters\)/ },
  { group: 'URL', input: 'a malformed %-escape in the report key', args: add('https://ran-reporting.rakutenmarketing.com/en/reports/r%zz/filters?token=tok_escape_0000000001'), code: 1, expect: /the report key in the URL has a malformed %-escape/ },
  { group: 'URL', input: 'the URL ends in a `#fragment` (dropped; saved and listed)', args: add(`${badUrl('ok')}#section`), code: 0, expect: /ok {3}rows can be read exactly/ },
  // Settings given with the connector: one schema for the CLI and the HTTP API (src/app/settings.ts)
  { group: 'Settings', input: '`--start-date 0001-01-01`', args: add(badUrl('ok'), '--start-date', '0001-01-01'), code: 2, expect: /error: --start-date: use a day from 2000-01-01 to today/ },
  { group: 'Settings', input: '`--start-date` in the future', args: add(badUrl('ok'), '--start-date', '2999-01-01'), code: 2, expect: /error: --start-date: use a day from 2000-01-01 to today/ },
  { group: 'Settings', input: "`--schedule 'not a cron'`", args: add(badUrl('ok'), '--schedule', 'not a cron'), code: 2, expect: /error: --schedule: a schedule is a 5-field cron expression/ },
  { group: 'Settings', input: '`--lookback-days 999`', args: add(badUrl('ok'), '--lookback-days', '999'), code: 2, expect: /error: --lookback-days must be a whole number from 0 to 365, got "999"/ },
  { group: 'Settings', input: '`--currency dollars`', args: add(badUrl('ok'), '--currency', 'dollars'), code: 2, expect: /error: --currency: use an ISO 4217 currency code such as USD, GBP, EUR, CAD or AUD/ },
  // Environment: every variable is checked before any command runs (src/util/config.ts)
  { group: 'Environment', input: '`RAKUTEN_HEADERS_TIMEOUT_MS=abc`', env: { RAKUTEN_HEADERS_TIMEOUT_MS: 'abc' }, args: add(badUrl('ok')), code: 2, expect: /error: RAKUTEN_HEADERS_TIMEOUT_MS="abc": use a whole number from 100 to 7200000/ },
  { group: 'Environment', input: '`RAKUTEN_HEADERS_TIMEOUT_MS=0`', env: { RAKUTEN_HEADERS_TIMEOUT_MS: '0' }, args: add(badUrl('ok')), code: 2, expect: /error: RAKUTEN_HEADERS_TIMEOUT_MS="0": use a whole number from 100 to 7200000/ },
  { group: 'Environment', input: '`RAKUTEN_LEASE_TTL_MS=0`', env: { RAKUTEN_LEASE_TTL_MS: '0' }, args: ['list'], code: 2, expect: /error: RAKUTEN_LEASE_TTL_MS="0": use a whole number from 1000 to 21600000/ },
  { group: 'Environment', input: '`RAKUTEN_MAX_ATTEMPTS=-1`', env: { RAKUTEN_MAX_ATTEMPTS: '-1' }, args: ['list'], code: 2, expect: /error: RAKUTEN_MAX_ATTEMPTS="-1": use a whole number from 1 to 100/ },
  { group: 'Environment', input: '`RAKUTEN_CONNECTOR_KEY` of one character', env: { RAKUTEN_CONNECTOR_KEY: 'k' }, args: ['list'], code: 2, expect: /error: RAKUTEN_CONNECTOR_KEY is too short \(1 character\): use at least 16 characters/ },
  { group: 'Environment', input: '`RAKUTEN_ALLOWED_HOSTS=my laptop`', env: { RAKUTEN_ALLOWED_HOSTS: 'my laptop' }, args: ['list'], code: 2, expect: /error: RAKUTEN_ALLOWED_HOSTS="my laptop": "my laptop" is not host:port/ },
  // The sealing key (src/util/vault.ts): never a weak key, never silently replaced
  { group: 'Key', input: 'an empty `secret.key` (0 bytes, as a full disk used to leave)', setup: keyFile(''), args: ['list'], code: 1, expect: /error: the sealing key <home>\/secret\.key is empty/ },
  { group: 'Key', input: 'a `secret.key` of only whitespace', setup: keyFile('  \n'), args: ['list'], code: 1, expect: /error: the sealing key <home>\/secret\.key is blank/ },
  { group: 'Key', input: 'a truncated `secret.key` (16 bytes of key)', setup: keyFile(`${Buffer.alloc(16, 7).toString('base64')}\n`), args: ['list'], code: 1, expect: /error: the sealing key <home>\/secret\.key is too short: 16 bytes/ },
  { group: 'Key', input: 'a `secret.key` that is not base64', setup: keyFile('this is not a key at all, is it?\n'), args: ['list'], code: 1, expect: /error: the sealing key <home>\/secret\.key is corrupt/ },
  { group: 'Key', input: 'a `secret.key` readable by others (mode 0644)', setup: keyFile(`${Buffer.from('0123456789abcdefghijklmnopqrstuv').toString('base64')}\n`, 0o644), args: ['list'], code: 0, expect: /warn: the sealing key <home>\/secret\.key is accessible by group and others \(mode 0644\)/ },
  // Account mistakes (the simulator answers as Rakuten does)
  { group: 'Account', input: 'wrong or expired token', args: add(simUrl('affiliate-report', '', 'tok_wrong_0000000000000000000099')), code: 1, expect: /FAIL token accepted: Rakuten rejected the token \(HTTP 401\)/ },
  { group: 'Account', input: 'unknown report key', args: add(simUrl('no-such-report')), code: 1, expect: /FAIL report found: Rakuten does not know this report \(HTTP 404\)/ },
  { group: 'Account', input: 'a date_format Rakuten refuses (`m-d-yyyy`)', args: add(simUrl('affiliate-report').replace('m/d/yy', 'm-d-yyyy')), code: 1, expect: /HTTP 400/ },
  { group: 'Account', input: 'a parameter Rakuten refuses', args: add(badUrl('http-400')), code: 1, expect: /Rakuten refused the request \(HTTP 400\): network must be a number/ },
  { group: 'Account', input: 'host allowed but nothing listening', args: add('http://127.0.0.1:9/en/reports/r/filters?token=tok_nobody_listens_01'), code: 1, expect: /FAIL Rakuten reporting answers: network error connecting to Rakuten \(ECONNREFUSED\)/ },
  // Columns
  { group: 'Columns', input: 'report lacks Offer Name and Link ID', args: add(simUrl('missing-cols')), code: 1, expect: /the report is missing columns Offer Name, Link ID/ },
  { group: 'Columns', input: 'report lacks one column', args: add(badUrl('missing-one')), code: 1, expect: /the report is missing column Offer Name/ },
  { group: 'Columns', input: 'an extra column (Currency)', args: add(badUrl('extra-col')), code: 0, expect: /extra columns will be kept as JSON in _extra: Currency/ },
  { group: 'Columns', input: 'a column twice (Sales)', args: add(badUrl('duplicate-col')), code: 0, expect: /duplicate columns ignored: Sales/ },
  // Body shapes
  { group: 'Body', input: 'empty body (0 bytes)', args: add(badUrl('empty')), code: 1, expect: /the response has no report header line/ },
  { group: 'Body', input: 'summary lines but no header', args: add(badUrl('no-header')), code: 1, expect: /the response has no report header line/ },
  { group: 'Body', input: 'a plain-text notice instead of CSV', args: add(badUrl('not-csv-text')), code: 1, expect: /the response has no report header line/ },
  { group: 'Body', input: 'header only, no rows', args: add(badUrl('header-only')), code: 0, expect: /ok {3}rows can be read exactly/ },
  { group: 'Body', input: 'HTML page with HTTP 200 (login / maintenance)', args: add(badUrl('html-200')), code: 1, expect: /Rakuten answered with an HTML page instead of the CSV report/ },
  { group: 'Body', input: 'JSON with HTTP 200', args: add(badUrl('json-200')), code: 1, expect: /Rakuten answered with JSON instead of CSV: Report is being generated/ },
  { group: 'Body', input: 'a report trickling a byte at a time (`RAKUTEN_REQUEST_DEADLINE_MS=2000`)', env: { RAKUTEN_REQUEST_DEADLINE_MS: '2000' }, args: add(badUrl('trickle')), code: 1, expect: /the report did not arrive in full within 2 s \(RAKUTEN_REQUEST_DEADLINE_MS\)/ },
  { group: 'Body', input: 'a report larger than the limit (`RAKUTEN_MAX_REPORT_MB=1`)', env: { RAKUTEN_MAX_REPORT_MB: '1' }, args: add(badUrl('too-large')), code: 1, expect: /is larger than 1 MiB, the limit per request \(RAKUTEN_MAX_REPORT_MB\)/ },
  { group: 'Body', input: 'a gzip-compressed report (sent whether asked or not)', args: add(badUrl('gzip')), code: 0, expect: /ok {3}rows can be read exactly/ },
  { group: 'Body', input: 'a corrupt gzip body', args: add(badUrl('bad-gzip')), code: 1, expect: /the compressed report is corrupt or incomplete/ },
  { group: 'Account', input: 'wrong token, error body gzip-compressed', args: add(badUrl('gzip-401')), code: 1, expect: /FAIL token accepted: Rakuten rejected the token \(HTTP 401\): The access token is invalid or has expired/ },
  { group: 'Body', input: 'HTTP 500 that persists', args: add(badUrl('http-500')), code: 1, expect: /Rakuten server error \(HTTP 500\): An unexpected error occurred/ },
  { group: 'Body', input: 'connection dropped mid-body', args: add(badUrl('truncated')), code: 1, expect: /the connection closed before the report was complete/ },
  { group: 'Body', input: 'body ends inside a quoted field', args: add(badUrl('open-quote')), code: 1, expect: /line 3: the response ended inside a quoted field \(truncated\?\)/ },
  { group: 'Body', input: 'a row with one field too many', args: add(badUrl('field-count')), code: 1, expect: /row 2 \(line 3\) has 21 fields but the header has 20/ },
  { group: 'Body', input: 'invalid UTF-8 (a Latin-1 `é`)', args: add(badUrl('invalid-utf8')), code: 1, expect: /the response is not valid UTF-8 \(after data row 0\)/ },
  { group: 'Body', input: 'a 5 MiB field', args: add(badUrl('huge-field')), code: 1, expect: /line 2: a record is longer than 4194304 bytes/ },
  { group: 'Body', input: 'a 2 MiB quoted field full of commas (allowed)', args: add(badUrl('big-field-ok')), code: 0, expect: /ok {3}rows can be read exactly/ },
  { group: 'Body', input: 'a NUL byte inside a name (refused alike on every warehouse)', args: add(badUrl('nul-byte')), code: 1, expect: /row 1 \(line 2\), column "Publisher Name": the cell contains a NUL byte/ },
  { group: 'Body', input: 'BOM, summary lines, CRLF, blank lines, quotes, `""`, a line break in a cell, `"-$1,045.10"`, `(45.10)`', args: add(badUrl('tricky-ok')), code: 0, expect: /ok {3}rows can be read exactly/ },
  // Values
  { group: 'Values', input: 'money with misplaced separators `"12,34.5"`', args: add(badUrl('money-grouping')), code: 1, expect: /row 2 \(line 3\), column "Sales": "12,34\.5" is not an amount/ },
  { group: 'Values', input: 'money with 5 decimals `12.34567`', args: add(badUrl('money-decimals')), code: 1, expect: /"12\.34567" has more than 4 decimal places/ },
  { group: 'Values', input: 'money in exponent form `1e5`', args: add(badUrl('money-exponent')), code: 1, expect: /column "Gross Commissions": "1e5" is not an amount/ },
  { group: 'Values', input: 'money as text `n/a`', args: add(badUrl('money-text')), code: 1, expect: /column "Total Commission": "n\/a" is not an amount/ },
  { group: 'Values', input: 'money beyond decimal(18,4)', args: add(badUrl('money-huge')), code: 1, expect: /"123456789012345678\.00" is too large/ },
  { group: 'Values', input: 'a fractional count `12.5`', args: add(badUrl('count-fraction')), code: 1, expect: /column "# of Clicks": "12\.5" is not a whole number/ },
  { group: 'Values', input: 'a count beyond bigint', args: add(badUrl('count-huge')), code: 1, expect: /"12345678901234567890" is too large/ },
  { group: 'Values', input: 'an impossible date `13/45/26`', args: add(badUrl('date-invalid')), code: 1, expect: /"13\/45\/26" is not a valid date/ },
  { group: 'Values', input: 'a date in another format `05.01.2026`', args: add(badUrl('date-format')), code: 1, expect: /"05\.01\.2026" is not a date in the format m\/d\/yy/ },
  { group: 'Values', input: 'a year-first date with slashes `2026/01/05`', args: add(badUrl('date-year-first')), code: 1, expect: /"2026\/01\/05" is not a valid date/ },
  { group: 'Values', input: 'a date in words `Jan 5, 2026`', args: add(badUrl('date-words')), code: 1, expect: /"Jan 5, 2026" is not a date in the format m\/d\/yy/ },
  { group: 'Values', input: 'a row dated outside the requested days', args: add(badUrl('date-outside')), code: 1, expect: /Transaction Date 2020-01-01 is outside the requested/ },
];

let sim: Simulator;
let bad: Server;
const hosts: Record<string, string> = {};

before(async () => {
  sim = await startSimulator({ port: 0, rowsPerDay: 5 });
  bad = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const key = /\/reports\/([^/]+)\/filters/.exec(u.pathname)?.[1] ?? '';
    const make = BODIES[key];
    if (!make) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"REPORT_NOT_FOUND","message":"No such report."}]}');
      return;
    }
    const a = make(u.searchParams.get('start_date') ?? today);
    const zipped = a.gzip === 'ok' ? gzipSync(a.body) : a.gzip === 'corrupt' ? Buffer.concat([gzipSync(a.body).subarray(0, 12), Buffer.from('not deflate data at all')]) : null;
    res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'text/csv; charset=utf-8', ...(zipped ? { 'content-encoding': 'gzip' } : {}) });
    if (zipped) {
      res.end(zipped);
      return;
    }
    if (a.trickleMs) {
      const bytes = Buffer.from(a.body);
      let i = 0;
      const timer = setInterval(() => {
        if (i >= bytes.length || res.destroyed) {
          clearInterval(timer);
          res.end();
          return;
        }
        res.write(bytes.subarray(i, ++i));
      }, a.trickleMs);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (a.cut) {
      res.write(a.body, () => res.destroy());
      return;
    }
    res.end(a.body);
  });
  await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
  hosts.sim = sim.url;
  hosts.bad = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
});
after(async () => {
  await sim.close();
  bad.close();
});

const fill = (s: string) => s.replace('{sim}', hosts.sim!).replace('{bad}', hosts.bad!);

function env(home: string) {
  return {
    home,
    env: {
      RAKUTEN_ALLOWED_HOSTS: `${new URL(hosts.sim!).host},${new URL(hosts.bad!).host},127.0.0.1:9`,
      RAKUTEN_HEADERS_TIMEOUT_MS: '3000', RAKUTEN_BODY_TIMEOUT_MS: '3000', RAKUTEN_MAX_ATTEMPTS: '2',
    },
  };
}

/** The lines a user reads: the failing check and its fix, a warning, or the sync error. */
function message(r: CliResult): string {
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const picked: string[] = [];
  lines.forEach((l, i) => {
    if (/^FAIL |^warn |^warn: |^error:|sync failed/.test(l)) {
      picked.push(l);
      if (/^fix:|^hint:/.test(lines[i + 1] ?? '')) picked.push(lines[i + 1]!);
    }
  });
  if (picked.length === 0) picked.push(...lines.filter((l) => /^ok {3}rows can be read exactly/.test(l)));
  return picked.join('\n');
}

/** Stable text for the doc: no ports, no dates that move with the calendar. */
function normalise(s: string): string {
  return s.replaceAll(hosts.sim!, 'http://<simulator>').replaceAll(hosts.bad!, 'http://<server>')
    .replaceAll(today, '<today>').replaceAll(yesterday, '<yesterday>').replace(/\d+ rows for <yesterday>\.\.<today>/g, 'N rows for <yesterday>..<today>');
}

const results = new Map<Case, string>();

test('every bad input gets a clear message and saves nothing', { timeout: 240_000 }, async () => {
  let next = 0;
  // Each case in its own home: Save & Test of one never sees another's state; four at a time.
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < CASES.length) {
      const c = CASES[next++]!;
      const home = tempHome('rc-bad-');
      c.setup?.(home);
      const e = env(home);
      const r = await runCli(c.args.map(fill), { ...e, env: { ...e.env, ...c.env } });
      const msg = message(r).replaceAll(home, '<home>');
      results.set(c, msg);
      assert.equal(r.code, c.code, `${c.input}: exit code\n${r.stdout}\n${r.stderr}`);
      assert.match(msg, c.expect, `${c.input}`);
      assert.doesNotMatch(`${r.stdout}${r.stderr}`, /at .*\.ts:\d+|TypeError|undefined/, `${c.input}: no stack traces or internals`);
      if (c.code !== 0) assert.match(r.stdout + r.stderr, /nothing was saved|error:/, `${c.input}: says nothing was saved`);
    }
  }));
});

let syncMessage = '';

test('a malformed row found during a sync fails that window only, naming row, line and column; the old rows stay', { timeout: 60_000 }, async () => {
  const home = tempHome('rc-bad-');
  const e = env(home);
  const from = addDays(today, -3);
  assert.equal((await runCli(add(fill(badUrl('daily')), '--start-date', from), e)).code, 0);
  assert.equal((await runCli(['sync', 'c'], e)).code, 0);
  brokenDays.add(yesterday);
  const r = await runCli(['sync', 'c', '--from', yesterday, '--to', yesterday], e);
  brokenDays.clear();
  syncMessage = message(r);
  assert.equal(r.code, 1);
  assert.match(syncMessage, /sync failed: row 2 \(line 3\), column "Sales": "10,00" is not an amount/);
  const db = await openWarehouse(`duckdb:${join(home, 'warehouse.duckdb')}`, home);
  try {
    const t = await db.warehouse.dayTotals('c', from, today);
    assert.deepEqual(t.map((d) => [d.rows, d.sales]), [[2, '20.0000'], [2, '20.0000'], [2, '20.0000'], [2, '20.0000']], 'every day as before');
  } finally {
    await db.close();
  }
});

test('docs/BAD_INPUTS.md lists exactly these cases and messages', () => {
  const cell = (m: string) => normalise(m).replace(/\|/g, '\\|').split('\n').map((l) => `\`${l}\``).join('<br>');
  const rows = CASES.map((c) => {
    const outcome = c.code === 0 ? 'accepted' : c.code === 2 ? 'usage error (exit 2)' : 'refused, nothing saved (exit 1)';
    return `| ${c.group} | ${c.input} | \`${c.args[0]}\` | ${outcome} | ${cell(results.get(c) ?? '(not run)')} |`;
  });
  rows.push(`| Sync | a malformed row on one day of a saved connector | \`sync\` | that window fails, its old rows stay (exit 1) | ${cell(syncMessage || '(not run)')} |`);
  const table = ['| | input | command | outcome | what the user sees |', '|---|---|---|---|---|', ...rows].join('\n');
  const path = join(ROOT, 'docs', 'BAD_INPUTS.md');
  const doc = readFileSync(path, 'utf8');
  const re = /<!-- cases:start -->[\s\S]*<!-- cases:end -->/;
  const block = `<!-- cases:start -->\n${table}\n<!-- cases:end -->`;
  if (process.env.RAKUTEN_WRITE_DOCS) writeFileSync(path, doc.replace(re, () => block));
  else assert.equal(doc.match(re)?.[0], block, 'docs/BAD_INPUTS.md is out of date: RAKUTEN_WRITE_DOCS=1 node --import tsx --test test/bad-inputs.test.ts');
});

/*
 * The reader has two forms (`rows`: row arrays for PostgreSQL/ClickHouse; `canonical-csv`: CSV bytes
 * for DuckDB) with byte-level fast paths in front of the string parsers. On fuzzed reports full of
 * edge cases, split into random chunks, both outputs must hold the same rows — or fail with the
 * same message.
 */
const FUZZ_TEXT = ['abc', '', ' padded ', 'x, y', 'say "hi"', 'line\nbreak', 'cr\ronly', '\u00a0nbsp', 'end\u3000', '日本のクーポン', '🎉', '\ufeffbom', '\t tab', 'a"b', 'tr\u2009', '\u0001ctl', 'é'];
const FUZZ_COUNT = ['0', '12', '-3', '1,234', '"1,234"', '12.00', '', ' 7 ', '0123', '123456789012345678', '-0', '"-1,000"'];
const FUZZ_MONEY = ['12.50', '-45.10', '$9.99', '-$1,045.10', '"$1,234.56"', '(45.10)', 'USD 12.00', '12.5 €', '12.340000', '', ' ', '$-12.00', '-0.00', '99999999999999.9999'];
const FUZZ_DATE = ['1/5/26', '01/05/26', '2026-01-05', '', '1/5/2026', ' 1/5/26 '];
/** Invalid cells, rare: each case fails on one of them, or not at all. */
const FUZZ_BAD = ['12.5', '1,2345', 'x', '12.34567', '1e5', '1,23.00', '13/45/26', '1/6/26', '-', '$', '"a"b', '123456789012345678901'];

function fuzzReport(rng: Rng): { chunks: Uint8Array[]; start: string; end: string } {
  const headers: string[] = rng.chance(0.3) ? rng.shuffle(CANONICAL_HEADERS) : [...CANONICAL_HEADERS];
  if (rng.chance(0.3)) headers.push('Currency', 'Note');
  const eol = rng.pick(['\r\n', '\n', '\r']);
  const quote = (v: string) => (v.startsWith('"') ? v : /[",\r\n]/.test(v) || rng.chance(0.15) ? `"${v.replace(/"/g, '""')}"` : v);
  let text = (rng.chance(0.5) ? '\uFEFF' : '') + headers.join(',') + eol;
  for (let r = rng.int(8); r > 0; r--) {
    text += headers.map((h) => rng.chance(0.004) ? rng.pick(FUZZ_BAD)
      : quote(/Date/.test(h) ? rng.pick(FUZZ_DATE) : /# of/.test(h) ? rng.pick(FUZZ_COUNT) : /Commission|Sales/.test(h) ? rng.pick(FUZZ_MONEY) : rng.pick(FUZZ_TEXT))).join(',') + eol;
  }
  const bytes = Buffer.from(text);
  const chunks: Uint8Array[] = [];
  const size = rng.pick([1, 3, 17, 4096]);
  for (let i = 0; i < bytes.length;) {
    const n = 1 + rng.int(size * 2);
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  return { chunks, start: '2026-01-05', end: rng.chance(0.3) ? '2026-01-06' : '2026-01-05' };
}

async function viaRows(chunks: Uint8Array[], start: string, end: string): Promise<string> {
  const rows: ReportRow[] = [];
  try {
    for await (const b of readReport((async function* () { yield* chunks; })(), { dateFormat: 'm/d/yy', dateType: 'transaction', start, end }, 'rows').batches) rows.push(...b);
    return JSON.stringify(rows);
  } catch (e) {
    return String((e as Error).message);
  }
}

async function viaCsv(chunks: Uint8Array[], start: string, end: string): Promise<string> {
  const rows: ReportRow[] = [];
  try {
    const text: Buffer[] = [];
    let columns: readonly string[] = [];
    let day: string | null = null;
    for await (const p of readReport((async function* () { yield* chunks; })(), { dateFormat: 'm/d/yy', dateType: 'transaction', start, end }, 'canonical-csv').parts) {
      text.push(...p.chunks.map((c) => Buffer.from(c)));
      columns = p.columns;
      day = p.day;
    }
    const parser = new CsvParser((f) => {
      const r: ReportRow = new Array(LOADED_COLUMNS.length).fill(null);
      f.forEach((v, i) => (r[COLUMN_INDEX[columns[i] as keyof typeof COLUMN_INDEX]] = v === '' ? null : v));
      r[COLUMN_INDEX._date] = day ?? r[COLUMN_INDEX.transaction_date]!;
      rows.push(r);
    });
    parser.push(Buffer.concat(text).toString('utf8'));
    parser.end();
    return JSON.stringify(rows);
  } catch (e) {
    return String((e as Error).message);
  }
}

test('row arrays and canonical CSV agree on fuzzed reports (values and errors)', async () => {
  const rng = new Rng(20261127);
  let withRows = 0;
  for (let i = 0; i < 1500; i++) {
    const { chunks, start, end } = fuzzReport(rng);
    const a = await viaRows(chunks, start, end);
    const b = await viaCsv(chunks, start, end);
    assert.equal(b, a, `case ${i}`);
    if (a.startsWith('[[')) withRows++;
  }
  assert.ok(withRows > 100, 'many cases parse to rows');
});
