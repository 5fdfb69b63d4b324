/**
 * Report body → batches of normalised rows. Bytes are decoded incrementally (a multi-byte
 * character may straddle network chunks), summary lines before the header are skipped, header
 * names are mapped to the data model, and every cell is parsed. A row that cannot be read
 * fails the whole window with an error naming the row and the column.
 */
import { COLUMN_INDEX, LOADED_COLUMNS, type ReportRow } from '../model/schema.js';
import { ConnectorError } from '../util/errors.js';
import { CsvError, CsvParser } from './csv.js';
import { type HeaderMapping, looksLikeHeader, mapHeader, missingColumnsHint, type ReportColumn } from './columns.js';
import { dateParser, parseCount, parseMoney, parseText, ValueError } from './values.js';
import type { DateType } from './url.js';

export interface ReadOptions {
  dateFormat: string;
  dateType: DateType;
  /** The requested window, inclusive ISO days. Rows are assigned to a reference day `_date`. */
  start: string;
  end: string;
  onHeader?: (mapping: HeaderMapping, header: string[]) => void;
  /** Rows per yielded batch at most (a batch is also yielded at the end of each network chunk). */
  batchRows?: number;
}

const WIDTH = LOADED_COLUMNS.length;
const I_DATE = COLUMN_INDEX._date;
const I_TX = COLUMN_INDEX.transaction_date;
const I_EXTRA = COLUMN_INDEX._extra;

type CellParser = (raw: string) => string | null;

function cellParser(col: ReportColumn, parseDate: (s: string) => string): CellParser {
  const type = LOADED_COLUMNS[COLUMN_INDEX[col.field]].type;
  switch (type) {
    case 'money': return parseMoney;
    case 'bigint': return parseCount;
    case 'date': return (s) => (s.trim() === '' ? null : parseDate(s));
    default: return parseText;
  }
}

export async function* readReport(body: AsyncIterable<Uint8Array | string>, opts: ReadOptions): AsyncGenerator<ReportRow[]> {
  const parseDate = dateParser(opts.dateFormat);
  const singleDay = opts.start === opts.end;
  if (!singleDay && opts.dateType === 'process') {
    throw new ConnectorError('config', 'process-date reports are read one day per request', { hint: 'use one-day windows' });
  }
  const batchRows = opts.batchRows ?? 5000;
  let header: string[] | null = null;
  let targets: number[] = [];
  let parsers: (CellParser | null)[] = [];
  let labels: string[] = [];
  let extras: { index: number; name: string }[] = [];
  let dataRow = 0;
  let batch: ReportRow[] = [];
  let failure: Error | null = null;

  const onRecord = (fields: string[], line: number): void => {
    if (failure) return;
    if (!header) {
      if (!looksLikeHeader(fields)) return; // a summary line (include_summary=Y) or a preamble
      header = fields;
      const mapping = mapHeader(fields);
      if (mapping.missing.length > 0) {
        failure = new ConnectorError('columns', `the report is missing ${mapping.missing.length === 1 ? 'column' : 'columns'} ${mapping.missing.join(', ')}`, {
          hint: missingColumnsHint(mapping.missing),
        });
        return;
      }
      targets = mapping.fields.map((f) => (f ? COLUMN_INDEX[f.field] : -1));
      parsers = mapping.fields.map((f) => (f ? cellParser(f, parseDate) : null));
      labels = fields.map((f) => f.trim());
      extras = mapping.extra;
      opts.onHeader?.(mapping, fields);
      return;
    }
    dataRow++;
    if (fields.length !== targets.length) {
      failure = new ConnectorError('data', `row ${dataRow} (line ${line}) has ${fields.length} fields but the header has ${targets.length}`, {
        hint: 'the report file is malformed; if it persists, re-run it in the Rakuten UI',
      });
      return;
    }
    const row: ReportRow = new Array(WIDTH).fill(null);
    for (let c = 0; c < fields.length; c++) {
      const p = parsers[c];
      if (!p) continue;
      try {
        row[targets[c]!] = p(fields[c]!);
      } catch (e) {
        const why = e instanceof ValueError ? e.message : String(e);
        failure = new ConnectorError('data', `row ${dataRow} (line ${line}), column "${labels[c]}": ${why}`, {
          hint: 'the report holds a value the connector cannot read exactly; nothing of this window was saved',
        });
        return;
      }
    }
    const tx = row[I_TX] ?? null;
    if (singleDay) {
      row[I_DATE] = opts.start;
    } else if (tx === null || tx < opts.start || tx > opts.end) {
      failure = new ConnectorError('data', `row ${dataRow} (line ${line}): Transaction Date ${tx ?? '(empty)'} is outside the requested ${opts.start}..${opts.end}`, {
        hint: 'use one-day windows (--window-days 1) for this report',
      });
      return;
    } else {
      row[I_DATE] = tx;
    }
    if (extras.length > 0) {
      const extra: Record<string, string> = {};
      let any = false;
      for (const x of extras) {
        const v = fields[x.index]!;
        if (v !== '') {
          extra[x.name] = v;
          any = true;
        }
      }
      row[I_EXTRA] = any ? JSON.stringify(extra) : null;
    }
    batch.push(row);
  };

  const parser = new CsvParser(onRecord);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  const feed = (text: string): void => {
    try {
      parser.push(text);
    } catch (e) {
      if (e instanceof CsvError) throw new ConnectorError('data', `line ${e.line}: ${e.message}`);
      throw e;
    }
  };
  for await (const chunk of body) {
    let text: string;
    try {
      text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    } catch {
      throw new ConnectorError('data', `the response is not valid UTF-8 (after data row ${dataRow})`, {
        hint: 'Rakuten reports are UTF-8; check the report in the Rakuten UI',
      });
    }
    feed(text);
    if (failure) throw failure;
    while (batch.length >= batchRows) yield batch.splice(0, batchRows);
    if (batch.length > 0) {
      const out = batch;
      batch = [];
      yield out;
    }
  }
  try {
    feed(decoder.decode());
    parser.end();
  } catch (e) {
    if (e instanceof ConnectorError) throw e;
    if (e instanceof CsvError) throw new ConnectorError('truncated', `line ${e.line}: ${e.message}`);
    throw new ConnectorError('data', 'the response is not valid UTF-8 at its end');
  }
  if (failure) throw failure;
  if (!header) {
    throw new ConnectorError('not_csv', dataRow === 0 ? 'the response has no report header line' : 'no report header found', {
      hint: 'the report returned no CSV header; check the report in the Rakuten UI',
    });
  }
  if (batch.length > 0) yield batch;
}
