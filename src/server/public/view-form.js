// @ts-check
// The setup form (`#/new`) and the settings form of a saved connector (`#/c/<name>/edit`), beside
// the steps to get the report URL from Rakuten. A pasted URL is parsed as it is typed (never
// fetched); Save & Test shows every check, the failed one with its fix. The currency of the
// report's amounts comes from the URL's network when it is a known one, else the form asks. "Stale
// after (hours)" sets the freshness limit; empty is automatic.

import { api, enc, errorText, meta } from './api.js';
import { banner, busy, h, main, toast, withCode } from './dom.js';
import { current } from './live.js';
import { checksList, failedLead, staleLimitText } from './parts.js';

/** @import { ApiResult, ErrorBody } from './api.js' */
/** @import { Kid } from './dom.js' */
/** @import { Connector, ParsedUrl, SaveResult, TestReport } from './types.js' */

/**
 * Whether "Start the first sync now" is checked when the form opens: on, so saving starts the
 * historical load at once (browser tests that want a connector unsynced untick the box).
 */
const FIRST_SYNC_CHECKED = true;

/** The currency field's hint while nothing says which currency the amounts are in. */
const CURRENCY_QUESTION = "Which currency are the report's amounts in? An ISO 4217 code, e.g. USD, GBP, EUR.";

/** The stale-after field's hint: what empty means (src/app/freshness.ts). */
const STALE_AUTO = "Hours without a successful sync before the connector is stale (and alerted). Empty: automatic, twice the schedule's interval plus 2 h (daily: 50 h; manual syncs only: never stale).";

/**
 * The stale-after field's value as the API takes it: null when empty, a number when whole, else
 * the text as typed (the server's field error says what is wrong with it).
 * @param {string} v trimmed
 * @returns {number | null | string}
 */
const staleValue = (v) => (v === '' ? null : /^\d+$/.test(v) ? Number(v) : v);

/**
 * The local date `n` days ago, YYYY-MM-DD.
 * @param {number} n
 */
