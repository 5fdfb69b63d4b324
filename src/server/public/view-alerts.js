// @ts-check
// The alerts page (`#/alerts`, issue 13): where alerts go and what was sent, the web app's side of
// `rakuten-connector alerts`. The channels (targets masked as the API gives them: a webhook's URL
// is a secret and never comes back whole), a test alert to one channel or to every channel with its
// outcome in place, adding a channel (the server's field errors beside the fields) and removing one
// (confirmed in a dialog, like deleting a connector), and the alert history, newest first. Polls
// slowly, so alerts sent by syncs and freshness checks show up; redraws a part only when it changed.

import { api, enc, errorText } from './api.js';
import { banner, busy, h, main, toast, withCode } from './dom.js';
import { localDateTime, relativeTime } from './format.js';
import { current, startPolling } from './live.js';

/** @import { ApiResult } from './api.js' */
/** @import { AlertChannel, AlertChannelKind, AlertDelivery, AlertsAnswer, Connector } from './types.js' */

/** How many deliveries the history shows. */
const HISTORY_LIMIT = 50;

/**
 * What the form says for each kind of channel.
 * @type {Record<AlertChannelKind, { label: string, target: string, placeholder: string, hint: string, inputmode: string }>}
 */
const KINDS = {
  webhook: {
    label: 'Webhook', target: 'Webhook URL', placeholder: 'https://ops.example.com/hooks/rakuten', inputmode: 'url',
    hint: 'Every alert is POSTed there as JSON. https:// (http:// only for 127.0.0.1 or localhost); the URL is stored encrypted and only its host is shown again.',
  },
  slack: {
    label: 'Slack', target: 'Slack incoming-webhook URL', placeholder: 'https://hooks.slack.com/services/…', inputmode: 'url',
    hint: 'Slack, Mattermost or any Slack-compatible incoming webhook. Its URL is a secret: stored encrypted, shown masked.',
  },
  email: {
    label: 'E-mail', target: 'E-mail address', placeholder: 'data-team@example.com', inputmode: 'email',
    hint: 'Needs `RAKUTEN_SMTP_URL` on the server (and `RAKUTEN_ALERT_FROM` for the sender); without it every e-mail fails, saying so.',
  },
};

/** The events as the history names them. */
/** @type {Record<string, string>} */
const EVENTS = { failed: 'Sync failed', recovered: 'Recovered', stale: 'Stale', fresh: 'Fresh again', token_rejected: 'Token rejected', test: 'Test' };

/** @param {string} kind */
const kindLabel = (kind) => (kind in KINDS ? KINDS[/** @type {AlertChannelKind} */ (kind)].label : kind);

/** @param {number} n */
const attemptsText = (n) => (n > 0 ? `${n} ${n === 1 ? 'attempt' : 'attempts'}` : 'not attempted');

/** @param {AlertChannel} c */
const scopeText = (c) => (c.connector === null ? 'All connectors' : `Connector ${c.connector}`);

/**
 * A delivery's outcome: "sent" or "failed" with the error (redacted by the server) and the attempts.
 * @param {Pick<AlertDelivery, 'status' | 'attempts' | 'error'>} d
 */
function outcomeView(d) {
  if (d.status === 'sent') {
    return h('div', { 'data-outcome': 'sent' }, h('span', { class: 'status-success', text: 'sent' }), h('div', { class: 'conn-sub', text: attemptsText(d.attempts) }));
  }
  return h('div', { 'data-outcome': 'failed' },
    h('span', { class: 'status-failed', text: 'failed' }),
    d.error ? h('div', { class: 'err-text small' }, h('span', {}, withCode(d.error))) : null,
    h('div', { class: 'conn-sub', text: attemptsText(d.attempts) }));
}

