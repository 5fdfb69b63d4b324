// Default accounts/tokens and the column sets the simulator can emit.

export type ColumnSetKind = 'canonical' | 'guide-variants' | 'missing' | 'extra';

export interface SimReport {
  name: string;
  columns: ColumnSetKind;
}

export interface SimAccount {
  name: string;
  token: string;
  reports: Record<string, SimReport>;
}

export const ACME_TOKEN = 'tok_acme_9f8e7d6c5b4a3f2e1d0c05';
export const GLOBEX_TOKEN = 'tok_globex_77aa88bb99cc00dd1205';
export const DEMO_TOKEN = 'tok_demo_5c4b3a29180f7e6d5c05';

export const DEFAULT_ACCOUNTS: SimAccount[] = [
  {
    name: 'acme',
    token: ACME_TOKEN,
    reports: {
      'affiliate-report': { name: 'Affiliate Report', columns: 'canonical' },
      'guide-report': { name: 'Publisher Performance (Guide)', columns: 'guide-variants' },
      'missing-cols': { name: 'Affiliate Report - Missing Columns', columns: 'missing' },
      'extra-cols': { name: 'Affiliate Report, Extended', columns: 'extra' },
    },
  },
  {
    name: 'globex',
    token: GLOBEX_TOKEN,
    reports: { 'affiliate-report': { name: 'Affiliate Report', columns: 'canonical' } },
  },
  {
    name: 'demo',
    token: DEMO_TOKEN,
    reports: { 'demo-report': { name: 'Demo Affiliate Report', columns: 'canonical' } },
  },
];

/** Logical fields; a column set is an ordered list of (field, header text). */
export const F = {
  txDate: 0,
  impressions: 1,
  clicks: 2,
  orders: 3,
  gross: 4,
  total: 5,
  sales: 6,
  orderId: 7,
  subId: 8,
  subName: 9,
  subUrl: 10,
  groupId: 11,
  groupName: 12,
  pubId: 13,
  pubName: 14,
  pubUrl: 15,
  offerId: 16,
  offerName: 17,
  linkId: 18,
  linkName: 19,
  currency: 20,
  product: 21,
} as const;
export const FIELD_COUNT = 22;

export const CANONICAL_HEADERS = [
  'Transaction Date',
  '# of Impressions',
  '# of Clicks',
  '# of Orders',
  'Gross Commissions',
  'Total Commission',
  'Sales',
  'Order ID',
  'Sub-Publisher ID',
  'Sub-Publisher Name',
  'Sub-Publisher URL',
  'Publisher Group ID',
  'Publisher Group Name',
  'Publisher ID',
  'Publisher Name',
  'Publisher URL',
  'Offer ID',
  'Offer Name',
  'Link ID',
  'Link Name',
] as const;

/** Header spellings seen in Rakuten's own guide / older report templates (typo included on purpose). */
const GUIDE_NAMES: Record<number, string> = {
  [F.total]: 'Total Commissions',
  [F.linkId]: 'Link Id',
  [F.impressions]: '# of impressions',
  [F.subId]: 'Sub-Publihser ID',
  [F.txDate]: 'Transaction date',
  [F.orderId]: 'Order Id',
};
const GUIDE_ORDER = [17, 0, 13, 4, 10, 7, 1, 19, 8, 2, 14, 5, 11, 16, 3, 9, 18, 6, 15, 12];

export interface ColumnSet {
  fields: number[];
  headers: string[];
}

const canonicalFields = CANONICAL_HEADERS.map((_, i) => i);
const canonicalHeader = (f: number): string =>
  f === F.currency ? 'Currency' : f === F.product ? 'Product Name' : (CANONICAL_HEADERS[f] as string);

function set(fields: number[], name: (f: number) => string = canonicalHeader): ColumnSet {
  return { fields, headers: fields.map(name) };
}

export const COLUMN_SETS: Record<ColumnSetKind, ColumnSet> = {
  canonical: set(canonicalFields),
  'guide-variants': set(GUIDE_ORDER, (f) => GUIDE_NAMES[f] ?? canonicalHeader(f)),
  missing: set(canonicalFields.filter((f) => f !== F.offerName && f !== F.linkId)),
  extra: set([...canonicalFields, F.currency, F.product]),
};

/** first 3 chars + '…' + last 2; short strings are fully hidden. */
export function maskToken(token: string): string {
  if (token.length < 8) return '***';
  return token.slice(0, 3) + '…' + token.slice(-2);
}