function daysAgo(n) {
  const d = new Date();
  d.setDate(d.getDate() - n);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** @typedef {HTMLInputElement | HTMLTextAreaElement} FieldInput */
/** @typedef {{ el: HTMLDivElement, err: HTMLParagraphElement, input: FieldInput, hint: HTMLDivElement | null }} Field */

/**
 * A labelled input with its hint and its error line.
 * @param {string} id
 * @param {string} label
 * @param {FieldInput} input
 * @param {Kid} hint
 * @returns {Field}
 */
function field(id, label, input, hint) {
  input.id = id;
  const err = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintEl = hint ? h('div', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  return { el: h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hintEl, err), err, input, hint: hintEl };
}

/**
 * @param {number} seq the view's number (live.js)
 * @param {string | null} editName the connector to edit, or null for a new one
 */
export async function setupView(seq, editName) {
  const m = await meta();
  /** @type {Connector | null} */
  let found = null;
  if (editName) {
    /** @type {ApiResult<{ connector: Connector }>} */
    const r = await api('GET', `/api/connectors/${enc(editName)}`);
    if (!current(seq)) return;
    if (!r.ok) {
      main.replaceChildren(banner('error', errorText(r.data)));
      return;
    }
    found = r.data.connector;
  }
  if (!current(seq)) return;
  const existing = found;
  const editing = existing !== null;
  /** @type {'url' | 'key'} */
  let mode = 'url';
  let tzTouched = editing;

  const f = {
    name: field('name', 'Connector name', h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. acme-us', value: existing ? existing.name : '', readOnly: editing }),
      editing ? 'The name cannot be changed.' : 'Letters, digits, "-", "_" or "."; it is stored with every row (_connector).'),
    url: field('url', 'Report API URL ("Get API")', h('textarea', { name: 'url', rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: 'https://ran-reporting.rakutenmarketing.com/en/reports/<report-key>/filters?…&token=…' }),
      editing ? ['Leave empty to keep the saved URL: ', h('span', { class: 'mono', text: existing.url })] : 'Paste the whole URL: it includes your token, which is stored encrypted and never shown again.'),
    reportKey: field('reportKey', 'Report key', h('input', { type: 'text', name: 'reportKey', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. affiliate-report', value: '' }),
      editing ? `Saved: ${existing.reportKey}. Leave empty to keep it.` : 'From the report URL: …/reports/<report-key>/filters'),
    token: field('token', 'API token', h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false' }),
      editing ? `Saved token ${existing.tokenMasked}. Leave empty to keep it.` : 'The value after token= in the "Get API" URL.'),
    dateType: field('dateType', 'Date type', h('input', { type: 'text', name: 'dateType', readOnly: true, value: existing ? existing.dateType : 'transaction' }), 'From the URL (date_type). Change it in the Rakuten report, then paste the new URL.'),
    currency: field('currency', 'Currency', h('input', {
      type: 'text', name: 'currency', list: 'currency-list', autocomplete: 'off', spellcheck: 'false', maxlength: 3, placeholder: 'e.g. USD',
      autocapitalize: 'characters', class: 'upper', value: existing ? existing.settings.currency : '',
    }), editing ? `Saved: ${existing.settings.currency}.` : CURRENCY_QUESTION),
    timeZone: field('timeZone', 'Time zone', h('input', { type: 'text', name: 'timeZone', list: 'tz-list', autocomplete: 'off', value: existing ? existing.timeZone : 'GMT' }), 'Days and schedules follow this zone (tz in the URL).'),
    // By default the first sync loads the charts' longer period exactly: today and the days before it.
    startDate: field('startDate', 'Start date', h('input', { type: 'date', name: 'startDate', value: existing ? existing.settings.startDate : daysAgo(m.defaults.startDaysAgo) }),
      editing ? 'The first day the first sync loads.' : `The first day the first sync loads (by default the last ${m.defaults.startDaysAgo + 1} days, today included).`),
    lookbackDays: field('lookbackDays', 'Lookback days', h('input', { type: 'number', name: 'lookbackDays', min: 0, max: 365, step: 1, value: String(existing ? existing.settings.lookbackDays : m.defaults.lookbackDays) }),
      'Days re-loaded on every sync: Rakuten keeps changing recent days (late orders, returns).'),
    // Text, not a number input: what a browser cannot read as a number would be sent as empty (automatic).
    staleAfterHours: field('staleAfterHours', 'Stale after (hours)', h('input', {
      type: 'text', inputmode: 'numeric', name: 'staleAfterHours', autocomplete: 'off', placeholder: 'automatic',
      value: existing && existing.settings.staleAfterHours !== null ? String(existing.settings.staleAfterHours) : '',
    }), existing ? `${STALE_AUTO} Now: ${staleLimitText(existing) ?? 'no limit (manual syncs only)'}.` : STALE_AUTO),
  };
  /** The fields by name, for the errors of an answer. */
  const fields = /** @type {Record<string, Field | undefined>} */ (f);
  const schedType = h('select', { id: 'scheduleType', name: 'scheduleType', 'aria-label': 'Schedule' },
    h('option', { value: 'daily', text: 'Daily at' }), h('option', { value: 'hourly', text: 'Every hour' }), h('option', { value: 'manual', text: 'Manual syncs only' }));
  const schedTime = h('input', { type: 'time', id: 'scheduleTime', name: 'scheduleTime', 'aria-label': 'Time of day', value: '06:00' });
  let customCron = null;
  if (existing) {
    const sc = existing.schedule;
    if (sc.type === 'cron') {
      customCron = sc.cron;
      schedType.append(h('option', { value: 'cron', text: `Custom: ${sc.cron}` }));
    }
    schedType.value = sc.type;
    if (sc.time) schedTime.value = sc.time;
  }
  const schedErr = h('p', { class: 'field-error', id: 'schedule-error', hidden: true });
  const schedHint = h('div', { class: 'hint', id: 'schedule-hint' });
  const syncSched = () => {
    schedTime.hidden = schedType.value !== 'daily';
    schedHint.replaceChildren(...(schedType.value === 'manual' ? ['No automatic syncs: use "Sync now".'] : withCode(`In the report's time zone (${f.timeZone.input.value || 'GMT'}), while \`rakuten-connector serve\` runs.`)));
  };
  schedType.addEventListener('change', syncSched);
  f.timeZone.input.addEventListener('input', () => {
    tzTouched = true;
    syncSched();
  });
  syncSched();

  // The currency: the URL's network's (parse-url says which) until the user types one. On a saved
  // connector a new one relabels the rows already loaded (no new test).
  let currencyTouched = editing;
  const curInput = f.currency.input;
  /** @param {string} text */
  const currencyHint = (text) => {
    if (f.currency.hint) f.currency.hint.textContent = text;
  };
  const syncCurrencyHint = () => {
    if (!editing) return;
    const v = curInput.value.trim().toUpperCase();
    currencyHint(v && v !== existing.settings.currency
      ? `Saved: ${existing.settings.currency}. Saving relabels the ${existing.coverage.rows.toLocaleString('en-US')} rows already loaded as ${v} (no new test).`
      : `Saved: ${existing.settings.currency}. A new code relabels the rows already loaded (no new test).`);
  };
  syncCurrencyHint();
  curInput.addEventListener('input', () => {
    currencyTouched = true;
    const at = curInput.selectionStart;
    curInput.value = curInput.value.toUpperCase();
    if (at !== null && curInput instanceof HTMLInputElement) curInput.setSelectionRange(at, at);
    syncCurrencyHint();
  });
  /** @param {ParsedUrl} p */
  const currencyFromUrl = (p) => {
    const net = p.network !== null && p.network !== undefined ? m.networks[p.network] : undefined;
    if (editing) {
      // A saved connector keeps its currency unless the user changes it.
      if (p.currency && p.currency !== curInput.value.trim().toUpperCase()) currencyHint(`Saved: ${existing.settings.currency}. The new URL's network ${p.network}${net ? ` (${net.region})` : ''} reports in ${p.currency}.`);
      else syncCurrencyHint();
      return;
    }
    if (currencyTouched) return;
    curInput.value = p.currency ?? '';
    currencyHint(p.currency
      ? `From the URL's network ${p.network}${net ? ` (${net.region})` : ''}. Change it if the report's amounts are in another currency.`
      : `${CURRENCY_QUESTION} ${p.network ? `The URL's network=${p.network} has no known currency.` : 'The URL names no network.'}`);
  };

  // A new connector's first sync starts once it is saved (its progress shows on the connector page).
  const firstSync = h('input', { type: 'checkbox', id: 'firstSync', name: 'firstSync', checked: FIRST_SYNC_CHECKED, 'aria-describedby': 'firstSync-hint' });
  const firstSyncEl = editing ? null : h('label', { class: 'radio', for: 'firstSync', 'data-testid': 'first-sync' }, firstSync,
    h('span', {}, 'Start the first sync now', h('small', { id: 'firstSync-hint', text: 'Right after the checks pass, it loads every day from the start date on; its progress shows on the connector page.' })));

  const tzList = h('datalist', { id: 'tz-list' }, m.timeZones.map((z) => h('option', { value: z })));
  const currencyList = h('datalist', { id: 'currency-list' }, (m.currencies || []).map((c) => h('option', { value: c })));
  const chips = h('div', { class: 'parsed', 'aria-live': 'polite' });
  const tabUrl = h('button', { type: 'button', role: 'tab', 'aria-selected': 'true', 'aria-controls': 'mode-url' }, 'Paste the "Get API" URL');
  const tabKey = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', 'aria-controls': 'mode-key' }, 'Report key + token');
  const paneUrl = h('div', { id: 'mode-url', role: 'tabpanel' }, f.url.el, chips);
  const paneKey = h('div', { id: 'mode-key', role: 'tabpanel', hidden: true }, h('div', { class: 'row' }, f.reportKey.el, f.token.el));
  /** @param {'url' | 'key'} mm */
  const setMode = (mm) => {
    mode = mm;
    tabUrl.setAttribute('aria-selected', String(mm === 'url'));
    tabKey.setAttribute('aria-selected', String(mm === 'key'));
    paneUrl.hidden = mm !== 'url';
    paneKey.hidden = mm !== 'key';
  };
  tabUrl.addEventListener('click', () => setMode('url'));
  tabKey.addEventListener('click', () => setMode('key'));

  /**
   * Shows an answer's error under its field; false when the form has no such field.
   * @param {string} name
   * @param {string} msg
   */
  const setError = (name, msg) => {
    const target = name === 'schedule' || name.startsWith('schedule.') ? { err: schedErr, input: schedType } : fields[name];
    if (!target) return false;
    target.err.textContent = msg;
    target.err.hidden = false;
    target.input.setAttribute('aria-invalid', 'true');
    return true;
  };
  const clearErrors = () => {
    for (const x of [...Object.values(f), { err: schedErr, input: schedType }]) {
      x.err.hidden = true;
      x.err.textContent = '';
      x.input.removeAttribute('aria-invalid');
    }
  };

  // Parse the pasted URL as it is typed: show what it says, fill the time zone.
  let parseSeq = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let parseTimer;
  const parseUrl = async () => {
    const my = ++parseSeq;
    const url = f.url.input.value.trim();
    f.url.err.hidden = true;
    f.url.input.removeAttribute('aria-invalid');
    if (!url) {
      chips.replaceChildren();
      return;
    }
    /** @type {ApiResult<ParsedUrl>} */
    const r = await api('POST', '/api/parse-url', { url });
    if (my !== parseSeq || !current(seq)) return;
    if (!r.ok) {
      chips.replaceChildren();
      setError('url', (r.data.errors && r.data.errors.url) || errorText(r.data));
      return;
    }
    const p = r.data;
    /**
     * @param {string} k
     * @param {string} v
     */
    const chip = (k, v) => h('span', { class: 'chip' }, `${k} `, h('b', { text: v }));
    chips.replaceChildren(chip('Report', p.reportKey), chip('Host', p.host), chip('Dates', p.dateType), chip('Format', p.dateFormat), chip('Time zone', p.timeZone),
      ...(p.network ? [chip('Network', `${p.network}${m.networks[p.network] ? ` (${m.networks[p.network].region})` : ''}`)] : []), chip('Token', p.tokenMasked),
      ...p.warnings.map((w) => h('span', { class: 'chip', text: w })));
    f.dateType.input.value = p.dateType;
    currencyFromUrl(p);
    syncTestNote();
    if (!tzTouched || !editing) {
      f.timeZone.input.value = p.timeZone;
      tzTouched = false;
      syncSched();
    }
  };
  f.url.input.addEventListener('input', () => {
    clearTimeout(parseTimer);
    parseTimer = setTimeout(parseUrl, 250);
  });

  // What Save & Test asks Rakuten for (src/app/save-and-test.ts): process-date reports only today,
  // transaction-date reports yesterday and today, in one request.
  const testNote = h('span', { class: 'muted small', 'data-testid': 'test-note' });
  const syncTestNote = () => {
    testNote.textContent = editing ? '' : `Takes a few seconds: it asks Rakuten for ${f.dateType.input.value === 'process' ? "today's rows" : 'the rows of yesterday and today'}, in one request.`;
  };
  syncTestNote();
  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-action': 'save' }, editing ? 'Save' : 'Save & Test');
  const result = h('div', { class: 'result', 'data-testid': 'save-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card setup', novalidate: true, 'aria-labelledby': 'setup-title' },
    h('h1', { id: 'setup-title', text: editing ? `Edit ${existing.name}` : 'Add a connector' }),
    h('p', { class: 'muted', text: editing ? 'A new URL, token or time zone is tested before it is saved. Other settings are saved at once.' : 'Save & Test checks the URL, the token and the report before anything is saved.' }),
    h('div', { class: 'section' }, f.name.el),
    h('fieldset', {}, h('legend', { text: 'Report API' }),
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'How to give the report' }, tabUrl, tabKey), paneUrl, paneKey),
    h('fieldset', {}, h('legend', { text: 'Settings' }),
      h('div', { class: 'row' }, f.dateType.el, f.timeZone.el),
      h('div', { class: 'row' }, f.currency.el, f.startDate.el),
      h('div', { class: 'row' }, f.lookbackDays.el, f.staleAfterHours.el),
      h('div', { class: 'field' }, h('label', { for: 'scheduleType', text: 'Schedule' }), h('div', { class: 'inline' }, schedType, schedTime), schedHint, schedErr),
      firstSyncEl),
    tzList, currencyList,
    h('div', { class: 'form-actions' }, submit, h('a', { class: 'btn', href: editing ? `#/c/${enc(existing.name)}` : '#/' }, 'Cancel'),
      testNote),
    result);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    result.replaceChildren();
    /** @type {Record<string, unknown>} */
    const body = {};
    /** @param {{ input: { value: string } }} x */
    const val = (x) => x.input.value.trim();
    if (!editing) body.name = val(f.name);
    if (mode === 'url') {
      if (val(f.url)) body.url = val(f.url);
    } else {
      if (val(f.reportKey)) body.reportKey = val(f.reportKey);
      if (val(f.token)) body.token = f.token.input.value.trim();
    }
    const tz = val(f.timeZone);
    if (tz && (!editing || tz !== existing.timeZone)) body.timeZone = tz;
    const currency = val(f.currency).toUpperCase();
    if (currency && (!editing || currency !== existing.settings.currency)) body.currency = currency;
    if (val(f.startDate)) body.startDate = val(f.startDate);
    if (val(f.lookbackDays) !== '') body.lookbackDays = /^\d+$/.test(val(f.lookbackDays)) ? Number(val(f.lookbackDays)) : val(f.lookbackDays);
    // Saved at once, no new test: sent on edit only when it changed.
    const staleAfter = staleValue(val(f.staleAfterHours));
    if (!editing || staleAfter !== existing.settings.staleAfterHours) body.staleAfterHours = staleAfter;
    body.schedule = schedType.value === 'daily' ? { type: 'daily', time: schedTime.value || '06:00' } : schedType.value === 'cron' ? { type: 'cron', cron: customCron } : { type: schedType.value };
    if (!editing) body.sync = firstSync.checked;
    const retest = !editing || body.url || body.reportKey || body.token || body.timeZone;
    const done = busy(submit, retest ? 'Testing…' : 'Saving…');
    /** @type {ApiResult<SaveResult>} */
    const r = editing ? await api('PATCH', `/api/connectors/${enc(existing.name)}`, body) : await api('POST', '/api/connectors', body);
    done();
    // Read by status: a 400/409 carries errors, a 422 the failed Save & Test, a 2xx the saved connector.
    const d = /** @type {SaveResult & ErrorBody} */ (r.data);
    if (!current(seq)) return;
    if (r.status === 400 || r.status === 409 && d.errors && d.errors.name) {
      let first = null;
      for (const [k, msg] of Object.entries(d.errors || {})) {
        if (setError(k, msg) && !first) first = k;
      }
      if (first && fields[first]) /** @type {Field} */ (fields[first]).input.focus();
      if (!first) result.replaceChildren(banner('error', errorText(d)));
      return;
    }
    if (r.ok && !editing && d.saved && d.syncStarted) {
      // Saved, and its first sync runs: on to the connector page, where its progress shows.
      toast(`All checks passed: "${d.connector.name}" is saved, and its first sync has started.`);
      location.hash = `#/c/${enc(d.connector.name)}`;
      return;
    }
    if (r.status === 422 || (r.ok && d.checks)) {
      const ok = r.ok && d.saved;
      result.replaceChildren(
        ok
          ? banner('ok', h('div', {}, h('b', { text: editing ? 'All checks passed: changes saved. ' : `All checks passed: "${d.connector.name}" is saved. ` }),
            editing ? '' : `It syncs ${d.connector.schedule.label} while the server runs${d.syncStarted === false && body.sync ? ' (its first sync did not start: use "Sync now" on its page)' : ''}.`,
            h('div', { class: 'actions', style: { 'margin-top': '10px' } },
              h('a', { class: 'btn primary small', href: `#/c/${enc(d.connector.name)}`, 'data-action': 'open-connector' }, 'Open the connector'),
              h('a', { class: 'btn small', href: '#/' }, 'Back to the dashboard'))))
          : banner('error', h('div', { 'data-testid': 'save-cause' }, h('b', { text: 'Nothing was saved. ' }), ...failedLead(/** @type {TestReport} */ (d)))),
        ...checksList(/** @type {TestReport} */ (d)).filter((x) => x !== null));
      if (ok && !editing) {
        f.name.input.readOnly = true;
        submit.disabled = true;
      }
      result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      return;
    }
    if (r.ok) {
      // Only an update answers 2xx without checks (a create always runs Save & Test).
      toast(body.currency ? `Settings saved: the rows already loaded are now in ${body.currency}.` : 'Settings saved.');
      location.hash = `#/c/${enc(/** @type {Connector} */ (existing).name)}`;
      return;
    }
    result.replaceChildren(banner('error', errorText(d)));
  });

  const guide = h('aside', { class: 'card guide', 'aria-labelledby': 'guide-title' },
    h('h2', { id: 'guide-title', text: 'Get the report URL from Rakuten' }),
    h('p', { class: 'muted small', text: 'Once per report, in Rakuten Advertising reporting:' }),
    h('ol', { class: 'steps' },
      h('li', {}, 'Open ', h('b', { text: 'Reports' }), ' and create a new report.'),
      h('li', {}, `Build it with these ${m.requiredColumns.length} columns:`, h('ul', { class: 'cols', 'data-testid': 'required-columns' }, m.requiredColumns.map((c) => h('li', { text: c })))),
      h('li', {}, 'Save the report, then click ', h('span', { class: 'kbd', text: 'Get API' }), '.'),
      h('li', {}, 'Copy the URL and paste it into the form. It contains your API token: treat it like a password.')),
    h('p', { class: 'note' }, 'Any time zone, transaction or process dates, and any date format work: the connector reads them from the URL and requests each day itself, so date ranges in the URL do not matter.'));

  main.replaceChildren(
    h('a', { class: 'crumb', href: editing ? `#/c/${enc(existing.name)}` : '#/' }, editing ? `← ${existing.name}` : '← All connectors'),
    h('div', { class: 'setup-grid' }, form, guide));
  if (editing) f.url.input.focus();
  else f.name.input.focus();
}
