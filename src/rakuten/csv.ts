/**
 * A streaming RFC-4180 CSV tokenizer over bytes. Push UTF-8 chunks of any size (a quoted field,
 * a CRLF or a multi-byte character may straddle two chunks); each complete record is handed to
 * a callback as field spans over one contiguous buffer, with the line it started on. Nothing is
 * copied or decoded per field: the reader decides what each field becomes (see report-reader.ts).
 *
 * State between chunks is the unfinished tail of one record, so memory is bounded by the longest
 * record, never by the report. A scan resumes where the previous chunk stopped: a huge field that
 * spans many chunks is scanned once.
 *
 * Semantics (kept from the original character parser, and what `CsvParser` still offers on
 * strings): a field that starts with `"` is quoted (`""` inside is a quote); after the closing
 * quote, anything up to the next delimiter is appended as text; a `"` anywhere else is literal
 * text. CR, LF and CRLF end a record; a blank line is no record; line numbers count line breaks
 * inside quoted fields too, so they match what an editor shows.
 */

export type RecordHandler = (fields: string[], line: number) => void;

const QUOTE = 34, COMMA = 44, CR = 13, LF = 10;

/** Field kinds (CsvRecord.kind). */
export const PLAIN = 0;
/** Quoted, no `""` inside and nothing after the closing quote: the value is the span between the quotes. */
export const QUOTED = 1;
/**
 * Quoted with `""` escapes and nothing after the closing quote: the span is between the quotes,
 * escapes still doubled — exactly the inside of a canonical quoted CSV field.
 */
export const ESCAPED = 2;
/** Anything else (stray quotes, text after a closing quote): the span is the raw field. */
export const RAW = 3;

/** Bytes that stop an unquoted scan. */
const STOP = new Uint8Array(256);
STOP[QUOTE] = 1;
STOP[COMMA] = 1;
STOP[CR] = 1;
STOP[LF] = 1;

export class CsvError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
}

/**
 * One record's fields as spans of `buf` (valid only during the callback). For PLAIN and QUOTED
 * fields (kind <= QUOTED) the span is the value's bytes; for ESCAPED fields it is the inside of
 * the quotes; for RAW fields it is the field as written (see fieldText).
 */
export interface CsvRecord {
  buf: Buffer;
  count: number;
  start: Int32Array;
  end: Int32Array;
  kind: Uint8Array;
  /** Line the record starts on (1-based). */
  line: number;
  /** Bytes of the record as written (delimiters included). */
  bytes: number;
}

const enum S {
  FieldStart = 0,
  Unquoted = 1,
  Quoted = 2,
  AfterClose = 3,
}

export class CsvTokenizer {
  private buf: Buffer = Buffer.allocUnsafe(0);
  /** Valid bytes in buf. */
  private n = 0;
  /** Start of the unfinished record in buf. */
  private recStart = 0;
  /** Where the scan resumes. */
  private pos = 0;
  private state: S = S.FieldStart;
  private fieldStart = 0;
  /** Closing quote of the current quoted field. */
  private closePos = 0;
  private fieldKind = PLAIN;
  /** The last chunk ended with a CR that ended a record: a leading LF in the next one belongs to it. */
  private skipLF = false;
  private line = 1;
  private readonly rec: CsvRecord;

  constructor(private readonly onRecord: (rec: CsvRecord) => void, private readonly maxRecordBytes = 4 * 1024 * 1024) {
    this.rec = { buf: this.buf, count: 0, start: new Int32Array(64), end: new Int32Array(64), kind: new Uint8Array(64), line: 1, bytes: 0 };
  }

