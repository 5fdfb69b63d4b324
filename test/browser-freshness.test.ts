/**
 * Freshness in the web app, in real Chromium against a real `serve` and the Rakuten simulator:
 * "Stale after (hours)" in the setup form is saved as `staleAfterHours`; the settings form edits it
 * (empty = automatic: null; 48), sends it only when it changed, and a bad value (0, 10000, text)
 * shows the server's field error beside it and changes nothing. The API's connector answers carry
 * `freshness` (freshnessOf of src/app/freshness.ts). A stale connector has a "stale" badge on the
 * dashboard and a banner on its page; a fresh one neither; never a report token.
 *
 * Staleness is on the wall clock (the route uses `new Date()`, as `check-freshness` does: runs and
 * creation times are recorded in real time; the server's FakeClock drives only the scheduler and
 * the freshness watch). So a connector is made stale honestly, without waiting, by moving its
 * recorded history back in time through the App's own state store: its successful run finished
 * 3 h ago (limit 1 h), or, never synced, it was saved 2 h ago (limit 1 h).
 * Without Chromium the browser tests skip, except in CI (CI set), where they fail.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { DEFAULT_ACCOUNTS, ACME_TOKEN } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { browserSkipReason, launchBrowser, type Stack, startStack, waitFor } from './helpers/browser.js';

const skip = browserSkipReason();
const H = 3_600_000;
const TODAY = () => todayIn('GMT');

interface Freshness { state: string; limitHours: number | null; lastSuccessAt: string | null; ageHours: number }

describe('freshness in the web app, in Chromium', { skip }, () => {
  let s: Stack;
  let browser: Browser;
  const pageErrors: string[] = [];
  const pages: Page[] = [];
  /** Bodies of the PATCH requests the settings form sent. */
  const patches: Record<string, unknown>[] = [];

  const open = async (path: string) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' });
    const page = await ctx.newPage();
    pages.push(page);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // The form's 400s (bad stale-after values) are expected; script and CSP errors are not.
      if (m.type() === 'error' && !/Failed to load resource: .* 400/.test(m.text())) pageErrors.push(m.text());
    });
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patches.push(JSON.parse(r.postData() ?? '{}') as Record<string, unknown>);
    });
    await page.goto(`${s.url}/${path}`);
    return page;
  };
  const connector = async (name: string) => {
    const r = await s.api('GET', `/api/connectors/${name}`);
    assert.equal(r.status, 200, r.text);
    return r.data.connector as { settings: { staleAfterHours: number | null }; freshness: Freshness; lastSuccess: { id: string } | null };
  };
  const syncAndWait = async (name: string) => {
    const r = await s.api('POST', `/api/connectors/${name}/sync`, {});
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => (await s.api('GET', `/api/connectors/${name}/progress`)).data.progress?.state === 'success', `${name} sync`, 60_000);
  };
  const create = async (name: string, body: Record<string, unknown>) => {
    const r = await s.api('POST', '/api/connectors', { sync: false, name, url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: addDays(TODAY(), -2), ...body });
    assert.equal(r.status, 201, r.text);
  };
  /** Nothing secret on the page: no report token in its text or HTML. */
  const assertNoTokens = async (page: Page) => {
    const all = (await page.evaluate(() => (globalThis as any).document.body.innerText as string)) + (await page.content());
    for (const a of DEFAULT_ACCOUNTS) assert.ok(!all.includes(a.token), 'no report token on the page');
    assert.doesNotMatch(all, /tok_[a-z0-9_]{6,}/i, 'no report token');
  };
  /** Opens the settings form of `name` and waits for it. */
  const openEdit = async (name: string) => {
    const page = await open(`#/c/${name}/edit`);
    await page.waitForSelector('#staleAfterHours');
    return page;
  };
  /** Types `value` into "Stale after", saves, and waits for the settings to be saved (back on the connector page). */
  const saveStale = async (page: Page, name: string, value: string) => {
    await page.fill('#staleAfterHours', value);
    await page.click('button[data-action=save]');
    await page.waitForURL(new RegExp(`#/c/${name}$`));
    await page.waitForSelector('[data-testid=stale-limit]');
  };

  before(async () => {
    [s, browser] = await Promise.all([startStack({ rowsPerDay: 5 }), launchBrowser()]);
  });
  afterEach(async () => {
    for (const p of pages.splice(0)) await p.context().close().catch(() => {});
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('the setup form saves "Stale after"; the settings form edits it (empty = automatic), sends it only when changed, and a bad value shows its error and changes nothing', async () => {
    // Setup: 1 hour.
    let page = await open('#/new');
    await page.waitForSelector('[data-testid=required-columns] li');
    assert.equal(await page.textContent('label[for=staleAfterHours]'), 'Stale after (hours)');
    assert.equal(await page.inputValue('#staleAfterHours'), '', 'empty (automatic) by default');
    assert.match(await page.textContent('#staleAfterHours-hint') ?? '', /Empty: automatic, twice the schedule's interval plus 2 h/);
    await page.fill('#name', 'tight');
    await page.fill('#url', s.reportUrl('affiliate-report', ACME_TOKEN));
    await page.waitForSelector('.parsed .chip >> text=affiliate-report');
    await page.uncheck('#firstSync');
    await page.fill('#staleAfterHours', '1');
    await page.click('button[data-action=save]');
    await page.waitForSelector('[data-testid=save-result] .banner.ok', { timeout: 20_000 });
    let c = await connector('tight');
    assert.equal(c.settings.staleAfterHours, 1);
    assert.deepEqual({ ...c.freshness, ageHours: 0 }, { state: 'fresh', limitHours: 1, lastSuccessAt: null, ageHours: 0 }, 'saved just now, never synced: fresh');
    await assertNoTokens(page);

    // Edit: the field shows the saved value and the limit now; empty = automatic (null).
    page = await openEdit('tight');
    assert.equal(await page.inputValue('#staleAfterHours'), '1');
    assert.match(await page.textContent('#staleAfterHours-hint') ?? '', /Now: 1 h \(set\)\.$/);
    await saveStale(page, 'tight', '');
    c = await connector('tight');
    assert.equal(c.settings.staleAfterHours, null, 'empty: automatic');
    assert.equal(c.freshness.limitHours, 50, 'daily at 06:00 GMT: twice 24 h plus 2 h');
    assert.equal(await page.textContent('[data-testid=stale-limit]'), 'Stale after 50 h (automatic)');
    assert.deepEqual(patches.at(-1), { ...patches.at(-1), staleAfterHours: null }, 'the PATCH sent null');

    page = await openEdit('tight');
    assert.equal(await page.inputValue('#staleAfterHours'), '', 'automatic shows as empty');
    assert.match(await page.textContent('#staleAfterHours-hint') ?? '', /Now: 50 h \(automatic\)\.$/);
    await saveStale(page, 'tight', '48');
    assert.equal((await connector('tight')).settings.staleAfterHours, 48);
    assert.equal(await page.textContent('[data-testid=stale-limit]'), 'Stale after 48 h (set)');
    assert.equal(patches.at(-1)?.staleAfterHours, 48);

    // Another setting changed, this one not: it is not sent.
    page = await openEdit('tight');
    await page.fill('#lookbackDays', '20');
    await page.click('button[data-action=save]');
    await page.waitForURL(/#\/c\/tight$/);
    assert.equal(patches.at(-1)?.lookbackDays, 20);
    assert.ok(!('staleAfterHours' in (patches.at(-1) ?? {})), 'unchanged: not in the PATCH');
    assert.equal((await connector('tight')).settings.staleAfterHours, 48);

    // Bad values: the server's field error beside the field, nothing saved.
    page = await openEdit('tight');
    for (const bad of ['0', '10000', 'soon']) {
      const server = await s.api('PATCH', '/api/connectors/tight', { staleAfterHours: /^\d+$/.test(bad) ? Number(bad) : bad });
      assert.equal(server.status, 400, server.text);
      assert.ok(server.data.errors.staleAfterHours, `the API names the field for ${bad}`);
      await page.fill('#staleAfterHours', bad);
      await page.fill('#lookbackDays', '7'); // a change that would be saved at once if the request passed
      await page.click('button[data-action=save]');
      const err = page.locator('#staleAfterHours-error');
      await waitFor(async () => (await err.isVisible()) && (await err.textContent()) === server.data.errors.staleAfterHours, `the field error for ${bad}`);
      assert.equal(await page.getAttribute('#staleAfterHours', 'aria-invalid'), 'true');
      assert.match(page.url(), /#\/c\/tight\/edit$/, 'still on the form');
      const now = await connector('tight');
      assert.equal(now.settings.staleAfterHours, 48, `${bad}: unchanged`);
      assert.equal((now.settings as unknown as { lookbackDays: number }).lookbackDays, 20, `${bad}: nothing else saved either`);
    }
    assert.match(await page.textContent('#staleAfterHours-error') ?? '', /\S/);
    await assertNoTokens(page);
    assert.deepEqual(pageErrors, []);
  });

  it('the API: every connector answer has its freshness', async () => {
    await create('manual-only', { schedule: { type: 'manual' } });
    const list = (await s.api('GET', '/api/connectors')).data.connectors as { name: string; freshness: Freshness }[];
    assert.ok(list.length >= 2);
    for (const x of list) {
      assert.ok(x.freshness, `${x.name} in the list has freshness`);
      assert.deepEqual(Object.keys(x.freshness).sort(), ['ageHours', 'lastSuccessAt', 'limitHours', 'state']);
      assert.ok(['fresh', 'stale', 'paused', 'no-limit'].includes(x.freshness.state));
    }
    assert.deepEqual(list.find((x) => x.name === 'manual-only')?.freshness, { state: 'no-limit', limitHours: null, lastSuccessAt: null, ageHours: 0 });
    const one = await connector('tight');
    assert.deepEqual(one.freshness, list.find((x) => x.name === 'tight')?.freshness, 'the same in GET /api/connectors/:name');
    assert.equal(one.freshness.limitHours, 48);
    await s.api('POST', '/api/connectors/tight/pause', {});
    assert.equal((await connector('tight')).freshness.state, 'paused');
    await s.api('POST', '/api/connectors/tight/resume', {});
  });

  it('a stale connector: a "stale" badge on the dashboard and a banner on its page; a fresh one neither', async () => {
    const state = s.srv.app.db.state;
    // Synced 3 h ago, limit 1 h: stale. Synced just now, limit 1 h: fresh.
    await create('late', { staleAfterHours: 1 });
    await create('on-time', { staleAfterHours: 1 });
    await syncAndWait('late');
    await syncAndWait('on-time');
    const run = (await connector('late')).lastSuccess!;
    const threeHoursAgo = new Date(Date.now() - 3 * H - 60_000).toISOString();
    await state.updateRun(run.id, { startedAt: new Date(Date.parse(threeHoursAgo) - 60_000).toISOString(), finishedAt: threeHoursAgo });
    // Never synced, saved 2 h ago, limit 1 h: stale too.
    await create('never', { staleAfterHours: 1 });
    // saveConnector keeps a saved connector's created_at: saved again from scratch (it has no runs, no cursor).
    const rec = (await state.getConnector('never'))!;
    await state.deleteConnector('never');
    await state.saveConnector({ ...rec, createdAt: new Date(Date.now() - 2 * H - 60_000).toISOString() });

    const late = await connector('late');
    assert.deepEqual(late.freshness, { state: 'stale', limitHours: 1, lastSuccessAt: threeHoursAgo, ageHours: 3 });
    assert.equal((await connector('on-time')).freshness.state, 'fresh');
    assert.deepEqual((await connector('never')).freshness, { state: 'stale', limitHours: 1, lastSuccessAt: null, ageHours: 2 });

    let page = await open('#/');
    await page.waitForSelector('tr[data-connector=late]');
    for (const name of ['late', 'never']) {
      const badge = page.locator(`tr[data-connector=${name}] .cell-name [data-testid=stale-badge]`);
      assert.equal(await badge.count(), 1, `${name} has the stale badge`);
      assert.ok(await badge.isVisible());
      assert.equal(await badge.textContent(), 'stale');
    }
    for (const name of ['on-time', 'tight', 'manual-only']) {
      assert.equal(await page.locator(`tr[data-connector=${name}] [data-testid=stale-badge]`).count(), 0, `${name}: no stale badge`);
    }
    await assertNoTokens(page);

    page = await open('#/c/late');
    const bannerEl = page.locator('[data-testid=stale-banner]');
    await bannerEl.waitFor({ state: 'visible' });
    assert.match(await bannerEl.textContent() ?? '', /^Data is stale\. No successful sync for 3 h: the limit is 1 h\./);
    assert.equal(await page.locator('.title-row [data-testid=stale-badge]').count(), 1, 'the badge beside its name too');
    assert.equal(await page.textContent('[data-testid=stale-limit]'), 'Stale after 1 h (set)');
    await assertNoTokens(page);

    page = await open('#/c/never');
    await page.locator('[data-testid=stale-banner]').waitFor({ state: 'visible' });
    assert.match(await page.textContent('[data-testid=stale-banner]') ?? '', /No successful sync in the 2 h since it was saved: the limit is 1 h\./);

    for (const [name, limit] of [['on-time', 'Stale after 1 h (set)'], ['manual-only', 'Never stale (manual syncs only)']] as const) {
      page = await open(`#/c/${name}`);
      await page.waitForSelector('[data-testid=stale-limit]');
      await page.waitForSelector('[data-testid=history], [data-testid=history-empty]'); // the page has rendered
      assert.equal(await page.textContent('[data-testid=stale-limit]'), limit);
      assert.equal(await page.locator('[data-testid=stale-banner]').count(), 0, `${name}: no stale banner`);
      assert.equal(await page.locator('[data-testid=stale-badge]').count(), 0, `${name}: no stale badge`);
      await assertNoTokens(page);
    }

    // A looser limit: fresh again, the badge and the banner go (the page polls).
    page = await open('#/c/late');
    await page.locator('[data-testid=stale-banner]').waitFor({ state: 'visible' });
    assert.equal((await s.api('PATCH', '/api/connectors/late', { staleAfterHours: 5 })).status, 200);
    await page.locator('[data-testid=stale-banner]').waitFor({ state: 'detached', timeout: 20_000 });
    assert.equal(await page.locator('[data-testid=stale-badge]').count(), 0);
    assert.equal(await page.textContent('[data-testid=stale-limit]'), 'Stale after 5 h (set)');
    assert.deepEqual(pageErrors, []);
  });
});
