/**
 * Report header → data model mapping. Header names are matched ignoring case, spacing and
 * punctuation, in any order, with the variants users' setup guides spell ("Total Commissions",
 * "Link Id", "# of impressions", "Sub-Publihser ID"). Unknown columns are kept in `_extra`.
 */
import type { LoadedColumn } from '../model/schema.js';

export interface ReportColumn {
  /** Data model column it fills. */
  field: Exclude<LoadedColumn, '_date' | '_extra'>;
  /** The name as Rakuten's UI shows it: used in messages ("add column Offer Name"). */
  label: string;
  /** Other spellings seen in the wild. */
  variants?: string[];
}

export const REPORT_COLUMNS: readonly ReportColumn[] = [
  { field: 'transaction_date', label: 'Transaction Date' },
  { field: 'impressions', label: '# of Impressions', variants: ['Impressions', 'Number of Impressions'] },
  { field: 'clicks', label: '# of Clicks', variants: ['Clicks', 'Number of Clicks'] },
  { field: 'orders', label: '# of Orders', variants: ['Orders', 'Number of Orders'] },
  { field: 'gross_commissions', label: 'Gross Commissions', variants: ['Gross Commission'] },
  { field: 'total_commissions', label: 'Total Commission', variants: ['Total Commissions'] },
  { field: 'sales', label: 'Sales', variants: ['Sale', 'Gross Sales'] },
  { field: 'order_id', label: 'Order ID' },
  { field: 'sub_publisher_id', label: 'Sub-Publisher ID', variants: ['Sub-Publihser ID', 'Sub Publisher Id'] },
  { field: 'sub_publisher_name', label: 'Sub-Publisher Name', variants: ['Sub-Publihser Name'] },
  { field: 'sub_publisher_url', label: 'Sub-Publisher URL', variants: ['Sub-Publihser URL'] },
  { field: 'publisher_group_id', label: 'Publisher Group ID' },
  { field: 'publisher_group_name', label: 'Publisher Group Name' },
  { field: 'publisher_id', label: 'Publisher ID', variants: ['Publihser ID'] },
  { field: 'publisher_name', label: 'Publisher Name', variants: ['Publihser Name'] },
  { field: 'publisher_url', label: 'Publisher URL', variants: ['Publihser URL'] },
  { field: 'offer_id', label: 'Offer ID' },
  { field: 'offer_name', label: 'Offer Name' },
  { field: 'link_id', label: 'Link ID' },
  { field: 'link_name', label: 'Link Name' },
];

/** "# of Impressions" → "ofimpressions"; "Sub-Publisher ID" → "subpublisherid". */
export function normalizeHeader(name: string): string {
  return name.replace(/^\uFEFF/, '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

const BY_NORMALIZED = new Map<string, ReportColumn>();
for (const col of REPORT_COLUMNS) {
  for (const n of [col.label, ...(col.variants ?? [])]) BY_NORMALIZED.set(normalizeHeader(n), col);
}

export interface HeaderMapping {
  /** For each CSV column index: the model field it fills, or null when it goes to `_extra`. */
  fields: (ReportColumn | null)[];
  /** Header names kept in `_extra`. */
  extra: { index: number; name: string }[];
  /** Required columns the report lacks (by UI label). */
  missing: string[];
  /** Columns that appear twice (second occurrence ignored, kept in `_extra`). */
  duplicates: string[];
}

export function mapHeader(header: readonly string[]): HeaderMapping {
  const seen = new Set<string>();
  const fields: (ReportColumn | null)[] = [];
  const extra: { index: number; name: string }[] = [];
  const duplicates: string[] = [];
  header.forEach((raw, index) => {
    const col = BY_NORMALIZED.get(normalizeHeader(raw));
    if (col && !seen.has(col.field)) {
      seen.add(col.field);
      fields.push(col);
    } else {
      if (col) duplicates.push(raw.trim());
      fields.push(null);
      extra.push({ index, name: raw.trim() || `column_${index + 1}` });
    }
  });
  const missing = REPORT_COLUMNS.filter((c) => !seen.has(c.field)).map((c) => c.label);
  return { fields, extra, missing, duplicates };
}

/**
 * Does this CSV line look like the report header (rather than a summary line)? True when at
 * least three cells are known column names, which no summary line of Rakuten's has.
 */
export function looksLikeHeader(cells: readonly string[]): boolean {
  let known = 0;
  for (const c of cells) if (BY_NORMALIZED.has(normalizeHeader(c))) known++;
  return known >= 3;
}

export function missingColumnsHint(missing: readonly string[]): string {
  return `add ${missing.length === 1 ? 'column' : 'columns'} ${missing.join(', ')} to the report in Rakuten, then copy the API URL again`;
}
