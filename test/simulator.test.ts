// Tests for the Rakuten reporting API simulator: a real server on port 0, driven with fetch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { createGunzip, gunzipSync } from 'node:zlib';
import {
  ACME_TOKEN,
  DEMO_TOKEN,
  GLOBEX_TOKEN,
  startSimulator,
  type DayTotals,
  type Simulator,
} from '../src/simulator/index.js';

const TODAY = '2026-01-20';
const TOKENS = [ACME_TOKEN, GLOBEX_TOKEN, DEMO_TOKEN];

// ---------- test-only helpers ----------

/** Strict RFC-4180 parser: CRLF records, quotes only around whole fields, "" escapes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      if (field !== '') throw new Error(`quote inside unquoted field at ${i}`);
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += q;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\r') throw new Error(`garbage after closing quote at ${i}`);
      continue;
    }
    if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`bare CR at ${i}`);
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else if (c === '\n') {
      throw new Error(`bare LF outside quotes at ${i}`);
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length > 0) throw new Error('last record not terminated by CRLF');
  return rows;
}

const esc = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const serialize = (rows: string[][]): string => rows.map((r) => r.map(esc).join(',') + '\r\n').join('');

/** "1,234.56", "-$1,045.10", "12.50" → cents. Thousands separators are required at ≥ 1000. */
function cents(s: string): bigint {
  const m = /^(-)?\$?((?:\d{1,3}(?:,\d{3})+)|\d{1,3})\.(\d{2})$/.exec(s);
  if (!m) throw new Error(`bad money cell ${JSON.stringify(s)}`);
  const v = BigInt(m[2]!.replace(/,/g, '')) * 100n + BigInt(m[3]!);
  return m[1] ? -v : v;
}
function int(s: string): bigint {
  if (!/^(?:\d{1,3}(?:,\d{3})+|\d{1,3})$/.test(s)) throw new Error(`bad integer cell ${JSON.stringify(s)}`);
  return BigInt(s.replace(/,/g, ''));
}
const centsStr = (c: bigint): string => {
  const a = c < 0n ? -c : c;
  return `${c < 0n ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
};
/** m/d/yy → YYYY-MM-DD */
function isoFromMdy(s: string): string {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{2})$/.exec(s);
  if (!m) throw new Error(`bad m/d/yy date ${s}`);
  return `20${m[3]}-${m[1]!.padStart(2, '0')}-${m[2]!.padStart(2, '0')}`;
}

const CANONICAL = [
  'Transaction Date', '# of Impressions', '# of Clicks', '# of Orders', 'Gross Commissions', 'Total Commission',
  'Sales', 'Order ID', 'Sub-Publisher ID', 'Sub-Publisher Name', 'Sub-Publisher URL', 'Publisher Group ID',
  'Publisher Group Name', 'Publisher ID', 'Publisher Name', 'Publisher URL', 'Offer ID', 'Offer Name', 'Link ID', 'Link Name',
];
const GUIDE_RENAMES: Record<string, string> = {
  'Total Commission': 'Total Commissions',
  'Link ID': 'Link Id',
  '# of Impressions': '# of impressions',
  'Sub-Publisher ID': 'Sub-Publihser ID',
  'Transaction Date': 'Transaction date',
  'Order ID': 'Order Id',
};

interface Parsed {
  summary: string[][];
  header: string[];
  rows: string[][];
}

/** Bytes → BOM check → records; splits off the summary block (ends at the first empty record). */
function parseBody(buf: Buffer, withSummary: boolean): Parsed {
  assert.deepEqual([...buf.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
  const text = buf.subarray(3).toString('utf8');
  const records = parseCsv(text);
  assert.equal(serialize(records), text, 'minimal RFC-4180 quoting round-trips byte for byte');
  let summary: string[][] = [];
  if (withSummary) {
    const blank = records.findIndex((r) => r.length === 1 && r[0] === '');
    assert.ok(blank > 0, 'summary block ends with an empty line');
    summary = records.slice(0, blank);
    records.splice(0, blank + 1);
  }
  const [header, ...rows] = records;
  assert.ok(header);
  for (const r of rows) assert.equal(r.length, header.length, 'every row has as many cells as the header');
  return { summary, header, rows };
}

/** Sum parsed rows per key (column names may be guide variants). */
function sumRows(p: Parsed, keyOf: (row: string[], col: (name: string) => string) => string): Map<string, Omit<DayTotals, 'day'>> {
  const idx = (names: string[]): number => {
    const i = p.header.findIndex((h) => names.includes(h));
    assert.ok(i >= 0, `column ${names[0]} present`);
    return i;
  };
  const cols = {
    date: idx(['Transaction Date', 'Transaction date']),
    imp: idx(['# of Impressions', '# of impressions']),
    clk: idx(['# of Clicks']),
    ord: idx(['# of Orders']),
    sales: idx(['Sales']),
    gross: idx(['Gross Commissions']),
    total: idx(['Total Commission', 'Total Commissions']),
  };
  const acc = new Map<string, { rows: number; imp: bigint; clk: bigint; ord: bigint; sales: bigint; gross: bigint; total: bigint }>();
  for (const r of p.rows) {
    const k = keyOf(r, (name) => r[p.header.indexOf(name)]!);
    const a = acc.get(k) ?? { rows: 0, imp: 0n, clk: 0n, ord: 0n, sales: 0n, gross: 0n, total: 0n };
    a.rows++;
    a.imp += int(r[cols.imp]!);
    a.clk += int(r[cols.clk]!);
    a.ord += int(r[cols.ord]!);
    a.sales += cents(r[cols.sales]!);
    a.gross += cents(r[cols.gross]!);
    a.total += cents(r[cols.total]!);
    acc.set(k, a);
  }
  const out = new Map<string, Omit<DayTotals, 'day'>>();
  for (const [k, a] of acc) {
    out.set(k, {
      rows: a.rows,
      impressions: String(a.imp),
      clicks: String(a.clk),
      orders: String(a.ord),
      sales: centsStr(a.sales),
      gross_commissions: centsStr(a.gross),
      total_commissions: centsStr(a.total),
    });
  }
  return out;
}

const zeroDay = { rows: 0, impressions: '0', clicks: '0', orders: '0', sales: '0.00', gross_commissions: '0.00', total_commissions: '0.00' };

function reportUrl(sim: Simulator, report: string, q: Record<string, string>, lang = 'en'): string {
  const params = new URLSearchParams({ include_summary: 'N', tz: 'GMT', date_type: 'transaction', date_format: 'm/d/yy', network: '1', ...q });
  return `${sim.url}/${lang}/reports/${report}/filters?${params}`;
}

async function getBytes(url: string, init?: RequestInit): Promise<{ res: Response; buf: Buffer; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  // arrayBuffer(), not text(): text() silently strips the BOM.
  const buf = Buffer.from(await res.arrayBuffer());
  return { res, buf, ms: performance.now() - t0 };
}

/** A raw GET (no automatic decompression): status, headers, the body's bytes and how many pieces they came in. */
function rawGet(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; buf: Buffer; chunks: number }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, buf: Buffer.concat(parts), chunks: parts.length }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** What a gunzip stream produces before it fails, and the failure. */
function gunzipUntilError(buf: Buffer): Promise<{ out: Buffer; err: (Error & { code?: string }) | undefined }> {
  return new Promise((resolve) => {
    const z = createGunzip();
    const parts: Buffer[] = [];
    z.on('data', (c: Buffer) => parts.push(c));
    z.on('end', () => resolve({ out: Buffer.concat(parts), err: undefined }));
    z.on('error', (err) => resolve({ out: Buffer.concat(parts), err }));
    z.end(buf);
  });
}

/** requests() entries are recorded on the server's 'close' event; give it a tick to land. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

// ---------- tests ----------

describe('rakuten simulator', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ port: 0, seed: 42, rowsPerDay: 40, today: TODAY });
  });
  after(async () => {
    await sim.close();
  });

  const acme = (report: string, q: Record<string, string>): string => reportUrl(sim, report, { token: ACME_TOKEN, ...q });

  it('serves CSV with BOM, CRLF, chunked encoding and the right headers per column set', async () => {
    const expected: Record<string, string[]> = {
      'affiliate-report': CANONICAL,
      'missing-cols': CANONICAL.filter((h) => h !== 'Offer Name' && h !== 'Link ID'),
      'extra-cols': [...CANONICAL, 'Currency', 'Product Name'],
    };
    for (const [report, header] of Object.entries(expected)) {
      const { res, buf } = await getBytes(acme(report, { start_date: '2026-01-01', end_date: '2026-01-03' }));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
      assert.equal(res.headers.get('content-disposition'), 'attachment; filename="report.csv"');
      assert.equal(res.headers.get('content-length'), null);
      assert.equal(res.headers.get('transfer-encoding'), 'chunked');
      const p = parseBody(buf, false);
      assert.deepEqual(p.header, header, report);
      assert.ok(p.rows.length >= 3 * 30 && p.rows.length <= 3 * 50, `${report}: ~40 rows/day, got ${p.rows.length}`);
      if (report === 'extra-cols') {
        assert.ok(p.rows.every((r) => r[20] === 'USD' && r[21] !== ''));
      }
    }
    const g = parseBody((await getBytes(acme('guide-report', { start_date: '2026-01-01', end_date: '2026-01-01' }))).buf, false);
    assert.deepEqual([...g.header].sort(), CANONICAL.map((h) => GUIDE_RENAMES[h] ?? h).sort());
    assert.notDeepEqual(g.header, CANONICAL.map((h) => GUIDE_RENAMES[h] ?? h), 'guide columns are shuffled');
    assert.ok(g.header.includes('Sub-Publihser ID'));
  });

  it('emits CSV-hostile cells: quotes, commas, newlines, non-ASCII, $ and thousands separators, negatives', async () => {
    const { buf } = await getBytes(acme('affiliate-report', { start_date: '2025-12-01', end_date: '2025-12-31' }));
    const p = parseBody(buf, false);
    const cells = p.rows.flat();
    assert.ok(cells.some((c) => c.includes('\n')), 'a cell with an embedded newline');
    assert.ok(cells.some((c) => c.includes('"')), 'a cell with a quote');
    assert.ok(cells.some((c) => c.includes('日本')), 'CJK text');
    assert.ok(cells.some((c) => /\p{Extended_Pictographic}/u.test(c)), 'emoji');
    const col = (name: string): string[] => p.rows.map((r) => r[p.header.indexOf(name)]!);
    const sales = col('Sales');
    assert.ok(sales.some((s) => s.startsWith('$')), '$-prefixed amounts');
    assert.ok(sales.some((s) => s.startsWith('-')), 'negative amounts (returns)');
    assert.ok(sales.some((s) => /^-?\$?\d{1,3},\d{3}\.\d{2}$/.test(s)), 'thousands separators in money');
    assert.ok(col('# of Impressions').some((s) => s.includes(',')), 'thousands separators in integers');
    assert.ok(col('Order ID').some((s) => s === ''), 'click-only rows have no order id');
    assert.ok(col('Order ID').some((s) => /^ORD-2025\d{4}-/.test(s)));
    assert.ok(col('Sub-Publisher ID').some((s) => s === '') && col('Sub-Publisher ID').some((s) => s !== ''));
    const gross = col('Gross Commissions').map(cents);
    const total = col('Total Commission').map(cents);
    assert.ok(gross.some((g, i) => g !== 0n && g !== total[i]), 'total commission includes a network fee');
    const orders = p.rows.filter((r) => r[p.header.indexOf('Order ID')] !== '').map((r) => r[p.header.indexOf('Order ID')]);
    assert.equal(new Set(orders).size, orders.length, 'order ids are unique');
  });

  it('per-day totals parsed from a transaction report equal totals() exactly (incl. days after today)', async () => {
    const from = '2026-01-10';
    const to = '2026-01-24'; // today is 2026-01-20 → the last 4 days are empty
    const { buf } = await getBytes(acme('affiliate-report', { start_date: from, end_date: to }));
    const sums = sumRows(parseBody(buf, false), (r) => isoFromMdy(r[0]!));
    const expected = sim.totals({ token: ACME_TOKEN, report: 'affiliate-report', from, to, dateType: 'transaction' });
    assert.equal(expected.length, 15);
    for (const d of expected) {
      const { day, ...t } = d;
      assert.deepEqual(sums.get(day) ?? zeroDay, t, day);
      if (day > TODAY) assert.deepEqual(t, zeroDay);
      else assert.ok(t.rows >= 30 && t.rows <= 50);
    }
    // Same numbers through the admin API.
    const q = new URLSearchParams({ token: ACME_TOKEN, report: 'affiliate-report', from, to, date_type: 'transaction' });
    const adm = (await (await fetch(`${sim.url}/__admin/totals?${q}`)).json()) as { days: DayTotals[] };
    assert.deepEqual(adm.days, expected);
  });

  it('process reports: each process day holds earlier transaction dates; totals per process day match', async () => {
    const days = ['2026-01-05', '2026-01-06', '2026-01-07'];
    let lagged = 0;
    for (const day of days) {
      const { buf } = await getBytes(acme('affiliate-report', { start_date: day, end_date: day, date_type: 'process' }));
      const p = parseBody(buf, false);
      const sums = sumRows(p, () => day);
      const [expected] = sim.totals({ token: ACME_TOKEN, report: 'affiliate-report', from: day, to: day, dateType: 'process' });
      const { day: _d, ...t } = expected!;
      assert.deepEqual(sums.get(day), t);
      for (const r of p.rows) {
        const tx = isoFromMdy(r[0]!);
        const lag = (Date.parse(day) - Date.parse(tx)) / 86_400_000;
        assert.ok(lag >= 0 && lag <= 5, `transaction ${tx} within 5 days before process day ${day}`);
        if (lag > 0) lagged++;
      }
    }
    assert.ok(lagged > 0, 'some rows carry earlier transaction dates');
  });

  it('include_summary=Y: summary block, then header; guide-variant totals match', async () => {
    const from = '2026-01-01';
    const to = '2026-01-04';
    const { buf } = await getBytes(acme('guide-report', { start_date: from, end_date: to, include_summary: 'Y' }));
    const p = parseBody(buf, true);
    assert.deepEqual(p.summary, [
      ['Report Name', 'Publisher Performance (Guide)'],
      ['Date Range', '1/1/26 - 1/4/26'],
      ['Run Date', '1/20/26'],
      ['Currency', 'USD'],
    ]);
    const dateCol = p.header.indexOf('Transaction date');
    const sums = sumRows(p, (r) => isoFromMdy(r[dateCol]!));
    for (const { day, ...t } of sim.totals({ token: ACME_TOKEN, report: 'guide-report', from, to, dateType: 'transaction' })) {
      assert.deepEqual(sums.get(day), t, day);
    }
  });

  it('date_format and date_range are honoured', async () => {
    const cell = async (fmt: string): Promise<string> =>
      parseBody((await getBytes(acme('affiliate-report', { start_date: '2026-01-05', end_date: '2026-01-05', date_format: fmt }))).buf, false).rows[0]![0]!;
    assert.equal(await cell('m/d/yy'), '1/5/26');
    assert.equal(await cell('m/d/yyyy'), '1/5/2026');
    assert.equal(await cell('m-d-yy'), '1-5-26');
    assert.equal(await cell('yyyy-mm-dd'), '2026-01-05');
    assert.equal(await cell('d/m/yy'), '5/1/26');
    const ranges: Record<string, string> = {
      'last-7-days': '1/13/26 - 1/19/26',
      yesterday: '1/19/26 - 1/19/26',
      today: '1/20/26 - 1/20/26',
      'this-month': '1/1/26 - 1/20/26',
      'last-month': '12/1/25 - 12/31/25',
    };
    for (const [range, label] of Object.entries(ranges)) {
      const u = reportUrl(sim, 'affiliate-report', { token: ACME_TOKEN, date_range: range, include_summary: 'Y' }, 'fr');
      const p = parseBody((await getBytes(u)).buf, true);
      assert.deepEqual(p.summary[1], ['Date Range', label], range);
    }
  });

  it('is deterministic; accounts and seeds differ', async () => {
    const q = { start_date: '2026-01-01', end_date: '2026-01-07' };
    const a = (await getBytes(acme('affiliate-report', q))).buf;
    const b = (await getBytes(acme('affiliate-report', q))).buf;
    assert.ok(a.equals(b), 'same request → same bytes');
    const other = await startSimulator({ seed: 42, rowsPerDay: 40, today: TODAY });
    const reseeded = await startSimulator({ seed: 43, rowsPerDay: 40, today: TODAY });
    try {
      const c = (await getBytes(reportUrl(other, 'affiliate-report', { token: ACME_TOKEN, ...q }))).buf;
      assert.ok(a.equals(c), 'fresh simulator, same seed → same bytes');
      const d = (await getBytes(reportUrl(reseeded, 'affiliate-report', { token: ACME_TOKEN, ...q }))).buf;
      assert.ok(!a.equals(d), 'different seed → different data');
    } finally {
      await Promise.all([other.close(), reseeded.close()]);
    }
    const g = (await getBytes(reportUrl(sim, 'affiliate-report', { token: GLOBEX_TOKEN, ...q }))).buf;
    assert.ok(!a.equals(g), 'different account → different data');
    const names = (buf: Buffer): Set<string> => {
      const p = parseBody(buf, false);
      return new Set(p.rows.map((r) => r[p.header.indexOf('Publisher ID')]!));
    };
    const overlap = [...names(a)].filter((id) => names(g).has(id));
    assert.equal(overlap.length, 0, 'publisher ids differ between accounts');
  });

  it('restate changes only the restated days (and only for the matching token/report)', async () => {
    const from = '2026-01-01';
    const to = '2026-01-10';
    const tot = (token: string, report: string): DayTotals[] => sim.totals({ token, report, from, to, dateType: 'transaction' });
    const before = tot(ACME_TOKEN, 'affiliate-report');
    const beforeGuide = tot(ACME_TOKEN, 'guide-report');
    const beforeGlobex = tot(GLOBEX_TOKEN, 'affiliate-report');
    const dayBytes = async (day: string): Promise<Buffer> =>
      (await getBytes(acme('affiliate-report', { start_date: day, end_date: day }))).buf;
    const day3 = await dayBytes('2026-01-03');
    const day4 = await dayBytes('2026-01-04');

    sim.restate({ token: ACME_TOKEN, report: 'affiliate-report', from: '2026-01-04', to: '2026-01-05' });
    const after = tot(ACME_TOKEN, 'affiliate-report');
    for (let i = 0; i < before.length; i++) {
      const day = before[i]!.day;
      if (day === '2026-01-04' || day === '2026-01-05') {
        assert.notEqual(after[i]!.rows, before[i]!.rows, `${day} row count changed`);
        assert.notEqual(after[i]!.sales, before[i]!.sales, `${day} sales changed`);
      } else {
        assert.deepEqual(after[i], before[i], `${day} unchanged`);
      }
    }
    assert.deepEqual(tot(ACME_TOKEN, 'guide-report'), beforeGuide);
    assert.deepEqual(tot(GLOBEX_TOKEN, 'affiliate-report'), beforeGlobex);
    assert.ok((await dayBytes('2026-01-03')).equals(day3));
    const newDay4 = await dayBytes('2026-01-04');
    assert.ok(!newDay4.equals(day4));
    const sums = sumRows(parseBody(newDay4, false), (r) => isoFromMdy(r[0]!));
    const { day: _d, ...t4 } = after[3]!;
    assert.deepEqual(sums.get('2026-01-04'), t4, 'CSV after restate still matches totals()');

    // Admin API restate, all accounts/reports.
    const res = await fetch(`${sim.url}/__admin/restate`, { method: 'POST', body: JSON.stringify({ from: '2026-01-09', to: '2026-01-09' }) });
    assert.equal(res.status, 200);
    assert.notDeepEqual(tot(GLOBEX_TOKEN, 'affiliate-report')[8], beforeGlobex[8]);
    assert.deepEqual(tot(GLOBEX_TOKEN, 'affiliate-report')[7], beforeGlobex[7]);
  });

  it('returns JSON errors with the right status and never leaks the token', async () => {
    const cases: Array<[string, number, string]> = [
      [reportUrl(sim, 'affiliate-report', { start_date: '2026-01-01', end_date: '2026-01-01' }), 401, 'INVALID_TOKEN'],
      [reportUrl(sim, 'affiliate-report', { token: 'tok_wrong_1234567890abcdef', start_date: '2026-01-01', end_date: '2026-01-01' }), 401, 'INVALID_TOKEN'],
      [reportUrl(sim, 'guide-report', { token: GLOBEX_TOKEN, start_date: '2026-01-01', end_date: '2026-01-01' }), 404, 'REPORT_NOT_FOUND'],
      [acme('affiliate-report', {}), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '2026-01-01' }), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '2026-02-30', end_date: '2026-03-01' }), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '01/05/2026', end_date: '2026-01-06' }), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '2026-01-05', end_date: '2026-01-04' }), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '2025-01-01', end_date: '2026-01-02' }), 400, 'INVALID_DATE_RANGE'], // 367 days
      [acme('affiliate-report', { date_range: 'last-year' }), 400, 'INVALID_DATE_RANGE'],
      [acme('affiliate-report', { start_date: '2026-01-01', end_date: '2026-01-01', date_type: 'posting' }), 400, 'INVALID_DATE_TYPE'],
      [acme('affiliate-report', { start_date: '2026-01-01', end_date: '2026-01-01', date_format: 'dd.mm.yyyy' }), 400, 'INVALID_DATE_FORMAT'],
      [`${sim.url}/en/reports/affiliate-report/summary?token=${ACME_TOKEN}`, 404, 'NOT_FOUND'],
    ];
    for (const [url, status, code] of cases) {
      const res = await fetch(url);
      const text = await res.text();
      assert.equal(res.status, status, `${code}: ${text}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const body = JSON.parse(text) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]?.code, code);
      assert.ok(body.errors[0]?.message);
      for (const t of [...TOKENS, 'tok_wrong_1234567890abcdef']) assert.ok(!text.includes(t), 'token not in body');
    }
    // 366 days is allowed; a range entirely after today is header-only.
    assert.equal((await getBytes(acme('affiliate-report', { start_date: '2025-01-20', end_date: '2026-01-20' }))).res.status, 200);
    const future = parseBody((await getBytes(acme('affiliate-report', { start_date: '2026-02-01', end_date: '2026-02-03' }))).buf, false);
    assert.equal(future.rows.length, 0);

    await settle();
    const log = sim.requests();
    assert.ok(log.length > 20);
    const logText = JSON.stringify(log);
    for (const t of [...TOKENS, 'tok_wrong_1234567890abcdef']) assert.ok(!logText.includes(t), 'token not in requests()');
    assert.ok(log.some((e) => e.path.includes('token=tok…05') && e.status === 200));
    assert.ok(log.every((e) => typeof e.ms === 'number' && e.method === 'GET'));
    assert.ok(!logText.includes('__admin'), 'admin calls are not logged');
  });

  describe('faults', () => {
    const url = (): string => acme('affiliate-report', { start_date: '2026-01-01', end_date: '2026-01-10' });

    it('429 / 500 / 502 / 503 / html, consumed in order', async () => {
      sim.clearFaults();
      const before = sim.faultCounts();
      sim.addFaults([{ kind: '429', retryAfterSec: 2 }, { kind: '500' }, { kind: '502' }, { kind: '503' }, { kind: 'html' }]);
      let r = await fetch(url());
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '2');
      assert.equal(((await r.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'RATE_LIMIT_EXCEEDED');
      r = await fetch(url());
      assert.equal(r.status, 500);
      assert.ok(((await r.json()) as { errors: unknown[] }).errors.length);
      r = await fetch(url());
      assert.equal(r.status, 502);
      await r.text();
      r = await fetch(url());
      assert.equal(r.status, 503);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await r.text(), /^<!DOCTYPE html><html>.*Scheduled maintenance.*<\/html>$/s);
      r = await fetch(url());
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await r.text(), /<html>/);
      r = await fetch(url());
      assert.equal(r.status, 200, 'queue exhausted');
      assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
      await r.arrayBuffer();
      await settle();
      const after = sim.faultCounts();
      for (const k of ['429', '500', '502', '503', 'html']) assert.equal(after[k], (before[k] ?? 0) + 1, k);
      const logged = sim.requests().slice(-6).map((e) => [e.status, e.fault]);
      assert.deepEqual(logged, [[429, '429'], [500, '500'], [502, '502'], [503, '503'], [200, 'html'], [200, undefined]]);
    });

    it('match and times select requests; invalid requests do not consume faults; admin API', async () => {
      sim.clearFaults();
      const add = await fetch(`${sim.url}/__admin/faults`, {
        method: 'POST',
        body: JSON.stringify({ faults: [{ kind: '500', times: 2, match: { report: 'guide-report', startDate: '2026-01-02' } }] }),
      });
      assert.equal(add.status, 200);
      const bad = await fetch(`${sim.url}/__admin/faults`, { method: 'POST', body: JSON.stringify({ faults: [{ kind: 'boom' }] }) });
      assert.equal(bad.status, 400);
      await bad.text();
      const st = async (report: string, start: string): Promise<number> => {
        const r = await fetch(acme(report, { start_date: start, end_date: '2026-01-03' }));
        await r.arrayBuffer();
        return r.status;
      };
      assert.equal(await st('affiliate-report', '2026-01-02'), 200);
      assert.equal(await st('guide-report', '2026-01-01'), 200);
      assert.equal((await fetch(reportUrl(sim, 'guide-report', { token: 'nope-nope-nope', start_date: '2026-01-02', end_date: '2026-01-03' }))).status, 401);
      assert.equal(await st('guide-report', '2026-01-02'), 500);
      assert.equal(await st('guide-report', '2026-01-02'), 500);
      assert.equal(await st('guide-report', '2026-01-02'), 200);
      await fetch(`${sim.url}/__admin/faults`, { method: 'POST', body: JSON.stringify({ faults: [{ kind: '502' }] }) });
      assert.equal((await fetch(`${sim.url}/__admin/faults`, { method: 'DELETE' })).status, 200);
      assert.equal(await st('affiliate-report', '2026-01-02'), 200, 'DELETE cleared the queue');
      await settle();
      const stats = (await (await fetch(`${sim.url}/__admin/stats`)).json()) as { faults: Record<string, number>; requests: number };
      assert.deepEqual(stats.faults, sim.faultCounts());
      assert.equal(stats.requests, sim.requests().length);
    });

    it('slow delays the response but still answers correctly', async () => {
      sim.addFaults([{ kind: 'slow', delayMs: 400 }]);
      const { res, buf, ms } = await getBytes(url());
      assert.equal(res.status, 200);
      assert.ok(ms >= 380, `took ${ms}ms`);
      const normal = await getBytes(url());
      assert.ok(buf.equals(normal.buf));
    });

    it('truncate sends about half the body then drops the connection', async () => {
      const full = (await getBytes(url())).buf;
      sim.addFaults([{ kind: 'truncate' }]);
      const res = await fetch(url());
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let got = 0;
      await assert.rejects(async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          got += value.length;
        }
      });
      assert.ok(got > full.length * 0.3 && got < full.length * 0.7, `received ${got} of ${full.length} bytes`);
      await settle();
      assert.deepEqual(
        [sim.requests().at(-1)?.status, sim.requests().at(-1)?.fault, sim.requests().at(-1)?.aborted],
        [200, 'truncate', true],
      );
    });

    it('reset destroys the socket', async () => {
      sim.addFaults([{ kind: 'reset' }]);
      await assert.rejects(fetch(url()));
      await settle();
      const e = sim.requests().at(-1);
      assert.deepEqual([e?.status, e?.fault, e?.aborted], [0, 'reset', true]);
      const r = await fetch(url());
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    });

    it('hang never answers; close() still returns promptly', async () => {
      const s2 = await startSimulator({ today: TODAY });
      s2.addFaults([{ kind: 'hang', times: 2 }]);
      const u = reportUrl(s2, 'affiliate-report', { token: ACME_TOKEN, start_date: '2026-01-01', end_date: '2026-01-01' });
      await assert.rejects(fetch(u, { signal: AbortSignal.timeout(300) }), (e: Error) => e.name === 'TimeoutError');
      const pending = fetch(u).then(
        () => 'answered',
        () => 'failed',
      );
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      await s2.close();
      assert.ok(performance.now() - t0 < 1000, 'close() is prompt with a hung socket open');
      assert.equal(await pending, 'failed');
      assert.equal(s2.faultCounts().hang, 2);
    });

    it('trickle sends the normal body a byte at a time, and stops when the client leaves', async () => {
      const s = await startSimulator({ today: TODAY, rowsPerDay: 1 });
      try {
        const u = reportUrl(s, 'affiliate-report', { token: ACME_TOKEN, start_date: '2026-01-02', end_date: '2026-01-02' });
        const normal = await rawGet(u);
        s.addFaults([{ kind: 'trickle', delayMs: 3 }]);
        const slow = await rawGet(u);
        assert.equal(slow.status, 200);
        assert.match(String(slow.headers['content-type']), /^text\/csv/);
        assert.ok(slow.buf.equals(normal.buf), 'the same valid CSV');
        assert.ok(slow.chunks > 50 && slow.chunks > normal.chunks * 10, `${slow.buf.length} bytes in ${slow.chunks} pieces`);
        // A client that gives up ends the trickle (the server does not write on for minutes).
        s.addFaults([{ kind: 'trickle', delayMs: 50 }]);
        await assert.rejects(fetch(u, { signal: AbortSignal.timeout(300) }).then((r) => r.arrayBuffer()));
        await settle();
        await new Promise((r) => setTimeout(r, 100));
        const e = s.requests().at(-1);
        assert.deepEqual([e?.status, e?.fault, e?.aborted], [200, 'trickle', true]);
        assert.equal(s.faultCounts().trickle, 2);
      } finally {
        await s.close();
      }
    });

    it('huge sends a valid-looking CSV of about sizeBytes', async () => {
      const size = 3 * 1024 * 1024;
      sim.addFaults([{ kind: 'huge', sizeBytes: size }]);
      const { res, buf } = await getBytes(url());
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
      assert.ok(buf.length >= size && buf.length < size + 1.5 * 1024 * 1024, `${buf.length} bytes`);
      const p = parseBody(buf, false); // BOM, strict RFC-4180, every row as wide as the header
      assert.deepEqual(p.header, CANONICAL);
      assert.ok(p.rows.length > 5000, `${p.rows.length} rows`);
      for (const r of p.rows) {
        const d = isoFromMdy(r[0]!);
        assert.ok(d >= '2026-01-01' && d <= '2026-01-10', d);
      }
      // A day after "today" (normally empty) gets rows of that day; summary lines stay in front.
      sim.addFaults([{ kind: 'huge', sizeBytes: 100_000 }]);
      const future = await getBytes(acme('affiliate-report', { start_date: '2026-02-01', end_date: '2026-02-01', include_summary: 'Y' }));
      assert.ok(future.buf.length >= 100_000);
      const f = parseBody(future.buf, true);
      assert.equal(f.summary[0]?.[0], 'Report Name');
      assert.ok(f.rows.length > 100);
      assert.ok(f.rows.every((r) => isoFromMdy(r[0]!) === '2026-02-01'));
    });

    it('badgzip: a gzip body (whatever the request accepts) that is corrupt halfway', async () => {
      const normal = await rawGet(url());
      sim.addFaults([{ kind: 'badgzip' }]);
      const bad = await rawGet(url());
      assert.equal(bad.status, 200);
      assert.equal(bad.headers['content-encoding'], 'gzip');
      assert.throws(() => gunzipSync(bad.buf), (e: Error & { code?: string }) => e.code === 'Z_DATA_ERROR');
      const { out, err } = await gunzipUntilError(bad.buf);
      assert.equal(err?.code, 'Z_DATA_ERROR');
      // The valid first member decodes to the start of the report (zlib drops what it had not handed out yet).
      assert.ok(out.length > 0 && out.length <= Math.floor(normal.buf.length / 2), `${out.length} bytes decoded`);
      assert.ok(out.equals(normal.buf.subarray(0, out.length)), 'a prefix of the report');
    });

    it('gzip option: compressed CSV and errors for clients that accept gzip, identity otherwise', async () => {
      const s = await startSimulator({ today: TODAY, gzip: true });
      try {
        const u = reportUrl(s, 'affiliate-report', { token: ACME_TOKEN, start_date: '2026-01-01', end_date: '2026-01-03' });
        const plain = await rawGet(u);
        assert.equal(plain.headers['content-encoding'], undefined);
        const gz = await rawGet(u, { 'accept-encoding': 'br, gzip, deflate' });
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.match(String(gz.headers.vary), /accept-encoding/i);
        assert.ok(gz.buf.length < plain.buf.length / 2, 'compressed');
        assert.ok(gunzipSync(gz.buf).equals(plain.buf), 'the same bytes once decoded');
        assert.equal((await rawGet(u, { 'accept-encoding': 'gzip;q=0, br' })).headers['content-encoding'], undefined, 'q=0 refuses gzip');
        assert.equal((await rawGet(u, { 'accept-encoding': '*' })).headers['content-encoding'], 'gzip');
        const err = await rawGet(reportUrl(s, 'affiliate-report', { token: 'tok_wrong_1234567890abcdef', start_date: '2026-01-01', end_date: '2026-01-01' }), { 'accept-encoding': 'gzip' });
        assert.equal(err.status, 401);
        assert.equal(err.headers['content-encoding'], 'gzip');
        assert.equal((JSON.parse(gunzipSync(err.buf).toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'INVALID_TOKEN');
        assert.ok(Buffer.from(await (await fetch(u)).arrayBuffer()).equals(plain.buf), 'fetch decodes it transparently');
      } finally {
        await s.close();
      }
      // Off by default: identity even when gzip is accepted.
      assert.equal((await rawGet(url(), { 'accept-encoding': 'gzip' })).headers['content-encoding'], undefined);
    });

    it('random faults are reproducible for a given seed', async () => {
      const opts = { today: TODAY, randomFaults: { rate: 0.5, seed: 7, kinds: ['429', '500', '502', 'html', 'slow'] as const } };
      const run = async (): Promise<{ statuses: string[]; counts: Record<string, number> }> => {
        const s = await startSimulator({ ...opts, randomFaults: { ...opts.randomFaults, kinds: [...opts.randomFaults.kinds] } });
        const statuses: string[] = [];
        try {
          for (let i = 0; i < 16; i++) {
            const r = await fetch(reportUrl(s, 'demo-report', { token: DEMO_TOKEN, start_date: '2026-01-01', end_date: '2026-01-01' }));
            await r.arrayBuffer();
            statuses.push(`${r.status} ${r.headers.get('content-type')?.split(';')[0]}`);
          }
          return { statuses, counts: s.faultCounts() };
        } finally {
          await s.close();
        }
      };
      const a = await run();
      const b = await run();
      assert.deepEqual(a, b);
      const injected = Object.values(a.counts).reduce((x, y) => x + y, 0);
      assert.ok(injected >= 3 && injected <= 13, `injected ${injected} of 16`);
      assert.equal(a.counts.hang, 0);
    });
  });
});

