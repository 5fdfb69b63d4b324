/**
 * Issue 11, item 4: money with its currency. Each connector has an ISO 4217 currency: from the
 * URL's network by default (1 USD, 3 GBP, 5 CAD, 7/9 EUR, 41 AUD), `--currency` / the API's
 * `currency` otherwise; the CLI takes USD with a warning where the network says nothing, the API
 * (the web form) asks. It is on every row (`currency` column), changing it relabels the rows, a
 * home of the version before the column is labelled when it is opened, and the combined charts
 * are per currency, never a sum. Real CLI processes against the simulator on a real DuckDB file;
 * the API part through the real server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { fromUnits, toUnits } from '../src/util/decimal.js';
import { runCli, transcript } from './helpers/cli.js';
import { startStack, waitFor } from './helpers/browser.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const yesterday = addDays(today, -1);

/** Statements on a home's DuckDB file while no CLI holds it. */
async function duck(home: string, ...sqls: string[]): Promise<Record<string, unknown>[][]> {
  const db = await DuckDBInstance.create(join(home, 'warehouse.duckdb'));
  try {
    const c = await db.connect();
    try {
      const out: Record<string, unknown>[][] = [];
      for (const q of sqls) out.push((await c.runAndReadAll(q)).getRowObjectsJson() as Record<string, unknown>[]);
      return out;
    } finally {
      c.closeSync();
    }
  } finally {
    db.closeSync();
  }
}

/** "connector currency" → rows, of the fact table and of the day summary. */
async function labels(home: string): Promise<{ fact: Record<string, number>; days: Record<string, number> }> {
  const [fact, days] = await duck(home,
    'SELECT _connector AS c, currency AS cur, count(*) AS n FROM rakuten_affiliate_report GROUP BY ALL ORDER BY ALL',
    'SELECT _connector AS c, currency AS cur, sum(rows) AS n FROM rakuten_day_totals GROUP BY ALL ORDER BY ALL');
  const m = (rs: Record<string, unknown>[]) => Object.fromEntries(rs.map((r) => [`${String(r.c)} ${String(r.cur)}`, Number(r.n)]));
  return { fact: m(fact!), days: m(days!) };
}

