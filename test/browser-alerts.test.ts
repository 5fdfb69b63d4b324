/**
 * The alerts page (`#/alerts`, issue 13), in real Chromium against a real `serve`, with a real
 * webhook receiver (node:http on 127.0.0.1) that records every POST: the empty state says what
 * alerts are; a channel added through the form is listed with its target masked (the URL's secret
 * path is in neither the page's text, nor its HTML, nor any answer the browser got); a bad target
 * shows the server's field error and adds nothing; "Send test" makes exactly one POST and the
 * history shows it sent; a receiver answering 500 shows a failed delivery with its error and
 * attempts; a removed channel's deliveries stay in the history; "Send a test to every channel";
 * removing the last channel brings the empty state back (and the API agrees); no sideways
 * scrolling at 360 px; never a report token. docs/screenshots/alerts.png with RAKUTEN_SCREENSHOTS=1.
 * Without Chromium the browser tests skip, except in CI (CI set), where they fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ACME_TOKEN, DEFAULT_ACCOUNTS } from '../src/simulator/index.js';
import { todayIn } from '../src/util/days.js';
import { browserSkipReason, launchBrowser, type Stack, startStack, waitFor } from './helpers/browser.js';

const skip = browserSkipReason();
const SHOTS = process.env.RAKUTEN_SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url).pathname : mkdtempSync(join(tmpdir(), 'rc-shots-'));
/** The secret parts of the webhook URLs: never on the page. */
const OK_SECRET = 'T0A1B2C3D/B4E5F6A7B8/okSecret9f8e7d6c5b4a';
const FAIL_SECRET = 'T9Z8Y7X6W/failSecret1a2b3c4d5e6f';

interface Received { path: string; body: Record<string, unknown> }

