/**
 * Alerts, as the App sends them: where they go (channels, their targets sealed like tokens), when
 * (one alert per change of a connector's condition, never one per retry or per scheduled run: the
 * state store's setAlertCondition lets exactly one worker see each change), and what was sent
 * (every delivery and its outcome, the alert history). The wording and the delivery itself are
 * src/alerts/. Sending never fails the sync or the check that caused it: a delivery that fails is
 * recorded as failed. Nor does it hold the sync up: the condition changes before the caller goes
 * on, the delivery (up to ~33 s with its retries when a receiver is down) runs in the background,
 * and `settle()` (App.close) waits for every one still under way, so a CLI run sends before it exits.
 *
 * - failed: a sync failed (after its retries); recovered: the first success after that;
 * - stale / fresh: freshness (src/app/freshness.ts), checked by `serve` and `check-freshness`;
 * - token_rejected: a saved connector's Save & Test (`test`) failed on its token.
 */
import { randomUUID } from 'node:crypto';
import { maskTarget, parseTarget, useTarget } from '../alerts/channels.js';
import { alertDeliveryOptions, deliver } from '../alerts/deliver.js';
import { alertMessage } from '../alerts/messages.js';
import { ConnectorError, describeError } from '../util/errors.js';
import { redact } from '../util/secrets.js';
import type { Vault } from '../util/vault.js';
import type {
  AlertChannelKind, AlertChannelRecord, AlertCondition, AlertDeliveryRecord, AlertEvent, RunRecord, StateStore,
} from '../warehouse/types.js';
import { type Freshness, freshnessHours } from './freshness.js';
import type { TestReport } from './save-and-test.js';

/** A channel as it may be shown: the target masked (a webhook's path and query carry secrets). */
export interface AlertChannelView {
  id: string;
  kind: AlertChannelKind;
  target: string;
  connector: string | null;
  createdAt: string;
}

/** What an alert says beyond its event (see src/alerts/messages.ts). */
interface AlertInfo {
  reason?: string;
  hint?: string;
  lastSuccessAt?: string | null;
  limitHours?: number;
}

export class Alerts {
  /** Called with every delivery recorded (the metrics count them). */
  readonly listeners = new Set<(d: AlertDeliveryRecord) => void>();

  /** Deliveries under way (see the header); settle() waits for them. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Set by close(): no condition changes any more (the warehouse is about to close; the next run decides). */
  private closing = false;

  /** `get`: the saved connector of that name, or a config error (a channel of one connector must name one). */
  constructor(private readonly state: StateStore, private readonly vault: Vault, private readonly get: (name: string) => Promise<unknown>) {}

