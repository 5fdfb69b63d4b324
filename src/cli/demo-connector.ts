/**
 * The connector `npm run demo` saves points at the simulator the demo runs in its own process, on
 * a port of the moment: once the demo has ended nothing answers there. Recognised by its name
 * ("demo"), report key ("demo-report") and loopback host, it is then refused at once with how to
 * bring it back, instead of retrying a dead port for half a minute.
 */
import { connect } from 'node:net';
import type { ConnectorView } from '../app/app.js';
import { ConnectorError } from '../util/errors.js';

export const DEMO_NAME = 'demo';
export const DEMO_REPORT_KEY = 'demo-report';

/** host:port of the demo's simulator when this is the demo's connector, else null. */
export function demoHost(v: Pick<ConnectorView, 'name' | 'reportKey' | 'url'>): { host: string; port: number } | null {
  if (v.name !== DEMO_NAME || v.reportKey !== DEMO_REPORT_KEY) return null;
  let u: URL;
  try {
    u = new URL(v.url);
  } catch {
    return null;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) || u.protocol !== 'http:') return null;
  return { host, port: Number(u.port || 80) };
}

/** Whether something accepts connections at host:port (a loopback connect answers at once). */
function listening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** App.syncCheck for the CLI: the demo's connector whose simulator is gone fails at once, saying so (other connectors: nothing is read). */
export async function demoSyncCheck(name: string, view: () => Promise<ConnectorView>): Promise<void> {
  if (name !== DEMO_NAME) return;
  const at = demoHost(await view());
  if (!at || (await listening(at.host, at.port))) return;
  throw new ConnectorError('config', 'the demo\'s simulator is not running (it runs only while `npm run demo` does)', {
    hint: 'run `npm run demo` again in this home (or `rakuten-connector demo`): it brings the simulator back and resumes this connector',
  });
}
