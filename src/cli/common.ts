/**
 * What the CLI's command modules share: usage errors (exit 2) and the checks that raise them —
 * whole-number flags, connector names, settings and backfill ranges, each through the App's one
 * rule (src/app/settings.ts), with the App's message — and how Save & Test checks are printed.
 */
import type { TestReport } from '../app/save-and-test.js';
import type { Output } from '../app/output.js';
import { nameError, settingsInputProblems, timeZoneSchema, validateRange } from '../app/settings.js';
import { describeError } from '../util/errors.js';
import type { ConnectorSettings } from '../warehouse/types.js';

/** A bad flag or value: `error: <message>` and exit 2. */
export class UsageError extends Error {}

/** A whole-number flag in [min, max]; anything else is a usage error naming the flag and the range. */
export function int(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got "${v}"`);
    return Number(v);
  };
}

/** `--stale-after HOURS`, or `auto` for the schedule's rule (null). */
export function staleAfter(min: number, max: number) {
  const whole = int('--stale-after', min, max);
  return (v: string): number | null => (v.trim() === 'auto' ? null : whole(v));
}

export const SETTING_FLAGS: Record<keyof ConnectorSettings, string> = {
  startDate: '--start-date', lookbackDays: '--lookback-days', windowDays: '--window-days', schedule: '--schedule', paused: '--paused', currency: '--currency', staleAfterHours: '--stale-after',
};

/** A connector name the App would refuse: a usage error with the App's message. */
export function checkName(name: string): void {
  const e = nameError(name);
  if (e) throw new UsageError(describeError(e));
}

/** Settings flags the App would refuse, each named by its flag. */
export function checkSettings(s: Partial<ConnectorSettings>): void {
  const bad = settingsInputProblems(s);
  if (bad.length) throw new UsageError(bad.map(([k, m]) => `${SETTING_FLAGS[k]}: ${m}`).join('; '));
}

/** `--time-zone`: GMT, UTC or an IANA zone. */
export function checkTimeZone(tz: string | undefined): void {
  if (tz === undefined) return;
  const r = timeZoneSchema.safeParse(tz);
  if (!r.success) throw new UsageError(`--time-zone: ${r.error.issues[0]!.message}`);
}

/** `sync --from/--to`: the App's range rule, as a usage error with its message. */
export function checkRange(range: { from: string; to: string } | undefined): void {
  if (!range) return;
  try {
    validateRange(range);
  } catch (e) {
    throw new UsageError(describeError(e));
  }
}

export function printChecks(out: Output, report: TestReport): void {
  for (const c of report.checks) {
    const mark = c.ok === true ? 'ok  ' : c.ok === false ? 'FAIL' : '-   ';
    out.line(`  ${mark} ${c.label}${c.ok === false ? `: ${c.detail}` : c.ok === null ? ' (not checked)' : ''}`);
    if (c.ok === false && c.hint) out.line(`       fix: ${c.hint}`);
  }
  for (const w of report.warnings) out.line(`  warn ${w}`);
}
