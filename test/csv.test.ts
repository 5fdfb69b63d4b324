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
