/**
 * Web app polish (issue 11, item 7; item 8), in real Chromium against a real `serve` and the
 * Rakuten simulator: no sideways scrolling on phones (360 and 390 px), dark mode following the
 * system, the 90-day chart showing exactly what a default first sync loads, an empty chart that
 * says a sync is running, a progress bar that starts calm, true hints with code instead of
 * backticks, warehouse names as spelled, a backfill confirmation that covers nothing, the real cause
 * of a failed Save & Test first, coverage gaps shown ("36 of 41"), exact CSV downloads; and the
 * simulator's fake accounts documented in its README.
 * Without Chromium the browser tests skip, except in CI (CI set), where they fail.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { ACME_TOKEN, DEFAULT_ACCOUNTS, GLOBEX_TOKEN } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { browserSkipReason, launchBrowser, type Stack, startStack, waitFor } from './helpers/browser.js';

const skip = browserSkipReason();
const TODAY = () => todayIn('GMT');

/** Relative luminance (0 black … 1 white) of a computed `rgb(…)` / `rgba(…)` colour. */
function luminance(css: string): number {
  const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(css);
  assert.ok(m, `not a colour: ${css}`);
  const [r, g, b] = [m[1], m[2], m[3]].map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** RFC 4180 CSV into rows of fields (the downloads use CRLF and quote what needs it). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  assert.equal(field + row.join(''), '', 'the CSV ends with a line break');
  return rows;
}

