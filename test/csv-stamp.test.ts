/**
 * The stamped form of canonical CSV (CsvStamp, for ClickHouse's straight load): the report reader
 * writes it as it reads, csv-stamp.ts writes it for any other body, and both must give the same
 * bytes; a stamped line reads back (canonicalCsvRows) to the rows the `rows` form gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CANONICAL_HEADERS } from '../src/simulator/index.js';
import { readReport } from '../src/rakuten/report-reader.js';
import { canonicalCsvRows } from '../src/model/canonical-csv.js';
import type { CsvPart, CsvStamp } from '../src/model/report-body.js';
import type { ReportRow } from '../src/model/schema.js';
import { stampedParts } from '../src/warehouse/csv-stamp.js';

const STAMP: CsvStamp = { nullCell: '\\N', tail: '"conn ""x""",2025-01-02 03:04:05,"sync\\1",42,1,"USD"', dateRange: { min: '1970-01-01', max: '2149-06-06', label: "ClickHouse's Date range" } };
const SHAPE = { nullCell: '\\N', trailing: 8 };

const q = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** A Rakuten report (BOM, CRLF, the UI's headers, an extra column) with text that looks like the NULL cell. */
function report(dates: string[], extra = true, extraAt: number = CANONICAL_HEADERS.length): string {
  // Quotes inside, at either edge, alone and with edge spaces: the reader copies an escaped cell's bytes as they are.
  const texts = ['\\N', '\\Nope', 'back\\slash', '  padded  ', 'comma, quote "', '', 'plain', 'new\nline', '"lead', 'trail"', ' "pad" ', '"', '""'];
  const withExtra = (cells: string[], v: string): string[] => (extra ? [...cells.slice(0, extraAt), v, ...cells.slice(extraAt)] : cells);
  const lines = [withExtra([...CANONICAL_HEADERS], 'Region').map(q).join(',')];
  dates.forEach((d, i) => {
    const t = (k: number): string => texts[(i + k) % texts.length]!;
    const cells = [d, '1,234', i % 3 ? '' : '7', '2', '$1,000.50', i % 4 ? '-$0.0001' : '', '$12.00', `O${i}`, t(0), t(1), t(2), `G${i % 3}`, t(3), `P${i % 5}`, t(4), t(5), `F${i % 2}`, t(6), `L${i}`, t(7)];
    lines.push(withExtra(cells, i % 2 ? 'north' : '').map(q).join(','));
  });
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

async function collect(parts: AsyncIterable<CsvPart>): Promise<{ text: string; parts: CsvPart[] }> {
  const out: CsvPart[] = [];
  for await (const p of parts) out.push(p);
  return { text: Buffer.concat(out.flatMap((p) => p.chunks)).toString('utf8'), parts: out };
}

const opts = (start: string, end: string) => ({ dateFormat: 'm/d/yy', dateType: 'transaction' as const, start, end });
const chunked = (text: string, size: number) => (async function* () {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
})();

const CASES = [
  ['2025-06-02', '2025-06-02', ['6/2/25'], CANONICAL_HEADERS.length],
  ['2025-06-01', '2025-06-03', ['6/1/25', '6/3/25', '6/2/25'], CANONICAL_HEADERS.length],
  // An unknown column between two text columns: it is not copied with its neighbours.
  ['2025-06-02', '2025-06-02', ['6/2/25'], CANONICAL_HEADERS.indexOf('Publisher Name')],
] as const;
for (const [start, end, dates, extraAt] of CASES) {
  test(`stamped CSV (${start}..${end}, the extra column at ${extraAt}): the reader's bytes are csv-stamp's, and they read back to the rows form`, async () => {
    const text = report(Array.from({ length: 40 }, (_, i) => dates[i % dates.length]!), true, extraAt);
    const read = () => readReport(chunked(text, 97), opts(start, end), 'canonical-csv');
    const body = read();
    assert.ok(body.stamped, 'the reader offers the stamped form');
    const mine = await collect(body.stamped(STAMP));
    const other = await collect(stampedParts({ format: 'canonical-csv', parts: read().parts }, STAMP, { start, end }));
    assert.equal(mine.text, other.text);
    assert.ok(mine.text.includes(',\\N,'), 'an empty cell is the NULL cell');
    assert.ok(mine.text.includes(',"\\N",') && mine.text.includes(',"\\Nope",'), 'text starting with a backslash is quoted');
    assert.ok(mine.text.includes(',back\\slash,'), 'a backslash inside is plain text');
    const rowEnd = (n: number): string => `,"conn ""x""",2025-01-02 03:04:05,"sync\\1",42,1,"USD",${n}\n`;
    assert.ok(mine.text.includes(rowEnd(0)) && mine.text.endsWith(rowEnd(39)), 'every line ends with the tail and its row number');
    const rows: ReportRow[] = [];
    for await (const b of readReport(chunked(text, 97), opts(start, end), 'rows').batches) rows.push(...b);
    assert.deepEqual(canonicalCsvRows(mine.text, mine.parts[0]!.columns, mine.parts[0]!.day, SHAPE), rows);
    assert.equal(mine.parts.reduce((n, p) => n + p.rows, 0), 40);
  });
}

test('stamped CSV: a date outside the stamp\'s range is refused by both writers, naming the column', async () => {
  const text = report(['6/2/25', '12/31/69'], false).replace('12/31/69', '12/31/1969');
  const body = readReport(chunked(text, 50), { ...opts('2025-06-02', '2025-06-02'), dateFormat: 'm/d/yy' }, 'canonical-csv');
  await assert.rejects(collect(body.stamped!(STAMP)), /row 2 \(line \d+\), column "Transaction Date": 1969-12-31 is outside ClickHouse's Date range \(1970-01-01\.\.2149-06-06\)/);
  // Without a stamp (DuckDB's form) the same report reads.
  assert.equal((await collect(readReport(chunked(text, 50), opts('2025-06-02', '2025-06-02'), 'canonical-csv').parts)).parts.reduce((n, p) => n + p.rows, 0), 2);
  const plain = readReport(chunked(text, 50), opts('2025-06-02', '2025-06-02'), 'canonical-csv').parts;
  await assert.rejects(collect(stampedParts({ format: 'canonical-csv', parts: plain }, STAMP, { start: '2025-06-02', end: '2025-06-02' })), /transaction_date 1969-12-31 is outside ClickHouse's Date range/);
});

test('stamped CSV of a multi-day body that is not the reader\'s: a row outside the window is refused, as the reader refuses it', async () => {
  const part: CsvPart = { columns: ['transaction_date', 'publisher_id'], day: null, chunks: [Buffer.from('2025-06-01,a\n2025-06-09,b\n')], rows: 2, maxLine: 13 };
  const parts = (async function* () { yield part; })();
  await assert.rejects(collect(stampedParts({ format: 'canonical-csv', parts }, STAMP, { start: '2025-06-01', end: '2025-06-03' })), /Transaction Date 2025-06-09 is outside the requested 2025-06-01\.\.2025-06-03/);
});
