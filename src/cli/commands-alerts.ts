/**
 * `alerts`: where alerts go and what was sent, as the web API's /api/alerts does, through the
 * same App (src/app/alerts.ts): `alerts add --webhook URL | --slack URL | --email ADDRESS
 * [--connector NAME]` (`-` reads the URL from standard input, out of `ps`), `alerts list` (channels, targets masked, and the recent history), `alerts
 * remove ID`, `alerts test [ID]` (exit 1 when a test delivery failed).
 */
import type { Command } from 'commander';
import type { App } from '../app/app.js';
import type { Output } from '../app/output.js';
import type { AlertChannelKind, AlertDeliveryRecord } from '../warehouse/types.js';
import { checkName, int, UsageError } from './common.js';
import { readSecret } from './secret-input.js';

type WithApp = <T>(fn: (app: App, out: Output) => Promise<T>) => Promise<T>;

function deliveryLine(d: AlertDeliveryRecord): string {
  return `  ${d.at}  ${d.status.padEnd(6)} ${d.event.padEnd(14)} channel ${d.channelId}${d.connector ? `  connector ${d.connector}` : ''}  ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${d.error ? `  ${d.error}` : ''}`;
}

export function addAlertCommands(program: Command, withApp: WithApp): void {
  const alerts = program.command('alerts').description('alert channels (a JSON webhook, Slack, e-mail) and the alert history');

  alerts
    .command('add')
    .description('send alerts (sync failed, recovered, stale, fresh again, token rejected) to a webhook, Slack or an e-mail address')
    .option('--webhook <url>', 'POST a JSON body to this URL; "-" reads it from standard input (a URL on the command line is visible to `ps`)')
    .option('--slack <url>', 'a Slack-compatible incoming webhook URL (it carries a secret: "-" reads it from standard input)')
    .option('--email <address>', 'e-mail over RAKUTEN_SMTP_URL, from RAKUTEN_ALERT_FROM')
    .option('--connector <name>', 'only this connector\'s alerts (default: every connector)')
    .action(async (o: { webhook?: string; slack?: string; email?: string; connector?: string }) => {
      const given = (['webhook', 'slack', 'email'] as const).filter((k) => o[k] !== undefined);
      if (given.length !== 1) throw new UsageError('give one of --webhook URL, --slack URL or --email ADDRESS');
      if (o.connector !== undefined) checkName(o.connector);
      const kind: AlertChannelKind = given[0]!;
      const target = o[kind] === '-' ? await readSecret(`Paste the ${kind === 'slack' ? 'Slack webhook' : kind === 'webhook' ? 'webhook' : 'e-mail'} ${kind === 'email' ? 'address' : 'URL'} (not shown): `) : o[kind]!;
      if (!target.trim()) throw new UsageError(`the ${kind} target read from standard input is empty`);
      await withApp(async (app, out) => {
        const ch = await app.alerts.add(kind, target, o.connector ?? null);
        if (out.json) return out.data({ added: ch });
        out.line(`added alert channel ${ch.id}: ${ch.kind} ${ch.target}, ${ch.connector ? `connector ${ch.connector}` : 'every connector'}; try it: rakuten-connector alerts test ${ch.id}`);
      });
    });

  alerts
    .command('list')
    .description('the alert channels (targets masked) and the most recent deliveries')
    .option('--history <n>', 'deliveries to show', int('--history', 0, 1000), 20)
    .action(async (o: { history: number }) => {
      await withApp(async (app, out) => {
        const [channels, history] = await Promise.all([app.alerts.list(), o.history ? app.alerts.history(o.history) : Promise.resolve([])]);
        if (out.json) {
          for (const c of channels) out.data({ channel: c });
          for (const d of history) out.data({ delivery: d });
          return;
        }
        if (!channels.length) out.line('no alert channels: rakuten-connector alerts add --webhook URL | --slack URL | --email ADDRESS');
        for (const c of channels) out.line(`${c.id}\t${c.kind}\t${c.target}\t${c.connector ?? 'every connector'}`);
        if (history.length) {
          out.line('recent alerts:');
          for (const d of history) out.line(deliveryLine(d));
        }
      });
    });

  alerts
    .command('remove')
    .description('stop sending alerts to a channel (its history stays)')
    .argument('<id>')
    .action(async (id: string) => {
      await withApp(async (app, out) => {
        await app.alerts.remove(id);
        if (out.json) return out.data({ removed: id });
        out.line(`removed alert channel ${id}`);
      });
    });

  alerts
    .command('test')
    .description('send a test alert to one channel, or to every channel; exit 1 when one failed')
    .argument('[id]')
    .action(async (id: string | undefined) => {
      await withApp(async (app, out) => {
        const sent = await app.alerts.test(id);
        if (out.json) for (const d of sent) out.data({ delivery: d });
        else if (!sent.length) out.line('no alert channels to test');
        else for (const d of sent) out.line(`${d.status === 'sent' ? 'sent  ' : 'FAILED'} test alert to channel ${d.channelId} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})${d.error ? `: ${d.error}` : ''}`);
        if (sent.some((d) => d.status === 'failed')) process.exitCode = 1;
      });
    });
}
