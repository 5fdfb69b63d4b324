/**
 * `rakuten-connector serve`: the web app, the JSON API and the scheduler in one process.
 * Binds 127.0.0.1 by default. Any other interface needs RAKUTEN_CONNECTOR_ADMIN_TOKEN, which is
 * then required on every request. Runs until SIGTERM or SIGINT, then shuts down in order:
 * no new syncs, running syncs finish or are aborted (a window in flight is rolled back), the
 * App closes. A second signal exits at once.
 */
import { App } from '../app/app.js';
import type { Output } from '../cli/output.js';
import { ConnectorError } from '../util/errors.js';
import { isLoopbackHost, MIN_ADMIN_TOKEN_LENGTH } from './auth.js';
import { startServer } from './server.js';

export async function serveCommand(o: { home: string; warehouse?: string; out: Output; host: string; port: number; onClose?: () => Promise<void> | void }): Promise<void> {
  const { out } = o;
  try {
    const adminToken = process.env.RAKUTEN_CONNECTOR_ADMIN_TOKEN?.trim() || undefined;
    if (!isLoopbackHost(o.host) && !adminToken) {
      throw new ConnectorError('config', `refusing to serve on ${o.host}: only 127.0.0.1 is served without an admin token`, {
        hint: 'set RAKUTEN_CONNECTOR_ADMIN_TOKEN to a long random secret (e.g. `openssl rand -hex 24`); every request must then carry it',
      });
    }
    if (adminToken && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new ConnectorError('config', `RAKUTEN_CONNECTOR_ADMIN_TOKEN is too short (${adminToken.length} characters)`, {
        hint: `use at least ${MIN_ADMIN_TOKEN_LENGTH} random characters, e.g. \`openssl rand -hex 24\``,
      });
    }
    const app = await App.open({ home: o.home, warehouse: o.warehouse });
    let server;
    try {
      server = await startServer({ app, out, host: o.host, port: o.port, adminToken });
    } catch (e) {
      await app.close().catch(() => undefined);
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new ConnectorError('config', `port ${o.port} on ${o.host} is already in use`, { hint: 'choose another with --port, or stop what is using it' });
      }
      throw e;
    }
    out.log('info', `serving ${server.url}/ (warehouse ${app.db.warehouse.location}${adminToken ? '; admin token required' : '; this machine only'})`, { event: 'listening', url: server.url, port: server.port });
    out.log('info', 'while `serve` runs it holds the warehouse: use its web app or API (the CLI would report the warehouse as busy). Ctrl-C stops it.');
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