describe('web app polish in Chromium', { skip }, () => {
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
      if (m.type() === 'error' && !/Failed to load resource: .* 422/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(`${s.url}/${path}`);
    return page;
  };
  const syncAndWait = async (name: string, body: unknown = {}, path = 'sync') => {
    const r = await s.api('POST', `/api/connectors/${name}/${path}`, body);
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => (await s.api('GET', `/api/connectors/${name}/progress`)).data.progress?.state === 'success', `${name} ${path}`, 60_000);
  };
  const chartsLoaded = (page: Page, days = 30) => page.waitForSelector(`[data-testid=charts][data-loaded-days="${days}"] [data-testid=top-publishers] tbody tr`);
  /** Goes to a view and waits until it is drawn, data included (a hash change keeps the old view a moment). */
  const show = async (page: Page, path: '#/' | '#/c/acme-us' | '#/new') => {
    await page.goto(`${s.url}/${path}`);
    await page.waitForSelector(path === '#/' ? 'tr[data-connector]' : path === '#/new' ? '[data-testid=required-columns] li' : '[data-testid=history] tbody tr');
    if (path !== '#/new') await chartsLoaded(page);
  };

  before(async () => {
    [s, browser] = await Promise.all([startStack({ rowsPerDay: 40 }), launchBrowser()]);
    for (const [name, url, startDate] of [
      ['acme-us', s.reportUrl('affiliate-report', ACME_TOKEN, { tz: 'GMT' }), addDays(TODAY(), -29)],
      ['globex-process-dates', s.reportUrl('affiliate-report', GLOBEX_TOKEN, { date_type: 'process' }), addDays(TODAY(), -20)],
    ] as const) {
      const r = await s.api('POST', '/api/connectors', { sync: false, name, url, startDate, schedule: { type: 'hourly' } });
      assert.equal(r.status, 201, r.text);
      await syncAndWait(name);
    }
  });
  // Every test's pages stop polling when it ends.
  afterEach(async () => {
    for (const p of pages.splice(0)) await p.context().close().catch(() => {});
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('no sideways scrolling at 360 and 390 px: dashboard, connector page, setup form', async () => {
    for (const width of [360, 390]) {
      const page = await open('#/', { viewport: { width, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      for (const path of ['#/', '#/c/acme-us', '#/new'] as const) {
        await show(page, path);
        if (path !== '#/new') {
          assert.ok(await page.locator('[data-testid=top-publishers] tbody tr').count() >= 5, 'the top table is full');
          await page.click('details.data summary');
          if (path === '#/') assert.equal(await page.locator('tr[data-connector]').count(), 2);
        }
        const r = await page.evaluate(() => {
          const win = globalThis as any;
          const w: number = win.innerWidth;
          // What sticks out, for the message (inside a scrolling box nothing counts).
          const wide = [...win.document.querySelectorAll('body *')].filter((e: any) => {
            for (let p = e.parentElement; p; p = p.parentElement) if (win.getComputedStyle(p).overflowX !== 'visible') return false;
            return e.getBoundingClientRect().right > w + 0.5;
          }).slice(0, 6).map((e: any) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`);
          return { scroll: win.document.documentElement.scrollWidth as number, inner: w, wide };
        });
        assert.equal(r.inner, width);
        assert.ok(r.scroll <= r.inner, `${path} at ${width} px is ${r.scroll} px wide: ${r.wide.join(', ')}`);
      }
      // The connector list is one card per connector there: every value visible, labelled.
      await page.goto(`${s.url}/#/`);
      await page.waitForSelector('tr[data-connector=acme-us]');
      const label = await page.locator('tr[data-connector=acme-us] [data-testid=rows]').evaluate((e) => (globalThis as any).getComputedStyle(e, '::before').content as string);
      assert.equal(label, '"Rows"');
      const box = await page.locator('tr[data-connector=acme-us] button[data-action=sync]').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= width, 'Sync now is on the screen');
    }
  });

  it('dark mode follows the system: dark backgrounds, light text, no white boxes', async () => {
    const page = await open('#/', { colorScheme: 'dark' });
    for (const path of ['#/', '#/c/acme-us', '#/new'] as const) {
      await show(page, path);
      const c = await page.evaluate(() => {
        const win = globalThis as any;
        const body = win.getComputedStyle(win.document.body);
        // Every visible box with a background (colour legends and share bars are meant to be bright).
        const boxes: { what: string; bg: string }[] = [...win.document.querySelectorAll('body *')]
          .filter((e: any) => e.offsetParent !== null && !e.closest('.swatch, .share'))
          .map((e: any) => ({ what: `${e.tagName.toLowerCase()}.${e.className}`, bg: win.getComputedStyle(e).backgroundColor as string }))
          .filter((x: { bg: string }) => !/rgba\(0, 0, 0, 0\)|transparent/.test(x.bg));
        return { bg: body.backgroundColor as string, fg: body.color as string, h1: win.getComputedStyle(win.document.querySelector('h1')).color as string, boxes };
      });
      assert.ok(luminance(c.bg) < 0.05, `${path}: body background ${c.bg} is dark`);
      assert.ok(luminance(c.fg) > 0.6, `${path}: text ${c.fg} is light`);
      assert.ok(luminance(c.h1) > 0.6, `${path}: heading ${c.h1} is light`);
      assert.ok(c.boxes.length > 10);
      const bright = c.boxes.filter((x) => luminance(x.bg) > 0.3);
      assert.deepEqual(bright, [], `${path}: no bright boxes in dark mode`);
    }
    // The same page in light mode is light.
    await page.emulateMedia({ colorScheme: 'light' });
    const light: string[] = await page.evaluate(() => {
      const cs = (globalThis as any).getComputedStyle((globalThis as any).document.body);
      return [cs.backgroundColor, cs.color];
    });
    assert.ok(luminance(light[0]!) > 0.8 && luminance(light[1]!) < 0.05, `light mode: ${light.join(' on ')}`);
  });

  it('the 90-day chart shows exactly the days a default first sync loads', async () => {
    const page = await open('#/new');
    await page.waitForSelector('#startDate');
    assert.equal(await page.inputValue('#startDate'), addDays(TODAY(), -89), 'the default start date: 90 days, today included');
    assert.match(await page.textContent('#startDate-hint') ?? '', /last 90 days, today included/);
    await page.fill('#name', 'ninety');
    await page.fill('#url', s.reportUrl('guide-report', ACME_TOKEN));
    await page.waitForSelector('.parsed .chip >> text=guide-report');
    await page.uncheck('#firstSync'); // synced below, and waited for
    await page.click('button[data-action=save]');
    await page.waitForSelector('[data-testid=save-result] .banner.ok');
    await syncAndWait('ninety');
    const cov = (await s.api('GET', '/api/connectors/ninety')).data.connector.coverage;
    await page.goto(`${s.url}/#/c/ninety`);
    await page.click('[data-testid=charts] button[data-days="90"]');
    await page.waitForSelector('[data-testid=charts][data-loaded-days="90"]');
    assert.equal(await page.getAttribute('[data-testid=charts]', 'data-from'), cov.firstDay, 'the chart starts on the first day loaded');
    assert.equal(await page.getAttribute('[data-testid=charts]', 'data-to'), cov.lastDay);
    assert.equal(await page.textContent('[data-testid=days-covered]'), '90');
    await page.context().close();
    await s.api('DELETE', '/api/connectors/ninety?dropData=true');
  });

  it('while a sync runs: the empty chart says so, and the progress bar starts calm, not red', async () => {
    let r = await s.api('POST', '/api/connectors', { sync: false, name: 'fresh', url: s.reportUrl('extra-cols', ACME_TOKEN), startDate: addDays(TODAY(), -8), schedule: { type: 'manual' } });
    assert.equal(r.status, 201, r.text);
    const page = await open('#/c/fresh');
    const notice = page.locator('[data-testid=charts-notice]');
    await page.waitForSelector('[data-testid=charts-notice][data-state=empty]');
    assert.match(await notice.textContent() ?? '', /No rows in this period yet/);
    s.sim.addFaults([{ kind: 'slow', delayMs: 900, times: 9 }]);
    await page.click('button[data-action=sync]');
    await page.waitForSelector('[data-testid=charts-notice][data-state=syncing]');
    assert.match(await notice.textContent() ?? '', /A sync is running: the charts fill in when it finishes/);
    assert.doesNotMatch(await notice.textContent() ?? '', /No rows|Run a sync/);
    const bar = await waitFor(() => page.evaluate(() => {
      const win = globalThis as any;
      const p = win.document.querySelector('[data-testid=progress][data-state=running]');
      const span = p?.querySelector('.bar span');
      if (!p || !span) return null;
      const cs = win.getComputedStyle(span);
      return {
        cls: p.className as string, text: (p.textContent ?? '') as string, paint: `${cs.backgroundColor} ${cs.backgroundImage}`,
        width: span.getBoundingClientRect().width as number, track: span.parentElement.getBoundingClientRect().width as number,
      };
    }), 'the running progress bar', 15_000);
    assert.doesNotMatch(bar.cls, /failed/);
    assert.doesNotMatch(bar.paint, /rgb\(179, 38, 30\)|rgb\(229, 83, 75\)/, 'no error red');
    if (/ 0\/\d+ windows/.test(bar.text)) {
      assert.match(bar.cls, /starting/, `0 windows done: ${bar.text}`);
      assert.ok(bar.width >= bar.track - 1, 'a full moving stripe, not a 2 % stub');
    }
    assert.equal(await page.locator('.banner.error').count(), 0, 'nothing on the page looks like an error');
    await page.waitForSelector('[data-testid=progress][data-state=success]', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=charts-notice][data-state=none]', { state: 'attached', timeout: 10_000 });
    assert.ok(await page.locator('[data-testid=top-publishers] tbody tr').count() > 0);
    await page.context().close();
    r = await s.api('DELETE', '/api/connectors/fresh?dropData=true');
    assert.ok(r.status < 300, r.text);
  });

  it('after a failed sync, a new one shows no error while it runs', async () => {
    let r = await s.api('POST', '/api/connectors', { sync: false, name: 'flaky', url: s.reportUrl('guide-report', ACME_TOKEN), startDate: addDays(TODAY(), -2), schedule: { type: 'manual' } });
    assert.equal(r.status, 201, r.text);
    s.sim.addFaults([{ kind: '500', times: 1000, match: { report: 'guide-report' } }]);
    r = await s.api('POST', '/api/connectors/flaky/sync', {});
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => (await s.api('GET', '/api/connectors/flaky/progress')).data.progress?.state === 'failed', 'the failing sync', 60_000);
    s.sim.clearFaults();
    const page = await open('#/c/flaky');
    await page.waitForSelector('.banner.error [data-testid=last-error]');
    s.sim.addFaults([{ kind: 'slow', delayMs: 1500, times: 3, match: { report: 'guide-report' } }]);
    await page.click('button[data-action=sync]');
    await page.waitForSelector('[data-testid=progress][data-state=running]');
    // The old failure is history now: no error banner, no red bar while the new sync runs.
    assert.equal(await page.locator('.banner.error').count(), 0);
    assert.equal(await page.locator('.banner.error [data-testid=last-error]').count(), 0);
    assert.doesNotMatch(await page.getAttribute('[data-testid=progress]', 'class') ?? '', /failed/);
    await page.waitForSelector('[data-testid=progress][data-state=success]', { timeout: 30_000 });
    assert.equal(await page.locator('[data-testid=last-error]').count(), 0, 'the old failure is gone after a success');
    await page.context().close();
    r = await s.api('DELETE', '/api/connectors/flaky?dropData=true');
    assert.ok(r.status < 300, r.text);
  });

  it('true hints, code instead of backticks, warehouse names as spelled', async () => {
    const page = await open('#/new');
    await page.waitForSelector('[data-testid=test-note]');
    assert.match(await page.textContent('[data-testid=test-note]') ?? '', /asks Rakuten for the rows of yesterday and today, in one request/);
    await page.fill('#url', s.reportUrl('affiliate-report', ACME_TOKEN, { date_type: 'process' }));
    await waitFor(async () => /asks Rakuten for today's rows/.test(await page.textContent('[data-testid=test-note]') ?? ''), 'the note for process dates');
    const hint = page.locator('#schedule-hint');
    assert.equal(await hint.locator('code').textContent(), 'rakuten-connector serve');
    assert.ok(!(await page.textContent('main'))!.includes('`'), 'no literal backticks on the form');
    await page.goto(`${s.url}/#/`);
    await page.waitForSelector('tr[data-connector]');
    assert.match(await page.textContent('.page-head .sub') ?? '', /your DuckDB warehouse/);
    await waitFor(async () => /^Warehouse: DuckDB · /.test(await page.textContent('#foot-warehouse') ?? ''), 'the footer');
    assert.ok(!/duckdb ?warehouse|: duckdb/.test(await page.textContent('body') ?? ''));
  });

  it('an unknown report: "report found" fails first, the token is not blamed', async () => {
    const page = await open('#/new');
    await page.fill('#name', 'nope');
    await page.fill('#url', s.reportUrl('no-such-report', ACME_TOKEN));
    await page.click('button[data-action=save]');
    await page.waitForSelector('li[data-check=report]');
    assert.deepEqual(await page.locator('li[data-result]').evaluateAll((els: any[]) => els.map((e) => `${e.dataset.check}:${e.dataset.result}`)),
      ['url:ok', 'reachable:ok', 'report:fail', 'token:skip', 'csv:skip', 'columns:skip', 'data:skip']);
    assert.match(await page.textContent('[data-testid=save-cause]') ?? '', /^Nothing was saved\. "report found" failed: .+\. See how to fix it below/);
    const token = await page.textContent('li[data-check=token] .check-detail') ?? '';
    assert.match(token, /report was not found/);
    assert.doesNotMatch(token, /earlier check failed/);
    assert.equal((await s.api('GET', '/api/connectors/nope')).status, 404);
  });

  it('a backfill is confirmed in the page, over nothing; then coverage shows the missing days', async () => {
    const page = await open('#/c/acme-us');
    await chartsLoaded(page);
    await page.click('button[data-action=backfill]');
    const [from, to] = [addDays(TODAY(), -40), addDays(TODAY(), -35)];
    await page.fill('#bf-from', from);
    await page.fill('#bf-to', to);
    await page.click('form[aria-label="Backfill a date range"] button[type=submit]');
    const note = page.locator('[data-testid=backfill-started]');
    await note.waitFor();
    assert.match(await note.textContent() ?? '', new RegExp(`Backfill ${from} … ${to} started`));
    assert.equal(await page.locator('.toast').count(), 0, 'no toast over the page');
    const nb = (await note.boundingBox())!;
    for (const svg of await page.locator('svg.chart').all()) {
      const b = (await svg.boundingBox())!;
      assert.ok(nb.y + nb.height <= b.y || b.y + b.height <= nb.y || nb.x + nb.width <= b.x || b.x + b.width <= nb.x, 'the confirmation does not cover a chart');
    }
    await waitFor(async () => (await s.api('GET', '/api/connectors/acme-us/progress')).data.progress?.state === 'success', 'the backfill', 60_000);
    // 30 days synced and 6 backfilled, from today-40 to today: 41 days, 5 missing.
    await waitFor(async () => (await page.textContent('[data-testid=days-covered]')) === '36 of 41', 'the connector page coverage', 15_000);
    assert.match(await page.locator('.stat', { has: page.locator('[data-testid=days-covered]') }).textContent() ?? '', new RegExp(`${from} … ${TODAY()} · 5 days missing`));
    await page.goto(`${s.url}/#/`);
    const cell = page.locator('tr[data-connector=acme-us] [data-testid=days-covered]');
    await cell.waitFor();
    assert.match(await cell.textContent() ?? '', /^36 of 41.* · 5 missing$/);
    // A connector without gaps keeps the plain count.
    assert.match(await page.locator('tr[data-connector=globex-process-dates] [data-testid=days-covered]').textContent() ?? '', /^21[A-Z]/);
  });

  it('CSV downloads of the daily numbers and the top tables: exactly the API\'s strings', async () => {
    const page = await open('#/c/acme-us');
    await chartsLoaded(page);
    const api = (await s.api('GET', '/api/charts?connector=acme-us&days=30')).data;
    const get = async (testid: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${testid}]`)]);
      const text = readFileSync((await dl.path())!, 'utf8');
      assert.ok(text.startsWith('\ufeff'), 'UTF-8 with a BOM');
      return { name: dl.suggestedFilename(), rows: parseCsv(text.slice(1)) };
    };
    const daily = await get('csv-daily');
    assert.equal(await page.locator('details.data').getAttribute('open'), null, 'the button does not open the details');
    assert.equal(daily.name, `rakuten-daily-acme-us-${api.from}-to-${api.to}.csv`);
    const cols = ['day', 'currency', 'rows', 'impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'];
    assert.deepEqual(daily.rows, [cols, ...api.series.map((d: Record<string, unknown>) => cols.map((k) => String(d[k])))]);
    assert.ok(daily.rows.slice(1).every((r) => r[1] === 'USD'), 'every day says its currency');
    assert.ok(daily.rows.some((r) => /^\d+\.\d{4}$/.test(r[6]!) && r[6] !== '0.0000'), 'money as the warehouse wrote it');
    for (const [testid, list] of [['csv-top-publishers', api.topPublishers], ['csv-top-offers', api.topOffers]] as const) {
      const top = await get(testid);
      assert.equal(top.rows.length, list.length + 1);
      assert.deepEqual(top.rows, [['rank', 'id', 'name', 'rows', 'currency', 'sales', 'total_commissions'],
        ...list.map((x: Record<string, unknown>, i: number) => [String(i + 1), String(x.id), /^[=+\-@]/.test(String(x.name ?? '')) ? `'${x.name}` : String(x.name ?? ''), String(x.rows), String(x.currency), String(x.sales), String(x.total_commissions)])]);
    }
    assert.deepEqual(pageErrors, [], 'no script or CSP errors in any page');
  });

  it('the combined top tables of all connectors name each row\'s connector, on the page and in the CSV', async () => {
    const page = await open('#/');
    await chartsLoaded(page);
    const api = (await s.api('GET', '/api/charts?days=30')).data;
    assert.equal(api.connector, null);
    const connectors = new Set(api.topPublishers.map((x: { connector: string }) => x.connector));
    assert.ok(connectors.size > 0 && [...connectors].every((c) => c === 'acme-us' || c === 'globex-process-dates'), `the rows name the connectors (${[...connectors]})`);
    const shown = await page.locator('[data-testid=top-publishers] tbody tr [data-testid=top-connector]').allTextContents();
    assert.deepEqual(shown, api.topPublishers.map((x: { connector: string }) => x.connector));
    assert.ok(await page.locator('[data-testid=top-publishers] thead th', { hasText: 'Connector' }).count() === 1);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=csv-top-publishers]')]);
    const rows = parseCsv(readFileSync((await dl.path())!, 'utf8').slice(1));
    assert.deepEqual(rows[0], ['rank', 'id', 'name', 'connector', 'rows', 'currency', 'sales', 'total_commissions']);
    assert.deepEqual(rows.slice(1).map((r) => [r[1], r[3]]), api.topPublishers.map((x: { id: string; connector: string }) => [x.id, x.connector]));
    // One connector's page has no connector column.
    const one = await open('#/c/acme-us');
    await chartsLoaded(one);
    assert.equal(await one.locator('[data-testid=top-publishers] [data-testid=top-connector]').count(), 0);
    assert.deepEqual(pageErrors, [], 'no script or CSP errors in any page');
  });
});

describe('simulator README', () => {
  it('lists every fake account: name, token and report keys, said to be test fixtures', () => {
    const text = readFileSync(new URL('../src/simulator/README.md', import.meta.url), 'utf8');
    assert.match(text, /fake test fixtures/i);
    for (const a of DEFAULT_ACCOUNTS) {
      assert.ok(text.includes(`| ${a.name} |`), a.name);
      assert.ok(text.includes(`\`${a.token}\``), `${a.name}'s token`);
      for (const [key, r] of Object.entries(a.reports)) {
        assert.ok(text.includes(`\`${key}\``), key);
        assert.ok(text.includes(r.name), r.name);
      }
    }
  });
});
