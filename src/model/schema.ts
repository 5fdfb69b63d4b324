/**
 * The data model: the product's public contract, defined once. Every warehouse renders these
 * definitions into its own DDL (see src/warehouse/*), and the CSV reader produces rows in
 * exactly the order of LOADED_COLUMNS.
 */

/** Logical column types. `money` is an exact decimal with MONEY_SCALE decimal places. */
export type ColumnType = 'text' | 'date' | 'bigint' | 'money' | 'json' | 'timestamp' | 'count_total' | 'money_total';

export const MONEY_PRECISION = 18;
export const MONEY_SCALE = 4;
/** Sums kept in the summary tables: wide enough that no sum of fact values overflows. */
export const TOTAL_PRECISION = 38;

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  /** What the column means, for docs and the README. */
  readonly doc: string;
}

/** Columns whose values come from a report row (after normalisation), in load order. */
export const LOADED_COLUMNS = [
  { name: '_date', type: 'date', doc: 'Reference day: the day the row was requested for (its window day).' },
  { name: 'transaction_date', type: 'date', doc: 'Transaction Date from the report.' },
  { name: 'order_id', type: 'text', doc: 'Order ID (empty for click/impression-only rows).' },
  { name: 'publisher_id', type: 'text', doc: 'Publisher ID (text: ids are identifiers, not numbers).' },
  { name: 'publisher_name', type: 'text', doc: 'Publisher Name.' },
  { name: 'publisher_url', type: 'text', doc: 'Publisher URL.' },
  { name: 'publisher_group_id', type: 'text', doc: 'Publisher Group ID.' },
  { name: 'publisher_group_name', type: 'text', doc: 'Publisher Group Name.' },
  { name: 'sub_publisher_id', type: 'text', doc: 'Sub-Publisher ID.' },
  { name: 'sub_publisher_name', type: 'text', doc: 'Sub-Publisher Name.' },
  { name: 'sub_publisher_url', type: 'text', doc: 'Sub-Publisher URL.' },
  { name: 'offer_id', type: 'text', doc: 'Offer ID.' },
  { name: 'offer_name', type: 'text', doc: 'Offer Name.' },
  { name: 'link_id', type: 'text', doc: 'Link ID.' },
  { name: 'link_name', type: 'text', doc: 'Link Name.' },
  { name: 'impressions', type: 'bigint', doc: '# of Impressions.' },
  { name: 'clicks', type: 'bigint', doc: '# of Clicks.' },
  { name: 'orders', type: 'bigint', doc: '# of Orders.' },
  { name: 'sales', type: 'money', doc: 'Sales (negative for returns and cancellations).' },
  { name: 'gross_commissions', type: 'money', doc: 'Gross Commissions.' },
  { name: 'total_commissions', type: 'money', doc: 'Total Commission(s).' },
  { name: '_extra', type: 'json', doc: 'JSON object of report columns the connector does not map, as text.' },
] as const satisfies readonly ColumnDef[];

/**
 * The currency of every amount (sales, gross and total commissions) of a row: the connector's
 * `currency` setting (ISO 4217), the same for all of a connector's rows (changing the setting
 * relabels them: Warehouse.relabelCurrency). '' only for rows loaded before the column existed
 * and not labelled yet. Amounts of different currencies are never added up.
 */
const CURRENCY_DOC = "ISO 4217 code of the row's amounts (the connector's currency; '' for rows loaded before the column existed, until labelled).";

/** Columns the warehouse fills per window (the same value for every row of a load). */
export const WINDOW_COLUMNS = [
  { name: '_connector', type: 'text', doc: 'Name of the connector that loaded the row.' },
  { name: '_synced_at', type: 'timestamp', doc: 'When the window holding the row was committed (UTC).' },
  { name: '_sync_id', type: 'text', doc: 'Id of the sync run that loaded the row (see the sync-run history).' },
  { name: 'currency', type: 'text', doc: CURRENCY_DOC },
] as const satisfies readonly ColumnDef[];

export type LoadedColumn = (typeof LOADED_COLUMNS)[number]['name'];

/**
 * Table layout: `_connector` first, then the loaded columns, then the sync bookkeeping columns,
 * then `currency` (last: a table of an earlier version gets it by ALTER TABLE … ADD COLUMN, which
 * appends, so new and migrated tables have the same layout).
 */
export const REPORT_TABLE = {
  name: 'rakuten_affiliate_report',
  columns: [WINDOW_COLUMNS[0], ...LOADED_COLUMNS, WINDOW_COLUMNS[1], WINDOW_COLUMNS[2], WINDOW_COLUMNS[3]] as readonly ColumnDef[],
  /** Rows are replaced per (connector, day): the natural partition / sort key. */
  key: ['_connector', '_date'] as const,
};

/** A normalised report row: one value per LOADED_COLUMNS entry, as canonical text or null. */
export type ReportRow = (string | null)[];

export const COLUMN_INDEX: Readonly<Record<LoadedColumn, number>> = Object.fromEntries(
  LOADED_COLUMNS.map((c, i) => [c.name, i]),
) as Record<LoadedColumn, number>;

/**
 * Current-state dimensions per connector, derived from loaded rows: one row per id with the
 * name (and url) seen on the latest transaction date, and the first/last transaction dates seen.
 */
export interface DimensionDef {
  readonly table: string;
  readonly id: LoadedColumn;
  readonly name: LoadedColumn;
  readonly url?: LoadedColumn;
}

