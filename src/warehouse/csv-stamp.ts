/**
 * A warehouse's stamp (CsvStamp, src/model/report-body.ts) on a canonical-CSV body that does not
 * offer it itself: the report reader writes stamped lines as it reads (`body.stamped`), any other
 * body (a test's, a tool's) is parsed back and written again here, with the same rules — the
 * stamp's NULL cell, the quoting, the date range and, for a multi-day window, `_date` inside it.
 */
import { canonicalCsvRows } from '../model/canonical-csv.js';
import type { CsvPart, CsvStamp, ReportBody } from '../model/report-body.js';
import { COLUMN_INDEX, LOADED_COLUMNS } from '../model/schema.js';
import { ConnectorError } from '../util/errors.js';

const DATE_COLUMNS = new Set<string>(LOADED_COLUMNS.filter((c) => c.type === 'date').map((c) => c.name));

/** One cell of a stamped line: quoted when canonical CSV quotes it, or when it starts like the NULL cell. */
function cell(v: string | null, stamp: CsvStamp): string {
  if (v === null) return stamp.nullCell;
  const quote = /[",\r\n]|^[ \t]|[ \t]$/.test(v) || v.charCodeAt(0) === stamp.nullCell.charCodeAt(0);
  return quote ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The body's parts with the stamp: its own stamped form when it has one, else the parts written again. */
export function stampedParts(body: Extract<ReportBody, { format: 'canonical-csv' }>, stamp: CsvStamp, window: { start: string; end: string }): AsyncIterable<CsvPart> {
  return body.stamped ? body.stamped(stamp) : restamp(body.parts, stamp, window);
}

async function* restamp(parts: AsyncIterable<CsvPart>, stamp: CsvStamp, window: { start: string; end: string }): AsyncGenerator<CsvPart> {
  const range = stamp.dateRange;
  let n = 0;
  let maxLine = 0;
  for await (const part of parts) {
    const rows = canonicalCsvRows(Buffer.concat(part.chunks).toString('utf8'), part.columns, part.day);
    const lines: string[] = [];
    for (const row of rows) {
      const day = row[COLUMN_INDEX._date] ?? null;
      if (part.day === null && (day === null || day < window.start || day > window.end)) {
        throw new ConnectorError('data', `Transaction Date ${day ?? '(empty)'} is outside the requested ${window.start}..${window.end}`);
      }
      const cells = part.columns.map((c) => {
        const v = row[COLUMN_INDEX[c]] ?? null;
        if (range && v !== null && DATE_COLUMNS.has(c) && (v < range.min || v > range.max)) {
          throw new ConnectorError('data', `${c} ${v.slice(0, 40)} is outside ${range.label} (${range.min}..${range.max})`);
        }
        return cell(v, stamp);
      });
      const line = `${cells.join(',')},${day},${stamp.tail},${n++}\n`;
      maxLine = Math.max(maxLine, Buffer.byteLength(line));
      lines.push(line);
    }
    yield { columns: part.columns, day: part.day, chunks: [Buffer.from(lines.join(''))], rows: rows.length, maxLine };
  }
}
