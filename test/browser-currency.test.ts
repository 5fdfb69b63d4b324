/**
 * Currencies in the web app, in real Chromium against a real `serve` and the Rakuten simulator:
 * every amount says its currency (totals, axis, daily table, top tables); the dashboard of a USD
 * and a GBP connector shows one currency at a time behind a switch, each with exactly the API's
 * per-currency totals and never their sum; the setup form fills the currency from the URL's
 * network, asks for it when the URL names none (the server's field error shown under it), and a
 * saved connector's new currency relabels its rows; no sideways scrolling at 390 px.
 * Also formatAmount (format.js). docs/screenshots/dashboard-currencies.png with RAKUTEN_SCREENSHOTS=1.
 * Without Chromium the browser tests skip, except in CI (CI set), where they fail.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { formatAmount, formatCount, formatMoney } from '../src/server/public/format.js';
import { ACME_TOKEN, GLOBEX_TOKEN } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { fromUnits, toUnits } from '../src/util/decimal.js';
import { browserSkipReason, launchBrowser, type Stack, startStack, waitFor } from './helpers/browser.js';

const skip = browserSkipReason();
const SHOTS = process.env.RAKUTEN_SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url).pathname : mkdtempSync(join(tmpdir(), 'rc-shots-'));
const TODAY = () => todayIn('GMT');

interface Part { currency: string; connectors: string[]; series: Record<string, string | number>[]; totals: Record<string, string | number> }
interface Top { connector: string; id: string; currency: string; sales: string; total_commissions: string }

describe('formatAmount', () => {
  it('an exact amount with its currency code beside it; none without a code', () => {
    assert.equal(formatAmount('1424355.9200', 'USD'), '1,424,355.92 USD');
    assert.equal(formatAmount('-45.1', 'GBP'), '-45.10 GBP');
    assert.equal(formatAmount('12.3450', 'EUR'), '12.345 EUR');
    assert.equal(formatAmount('7', null), '7.00');
    assert.equal(formatAmount('7', ''), '7.00');
  });
});

describe('currencies in the web app, in Chromium', { skip }, () => {
  let s: Stack;
  let browser: Browser;
  const pageErrors: string[] = [];
  const pages: Page[] = [];

  const open = async (path: string, o: BrowserContextOptions = {}) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, timezoneId: 'UTC', acceptDownloads: true, ...o });
    const page = await ctx.newPage();
    pages.push(page);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // The form's 400 (the currency question) is expected; script and CSP errors are not.
      if (m.type() === 'error' && !/Failed to load resource: .* 400/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(`${s.url}/${path}`);
    return page;
  };
  const syncAndWait = async (name: string) => {
    const r = await s.api('POST', `/api/connectors/${name}/sync`, {});
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => (await s.api('GET', `/api/connectors/${name}/progress`)).data.progress?.state === 'success', `${name} sync`, 60_000);
  };
  const chartsLoaded = (page: Page) => page.waitForSelector('[data-testid=charts][data-loaded-days="30"] [data-testid=top-publishers] tbody tr');
  /** Every text the page shows: nothing in it may be the sum of amounts in two currencies. */
  const pageText = (page: Page) => page.evaluate(() => (globalThis as any).document.body.innerText as string);

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [s, browser] = await Promise.all([startStack({ rowsPerDay: 40 }), launchBrowser()]);
    for (const [name, url] of [
      ['acme-us', s.reportUrl('affiliate-report', ACME_TOKEN, { network: '1' })],
      ['globex-uk', s.reportUrl('affiliate-report', GLOBEX_TOKEN, { network: '3' })],
    ] as const) {
      const r = await s.api('POST', '/api/connectors', { sync: false, name, url, startDate: addDays(TODAY(), -29), schedule: { type: 'hourly' } });
      assert.equal(r.status, 201, r.text);
      await syncAndWait(name);
    }
  });
  afterEach(async () => {
    for (const p of pages.splice(0)) await p.context().close().catch(() => {});
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('the connector page shows its currency in its settings and beside every amount', async () => {
    const c = (await s.api('GET', '/api/connectors/globex-uk')).data.connector;
    assert.equal(c.settings.currency, 'GBP', 'network=3 is GBP');
    const api = (await s.api('GET', '/api/charts?connector=globex-uk&days=30')).data;
    assert.equal(api.currency, 'GBP');
    assert.deepEqual(api.currencies, ['GBP']);
    const page = await open('#/c/globex-uk');
    await chartsLoaded(page);
    assert.equal(await page.textContent('[data-testid=currency]'), 'GBP');
    for (const key of ['sales', 'total_commissions'] as const) {
      const el = page.locator(`[data-testid=total-${key}]`);
      assert.equal(await el.getAttribute('data-value'), api.totals[key]);
      assert.equal(await el.textContent(), `${formatMoney(api.totals[key])} GBP`, key);
    }
    assert.equal(await page.textContent('[data-testid=total-clicks]'), formatCount(api.totals.clicks), 'counts have no currency');
    assert.equal(await page.locator('[data-testid=currency-switch]').count(), 0, 'one currency: no switch');
    assert.deepEqual(await page.locator('[data-testid=axis-currency]').allTextContents(), ['GBP', 'GBP'], 'both money axes say GBP');
    const tip = await page.locator('svg.chart').first().locator('rect.hit title').last().textContent();
    assert.match(tip ?? '', / · Sales [\d,.]+ GBP · Total commissions [\d,.]+ GBP$/);
    const heads = await page.locator('[data-testid=daily-table] thead th').allTextContents();
    assert.deepEqual(heads, ['Day', 'Rows', 'Sales (GBP)', 'Total commissions (GBP)', 'Clicks', 'Orders']);
    for (const t of ['top-publishers', 'top-offers']) {
      assert.deepEqual((await page.locator(`[data-testid=${t}] thead th`).allTextContents()).slice(-2), ['Sales (GBP)', 'Commissions (GBP)'], t);
    }
    const first = api.topPublishers[0] as Top;
    assert.equal(await page.locator('[data-testid=top-publishers] tbody tr').first().locator('[data-testid=top-sales]').getAttribute('title'), formatAmount(first.sales, 'GBP'));
    assert.deepEqual(pageErrors, []);
  });

  it('the dashboard: a currency switch, each currency with exactly the API\'s totals, never a sum', async () => {
    const api = (await s.api('GET', '/api/charts?days=30')).data;
    assert.deepEqual(api.currencies, ['GBP', 'USD']);
    assert.equal(api.totals, null, 'several currencies: no one total');
    const parts = api.byCurrency as Part[];
    const page = await open('#/');
    await chartsLoaded(page);
    const sw = page.locator('[data-testid=currency-switch]');
    assert.deepEqual(await sw.locator('button').evaluateAll((bs) => bs.map((b) => (b as any).dataset.currency)), ['GBP', 'USD']);
    // The connector list says each one's currency.
    assert.match(await page.textContent('tr[data-connector=globex-uk] .conn-sub') ?? '', / · GBP$/);
    const sums = Object.fromEntries((['sales', 'total_commissions'] as const).map((k) => [k, fromUnits(parts.reduce((a, p) => a + toUnits(String(p.totals[k])), 0n))]));
    for (const part of parts) {
      const cur = part.currency;
      await sw.locator(`button[data-currency=${cur}]`).click();
      await page.waitForSelector(`[data-testid=charts][data-currency=${cur}]`);
      assert.equal(await sw.locator(`button[data-currency=${cur}]`).getAttribute('aria-pressed'), 'true');
      assert.equal(await page.textContent('[data-testid=currency-note]'),
        `Amounts are in 2 currencies and never added across them; showing ${cur} (connector ${part.connectors.join(', ')}).`);
      assert.deepEqual(part.connectors, [cur === 'USD' ? 'acme-us' : 'globex-uk']);
      for (const key of ['sales', 'total_commissions', 'clicks', 'orders'] as const) {
        const el = page.locator(`[data-testid=total-${key}]`);
        assert.equal(await el.getAttribute('data-value'), String(part.totals[key]), `${cur} ${key}`);
        const money = key === 'sales' || key === 'total_commissions';
        assert.equal(await el.textContent(), money ? `${formatMoney(String(part.totals[key]))} ${cur}` : formatCount(String(part.totals[key])), `${cur} ${key} as shown`);
        if (money) assert.notEqual(await el.getAttribute('data-value'), sums[key], `${cur} ${key} is not the sum of both currencies`);
      }
      const text = await pageText(page);
      for (const k of ['sales', 'total_commissions'] as const) assert.ok(!text.includes(formatMoney(sums[k]!)), `no ${k} of both currencies added up on the page`);
      // The daily table and the top tables: this currency's only.
      assert.equal(await page.getAttribute('[data-testid=daily-table]', 'data-currency'), cur);
      assert.ok((await page.locator('[data-testid=daily-table] thead th').allTextContents()).includes(`Sales (${cur})`));
      const newest = part.series.at(-1)!;
      assert.equal(await page.locator('[data-testid=daily-table] tbody tr').first().locator('td').nth(2).textContent(), formatMoney(String(newest.sales)));
      for (const [t, list] of [['top-publishers', api.topPublishers], ['top-offers', api.topOffers]] as const) {
        const mine = (list as Top[]).filter((x) => x.currency === cur);
        assert.ok(mine.length > 0, `${t} has ${cur} entries`);
        const rows = page.locator(`[data-testid=${t}] tbody tr`);
        assert.deepEqual(await rows.evaluateAll((rs) => rs.map((r) => (r as any).dataset.currency)), mine.map(() => cur), `${t}: ${cur} rows only`);
        assert.deepEqual(await page.locator(`[data-testid=${t}] [data-testid=top-connector]`).allTextContents(), mine.map((x) => x.connector));
        assert.deepEqual(await page.locator(`[data-testid=${t}] [data-testid=top-sales]`).allTextContents(), mine.map((x) => formatMoney(x.sales)));
        assert.deepEqual((await page.locator(`[data-testid=${t}] thead th`).allTextContents()).slice(-2), [`Sales (${cur})`, `Commissions (${cur})`]);
      }
      // The daily CSV: this currency's days, each saying so.
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=csv-daily]')]);
      assert.match(dl.suggestedFilename(), new RegExp(`-${cur}\\.csv$`));
      const lines = readFileSync((await dl.path())!, 'utf8').slice(1).trim().split('\r\n').map((l) => l.split(','));
      assert.deepEqual(lines[0]!.slice(0, 3), ['day', 'currency', 'rows']);
      assert.deepEqual(lines.slice(1).map((l) => [l[0], l[1], l[5 + 1]]), part.series.map((d) => [d.day, cur, String(d.sales)]));
    }
    // The time-zone subtitle stays.
    assert.match(await page.textContent('[data-testid=charts] .section-head .sub') ?? '', /^Daily totals from the warehouse, /);
    // The choice survives a reload of the charts.
    await page.reload();
    await chartsLoaded(page);
    assert.equal(await page.getAttribute('[data-testid=charts]', 'data-currency'), parts.at(-1)!.currency);
    await sw.locator('button[data-currency=USD]').click();
    await page.waitForSelector('[data-testid=charts][data-currency=USD]');
    await page.screenshot({ path: join(SHOTS, 'dashboard-currencies.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  it('the setup form: the URL\'s network fills the currency; without one it asks, and shows the server\'s error under Currency', async () => {
    const page = await open('#/new');
    await page.waitForSelector('[data-testid=required-columns] li');
    assert.match(await page.textContent('#currency-hint') ?? '', /Which currency are the report's amounts in\?/);
    assert.ok(await page.locator('#currency-list option[value=GBP]').count() === 1, 'the datalist holds the server\'s currencies');
    await page.fill('#name', 'globex-form');
    await page.fill('#url', s.reportUrl('affiliate-report', GLOBEX_TOKEN, { network: '3' }));
    await waitFor(async () => (await page.inputValue('#currency')) === 'GBP', 'GBP from network=3');
    assert.match(await page.textContent('#currency-hint') ?? '', /From the URL's network 3 \(UK\)/);
    // A URL without a network: the currency is emptied again, and the form asks.
    const bare = s.reportUrl('affiliate-report', GLOBEX_TOKEN, { network: '' });
    assert.ok(!bare.includes('network='));
    await page.fill('#url', bare);
    await waitFor(async () => (await page.inputValue('#currency')) === '', 'the currency emptied');
    assert.match(await page.textContent('#currency-hint') ?? '', /Which currency are the report's amounts in\?.*names no network/);
    await page.click('button[data-action=save]');
    const err = page.locator('#currency-error');
    await err.waitFor({ state: 'visible', timeout: 15_000 });
    const server = await s.api('POST', '/api/connectors', { name: 'globex-api', url: bare, sync: false });
    assert.equal(server.status, 400, server.text);
    assert.equal(await err.textContent(), server.data.errors.currency);
    assert.match(await err.textContent() ?? '', /which currency are this report's amounts in\?/);
    assert.equal(await page.getAttribute('#currency', 'aria-invalid'), 'true');
    assert.equal((await s.api('GET', '/api/connectors/globex-form')).status, 404, 'nothing saved');
    // Typed in lower case, it is upper case.
    await page.fill('#currency', 'gbp');
    await page.locator('#currency').dispatchEvent('input');
    assert.equal(await page.inputValue('#currency'), 'GBP');
    assert.deepEqual(pageErrors, []);
  });

  it('editing: the form shows the currency; a new one is sent in the PATCH and relabels the loaded rows', async () => {
    await s.api('POST', '/api/connectors', { sync: false, name: 'relabel-me', url: s.reportUrl('affiliate-report', ACME_TOKEN, { network: '1' }), startDate: addDays(TODAY(), -3), schedule: { type: 'manual' } });
    await syncAndWait('relabel-me');
    const page = await open('#/c/relabel-me/edit');
    await page.waitForSelector('#currency');
    assert.equal(await page.inputValue('#currency'), 'USD');
    assert.match(await page.textContent('#currency-hint') ?? '', /Saved: USD/);
    const patches: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'PATCH') patches.push(req.postData() ?? '');
    });
    await page.fill('#currency', 'EUR');
    assert.match(await page.textContent('#currency-hint') ?? '', /relabels the [\d,]+ rows already loaded as EUR/);
    await page.click('button[data-action=save]');
    await page.waitForURL(/#\/c\/relabel-me$/, { timeout: 15_000 });
    assert.equal(JSON.parse(patches[0]!).currency, 'EUR');
    await page.waitForSelector('[data-testid=currency] >> text=EUR');
    await chartsLoaded(page);
    assert.match(await page.textContent('[data-testid=total-sales]') ?? '', / EUR$/);
    const api = (await s.api('GET', '/api/charts?connector=relabel-me&days=30')).data;
    assert.deepEqual(api.currencies, ['EUR']);
    assert.ok(api.totals.rows > 0, 'the loaded rows are in EUR now');
    assert.deepEqual(pageErrors, []);
  });

  it('no sideways scrolling at 390 px with the currency switch', async () => {
    const page = await open('#/', { viewport: { width: 390, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await chartsLoaded(page);
    await page.waitForSelector('[data-testid=currency-switch]');
    await page.click('details.data summary');
    const r = await page.evaluate(() => {
      const win = globalThis as any;
      const w: number = win.innerWidth;
      const wide = [...win.document.querySelectorAll('body *')].filter((e: any) => {
        for (let p = e.parentElement; p; p = p.parentElement) if (win.getComputedStyle(p).overflowX !== 'visible') return false;
        return e.getBoundingClientRect().right > w + 0.5;
      }).slice(0, 6).map((e: any) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`);
      return { scroll: win.document.documentElement.scrollWidth as number, inner: w, wide };
    });
    assert.equal(r.inner, 390);
    assert.ok(r.scroll <= r.inner, `the dashboard at 390 px is ${r.scroll} px wide: ${r.wide.join(', ')}`);
    const box = await page.locator('[data-testid=currency-switch]').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, 'the switch is on the screen');
    assert.deepEqual(pageErrors, []);
  });
});
