// @ts-check
// The web app's only way to the server: JSON requests to this server's own API (same origin,
// cookies included). A 401 with an admin token configured sends the browser to the login page.
// Also the error text of an answer and the cached `GET /api/meta`.

/** @import { Meta } from './types.js' */

/** 'token' when the server asks for its admin token, 'local' on loopback without one (set by the server in index.html). */
export const AUTH = document.documentElement.dataset.auth;

export const enc = encodeURIComponent;

/** @typedef {{ errors?: Record<string, string> }} ErrorBody */
/**
 * An answer: `data` is the JSON body (`{}` when it is not JSON). A failed request carries
 * `{ errors }`, except a 422 from Save & Test, which carries the test report.
 * @template T
 * @typedef {{ ok: true, status: number, data: T } | { ok: false, status: number, data: ErrorBody }} ApiResult
 */

/**
 * @template [T=any]
 * @param {'GET' | 'POST' | 'PATCH' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<ApiResult<T>>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { errors: { network: 'the server did not answer: is `rakuten-connector serve` still running?' } } };
  }
  if (res.status === 401 && AUTH === 'token') {
    location.href = '/login';
    return new Promise(() => {});
  }
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  return /** @type {ApiResult<T>} */ ({ ok: res.ok, status: res.status, data });
}

/**
 * The error messages of an answer, in one line.
 * @param {ErrorBody | null | undefined} data
 */
export const errorText = (data) => Object.values((data && data.errors) || { error: 'something went wrong' }).join('; ');

/** @type {Meta | null} */
let metaCache = null;

/** `GET /api/meta`, once (again after a failure); defaults while it fails. */
export async function meta() {
  if (!metaCache) {
    /** @type {ApiResult<Meta>} */
    const r = await api('GET', '/api/meta');
    if (r.ok) metaCache = r.data;
  }
  return metaCache || { requiredColumns: [], timeZones: ['GMT'], networks: {}, currencies: [], defaults: { lookbackDays: 30, startDaysAgo: 89 } };
}