/** @param {number} seq the view's number (live.js) */
export async function alertsView(seq) {
  /** @type {ApiResult<{ connectors: Connector[] }>} */
  const cr = await api('GET', '/api/connectors');
  if (!current(seq)) return;
  const connectors = cr.ok ? cr.data.connectors.map((c) => c.name) : [];

  /** @type {AlertChannel[]} */
  let channels = [];
  /** The outcome of the last test of each channel, shown in its row until the page is left. */
  /** @type {Map<string, AlertDelivery | { error: string }>} */
  const results = new Map();
  /** @type {Map<string, HTMLElement>} */
  const resultEls = new Map();
  let lastChannels = '';
  let lastHistory = '';

  const testAllNote = h('div', { class: 'section', 'data-testid': 'test-all-result', 'aria-live': 'polite', hidden: true });
  const testAll = h('button', { class: 'btn', type: 'button', 'data-action': 'test-all', disabled: true }, 'Send a test to every channel');
  const channelsCard = h('section', { class: 'card section', 'aria-labelledby': 'channels-title', 'data-testid': 'channels' },
    h('p', { class: 'pad muted', text: 'Loading alert channels…' }));
  const historyCard = h('section', { class: 'card section', 'aria-labelledby': 'alert-history-title' });
  const form = addForm(connectors, () => refresh());
  main.replaceChildren(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Alerts' }),
        h('p', { class: 'sub', text: 'Where the connector tells you that a sync failed, recovered or went stale: once per change, never once per retry.' })),
      h('div', { class: 'actions' }, testAll)),
    testAllNote, channelsCard, form.el, historyCard);

  /** @param {string} id */
  const paintResult = (id) => {
    const el = resultEls.get(id);
    const r = results.get(id);
    if (!el) return;
    if (!r) return el.replaceChildren();
    el.replaceChildren(h('span', { class: 'faint', text: 'Last test: ' }),
      'status' in r ? outcomeView(r) : h('div', { class: 'err-text small', 'data-outcome': 'failed' }, h('span', {}, withCode(r.error))));
  };

  const renderChannels = () => {
    resultEls.clear();
    testAll.disabled = !channels.length;
    if (!channels.length) {
      channelsCard.replaceChildren(emptyState(() => form.focus()));
      return;
    }
    channelsCard.replaceChildren(
      h('div', { class: 'section-head' }, h('div', {}, h('h2', { id: 'channels-title', text: 'Channels' }),
        h('div', { class: 'sub', text: `${channels.length} ${channels.length === 1 ? 'channel' : 'channels'}: each gets the alerts of its connectors` }))),
      h('ul', { class: 'channel-list', 'aria-label': 'Alert channels' }, channels.map((c) => {
        const test = h('button', { class: 'btn small', type: 'button', 'data-action': 'test' }, 'Send test');
        test.addEventListener('click', () => testOne(c, test));
        const remove = h('button', { class: 'btn small danger', type: 'button', 'data-action': 'remove' }, 'Remove…');
        remove.addEventListener('click', () => confirmRemove(c));
        const result = h('div', { class: 'channel-result', 'data-testid': 'channel-result', 'aria-live': 'polite' });
        resultEls.set(c.id, result);
        return h('li', { 'data-channel': c.id, 'data-kind': c.kind },
          h('div', { class: 'channel-main' },
            h('div', {}, h('span', { class: 'kind-badge', text: kindLabel(c.kind) }), ' ', h('span', { class: 'mono channel-target', 'data-testid': 'channel-target', text: c.target })),
            h('div', { class: 'conn-sub' }, h('span', { 'data-testid': 'channel-scope', text: scopeText(c) }), ` · added ${localDateTime(c.createdAt)}`)),
          h('div', { class: 'actions' }, test, remove),
          result);
      })));
    for (const c of channels) paintResult(c.id);
  };

  /** @param {AlertDelivery[]} deliveries */
  const renderHistory = (deliveries) => {
    const byId = new Map(channels.map((c) => [c.id, c]));
    historyCard.replaceChildren(
      h('div', { class: 'section-head' }, h('div', {}, h('h2', { id: 'alert-history-title', text: 'Alert history' }),
        h('div', { class: 'sub', text: `Every alert sent or given up on, newest first (the latest ${HISTORY_LIMIT})` }))),
      deliveries.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack-table', 'data-testid': 'alert-history' },
          h('thead', {}, h('tr', {}, ['Time', 'Event', 'Connector', 'Channel', 'Outcome'].map((x) => h('th', { scope: 'col', text: x })))),
          h('tbody', {}, deliveries.map((d) => {
            const ch = byId.get(d.channelId);
            return h('tr', { 'data-delivery': d.id, 'data-event': d.event, 'data-status': d.status },
              h('td', { class: 'nowrap', 'data-label': 'Time', title: d.at }, localDateTime(d.at), h('div', { class: 'conn-sub', text: relativeTime(d.at) })),
              h('td', { 'data-label': 'Event', text: EVENTS[d.event] ?? d.event }),
              h('td', { 'data-label': 'Connector' }, d.connector ?? h('span', { class: 'faint', text: '—' })),
              h('td', { class: 'wide', 'data-label': 'Channel' }, ch
                ? [h('span', { class: 'kind-badge', text: kindLabel(ch.kind) }), ' ', h('span', { class: 'mono channel-target', text: ch.target })]
                : h('span', { class: 'faint' }, 'removed channel ', h('span', { class: 'mono', text: d.channelId }))),
              h('td', { class: 'wide', 'data-label': 'Outcome' }, outcomeView(d)));
          }))))
        : h('p', { class: 'pad muted', 'data-testid': 'alert-history-empty', text: 'No alerts sent yet. A test alert, or the next change of a connector\'s state, shows here.' }));
  };

  let loadSeq = 0;
  /** Reads the channels and the history; redraws what changed. */
  const refresh = async () => {
    const my = ++loadSeq;
    /** @type {ApiResult<AlertsAnswer>} */
    const r = await api('GET', `/api/alerts?limit=${HISTORY_LIMIT}`);
    if (!current(seq) || my !== loadSeq) return false;
    if (!r.ok) {
      lastChannels = '';
      channelsCard.replaceChildren(h('div', { class: 'pad' }, banner('error', errorText(r.data))));
      return false;
    }
    const chJson = JSON.stringify(r.data.channels);
    if (chJson !== lastChannels) {
      lastChannels = chJson;
      channels = r.data.channels;
      for (const id of [...results.keys()]) if (!channels.some((c) => c.id === id)) results.delete(id);
      renderChannels();
      lastHistory = '';
    }
    // The minute too: the relative times ("5 min ago") move on.
    const hJson = JSON.stringify(r.data.deliveries) + Math.floor(Date.now() / 60000);
    if (hJson !== lastHistory) {
      lastHistory = hJson;
      renderHistory(r.data.deliveries);
    }
    return false;
  };

  /**
   * @param {AlertChannel} c
   * @param {HTMLButtonElement} button
   */
  const testOne = async (c, button) => {
    const done = busy(button, 'Sending…');
    /** @type {ApiResult<{ deliveries: AlertDelivery[] }>} */
    const r = await api('POST', `/api/alerts/${enc(c.id)}/test`, {});
    done();
    if (!current(seq)) return;
    const d = r.ok ? r.data.deliveries[0] : undefined;
    results.set(c.id, d ?? { error: r.ok ? 'nothing was sent' : errorText(r.data) });
    paintResult(c.id);
    await refresh();
  };

  testAll.addEventListener('click', async () => {
    const done = busy(testAll, 'Sending…');
    /** @type {ApiResult<{ deliveries: AlertDelivery[] }>} */
    const r = await api('POST', '/api/alerts/test', {});
    done();
    if (!current(seq)) return;
    testAllNote.hidden = false;
    if (!r.ok) {
      testAllNote.replaceChildren(banner('error', errorText(r.data)));
    } else {
      const all = r.data.deliveries;
      for (const d of all) {
        results.set(d.channelId, d);
        paintResult(d.channelId);
      }
      const failed = all.filter((d) => d.status === 'failed').length;
      testAllNote.replaceChildren(!all.length
        ? banner('info', 'There is no channel to send to: add one below.')
        : failed
          ? banner('error', `${failed} of ${all.length} test ${all.length === 1 ? 'alert' : 'alerts'} failed: each channel says why.`)
          : banner('ok', all.length === 1 ? 'The test alert was sent.' : `All ${all.length} test alerts were sent.`));
    }
    testAll.disabled = !channels.length;
    await refresh();
  });

  /** @param {AlertChannel} c */
  const confirmRemove = (c) => {
    const dlg = h('dialog', { 'aria-labelledby': 'rm-title' });
    dlg.append(h('form', { method: 'dialog' },
      h('h2', { id: 'rm-title', text: 'Remove this alert channel?' }),
      h('p', { class: 'muted' }, `${kindLabel(c.kind)} `, h('span', { class: 'mono channel-target', text: c.target }), ` (${scopeText(c).toLowerCase()}) gets no more alerts. What was sent to it stays in the history.`),
      h('div', { class: 'form-actions', style: { 'justify-content': 'flex-end' } },
        h('button', { class: 'btn', value: 'cancel', type: 'submit' }, 'Cancel'),
        h('button', { class: 'btn danger solid', value: 'remove', type: 'submit', 'data-action': 'confirm-remove' }, 'Remove channel'))));
    document.body.append(dlg);
    dlg.addEventListener('close', async () => {
      dlg.remove();
      if (dlg.returnValue !== 'remove') return;
      const r = await api('DELETE', `/api/alerts/${enc(c.id)}`);
      if (!r.ok) return toast(errorText(r.data), 'error');
      toast(`Removed the ${kindLabel(c.kind).toLowerCase()} channel.`);
      if (current(seq)) await refresh();
    });
    dlg.showModal();
  };

  startPolling(refresh);
}

