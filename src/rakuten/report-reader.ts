/**
 * Report body → normalised rows. Bytes are validated as UTF-8 incrementally (a multi-byte
 * character may straddle network chunks), summary lines before the header are skipped, header
 * names are mapped to the data model, and every cell is parsed. A row that cannot be read
 * fails the whole window with an error naming the row and the column.
 *
 * Two forms of one window's rows from one parser, asked for by name (see src/model/report-body.ts):
 * - `rows`: batches of ReportRow, for any consumer;
 * - `canonical-csv`: canonical CSV bytes, for a warehouse whose fastest load is its own CSV reader
 *   (DuckDB): common cells are validated and copied byte for byte, with no string or array per
 *   cell. Both go through the same cell rules (a cell outside the common forms takes the string
 *   parsers of values.ts, which decide exactly, value or error, in both forms) and the same `_date`
 *   rule (windowDay, dayOf).
 */
import type { CsvPart, CsvStamp, ReportBody, ReportBodyFormat } from '../model/report-body.js';
import { COLUMN_INDEX, LOADED_COLUMNS, type LoadedColumn, type ReportRow } from '../model/schema.js';
import { ConnectorError } from '../util/errors.js';
import { CsvError, type CsvRecord, CsvTokenizer, ESCAPED, fieldText, PLAIN, QUOTED, recordTexts } from './csv.js';
import { type HeaderMapping, looksLikeHeader, mapHeader, missingColumnsHint } from './columns.js';
import { countBytes, dateParser, moneyBytes, needsTrim, parseCount, parseMoney, parseText, ValueError } from './values.js';
import type { DateType } from './url.js';
import { type StampBytes, stampBytes, writeStampEnd } from './stamp-bytes.js';
import { Utf8Stream } from './utf8-stream.js';

export interface ReadOptions {
  dateFormat: string;
  dateType: DateType;
  /** The requested window, inclusive ISO days. Rows are assigned to a reference day `_date` (see windowDay). */
  start: string;
  end: string;
  onHeader?: (mapping: HeaderMapping, header: string[]) => void;
  /** Rows per yielded batch at most (a batch is also yielded at the end of each network chunk); `rows` form only. */
  batchRows?: number;
}

/** The ReportBody of one format: `{ format: 'rows', batches }` or `{ format: 'canonical-csv', parts }`. */
export type ReportBodyOf<F extends ReportBodyFormat> = Extract<ReportBody, { format: F }>;

/**
 * The rows of one report body, in the form asked for. Nothing is read until the body is iterated
 * (once); iterating it throws the ConnectorError the user sees when the report cannot be read.
 */
export function readReport<F extends ReportBodyFormat>(body: AsyncIterable<Uint8Array | string>, opts: ReadOptions, format: F): ReportBodyOf<F> {
  const out: ReportBody = format === 'rows'
    ? { format: 'rows', batches: readRows(body, opts) }
    : { format: 'canonical-csv', parts: readCsv(body, opts), stamped: (stamp: CsvStamp) => readCsv(body, opts, stamp) };
  return out as ReportBodyOf<F>;
}

async function* readRows(body: AsyncIterable<Uint8Array | string>, opts: ReadOptions): AsyncGenerator<ReportRow[]> {
  const batchRows = opts.batchRows ?? 5000;
  const r = new Reader(opts, false);
  for await (const _ of pump(body, r)) {
    while (r.batch.length >= batchRows) yield r.batch.splice(0, batchRows);
    if (r.batch.length > 0) {
      const out = r.batch;
      r.batch = [];
      yield out;
    }
  }
}

async function* readCsv(body: AsyncIterable<Uint8Array | string>, opts: ReadOptions, stamp?: CsvStamp): AsyncGenerator<CsvPart> {
  const r = new Reader(opts, true, stamp);
  for await (const last of pump(body, r)) {
    const part = r.takeCsv(last);
    if (part) yield part;
  }
}

/**
 * Feeds the body through the reader; yields after each network chunk (false) and once at the end (true).
 * Maps every failure to the ConnectorError the user sees.
 */