/** A webhook receiver: every POST, by path; paths under /fail answer 500. */
async function receiver(): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const srv: Server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(text || '{}') as Record<string, unknown> });
      if ((req.url ?? '').startsWith('/fail')) res.writeHead(500).end('receiver down');
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, got,
    close: () => new Promise((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}

describe('the alerts page in Chromium', { skip }, () => {
  let s: Stack;
  let browser: Browser;
  let page: Page;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const pageErrors: string[] = [];
  const bodies: Promise<string>[] = []; // every answer the browser got from the server

  const okUrl = () => `${hook.url}/hooks/${OK_SECRET}`;
  const failUrl = () => `${hook.url}/fail/${FAIL_SECRET}`;
  const masked = () => `${hook.url}/…`;
  const text = (p: Page = page) => p.evaluate(() => (globalThis as any).document.body.innerText as string);
  const apiAlerts = async () => (await s.api('GET', '/api/alerts')).data as { channels: { id: string; target: string; connector: string | null }[]; deliveries: { channelId: string; event: string; status: string; attempts: number; error: string | null }[] };
  const historyRows = () => page.locator('[data-testid=alert-history] tbody tr');
  /** Nothing secret anywhere the browser can see: no webhook secret, no report token. */
  const assertNoSecrets = async (p: Page = page) => {
    const [t, html] = [await text(p), await p.content()];
    for (const secret of [OK_SECRET, FAIL_SECRET, 'okSecret', 'failSecret', ...DEFAULT_ACCOUNTS.map((a) => a.token)]) {
      assert.ok(!t.includes(secret), `the page's text shows ${secret}`);
      assert.ok(!html.includes(secret), `the page's HTML holds ${secret}`);
    }
    assert.doesNotMatch(t + html, /tok_[a-z0-9_]{6,}/i, 'no report token');
  };

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [s, browser, hook] = await Promise.all([startStack({ rowsPerDay: 5 }), launchBrowser(), receiver()]);
    // One saved connector: the form offers it, and its token must never show.
    const r = await s.api('POST', '/api/connectors', { sync: false, name: 'acme-us', url: s.reportUrl('affiliate-report', ACME_TOKEN), startDate: todayIn('GMT'), schedule: { type: 'manual' } });
    assert.equal(r.status, 201, r.text);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, timezoneId: 'UTC' });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('response', (res) => {
      if (res.url().startsWith(s.url)) bodies.push(res.text().catch(() => ''));
    });
    page.on('console', (m) => {
      // The bad target's 400 is expected; script and CSP errors are not.
      if (m.type() === 'error' && !/Failed to load resource: .* 400/.test(m.text())) pageErrors.push(m.text());
    });
  });
  after(async () => {
    await browser?.close();
    await hook?.close();
    await s?.close();
  });

  it('the header links to the page; with no channel it says what alerts are', async () => {
    await page.goto(`${s.url}/#/`);
    await page.click('nav a[data-nav=alerts]');
    await page.waitForSelector('[data-testid=alerts-empty]');
    assert.equal(await page.getAttribute('nav a[data-nav=alerts]', 'aria-current'), 'page');
    assert.equal(await page.textContent('h1'), 'Alerts');
    const empty = await page.locator('[data-testid=alerts-empty]').innerText();
    for (const what of [/sync failed/, /recovered/, /stale/, /fresh again/, /rejected a connector's token/, /E-mail needs RAKUTEN_SMTP_URL set on the server/]) assert.match(empty, what);
    assert.ok(await page.isDisabled('button[data-action=test-all]'), 'nothing to test');
    assert.equal(await page.textContent('[data-testid=alert-history-empty]'), 'No alerts sent yet. A test alert, or the next change of a connector\'s state, shows here.');
    // Every control of the form is labelled; the connector select offers the saved connector.
    for (const id of ['alert-kind', 'alert-target', 'alert-connector']) assert.equal(await page.locator(`label[for=${id}]`).count(), 1, id);
    assert.deepEqual(await page.locator('#alert-connector option').allTextContents(), ['All connectors', 'acme-us']);
    assert.deepEqual(await page.locator('#alert-kind option').allTextContents(), ['Webhook', 'Slack', 'E-mail']);
    // The target's label and placeholder follow the kind.
    await page.selectOption('#alert-kind', 'email');
    assert.equal(await page.textContent('label[for=alert-target]'), 'E-mail address');
    assert.equal(await page.getAttribute('#alert-target', 'placeholder'), 'data-team@example.com');
    assert.match(await page.textContent('#alert-target-hint') ?? '', /RAKUTEN_SMTP_URL/);
    await page.selectOption('#alert-kind', 'webhook');
    assert.equal(await page.textContent('label[for=alert-target]'), 'Webhook URL');
  });

  it('a bad target shows the server\'s field error beside it and adds nothing', async () => {
    await page.fill('#alert-target', 'ftp://x');
    await page.click('button[data-action=add-channel]');
    const err = page.locator('#alert-target-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent() ?? '', /must start with https:\/\//);
    assert.equal(await page.getAttribute('#alert-target', 'aria-invalid'), 'true');
    assert.ok(await page.isVisible('[data-testid=alerts-empty]'), 'still no channel');
    assert.deepEqual((await apiAlerts()).channels, []);
    // The API names this request's own fields.
    const bad = await s.api('POST', '/api/alerts', { kind: 'webhook', target: 'ftp://x' });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys((bad.data as { errors: object }).errors), ['target']);
    const nobody = await s.api('POST', '/api/alerts', { kind: 'webhook', target: okUrl(), connector: 'nobody' });
    assert.equal(nobody.status, 400);
    assert.deepEqual(Object.keys((nobody.data as { errors: object }).errors), ['connector']);
  });

  it('a webhook for all connectors, added through the form, is listed with its target masked', async () => {
    await page.fill('#alert-target', okUrl());
    await page.selectOption('#alert-connector', '');
    await page.click('button[data-action=add-channel]');
    const row = page.locator('[data-channel]');
    await row.waitFor();
    assert.equal(await row.count(), 1);
    assert.equal(await page.isVisible('#alert-target-error'), false, 'the old error is gone');
    assert.equal(await page.inputValue('#alert-target'), '', 'the form is ready for another');
    assert.match(await page.textContent('[data-testid=add-result]') ?? '', /Channel added: Webhook/);
    assert.equal(await row.locator('[data-testid=channel-target]').textContent(), masked());
    assert.equal(await row.locator('[data-testid=channel-scope]').textContent(), 'All connectors');
    assert.equal(await row.locator('.kind-badge').textContent(), 'Webhook');
    const api = await apiAlerts();
    assert.equal(api.channels.length, 1);
    assert.equal(api.channels[0]!.connector, null);
    assert.equal(await row.getAttribute('data-channel'), api.channels[0]!.id);
    assert.ok(!(await page.isDisabled('button[data-action=test-all]')));
    assert.equal(hook.got.length, 0, 'adding sends nothing');
    await assertNoSecrets();
  });

  it('"Send test" makes exactly one POST, and the history shows it sent', async () => {
    const row = page.locator('[data-channel]');
    await row.locator('button[data-action=test]').click();
    await row.locator('[data-testid=channel-result] [data-outcome=sent]').waitFor();
    assert.match(await row.locator('[data-testid=channel-result]').innerText(), /^Last test:\s+sent\s+1 attempt$/);
    assert.equal(hook.got.length, 1, 'one POST');
    assert.equal(hook.got[0]!.path, `/hooks/${OK_SECRET}`);
    assert.equal(hook.got[0]!.body.event, 'test');
    await page.waitForSelector('[data-testid=alert-history] tbody tr');
    assert.equal(await historyRows().count(), 1);
    const first = historyRows().first();
    assert.equal(await first.getAttribute('data-status'), 'sent');
    assert.deepEqual((await first.locator('td').allInnerTexts()).slice(1).map((t) => t.replace(/\s+/g, ' ').trim()), ['Test', '—', `Webhook ${masked()}`, 'sent 1 attempt']);
    assert.match(await first.locator('td').first().innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d\s+just now$/);
    await assertNoSecrets();
  });

  it('a receiver that answers 500 shows a failed delivery, with its error and attempts', async () => {
    await page.fill('#alert-target', failUrl());
    await page.selectOption('#alert-connector', 'acme-us');
    await page.click('button[data-action=add-channel]');
    await waitFor(async () => (await page.locator('[data-channel]').count()) === 2, 'the second channel');
    const id = (await apiAlerts()).channels.find((c) => c.connector === 'acme-us')!.id;
    const row = page.locator(`[data-channel="${id}"]`);
    assert.equal(await row.locator('[data-testid=channel-scope]').textContent(), 'Connector acme-us');
    const before = hook.got.length;
    await row.locator('button[data-action=test]').click();
    await row.locator('[data-testid=channel-result] [data-outcome=failed]').waitFor({ timeout: 20_000 });
    const result = await row.locator('[data-testid=channel-result]').innerText();
    assert.match(result, /failed/);
    assert.match(result, new RegExp(`${masked().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} answered 500: "receiver down"`));
    assert.match(result, /3 attempts/);
    assert.equal(hook.got.length - before, 3, 'a 500 is tried 3 times');
    await waitFor(async () => (await historyRows().count()) === 2, 'the failed delivery in the history');
    const first = historyRows().first(); // newest first
    assert.equal(await first.getAttribute('data-status'), 'failed');
    const cells = (await first.locator('td').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.equal(cells[1], 'Test');
    assert.equal(cells[3], `Webhook ${masked()}`);
    assert.match(cells[4]!, /^failed .*answered 500: "receiver down" 3 attempts$/);
    assert.equal(await historyRows().nth(1).getAttribute('data-status'), 'sent');
    await assertNoSecrets();
  });

  it('removing a channel asks first; its deliveries stay in the history; a test to every channel', async () => {
    const api = await apiAlerts();
    const failId = api.channels.find((c) => c.connector === 'acme-us')!.id;
    const row = page.locator(`[data-channel="${failId}"]`);
    // Cancel keeps it.
    await row.locator('button[data-action=remove]').click();
    await page.waitForSelector('dialog[open]');
    assert.match(await page.locator('dialog[open]').innerText(), /Remove this alert channel\?[\s\S]*Webhook .* \(connector acme-us\) gets no more alerts/);
    await page.click('dialog[open] button[value=cancel]');
    await page.waitForSelector('dialog', { state: 'detached' });
    assert.equal((await apiAlerts()).channels.length, 2);
    // Remove it.
    await row.locator('button[data-action=remove]').click();
    await page.click('dialog[open] button[data-action=confirm-remove]');
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.locator('[data-channel]').count(), 1);
    assert.deepEqual((await apiAlerts()).channels.map((c) => c.connector), [null]);
    // Its delivery stays, named by the channel's id.
    const failed = page.locator('[data-testid=alert-history] tbody tr[data-status=failed]');
    await waitFor(async () => (await failed.locator('td').nth(3).innerText()).includes(failId), 'the removed channel named by its id');
    assert.equal((await failed.locator('td').nth(3).innerText()).trim(), `removed channel ${failId}`);

    const before = hook.got.length;
    await page.click('button[data-action=test-all]');
    await page.waitForSelector('[data-testid=test-all-result] .banner.ok');
    assert.equal(await page.textContent('[data-testid=test-all-result]'), 'The test alert was sent.');
    assert.equal(hook.got.length - before, 1, 'one POST to the one channel left');
    await waitFor(async () => (await historyRows().count()) === 3, 'the third delivery');
    assert.deepEqual(await historyRows().evaluateAll((rs) => rs.map((r) => (r as any).dataset.status)), ['sent', 'failed', 'sent']);
    // The screenshot without the removal's toast over the page head.
    await page.evaluate(() => (globalThis as any).document.querySelectorAll('.toast').forEach((t: any) => t.remove()));
    await page.screenshot({ path: join(SHOTS, 'alerts.png'), fullPage: true });
    await assertNoSecrets();
  });

  it('no sideways scrolling at 360 px, every action on the screen', async () => {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: 'UTC' });
    try {
      const small = await ctx.newPage();
      small.on('pageerror', (e) => pageErrors.push(e.message));
      await small.goto(`${s.url}/#/alerts`);
      await small.waitForSelector('[data-testid=alert-history] tbody tr');
      await small.locator('[data-channel] button[data-action=test]').click();
      await small.waitForSelector('[data-channel] [data-testid=channel-result] [data-outcome=sent]');
      const r = await small.evaluate(() => {
        const win = globalThis as any;
        const doc = win.document.documentElement;
        const w: number = win.innerWidth;
        const wide = [...win.document.querySelectorAll('body *')].filter((e: any) => e.getBoundingClientRect().right > w + 0.5)
          .slice(0, 6).map((e: any) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`);
        return { scroll: doc.scrollWidth as number, client: doc.clientWidth as number, inner: w, wide };
      });
      assert.equal(r.inner, 360);
      assert.ok(r.scroll <= r.client, `#/alerts at 360 px is ${r.scroll} px wide: ${r.wide.join(', ')}`);
      for (const sel of ['button[data-action=test-all]', '[data-channel] button[data-action=test]', '[data-channel] button[data-action=remove]', 'button[data-action=add-channel]', '#alert-target']) {
        const box = await small.locator(sel).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `${sel} is on the screen`);
      }
      // The history is one card per delivery there, each value under its label.
      const label = await small.locator('[data-testid=alert-history] tbody tr td').nth(4).evaluate((e) => (globalThis as any).getComputedStyle(e, '::before').content as string);
      assert.equal(label, '"Outcome"');
      await assertNoSecrets(small);
    } finally {
      await ctx.close();
    }
  });

  it('removing the last channel brings the empty state back, and the API agrees', async () => {
    await page.bringToFront();
    await page.locator('[data-channel] button[data-action=remove]').click();
    await page.click('dialog[open] button[data-action=confirm-remove]');
    await page.waitForSelector('[data-testid=alerts-empty]');
    assert.equal(await page.locator('[data-channel]').count(), 0);
    assert.ok(await page.isDisabled('button[data-action=test-all]'));
    const api = await apiAlerts();
    assert.deepEqual(api.channels, []);
    assert.equal(api.deliveries.length, 4, 'the history stays');
    assert.equal(await historyRows().count(), 4);
    await assertNoSecrets();
    // Nothing the server sent the browser held a secret; no script error.
    const all = (await Promise.all(bodies)).join('\n');
    for (const secret of [OK_SECRET, FAIL_SECRET, ACME_TOKEN]) assert.ok(!all.includes(secret), `an answer to the browser held ${secret}`);
    assert.deepEqual(pageErrors, []);
  });
});