describe('streaming', () => {
  it('streams 200k+ rows with backpressure: server RSS grows far less than the body size (and < 60MB)', async (t) => {
    // Separate process so the client side of the download doesn't pollute the measurement.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/simulator/main.ts', '--port', '0', '--rows-per-day', '50000', '--today', TODAY], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const line = out.split('\n')[0];
          if (out.includes('\n')) resolve(line!);
        });
        child.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
      });
      const m = /^simulator listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
      assert.ok(m, first);
      const base = m[1]!;
      assert.ok(!first.includes(ACME_TOKEN));
      const rss = async (): Promise<number> => ((await (await fetch(`${base}/__admin/stats`)).json()) as { rss: number }).rss;
      const rss0 = await rss();
      let peak = rss0;
      const poll = setInterval(() => {
        rss().then((v) => (peak = Math.max(peak, v)), () => {});
      }, 50);

      const q = new URLSearchParams({ token: ACME_TOKEN, start_date: '2026-01-01', end_date: '2026-01-05', include_summary: 'N' });
      const t0 = performance.now();
      const { bytes, lf, tail } = await new Promise<{ bytes: number; lf: number; tail: string }>((resolve, reject) => {
        http.get(`${base}/en/reports/extra-cols/filters?${q}`, (res) => {
          assert.equal(res.statusCode, 200);
          // A slow start: with no backpressure the server would buffer the whole body here.
          res.pause();
          setTimeout(() => res.resume(), 400);
          let bytes = 0;
          let lf = 0;
          let last: Buffer = Buffer.alloc(0);
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lf++;
            last = c;
          });
          res.on('end', () => resolve({ bytes, lf, tail: last.subarray(-2).toString('latin1') }));
          res.on('error', reject);
        }).on('error', reject);
      });
      const ms = performance.now() - t0;
      clearInterval(poll);
      peak = Math.max(peak, await rss());
      t.diagnostic(`${lf} lines, ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms; server RSS ${(rss0 / 1e6).toFixed(0)} → peak ${(peak / 1e6).toFixed(0)} MB`);
      assert.ok(lf > 200_000, `200k+ rows, got ${lf} lines`);
      assert.equal(tail, '\r\n');
      // Buffering the body (no backpressure) would grow RSS by at least the body size (~60MB here).
      const limit = Math.min(60 * 1024 * 1024, bytes / 2);
      assert.ok(peak - rss0 < limit, `RSS grew by ${((peak - rss0) / 1e6).toFixed(1)} MB (limit ${(limit / 1e6).toFixed(0)} MB)`);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
  });
});