describe('currency: CLI', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const url = (token: string, network?: string) =>
    `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy${network ? `&network=${network}` : ''}&token=${token}`;
  const cli = (home: string, ...args: string[]) => runCli(args, { home, env });
  const settingsOf = async (home: string, name: string) => (JSON.parse((await cli(home, '--json', 'status', name)).stdout) as { settings: { currency: string } }).settings;
  const rowsOf = (token: string) => sim.totals({ token, report: 'affiliate-report', from: yesterday, to: today, dateType: 'transaction' }).reduce((a, d) => a + d.rows, 0);

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
  });
  after(async () => {
    await sim?.close();
    const all = transcript.join('\n');
    for (const t of [ACME_TOKEN, GLOBEX_TOKEN]) assert.ok(!all.includes(t), 'no token in any output');
  });

  it('add: the network says the currency; --currency says it otherwise; without either, USD with a warning; a bad code is a usage error', async () => {
    const home = tempHome('rc-currency-');
    const uk = await cli(home, 'add', '--name', 'uk', '--url', url(ACME_TOKEN, '3'), '--start-date', yesterday);
    assert.equal(uk.code, 0, uk.stderr);
    assert.match(uk.stdout, /^saved connector "uk" \(.*\); amounts in GBP\.$/m);
    assert.doesNotMatch(uk.stdout, /warn/);
    assert.equal((await settingsOf(home, 'uk')).currency, 'GBP');

    const au = await cli(home, 'add', '--name', 'au', '--url', url(ACME_TOKEN, '41'), '--start-date', yesterday, '--currency', 'nzd');
    assert.equal(au.code, 0, au.stderr);
    assert.equal((await settingsOf(home, 'au')).currency, 'NZD', '--currency wins over the network, in any case');

    const plain = await cli(home, 'add', '--name', 'plain', '--url', url(GLOBEX_TOKEN), '--start-date', yesterday);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^ {2}warn amounts are taken to be in USD: the URL names no network; if they are not, run: rakuten-connector edit plain --currency CODE$/m);
    assert.equal((await settingsOf(home, 'plain')).currency, 'USD');

    const odd = await cli(home, 'add', '--name', 'odd', '--url', url(GLOBEX_TOKEN, '99'), '--start-date', yesterday);
    assert.match(odd.stdout, /warn amounts are taken to be in USD: the URL names network=99, which has no known currency/);

    const bad = await cli(home, 'add', '--name', 'bad', '--url', url(GLOBEX_TOKEN), '--currency', 'dollars');
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /--currency: use an ISO 4217 currency code such as USD, GBP, EUR, CAD or AUD/);
    const edit = await cli(home, 'edit', 'uk', '--currency', 'XXY');
    assert.equal(edit.code, 2, edit.stderr);
  });

  it('every row carries its connector\'s currency; edit --currency relabels the rows already loaded, and no other connector\'s', async () => {
    const home = tempHome('rc-currency-');
    for (const [name, token, network] of [['uk', ACME_TOKEN, '3'], ['us', GLOBEX_TOKEN, '1']] as const) {
      const r = await cli(home, 'add', '--name', name, '--url', url(token, network), '--start-date', yesterday, '--sync');
      assert.equal(r.code, 0, r.stderr);
    }
    const uk = rowsOf(ACME_TOKEN);
    const us = rowsOf(GLOBEX_TOKEN);
    assert.deepEqual(await labels(home), { fact: { 'uk GBP': uk, 'us USD': us }, days: { 'uk GBP': uk, 'us USD': us } });

    const e = await cli(home, 'edit', 'uk', '--currency', 'eur');
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, `updated connector "uk": currency EUR, start ${yesterday}, lookback 30 days, window 1 day(s), schedule "0 6 * * *"\n`);
    assert.deepEqual(await labels(home), { fact: { 'uk EUR': uk, 'us USD': us }, days: { 'uk EUR': uk, 'us USD': us } });
    const [top] = await duck(home, "SELECT DISTINCT currency FROM rakuten_day_top WHERE _connector = 'uk'");
    assert.deepEqual(top, [{ currency: 'EUR' }]);

    // A later sync loads in the new currency.
    assert.equal((await cli(home, 'sync', 'uk')).code, 0);
    assert.deepEqual((await labels(home)).fact, { 'uk EUR': uk, 'us USD': us });
  });

  it('a home of the version before the currency column: opening it adds the column and labels each connector\'s rows with its currency', async () => {
    const home = tempHome('rc-currency-');
    for (const [name, token, network] of [['uk', ACME_TOKEN, '3'], ['plain', GLOBEX_TOKEN, undefined]] as const) {
      const r = await cli(home, 'add', '--name', name, '--url', url(token, network), '--start-date', yesterday, '--sync');
      assert.equal(r.code, 0, r.stderr);
    }
    // What the earlier version left: no currency column, and settings without a currency.
    await duck(home,
      ...['rakuten_affiliate_report', 'rakuten_day_totals', 'rakuten_day_top'].map((t) => `ALTER TABLE ${t} DROP COLUMN currency`),
      "UPDATE rakuten_connectors SET settings = json_object('startDate', settings->>'startDate', 'lookbackDays', (settings->>'lookbackDays')::INT, 'windowDays', (settings->>'windowDays')::INT, 'schedule', settings->>'schedule', 'paused', (settings->>'paused')::BOOLEAN)::VARCHAR");
    const [cols] = await duck(home, "SELECT count(*) AS n FROM information_schema.columns WHERE column_name = 'currency'");
    assert.equal(Number(cols![0]!.n), 0, 'the column is gone: this is the earlier layout');

    const list = await cli(home, '--json', 'list');
    assert.equal(list.code, 0, list.stderr);
    const settings = Object.fromEntries(list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; currency: string }).map((c) => [c.name, c.currency]));
    assert.deepEqual(settings, { plain: 'USD', uk: 'GBP' }, 'settings saved without a currency take the network\'s, else USD');
    assert.deepEqual(await labels(home), {
      fact: { 'plain USD': rowsOf(GLOBEX_TOKEN), 'uk GBP': rowsOf(ACME_TOKEN) },
      days: { 'plain USD': rowsOf(GLOBEX_TOKEN), 'uk GBP': rowsOf(ACME_TOKEN) },
    });
  });
});

