/**
 * Alerts as the App sends them, in process (a real DuckDB home, the simulator, local HTTP
 * receivers): a sync never waits for a slow receiver and close() waits for what is under way;
 * an interrupted sync and a busy one send nothing; a removed connector takes its own channels
 * and its conditions with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App } from '../src/app/app.js';
import { Output } from '../src/app/output.js';
import { startServer } from '../src/server/server.js';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { todayIn } from '../src/util/days.js';
import { ConnectorError } from '../src/util/errors.js';
import { withLease } from '../src/sync/engine.js';
import { tempHome } from './helpers/targets.js';

/** One attempt per window, no waiting: a fault fails the sync at once. */
const ONCE = { retry: { maxAttempts: 1, baseMs: 1, maxMs: 1 } };

/** A webhook receiver: every POST's event and path; `hold` keeps the answers back until `release()`. */
async function receiver(opts: { hold?: boolean } = {}) {
  const got: { path: string; event: string }[] = [] as { path: string; event: string }[];
  const held: ServerResponse[] = [];
  let holding = opts.hold ?? false;
  const srv = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
      got.push({ path: req.url ?? '', event: String((JSON.parse(text || '{}') as { event?: unknown }).event) });
      if (holding) held.push(res);
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    got,
    release() {
      holding = false;
      for (const r of held.splice(0)) r.writeHead(200).end('ok');
    },
    close: () => new Promise<void>((r) => {
      for (const res of held.splice(0)) res.destroy();
      srv.close(() => r());
    }),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('alerts in the App', () => {
  let sim: Simulator;
  const today = todayIn('GMT');
  const url = (token: string) => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&network=1&token=${token}`;
  const add = async (app: App, name: string, token = ACME_TOKEN) => {
    const r = await app.saveAndTest({ name, url: url(token), startDate: today, lookbackDays: 0 });
    assert.ok(r.saved, JSON.stringify(r.checks));
  };

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 3, today });
    process.env.RAKUTEN_ALLOWED_HOSTS = [...(process.env.RAKUTEN_ALLOWED_HOSTS ?? '').split(',').filter(Boolean), new URL(sim.url).host].join(',');
  });
  after(async () => {
    await sim?.close();
  });

  it('a failed sync returns while its alert is still being delivered; close() waits for the delivery', async () => {
    const home = tempHome('rc-alerts-app-');
    const hook = await receiver({ hold: true });
    let app = await App.open({ home });
    try {
      await add(app, 'acme');
      await app.alerts.add('webhook', `${hook.url}/held`, null);
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('acme', ONCE), /503/);
      // The receiver has not answered, yet the sync is over: the delivery runs in the background.
      assert.equal(app.alerts.pending, 1, 'one delivery under way');
      assert.deepEqual(await app.alerts.history(10), [], 'nothing recorded yet');
      // close() waits for it: the answer comes only once close() has started.
      const closing = app.close();
      await until(() => hook.got.length === 1, 'the webhook request');
      hook.release();
      await closing;
      app = await App.open({ home });
      assert.deepEqual((await app.alerts.history(10)).map((d) => [d.event, d.connector, d.status]), [['failed', 'acme', 'sent']]);
    } finally {
      await app.close();
      await hook.close();
    }
  });

  it('an interrupted sync and a busy one send nothing; a failure then sends one alert', async () => {
    const home = tempHome('rc-alerts-app-');
    const hook = await receiver();
    const app = await App.open({ home });
    try {
      await add(app, 'acme');
      await app.alerts.add('webhook', `${hook.url}/all`, null);
      // Another worker holds the connector (as a currency relabel does): the sync is refused as busy, nothing failed.
      await withLease(app.db.state, 'acme', () => assert.rejects(app.sync('acme', ONCE), (e: unknown) => e instanceof ConnectorError && e.kind === 'busy'));
      // A report that hangs: the sync is interrupted (Ctrl-C, serve stopping) while it waits.
      sim.addFaults([{ kind: 'hang', times: 1 }]);
      const hangs = () => sim.faultCounts().hang ?? 0;
      const before = hangs();
      const stop = new AbortController();
      const interrupted = app.sync('acme', { ...ONCE, signal: stop.signal });
      await until(() => hangs() > before, 'the hanging request');
      stop.abort();
      await assert.rejects(interrupted);
      await app.alerts.settle();
      assert.equal(hook.got.length, 0, 'no alert for an interrupted or a busy sync');
      assert.deepEqual(await app.alerts.history(10), []);
      // The channel works: a real failure is alerted.
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('acme', ONCE), /503/);
      await app.alerts.settle();
      assert.deepEqual(hook.got.map((g) => g.event), ['failed']);
    } finally {
      await app.close();
      await hook.close();
    }
  });

  it('remove takes the connector\'s own channels and its conditions: saved again, its first failure is alerted again', async () => {
    const home = tempHome('rc-alerts-app-');
    const hook = await receiver();
    const app = await App.open({ home });
    try {
      await add(app, 'beta', GLOBEX_TOKEN);
      await add(app, 'acme');
      const own = await app.alerts.add('webhook', `${hook.url}/beta-only`, 'beta');
      const all = await app.alerts.add('webhook', `${hook.url}/all`, null);
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('beta', ONCE), /503/);
      await app.alerts.settle();
      assert.deepEqual(hook.got.map((g) => [g.path, g.event]).sort(), [['/all', 'failed'], ['/beta-only', 'failed']]);

      await app.remove('beta', true);
      assert.deepEqual((await app.alerts.list()).map((c) => c.id), [all.id], `the channel of beta (${own.id}) went with it`);
      assert.equal((await app.alerts.history(10)).length, 2, 'the history stays');

      // A sync of the old "beta" that ended just after the removal leaves its condition behind.
      await app.db.state.setAlertCondition('beta', 'failing', true, new Date().toISOString());
      await add(app, 'beta', GLOBEX_TOKEN);
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('beta', ONCE), /503/);
      await app.alerts.settle();
      assert.deepEqual(hook.got.map((g) => [g.path, g.event]).slice(2), [['/all', 'failed']], 'a new "beta": its failure is news');
    } finally {
      await app.close();
      await hook.close();
    }
  });

  it('once close() has begun, nothing changes a condition (the next run decides) and nothing is sent', async () => {
    const home = tempHome('rc-alerts-app-');
    const hook = await receiver();
    const app = await App.open({ home });
    try {
      await add(app, 'acme');
      await app.alerts.add('webhook', `${hook.url}/all`, null);
      assert.equal(await app.alerts.close(), true);
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('acme', ONCE), /503/);
      await app.alerts.settle();
      assert.equal(hook.got.length, 0);
      assert.equal((await app.db.state.alertConditions()).get('acme')?.has('failing') ?? false, false, 'the failure is still news for the next run');
    } finally {
      await app.close();
      await hook.close();
    }
  });

  it('serve stopping waits for deliveries under way a few seconds at most, then gives them up and says so', async () => {
    const home = tempHome('rc-alerts-app-');
    const hook = await receiver({ hold: true });
    const app = await App.open({ home });
    let log = '';
    const stream = { isTTY: false, write: (t: string) => ((log += t), true) } as unknown as NodeJS.WriteStream;
    const srv = await startServer({ app, out: new Output(true, stream, stream), host: '127.0.0.1', port: 0 });
    try {
      await add(app, 'acme');
      await app.alerts.add('webhook', `${hook.url}/never-answers`, null);
      sim.addFaults([{ kind: '503', times: 1 }]);
      await assert.rejects(app.sync('acme', ONCE), /503/);
      await until(() => hook.got.length === 1, 'the webhook request');
      // The receiver never answers (a delivery's own retries would take ~30 s): serve stops anyway.
      await srv.close();
      assert.match(log, /1 alert delivery\(ies\) given up at shutdown/);
    } finally {
      await srv.close();
      await hook.close();
    }
  });
});
