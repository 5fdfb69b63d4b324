/**
 * Bounded retries with exponential backoff and full jitter; a 429's Retry-After is a floor.
 * Only ConnectorErrors marked retryable are retried: a bad token will not get better.
 */
import { ConnectorError, isRetryable } from '../util/errors.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseMs: 1000, maxMs: 60_000 };

export function backoffMs(policy: RetryPolicy, attempt: number, err: unknown, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  const floor = err instanceof ConnectorError && err.retryAfterSec !== undefined ? err.retryAfterSec * 1000 : 0;
  return Math.max(jittered, Math.min(floor, 10 * 60_000));
}

export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  opts: { signal?: AbortSignal; onRetry?: (err: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!isRetryable(err) || attempt >= policy.maxAttempts) {
        if (isRetryable(err) && err instanceof ConnectorError) {
          throw new ConnectorError(err.kind === 'rate_limited' ? 'rate_limited' : err.kind, `${err.message} — gave up after ${attempt} attempts`, {
            hint: err.hint ?? 'Rakuten kept failing; the next sync will try again',
          });
        }
        throw err;
      }
      const delay = backoffMs(policy, attempt, err);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
