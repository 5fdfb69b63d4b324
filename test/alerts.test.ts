/**
 * Issue 13, alerts end to end: a JSON webhook and a Slack-compatible webhook (a local HTTP
 * receiver) and e-mail (a real SMTP server, smtp-server) get exactly one alert per change of
 * state: a connector that succeeds, fails twice, then recovers gives one "failed" and one
 * "recovered" per channel, naming the connector, never a token; staleness fires once and clears
 * once (`serve` on a FakeClock); `alerts list` shows the history. Real CLI processes (cron users)
 * and a real server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { FakeClock } from '../src/scheduler/clock.js';
import { ACME_TOKEN, DEFAULT_ACCOUNTS, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { FRESHNESS_CHECK_MS } from '../src/server/freshness-watch.js';
import { todayIn } from '../src/util/days.js';
import { runCli, transcript } from './helpers/cli.js';
import { startStack, waitFor } from './helpers/browser.js';
import { tempHome } from './helpers/targets.js';

interface Received { path: string; body: Record<string, unknown> }

/** An HTTP receiver for webhooks: every POST body, by path. */
async function receiver(): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const srv: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(text || '{}') as Record<string, unknown> });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, got, close: () => new Promise((r) => srv.close(() => r())) };
}

/** A real SMTP server: every message's envelope and raw text. */
async function smtp(): Promise<{ url: string; mails: { from: string; to: string[]; raw: string }[]; close(): Promise<void> }> {
  const mails: { from: string; to: string[]; raw: string }[] = [];
  const srv = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (raw += d));
      stream.on('end', () => {
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
        cb();
      });
    },
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise((r) => srv.close(() => r())) };
}

