import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readReport, type ReadOptions } from '../src/rakuten/report-reader.js';
import { COLUMN_INDEX, type ReportRow } from '../src/model/schema.js';
import { ConnectorError } from '../src/util/errors.js';
import { toUnits } from '../src/util/decimal.js';
import { addDays, todayIn } from '../src/util/days.js';
import { ACME_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';

const HEADER = 'Transaction Date,# of Impressions,# of Clicks,# of Orders,Gross Commissions,Total Commission,Sales,Order ID,Sub-Publisher ID,Sub-Publisher Name,Sub-Publisher URL,Publisher Group ID,Publisher Group Name,Publisher ID,Publisher Name,Publisher URL,Offer ID,Offer Name,Link ID,Link Name';
const ROW = '1/5/26,"1,234",10,1,$1.50,"$1,001.25",-45.10,ORD-1,,,,7,Group,123,"Café ""Ünïcode"", Inc.",https://p.example,9,Offer,11,Link';
const opts: ReadOptions = { dateFormat: 'm/d/yy', dateType: 'transaction', start: '2026-01-05', end: '2026-01-05' };

async function readAll(chunks: (string | Uint8Array)[], o: ReadOptions = opts): Promise<ReportRow[]> {
  const out: ReportRow[] = [];
  async function* body() {
    for (const c of chunks) yield c;
  }
  for await (const b of readReport(body(), o, 'rows').batches) out.push(...b);
  return out;
}

async function readError(chunks: (string | Uint8Array)[], o: ReadOptions = opts): Promise<ConnectorError> {
  try {
    await readAll(chunks, o);
  } catch (e) {
    assert.ok(e instanceof ConnectorError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

test('a row becomes the data model, exactly', async () => {
  const [row] = await readAll([`\uFEFF${HEADER}\r\n${ROW}\r\n`]);
  const get = (k: keyof typeof COLUMN_INDEX) => row![COLUMN_INDEX[k]];
  assert.equal(get('_date'), '2026-01-05');
  assert.equal(get('transaction_date'), '2026-01-05');
  assert.equal(get('impressions'), '1234');
  assert.equal(get('gross_commissions'), '1.50');
  assert.equal(get('total_commissions'), '1001.25');
  assert.equal(get('sales'), '-45.10');
  assert.equal(get('publisher_name'), 'Café "Ünïcode", Inc.');
  assert.equal(get('sub_publisher_id'), null, 'empty cells are NULL');
  assert.equal(get('_extra'), null);
});

test('multi-byte characters split across network chunks, one byte at a time', async () => {
  const bytes = new TextEncoder().encode(`\uFEFF${HEADER}\r\n${ROW}\r\n`);
  const rows = await readAll([...bytes].map((b) => new Uint8Array([b])));
  assert.equal(rows[0]![COLUMN_INDEX.publisher_name], 'Café "Ünïcode", Inc.');
});

test('summary lines before the header are skipped; variants and extra columns', async () => {
  const variant = HEADER.replace('Total Commission', 'Total Commissions').replace('Link ID', 'Link Id').replace('# of Impressions', '# of impressions')
    .replace('Sub-Publisher ID', 'Sub-Publihser ID');
  const rows = await readAll([`Report Name,Affiliate\r\nDate Range,1/5/26 - 1/5/26\r\n\r\n${variant},Currency\r\n${ROW},USD\r\n`]);
  assert.equal(rows[0]![COLUMN_INDEX.impressions], '1234');
  assert.equal(rows[0]![COLUMN_INDEX._extra], '{"Currency":"USD"}');
});

test('multi-day transaction windows take _date from the row and reject rows outside', async () => {
  const o = { ...opts, end: '2026-01-07' };
  const rows = await readAll([`${HEADER}\r\n${ROW.replace('1/5/26', '1/6/26')}\r\n`], o);
  assert.equal(rows[0]![COLUMN_INDEX._date], '2026-01-06');
  const e = await readError([`${HEADER}\r\n${ROW.replace('1/5/26', '1/9/26')}\r\n`], o);
  assert.match(e.message, /outside the requested/);
});

test('malformed input names the row, the line and the column', async () => {
  const bad = await readError([`${HEADER}\r\n${ROW}\r\n${ROW.replace('-45.10', 'n/a')}\r\n`]);
  assert.equal(bad.kind, 'data');
  assert.match(bad.message, /row 2 \(line 3\), column "Sales": "n\/a" is not an amount/);
  const date = await readError([`${HEADER}\r\n${ROW.replace('1/5/26', '13/45/26')}\r\n`]);
  assert.match(date.message, /column "Transaction Date": "13\/45\/26" is not a valid date/);
  const fields = await readError([`${HEADER}\r\n${ROW},extra\r\n`]);
  assert.match(fields.message, /row 1 \(line 2\) has 21 fields but the header has 20/);
  const utf8 = await readError([new TextEncoder().encode(`${HEADER}\r\n`), new Uint8Array([0xff, 0xfe, 0x41])]);
  assert.match(utf8.message, /not valid UTF-8/);
  const quote = await readError([`${HEADER}\r\n${ROW.replace('Link', '"Link')}`]);
  assert.equal(quote.kind, 'truncated');
  const missing = await readError([`${HEADER.replace(',Offer Name', '')}\r\n`]);
  assert.equal(missing.kind, 'columns');
  assert.match(missing.message, /Offer Name/);
  const empty = await readError(['']);
  assert.equal(empty.kind, 'not_csv');
});

test('a header-only report is an empty window, not an error', async () => {
  assert.deepEqual(await readAll([`\uFEFF${HEADER}\r\n`]), []);
});

let sim: Simulator;
before(async () => {
  sim = await startSimulator({ port: 0, rowsPerDay: 300 });
});
after(() => sim.close());

async function simRows(report: string, dateType: 'transaction' | 'process', day: string, summary: boolean): Promise<ReportRow[]> {
  const res = await fetch(`${sim.url}/en/reports/${report}/filters?start_date=${day}&end_date=${day}&include_summary=${summary ? 'Y' : 'N'}&tz=GMT&date_type=${dateType}&date_format=m/d/yy&token=${ACME_TOKEN}`);
  assert.equal(res.status, 200);
  const out: ReportRow[] = [];
  for await (const b of readReport(res.body as unknown as AsyncIterable<Uint8Array>, { ...opts, dateType, start: day, end: day }, 'rows').batches) out.push(...b);
  return out;
}

for (const [report, dateType, summary] of [['affiliate-report', 'process', true], ['guide-report', 'transaction', false], ['extra-cols', 'transaction', true]] as const) {
  test(`simulator ${report} (${dateType}${summary ? ', with summary' : ''}) reads to the simulator's exact totals`, async () => {
    const day = addDays(todayIn('GMT'), -3);
    const rows = await simRows(report, dateType, day, summary);
    const [want] = sim.totals({ token: ACME_TOKEN, report, from: day, to: day, dateType });
    assert.equal(rows.length, want!.rows);
    for (const f of ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const) {
      const sum = rows.reduce((a, r) => a + toUnits(r[COLUMN_INDEX[f]] ?? '0'), 0n);
      assert.equal(sum, toUnits(want![f]), f);
    }
    assert.ok(rows.every((r) => r[COLUMN_INDEX._date] === day));
    if (dateType === 'process') assert.ok(rows.some((r) => r[COLUMN_INDEX.transaction_date]! < day), 'process reports hold earlier transaction dates');
    if (report === 'extra-cols') assert.ok(rows.every((r) => JSON.parse(r[COLUMN_INDEX._extra]!).Currency));
  });
}
