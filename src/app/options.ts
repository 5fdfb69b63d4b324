/**
 * Run-time options the CLI and the server both pass to syncs and Save & Test, read from the
 * settings declared in src/util/config.ts (validated there; a bad value is a ConfigError).
 */
import type { RequestOptions } from '../rakuten/client.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../sync/retry.js';
import { intSetting, MIB, optionalIntSetting } from '../util/config.js';

export function retryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  return {
    maxAttempts: intSetting('RAKUTEN_MAX_ATTEMPTS', DEFAULT_RETRY.maxAttempts, env),
    baseMs: intSetting('RAKUTEN_RETRY_BASE_MS', DEFAULT_RETRY.baseMs, env),
    maxMs: intSetting('RAKUTEN_RETRY_MAX_MS', DEFAULT_RETRY.maxMs, env),
  };
}

/** Timeouts and limits of one report request; unset settings leave the client's defaults. */
export function requestOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RequestOptions {
  const out: RequestOptions = {};
  const set = <K extends keyof RequestOptions>(k: K, v: RequestOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  const opt = (name: Parameters<typeof optionalIntSetting>[0]) => optionalIntSetting(name, env);
  set('headersTimeoutMs', opt('RAKUTEN_HEADERS_TIMEOUT_MS'));
  set('bodyTimeoutMs', opt('RAKUTEN_BODY_TIMEOUT_MS'));
  set('deadlineMs', opt('RAKUTEN_REQUEST_DEADLINE_MS'));
  const mb = opt('RAKUTEN_MAX_REPORT_MB');
  set('maxBodyBytes', mb === undefined ? undefined : mb * MIB);
  return out;
}

/** How long a worker's claim on a connector lasts without renewal (renewed every third of it). */
export function leaseTtlFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return intSetting('RAKUTEN_LEASE_TTL_MS', 60_000, env);
}

/** Connectors `serve` syncs at the same time. */
export function syncConcurrencyFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return intSetting('RAKUTEN_SYNC_CONCURRENCY', 2, env);
}
