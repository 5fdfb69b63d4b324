/**
 * The CLI while `serve` runs on the same home: the embedded DuckDB file admits one process, so
 * instead of refusing, the commands go through the server (src/server/cli-api.ts), which runs the
 * same App methods: the output and exit codes are the local ones. The server is found through
 * `<home>/serve.json` (src/server/local-credential.ts describes it). The file is believed only
 * when it is ours (owner, mode 0600), its pid is alive and the server at its URL proves it holds
 * the credential (an HMAC of a fresh nonce) before the credential is ever sent: anything else is
 * stale and ignored. Whatever the server answers is rebuilt into the error the App would have
 * thrown locally.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SERVE_FILE, serveProof, type WireError } from '../util/serve-proof.js';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App, ConnectorView, SyncAllResult } from '../app/app.js';
import { DEFAULT_SYNC_PARALLEL } from '../app/defaults.js';
import type { Output } from '../app/output.js';
import type { SyncEvent, SyncOptions } from '../sync/engine.js';
import { ConnectorError, type ErrorField, type ErrorKind } from '../util/errors.js';
import { eachLimited } from '../util/pool.js';
import { registerSecret } from '../util/secrets.js';
import type { RunRecord } from '../warehouse/types.js';

/** The App methods the CLI's commands use; RemoteApp has them all. */
export type CliApp = Pick<App, 'statuses' | 'status' | 'saveAndTest' | 'test' | 'edit' | 'updateSettings' | 'remove' | 'removeData' | 'sync' | 'syncAll' | 'checkFreshness'> & {
  alerts: Pick<App['alerts'], 'add' | 'list' | 'remove' | 'test' | 'history'>;
};

export interface ServeFile { url: string; pid: number; credential: string }


