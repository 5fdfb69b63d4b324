// Row generation. The rows of one reference day are a pure function of
// (seed, account, report, day, revision(day), dateType); totals() and the CSV
// writer both drive the same generator, so they agree to the cent.
import { compactDay, isoDay } from './dates.js';
import { Rng, rngFor } from './prng.js';
import { universeFor, type Universe } from './universe.js';

export type DateType = 'transaction' | 'process';

export interface DataContext {
  seed: number;
  rowsPerDay: number;
}

export interface SeriesKey {
  account: string;
  report: string;
  dateType: DateType;
}

/** One generated row. Money is integer cents; entity fields are indices into the Universe. */
export interface RowData {
  txDay: number;
  pub: number;
  sub: number; // -1 = empty sub-publisher cells
  offer: number;
  link: number;
  product: number;
  /** Conversions and returns carry an order id (see orderIdOf); traffic-only rows don't. */
  hasOrder: boolean;
  /** process-day lag (0 for transaction reports) and row index in the day; together with txDay they make the order id unique */
  lag: number;
  seq: number;
  impressions: number;
  clicks: number;
  orders: number;
  sales: number;
  gross: number;
  total: number;
  // Formatting choices are drawn here (not in the CSV layer) so the PRNG stream is identical for totals().
  salesDollar: boolean;
  grossDollar: boolean;
  totalDollar: boolean;
}

export function emptyRow(): RowData {
  return {
    txDay: 0, pub: 0, sub: -1, offer: 0, link: 0, product: 0, hasOrder: false, lag: 0, seq: 0,
    impressions: 0, clicks: 0, orders: 0, sales: 0, gross: 0, total: 0,
    salesDollar: false, grossDollar: false, totalDollar: false,
  };
}

/**
 * Rows for a day: rowsPerDay ±25% (never 0 when rowsPerDay > 5); exactly rowsPerDay when ≤ 5.
 * Each restatement revision is forced to differ in count from the previous one (late conversions).
 */
export function rowCount(ctx: DataContext, key: SeriesKey, day: number, rev: number): number {
  if (ctx.rowsPerDay <= 5) return Math.max(0, Math.floor(ctx.rowsPerDay));
  let n = 0;
  let prev = -1;
  for (let r = 0; r <= rev; r++) {
    const u = rngFor(ctx.seed, 'count', key.account, key.report, key.dateType, day, r).next();
    n = Math.max(1, Math.round(ctx.rowsPerDay * (0.75 + 0.5 * u)));
    if (n === prev) n += 1;
    prev = n;
  }
  return n;
}

// Process reports: a process day holds transactions from 0..5 days earlier, mostly same-day.
const LAG_CUM = [0.55, 0.75, 0.85, 0.92, 0.97, 1];

export class DayGenerator {
  readonly count: number;
  readonly universe: Universe;
  private i = 0;
  private readonly rng: Rng;
  private readonly process: boolean;
  readonly day: number;

  constructor(ctx: DataContext, key: SeriesKey, day: number, rev: number) {
    this.day = day;
    this.count = rowCount(ctx, key, day, rev);
    this.universe = universeFor(ctx.seed, key.account);
    this.rng = rngFor(ctx.seed, 'rows', key.account, key.report, key.dateType, day, rev);
    this.process = key.dateType === 'process';
  }

