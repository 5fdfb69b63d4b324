/**
 * A streaming RFC-4180 CSV parser: push decoded text chunks in any size (a quoted field or a CRLF
 * may straddle two chunks), get each complete record through a callback with the line it
 * started on. State between chunks is one partial field and one partial record, so memory is
 * bounded by the longest record, never by the report.
 */
export type RecordHandler = (fields: string[], line: number) => void;

const QUOTE = 34, COMMA = 44, CR = 13, LF = 10;

export class CsvError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
}

export class CsvParser {
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  /** A quote closed a quoted field at the end of the last chunk: `""` or the field's end. */
  private pendingQuote = false;
  /** The last chunk ended with CR: a leading LF in the next one belongs to it. */
  private pendingCR = false;
  /** The current field began with a quote (so it is a quoted field). */
  private fieldQuoted = false;
  private line = 1;
  private recordLine = 1;
  private recordChars = 0;

  constructor(private readonly onRecord: RecordHandler, private readonly maxRecordChars = 4 * 1024 * 1024) {}

  push(chunk: string): void {
    const n = chunk.length;
    if (n === 0) return; // keep pending CR/quote decisions for a chunk that has a character
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (n > 0 && chunk.charCodeAt(0) === LF) i = 1;
    }
    if (this.pendingQuote) {
      this.pendingQuote = false;
      if (n > 0 && chunk.charCodeAt(0) === QUOTE) {
        this.field += '"';
        i = 1;
      } else {
        this.inQuotes = false;
      }
    }
    while (i < n) {
      if (this.inQuotes) {
        const j = chunk.indexOf('"', i);
        if (j < 0) {
          this.appendField(chunk, i, n);
          return;
        }
        this.appendField(chunk, i, j);
        i = j + 1;
        if (i === n) {
          this.pendingQuote = true;
          return;
        }
        if (chunk.charCodeAt(i) === QUOTE) {
          this.field += '"';
          i++;
        } else {
          this.inQuotes = false;
        }
        continue;
      }
      // Unquoted: scan to the next delimiter.
      let j = i;
      let c = 0;
      while (j < n) {
        c = chunk.charCodeAt(j);
        if (c === COMMA || c === CR || c === LF || c === QUOTE) break;
        j++;
      }
      if (j > i) this.appendField(chunk, i, j);
      if (j === n) return;
      i = j + 1;
      if (c === COMMA) {
        this.endField();
      } else if (c === QUOTE) {
        if (this.field === '' && !this.fieldQuoted) {
          this.inQuotes = true;
          this.fieldQuoted = true;
        } else {
          this.field += '"'; // a stray quote inside an unquoted field: keep it as text
        }
      } else {
        // CR or LF ends the record; CRLF counts once.
        if (c === CR) {
          if (i === n) this.pendingCR = true;
          else if (chunk.charCodeAt(i) === LF) i++;
        }
        this.endRecord();
        this.line++;
        this.recordLine = this.line;
      }
    }
  }

  /** The body ended: flush a last record without a line break; an open quote is an error. */
  end(): void {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuotes = false;
    }
    if (this.inQuotes) throw new CsvError('the response ended inside a quoted field (truncated?)', this.recordLine);
    if (this.field !== '' || this.fields.length > 0 || this.fieldQuoted) this.endRecord();
  }

  private appendField(chunk: string, from: number, to: number): void {
    if (this.inQuotes) {
      // Count line breaks inside quoted fields so error lines match what an editor shows.
      for (let k = chunk.indexOf('\n', from); k >= 0 && k < to; k = chunk.indexOf('\n', k + 1)) this.line++;
    }
    this.recordChars += to - from;
    if (this.recordChars > this.maxRecordChars) {
      throw new CsvError(`a record is longer than ${this.maxRecordChars} characters`, this.recordLine);
    }
    this.field += from === 0 && to === chunk.length ? chunk : chunk.slice(from, to);
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.fieldQuoted = false;
  }

  private endRecord(): void {
    this.endField();
    const rec = this.fields;
    this.fields = [];
    this.recordChars = 0;
    // A blank line is no record.
    if (rec.length === 1 && rec[0] === '') return;
    this.onRecord(rec, this.recordLine);
  }
}