/** A mail's Subject header, unfolded and decoded (RFC 2047 encoded words, as nodemailer writes them). */
function subjectOf(raw: string): string {
  const m = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(raw);
  const text = (m?.[1] ?? '').replace(/\r\n[ \t]/g, ' ');
  return text
    .replace(/(\?=)\s+(?==\?)/g, '$1') // white space between two encoded words is not text
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_, q: string) => Buffer.from(q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

describe('alerts, end to end', () => {
  let sim: Simulator;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  let mail: Awaited<ReturnType<typeof smtp>>;
  let env: Record<string, string>;
  const today = todayIn('GMT');
  const url = () => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${ACME_TOKEN}`;
  const cli = (home: string, ...args: string[]) => runCli(args, { home, env });

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 3, today });
    hooks = await receiver();
    mail = await smtp();
    env = {
      RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_MAX_ATTEMPTS: '2',
      RAKUTEN_SMTP_URL: mail.url, RAKUTEN_ALERT_FROM: 'alerts@example.test',
    };
  });
  after(async () => {
    await sim?.close();
    await hooks?.close();
    await mail?.close();
    const all = transcript.join('\n');
    assert.ok(![ACME_TOKEN, GLOBEX_TOKEN].some((t) => all.includes(t)), 'no token in any output');
  });

  it('sync from the CLI: succeeds, fails twice, recovers → one "failed" and one "recovered" per channel, naming the connector, no token', async () => {
    const home = tempHome('rc-alerts-');
    assert.equal((await cli(home, 'add', '--name', 'acme', '--url', url(), '--start-date', today, '--lookback-days', '0')).code, 0);
    for (const args of [['--webhook', `${hooks.url}/hook/secret-path-123`], ['--slack', `${hooks.url}/services/T000/B000/XXXXSECRET`], ['--email', 'team@example.test', '--connector', 'acme']]) {
      const r = await cli(home, 'alerts', 'add', ...args);
      assert.equal(r.code, 0, r.stderr);
    }
    const list = await cli(home, 'alerts', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /secret-path-123|XXXXSECRET/, 'webhook URLs are masked');
    assert.match(list.stdout, /team@example\.test\tacme$/m);

    assert.equal((await cli(home, 'sync', 'acme')).code, 0, 'success: no alert');
    sim.addFaults([{ kind: '503', times: 4 }]); // two syncs × RAKUTEN_MAX_ATTEMPTS=2
    assert.equal((await cli(home, 'sync', 'acme')).code, 1);
    assert.equal((await cli(home, 'sync', 'acme')).code, 1, 'the second failure in a row sends nothing');
    assert.equal((await cli(home, 'sync', 'acme')).code, 0, 'recovered');
    assert.equal((await cli(home, 'sync', 'acme')).code, 0, 'a second success sends nothing');

    const hook = hooks.got.filter((g) => g.path === '/hook/secret-path-123').map((g) => g.body);
    assert.deepEqual(hook.map((b) => [b.event, b.connector]), [['failed', 'acme'], ['recovered', 'acme']]);
    assert.match(String(hook[0]!.text), /503/);
    const slack = hooks.got.filter((g) => g.path.startsWith('/services/')).map((g) => String(g.body.text));
    assert.equal(slack.length, 2);
    assert.match(slack[0]!, /"acme".*failed/);
    assert.match(slack[1]!, /"acme" recovered/);
    assert.equal(mail.mails.length, 2);
    assert.deepEqual(mail.mails.map((m) => [m.from, m.to]), [['alerts@example.test', ['team@example.test']], ['alerts@example.test', ['team@example.test']]]);
    assert.deepEqual(mail.mails.map((m) => subjectOf(m.raw).replace(/\s+/g, ' ')), ['rakuten-connector: "acme" sync failed', 'rakuten-connector: "acme" recovered']);
    const everything = JSON.stringify(hooks.got) + mail.mails.map((m) => m.raw).join('\n');
    assert.ok(!everything.includes(ACME_TOKEN), 'no alert carries the report token');

    const history = await cli(home, '--json', 'alerts', 'list');
    const deliveries = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as { delivery?: { event: string; status: string } }).filter((l) => l.delivery).map((l) => l.delivery!);
    assert.equal(deliveries.length, 6, 'three channels × (failed, recovered)');
    assert.ok(deliveries.every((d) => d.status === 'sent'));

    const test = await cli(home, 'alerts', 'test');
    assert.equal(test.code, 0, test.stdout + test.stderr);
    assert.equal((test.stdout.match(/^sent +test alert/gm) ?? []).length, 3);
  });

  it('test of a saved connector whose token Rakuten no longer accepts: one token_rejected alert, not one per test', async () => {
    // A simulator of its own on a port of its own: its account's token is then revoked (the same
    // port, the account gone), as a regenerated token would be.
    const own = await startSimulator({ port: 0, rowsPerDay: 3, today });
    const home = tempHome('rc-alerts-token-');
    const got = await receiver();
    const envOwn = { ...env, RAKUTEN_ALLOWED_HOSTS: new URL(own.url).host };
    const run = (...args: string[]) => runCli(args, { home, env: envOwn });
    let revoked: Simulator | undefined;
    try {
      const u = `${own.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${ACME_TOKEN}`;
      assert.equal((await run('add', '--name', 'acme', '--url', u, '--start-date', today)).code, 0);
      assert.equal((await run('alerts', 'add', '--webhook', `${got.url}/token-hook`)).code, 0);
      assert.equal((await run('test', 'acme')).code, 0);
      await own.close();
      revoked = await startSimulator({ port: own.port, rowsPerDay: 3, today, accounts: DEFAULT_ACCOUNTS.filter((a) => a.token !== ACME_TOKEN) });
      assert.equal((await run('test', 'acme')).code, 1);
      assert.equal((await run('test', 'acme')).code, 1, 'still rejected: no second alert');
      assert.deepEqual(got.got.map((g) => [g.body.event, g.body.connector]), [['token_rejected', 'acme']]);
      assert.match(String(got.got[0]!.body.text), /How to fix: /);
      // The fix the alert asks for (a new token, Saved & Tested) clears it: the next rejection is alerted again.
      assert.equal((await run('edit', 'acme', '--token', GLOBEX_TOKEN)).code, 0);
      await revoked.close();
      revoked = await startSimulator({ port: own.port, rowsPerDay: 3, today, accounts: DEFAULT_ACCOUNTS.filter((a) => a.token !== ACME_TOKEN && a.token !== GLOBEX_TOKEN) });
      assert.equal((await run('test', 'acme')).code, 1);
      assert.deepEqual(got.got.map((g) => g.body.event), ['token_rejected', 'token_rejected']);
      assert.ok(![ACME_TOKEN, GLOBEX_TOKEN].some((t) => JSON.stringify(got.got).includes(t)));
    } finally {
      await revoked?.close();
      await own.close().catch(() => undefined);
      await got.close();
    }
  });

  it('serve on a FakeClock: a connector that goes stale is alerted once, and once when it is fresh again', async () => {
    const clock = new FakeClock(Date.now());
    const s = await startStack({ rowsPerDay: 3, clock });
    const got = await receiver();
    try {
      let r = await s.api('POST', '/api/connectors', { sync: false, name: 'fresh', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: today, staleAfterHours: 1 });
      assert.equal(r.status, 201, r.text);
      r = await s.api('POST', '/api/alerts', { kind: 'webhook', target: `${got.url}/stale-hook` });
      assert.equal(r.status, 201, r.text);
      await s.srv.app.sync('fresh', {});
      const events = () => got.got.map((g) => g.body.event);
      await clock.advance(FRESHNESS_CHECK_MS);
      assert.deepEqual(events(), [], 'fresh: nothing');
      // Two hours later by the server's clock: stale (limit 1 h), said once however many checks run.
      await clock.advance(2 * 3_600_000);
      // Each check re-arms the next when it has read the warehouse: step the clock check by check.
      const step = async () => {
        await clock.advance(FRESHNESS_CHECK_MS);
        await new Promise((r) => setTimeout(r, 50));
      };
      await waitFor(async () => (await step(), events().length > 0), 'the stale alert');
      for (let i = 0; i < 3; i++) await step();
      assert.deepEqual(events(), ['stale']);
      // A looser limit: fresh again at the next check, said once.
      r = await s.api('PATCH', '/api/connectors/fresh', { staleAfterHours: 48 });
      assert.equal(r.status, 200, r.text);
      await waitFor(async () => (await step(), events().length > 1), 'the fresh alert');
      for (let i = 0; i < 3; i++) await step();
      assert.deepEqual(events(), ['stale', 'fresh']);
      const hist = (await s.api('GET', '/api/alerts')).data as { channels: { target: string }[]; deliveries: { event: string; status: string }[] };
      assert.deepEqual(hist.deliveries.map((d) => [d.event, d.status]), [['fresh', 'sent'], ['stale', 'sent']]);
      assert.doesNotMatch(hist.channels[0]!.target, /stale-hook/, 'masked in the API');
      const metrics = (await s.api('GET', '/metrics')).text;
      assert.match(metrics, /^rakuten_alerts_total\{event="stale",status="sent"\} 1$/m);
      assert.match(metrics, /^rakuten_alerts_total\{event="fresh",status="sent"\} 1$/m);
      assert.doesNotMatch(metrics, /stale-hook/);
    } finally {
      await got.close();
      await s.close();
    }
  });
});