  /** Fills `row` with the next row; false when the day is exhausted. */
  next(row: RowData): boolean {
    if (this.i >= this.count) return false;
    const seq = this.i++;
    const r = this.rng;
    const u = this.universe;

    let lag = 0;
    if (this.process) {
      const x = r.next();
      while (x >= (LAG_CUM[lag] as number)) lag++;
    }
    row.txDay = this.day - lag;
    row.lag = lag;
    row.seq = seq;

    const x = r.next();
    let p = 0;
    while (x >= (u.pubCum[p] as number)) p++;
    row.pub = p;
    const subs = (u.publishers[p] as { subs: unknown[] }).subs.length;
    row.sub = subs > 0 && r.next() < 0.6 ? r.int(subs) : -1;
    row.offer = r.int(u.offers.length);
    row.link = r.int(u.links.length);
    row.product = r.int(u.products.length);

    const kind = r.next();
    if (kind < 0.05) {
      // Return / cancellation: negative money, no new order.
      row.hasOrder = true;
      row.impressions = 0;
      row.clicks = 0;
      row.orders = 0;
      row.sales = -(r.chance(0.15) ? r.range(100_000, 400_000) : r.range(500, 60_000));
      this.commission(row);
    } else if (kind < 0.6) {
      // Conversion.
      row.hasOrder = true;
      row.impressions = 0;
      row.clicks = r.int(4);
      row.orders = r.chance(0.9) ? 1 : r.range(2, 3);
      const s = r.next();
      row.sales = s < 0.85 ? r.range(500, 30_000) : s < 0.96 ? r.range(30_000, 100_000) : r.range(100_000, 2_500_000);
      this.commission(row);
    } else {
      // Traffic-only: impressions/clicks, sometimes a CPC commission but never sales.
      row.hasOrder = false;
      const im = r.next();
      row.impressions = im < 0.2 ? 0 : im < 0.9 ? r.int(1000) : r.range(1000, 250_000);
      row.clicks = r.chance(0.05) ? r.range(1000, 4000) : r.int(60);
      row.orders = 0;
      row.sales = 0;
      if (row.clicks > 0 && r.chance(0.2)) {
        row.gross = row.clicks * r.range(1, 25);
        row.total = row.gross + Math.max(1, Math.round(row.gross * 0.25));
      } else {
        row.gross = 0;
        row.total = 0;
      }
    }
    row.salesDollar = r.next() < 0.1;
    row.grossDollar = r.next() < 0.1;
    row.totalDollar = r.next() < 0.1;
    return true;
  }

  /** gross = sales × 2–12%; total = gross + network fee (20–30% of gross, ≥ 1 cent, same sign). */
  private commission(row: RowData): void {
    const r = this.rng;
    const gross = Math.round((row.sales * r.range(200, 1200)) / 10_000);
    const feeAbs = Math.max(1, Math.round((Math.abs(gross) * r.range(20, 30)) / 100));
    row.gross = gross;
    row.total = gross + (row.sales < 0 ? -feeAbs : feeAbs);
  }

}

/** e.g. ORD-20260105-0000012: YYYYMMDD of the transaction, lag digit, 6-digit sequence ('' without order). */
export function orderIdOf(row: RowData): string {
  return row.hasOrder ? `ORD-${compactDay(row.txDay)}-${row.lag}${String(row.seq).padStart(6, '0')}` : '';
}

export interface DayTotals {
  day: string;
  rows: number;
  impressions: string;
  clicks: string;
  orders: string;
  sales: string;
  gross_commissions: string;
  total_commissions: string;
}

/** Integer cents → exact "-12.50" (no separators, no currency sign). */
export function centsToDecimal(c: number | bigint): string {
  const b = BigInt(c);
  const neg = b < 0n;
  const a = neg ? -b : b;
  return `${neg ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
}

/** Per reference day totals; days after `today` (and empty days) are zeros. */
export function dayTotals(
  ctx: DataContext,
  key: SeriesKey,
  from: number,
  to: number,
  today: number,
  revisionOf: (day: number) => number,
): DayTotals[] {
  const out: DayTotals[] = [];
  const row = emptyRow();
  for (let day = from; day <= to; day++) {
    let rows = 0;
    let imp = 0n, clk = 0n, ord = 0n, sales = 0n, gross = 0n, total = 0n;
    if (day <= today) {
      // Per-day sums fit in safe integers; BigInt only at the boundary keeps it obviously exact.
      let i = 0, c = 0, o = 0, s = 0, g = 0, t = 0;
      const gen = new DayGenerator(ctx, key, day, revisionOf(day));
      while (gen.next(row)) {
        rows++;
        i += row.impressions;
        c += row.clicks;
        o += row.orders;
        s += row.sales;
        g += row.gross;
        t += row.total;
      }
      imp = BigInt(i); clk = BigInt(c); ord = BigInt(o); sales = BigInt(s); gross = BigInt(g); total = BigInt(t);
    }
    out.push({
      day: isoDay(day),
      rows,
      impressions: String(imp),
      clicks: String(clk),
      orders: String(ord),
      sales: centsToDecimal(sales),
      gross_commissions: centsToDecimal(gross),
      total_commissions: centsToDecimal(total),
    });
  }
  return out;
}
