import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReportUrl, requestUrl, sourceFromKey } from '../src/rakuten/url.js';
import { ConnectorError } from '../src/util/errors.js';
import { maskToken, redact, registerSecret, safeError } from '../src/util/secrets.js';

const TOKEN = 'abcdef0123456789secret99';
const GOOD = `https://ran-reporting.rakutenmarketing.com/en/reports/my-report-key/filters?start_date=2026-01-01&end_date=2026-01-31&include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${TOKEN}`;
const noEnv = {} as NodeJS.ProcessEnv;

function configError(url: string, env = noEnv): ConnectorError {
  try {
    parseReportUrl(url, { env: env });
  } catch (e) {
    assert.ok(e instanceof ConnectorError);
    assert.equal(e.kind, 'config');
    assert.ok(e.hint, 'every URL error has a fix hint');
    return e;
  }
  assert.fail(`expected ${url} to be rejected`);
}

test('parses a Get API URL', () => {
  const s = parseReportUrl(GOOD, { env: noEnv });
  assert.equal(s.origin, 'https://ran-reporting.rakutenmarketing.com');
  assert.equal(s.lang, 'en');
  assert.equal(s.reportKey, 'my-report-key');
  assert.equal(s.token, TOKEN);
  assert.equal(s.tz, 'GMT');
  assert.equal(s.dateType, 'transaction');
  assert.equal(s.dateFormat, 'm/d/yy');
  assert.equal(s.includeSummary, false);
});

test('accepts date_range presets, network, fr, process dates and summary', () => {
  const s = parseReportUrl(`https://ran-reporting.rakutenmarketing.com/fr/reports/k/filters?date_range=this-month&include_summary=Y&tz=America/New_York&date_type=process&network=1&token=${TOKEN}`, { env: noEnv });
  assert.equal(s.lang, 'fr');
  assert.equal(s.dateRange, 'this-month');
  assert.equal(s.network, '1');
  assert.equal(s.dateType, 'process');
  assert.equal(s.includeSummary, true);
  const req = new URL(requestUrl(s, '2026-02-03', '2026-02-03'));
  assert.equal(req.searchParams.get('start_date'), '2026-02-03');
  assert.equal(req.searchParams.get('end_date'), '2026-02-03');
  assert.equal(req.searchParams.get('date_range'), null, 'the preset is dropped');
  assert.equal(req.searchParams.get('include_summary'), 'N');
  assert.equal(req.searchParams.get('network'), '1');
  assert.equal(req.searchParams.get('tz'), 'America/New_York');
});

test('specific errors for each URL mistake', () => {
  assert.match(configError('ran-reporting.rakutenmarketing.com/en/reports/k/filters').message, /not a URL/);
  assert.match(configError(`http://ran-reporting.rakutenmarketing.com/en/reports/k/filters?token=${TOKEN}`).message, /https/);
  assert.match(configError(`https://evil.example.com/en/reports/k/filters?token=${TOKEN}`).message, /not a Rakuten reporting host/);
  assert.match(configError(`https://ran-reporting.rakutenmarketing.com/en/dashboard?token=${TOKEN}`).message, /\/reports\/<report-key>\/filters/);
  assert.match(configError('https://ran-reporting.rakutenmarketing.com/en/reports/k/filters?tz=GMT').message, /no token/);
  assert.match(configError(`https://ran-reporting.rakutenmarketing.com/en/reports/k/filters?date_type=click&token=${TOKEN}`).message, /date_type/);
  assert.match(configError(`https://ran-reporting.rakutenmarketing.com/en/reports/k/filters?date_format=dd.mm.yyyy&token=${TOKEN}`).message, /date_format/);
  assert.match(configError(`https://ran-reporting.rakutenmarketing.com/en/reports/k/filters?tz=Mars/Olympus&token=${TOKEN}`).message, /time zone/);
  assert.match(configError(`ftp://ran-reporting.rakutenmarketing.com/en/reports/k/filters?token=${TOKEN}`).message, /scheme/);
});

test('RAKUTEN_ALLOWED_HOSTS admits extra host:port entries, over http too', () => {
  const env = { RAKUTEN_ALLOWED_HOSTS: '127.0.0.1:8787, sim.local:9000' } as NodeJS.ProcessEnv;
  assert.equal(parseReportUrl(`http://127.0.0.1:8787/en/reports/k/filters?token=${TOKEN}`, { env: env }).origin, 'http://127.0.0.1:8787');
  configError(`http://127.0.0.1:8788/en/reports/k/filters?token=${TOKEN}`, env);
  configError(`http://169.254.169.254/en/reports/k/filters?token=${TOKEN}`, env);
});

test('report key + token form builds the same source', () => {
  const s = parseReportUrl(sourceFromKey('my-report-key', TOKEN), { env: noEnv });
  assert.equal(s.reportKey, 'my-report-key');
  assert.equal(s.token, TOKEN);
});

test('tokens are masked in every message once known', () => {
  parseReportUrl(GOOD, { env: noEnv });
  assert.equal(maskToken(TOKEN), '…99');
  const msg = redact(`GET ${GOOD} failed; token ${TOKEN}; encoded ${encodeURIComponent(TOKEN)}`);
  assert.ok(!msg.includes(TOKEN));
  assert.match(msg, /…99/);
  // An unregistered token in a URL is masked too.
  assert.ok(!redact('https://x/y?a=1&token=zzzzzzzzqqqq&b=2').includes('zzzzzzzzqqqq'));
  registerSecret('another-secret-token-77');
  const err = safeError(new Error('boom another-secret-token-77'));
  assert.ok(!err.message.includes('another-secret-token-77'));
  assert.ok(!String(err.stack).includes('another-secret-token-77'));
});

test('a mask never shows more than a quarter of a token, and at most its last 2 characters', () => {
  const alphabet = 'Qz9xVuAb7Kp2Lm4Nq8Rs';
  for (let n = 0; n <= 64; n++) {
    const token = Array.from({ length: n }, (_, i) => alphabet[i % alphabet.length]).join('');
    const shown = maskToken(token).replace('…', '');
    assert.ok(maskToken(token).startsWith('…'), `length ${n}: starts with the ellipsis`);
    assert.ok(shown.length <= Math.min(2, Math.floor(n / 4)), `length ${n}: shows ${shown.length} characters`);
    assert.ok(token.endsWith(shown), `length ${n}: only its end`);
  }
  assert.equal(maskToken('Qz9xVuVu'), '…Vu', 'an 8-character token: 2 characters');
  assert.equal(maskToken('abc'), '…', 'under 4 characters: nothing');
});

test('a token too short to be masked safely is refused, as is a malformed %-escape; a #fragment is dropped', () => {
  assert.match(configError('https://ran-reporting.rakutenmarketing.com/en/reports/k/filters?token=abc').message, /the token is too short \(3 characters\)/);
  assert.match(configError('https://ran-reporting.rakutenmarketing.com/en/reports/k%zz/filters?token=abcdefgh12').message, /malformed %-escape/);
  const s = parseReportUrl(`${GOOD}#section`, { env: noEnv });
  assert.equal(s.token, TOKEN);
  assert.ok(!requestUrl(s, '2026-01-01', '2026-01-01').includes('#'));
});

test('the allow-list guards fetching, not displaying', () => {
  const url = `http://127.0.0.1:8787/en/reports/k/filters?token=${TOKEN}`;
  assert.match(configError(url).message, /not a Rakuten reporting host: 127\.0\.0\.1:8787/);
  assert.equal(parseReportUrl(url, { env: noEnv, display: true }).reportKey, 'k');
});