/** @param {() => void} toForm */
function emptyState(toForm) {
  return h('div', { class: 'empty', 'data-testid': 'alerts-empty' },
    h('h2', { id: 'channels-title', text: 'No alert channels yet' }),
    h('p', { text: 'Alerts tell you when a sync failed (after its retries) and when it recovered, when a connector\'s data is stale (no successful sync within its freshness limit) and when it is fresh again, and when Rakuten rejected a connector\'s token. Each is sent once per change, never once per retry.' }),
    h('p', {}, 'Send them to a webhook (JSON), a Slack-compatible incoming webhook or an e-mail address. E-mail needs ', h('code', { text: 'RAKUTEN_SMTP_URL' }), ' set on the server.'),
    h('button', { class: 'btn primary', type: 'button', onclick: toForm }, '+ Add a channel'));
}

/**
 * A labelled control with its hint and its error line (as the setup form's fields).
 * @param {string} id
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement} control
 * @param {string} hint
 */
function field(id, label, control, hint) {
  control.id = id;
  const labelEl = h('label', { for: id, text: label });
  const hintEl = h('div', { class: 'hint', id: `${id}-hint` }, withCode(hint));
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  return { el: h('div', { class: 'field' }, labelEl, control, hintEl, err), labelEl, hintEl, err, control };
}

