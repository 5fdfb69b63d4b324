/**
 * Canonical CSV (CsvPart, report-body.ts) back into ReportRows, for a warehouse that takes the CSV
 * form for big windows but whose cheapest path for a small one is its row path (ClickHouse: small
 * windows that finish together share one insert of rows). Reads exactly
 * the form CsvPart defines: RFC-4180 quotes ("" inside), `\n` line ends, an empty unquoted cell is
 * NULL, `_date` the part's day or the row's transaction_date when the CSV has no `_date`. A stamped
 * CSV (CsvStamp) reads back too: its NULL cell is NULL, `_date` is the first cell after the columns,
 * the stamp's other cells are skipped.
 */
import { COLUMN_INDEX, LOADED_COLUMNS, type LoadedColumn, type ReportRow } from './schema.js';

const WIDTH = LOADED_COLUMNS.length;

/** A stamped CSV's shape: its NULL cell, and the cells after the part's columns (`_date`, the tail's, the row number). */
export interface StampedShape {
  nullCell: string;
  trailing: number;
}

/** The rows of one body's canonical CSV text (whole lines only), its columns and day as in CsvPart; `stamped` when it carries a stamp. */
export function canonicalCsvRows(text: string, columns: readonly LoadedColumn[], day: string | null, stamped?: StampedShape): ReportRow[] {
  const at: number[] = columns.map((c) => COLUMN_INDEX[c]);
  // A stamp's cells: `_date`, then cells nobody keeps (-1).
  if (stamped) at.push(COLUMN_INDEX._date, ...new Array<number>(stamped.trailing - 1).fill(-1));
  const hasDate = stamped !== undefined || columns.includes('_date');
  const nullCell = stamped?.nullCell;
  const out: ReportRow[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const row: ReportRow = new Array<string | null>(WIDTH).fill(null);
    for (let c = 0; ; c++) {
      let v: string | null;
      if (text.charCodeAt(i) === 34) {
        // Quoted: up to the quote not followed by another.
        let s = '';
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) throw new Error('canonical CSV: an unterminated quoted cell');
          s += text.slice(j, q);
          if (text.charCodeAt(q + 1) === 34) {
            s += '"';
            j = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        v = s;
      } else {
        let j = i;
        while (j < n) {
          const ch = text.charCodeAt(j);
          if (ch === 44 || ch === 10) break;
          j++;
        }
        v = j === i ? null : text.slice(i, j);
        if (v === nullCell) v = null;
        i = j;
      }
      if (c >= at.length) throw new Error(`canonical CSV: a row has more than ${at.length} cells`);
      if (at[c]! >= 0) row[at[c]!] = v;
      const sep = text.charCodeAt(i);
      i++;
      if (sep === 10 || i > n) {
        if (c !== at.length - 1) throw new Error(`canonical CSV: a row has ${c + 1} cells, expected ${at.length}`);
        break;
      }
      if (sep !== 44) throw new Error('canonical CSV: a quoted cell is followed by text');
    }
    if (!hasDate) row[COLUMN_INDEX._date] = day ?? row[COLUMN_INDEX.transaction_date] ?? null;
    out.push(row);
  }
  return out;
}
