/**
 * The dimension rules, written once: what rakuten_publishers, rakuten_offers and rakuten_links
 * (DIMENSIONS in schema.ts) must hold after a connector's windows were loaded. Pure: no I/O. Every
 * warehouse implements these rules in its own SQL (or JS); test/warehouse-contract.test.ts checks
 * each one against this reference.
 *
 * Dimensions are *incremental*, not a view of the fact rows: each window that is loaded merges what
 * it saw into the stored rows, and a later replace of that window never takes anything back. So the
 * input is the sequence of loads, not just the rows the fact table holds at the end.
 *
 * Per window (`windowDimensions`): the rows whose `_date` lies in the window's days [start, end]
 * (rows outside are stored but feed no dimension), whose id is not NULL; per id:
 * - day        = coalesce(transaction_date, _date);
 * - name, url  = the non-NULL value on the latest day (each column on its own: the url may come
 *                from another row than the name); NULL when every row of the id has it NULL.
 *                Two different values on that latest day: the smallest in UTF-8 byte order wins;
 * - first_seen = min(day), last_seen = max(day) (NULL names/urls count here).
 * An empty string is NULL (the report reader never produces one: an empty cell is NULL).
 *
 * Merge into the stored row of (connector, id) (`mergeDimension`), as `ON CONFLICT … DO UPDATE`:
 * - name, url  = the window's values when window.last_seen >= stored.last_seen (a later load of the
 *                same latest day wins; a window whose names are all NULL on a later day clears the
 *                name), else the stored ones;
 * - first_seen = least, last_seen = greatest.
 * Equivalently: name/url come from the latest load among those whose last_seen is the overall
 * maximum. A window without rows (or without ids) changes nothing; deleting a connector's data
 * removes its dimension rows, and loads after that start afresh.
 */
import { COLUMN_INDEX, DIMENSIONS, type DimensionDef, type ReportRow } from './schema.js';

/** One row of a dimension table; `url` only on dimensions that have one (rakuten_publishers). */
export interface DimensionRecord {
  _connector: string;
  id: string;
  name: string | null;
  url?: string | null;
  first_seen: string;
  last_seen: string;
}

/** One loaded window: the connector, its inclusive ISO days and the rows it brought (LOADED_COLUMNS order). */
export interface DimensionWindow {
  connector: string;
  start: string;
  end: string;
  rows: Iterable<ReportRow>;
}

export type DimensionEvent =
  | ({ kind: 'window' } & DimensionWindow)
  | { kind: 'delete'; connector: string };

/** Dimension table name → its rows, sorted by (_connector, id) in byte order. */
export type DimensionTables = Record<string, DimensionRecord[]>;

/** UTF-8 byte order (= code point order, = DuckDB, ClickHouse and PostgreSQL COLLATE "C"); not UTF-16 unit order. */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++; // both are the same astral code point: skip its second unit
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** A text cell as the warehouse stores it: NULL for null, undefined and ''. */
export function cell(row: ReportRow, index: number): string | null {
  const v = row[index];
  return v === null || v === undefined || v === '' ? null : v;
}

/** The day a row counts for in the dimensions: coalesce(transaction_date, _date). */
export function rowDay(row: ReportRow): string | null {
  return cell(row, COLUMN_INDEX.transaction_date) ?? cell(row, COLUMN_INDEX._date);
}

interface Latest {
  value: string | null;
  day: string;
}

/** Fold one candidate into "the non-NULL value of the latest day, smallest on ties". */
function latest(acc: Latest, value: string | null, day: string): void {
  if (value === null) return;
  if (acc.value === null || day > acc.day || (day === acc.day && compareBytes(value, acc.value) < 0)) {
    acc.value = value;
    acc.day = day;
  }
}

/**
 * What one window brings to each dimension (the `excluded` rows of the merge), per table, per id.
 * Only rows with `_date` in [start, end] and a non-NULL id count.
 */