/** @typedef {ReturnType<typeof field>} Field */

/**
 * The "Add a channel" form: kind, target (its label, placeholder and hint follow the kind) and
 * connector. A 400's errors go beside their fields: `url` and `target` are the target's, `name`
 * and `connector` the connector's.
 * @param {string[]} connectors
 * @param {() => Promise<unknown>} added
 */
function addForm(connectors, added) {
  const kind = h('select', { name: 'kind' }, Object.entries(KINDS).map(([k, v]) => h('option', { value: k, text: v.label })));
  const target = h('input', { type: 'text', name: 'target', autocomplete: 'off', spellcheck: 'false' });
  const connector = h('select', { name: 'connector' }, h('option', { value: '', text: 'All connectors' }), connectors.map((n) => h('option', { value: n, text: n })));
  const f = {
    kind: field('alert-kind', 'Send alerts by', kind, 'A webhook, a Slack-compatible webhook or e-mail.'),
    target: field('alert-target', KINDS.webhook.target, target, KINDS.webhook.hint),
    connector: field('alert-connector', 'For', connector, 'The alerts of every connector, or of one only.'),
  };
  const syncKind = () => {
    const k = KINDS[/** @type {AlertChannelKind} */ (kind.value)] ?? KINDS.webhook;
    f.target.labelEl.textContent = k.target;
    f.target.hintEl.replaceChildren(...withCode(k.hint));
    target.placeholder = k.placeholder;
    target.inputMode = k.inputmode;
    clearError(f.target);
  };
  kind.addEventListener('change', syncKind);
  syncKind();

  /** @type {Record<string, Field>} */
  const byError = { kind: f.kind, target: f.target, connector: f.connector };
  /** @param {Field} x */
  function clearError(x) {
    x.err.hidden = true;
    x.err.textContent = '';
    x.control.removeAttribute('aria-invalid');
  }
  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-action': 'add-channel' }, 'Add channel');
  const result = h('div', { class: 'result', 'data-testid': 'add-result', 'aria-live': 'polite' });
  const el = h('form', { class: 'card section alert-form', novalidate: true, 'aria-labelledby': 'add-title', 'data-testid': 'add-channel' },
    h('h2', { id: 'add-title', text: 'Add a channel' }),
    h('p', { class: 'muted small', text: 'Alerts go to every channel of their connector, and to every channel for all connectors.' }),
    h('div', { class: 'alert-fields' }, f.kind.el, f.target.el, f.connector.el),
    h('div', { class: 'form-actions' }, submit),
    result);

  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const x of Object.values(f)) clearError(x);
    result.replaceChildren();
    const done = busy(submit, 'Adding…');
    /** @type {ApiResult<{ channel: AlertChannel }>} */
    const r = await api('POST', '/api/alerts', { kind: kind.value, target: target.value.trim(), connector: connector.value || null });
    done();
    if (r.ok) {
      const c = r.data.channel;
      target.value = '';
      result.replaceChildren(banner('ok', h('div', {}, h('b', { text: 'Channel added: ' }), `${kindLabel(c.kind)} `, h('span', { class: 'mono channel-target', text: c.target }),
        `, ${scopeText(c).toLowerCase()}. Use "Send test" to check that it arrives.`)));
      await added();
      return;
    }
    /** @type {Field | null} */
    let first = null;
    const rest = [];
    for (const [k, msg] of Object.entries(r.data.errors || {})) {
      const x = byError[k];
      if (!x || r.status !== 400) {
        rest.push(msg);
        continue;
      }
      x.err.replaceChildren(...withCode(msg));
      x.err.hidden = false;
      x.control.setAttribute('aria-invalid', 'true');
      first ??= x;
    }
    if (first) first.control.focus();
    if (rest.length || !first) result.replaceChildren(banner('error', rest.length ? rest.join('; ') : errorText(r.data)));
  });
  return { el, focus: () => target.focus() };
}
