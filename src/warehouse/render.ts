/**
 * Renders the data model (src/model/schema.ts) into a warehouse's DDL, so each warehouse only
 * says how it spells each logical type.
 */
import { type ColumnDef, type ColumnType, DIMENSIONS, dimensionColumns, REPORT_TABLE } from '../model/schema.js';

export type TypeMap = Record<ColumnType, string>;

export function columnList(columns: readonly ColumnDef[], types: TypeMap, quote: (n: string) => string = (n) => n): string {
  return columns.map((c) => `${quote(c.name)} ${types[c.type]}`).join(',\n  ');
}

export function reportTableColumns(): readonly ColumnDef[] {
  return REPORT_TABLE.columns;
}

export function dimensionTables(): { table: string; columns: ColumnDef[]; def: (typeof DIMENSIONS)[number] }[] {
  return DIMENSIONS.map((d) => ({ table: d.table, columns: dimensionColumns(d), def: d }));
}

/** Quote a text value as an RFC-4180 CSV field when it needs it. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