export function windowDimensions(w: DimensionWindow, dims: readonly DimensionDef[] = DIMENSIONS): Map<string, Map<string, DimensionRecord>> {
  const acc = dims.map((def) => ({ def, ids: new Map<string, { name: Latest; url: Latest; first: string; last: string }>() }));
  for (const row of w.rows) {
    const date = cell(row, COLUMN_INDEX._date);
    if (date === null || date < w.start || date > w.end) continue;
    const day = rowDay(row)!;
    for (const { def, ids } of acc) {
      const id = cell(row, COLUMN_INDEX[def.id]);
      if (id === null) continue;
      let a = ids.get(id);
      if (!a) {
        a = { name: { value: null, day: '' }, url: { value: null, day: '' }, first: day, last: day };
        ids.set(id, a);
      }
      if (day < a.first) a.first = day;
      if (day > a.last) a.last = day;
      latest(a.name, cell(row, COLUMN_INDEX[def.name]), day);
      if (def.url) latest(a.url, cell(row, COLUMN_INDEX[def.url]), day);
    }
  }
  const out = new Map<string, Map<string, DimensionRecord>>();
  for (const { def, ids } of acc) {
    const recs = new Map<string, DimensionRecord>();
    for (const [id, a] of ids) {
      const rec: DimensionRecord = { _connector: w.connector, id, name: a.name.value, first_seen: a.first, last_seen: a.last };
      if (def.url) rec.url = a.url.value;
      recs.set(id, rec);
    }
    out.set(def.table, recs);
  }
  return out;
}

/** The stored row after a window's row for the same (connector, id) is merged into it. */
export function mergeDimension(stored: DimensionRecord | undefined, incoming: DimensionRecord): DimensionRecord {
  if (!stored) return { ...incoming };
  const newer = incoming.last_seen >= stored.last_seen;
  const merged: DimensionRecord = {
    _connector: stored._connector,
    id: stored.id,
    name: newer ? incoming.name : stored.name,
    first_seen: incoming.first_seen < stored.first_seen ? incoming.first_seen : stored.first_seen,
    last_seen: newer ? incoming.last_seen : stored.last_seen,
  };
  if ('url' in stored || 'url' in incoming) merged.url = newer ? (incoming.url ?? null) : (stored.url ?? null);
  return merged;
}

/** The dimension tables of every connector, updated load by load (mutable; see `referenceDimensions` for the pure fold). */
export class DimensionState {
  private readonly tables = new Map<string, Map<string, DimensionRecord>>();

  constructor(private readonly dims: readonly DimensionDef[] = DIMENSIONS) {
    for (const d of dims) this.tables.set(d.table, new Map());
  }

  /** A window was replaced (whatever it replaced: dimensions only ever merge). */
  applyWindow(w: DimensionWindow): this {
    for (const [table, recs] of windowDimensions(w, this.dims)) {
      const stored = this.tables.get(table)!;
      for (const rec of recs.values()) {
        const key = `${rec._connector}\u0000${rec.id}`;
        stored.set(key, mergeDimension(stored.get(key), rec));
      }
    }
    return this;
  }

  /** deleteConnectorData: the connector's dimension rows go. */
  deleteConnector(connector: string): this {
    for (const stored of this.tables.values()) {
      for (const [key, rec] of stored) if (rec._connector === connector) stored.delete(key);
    }
    return this;
  }

  apply(e: DimensionEvent): this {
    return e.kind === 'delete' ? this.deleteConnector(e.connector) : this.applyWindow(e);
  }

  /** One table's rows (optionally of one connector), sorted by (_connector, id) in byte order. */
  rows(table: string, connector?: string): DimensionRecord[] {
    const stored = this.tables.get(table);
    if (!stored) throw new Error(`unknown dimension table ${table}`);
    return [...stored.values()]
      .filter((r) => connector === undefined || r._connector === connector)
      .map((r) => ({ ...r }))
      .sort(compareRecords);
  }

  all(connector?: string): DimensionTables {
    return Object.fromEntries(this.dims.map((d) => [d.table, this.rows(d.table, connector)]));
  }
}

/** Order of dimension rows: (_connector, id), byte order. */
export function compareRecords(a: DimensionRecord, b: DimensionRecord): number {
  return compareBytes(a._connector, b._connector) || compareBytes(a.id, b.id);
}

/** What the dimension tables hold after these loads and deletes, in this order. */
export function referenceDimensions(events: Iterable<DimensionEvent>, connector?: string): DimensionTables {
  const s = new DimensionState();
  for (const e of events) s.apply(e);
  return s.all(connector);
}
