/**
 * A connector's currency, where the App needs more than the setting's rule (settings.ts): the
 * default for a record saved before the setting existed (and of the other settings added since), the question the web form asks when the
 * URL's network has no known currency, and the CLI's warning when it takes USD instead.
 */
import { networkCurrency } from '../rakuten/networks.js';
import { ConnectorError } from '../util/errors.js';
import type { ConnectorRecord } from '../warehouse/types.js';
import { CURRENCY_HINT } from './settings.js';

/** The currency of amounts whose network names none, when the user did not say (the CLI, with a warning). */
export const FALLBACK_CURRENCY = 'USD';

/** A URL's `network` parameter: null when it has none, undefined when the text is not a URL. */
export function networkOf(url: string): string | null | undefined {
  try {
    return new URL(url).searchParams.get('network');
  } catch {
    return undefined;
  }
}

/**
 * A record saved by an earlier version lacks the settings added since: the currency is its URL's
 * network's, else USD (what Save & Test would have chosen); no staleAfterHours (the schedule's rule).
 */
export function withSettingDefaults(rec: ConnectorRecord): ConnectorRecord {
  if (rec.settings.currency && rec.settings.staleAfterHours !== undefined) return rec;
  return {
    ...rec,
    settings: {
      ...rec.settings,
      currency: rec.settings.currency || (networkCurrency(networkOf(rec.url) ?? undefined) ?? FALLBACK_CURRENCY),
      staleAfterHours: rec.settings.staleAfterHours ?? null,
    },
  };
}

/** The web form's question: the URL's network (or none) says nothing of the currency. */
export function currencyNeeded(network: string | null): ConnectorError {
  return new ConnectorError('config', network === null
    ? "which currency are this report's amounts in? The URL names no network"
    : `which currency are this report's amounts in? The URL's network=${network} is not one with a known currency`, { hint: CURRENCY_HINT, field: 'currency' });
}

/** The CLI's warning when it takes USD. */
export function usdNotice(name: string, network: string | undefined): string {
  return `amounts are taken to be in ${FALLBACK_CURRENCY}: the URL names ${network === undefined ? 'no network' : `network=${network}, which has no known currency`}; if they are not, run: rakuten-connector edit ${name} --currency CODE`;
}
