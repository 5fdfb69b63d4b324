/**
 * The report URL a connector is Saved & Tested with, built in one place for every way in (CLI
 * `add`/`edit`, the API's create and change): as pasted, from report key + token, or the saved
 * URL with what changed (another key, token or time zone; the saved token is kept when none is
 * given). Plus how a saved URL is stored and read back (never with its token).
 */
import { sourceFromKey } from '../rakuten/url.js';
import { textSetting } from '../util/config.js';
import { ConnectorError } from '../util/errors.js';

/** What may change in a connector's source. */
export interface SourceInput {
  url?: string;
  reportKey?: string;
  token?: string;
  /** Replaces the URL's `tz`. */
  timeZone?: string;
}

/** The URL to test: as given, built from key + token, or the saved connector's with what changed (read only when needed). */
export function testUrl(input: SourceInput, saved?: { url: () => URL; token: () => string }): string {
  let url: string;
  if (input.url) url = input.url;
  else if (saved) {
    const u = saved.url();
    if (input.reportKey) u.pathname = u.pathname.replace(/\/reports\/[^/]+\/filters/, `/reports/${encodeURIComponent(input.reportKey)}/filters`);
    url = withToken(u, input.token || saved.token());
  } else if (input.reportKey || input.token) {
    if (!input.reportKey || !input.token) {
      throw new ConnectorError('config', input.reportKey ? 'the token is missing' : 'the report key is missing', {
        hint: 'give the "Get API" URL, or both the report key and the token', field: input.reportKey ? 'token' : 'reportKey',
      });
    }
    url = sourceFromKey(input.reportKey, input.token, textSetting('RAKUTEN_API_BASE'));
  } else {
    throw new ConnectorError('config', 'no API URL given', { hint: 'paste the URL from "Get API" in Rakuten reporting', field: 'url' });
  }
  if (input.timeZone) {
    try {
      const u = new URL(url);
      if ((u.searchParams.get('tz') ?? 'GMT') !== input.timeZone) {
        u.searchParams.set('tz', input.timeZone);
        url = u.toString();
      }
    } catch {
      // Not a URL: Save & Test says so.
    }
  }
  return url;
}

/** The saved URL (without its token), fragment dropped; throws a config error when it is broken. */
export function storedUrl(rec: { name: string; url: string }): URL {
  try {
    const u = new URL(rec.url);
    u.hash = '';
    return u;
  } catch {
    throw new ConnectorError('config', `the stored URL of connector "${rec.name}" is not a valid URL`, {
      hint: `give the connector its "Get API" URL again (web app: edit; CLI: rakuten-connector edit ${rec.name} --url -)`, field: 'url',
    });
  }
}

export function withToken(url: URL, token: string): string {
  const u = new URL(url);
  u.searchParams.set('token', token);
  return u.toString();
}

/** The URL as saved: no token, no fragment, no dates (the connector requests each day itself). */
export function stripToken(url: string): string {
  const u = new URL(url.trim());
  u.hash = '';
  u.searchParams.delete('token');
  u.searchParams.delete('start_date');
  u.searchParams.delete('end_date');
  return u.toString();
}
