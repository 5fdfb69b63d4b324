/**
 * Schedules are 5-field cron expressions in the report's time zone ("0 6 * * *": daily at
 * 06:00 there). Croner computes the wall-clock arithmetic, including DST:
 * - a time that does not exist (clocks jump forward) fires right after the jump
 *   (02:30 on the March change in New York fires at 03:30 EDT);
 * - a fixed time in the repeated hour (clocks set back) fires once, at its first occurrence;
 * - a pattern whose hour field is "*" (hourly) fires in both occurrences of the repeated hour,
 *   so "hourly" means every real hour, never a two-hour gap.
 * An empty schedule means manual syncs only.
 */
import { Cron } from 'croner';

export const HOURLY = '0 * * * *';

export type ScheduleSpec =
  | { type: 'daily'; time: string }
  | { type: 'hourly' }
  | { type: 'manual' }
  | { type: 'cron'; cron: string };

export interface ScheduleInfo {
  type: 'daily' | 'hourly' | 'manual' | 'cron';
  cron: string;
  /** HH:MM for daily schedules. */
  time?: string;
  /** "daily at 06:00 (America/New_York)". */
  label: string;
}

/** Croner wants an IANA zone; reports say GMT. */
export function cronZone(tz: string): string {
  return /^(GMT|UTC|Z)$/i.test(tz.trim()) ? 'Etc/UTC' : tz;
}

const cache = new Map<string, Cron>();

function cronFor(expr: string, tz: string): Cron {
  const key = `${expr}\u0000${tz}`;
  let c = cache.get(key);
  if (!c) {
    c = new Cron(expr, { timezone: cronZone(tz), paused: true, legacyMode: true });
    if (cache.size > 500) cache.clear();
    cache.set(key, c);
  }
  return c;
}

/** null when valid; otherwise what is wrong, in words. */
export function scheduleError(expr: string): string | null {
  const e = expr.trim();
  if (e === '') return null;
  const fields = e.split(/\s+/);
  if (fields.length !== 5) return 'a schedule is a 5-field cron expression (minute hour day month weekday), e.g. "0 6 * * *"';
  try {
    new Cron(e, { paused: true, legacyMode: true }).nextRun();
    return null;
  } catch (err) {
    return `not a valid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export function scheduleToCron(s: ScheduleSpec): string {
  switch (s.type) {
    case 'manual':
      return '';
    case 'hourly':
      return HOURLY;
    case 'daily': {
      const m = /^(\d{1,2}):(\d{2})$/.exec(s.time);
      if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new Error(`invalid time "${s.time}"`);
      return `${Number(m[2])} ${Number(m[1])} * * *`;
    }
    case 'cron':
      return s.cron.trim().split(/\s+/).join(' ');
  }
}

export function describeSchedule(expr: string, tz: string): ScheduleInfo {
  const e = expr.trim().split(/\s+/).join(' ');
  if (e === '') return { type: 'manual', cron: '', label: 'manual syncs only' };
  if (e === HOURLY) return { type: 'hourly', cron: e, label: 'hourly, on the hour' };
  const m = /^(\d{1,2}) (\d{1,2}) \* \* \*$/.exec(e);
  if (m && Number(m[1]) < 60 && Number(m[2]) < 24) {
    const time = `${m[2]!.padStart(2, '0')}:${m[1]!.padStart(2, '0')}`;
    return { type: 'daily', cron: e, time, label: `daily at ${time} (${tz})` };
  }
  return { type: 'cron', cron: e, label: `cron "${e}" (${tz})` };
}

const wallFormats = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock time in a zone as "YYYY-MM-DD HH:MM:SS". */
export function wallClock(t: Date, tz: string): string {
  const zone = cronZone(tz);
  let f = wallFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    wallFormats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** UTC offset of the zone at t, in ms. */
function offsetMs(t: Date, tz: string): number {
  return Date.parse(`${wallClock(t, tz).replace(' ', 'T')}Z`) - Math.floor(t.getTime() / 1000) * 1000;
}

/** The first fire time strictly after `after`, or null (manual schedule, or no more fires). */
export function nextFire(expr: string, tz: string, after: Date): Date | null {
  const e = expr.trim();
  if (!e) return null;
  const c = cronFor(e, tz);
  let best = c.nextRun(after);
  if (best && best.getTime() <= after.getTime()) best = null;
  if (e.split(/\s+/)[1] === '*') {
    // Second occurrences of the repeated hour (clocks set back): a fire g at wall time W is
    // repeated at g + Δ when the offset drops by Δ and g + Δ shows the same wall time W.
    const limit = best ?? new Date(after.getTime() + 4 * 3_600_000);
    for (let g = c.nextRun(new Date(after.getTime() - 3 * 3_600_000)); g && g < limit; g = c.nextRun(g)) {
      const delta = offsetMs(g, tz) - offsetMs(new Date(g.getTime() + 3 * 3_600_000), tz);
      if (delta <= 0) continue;
      const s = new Date(g.getTime() + delta);
      if (s > after && (!best || s < best) && wallClock(s, tz) === wallClock(g, tz)) best = s;
    }
  }
  return best;
}

/** The last fire time at or before `at`, or null. */
export function prevFire(expr: string, tz: string, at: Date): Date | null {
  const e = expr.trim();
  if (!e) return null;
  for (const span of [3_600_000, 86_400_000, 8 * 86_400_000, 32 * 86_400_000, 367 * 86_400_000, 4 * 366 * 86_400_000]) {
    let t = nextFire(e, tz, new Date(at.getTime() - span - 1000));
    if (!t || t > at) continue;
    for (let n = nextFire(e, tz, t); n && n <= at; n = nextFire(e, tz, t)) t = n;
    return t;
  }
  return null;
}
