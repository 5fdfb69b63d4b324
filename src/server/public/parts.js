// @ts-check
// Pieces the dashboard, the connector page and the setup form share: the progress bar of a sync,
// the "Sync now" button, the next-sync text, a connector's freshness (limit, stale badge) and error,
// and the list of Save & Test checks.

import { api, enc, errorText } from './api.js';
import { busy, h, toast, withCode } from './dom.js';
import { formatCount, formatDuration, relativeTime } from './format.js';
import { kick } from './live.js';

/** @import { Check, Connector, Progress, TestReport } from './types.js' */
/** @import { KidItem } from './dom.js' */

/** @param {Progress | null | undefined} p */
export const isActive = (p) => Boolean(p && (p.state === 'running' || p.state === 'queued'));

/** @param {Progress | null} p */
export function progressView(p) {
  if (!p) return null;
  const total = p.windowsTotal || 0;
  const pct = p.state === 'success' ? 100 : total ? Math.round((p.windowsDone / total) * 100) : 0;
  // A sync that has not finished a window yet is "starting": a calm moving stripe, not a 2 % stub.
  const starting = p.state === 'running' && !p.windowsDone;
  const cls = p.state === 'queued' ? 'queued' : p.state === 'success' ? 'done' : p.state === 'failed' ? 'failed' : starting ? 'running starting' : 'running';
  const what = p.kind === 'backfill' ? 'Backfill' : p.kind === 'manual' ? 'Sync' : p.kind === 'catch-up' ? 'Catch-up sync' : 'Scheduled sync';
  const range = p.rangeStart ? `${p.rangeStart} … ${p.rangeEnd}` : '';
  /** @type {KidItem[]} */
  let text;
  if (p.state === 'queued') text = [h('b', { text: `${what} waiting` }), ' for a free sync slot…'];
  else if (p.state === 'running') {
    text = [
      h('b', { text: `${what} running` }), range ? ` · ${range}` : '',
      ` · ${p.windowsDone}/${total || '…'} windows · ${formatCount(String(p.rows))} rows · ${formatCount(String(p.rowsPerSec))} rows/s`,
      p.note ? ` · ${p.note}` : '',
    ];
  } else if (p.state === 'success') {
    text = [h('b', { text: `${what} finished` }), ` ${relativeTime(p.finishedAt)} · ${p.windowsDone}/${total} windows · ${formatCount(String(p.rows))} rows in ${formatDuration(p.elapsedMs)}`, p.rowsPerSec ? ` (${formatCount(String(p.rowsPerSec))} rows/s)` : ''];
  } else {
    text = [h('b', { text: `${what} failed` }), ` after ${p.windowsDone}/${total} windows: ${p.error || 'unknown error'}`];
  }
  return h('div', {
    class: `progress ${cls}`, 'data-testid': 'progress', 'data-state': p.state, role: 'progressbar', 'aria-label': `${what} progress`,
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct,
  },
  h('div', { class: 'bar' }, h('span', { style: { width: `${p.state === 'queued' || starting ? 100 : Math.max(2, pct)}%` } })),
  h('div', { class: 'progress-text', 'data-testid': 'progress-text', 'aria-live': 'polite' }, text));
}

/**
 * "Sync now": starts a sync of the connector, then polls soon.
 * @param {string} name
 * @param {boolean} [small]
 */
export function syncButton(name, small = true) {
  const b = h('button', { class: `btn${small ? ' small' : ''}`, type: 'button', 'data-action': 'sync' }, 'Sync now');
  b.addEventListener('click', async () => {
    const done = busy(b, 'Starting…');
    const r = await api('POST', `/api/connectors/${enc(name)}/sync`, {});
    done();
    if (!r.ok) toast(errorText(r.data), 'error');
    kick();
  });
  return b;
}

/**
 * When the next sync runs, and why then.
 * @param {Connector} c
 * @returns {[string, string | null]}
 */
export function nextText(c) {
  if (c.settings.paused) return ['paused', null];
  if (!c.nextRunAt) return [c.schedule.type === 'manual' ? 'manual only' : '–', null];
  const kind = c.nextRunKind === 'retry' ? `retry after ${c.failures} failure${c.failures === 1 ? '' : 's'}` : c.nextRunKind === 'catch-up' ? 'catch-up' : c.schedule.label;
  return [relativeTime(c.nextRunAt), kind];
}

/**
 * A connector's freshness limit in words: "50 h (automatic)" or "48 h (set)"; null without one.
 * @param {Connector} c
 */