  /** How many deliveries are under way. */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Wait for every delivery under way, including those started meanwhile; with `timeoutMs`, at
   * most that long. True when none is left.
   */
  async settle(timeoutMs?: number): Promise<boolean> {
    const end = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (this.inflight.size > 0) {
      const left = end - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all([...this.inflight]);
      await (left === Infinity ? all : Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, left)))]));
      clearTimeout(timer);
    }
    return true;
  }

  /** No more condition changes, then wait for the deliveries under way (at most `timeoutMs`). */
  async close(timeoutMs?: number): Promise<boolean> {
    this.closing = true;
    return this.settle(timeoutMs);
  }

  async add(kind: AlertChannelKind, target: string, connector: string | null): Promise<AlertChannelView> {
    if (connector !== null) await this.get(connector);
    const plain = parseTarget(kind, target);
    const rec: AlertChannelRecord = {
      id: randomUUID().slice(0, 8), kind, targetSealed: kind === 'email' ? plain : this.vault.seal(plain), connector, createdAt: new Date().toISOString(),
    };
    await this.state.saveAlertChannel(rec);
    return this.view(rec);
  }

  async list(): Promise<AlertChannelView[]> {
    return (await this.state.listAlertChannels()).map((r) => this.view(r));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.state.deleteAlertChannel(id))) throw noChannel(id);
  }

  /** A removed connector takes its own channels with it (its conditions go with its record). The history stays. */
  async forget(connector: string): Promise<void> {
    for (const c of await this.state.listAlertChannels()) if (c.connector === connector) await this.state.deleteAlertChannel(c.id);
  }

  /**
   * A new connector starts with no condition: one left by an earlier connector of that name (a
   * sync or a freshness check that ended just after its removal) would hide its first failure.
   */
  async fresh(connector: string): Promise<void> {
    for (const condition of (await this.state.alertConditions()).get(connector) ?? []) await this.change(connector, condition, false);
  }

  async history(limit: number, channelId?: string): Promise<AlertDeliveryRecord[]> {
    return this.state.listAlertDeliveries(limit, channelId);
  }

  /** A test alert to one channel, or to every channel: what each delivery did. */
  async test(id?: string): Promise<AlertDeliveryRecord[]> {
    const all = await this.state.listAlertChannels();
    const chosen = id === undefined ? all : all.filter((c) => c.id === id);
    if (id !== undefined && !chosen.length) throw noChannel(id);
    return this.send('test', null, {}, chosen);
  }

  /** After a sync ended: `run` when it succeeded, `error` when it failed (not when it was interrupted or never started). */
  async afterSync(connector: string, outcome: { run: RunRecord } | { error: unknown }): Promise<void> {
    if ('run' in outcome) {
      await this.change(connector, 'token', false); // a sync went through: the token works
      await this.transition(connector, 'failing', false, 'recovered', { lastSuccessAt: outcome.run.finishedAt });
      return;
    }
    const e = outcome.error;
    if (e instanceof ConnectorError && e.kind === 'busy') return; // another worker syncs it: nothing failed
    await this.transition(connector, 'failing', true, 'failed', { reason: describeError(e), hint: e instanceof ConnectorError ? e.hint : undefined });
  }

  /** After `test` of a saved connector: a failed token check is token_rejected (once); a passing one clears it. */
  async afterTest(connector: string, report: TestReport): Promise<void> {
    const token = report.checks.find((c) => c.id === 'token');
    if (!token || token.ok === null) return;
    if (token.ok) await this.change(connector, 'token', false);
    else await this.transition(connector, 'token', true, 'token_rejected', { reason: token.detail, hint: token.hint });
  }

  /** The freshness of every connector (check-freshness, serve): stale once when it goes stale, fresh once when it comes back. */
  async afterFreshness(all: Freshness[]): Promise<void> {
    // One read of the conditions, then a write only where the state may change (this runs every
    // few minutes for every connector); the write itself decides, atomically, who sends.
    const now = await this.state.alertConditions();
    const stale = (name: string) => now.get(name)?.has('stale') ?? false;
    // Connectors at once: each one's deliveries (with their retries) do not wait for another's.
    await Promise.all(all.map(async (f) => {
      if (f.state === 'stale') {
        if (!stale(f.name)) await this.transition(f.name, 'stale', true, 'stale', info(f));
      } else if (stale(f.name)) {
        if (f.state === 'fresh') await this.transition(f.name, 'stale', false, 'fresh', info(f));
        else await this.change(f.name, 'stale', false); // paused, or no limit: not stale, and nothing to say
      }
    }));
  }

  private change(connector: string, condition: AlertCondition, active: boolean): Promise<boolean> {
    return this.state.setAlertCondition(connector, condition, active, new Date().toISOString());
  }

  /**
   * Change a condition and, when this call changed it, send the event: the channels are read and
   * the message written here (if that fails, the change is undone at once, so that the next check
   * sends it), the deliveries themselves run in the background.
   */
  private async transition(connector: string, condition: AlertCondition, active: boolean, event: AlertEvent, extra: AlertInfo): Promise<void> {
    if (this.closing) return;
    if (!(await this.change(connector, condition, active))) return;
    let channels: AlertChannelRecord[];
    try {
      channels = await this.channelsOf(connector);
    } catch (e) {
      await this.change(connector, condition, !active).catch(() => undefined);
      throw e;
    }
    const sending = this.send(event, connector, extra, channels).catch(() => undefined);
    this.inflight.add(sending);
    void sending.finally(() => this.inflight.delete(sending));
  }

  private async channelsOf(connector: string): Promise<AlertChannelRecord[]> {
    return (await this.state.listAlertChannels()).filter((c) => c.connector === null || c.connector === connector);
  }

  /** Deliver to these channels, recording each delivery; a delivery that fails is recorded as failed, never thrown. */
  private async send(event: AlertEvent, connector: string | null, extra: AlertInfo, channels: AlertChannelRecord[]): Promise<AlertDeliveryRecord[]> {
    if (!channels.length) return [];
    const msg = alertMessage(event, { connector, ...extra, at: new Date().toISOString() });
    const opts = alertDeliveryOptions();
    return Promise.all(channels.map(async (c) => {
      let result: { status: 'sent' | 'failed'; attempts: number; error: string | null };
      try {
        const target = useTarget(c.kind, this.target(c));
        result = await deliver({ id: c.id, kind: c.kind, target, connector: c.connector }, msg, opts);
      } catch (e) {
        result = { status: 'failed', attempts: 0, error: redact(describeError(e)) };
      }
      const d: AlertDeliveryRecord = { id: randomUUID(), channelId: c.id, connector, event, at: new Date().toISOString(), ...result };
      await this.state.recordAlertDelivery(d).catch(() => undefined);
      for (const l of this.listeners) {
        try {
          l(d);
        } catch {
          // a listener (the metrics) never changes what was sent
        }
      }
      return d;
    }));
  }

  /** The channel's target in plain: a webhook's URL unsealed (and so known to the redactor); an address is stored as it is. */
  private target(r: AlertChannelRecord): string {
    return r.kind === 'email' ? r.targetSealed : this.vault.open(r.targetSealed);
  }

  private view(r: AlertChannelRecord): AlertChannelView {
    let target: string;
    try {
      target = maskTarget(r.kind, this.target(r));
    } catch {
      target = '(cannot be unsealed with this key)';
    }
    return { id: r.id, kind: r.kind, target, connector: r.connector, createdAt: r.createdAt };
  }
}

function info(f: Freshness): AlertInfo {
  return { lastSuccessAt: f.lastSuccessAt, limitHours: freshnessHours(f).limitHours ?? undefined };
}

function noChannel(id: string): ConnectorError {
  return new ConnectorError('config', `no alert channel with id "${id}"`, { hint: 'see `rakuten-connector alerts list`' });
}
