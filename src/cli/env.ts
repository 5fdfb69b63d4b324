/** Tuning knobs read from the environment (documented in the README). */
import type { RequestOptions } from '../rakuten/client.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../sync/retry.js';

function num(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function retryPolicyFromEnv(): RetryPolicy {
  return {
    maxAttempts: num('RAKUTEN_MAX_ATTEMPTS') ?? DEFAULT_RETRY.maxAttempts,
    baseMs: num('RAKUTEN_RETRY_BASE_MS') ?? DEFAULT_RETRY.baseMs,
    maxMs: num('RAKUTEN_RETRY_MAX_MS') ?? DEFAULT_RETRY.maxMs,
  };
}

export function requestOptionsFromEnv(): RequestOptions {
  const out: RequestOptions = {};
  const headers = num('RAKUTEN_HEADERS_TIMEOUT_MS');
  const body = num('RAKUTEN_BODY_TIMEOUT_MS');
  if (headers !== undefined) out.headersTimeoutMs = headers;
  if (body !== undefined) out.bodyTimeoutMs = body;
  return out;
}

/** How long a worker's claim on a connector lasts without renewal (renewed every third of it). */
export function leaseTtlFromEnv(): number {
  return num('RAKUTEN_LEASE_TTL_MS') ?? 60_000;
}
