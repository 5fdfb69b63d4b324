/**
 * Alerts: how a target is checked and shown (src/alerts/channels.ts), how an alert is worded
 * (messages.ts), and how it is delivered (deliver.ts) — to a real local HTTP receiver (webhook,
 * Slack) and a real SMTP server (smtp-server), no mocks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { maskTarget, parseTarget, useTarget } from '../src/alerts/channels.js';
import { alertDeliveryOptions, deliver } from '../src/alerts/deliver.js';
import { alertMessage } from '../src/alerts/messages.js';
import { ConfigError, validateEnvironment } from '../src/util/config.js';
import { ConnectorError } from '../src/util/errors.js';
import { redact, registerSecret } from '../src/util/secrets.js';

const AT = '2026-12-01T18:00:00.000Z';
const FAST = { attempts: 3, baseDelayMs: 5, timeoutMs: 2000 };

interface Received { method: string; url: string; headers: IncomingMessage['headers']; body: string }

/** A local HTTP receiver: `answer(n, req)` decides the response to the n-th request (1-based). */
async function receiver(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const got: Received[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(got.length, req, res);
    });
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { got, base, close: () => new Promise<void>((res) => { srv.closeAllConnections(); srv.close(() => res()); }) };
}

const reply = (status: number, body = '', headers: Record<string, string> = {}) => (_n: number, _q: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, headers);
  res.end(body);
};

const failed = alertMessage('failed', { connector: 'acme', reason: 'Rakuten answered 500 three times', hint: 'try again later', at: AT });
const channel = (kind: 'webhook' | 'slack' | 'email', target: string) => ({ id: 'ch1', kind, target, connector: null });

function configError(f: () => unknown): ConnectorError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConnectorError, String(e));
    assert.equal(e.kind, 'config');
    assert.ok(e.hint, 'a hint says how to fix it');
    return e;
  }
  assert.fail('expected a ConnectorError');
}

test('parseTarget: https URLs, http on loopback only, no credentials; plausible e-mail addresses', () => {
  assert.equal(parseTarget('webhook', ' https://hooks.example.com/a/b?sig=1#frag '), 'https://hooks.example.com/a/b?sig=1');
  assert.equal(parseTarget('webhook', 'http://127.0.0.1:8080/hook'), 'http://127.0.0.1:8080/hook');
  assert.equal(parseTarget('webhook', 'http://localhost:9/x'), 'http://localhost:9/x');
  assert.equal(parseTarget('slack', 'http://[::1]:9/x'), 'http://[::1]:9/x');
  assert.equal(parseTarget('slack', 'https://hooks.slack.com/services/T0/B0/XYZ'), 'https://hooks.slack.com/services/T0/B0/XYZ');
  assert.equal(parseTarget('slack', 'https://chat.example.org/hooks/abc123'), 'https://chat.example.org/hooks/abc123', 'Mattermost-style hosts are fine');
  for (const bad of ['http://hooks.example.com/secret-path', 'ftp://x.example.com/a', 'not a url', '', '/relative/path', 'https://user:pw@hooks.example.com/x']) {
    const e = configError(() => parseTarget('webhook', bad));
    assert.equal(e.field, 'url');
    assert.ok(!e.message.includes('secret-path') && !e.message.includes('pw@'), `the URL is not quoted: ${e.message}`);
  }
  assert.match(configError(() => parseTarget('slack', 'http://example.com/x')).message, /https/);
  assert.match(configError(() => parseTarget('webhook', 'https://u:p@h.example.com/')).message, /user name or password/);

  assert.equal(parseTarget('email', ' Data.Team+alerts@Example.COM '), 'Data.Team+alerts@example.com');
  assert.equal(parseTarget('email', 'ops@localhost'), 'ops@localhost');
  for (const bad of ['', 'nobody', 'a@@b.com', 'a@b@c.com', 'a b@c.com', '@b.com', 'a@', 'a@-b.com', `${'x'.repeat(250)}@b.com`, 'A <a@b.com>']) {
    const e = configError(() => parseTarget('email', bad));
    assert.equal(e.field, undefined);
  }
});

