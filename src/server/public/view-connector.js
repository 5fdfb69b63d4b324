// @ts-check
// One connector's page (`#/c/<name>`): its actions (Sync now, Backfill…, Pause/Resume, Test
// connection, Edit settings, Delete…), its settings (currency and freshness limit included), status
// numbers, stale and error banners, live progress, charts and sync history. Polls the connector;
// the charts and history reload when a sync ends.

import { api, enc, errorText } from './api.js';
import { chartsSection } from './charts.js';
import { banner, busy, h, main, pill, toast, withCode } from './dom.js';
import { coverageText, formatCount, formatDuration, localDateTime, relativeTime } from './format.js';
import { current, kick, startPolling } from './live.js';
import { checksList, connectorError, failedLead, isActive, nextText, progressView, staleBadge, staleLimitText, staleText, syncButton } from './parts.js';

/** @import { ApiResult } from './api.js' */
/** @import { Connector, Run, TestReport } from './types.js' */

/**
 * @param {number} seq the view's number (live.js)
 * @param {string} name
 */
export async function connectorView(seq, name) {
  const head = h('div', { class: 'page-head' });
  const stats = h('div', { class: 'stats' });
  const stale = h('div', { class: 'section', hidden: true });
  const alerts = h('div', { class: 'section', hidden: true });
  const progressHost = h('div', { class: 'card section pad', hidden: true, 'data-testid': 'progress-card' });
  const panel = h('div');
  const charts = chartsSection(name, name);
  const history = h('section', { class: 'card section', 'aria-label': 'Sync history' });
  main.replaceChildren(h('a', { class: 'crumb', href: '#/' }, '← All connectors'), head, stats, stale, alerts, progressHost, panel, charts.el, history);
  let wasActive = false;
  let first = true;
  let lastHead = '';

  /** Whether a sync ran or waited at the last poll (the history's empty text says so). */
  let syncing = false;
  const loadHistory = async () => {
    /** @type {ApiResult<{ runs: Run[] }>} */
    const r = await api('GET', `/api/connectors/${enc(name)}/runs?limit=25`);
    if (!current(seq) || !r.ok) return;
    history.replaceChildren(
      h('div', { class: 'section-head' }, h('div', {}, h('h2', { text: 'Sync history' }), h('div', { class: 'sub', text: 'The latest 25 runs, newest first' }))),
      r.data.runs.length
        ? h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'history' },
          h('thead', {}, h('tr', {}, ['Started', 'Status', 'Days', 'Windows', 'Rows', 'Duration', 'Error'].map((x) => h('th', { scope: 'col', class: ['Windows', 'Rows', 'Duration'].includes(x) ? 'num' : '', text: x })))),
          h('tbody', {}, r.data.runs.map((run) => h('tr', {},
            h('td', { class: 'nowrap', title: run.startedAt }, localDateTime(run.startedAt), h('div', { class: 'conn-sub', text: relativeTime(run.startedAt) })),
            h('td', { class: `status-${run.status}`, text: run.status }),
            h('td', { class: 'nowrap', text: run.rangeStart === run.rangeEnd ? run.rangeStart : `${run.rangeStart} … ${run.rangeEnd}` }),
            h('td', { class: 'num', text: `${run.windowsDone}/${run.windowsTotal}` }),
            h('td', { class: 'num', text: formatCount(String(run.rows)) }),
            h('td', { class: 'num', text: run.durationMs == null ? '…' : formatDuration(run.durationMs) }),
            h('td', { class: 'small' }, run.error ? h('span', { class: 'err-text' }, h('span', {}, withCode(run.error))) : h('span', { class: 'faint', text: '–' })))))))
        : h('p', { class: 'pad muted', 'data-testid': 'history-empty', text: syncing ? 'The first sync is running: it shows here when it finishes.' : 'No syncs yet. Click "Sync now" to load the first days.' }));
  };

  /** @param {Connector} c */
  const render = (c) => {
    const headKey = JSON.stringify([c.status, c.settings, c.schedule, c.tokenMasked, c.timeZone, c.freshness]);
    if (headKey !== lastHead) {
      lastHead = headKey;
      const pause = h('button', { class: 'btn', type: 'button', 'data-action': c.settings.paused ? 'resume' : 'pause' }, c.settings.paused ? 'Resume' : 'Pause');
      pause.addEventListener('click', async () => {
        const done = busy(pause, c.settings.paused ? 'Resuming…' : 'Pausing…');
        const r = await api('POST', `/api/connectors/${enc(name)}/${c.settings.paused ? 'resume' : 'pause'}`, {});
        done();
        if (!r.ok) toast(errorText(r.data), 'error');
        else toast(c.settings.paused ? 'Resumed: scheduled syncs run again.' : 'Paused: no scheduled syncs until you resume.');
        kick();
      });
      const backfill = h('button', { class: 'btn', type: 'button', 'data-action': 'backfill' }, 'Backfill…');
      backfill.addEventListener('click', () => showBackfill(c));
      const test = h('button', { class: 'btn', type: 'button', 'data-action': 'test' }, 'Test connection');
      test.addEventListener('click', async () => {
        const done = busy(test, 'Testing…');
        /** @type {ApiResult<TestReport>} */
        const r = await api('POST', `/api/connectors/${enc(name)}/test`, {});
        done();
        if (!current(seq)) return;
        if (!r.ok) return toast(errorText(r.data), 'error');
        panel.replaceChildren(h('section', { class: 'card section pad' },
          h('h2', { text: 'Connection test' }),
          h('div', { class: 'result' }, banner(r.data.ok ? 'ok' : 'error', h('div', { 'data-testid': 'test-cause' }, r.data.ok ? 'All checks passed: the report answers as expected.' : failedLead(r.data))), checksList(r.data))));
      });
      const del = h('button', { class: 'btn danger', type: 'button', 'data-action': 'delete' }, 'Delete…');
      del.addEventListener('click', () => confirmDelete(c));
      head.replaceChildren(
        h('div', {},
          h('div', { class: 'title-row' }, h('h1', { text: c.name }), pill(c.status), staleBadge(c)),
          h('div', { class: 'meta-line' },
            h('span', {}, 'Report ', h('b', { text: c.reportKey })),
            h('span', {}, h('b', { text: c.dateType }), ' dates'),
            h('span', {}, 'Time zone ', h('b', { text: c.timeZone })),
            // Every amount of this connector (sales, commissions) is in this currency.
            h('span', {}, 'Currency ', h('b', { 'data-testid': 'currency', text: c.settings.currency })),
            h('span', {}, 'Schedule ', h('b', { text: c.settings.paused ? `paused (${c.schedule.label})` : c.schedule.label })),
            h('span', {}, 'Lookback ', h('b', { text: `${c.settings.lookbackDays} days` })),
            // No successful sync for longer than this: stale (alerted; `check-freshness` exits 1).
            h('span', { 'data-testid': 'stale-limit' }, ...(staleLimitText(c) ? ['Stale after ', h('b', { text: staleLimitText(c) })] : [h('b', { text: 'Never stale' }), ' (manual syncs only)'])),
            h('span', {}, 'Token ', h('b', { class: 'mono', 'data-testid': 'token-masked', text: c.tokenMasked })))),
        h('div', { class: 'actions' }, syncButton(name, false), backfill, pause, test, h('a', { class: 'btn', href: `#/c/${enc(name)}/edit` }, 'Edit settings'), del));
    }
    const active = isActive(c.progress);
    // While a sync runs or waits, "Next sync" says so first: the schedule's next run comes after it.
    const [nextAt, nextKind] = nextText(c);
    const [next, nextSub] = active
      ? [c.progress?.state === 'queued' ? 'waiting for a slot' : 'running now', c.nextRunAt && !c.settings.paused ? `then ${nextAt}${nextKind ? ` (${nextKind})` : ''}` : nextAt]
      : [nextAt, nextKind];
    // "36 of 91" while days between the first and the last synced day are missing (mid-backfill).
    const cov = coverageText(c.coverage);
    /**
     * @param {string} k
     * @param {string} v
     * @param {string | null} sub
     * @param {string} testid
     */
    const stat = (k, v, sub, testid) => h('div', { class: 'card stat' }, h('div', { class: 'k', text: k }), h('div', { class: 'v', 'data-testid': testid, text: v }), h('div', { class: 's', text: sub || '\u00a0' }));
    stats.replaceChildren(
      stat('Last successful sync', c.lastSuccessAt ? relativeTime(c.lastSuccessAt) : 'never', c.lastSuccessAt ? localDateTime(c.lastSuccessAt) : active ? 'a sync is running now' : 'no sync has finished yet', 'last-success'),
      stat('Next sync', next, nextSub || (c.nextRunAt ? localDateTime(c.nextRunAt) : ''), 'next-sync'),
      stat('Days covered', cov.value, c.coverage.firstDay ? `${c.coverage.firstDay} … ${c.coverage.lastDay}${cov.missing ? ` · ${cov.missing} ${cov.missing === 1 ? 'day' : 'days'} missing` : ''}` : 'no data yet', 'days-covered'),
      stat('Rows', formatCount(String(c.coverage.rows)), c.cursor ? `synced through ${c.cursor}` : 'in rakuten_affiliate_report', 'rows-total'));
    const isStale = c.freshness && c.freshness.state === 'stale';
    stale.hidden = !isStale;
    stale.replaceChildren(isStale ? banner('warn', h('div', { 'data-testid': 'stale-banner' }, h('b', { text: 'Data is stale. ' }), staleText(c),
      ' The warehouse may be missing recent days: "Sync now" brings it up to date.')) : '');
    const error = connectorError(c);
    // While a new sync is queued or runs, the last failure is history: told calmly, not as a live error.
    const retrying = active && !c.problem;
    alerts.hidden = !error;
    alerts.replaceChildren(error ? banner(retrying ? 'warn' : 'error', h('div', {},
      h('b', { text: c.problem ? 'This connector cannot sync: ' : retrying ? 'The previous sync failed; a new one is on its way. ' : c.status === 'failing' ? 'The last sync failed. ' : 'Note: ' }),
      h('span', { 'data-testid': 'last-error' }, withCode(c.problem || error)),
      c.backoffUntil && !c.settings.paused && !retrying ? h('div', { class: 'small', text: `Backing off after ${c.failures} failure${c.failures === 1 ? '' : 's'}: next try ${relativeTime(c.backoffUntil)}.` }) : null)) : '');
    // A failed sync is told once, by the error banner above.
    const prog = c.progress && !(c.progress.state === 'failed' && c.lastError) ? c.progress : null;
    progressHost.hidden = !prog;
    progressHost.replaceChildren(progressView(prog) || '');
  };

  /** @param {Connector} c */
  const showBackfill = (c) => {
    const today = new Date().toISOString().slice(0, 10);
    const from = h('input', { type: 'date', id: 'bf-from', name: 'from', value: c.coverage.firstDay || c.settings.startDate, required: true });
    const to = h('input', { type: 'date', id: 'bf-to', name: 'to', value: today, required: true });
    /** @type {Record<string, HTMLParagraphElement>} */
    const errs = { from: h('p', { class: 'field-error', id: 'bf-from-err', hidden: true }), to: h('p', { class: 'field-error', id: 'bf-to-err', hidden: true }) };
    const go = h('button', { class: 'btn primary', type: 'submit' }, 'Start backfill');
    const form = h('form', { class: 'card section pad', 'aria-label': 'Backfill a date range', novalidate: true },
      h('h2', { text: 'Backfill a date range' }),
      h('p', { class: 'muted small', text: 'Re-loads every day in the range from Rakuten, replacing what the warehouse holds for those days. The schedule and the sync cursor are not changed.' }),
      h('div', { class: 'row3', style: { 'align-items': 'end', 'margin-top': '12px' } },
        h('div', {}, h('label', { for: 'bf-from', text: 'From' }), from, errs.from),
        h('div', {}, h('label', { for: 'bf-to', text: 'To' }), to, errs.to),
        h('div', { class: 'actions' }, go, h('button', { class: 'btn', type: 'button', onclick: () => panel.replaceChildren() }, 'Cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      for (const e of Object.values(errs)) e.hidden = true;
      const done = busy(go, 'Starting…');
      const r = await api('POST', `/api/connectors/${enc(name)}/backfill`, { from: from.value, to: to.value });
      done();
      if (r.ok) {
        // Told where the form was, in the page's flow: a toast would sit over the charts.
        const note = h('div', { class: 'section', 'data-testid': 'backfill-started' }, banner('ok', `Backfill ${from.value} … ${to.value} started: its progress shows above.`));
        panel.replaceChildren(note);
        setTimeout(() => note.remove(), 8000);
        kick();
        return;
      }
      let shown = false;
      for (const [f, msg] of Object.entries(r.data.errors || {})) {
        if (errs[f]) {
          errs[f].textContent = msg;
          errs[f].hidden = false;
          shown = true;
        }
      }
      if (!shown) toast(errorText(r.data), 'error');
    });
    panel.replaceChildren(form);
    from.focus();
  };

  /** @param {Connector} c */
  const confirmDelete = (c) => {
    const dlg = h('dialog', { 'aria-labelledby': 'del-title' });
    const f = h('form', { method: 'dialog' },
      h('h2', { id: 'del-title', text: `Delete connector "${c.name}"?` }),
      h('p', { class: 'muted', text: 'Its settings, schedule and sync history are removed. What about the rows it loaded?' }),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'data', value: 'keep', checked: true }),
        h('span', {}, 'Keep its data', h('small', { text: `${formatCount(String(c.coverage.rows))} rows stay in the warehouse` }))),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'data', value: 'drop' }),
        h('span', {}, 'Delete its data too', h('small', { text: `${formatCount(String(c.coverage.rows))} rows over ${c.coverage.days} days are deleted` }))),
      h('div', { class: 'form-actions', style: { 'justify-content': 'flex-end' } },
        h('button', { class: 'btn', value: 'cancel', type: 'submit' }, 'Cancel'),
        h('button', { class: 'btn danger solid', value: 'delete', type: 'submit', 'data-action': 'confirm-delete' }, 'Delete connector')));
    dlg.append(f);
    document.body.append(dlg);
    dlg.addEventListener('close', async () => {
      // The two radio buttons named "data" (what `f.elements.data` is).
      const drop = /** @type {RadioNodeList} */ (f.elements.namedItem('data')).value === 'drop';
      dlg.remove();
      if (dlg.returnValue !== 'delete') return;
      const r = await api('DELETE', `/api/connectors/${enc(name)}?dropData=${drop}`);
      if (!r.ok) return toast(errorText(r.data), 'error');
      toast(`Deleted "${name}"${drop ? ' and its data' : ''}.`);
      location.hash = '#/';
    });
    dlg.showModal();
  };

  startPolling(async () => {
    /** @type {ApiResult<{ connector: Connector }>} */
    const r = await api('GET', `/api/connectors/${enc(name)}`);
    if (!current(seq)) return false;
    if (!r.ok) {
      main.replaceChildren(h('a', { class: 'crumb', href: '#/' }, '← All connectors'), banner('error', errorText(r.data)));
      return false;
    }
    const c = r.data.connector;
    const active = isActive(c.progress);
    syncing = active;
    render(c);
    charts.setSyncing(active);
    if (first || (wasActive && !active)) {
      charts.load();
      loadHistory();
    }
    first = false;
    wasActive = active;
    return active;
  });
}