describe('currency: API and charts', () => {
  it('POST asks for the currency when the network has none; the combined charts are per currency, never summed', async () => {
    const s = await startStack({ rowsPerDay: 6 });
    try {
      let r = await s.api('POST', '/api/connectors', { sync: false, name: 'nonet', url: s.reportUrl('affiliate-report', ACME_TOKEN, { network: '' }), startDate: yesterday });
      assert.equal(r.status, 400, r.text);
      assert.match(String((r.data as { errors: Record<string, string> }).errors.currency), /^which currency are this report's amounts in\? The URL names no network/);
      assert.equal((await s.api('GET', '/api/connectors/nonet')).status, 404, 'nothing saved');
      r = await s.api('POST', '/api/connectors', { sync: false, name: 'bad', url: s.reportUrl('affiliate-report', ACME_TOKEN), currency: 'euros' });
      assert.equal(r.status, 400, r.text);
      assert.match(String((r.data as { errors: Record<string, string> }).errors.currency), /ISO 4217/);

      r = await s.api('POST', '/api/connectors', { sync: false, name: 'uk', url: s.reportUrl('affiliate-report', ACME_TOKEN, { network: '3' }), startDate: yesterday });
      assert.equal(r.status, 201, r.text);
      assert.equal((r.data as { connector: { settings: { currency: string } } }).connector.settings.currency, 'GBP');
      r = await s.api('POST', '/api/connectors', { sync: false, name: 'us', url: s.reportUrl('affiliate-report', GLOBEX_TOKEN, { network: '' }), currency: 'usd', startDate: yesterday });
      assert.equal(r.status, 201, r.text);
      const app = s.srv.app;
      await app.sync('uk', {});
      await app.sync('us', {});

      const charts = async (q: string) => (await s.api('GET', `/api/charts?days=2${q}`)).data as {
        currencies: string[]; currency: string | null; series: unknown; totals: unknown;
        byCurrency: { currency: string; connectors: string[]; series: { day: string; currency: string; sales: string }[]; totals: { sales: string; rows: number } }[];
        topPublishers: { currency: string; connector: string }[];
      };
      const sum = (token: string, k: 'sales' | 'total_commissions') =>
        fromUnits(s.sim.totals({ token, report: 'affiliate-report', from: yesterday, to: today, dateType: 'transaction' }).reduce((a, d) => a + toUnits(d[k]), 0n));
      const all = await charts('');
      assert.deepEqual(all.currencies, ['GBP', 'USD']);
      assert.equal(all.currency, null);
      assert.equal(all.series, null, 'no series summed across currencies');
      assert.equal(all.totals, null);
      assert.deepEqual(all.byCurrency.map((c) => [c.currency, c.connectors]), [['GBP', ['uk']], ['USD', ['us']]]);
      assert.equal(toUnits(all.byCurrency[0]!.totals.sales), toUnits(sum(ACME_TOKEN, 'sales')), 'GBP totals: the UK account\'s sales only');
      assert.equal(toUnits(all.byCurrency[1]!.totals.sales), toUnits(sum(GLOBEX_TOKEN, 'sales')), 'USD totals: the US account\'s sales only');
      for (const c of all.byCurrency) assert.ok(c.series.every((d) => d.currency === c.currency) && c.series.length === 2);
      assert.ok(all.topPublishers.length > 0);
      assert.deepEqual([...new Set(all.topPublishers.map((t) => `${t.currency} ${t.connector}`))], ['GBP uk', 'USD us'], 'top entries ranked per currency, GBP first');

      const one = await charts('&connector=uk');
      assert.equal(one.currency, 'GBP');
      assert.deepEqual(one.totals, one.byCurrency[0]!.totals);

      // Not while the connector syncs (in this very process): 409, and nothing changes.
      s.sim.addFaults([{ kind: 'slow', delayMs: 300, times: 4 }]);
      assert.equal((await s.api('POST', '/api/connectors/uk/sync', {})).status, 202);
      await waitFor(async () => ((await s.api('GET', '/api/connectors/uk/progress')).data as { progress: { state: string } | null }).progress?.state === 'running', 'the sync to run');
      r = await s.api('PATCH', '/api/connectors/uk', { currency: 'USD' });
      assert.equal(r.status, 409, r.text);
      assert.match(String((r.data as { errors: Record<string, string> }).errors.sync), /is already running/);
      await waitFor(async () => ((await s.api('GET', '/api/connectors/uk/progress')).data as { progress: { state: string } }).progress.state === 'success', 'the sync to finish', 30_000);
      assert.equal((await charts('&connector=uk')).currency, 'GBP', 'the refused change changed nothing');

      // PATCH relabels: then both are in USD and the combined charts add them up.
      r = await s.api('PATCH', '/api/connectors/uk', { currency: 'USD' });
      assert.equal(r.status, 200, r.text);
      const merged = await charts('');
      assert.equal(merged.currency, 'USD');
      assert.equal(toUnits((merged.totals as { sales: string }).sales), toUnits(sum(ACME_TOKEN, 'sales')) + toUnits(sum(GLOBEX_TOKEN, 'sales')));

      const parsed = await s.api('POST', '/api/parse-url', { url: s.reportUrl('affiliate-report', ACME_TOKEN, { network: '41' }) });
      assert.deepEqual([(parsed.data as { network: string }).network, (parsed.data as { currency: string }).currency], ['41', 'AUD']);
      const meta = (await s.api('GET', '/api/meta')).data as { networks: Record<string, { currency: string }>; currencies: string[] };
      assert.equal(meta.networks['9']!.currency, 'EUR');
      assert.ok(meta.currencies.includes('JPY'));
    } finally {
      await s.close();
    }
  });
});