  push(chunk: Uint8Array): void {
    let len = chunk.length;
    if (len === 0) return;
    let from = 0;
    if (this.skipLF) {
      this.skipLF = false;
      if (chunk[0] === LF) {
        from = 1;
        len--;
        if (len === 0) return;
      }
    }
    // Keep the unfinished record, append the chunk: one contiguous buffer to scan.
    const keep = this.n - this.recStart;
    const shift = this.recStart;
    if (keep + len > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(keep + len, 64 * 1024, this.buf.length * 2));
      if (keep > 0) this.buf.copy(next, 0, this.recStart, this.n);
      this.buf = next;
      this.rec.buf = next;
    } else if (keep > 0 && shift > 0) {
      this.buf.copyWithin(0, this.recStart, this.n);
    }
    if (from === 0 && len === chunk.length) this.buf.set(chunk, keep);
    else this.buf.set(chunk.subarray(from, from + len), keep);
    if (shift > 0) {
      const rec = this.rec;
      for (let f = 0; f < rec.count; f++) {
        rec.start[f] -= shift;
        rec.end[f] -= shift;
      }
      this.pos -= shift;
      this.fieldStart -= shift;
      this.closePos -= shift;
      this.recStart = 0;
    }
    this.n = keep + len;
    this.scan();
  }

  /** The body ended: flush a last record without a line break; an open quote is an error. */
  end(): void {
    const buf = this.buf;
    if (this.state === S.Quoted) {
      // The closing quote may be the very last byte (it waited for the next byte to rule out `""`).
      if (this.pos === this.n - 1 && buf[this.pos] === QUOTE) {
        this.closePos = this.pos;
        this.pos = this.n;
        this.state = S.AfterClose;
      } else {
        throw new CsvError('the response ended inside a quoted field (truncated?)', this.rec.line);
      }
    }
    if (this.rec.count > 0 || this.state !== S.FieldStart) {
      if (this.state === S.FieldStart) this.fieldStart = this.n; // an empty last field ("a,b,")
      this.endField(this.n);
      this.endRecord(this.n);
    }
    this.recStart = this.n;
  }

  private scan(): void {
    const buf = this.buf;
    const n = this.n;
    let i = this.pos;
    let state = this.state;
    for (;;) {
      if (state === S.FieldStart) {
        i = this.plainFields(i);
        if (i >= n) break;
        this.fieldStart = i;
        if (buf[i] === QUOTE) {
          this.fieldKind = QUOTED;
          state = S.Quoted;
          i++;
          continue;
        }
        this.fieldKind = PLAIN;
        state = S.Unquoted;
      }
      if (state === S.Unquoted || state === S.AfterClose) {
        let j = i;
        let c = 0;
        for (;;) {
          if (j >= n) break;
          c = buf[j]!;
          if (STOP[c] === 1) {
            if (c !== QUOTE) break;
            this.fieldKind = RAW; // a stray quote is text
          }
          j++;
        }
        if (state === S.AfterClose && j > i) this.fieldKind = RAW;
        if (j >= n) {
          i = n;
          break;
        }
        this.endField(j);
        i = j + 1;
        state = S.FieldStart;
        if (c === COMMA) continue;
        i = this.lineEnd(c, i);
        continue;
      }
      // Quoted: to the next quote, counting line breaks.
      let j = i;
      let line = this.line;
      while (j < n) {
        const c = buf[j]!;
        if (c === QUOTE) break;
        if (c === LF) line++;
        j++;
      }
      this.line = line;
      if (j >= n) {
        i = n;
        break;
      }
      if (j + 1 >= n) {
        i = j; // is it `""` or the end of the field? The next chunk tells.
        break;
      }
      if (buf[j + 1] === QUOTE) {
        this.fieldKind = ESCAPED;
        i = j + 2;
        continue;
      }
      this.closePos = j;
      i = j + 1;
      state = S.AfterClose;
    }
    this.pos = i;
    this.state = state;
    if (n - this.recStart > this.maxRecordBytes) {
      throw new CsvError(`a record is longer than ${this.maxRecordBytes} bytes`, this.rec.line);
    }
  }

  /**
   * The common case, fast: from a field start, plain fields (no quote) and the records they end,
   * written straight into the record's spans. Stops at a quote, or at a field the chunk does not
   * finish; returns where the general state machine takes over (a field start).
   */
  private plainFields(from: number): number {
    const buf = this.buf;
    const n = this.n;
    const rec = this.rec;
    let i = from;
    let count = rec.count;
    let starts = rec.start, ends = rec.end, kinds = rec.kind;
    while (i < n && buf[i] !== QUOTE) {
      let j = i;
      let c = 0;
      while (j < n) {
        c = buf[j]!;
        // Every stop byte is at most a comma: most bytes need no table look-up.
        if (c > COMMA || STOP[c] === 0) j++;
        else break;
      }
      if (j >= n || c === QUOTE) break;
      if (count === starts.length) {
        rec.count = count;
        this.growRecord();
        starts = rec.start;
        ends = rec.end;
        kinds = rec.kind;
      }
      starts[count] = i;
      ends[count] = j;
      kinds[count] = PLAIN;
      count++;
      i = j + 1;
      if (c === COMMA) continue;
      rec.count = count;
      i = this.lineEnd(c, i);
      count = 0;
    }
    rec.count = count;
    return i;
  }

  /**
   * The record ends at a line break `c` (CR or LF) just before i: CRLF counts once (a CR at the
   * chunk's end skips the next chunk's LF). Hands the record over; returns where the next one starts.
   */
  private lineEnd(c: number, i: number): number {
    if (c === CR) {
      if (i < this.n) {
        if (this.buf[i] === LF) i++;
      } else {
        this.skipLF = true;
      }
    }
    this.endRecord(i);
    this.line++;
    this.recStart = i;
    this.rec.line = this.line;
    return i;
  }

  private growRecord(): void {
    const rec = this.rec;
    const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(a.length * 2);
      b.set(a);
      return b;
    };
    rec.start = grow(rec.start, (k) => new Int32Array(k));
    rec.end = grow(rec.end, (k) => new Int32Array(k));
    rec.kind = grow(rec.kind, (k) => new Uint8Array(k));
  }

  private endField(to: number): void {
    const rec = this.rec;
    const f = rec.count;
    if (f === rec.start.length) this.growRecord();
    const kind = this.fieldKind;
    if (kind === QUOTED || kind === ESCAPED) {
      rec.start[f] = this.fieldStart + 1;
      rec.end[f] = this.closePos;
    } else {
      rec.start[f] = this.fieldStart;
      rec.end[f] = to;
    }
    rec.kind[f] = kind;
    rec.count = f + 1;
    this.fieldKind = PLAIN;
  }

  private endRecord(to: number): void {
    const rec = this.rec;
    rec.bytes = to - this.recStart;
    const blank = rec.count === 1 && rec.end[0] === rec.start[0];
    if (rec.bytes > this.maxRecordBytes) {
      throw new CsvError(`a record is longer than ${this.maxRecordBytes} bytes`, rec.line);
    }
    // A blank line (or a lone "") is no record.
    if (!blank) this.onRecord(rec);
    rec.count = 0;
  }
}

