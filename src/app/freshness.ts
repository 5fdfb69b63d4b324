/**
 * Is a connector's data fresh? A connector is stale when its last successful sync (or, never
 * synced, its creation) is older than its freshness limit: `staleAfterHours` when set, else twice
 * its schedule's interval plus two hours (a daily schedule: 50 h), so one missed or failed run is
 * not yet stale and two are. A schedule whose fires are uneven (weekdays only) counts its longest
 * gap. A manual-only connector without `staleAfterHours`, and a paused one, are never stale.
 * One rule for `check-freshness`, `serve` and the metrics.
 */
import { nextFire } from '../scheduler/cron.js';
import type { ConnectorStatus } from './connector-types.js';

/** Added to twice the schedule's interval. */
export const STALE_SLACK_MS = 2 * 3_600_000;
/** Fires looked at for the longest gap of a schedule (60 hours of an hourly one, two months of a daily one). */
const FIRES_LOOKED_AT = 60;

/**
 * Computed intervals by (schedule, time zone, hour of `at`): every connector answer of the web API
 * and every freshness check asks, and 60 fires of a short schedule cost up to ~1 s of CPU. Within
 * an hour the answer changes only when a DST change enters the 60 fires looked at.
 */
const intervals = new Map<string, number | null>();
const INTERVALS_KEPT = 1000;

/** The longest gap between consecutive fires of the schedule after `at`, in ms; null for a manual-only schedule. */
export function scheduleIntervalMs(schedule: string, tz: string, at: Date): number | null {
  const key = `${schedule}\u0000${tz}\u0000${Math.floor(at.getTime() / 3_600_000)}`;
  const known = intervals.get(key);
  if (known !== undefined) return known;
  const ms = longestGapMs(schedule, tz, at);
  if (intervals.size >= INTERVALS_KEPT) intervals.clear();
  intervals.set(key, ms);
  return ms;
}

function longestGapMs(schedule: string, tz: string, at: Date): number | null {
  let prev = nextFire(schedule, tz, at);
  if (!prev) return null;
  let longest = 0;
  for (let i = 0; i < FIRES_LOOKED_AT; i++) {
    const next = nextFire(schedule, tz, prev);
    if (!next) break;
    longest = Math.max(longest, next.getTime() - prev.getTime());
    prev = next;
  }
  return longest || null;
}

/** The connector's freshness limit in ms, or null when it has none (manual only, no staleAfterHours). */
export function freshnessLimitMs(settings: { schedule: string; staleAfterHours: number | null }, tz: string, at: Date): number | null {
  if (settings.staleAfterHours !== null) return settings.staleAfterHours * 3_600_000;
  const interval = scheduleIntervalMs(settings.schedule, tz, at);
  return interval === null ? null : 2 * interval + STALE_SLACK_MS;
}

export interface Freshness {
  name: string;
  /** 'paused' and 'no-limit' are never stale. */
  state: 'fresh' | 'stale' | 'paused' | 'no-limit';
  limitMs: number | null;
  /** When the last successful sync finished, or null (never). */
  lastSuccessAt: string | null;
  /** Since the last successful sync (or the connector's creation, if never synced), in ms. */
  ageMs: number;
}

export function freshnessOf(st: ConnectorStatus, now: Date): Freshness {
  const lastSuccessAt = st.lastSuccess?.finishedAt ?? null;
  const ageMs = Math.max(0, now.getTime() - Date.parse(lastSuccessAt ?? st.createdAt));
  const limitMs = freshnessLimitMs(st.settings, st.timeZone, now);
  const state = st.settings.paused ? 'paused' : limitMs === null ? 'no-limit' : ageMs > limitMs ? 'stale' : 'fresh';
  return { name: st.name, state, limitMs, lastSuccessAt, ageMs };
}

/** A freshness in hours as shown (check-freshness --json, the API, alerts): whole hours of age, the limit to 0.1 h. */
export function freshnessHours(f: Freshness): { ageHours: number; limitHours: number | null } {
  return { ageHours: Math.floor(f.ageMs / 3_600_000), limitHours: f.limitMs === null ? null : Math.round(f.limitMs / 360_000) / 10 };
}
