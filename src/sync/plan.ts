/**
 * Which days a sync covers — the sync semantics in one place:
 * - first sync: settings.startDate … today (in the report's time zone);
 * - later syncs: (cursor − lookbackDays) … today, never before startDate, because Rakuten keeps
 *   changing past days for weeks (late conversions, returns, order locking);
 * - backfill (--from/--to): exactly that range; the cursor never moves backwards.
 * Windows are one day by default; process-date reports always use one-day windows because a
 * day's report holds rows whose Transaction Date is earlier, so only the request day can
 * identify the rows a window replaces.
 */
import type { DateType } from '../rakuten/url.js';
import { addDays, maxDay, minDay } from '../util/days.js';
import type { ConnectorSettings } from '../warehouse/types.js';

export interface Window {
  start: string;
  end: string;
}

export interface SyncRange {
  start: string;
  end: string;
  kind: 'first' | 'incremental' | 'backfill';
}

export function syncRange(settings: ConnectorSettings, cursor: string | undefined, today: string, explicit?: { from: string; to: string }): SyncRange | null {
  if (explicit) {
    const end = minDay(explicit.to, today);
    return explicit.from > end ? null : { start: explicit.from, end, kind: 'backfill' };
  }
  if (!cursor) return settings.startDate > today ? null : { start: settings.startDate, end: today, kind: 'first' };
  const start = maxDay(settings.startDate, minDay(addDays(cursor, -settings.lookbackDays), today));
  return { start, end: today, kind: 'incremental' };
}

export function planWindows(range: { start: string; end: string }, windowDays: number, dateType: DateType): Window[] {
  const size = dateType === 'process' ? 1 : Math.max(1, Math.floor(windowDays));
  const out: Window[] = [];
  for (let d = range.start; d <= range.end; d = addDays(d, size)) {
    out.push({ start: d, end: minDay(addDays(d, size - 1), range.end) });
  }
  return out;
}