export function staleLimitText(c) {
  const f = c.freshness;
  if (!f || f.limitHours === null) return null;
  return `${f.limitHours} h (${c.settings.staleAfterHours === null ? 'automatic' : 'set'}${f.state === 'paused' ? '; not checked while paused' : ''})`;
}

/**
 * Why a stale connector is: "No successful sync for 52 h: the limit is 50 h."
 * @param {Connector} c
 */
export function staleText(c) {
  const { ageHours, limitHours, lastSuccessAt } = c.freshness;
  const age = limitHours === null || ageHours > limitHours ? `${ageHours} h` : `over ${limitHours} h`;
  return lastSuccessAt ? `No successful sync for ${age}: the limit is ${limitHours} h.` : `No successful sync in the ${age} since it was saved: the limit is ${limitHours} h.`;
}

/**
 * The "stale" badge beside a stale connector's name; null when it is not stale.
 * @param {Connector} c
 */
export const staleBadge = (c) => (c.freshness && c.freshness.state === 'stale' ? h('span', { class: 'pill stale', 'data-testid': 'stale-badge', title: staleText(c), text: 'stale' }) : null);

/**
 * What is wrong with a connector: why it cannot be used at all, else its last failure.
 * @param {Connector} c
 */
export function connectorError(c) {
  return c.problem ? `Cannot sync: ${c.problem}` : c.lastError;
}

/**
 * The check that failed, if one did: the real cause, to be told first.
 * @param {Pick<TestReport, 'checks'>} report
 * @returns {Check | undefined}
 */
export const failedCheck = (report) => report.checks.find((c) => c.ok === false);

/**
 * The lead of a failed Save & Test: the check that failed and why, told before the list.
 * @param {Pick<TestReport, 'checks'>} report
 * @returns {KidItem[]}
 */
export function failedLead(report) {
  const c = failedCheck(report);
  if (!c) return ['Fix the failing check below, then try again.'];
  return [`"${c.label}" failed: `, ...withCode(c.detail.replace(/[.\s]+$/, '')), '. See how to fix it below, then try again.'];
}

/**
 * Why a check was not run. The server says so when it knows more (a report that was not found
 * says nothing about the token); else an earlier check failed.
 * @param {Check} c
 * @param {Check | undefined} failed
 */
function skipText(c, failed) {
  const m = /^not checked\s*\((.+)\)$/.exec(c.detail || '');
  if (m) return `not checked: ${m[1]}, so this could not be tested`;
  if (c.detail && c.detail !== 'not checked') return c.detail;
  return failed ? `not checked: "${failed.label}" failed first` : 'not checked';
}

/**
 * Save & Test results: every check (the failed one with its fix), then the warnings. The passed
 * checks come first, then the failed one, then those not run: the real cause is never listed
 * below a check it kept from running.
 * @param {Pick<TestReport, 'checks'> & { warnings?: string[] }} report
 * @returns {[HTMLUListElement, HTMLUListElement | null]}
 */
export function checksList(report) {
  const icon = { ok: '✓', fail: '✕', skip: '–' };
  const failed = failedCheck(report);
  const rank = (/** @type {Check} */ c) => (c.ok === true ? 0 : c.ok === false ? 1 : 2);
  const ordered = report.checks.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
  const items = ordered.map((c) => {
    const cls = c.ok === true ? 'ok' : c.ok === false ? 'fail' : 'skip';
    return h('li', { class: cls, 'data-check': c.id, 'data-result': cls },
      h('span', { class: 'check-icon', 'aria-hidden': 'true', text: icon[cls] }),
      h('div', {},
        h('div', { class: 'check-label' }, h('span', { class: 'visually-hidden', text: cls === 'ok' ? 'Passed: ' : cls === 'fail' ? 'Failed: ' : 'Not checked: ' }), c.label),
        c.ok === false || (c.detail && c.detail !== 'ok') ? h('div', { class: 'check-detail' }, c.ok === null ? skipText(c, failed) : withCode(c.detail)) : null,
        c.ok === false && c.hint ? h('div', { class: 'check-hint', 'data-testid': 'hint' }, h('b', { text: 'How to fix: ' }), withCode(c.hint)) : null));
  });
  return [
    h('ul', { class: 'checks', 'aria-label': 'Save & Test checks' }, items),
    report.warnings && report.warnings.length ? h('ul', { class: 'warnings' }, report.warnings.map((w) => h('li', { text: w }))) : null,
  ];
}
