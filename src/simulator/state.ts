// Mutable simulator state shared by the HTTP handler and the programmatic API:
// accounts, restatement revisions, faults and the (token-masked) request log.
import { dayTotals, type DataContext, type DateType, type DayTotals } from './data.js';
import { parseIsoDay, utcToday } from './dates.js';
import { FaultInjector, type FaultKind, type RandomFaults } from './faults.js';
import type { SimAccount } from './fixtures.js';

export interface RequestLogEntry {
  method: string;
  /** path + query with the token value masked */
  path: string;
  /** 0 when the connection was dropped/hung without a response */
  status: number;
  ms: number;
  fault?: FaultKind;
  /** true when the response did not complete (truncate, reset, hang, client gave up) */
  aborted?: boolean;
}

const MAX_LOG = 10_000; // bounded so long soak runs don't leak

export class SimState {
  readonly ctx: DataContext;
  readonly faults: FaultInjector;
  private readonly byToken = new Map<string, SimAccount>();
  private readonly revisions = new Map<string, number>();
  private readonly fixedToday: number | undefined;
  private log: RequestLogEntry[] = [];
  reportRequests = 0;
  readonly accounts: SimAccount[];
  /** Serve gzip to report requests whose Accept-Encoding allows it. */
  readonly gzip: boolean;

  constructor(
    accounts: SimAccount[],
    opts: { seed: number; rowsPerDay: number; today?: string; randomFaults?: RandomFaults; gzip?: boolean },
  ) {
    this.accounts = accounts;
    this.gzip = opts.gzip ?? false;
    this.ctx = { seed: opts.seed, rowsPerDay: opts.rowsPerDay };
    for (const a of accounts) this.byToken.set(a.token, a);
    if (opts.today !== undefined) {
      const t = parseIsoDay(opts.today);
      if (t === null) throw new Error(`invalid today: expected YYYY-MM-DD`);
      this.fixedToday = t;
    }
    this.faults = new FaultInjector(opts.randomFaults);
  }

  /** Fixed if configured, else the current UTC date (re-evaluated so a long run crosses midnight). */
  today(): number {
    return this.fixedToday ?? utcToday();
  }

  account(token: string): SimAccount | undefined {
    return this.byToken.get(token);
  }

  revisionOf(account: string, report: string): (day: number) => number {
    const prefix = `${account}|${report}|`;
    return (day) => this.revisions.get(prefix + day) ?? 0;
  }

  restate(opts: { token?: string; report?: string; from: string; to: string }): void {
    const from = parseIsoDay(opts.from);
    const to = parseIsoDay(opts.to);
    if (from === null || to === null || to < from) throw new Error('restate: from/to must be YYYY-MM-DD with from <= to');
    let targets = this.accounts;
    if (opts.token !== undefined) {
      const a = this.byToken.get(opts.token);
      if (!a) throw new Error('restate: unknown token');
      targets = [a];
    }
    for (const a of targets) {
      for (const report of Object.keys(a.reports)) {
        if (opts.report !== undefined && report !== opts.report) continue;
        for (let d = from; d <= to; d++) {
          const k = `${a.name}|${report}|${d}`;
          this.revisions.set(k, (this.revisions.get(k) ?? 0) + 1);
        }
      }
    }
  }

  totals(q: { token: string; report: string; from: string; to: string; dateType: DateType }): DayTotals[] {
    const a = this.byToken.get(q.token);
    if (!a) throw new Error('totals: unknown token');
    if (!a.reports[q.report]) throw new Error(`totals: unknown report ${q.report}`);
    if (q.dateType !== 'transaction' && q.dateType !== 'process') throw new Error('totals: bad dateType');
    const from = parseIsoDay(q.from);
    const to = parseIsoDay(q.to);
    if (from === null || to === null || to < from) throw new Error('totals: from/to must be YYYY-MM-DD with from <= to');
    const key = { account: a.name, report: q.report, dateType: q.dateType };
    return dayTotals(this.ctx, key, from, to, this.today(), this.revisionOf(a.name, q.report));
  }

  record(e: RequestLogEntry): void {
    this.log.push(e);
    if (this.log.length > MAX_LOG) this.log = this.log.slice(-MAX_LOG / 2);
  }

  requests(): RequestLogEntry[] {
    return this.log.map((e) => ({ ...e }));
  }
}
