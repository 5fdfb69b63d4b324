/**
 * `check-freshness`: for cron jobs and monitoring systems that poll. Prints each connector's
 * freshness (the rule is src/app/freshness.ts) and exits 1 when any connector is stale, so
 * `rakuten-connector check-freshness || notify-someone` works without `serve`.
 */
import type { Command } from 'commander';
import type { App } from '../app/app.js';
import { type Freshness, freshnessHours } from '../app/freshness.js';
import type { Output } from '../app/output.js';

type WithApp = <T>(fn: (app: App, out: Output) => Promise<T>) => Promise<T>;

/** 50 h, 3 h, 45 min. */
export function hoursText(ms: number): string {
  const h = ms / 3_600_000;
  if (h >= 1) return `${Math.floor(h)} h`;
  return `${Math.floor(ms / 60_000)} min`;
}

function line(f: Freshness): string {
  const last = f.lastSuccessAt ? `last successful sync ${f.lastSuccessAt} (${hoursText(f.ageMs)} ago)` : `never synced successfully (saved ${hoursText(f.ageMs)} ago)`;
  switch (f.state) {
    case 'stale': return `STALE  ${f.name}: ${last}; limit ${hoursText(f.limitMs!)}`;
    case 'fresh': return `fresh  ${f.name}: ${last}; limit ${hoursText(f.limitMs!)}`;
    case 'paused': return `paused ${f.name}: ${last}; not checked while paused`;
    case 'no-limit': return `-      ${f.name}: ${last}; manual syncs only and no --stale-after: not checked`;
  }
}

export function addFreshnessCommand(program: Command, withApp: WithApp): void {
  program
    .command('check-freshness')
    .description("exit 1 when any connector is stale: no successful sync for longer than its limit (--stale-after, or twice its schedule's interval plus 2 h)")
    .action(async () => {
      await withApp(async (app, out) => {
        // The same check as `serve`'s: a connector that went stale (or fresh again) is alerted once.
        const all = await app.checkFreshness();
        const stale = all.filter((f) => f.state === 'stale');
        if (out.json) {
          for (const f of all) out.data({ name: f.name, state: f.state, lastSuccessAt: f.lastSuccessAt, ...freshnessHours(f) });
        } else {
          for (const f of all) out.line(line(f));
          out.line(stale.length ? `${stale.length} of ${all.length} connector(s) stale: ${stale.map((f) => f.name).join(', ')}` : `no connector is stale (${all.length} checked)`);
        }
        if (stale.length) process.exitCode = 1;
      });
    });
}