test('maskTarget: a webhook shows its host, Slack its first path segment, e-mail as is', () => {
  assert.equal(maskTarget('webhook', 'https://hooks.example.com/abc/def?sig=123'), 'https://hooks.example.com/…');
  assert.equal(maskTarget('webhook', 'http://127.0.0.1:8080/x'), 'http://127.0.0.1:8080/…');
  assert.equal(maskTarget('slack', 'https://hooks.slack.com/services/T000/B000/XXXX'), 'https://hooks.slack.com/services/…');
  assert.equal(maskTarget('slack', 'https://chat.example.org/'), 'https://chat.example.org/…');
  assert.equal(maskTarget('email', 'ops@example.com'), 'ops@example.com');
  assert.equal(maskTarget('webhook', 'garbage'), '…');
  // Unsealed for use: the URL and its secret path/query are redacted wherever they appear.
  const url = 'https://hooks.example.com/services/T9/B9/unseal-SECRET-x1?sig=SIGSECRET-777';
  assert.equal(useTarget('slack', url), url);
  const said = redact(`POST ${url} failed; path /services/T9/B9/unseal-SECRET-x1?sig=SIGSECRET-777; sig=SIGSECRET-777`);
  assert.ok(!said.includes('unseal-SECRET') && !said.includes('SIGSECRET'), said);
  useTarget('webhook', 'https://short.example.com/api');
  assert.equal(redact('GET /api/connectors'), 'GET /api/connectors', 'a short path is no secret');
});

test('alertMessage: each event\'s title and text', () => {
  assert.equal(failed.title, 'rakuten-connector: "acme" sync failed');
  assert.equal(failed.text, `What happened: Rakuten answered 500 three times\nHow to fix: try again later\nWhen: ${AT}`);
  assert.deepEqual(failed.details, { reason: 'Rakuten answered 500 three times', hint: 'try again later' });
  assert.equal(failed.event, 'failed');
  assert.equal(failed.connector, 'acme');
  assert.equal(failed.at, AT);

  const lastOk = new Date(Date.parse(AT) - 52 * 3_600_000 - 10 * 60_000).toISOString();
  const stale = alertMessage('stale', { connector: 'acme', lastSuccessAt: lastOk, limitHours: 50, at: AT, dashboardUrl: 'http://127.0.0.1:8080/' });
  assert.equal(stale.title, 'rakuten-connector: "acme" data is stale (no successful sync for 52 h; limit 50 h)');
  assert.match(stale.text, /no successful sync for 52 h \(its freshness limit is 50 h\)/);
  assert.match(stale.text, /\nHow to fix: /);
  assert.match(stale.text, new RegExp(`\nWhen: ${AT}\nLast successful sync: ${lastOk}\nDashboard: http://127.0.0.1:8080/$`));
  assert.deepEqual(stale.details, { lastSuccessAt: lastOk, hoursSinceSuccess: 52, limitHours: 50, dashboardUrl: 'http://127.0.0.1:8080/' });
  assert.equal(alertMessage('stale', { connector: 'acme', lastSuccessAt: null, limitHours: 50, at: AT }).title,
    'rakuten-connector: "acme" data is stale (no successful sync yet; limit 50 h)');

  assert.equal(alertMessage('recovered', { connector: 'acme', at: AT }).title, 'rakuten-connector: "acme" recovered');
  assert.equal(alertMessage('fresh', { connector: 'acme', at: AT, limitHours: 50 }).title, 'rakuten-connector: "acme" is fresh again');
  const tok = alertMessage('token_rejected', { connector: 'acme', at: AT });
  assert.equal(tok.title, 'rakuten-connector: "acme": the Rakuten token was rejected');
  assert.match(tok.text, /^What happened: Rakuten refused the API token of "acme".*\nHow to fix: .*update the connector/);
  const t = alertMessage('test', { connector: null, at: AT });
  assert.equal(t.title, 'rakuten-connector: test alert');
  assert.equal(t.text, `This is a test alert: this channel receives rakuten-connector alerts.\nWhen: ${AT}`);
  assert.equal(t.connector, null);
});

test('alertMessage never carries a registered token, nor a token= parameter', () => {
  const token = 'tok-SECRET-9f8e7d6c5b4a';
  registerSecret(token);
  const m = alertMessage('failed', {
    connector: 'acme',
    reason: `GET https://ran-reporting.rakutenmarketing.com/x?token=${token} answered 500 (${encodeURIComponent(token)})`,
    hint: `check the token ${token}`,
    at: AT,
    dashboardUrl: 'http://127.0.0.1:8080/?token=unregistered-secret-1234',
  });
  const all = JSON.stringify(m);
  assert.ok(!all.includes(token) && !all.includes(encodeURIComponent(token)), all);
  assert.ok(!all.includes('unregistered-secret-1234'), all);
  assert.match(m.text, /token=…/);
});

