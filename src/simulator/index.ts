// Public API of the Rakuten Advertising reporting API simulator.
import type { AddressInfo } from 'node:net';
import type { DateType, DayTotals } from './data.js';
import type { FaultSpec, RandomFaults } from './faults.js';
import { DEFAULT_ACCOUNTS, type SimAccount } from './fixtures.js';
import { createSimServer } from './server.js';
import { SimState, type RequestLogEntry } from './state.js';

export type { DateType, DayTotals } from './data.js';
export type { FaultKind, FaultSpec, RandomFaults } from './faults.js';
export { ALL_FAULT_KINDS, FAULT_KINDS, HUGE_DEFAULT_BYTES, LIMIT_FAULT_KINDS, TRICKLE_DEFAULT_MS } from './faults.js';
export type { ColumnSetKind, SimAccount, SimReport } from './fixtures.js';
export {
  ACME_TOKEN,
  CANONICAL_HEADERS,
  COLUMN_SETS,
  DEFAULT_ACCOUNTS,
  DEMO_TOKEN,
  GLOBEX_TOKEN,
  maskToken,
} from './fixtures.js';
export type { RequestLogEntry } from './state.js';

export interface SimulatorOptions {
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** default 42 */
  seed?: number;
  /** default 40 */
  rowsPerDay?: number;
  /** 'YYYY-MM-DD'; default the current UTC date */
  today?: string;
  /** default DEFAULT_ACCOUNTS */
  accounts?: SimAccount[];
  randomFaults?: RandomFaults;
  /**
   * Answer report requests (CSV and JSON/text errors) gzip-compressed when their Accept-Encoding
   * allows gzip, like a CDN in front of the API. Default false: identity bodies for every client.
   */
  gzip?: boolean;
}

export interface Simulator {
  /** e.g. http://127.0.0.1:54321 */
  url: string;
  port: number;
  close(): Promise<void>;
  addFaults(f: FaultSpec[]): void;
  clearFaults(): void;
  restate(opts: { token?: string; report?: string; from: string; to: string }): void;
  totals(q: { token: string; report: string; from: string; to: string; dateType: DateType }): DayTotals[];
  faultCounts(): Record<string, number>;
  /** report-endpoint requests (admin calls excluded), token masked */
  requests(): RequestLogEntry[];
}

export async function startSimulator(o: SimulatorOptions = {}): Promise<Simulator> {
  const host = o.host ?? '127.0.0.1';
  const stateOpts: ConstructorParameters<typeof SimState>[1] = { seed: o.seed ?? 42, rowsPerDay: o.rowsPerDay ?? 40 };
  if (o.today !== undefined) stateOpts.today = o.today;
  if (o.randomFaults !== undefined) stateOpts.randomFaults = o.randomFaults;
  if (o.gzip !== undefined) stateOpts.gzip = o.gzip;
  const state = new SimState(o.accounts ?? DEFAULT_ACCOUNTS, stateOpts);
  const server = createSimServer(state);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung, slow, streaming and idle keep-alive sockets would otherwise keep close() waiting.
        server.closeAllConnections();
      });
      return closing;
    },
    addFaults: (f) => state.faults.add(f),
    clearFaults: () => state.faults.clear(),
    restate: (opts) => state.restate(opts),
    totals: (q) => state.totals(q),
    faultCounts: () => state.faults.countsByKind(),
    requests: () => state.requests(),
  };
}