export const DIMENSIONS: readonly DimensionDef[] = [
  { table: 'rakuten_publishers', id: 'publisher_id', name: 'publisher_name', url: 'publisher_url' },
  { table: 'rakuten_offers', id: 'offer_id', name: 'offer_name' },
  { table: 'rakuten_links', id: 'link_id', name: 'link_name' },
];

/** Dimension table columns: connector, id, name, [url], first_seen, last_seen. */
export function dimensionColumns(d: DimensionDef): ColumnDef[] {
  const cols: ColumnDef[] = [
    { name: '_connector', type: 'text', doc: 'Connector name.' },
    { name: 'id', type: 'text', doc: `${d.id} of the report.` },
    { name: 'name', type: 'text', doc: `Latest ${d.name} seen.` },
  ];
  if (d.url) cols.push({ name: 'url', type: 'text', doc: `Latest ${d.url} seen.` });
  cols.push(
    { name: 'first_seen', type: 'date', doc: 'First transaction date with this id.' },
    { name: 'last_seen', type: 'date', doc: 'Last transaction date with this id.' },
  );
  return cols;
}

/**
 * Summaries the dashboard reads instead of the fact table (so a read costs the range asked, not
 * the table): each warehouse keeps them in the same transaction / swap as the window whose rows
 * they sum, so they always agree with the fact table. `count_total` / `money_total` are wide
 * decimals (TOTAL_PRECISION digits, 0 / MONEY_SCALE decimals): no sum overflows.
 *
 * DAY_SUMMARY: one row per (connector, day) that has rows: the row count and the six sums (NULL
 * when every value of the day was NULL), and the currency of the money sums. Serves dayTotals
 * and coverage. Both summaries carry `currency` last, like the fact table (see REPORT_TABLE).
 */
export const DAY_SUMMARY_TABLE = {
  name: 'rakuten_day_totals',
  columns: [
    { name: '_connector', type: 'text', doc: 'Connector name.' },
    { name: '_date', type: 'date', doc: 'Reference day (the fact table\'s _date).' },
    { name: 'rows', type: 'count_total', doc: 'Rows of the fact table for this connector and day.' },
    { name: 'impressions', type: 'count_total', doc: 'Sum of impressions.' },
    { name: 'clicks', type: 'count_total', doc: 'Sum of clicks.' },
    { name: 'orders', type: 'count_total', doc: 'Sum of orders.' },
    { name: 'sales', type: 'money_total', doc: 'Sum of sales.' },
    { name: 'gross_commissions', type: 'money_total', doc: 'Sum of gross commissions.' },
    { name: 'total_commissions', type: 'money_total', doc: 'Sum of total commissions.' },
    { name: 'currency', type: 'text', doc: 'Currency of the sums (the fact rows\' currency).' },
  ] as readonly ColumnDef[],
  key: ['_connector', '_date'] as const,
};

/** The dimensions `top` ranks, and the fact columns of each. */
export const TOP_DIMENSIONS = {
  publisher: { id: 'publisher_id', name: 'publisher_name' },
  offer: { id: 'offer_id', name: 'offer_name' },
} as const satisfies Record<string, { id: LoadedColumn; name: LoadedColumn }>;

/**
 * TOP_SUMMARY: one row per (connector, day, dimension, id) with a non-null id: rows and the two
 * sums `top` ranks by, and the id's latest non-null name of that day (`name_day`: the latest
 * coalesce(transaction_date, _date) with a non-null name; `name`: the smallest such name in byte
 * order on that day). Over a range, the name of the greatest name_day wins, ties to the smallest
 * name: exactly top()'s rule on the fact rows (src/model/dimensions.ts).
 */
export const TOP_SUMMARY_TABLE = {
  name: 'rakuten_day_top',
  columns: [
    { name: '_connector', type: 'text', doc: 'Connector name.' },
    { name: '_date', type: 'date', doc: 'Reference day (the fact table\'s _date).' },
    { name: 'dimension', type: 'text', doc: "'publisher' or 'offer' (TOP_DIMENSIONS)." },
    { name: 'id', type: 'text', doc: 'The publisher_id or offer_id.' },
    { name: 'rows', type: 'count_total', doc: 'Rows with this id on this day.' },
    { name: 'sales', type: 'money_total', doc: 'Sum of sales.' },
    { name: 'total_commissions', type: 'money_total', doc: 'Sum of total commissions.' },
    { name: 'name', type: 'text', doc: 'Latest non-null name of the id on this day (see above).' },
    { name: 'name_day', type: 'date', doc: 'The coalesce(transaction_date, _date) that name was seen on.' },
    { name: 'currency', type: 'text', doc: 'Currency of the sums (the fact rows\' currency).' },
  ] as readonly ColumnDef[],
  key: ['_connector', '_date', 'dimension', 'id'] as const,
};

/** The name of the currency column (WINDOW_COLUMNS' last), for code that treats it apart (migrations, relabels). */
export const CURRENCY_COLUMN = 'currency';

/** The tables with a CURRENCY_COLUMN, in the order loads write (and lock) them: the fact table, the day summary, the top summary. */
export const CURRENCY_TABLES: readonly string[] = [REPORT_TABLE.name, DAY_SUMMARY_TABLE.name, TOP_SUMMARY_TABLE.name];