test('webhook: exact JSON body; Slack: incoming-webhook text', async () => {
  const r = await receiver(reply(200, 'ok'));
  try {
    const res = await deliver(channel('webhook', `${r.base}/hook`), failed, FAST);
    assert.deepEqual(res, { status: 'sent', attempts: 1, error: null });
    const slack = await deliver(channel('slack', `${r.base}/services/T1/B1/abc`), failed, FAST);
    assert.deepEqual(slack, { status: 'sent', attempts: 1, error: null });
    assert.equal(r.got.length, 2);
    const [w, s] = r.got as [Received, Received];
    assert.equal(w.method, 'POST');
    assert.equal(w.url, '/hook');
    assert.match(w.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(w.body), {
      event: 'failed', connector: 'acme', title: 'rakuten-connector: "acme" sync failed',
      text: `What happened: Rakuten answered 500 three times\nHow to fix: try again later\nWhen: ${AT}`, at: AT,
      details: { reason: 'Rakuten answered 500 three times', hint: 'try again later' },
    });
    assert.equal(s.url, '/services/T1/B1/abc');
    assert.match(s.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(s.body), { text: `*rakuten-connector: "acme" sync failed*\nWhat happened: Rakuten answered 500 three times\nHow to fix: try again later\nWhen: ${AT}` });
  } finally {
    await r.close();
  }
});

test('webhook retries: 500 twice then 200 is sent after 3 attempts; 429 is retried', async () => {
  const r = await receiver((n, q, res) => reply(n <= 2 ? 500 : 200)(n, q, res));
  try {
    assert.deepEqual(await deliver(channel('webhook', `${r.base}/hook`), failed, FAST), { status: 'sent', attempts: 3, error: null });
    assert.equal(r.got.length, 3);
  } finally {
    await r.close();
  }
  const r2 = await receiver((n, q, res) => reply(n === 1 ? 429 : 204)(n, q, res));
  try {
    assert.deepEqual(await deliver(channel('slack', `${r2.base}/hook`), failed, FAST), { status: 'sent', attempts: 2, error: null });
  } finally {
    await r2.close();
  }
});

