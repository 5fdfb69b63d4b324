/**
 * What a warehouse is handed to load one window: the report's rows, in one of two explicit forms.
 * The engine picks the form from the warehouse's capabilities (`canonicalCsv`), the report reader
 * produces it, the warehouse consumes it. (It replaces a hidden Symbol-keyed channel between the
 * reader and the DuckDB warehouse.)
 *
 * - `rows`: batches of ReportRow (LOADED_COLUMNS order), for any warehouse;
 * - `canonical-csv`: the same rows as canonical CSV bytes, for a warehouse whose fastest load is
 *   its own CSV reader (DuckDB). Only a warehouse with `capabilities.canonicalCsv` gets it.
 *
 * Either form is read once; reading it may throw (a malformed row, a dropped connection): the
 * warehouse must then leave the window's old rows in place.
 */
import type { LoadedColumn, ReportRow } from './schema.js';

/**
 * Canonical CSV of a window: RFC-4180, `\n` line ends, empty unquoted cell = NULL, ISO dates, plain
 * decimals. A cell is quoted when it holds `"`, `,`, CR or LF, or begins or ends with a space or tab
 * (ClickHouse's CSV input trims those from unquoted cells). `_date` is not in it: it is `day` for every row, or (multi-day windows) the row's
 * transaction_date; `_extra` is only there when the report has extra columns.
 */
export interface CsvPart {
  /** The CSV's columns, in order (data model names). */
  columns: readonly LoadedColumn[];
  /** `_date` of every row, or null when `_date` is the row's transaction_date. */
  day: string | null;
  /** Bytes to append, in order. */
  chunks: Uint8Array[];
  /** Rows completed in these chunks. */
  rows: number;
  /** Longest line so far, in bytes (line break included). */
  maxLine: number;
}

/**
 * A warehouse's stamp on canonical CSV, for a load that goes straight into its table with no
 * staging step (ClickHouse): every line also ends with `_date`, the `tail` cells and the row's
 * number in the window (from 0), and NULL is written as `nullCell`. So a line is
 * `<the part's columns>,<_date>,<tail>,<row>\n`; a text cell beginning with nullCell's first
 * character is quoted (ClickHouse reads an unquoted cell starting with `\` as NULL or an error).
 * With a stamp, a multi-day window's `_date` (the row's transaction date) lies inside the window.
 */
export interface CsvStamp {
  /** The unquoted cell that means NULL (ClickHouse: `\N`). */
  nullCell: string;
  /** The cells after `_date` on every line, as CSV text without the leading comma: the load's constants. */
  tail: string;
  /** Dates (any date column) outside [min, max] are refused; `label` names the range in the error. */
  dateRange?: { min: string; max: string; label: string };
}

export type ReportBodyFormat = 'rows' | 'canonical-csv';

/**
 * `canonical-csv` bodies are read once, either as `parts` or, when the body offers it, as
 * `stamped(stamp)` (the report reader offers it; src/warehouse/csv-stamp.ts gives the same for any body).
 */
export type ReportBody =
  | { readonly format: 'rows'; readonly batches: AsyncIterable<ReportRow[]> }
  | { readonly format: 'canonical-csv'; readonly parts: AsyncIterable<CsvPart>; readonly stamped?: (stamp: CsvStamp) => AsyncIterable<CsvPart> };

/** A rows body from batches (tests, and any source that is not the report reader). */
export function rowsBody(batches: AsyncIterable<ReportRow[]> | Iterable<ReportRow[]>): ReportBody {
  const it = Symbol.asyncIterator in batches
    ? (batches as AsyncIterable<ReportRow[]>)
    : (async function* () {
        yield* batches as Iterable<ReportRow[]>;
      })();
  return { format: 'rows', batches: it };
}