async function* pump(body: AsyncIterable<Uint8Array | string>, r: Reader): AsyncGenerator<boolean> {
  const utf8 = new Utf8Stream();
  const invalid = () => new ConnectorError('data', `the response is not valid UTF-8 (after data row ${r.dataRow})`, {
    hint: 'Rakuten reports are UTF-8; check the report in the Rakuten UI',
  });
  for await (const chunk of body) {
    const bytes = utf8.take(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    if (bytes === null) throw invalid();
    // One memchr per chunk; only then are the cells looked at byte by byte.
    if (!r.nulSeen && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(0) !== -1) r.nulSeen = true;
    try {
      r.tokenizer.push(bytes);
    } catch (e) {
      if (e instanceof CsvError) throw new ConnectorError('data', `line ${e.line}: ${e.message}`);
      throw e;
    }
    if (r.failure) throw r.failure;
    yield false;
  }
  if (!utf8.atEnd()) throw new ConnectorError('data', 'the response is not valid UTF-8 at its end');
  try {
    r.tokenizer.end();
  } catch (e) {
    if (e instanceof CsvError) throw new ConnectorError('truncated', `line ${e.line}: ${e.message}`);
    throw e;
  }
  if (r.failure) throw r.failure;
  if (!r.header) {
    throw new ConnectorError('not_csv', r.dataRow === 0 ? 'the response has no report header line' : 'no report header found', {
      hint: 'the report returned no CSV header; check the report in the Rakuten UI',
    });
  }
  yield true;
}

/**
 * The `_date` rule of a window, the one place it is decided: a one-day window gives every row its
 * day (process-date rows carry earlier Transaction Dates, so they are only read one day per
 * request); a multi-day window gives each row its own Transaction Date, which must lie inside the
 * window (Reader.dayOf checks it). Returns the day of every row, or null for "the row's
 * transaction_date" — exactly CsvPart.day.
 */
function windowDay(opts: ReadOptions): string | null {
  if (opts.start === opts.end) return opts.start;
  if (opts.dateType === 'process') {
    throw new ConnectorError('config', 'process-date reports are read one day per request', { hint: 'use one-day windows' });
  }
  return null;
}

const WIDTH = LOADED_COLUMNS.length;
const I_DATE = COLUMN_INDEX._date;
const I_TX = COLUMN_INDEX.transaction_date;
const I_EXTRA = COLUMN_INDEX._extra;

/** Cell kinds per report column. */
const SKIP = 0, TEXT = 1, COUNT = 2, MONEY = 3, DATE = 4;

const OUT_SIZE = 256 * 1024;
const FLUSH_AT = 128 * 1024;
const QUOTE = 34, COMMA = 44, LF = 10;

class Reader {
  readonly tokenizer: CsvTokenizer;
  header: string[] | null = null;
  dataRow = 0;
  failure: Error | null = null;
  batch: ReportRow[] = [];
  /** A NUL byte was in the body: check each record's cells for it from then on. */
  nulSeen = false;

  /** `_date` of every row, or null when it is each row's transaction_date (windowDay). */
  private readonly day: string | null;
  private readonly parseDate: (s: string) => string;
  private kinds = new Uint8Array(0);
  private targets = new Int32Array(0);
  private labels: string[] = [];
  private extras: { index: number; name: string }[] = [];
  /** Canonical CSV: output buffer, finished chunks, rows in them, column layout. */
  private out: Buffer = Buffer.allocUnsafe(0);
  private o = 0;
  /** Start of the row being written, and room it may still need (see csvRow). */
  private rowStart = 0;
  private rowBudget = 0;
  private done: Uint8Array[] = [];
  private rows = 0;
  private maxLine = 0;
  private columns: LoadedColumn[] = [];
  /** Small scratch for a canonical number (rows mode). */
  private readonly scratch = Buffer.allocUnsafe(64);
  /** Last date cell (raw bytes) and its ISO form: reports come mostly in date order. */
  private readonly lastDateRaw = Buffer.allocUnsafe(32);
  private lastDateLen = -1;
  private lastDateIso = '';
  private readonly lastDateBytes = Buffer.allocUnsafe(10);
  /** Canonical CSV with a warehouse's stamp (see CsvStamp), and the next row's number. */
  private readonly stamp: StampBytes | null;
  private rowNumber = 0;

  constructor(private readonly opts: ReadOptions, private readonly csv: boolean, stamp?: CsvStamp) {
    this.parseDate = dateParser(opts.dateFormat);
    this.day = windowDay(opts);
    this.stamp = stamp ? stampBytes(stamp, this.day) : null;
    this.tokenizer = new CsvTokenizer((rec) => this.onRecord(rec));
  }

  /** Canonical CSV produced so far, when worth writing (or at the end). */
  takeCsv(last: boolean): CsvPart | null {
    if (this.o >= FLUSH_AT || (last && this.o > 0)) {
      this.done.push(this.out.subarray(0, this.o));
      this.out = Buffer.allocUnsafe(0);
      this.o = 0;
    }
    if (this.done.length === 0) return null;
    const part = { columns: this.columns, day: this.day, chunks: this.done, rows: this.rows, maxLine: this.maxLine };
    this.done = [];
    this.rows = 0;
    return part;
  }

  private onRecord(rec: CsvRecord): void {
    if (this.failure) return;
    if (!this.header) {
      this.onHeader(rec);
      return;
    }
    this.dataRow++;
    if (rec.count !== this.kinds.length) {
      this.failure = new ConnectorError('data', `row ${this.dataRow} (line ${rec.line}) has ${rec.count} fields but the header has ${this.kinds.length}`, {
        hint: 'the report file is malformed; if it persists, re-run it in the Rakuten UI',
      });
      return;
    }
    if (this.nulSeen && this.refuseNul(rec)) return;
    if (this.csv) this.csvRow(rec);
    else this.arrayRow(rec);
  }

  /**
   * A NUL byte in a cell is refused on every warehouse alike (PostgreSQL cannot store one in text,
   * DuckDB and ClickHouse would keep it): the row and column are named, nothing of the window is saved.
   */
  private refuseNul(rec: CsvRecord): boolean {
    for (let c = 0; c < rec.count; c++) {
      for (let p = rec.start[c]!; p < rec.end[c]!; p++) {
        if (rec.buf[p] === 0) {
          this.cellError(rec, c, new ValueError('the cell contains a NUL byte (\\0), which the connector does not load'));
          return true;
        }
      }
    }
    return false;
  }

  private onHeader(rec: CsvRecord): void {
    const fields = recordTexts(rec);
    if (!looksLikeHeader(fields)) return; // a summary line (include_summary=Y) or a preamble
    this.header = fields;
    const mapping = mapHeader(fields);
    if (mapping.missing.length > 0) {
      this.failure = new ConnectorError('columns', `the report is missing ${mapping.missing.length === 1 ? 'column' : 'columns'} ${mapping.missing.join(', ')}`, {
        hint: missingColumnsHint(mapping.missing),
      });
      return;
    }
    const n = fields.length;
    this.kinds = new Uint8Array(n);
    this.targets = new Int32Array(n).fill(-1);
    this.columns = [];
    mapping.fields.forEach((f, c) => {
      if (!f) return;
      const t = COLUMN_INDEX[f.field];
      this.targets[c] = t;
      const type = LOADED_COLUMNS[t]!.type;
      this.kinds[c] = type === 'money' ? MONEY : type === 'bigint' ? COUNT : type === 'date' ? DATE : TEXT;
      this.columns.push(f.field);
    });
    if (mapping.extra.length > 0) this.columns.push('_extra');
    this.labels = fields.map((f) => f.trim());
    this.extras = mapping.extra;
    this.opts.onHeader?.(mapping, fields);
  }

  private cellError(rec: CsvRecord, c: number, e: unknown): void {
    const why = e instanceof ValueError ? e.message : String(e);
    this.failure = new ConnectorError('data', `row ${this.dataRow} (line ${rec.line}), column "${this.labels[c]}": ${why}`, {
      hint: 'the report holds a value the connector cannot read exactly; nothing of this window was saved',
    });
  }

  private rangeError(rec: CsvRecord, tx: string | null): void {
    this.failure = new ConnectorError('data', `row ${this.dataRow} (line ${rec.line}): Transaction Date ${tx ?? '(empty)'} is outside the requested ${this.opts.start}..${this.opts.end}`, {
      hint: 'use one-day windows (--window-days 1) for this report',
    });
  }

  /** A date cell → its ISO day (null when empty); the bytes of the last one are kept in lastDateBytes. */
  private dateOf(rec: CsvRecord, c: number): string | null {
    const buf = rec.buf;
    const s = rec.start[c]!, e = rec.end[c]!;
    if (s === e) return null;
    const len = e - s;
    if (len === this.lastDateLen && rec.kind[c]! <= QUOTED) {
      let k = 0;
      while (k < len && buf[s + k] === this.lastDateRaw[k]) k++;
      if (k === len) return this.lastDateIso;
    }
    const raw = fieldText(rec, c);
    if (raw.trim() === '') return null;
    const iso = this.parseDate(raw);
    const range = this.stamp?.range;
    if (range && (iso < range.min || iso > range.max)) throw new ValueError(`${iso} is outside ${range.label} (${range.min}..${range.max})`);
    if (rec.kind[c]! <= QUOTED && len <= this.lastDateRaw.length) {
      buf.copy(this.lastDateRaw, 0, s, e);
      this.lastDateLen = len;
    } else {
      this.lastDateLen = -1;
    }
    this.lastDateIso = iso;
    this.lastDateBytes.write(iso, 0, 'latin1');
    return iso;
  }

  private extraJson(rec: CsvRecord): string | null {
    const extra: Record<string, string> = {};
    let any = false;
    for (const x of this.extras) {
      const v = fieldText(rec, x.index);
      if (v !== '') {
        extra[x.name] = v;
        any = true;
      }
    }
    return any ? JSON.stringify(extra) : null;
  }

  /**
   * A row's `_date`, for both writers (null after a range error): the window's day, or the row's
   * transaction date `tx` when it lies inside the window (see windowDay).
   */
  private dayOf(rec: CsvRecord, tx: string | null): string | null {
    if (this.day !== null) return this.day;
    if (tx === null || tx < this.opts.start || tx > this.opts.end) {
      this.rangeError(rec, tx);
      return null;
    }
    return tx;
  }

  private arrayRow(rec: CsvRecord): void {
    const buf = rec.buf;
    const kinds = this.kinds;
    const row: ReportRow = new Array(WIDTH).fill(null);
    let c = 0;
    try {
      for (; c < rec.count; c++) {
        const k = kinds[c]!;
        if (k === SKIP) continue;
        const s = rec.start[c]!, e = rec.end[c]!;
        let v: string | null = null;
        if (k === TEXT) {
          if (s !== e) v = rec.kind[c]! <= QUOTED && !needsTrim(buf, s, e) ? buf.toString('utf8', s, e) : parseText(fieldText(rec, c));
        } else if (k === DATE) {
          v = this.dateOf(rec, c);
        } else if (s !== e) {
          const r = rec.kind[c]! > QUOTED || e - s > 40 ? -1 : k === COUNT ? countBytes(buf, s, e, this.scratch, 0) : moneyBytes(buf, s, e, this.scratch, 0);
          v = r >= 0 ? this.scratch.toString('latin1', 0, r) : k === COUNT ? parseCount(fieldText(rec, c)) : parseMoney(fieldText(rec, c));
        }
        row[this.targets[c]!] = v;
      }
    } catch (e) {
      this.cellError(rec, c, e);
      return;
    }
    const day = this.dayOf(rec, row[I_TX] ?? null);
    if (day === null) return;
    row[I_DATE] = day;
    if (this.extras.length > 0) row[I_EXTRA] = this.extraJson(rec);
    this.batch.push(row);
  }

  /** Room for n more bytes; the row being written moves along to a new buffer. */
  private ensure(n: number): void {
    if (this.out.length - this.o >= n) return;
    const keep = this.o - this.rowStart;
    const next = Buffer.allocUnsafe(Math.max(OUT_SIZE, n + keep));
    if (keep > 0) this.out.copy(next, 0, this.rowStart, this.o);
    if (this.rowStart > 0) this.done.push(this.out.subarray(0, this.rowStart));
    this.out = next;
    this.o = keep;
    this.rowStart = 0;
  }

  /** A text value from a string parser, quoted when needed; keeps the row's remaining budget. */
  private putText(v: string): void {
    this.ensure(Buffer.byteLength(v) * 2 + 3 + this.rowBudget);
    // CsvPart's quoting rule (edge spaces too: ClickHouse trims them from unquoted cells).
    const needs = v.includes('"') || v.includes(',') || v.includes('\n') || v.includes('\r') || /^[ \t]|[ \t]$/.test(v) || (this.stamp !== null && v.charCodeAt(0) === this.stamp.nullFirst);
    const q = needs ? `"${v.replace(/"/g, '""')}"` : v;
    this.o += this.out.write(q, this.o, 'utf8');
  }

  /** The stamp's NULL cell (a few bytes: a loop is cheaper than Buffer.copy). */
  private putNull(cell: Buffer): void {
    const out = this.out;
    let o = this.o;
    for (let p = 0; p < cell.length; p++) out[o++] = cell[p]!;
    this.o = o;
  }

  /** Bytes as written (room is in the row's budget; a few bytes: a loop is cheaper than Buffer.copy). */
  private putBytes(buf: Buffer, from: number, to: number): void {
    const out = this.out;
    let o = this.o;
    if (to - from > 32) o += buf.copy(out, o, from, to);
    else for (let p = from; p < to; p++) out[o++] = buf[p]!;
    this.o = o;
  }

  /** A run of cells as written, and the comma after it. */
  private copyRun(buf: Buffer, from: number, to: number): void {
    this.putBytes(buf, from, to);
    this.out[this.o++] = COMMA;
  }

  private csvRow(rec: CsvRecord): void {
    const buf = rec.buf;
    const kinds = this.kinds;
    // Worst case of the common paths: every cell quoted, every date longer than written (or NULL
    // written as the stamp's cell), and the stamp's end of line.
    const stamp = this.stamp;
    this.rowBudget = rec.bytes + 14 * rec.count + 32 + (stamp ? (stamp.nullCell.length + 2) * rec.count + stamp.end.length + 48 : 0);
    this.rowStart = this.o;
    this.ensure(this.rowBudget);
    let tx: string | null = null;
    // A run of adjacent text cells whose canonical form is their bytes as written: copied in one
    // go, the commas between them included (buf[runFrom..runTo), its last column runCol).
    let runFrom = -1, runTo = -1, runCol = -2;
    let c = 0;
    try {
      for (; c < rec.count; c++) {
        const k = kinds[c]!;
        if (k === SKIP) continue;
        const s = rec.start[c]!, e = rec.end[c]!;
        const fk = rec.kind[c]!;
        // An ESCAPED span is already the inside of a canonical quoted field ("" doubled), and
        // the same bytes start and end it as its value (a quote for a ""): trim sees the same edges.
        if (k === TEXT && s !== e && fk <= ESCAPED && !needsTrim(buf, s, e) && (fk !== PLAIN || stamp === null || buf[s] !== stamp.nullFirst)) {
          const from = fk === PLAIN ? s : s - 1, to = fk === PLAIN ? e : e + 1;
          if (runCol !== c - 1) {
            if (runFrom >= 0) this.copyRun(buf, runFrom, runTo);
            runFrom = from;
          }
          runTo = to;
          runCol = c;
          continue;
        }
        if (runFrom >= 0) {
          this.copyRun(buf, runFrom, runTo);
          runFrom = -1;
          runCol = -2;
        }
        const at = this.o - this.rowStart; // relative: putText may move the row to a new buffer
        if (s !== e) {
          const out = this.out;
          let o = this.o;
          if (k === TEXT) {
            // Not a run's: plain text that starts like the stamp's NULL cell (quoted), or text to trim or unescape.
            if (fk === PLAIN && !needsTrim(buf, s, e)) {
              out[o] = QUOTE;
              this.o = o + 1;
              this.putBytes(buf, s, e);
              this.out[this.o++] = QUOTE;
            } else {
              const v = parseText(fieldText(rec, c));
              if (v !== null) this.putText(v);
            }
          } else if (k === DATE) {
            const iso = this.dateOf(rec, c);
            if (this.targets[c] === I_TX) tx = iso;
            if (iso !== null) {
              const d = this.lastDateBytes;
              for (let p = 0; p < 10; p++) out[o + p] = d[p]!;
              this.o = o + 10;
            }
          } else {
            const r = fk > QUOTED ? -1 : k === COUNT ? countBytes(buf, s, e, out, o) : moneyBytes(buf, s, e, out, o);
            if (r >= 0) this.o = r;
            else {
              const v = k === COUNT ? parseCount(fieldText(rec, c)) : parseMoney(fieldText(rec, c));
              if (v !== null) this.o = o + out.write(v, o, 'latin1');
            }
          }
        }
        // Nothing written is NULL: canonical CSV's empty cell, or the stamp's NULL cell.
        if (stamp !== null && this.o - this.rowStart === at) this.putNull(stamp.nullCell);
        this.out[this.o++] = COMMA;
      }
      if (runFrom >= 0) this.copyRun(buf, runFrom, runTo);
      this.o--; // the last comma
    } catch (e) {
      this.o = this.rowStart;
      this.cellError(rec, c, e);
      return;
    }
    // The day is not written (but with a stamp): it is CsvPart.day or this row's transaction_date, which is what dayOf returns.
    const day = this.dayOf(rec, tx);
    if (day === null) {
      this.o = this.rowStart;
      return;
    }
    if (this.extras.length > 0) {
      this.out[this.o++] = COMMA;
      const j = this.extraJson(rec);
      if (j !== null) this.putText(j);
      else if (stamp !== null) this.putNull(stamp.nullCell);
    }
    if (stamp !== null) this.o = writeStampEnd(this.out, this.o, stamp, day, this.rowNumber++);
    this.out[this.o++] = LF;
    if (this.o - this.rowStart > this.maxLine) this.maxLine = this.o - this.rowStart;
    this.rowStart = this.o;
    this.rows++;
  }
}
