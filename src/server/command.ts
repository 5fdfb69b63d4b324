/**
 * `rakuten-connector serve`: the web app, the JSON API and the scheduler in one process.
 * Binds 127.0.0.1 by default. Any other interface needs RAKUTEN_CONNECTOR_ADMIN_TOKEN, which is
 * then required on every request. Runs until SIGTERM or SIGINT, then shuts down in order:
 * no new syncs, running syncs finish or are aborted (a window in flight is rolled back), the
 * App closes. A second signal exits at once.
 * Any failure while starting (the warehouse, the port, the scheduler reading the connectors)
 * closes what was opened and fails the command (exit 1, with the reason): never a half-started
 * server that answers 500 to everything while the warehouse is released.
 */
import { App } from '../app/app.js';
import type { Output } from '../app/output.js';
import { ConnectorError } from '../util/errors.js';
import { textSetting } from '../util/config.js';
import { isLoopbackHost } from './auth.js';
import { ServerStartError, startServer } from './server.js';

export async function serveCommand(o: {
  home: string; warehouse?: string; out: Output; host: string; port: number;
  /** --trust-proxy: a TLS reverse proxy in front; see ServerOptions.trustProxy. */
  trustProxy?: boolean;
  onClose?: () => Promise<void> | void;
}): Promise<void> {
  const { out } = o;
  try {
    // Validated by the settings declaration (src/util/config.ts: at least 16 characters).
    const adminToken = textSetting('RAKUTEN_CONNECTOR_ADMIN_TOKEN');
    if (!isLoopbackHost(o.host) && !adminToken) {
      throw new ConnectorError('config', `refusing to serve on ${o.host}: only 127.0.0.1 is served without an admin token`, {
        hint: 'set RAKUTEN_CONNECTOR_ADMIN_TOKEN to a long random secret (e.g. `openssl rand -hex 24`); every request must then carry it',
      });
    }
    const app = await App.open({ home: o.home, warehouse: o.warehouse });
    for (const w of app.vault.warnings) out.log('warn', w);
    let server;
    try {
      server = await startServer({ app, out, host: o.host, port: o.port, adminToken, trustProxy: o.trustProxy });
    } catch (e) {
      await app.close().catch(() => undefined);
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new ConnectorError('config', `port ${o.port} on ${o.host} is already in use`, { hint: 'choose another with --port, or stop what is using it' });
      }
      if (e instanceof ServerStartError) {
        throw new ConnectorError('internal', `serve could not start: ${e.message}`, {
          hint: 'nothing is being served; check the warehouse (`rakuten-connector list` shows what it holds), then start again',
        });
      }
      throw e;
    }
    out.log('info', `serving ${server.url}/ (warehouse ${app.warehouseInfo().location}${adminToken ? '; admin token required' : '; this machine only'})`, { event: 'listening', url: server.url, port: server.port });
    out.log('info', 'while `serve` runs it holds the warehouse: the web app, the API, and the CLI on this home (through this server) all work. Ctrl-C stops it.');
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const on = (sig: NodeJS.Signals) => {
        process.off('SIGINT', on);
        process.off('SIGTERM', on);
        resolve(sig);
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    });
    const force = () => {
      out.log('warn', 'second signal: exiting now');
      process.exit(130);
    };
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    out.log('info', `${signal}: shutting down`, { event: 'shutdown' });
    try {
      await server.close();
    } finally {
      process.off('SIGINT', force);
      process.off('SIGTERM', force);
    }
    out.log('info', 'stopped', { event: 'stopped' });
  } finally {
    await o.onClose?.();
  }
}