test('webhook: a 302 fails and its target is never requested; 400 fails after 1 attempt; 500 throughout fails', async () => {
  const r = await receiver((n, q, res) => (q.url === '/hook' ? reply(302, '', { location: '/elsewhere' })(n, q, res) : reply(200)(n, q, res)));
  try {
    const res = await deliver(channel('webhook', `${r.base}/hook`), failed, FAST);
    assert.equal(res.status, 'failed');
    assert.equal(res.attempts, 1);
    assert.match(res.error!, /302.*never follow redirects/);
    assert.deepEqual(r.got.map((g) => g.url), ['/hook']);
  } finally {
    await r.close();
  }
  // The receiver echoes the URL it was called at: its secret path and query still never show.
  const secretPath = '/hooks/PATHSECRET-8c1d2e?sig=QUERYSECRET-77aa';
  const r2 = await receiver((n, q, res) => reply(n === 1 ? 400 : 200, `bad request for ${r2.base}${q.url}`)(n, q, res));
  try {
    const res = await deliver(channel('webhook', `${r2.base}${secretPath}`), failed, FAST);
    assert.equal(res.status, 'failed');
    assert.equal(res.attempts, 1);
    assert.equal(r2.got.length, 1);
    assert.match(res.error!, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/… answered 400`));
    assert.ok(!res.error!.includes('PATHSECRET') && !res.error!.includes('QUERYSECRET'), res.error!);
  } finally {
    await r2.close();
  }
  const r3 = await receiver(reply(503));
  try {
    const res = await deliver(channel('webhook', `${r3.base}/hook`), failed, FAST);
    assert.deepEqual({ ...res, error: undefined }, { status: 'failed', attempts: 3, error: undefined });
    assert.match(res.error!, /answered 503/);
  } finally {
    await r3.close();
  }
});

test('webhook: a receiver that never answers times out; an unreachable one fails', async () => {
  const r = await receiver(() => { /* never answers */ });
  try {
    const started = Date.now();
    const res = await deliver(channel('webhook', `${r.base}/slow`), failed, { attempts: 2, baseDelayMs: 5, timeoutMs: 200 });
    assert.equal(res.status, 'failed');
    assert.equal(res.attempts, 2);
    assert.match(res.error!, /did not answer within 200 ms/);
    assert.ok(Date.now() - started < 5000);
  } finally {
    await r.close();
  }
  const gone = await receiver(reply(200));
  const url = `${gone.base}/closed-SECRET-path`;
  await gone.close();
  const res = await deliver(channel('webhook', url), failed, { attempts: 2, baseDelayMs: 5, timeoutMs: 1000 });
  assert.equal(res.status, 'failed');
  assert.equal(res.attempts, 2);
  assert.match(res.error!, /could not be reached/);
  assert.ok(!res.error!.includes('SECRET'), res.error!);
});

/** A real SMTP server on 127.0.0.1:0 recording what it received. */
async function smtp(auth?: { user: string; pass: string }) {
  const mails: { from: string; to: string[]; raw: string; user?: string }[] = [];
  const logins: { username: string; password: string }[] = [];
  const server = new SMTPServer({
    authOptional: !auth,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(a, _s, cb) {
      logins.push({ username: a.username ?? '', password: a.password ?? '' });
      if (auth && a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      // A careless server that quotes the password back: it must still never reach our error.
      else cb(new Error(`authentication failed for password ${a.password}`));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw, user: session.user as string | undefined });
        cb();
      });
    },
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.server.address() as AddressInfo).port;
  return { mails, logins, port, close: () => new Promise<void>((res) => server.close(() => res())) };
}

/** A header of a raw mail, unfolded and RFC 2047 (Q) decoded. */
function mailHeader(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n(?=[ \t])/g, '');
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  if (line === undefined) return undefined;
  return line.slice(name.length + 1).trim().replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_m, q: string) => Buffer.from(q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

/** The body of a raw single-part mail, quoted-printable decoded. */
function mailBody(raw: string): string {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/=\r\n/g, '');
  return body.replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\r\n/g, '\n').trimEnd();
}

test('email: the mail arrives with the subject, the text and RAKUTEN_ALERT_FROM as sender', async () => {
  const s = await smtp();
  try {
    const opts = { ...alertDeliveryOptions({ RAKUTEN_SMTP_URL: `smtp://127.0.0.1:${s.port}`, RAKUTEN_ALERT_FROM: 'alerts@example.test' } as NodeJS.ProcessEnv), ...FAST };
    const res = await deliver(channel('email', 'ops@example.test'), failed, opts);
    assert.deepEqual(res, { status: 'sent', attempts: 1, error: null });
    assert.equal(s.mails.length, 1);
    const m = s.mails[0]!;
    assert.equal(m.from, 'alerts@example.test');
    assert.deepEqual(m.to, ['ops@example.test']);
    assert.equal(mailHeader(m.raw, 'Subject'), 'rakuten-connector: "acme" sync failed');
    assert.equal(mailHeader(m.raw, 'From'), 'alerts@example.test');
    assert.equal(mailHeader(m.raw, 'To'), 'ops@example.test');
    assert.equal(mailBody(m.raw), failed.text);
  } finally {
    await s.close();
  }
});

test('email with auth: the server sees the credentials; a rejected password never shows in the error', async () => {
  const s = await smtp({ user: 'mailer', pass: 'p@ss-W0rd/secret' });
  try {
    const url = (pass: string) => `smtp://mailer:${encodeURIComponent(pass)}@127.0.0.1:${s.port}`;
    const ok = await deliver(channel('email', 'ops@example.test'), failed, { ...FAST, smtpUrl: url('p@ss-W0rd/secret'), from: 'a@example.test' });
    assert.deepEqual(ok, { status: 'sent', attempts: 1, error: null });
    assert.deepEqual(s.logins, [{ username: 'mailer', password: 'p@ss-W0rd/secret' }]);
    assert.equal(s.mails[0]!.user, 'mailer');

    const wrong = 'WRONG-pass-4242';
    const bad = await deliver(channel('email', 'ops@example.test'), failed, { ...FAST, smtpUrl: url(wrong), from: 'a@example.test' });
    assert.equal(bad.status, 'failed');
    assert.equal(bad.attempts, 1, 'a refused login is not retried');
    assert.ok(s.logins.some((l) => l.password === wrong), 'the server did see the wrong password');
    assert.match(bad.error!, /smtp:\/\/mailer:…@127\.0\.0\.1:\d+ failed/);
    assert.ok(!bad.error!.includes(wrong) && !bad.error!.includes('4242'), bad.error!);
  } finally {
    await s.close();
  }
});

test('email: without RAKUTEN_SMTP_URL it fails at once, saying what to set; an unreachable server fails', async () => {
  const res = await deliver(channel('email', 'ops@example.test'), failed, FAST);
  assert.equal(res.status, 'failed');
  assert.equal(res.attempts, 1);
  assert.match(res.error!, /RAKUTEN_SMTP_URL/);
  const s = await smtp();
  const port = s.port;
  await s.close();
  const gone = await deliver(channel('email', 'ops@example.test'), failed, { attempts: 2, baseDelayMs: 5, timeoutMs: 1000, smtpUrl: `smtps://u:hunter2-secret@127.0.0.1:${port}` });
  assert.equal(gone.status, 'failed');
  assert.equal(gone.attempts, 2);
  assert.ok(!gone.error!.includes('hunter2'), gone.error!);
});

/** A raw SMTP server that answers every command correctly, each `delayMs` late (each phase in time, the whole not). */
async function slowSmtp(delayMs: number): Promise<{ port: number; accepted: number; close(): Promise<void> }> {
  const state = { port: 0, accepted: 0, close: async () => {} };
  const srv = createNetServer((sock) => {
    const say = (line: string) => setTimeout(() => sock.writable && sock.write(`${line}\r\n`), delayMs);
    let inData = false;
    let buf = '';
    say('220 slow.example.test ESMTP');
    sock.on('error', () => undefined);
    sock.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            state.accepted++;
            say('250 queued');
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'DATA') {
          inData = true;
          say('354 go on');
        } else if (verb === 'QUIT') say('221 bye');
        else say('250 ok');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.port = (srv.address() as AddressInfo).port;
  state.close = () => new Promise<void>((r) => { srv.close(() => r()); });
  return state;
}

test('email: an SMTP server that answers every command just in time cannot hold an attempt longer than its timeout', async () => {
  // Every answer 150 ms late: each phase is within the 400 ms timeout, the 6+ round trips are not.
  const s = await slowSmtp(150);
  try {
    const started = Date.now();
    const res = await deliver(channel('email', 'ops@example.test'), failed, { attempts: 1, baseDelayMs: 5, timeoutMs: 400, smtpUrl: `smtp://127.0.0.1:${s.port}`, from: 'a@example.test' });
    const took = Date.now() - started;
    assert.equal(res.status, 'failed', `the attempt ran to its end in ${took} ms`);
    assert.match(res.error!, /did not finish within 400 ms/);
    assert.equal(s.accepted, 0);
    // And the same server is good with a timeout that covers the whole exchange.
    const ok = await deliver(channel('email', 'ops@example.test'), failed, { attempts: 1, baseDelayMs: 5, timeoutMs: 10_000, smtpUrl: `smtp://127.0.0.1:${s.port}`, from: 'a@example.test' });
    assert.equal(ok.status, 'sent', ok.error ?? '');
    assert.equal(s.accepted, 1);
  } finally {
    await s.close();
  }
});

test('settings: RAKUTEN_SMTP_URL is a secret never quoted; RAKUTEN_ALERT_FROM defaults to rakuten-connector@<host>', () => {
  const d = alertDeliveryOptions({} as NodeJS.ProcessEnv);
  assert.equal(d.smtpUrl, undefined);
  assert.match(d.from!, /^rakuten-connector@\S+$/);
  const problems = (env: Record<string, string>) => {
    try {
      validateEnvironment(env as NodeJS.ProcessEnv);
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems;
    }
  };
  assert.deepEqual(problems({ RAKUTEN_SMTP_URL: 'smtps://u:pw@mail.example.com:465', RAKUTEN_ALERT_FROM: 'alerts@example.com' }), []);
  assert.deepEqual(problems({ RAKUTEN_SMTP_URL: 'http://u:topsecret@mail.example.com' }), ['RAKUTEN_SMTP_URL: use smtp://user:pass@host:587 or smtps://user:pass@host:465']);
  assert.match(problems({ RAKUTEN_ALERT_FROM: 'not an address' })[0]!, /^RAKUTEN_ALERT_FROM="not an address": use one e-mail address/);
});
