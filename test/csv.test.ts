import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CsvError, CsvParser } from '../src/rakuten/csv.js';

function parseIn(chunks: string[]): { rows: string[][]; lines: number[] } {
  const rows: string[][] = [];
  const lines: number[] = [];
  const p = new CsvParser((f, l) => {
    rows.push(f);
    lines.push(l);
  });
  for (const c of chunks) p.push(c);
  p.end();
  return { rows, lines };
}

const DOC = 'a,b,c\r\n1,"x, ""quoted""",\r\n"multi\r\nline",2,"é日本"\r\n\r\nlast,row,here';
const WANT = [['a', 'b', 'c'], ['1', 'x, "quoted"', ''], ['multi\r\nline', '2', 'é日本'], ['last', 'row', 'here']];

test('RFC-4180: quotes, doubled quotes, CRLF, embedded newlines, blank lines', () => {
  const { rows, lines } = parseIn([DOC]);
  assert.deepEqual(rows, WANT);
  assert.deepEqual(lines, [1, 2, 3, 6]);
});

test('every split point gives the same records', () => {
  for (let i = 0; i <= DOC.length; i++) {
    for (let j = i; j <= DOC.length; j += 3) {
      assert.deepEqual(parseIn([DOC.slice(0, i), DOC.slice(i, j), DOC.slice(j)]).rows, WANT, `split at ${i},${j}`);
    }
  }
  assert.deepEqual(parseIn([...DOC]).rows, WANT, 'one character per chunk');
});

test('an unterminated quote at the end is an error; LF-only files work', () => {
  assert.throws(() => parseIn(['a,b\n1,"open']), CsvError);
  assert.deepEqual(parseIn(['a,b\n1,2\n']).rows, [['a', 'b'], ['1', '2']]);
});

test('a record longer than the limit fails instead of eating memory', () => {
  const p = new CsvParser(() => undefined, 1000);
  assert.throws(() => p.push(`"${'x'.repeat(2000)}`), CsvError);
});

test('canonical CSV back into rows (the ClickHouse small-window path): hostile cells, NULLs, _date from the day or the transaction date', async () => {
  const { canonicalCsvRows } = await import('../src/model/canonical-csv.js');
  const { csvBody, row } = await import('./helpers/contract.js');
  const hostile = ['quote " inside', 'comma, inside', 'new\nline', 'cr\r\nlf', '"', '""', '\\N', ' spaces ', '\t', 'emoji 🎉', "'single"];
  const rows = hostile.map((s, i) => row('2025-06-02', { transaction_date: '2025-06-01', publisher_id: `h${i}`, publisher_name: s, offer_name: s, sales: '-0.0001', clicks: i % 2 ? null : '3' }));
  for (const [day, want] of [['2025-06-02', rows], [null, rows.map((r) => { const x = [...r]; x[0] = '2025-06-01'; return x; })]] as const) {
    const body = csvBody(want, day, 4);
    if (body.format !== 'canonical-csv') throw new Error('csvBody');
    const parts = [];
    for await (const p of body.parts) parts.push(p);
    const text = Buffer.concat(parts.flatMap((p) => p.chunks)).toString('utf8');
    assert.deepEqual(canonicalCsvRows(text, parts[0]!.columns, day), want);
  }
  assert.throws(() => canonicalCsvRows('"open\n', ['publisher_id'], '2025-01-01'), /unterminated/);
  assert.throws(() => canonicalCsvRows('a,b\n', ['publisher_id'], '2025-01-01'), /more than 1 cells/);
  assert.throws(() => canonicalCsvRows('a\n', ['publisher_id', 'offer_id'], '2025-01-01'), /1 cells, expected 2/);
});

test('every split point gives the same records: stray quotes, text after a closing quote, lone CR, empty fields, a record wider than 64 fields', () => {
  const wide = Array.from({ length: 70 }, (_, i) => `f${i}`);
  const doc = `p,q"r,s\rt,,\n"u"v,w\r\n,\n${wide.join(',')}\r\nz`;
  const want = [['p', 'q"r', 's'], ['t', '', ''], ['uv', 'w'], ['', ''], wide, ['z']];
  assert.deepEqual(parseIn([doc]), { rows: want, lines: [1, 2, 3, 4, 5, 6] });
  for (let i = 0; i <= doc.length; i++) {
    for (let j = i; j <= doc.length; j += 5) {
      assert.deepEqual(parseIn([doc.slice(0, i), doc.slice(i, j), doc.slice(j)]).rows, want, `split at ${i},${j}`);
    }
  }
});