/** A field's value as text: unquoted, `""` unescaped, text after a closing quote appended. */
export function fieldText(rec: CsvRecord, f: number): string {
  const s = rec.start[f]!;
  const e = rec.end[f]!;
  const kind = rec.kind[f]!;
  if (kind <= QUOTED) return rec.buf.toString('utf8', s, e);
  if (kind === ESCAPED) return rec.buf.toString('utf8', s, e).replace(/""/g, '"');
  const raw = rec.buf.toString('utf8', s, e);
  if (raw.charCodeAt(0) !== QUOTE) return raw; // unquoted with stray quotes: all literal
  let out = '';
  let k = 1;
  for (;;) {
    const q = raw.indexOf('"', k);
    if (q < 0) return out + raw.slice(k); // cannot happen: a RAW quoted field was closed
    out += raw.slice(k, q);
    if (raw.charCodeAt(q + 1) === QUOTE) {
      out += '"';
      k = q + 2;
    } else {
      return out + raw.slice(q + 1); // after the closing quote everything is text
    }
  }
}

/** Every field of a record as text. */
export function recordTexts(rec: CsvRecord): string[] {
  const out = new Array<string>(rec.count);
  for (let f = 0; f < rec.count; f++) out[f] = fieldText(rec, f);
  return out;
}

/**
 * The same parser on text chunks: each record as an array of strings. Kept for callers (and
 * tests) that hold strings; the report reader works on bytes.
 */
export class CsvParser {
  private readonly tokenizer: CsvTokenizer;
  /** A high surrogate that ended the last chunk: its pair starts the next one. */
  private pending = '';

  constructor(onRecord: RecordHandler, maxRecordChars = 4 * 1024 * 1024) {
    this.tokenizer = new CsvTokenizer((rec) => onRecord(recordTexts(rec), rec.line), maxRecordChars);
  }

  push(chunk: string): void {
    let text = this.pending + chunk;
    this.pending = '';
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.pending = text.slice(-1);
      text = text.slice(0, -1);
    }
    if (text.length > 0) this.tokenizer.push(Buffer.from(text, 'utf8'));
  }

  end(): void {
    if (this.pending) this.tokenizer.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
    this.tokenizer.end();
  }
}
