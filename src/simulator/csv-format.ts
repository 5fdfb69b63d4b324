// CSV body writer: BOM + CRLF + RFC-4180 quoting. Rows are written straight
// into ~64KB Buffers (entity cells pre-encoded once, numbers written digit by
// digit) because building JS strings and UTF-8-encoding them capped throughput
// at ~100MB/s. A sync generator yields one chunk at a time so the server can
// stream with backpressure and never holds more than a chunk or two in memory.
import { DayGenerator, emptyRow, rowCount, type DataContext, type SeriesKey } from './data.js';
import { compactDay, formatDay, type DateFormat } from './dates.js';
import { COLUMN_SETS, F, type ColumnSetKind } from './fixtures.js';
import type { Universe } from './universe.js';

const NEEDS_QUOTES = /[",\r\n]/;

/** RFC-4180: quote fields containing comma, quote, CR or LF; double embedded quotes. */
export function escapeCsv(s: string): string {
  return NEEDS_QUOTES.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

const QUOTE = 0x22, COMMA = 0x2c, MINUS = 0x2d, DOLLAR = 0x24, DOT = 0x2e, ZERO = 0x30, CR = 0x0d, LF = 0x0a;
const digits = new Uint8Array(24);

function put(out: Uint8Array, o: number, src: Uint8Array): number {
  const n = src.length;
  // TypedArray.set has a fixed call cost; a plain loop wins for short cells.
  if (n > 32) out.set(src, o);
  else for (let i = 0; i < n; i++) out[o + i] = src[i] as number;
  return o + n;
}

/** Non-negative integer with "," every 3 digits when `group`. */
function putDigits(out: Uint8Array, o: number, n: number, group: boolean): number {
  let len = 0;
  do {
    const q = Math.floor(n / 10);
    digits[len++] = ZERO + (n - q * 10);
    n = q;
  } while (n > 0);
  for (let i = len - 1; i >= 0; i--) {
    out[o++] = digits[i] as number;
    if (group && i > 0 && i % 3 === 0) out[o++] = COMMA;
  }
  return o;
}

/** Integer cell: 999, "1,234" (quoted because of the separator). */
function putInt(out: Uint8Array, o: number, n: number): number {
  const a = n < 0 ? -n : n;
  if (a < 1000) {
    if (n < 0) out[o++] = MINUS;
    return putDigits(out, o, a, false);
  }
  out[o++] = QUOTE;
  if (n < 0) out[o++] = MINUS;
  o = putDigits(out, o, a, true);
  out[o++] = QUOTE;
  return o;
}

/** Money cell from cents: 12.50, "1,234.56", $9.99, "$1,234.56", -45.10, "-$1,045.10". */
function putMoney(out: Uint8Array, o: number, cents: number, dollar: boolean): number {
  const a = cents < 0 ? -cents : cents;
  const whole = Math.floor(a / 100);
  const frac = a - whole * 100;
  const quoted = whole >= 1000;
  if (quoted) out[o++] = QUOTE;
  if (cents < 0) out[o++] = MINUS;
  if (dollar) out[o++] = DOLLAR;
  o = putDigits(out, o, whole, true);
  out[o++] = DOT;
  const t = Math.floor(frac / 10);
  out[o++] = ZERO + t;
  out[o++] = ZERO + (frac - t * 10);
  if (quoted) out[o++] = QUOTE;
  return o;
}

/** Pre-escaped, pre-encoded entity cells so the hot loop only copies bytes. */
interface Cells {
  pubId: Buffer[];
  pubName: Buffer[];
  pubUrl: Buffer[];
  groupId: Buffer[];
  groupName: Buffer[];
  sub: Array<Array<[Buffer, Buffer, Buffer]>>;
  offerId: Buffer[];
  offerName: Buffer[];
  linkId: Buffer[];
  linkName: Buffer[];
  product: Buffer[];
  /** upper bound of one encoded row, for sizing chunk buffers */
  maxRowBytes: number;
}
const cellCache = new WeakMap<Universe, Cells>();
const cell = (s: string): Buffer => enc(escapeCsv(s));
const maxLen = (bs: Buffer[]): number => bs.reduce((m, b) => Math.max(m, b.length), 0);

function cellsFor(u: Universe): Cells {
  let c = cellCache.get(u);
  if (!c) {
    const sub = u.publishers.map((p) => p.subs.map((s): [Buffer, Buffer, Buffer] => [cell(s.id), cell(s.name), cell(s.url)]));
    const subFlat = sub.flat();
    const parts = {
      pubId: u.publishers.map((p) => cell(p.id)),
      pubName: u.publishers.map((p) => cell(p.name)),
      pubUrl: u.publishers.map((p) => cell(p.url)),
      groupId: u.publishers.map((p) => cell(p.groupId)),
      groupName: u.publishers.map((p) => cell(p.groupName)),
      sub,
      offerId: u.offers.map((o) => cell(o.id)),
      offerName: u.offers.map((o) => cell(o.name)),
      linkId: u.links.map((l) => cell(l.id)),
      linkName: u.links.map((l) => cell(l.name)),
      product: u.products.map(cell),
    };
    const entityMax =
      maxLen(parts.pubId) + maxLen(parts.pubName) + maxLen(parts.pubUrl) + maxLen(parts.groupId) +
      maxLen(parts.groupName) + maxLen(parts.offerId) + maxLen(parts.offerName) + maxLen(parts.linkId) +
      maxLen(parts.linkName) + maxLen(parts.product) +
      maxLen(subFlat.map((s) => s[0])) + maxLen(subFlat.map((s) => s[1])) + maxLen(subFlat.map((s) => s[2]));
    // + dates, order id, 6 numeric cells (≤ 30 bytes each), separators, CRLF.
    c = { ...parts, maxRowBytes: entityMax + 512 };
    cellCache.set(u, c);
  }
  return c;
}

export interface CsvRequest {
  ctx: DataContext;
  key: SeriesKey;
  columns: ColumnSetKind;
  reportName: string;
  from: number;
  to: number;
  today: number;
  dateFormat: DateFormat;
  includeSummary: boolean;
  revisionOf: (day: number) => number;
  /** Stop after this many data rows (used by the 'truncate' fault). */
  maxRows?: number;
  chunkBytes?: number;
}

/** Summary block emitted before the header when include_summary=Y (dates in the requested date_format). */
export function summaryLines(req: CsvRequest): string {
  const f = (d: number): string => formatDay(d, req.dateFormat);
  return (
    `Report Name,${escapeCsv(req.reportName)}\r\n` +
    `Date Range,${escapeCsv(`${f(req.from)} - ${f(req.to)}`)}\r\n` +
    `Run Date,${escapeCsv(f(req.today))}\r\n` +
    `Currency,USD\r\n` +
    `\r\n`
  );
}

export function headerBlock(req: CsvRequest): string {
  return '\uFEFF' + (req.includeSummary ? summaryLines(req) : '') + COLUMN_SETS[req.columns].headers.map(escapeCsv).join(',') + '\r\n';
}

/** Number of data rows the request will produce (cheap: no row generation). */
export function totalRows(req: CsvRequest): number {
  let n = 0;
  for (let d = req.from; d <= Math.min(req.to, req.today); d++) n += rowCount(req.ctx, req.key, d, req.revisionOf(d));
  return n;
}

const USD = enc('USD');

/**
 * Free list of chunk buffers. The server hands a chunk back once the socket has
 * flushed it, so a long download recycles a handful of buffers instead of
 * churning hundreds of MB of external memory through the GC (keeps RSS flat).
 */
const pool: ArrayBuffer[] = [];
const ours = new WeakSet<ArrayBufferLike>();
const POOL_MAX = 16;
function takeBuffer(size: number): Buffer {
  while (pool.length > 0) {
    const ab = pool.pop() as ArrayBuffer;
    if (ab.byteLength >= size) return Buffer.from(ab, 0, size);
  }
  const b = Buffer.allocUnsafeSlow(size);
  ours.add(b.buffer);
  return b;
}
/** Return a chunk yielded by csvChunks() once nothing references it any more (other buffers are ignored). */
export function recycleChunk(chunk: Buffer): void {
  const ab = chunk.buffer;
  if (pool.length < POOL_MAX && ab instanceof ArrayBuffer && ours.has(ab) && !pool.includes(ab)) pool.push(ab);
}

export function* csvChunks(req: CsvRequest): Generator<Buffer, void, undefined> {
  const chunk = req.chunkBytes ?? 64 * 1024;
  const order = COLUMN_SETS[req.columns].fields;
  const width = order.length;
  const head = enc(headerBlock(req));
  let remaining = req.maxRows ?? Infinity;
  const last = Math.min(req.to, req.today); // no rows after "today"
  const row = emptyRow();
  const dates = new Map<number, Buffer>();
  const orderPrefix = new Map<number, Buffer>();

  let out: Buffer = takeBuffer(Math.max(chunk, head.length) + 64 * 1024);
  let o = put(out, 0, head);

  for (let day = req.from; day <= last && remaining > 0; day++) {
    const gen = new DayGenerator(req.ctx, req.key, day, req.revisionOf(day));
    const c = cellsFor(gen.universe);
    const cap = chunk + c.maxRowBytes;
    if (out.length < cap) {
      if (o > 0) yield out.subarray(0, o);
      out = takeBuffer(cap);
      o = 0;
    }
    while (remaining > 0 && gen.next(row)) {
      remaining--;
      const p = row.pub;
      for (let i = 0; i < width; i++) {
        if (i > 0) out[o++] = COMMA;
        switch (order[i]) {
          case F.txDate: {
            let d = dates.get(row.txDay);
            if (d === undefined) dates.set(row.txDay, (d = enc(formatDay(row.txDay, req.dateFormat))));
            o = put(out, o, d);
            break;
          }
          case F.impressions: o = putInt(out, o, row.impressions); break;
          case F.clicks: o = putInt(out, o, row.clicks); break;
          case F.orders: o = putInt(out, o, row.orders); break;
          case F.gross: o = putMoney(out, o, row.gross, row.grossDollar); break;
          case F.total: o = putMoney(out, o, row.total, row.totalDollar); break;
          case F.sales: o = putMoney(out, o, row.sales, row.salesDollar); break;
          case F.orderId:
            if (row.hasOrder) {
              // ORD-YYYYMMDD-<lag><6-digit seq>, same as data.orderIdOf()
              let pre = orderPrefix.get(row.txDay);
              if (pre === undefined) orderPrefix.set(row.txDay, (pre = enc(`ORD-${compactDay(row.txDay)}-`)));
              o = put(out, o, pre);
              out[o++] = ZERO + row.lag;
              const s = row.seq;
              for (let k = 100000; k >= 1; k = k / 10) out[o++] = ZERO + (Math.floor(s / k) % 10);
            }
            break;
          case F.subId: if (row.sub >= 0) o = put(out, o, c.sub[p]![row.sub]![0]); break;
          case F.subName: if (row.sub >= 0) o = put(out, o, c.sub[p]![row.sub]![1]); break;
          case F.subUrl: if (row.sub >= 0) o = put(out, o, c.sub[p]![row.sub]![2]); break;
          case F.groupId: o = put(out, o, c.groupId[p]!); break;
          case F.groupName: o = put(out, o, c.groupName[p]!); break;
          case F.pubId: o = put(out, o, c.pubId[p]!); break;
          case F.pubName: o = put(out, o, c.pubName[p]!); break;
          case F.pubUrl: o = put(out, o, c.pubUrl[p]!); break;
          case F.offerId: o = put(out, o, c.offerId[row.offer]!); break;
          case F.offerName: o = put(out, o, c.offerName[row.offer]!); break;
          case F.linkId: o = put(out, o, c.linkId[row.link]!); break;
          case F.linkName: o = put(out, o, c.linkName[row.link]!); break;
          case F.currency: o = put(out, o, USD); break;
          case F.product: o = put(out, o, c.product[row.product]!); break;
        }
      }
      out[o++] = CR;
      out[o++] = LF;
      if (o >= chunk) {
        yield out.subarray(0, o);
        // The consumer may still hold the yielded chunk (socket buffer): take a fresh one;
        // the consumer recycles the old one after it is flushed.
        out = takeBuffer(cap);
        o = 0;
      }
    }
  }
  if (o > 0) yield out.subarray(0, o);
}