/** The error the App threw on the server, as it would have been thrown here. */
function rebuild(e: WireError): Error {
  if (!e.kind) return new Error(e.message);
  return new ConnectorError(e.kind as ErrorKind, e.message, { hint: e.hint ?? undefined, ...(e.field ? { field: e.field as ErrorField } : {}) });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<home>/serve.json` when it is ours and well formed, else undefined. */
export function readServeFile(home: string): ServeFile | undefined {
  const path = join(home, SERVE_FILE);
  try {
    const st = lstatSync(path);
    if (!st.isFile() || (st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) return undefined;
    const f = JSON.parse(readFileSync(path, 'utf8')) as Partial<ServeFile>;
    if (typeof f.url !== 'string' || !/^https?:\/\//.test(f.url) || !Number.isInteger(f.pid) || typeof f.credential !== 'string' || f.credential.length < 32) return undefined;
    return { url: f.url.replace(/\/+$/, ''), pid: f.pid!, credential: f.credential };
  } catch {
    return undefined;
  }
}

/** The running server of this home, or undefined when there is none (no file, or a stale one). */
export async function findServer(home: string): Promise<ServeFile | undefined> {
  const f = readServeFile(home);
  if (!f || !alive(f.pid)) return undefined;
  registerSecret(f.credential);
  const nonce = randomBytes(18).toString('base64url');
  try {
    const res = await fetch(`${f.url}/api/cli/hello?nonce=${nonce}`, { signal: AbortSignal.timeout(3000), redirect: 'error' });
    if (!res.ok) return undefined;
    const proof = Buffer.from(String(((await res.json()) as { proof?: unknown }).proof ?? ''));
    const want = Buffer.from(serveProof(f.credential, nonce));
    return proof.length === want.length && timingSafeEqual(proof, want) ? f : undefined;
  } catch {
    return undefined;
  }
}

const gone = (url: string, e: unknown) =>
  new ConnectorError('network', `the running server (${url}) stopped answering: ${(e as Error).message}`, { hint: 'is `rakuten-connector serve` still running? Start it again, or run the command once it has stopped' });

export class RemoteApp implements CliApp {
  /** As App.syncCheck: run here before a sync (the demo's connector whose simulator is gone fails at once). */
  syncCheck?: (name: string, view: () => Promise<ConnectorView>) => Promise<void>;

  constructor(private readonly server: ServeFile, private readonly out: Output) {}

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(`${this.server.url}${path}`, {
        method: 'POST', body: JSON.stringify(body), signal, redirect: 'error',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.server.credential}` },
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw gone(this.server.url, e);
    }
  }

  private async call<T>(method: string, ...args: unknown[]): Promise<T> {
    const res = await this.post('/api/cli/call', { method, args });
    const b = (await res.json().catch(() => ({}))) as { result?: T; error?: WireError; errors?: Record<string, string> };
    if (b.error) throw rebuild(b.error);
    if (!res.ok || !('result' in b)) throw new ConnectorError('internal', `the running server answered ${res.status}: ${Object.values(b.errors ?? {}).join('; ') || 'no result'}`);
    return b.result as T;
  }

  statuses: App['statuses'] = () => this.call('statuses');
  status: App['status'] = (name, runs) => this.call('status', name, runs ?? 10);
  saveAndTest: App['saveAndTest'] = (input) => this.call('saveAndTest', input);
  test: App['test'] = (name) => this.call('test', name);
  edit: App['edit'] = (name, change) => this.call('edit', name, change);
  updateSettings: App['updateSettings'] = (name, patch) => this.call('updateSettings', name, patch);
  remove: App['remove'] = (name, dropData) => this.call('remove', name, dropData);
  removeData: App['removeData'] = (name) => this.call('removeData', name);
  checkFreshness: App['checkFreshness'] = () => this.call('checkFreshness');
  alerts: CliApp['alerts'] = {
    add: (kind, target, connector) => this.call('alerts.add', kind, target, connector),
    list: () => this.call('alerts.list'),
    remove: (id) => this.call('alerts.remove', id),
    test: (id) => this.call('alerts.test', id),
    history: (limit, channelId) => this.call('alerts.history', limit, channelId),
  };
  /** The server's home, and the sha256 of its warehouse URL. */
  where = () => this.call<{ home: string; warehouse: string }>('home');

  private warned = false;
  /** The server's runner syncs (its limit, its settings): --concurrency is the server's. */
  private note(opts: SyncOptions): void {
    if (opts.concurrency === undefined || this.warned) return;
    this.warned = true;
    this.out.log('warn', '--concurrency does not apply: the running server syncs with its own settings');
  }

  /**
   * One sync through the server, its events told to opts.onEvent as a local sync tells them.
   * `attach`: when the server syncs it already, wait for that sync instead (sync --all):
   * resolves 'elsewhere' when it succeeded, 'again' when it did not.
   */
  private async syncVia(name: string, opts: SyncOptions, attach?: (owner: string) => void): Promise<RunRecord | 'elsewhere' | 'again'> {
    await this.syncCheck?.(name, async () => (await this.status(name, 0)) as ConnectorView);
    this.note(opts);
    const res = await this.post('/api/cli/sync', { name, range: opts.range, attach: Boolean(attach) }, opts.signal);
    if (!(res.headers.get('content-type') ?? '').startsWith('application/x-ndjson')) {
      const b = (await res.json().catch(() => ({}))) as { error?: WireError; errors?: Record<string, string> };
      throw b.error ? rebuild(b.error) : new ConnectorError('internal', `the running server answered ${res.status}: ${Object.values(b.errors ?? {}).join('; ')}`);
    }
    let busy = false;
    let rest = '';
    let failed: WireError | undefined;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        rest += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = rest.indexOf('\n')) >= 0) {
          const m = JSON.parse(rest.slice(0, i)) as { event?: SyncEvent; done?: RunRecord; failed?: WireError; busy?: string };
          rest = rest.slice(i + 1);
          if (m.busy) {
            busy = true;
            attach?.(m.busy);
          } else if (m.event) opts.onEvent?.(m.event);
          else if (m.done) return busy ? 'elsewhere' : m.done;
          else if (m.failed) {
            failed = m.failed;
            break;
          }
        }
        if (failed) break;
      }
    } catch (e) {
      if (opts.signal?.aborted) {
        this.out.log('info', `[${name}] the running server goes on with the sync: \`rakuten-connector status ${name}\` shows it`);
        throw opts.signal.reason;
      }
      throw gone(this.server.url, e);
    }
    if (failed) {
      if (busy) return 'again';
      throw rebuild(failed);
    }
    throw new ConnectorError('internal', `the running server stopped before the sync of "${name}" finished`, { hint: 'see the server\'s log; `rakuten-connector status` shows the run' });
  }

  async sync(name: string, opts: SyncOptions = {}): Promise<RunRecord> {
    const r = await this.syncVia(name, opts);
    if (typeof r === 'string') throw new ConnectorError('internal', `unexpected answer for "${name}"`);
    return r;
  }

  /** App.syncAll through the server: every connector not paused; one synced by the server already is waited for. */
  async syncAll(
    options: (name: string) => SyncOptions,
    o: Parameters<App['syncAll']>[1] = {},
  ): Promise<SyncAllResult> {
    const names = (await this.statuses()).filter((c) => !c.settings.paused).map((c) => c.name);
    const out: SyncAllResult = { synced: [], failed: [], elsewhere: [], stillBusy: [] };
    // The same bounded pool as the local App.syncAll.
    await eachLimited(names, o.parallel ?? DEFAULT_SYNC_PARALLEL, async (name) => {
      try {
        let r: RunRecord | 'elsewhere' | 'again' = 'again';
        for (let tries = 0; r === 'again' && tries < 3; tries++) r = await this.syncVia(name, options(name), (owner) => o.onBusy?.(name, owner));
        if (r === 'again') {
          out.stillBusy.push(name);
        } else if (r === 'elsewhere') {
          out.elsewhere.push(name);
          o.onDone?.(name, 'synced-elsewhere');
        } else {
          out.synced.push(name);
          o.onDone?.(name, r);
        }
      } catch (e) {
        out.failed.push(name);
        o.onDone?.(name, e instanceof Error ? e : new Error(String(e)));
      }
    }, () => Boolean(o.signal?.aborted));
    return out;
  }
}

/**
 * Opening the home failed: when it failed because the embedded warehouse file is held by another
 * process and that process is this home's `serve` (same home, same warehouse), the App of the
 * commands is that server's; otherwise the error stands (exactly as before).
 */
export async function remoteAfter(err: unknown, home: string, warehouseUrl: string, out: Output): Promise<RemoteApp> {
  if (!(err instanceof ConnectorError) || err.kind !== 'busy') throw err;
  const server = await findServer(home);
  if (!server) throw err;
  const remote = new RemoteApp(server, out);
  const at = await remote.where().catch(() => undefined);
  if (!at || at.home !== home || at.warehouse !== createHash('sha256').update(warehouseUrl).digest('hex')) throw err;
  return remote;
}
