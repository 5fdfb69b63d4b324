/**
 * `serve` checks every connector's freshness every few minutes (App.checkFreshness: a connector
 * that goes stale, or fresh again, is alerted once), on the scheduler's clock so tests drive it
 * with a FakeClock. `check-freshness` does the same check once, for cron users.
 */
import type { App } from '../app/app.js';
import type { Output } from '../app/output.js';
import type { Clock, TimerHandle } from '../scheduler/clock.js';
import { safeError } from '../util/secrets.js';

export const FRESHNESS_CHECK_MS = 5 * 60_000;

/** `stop()` ends the watch and resolves once a check under way has ended (serve closes the warehouse after it). */
export function watchFreshness(app: App, clock: Clock, out: Output): { stop(): Promise<void> } {
  let timer: TimerHandle | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    try {
      await app.checkFreshness(clock.now());
    } catch (e) {
      out.log('warn', `freshness check failed: ${safeError(e).message}`, { event: 'freshness-check-failed' });
    }
    if (!stopped) timer = clock.setTimer(() => void (running = tick()), FRESHNESS_CHECK_MS);
  };
  timer = clock.setTimer(() => void (running = tick()), FRESHNESS_CHECK_MS);
  return {
    stop: () => {
      stopped = true;
      if (timer) clock.clearTimer(timer);
      return running;
    },
  };
}
