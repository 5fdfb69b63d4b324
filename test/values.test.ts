import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateParser, parseCount, parseMoney, parseText, ValueError } from '../src/rakuten/values.js';
import { fromUnits, toUnits } from '../src/util/decimal.js';

test('dates in every supported date_format', () => {
  assert.equal(dateParser('m/d/yy')('1/5/26'), '2026-01-05');
  assert.equal(dateParser('m/d/yy')('12/31/25'), '2025-12-31');
  assert.equal(dateParser('m/d/yyyy')('2/29/2028'), '2028-02-29');
  assert.equal(dateParser('m-d-yy')('3-7-26'), '2026-03-07');
  assert.equal(dateParser('yyyy-mm-dd')('2026-03-07'), '2026-03-07');
  assert.equal(dateParser('d/m/yy')('7/3/26'), '2026-03-07');
  assert.equal(dateParser('m/d/yy')('2026-03-07'), '2026-03-07', 'ISO is always understood');
  for (const bad of ['13/1/26', '2/30/26', '2/29/26', 'yesterday', '1/5', '1/5/226']) {
    assert.throws(() => dateParser('m/d/yy')(bad), ValueError, bad);
  }
});

test('money: separators, currency symbols, negatives, exactness', () => {
  const cases: [string, string | null][] = [
    ['1234.56', '1234.56'], ['"1,234.56"'.slice(1, -1), '1234.56'], ['$1,234.56', '1234.56'], ['-$1,045.10', '-1045.10'],
    ['$-12.00', '-12.00'], ['(45.10)', '-45.10'], ['USD 12.00', '12.00'], ['12.5 €', '12.5'], ['-0.01', '-0.01'],
    ['1,234,567.8901', '1234567.8901'], ['0', '0'], ['', null], ['  ', null], ['12.340000', '12.3400'],
  ];
  for (const [input, want] of cases) assert.equal(parseMoney(input), want, input);
  for (const bad of ['12.34567', 'abc', '1,23.00', '$', '12..3', '1e5', '99999999999999999.00']) {
    assert.throws(() => parseMoney(bad), ValueError, bad);
  }
});

test('counts: thousands separators, whole numbers only', () => {
  assert.equal(parseCount('1,234'), '1234');
  assert.equal(parseCount('-3'), '-3');
  assert.equal(parseCount('12.00'), '12');
  assert.equal(parseCount(''), null);
  for (const bad of ['12.5', 'x', '1,2345']) assert.throws(() => parseCount(bad), ValueError, bad);
});

test('text: empty is NULL, surrounding spaces trimmed', () => {
  assert.equal(parseText(''), null);
  assert.equal(parseText(' a b '), 'a b');
});

test('decimal units round-trip exactly', () => {
  assert.equal(toUnits('1234.56'), 12345600n);
  assert.equal(toUnits('-0.01'), -100n);
  assert.equal(fromUnits(12345600n), '1234.5600');
  assert.equal(fromUnits(-100n, 4, 2), '-0.01');
  let sum = 0n;
  for (let i = 0; i < 100000; i++) sum += toUnits('0.01');
  assert.equal(fromUnits(sum, 4, 2), '1000.00');
});
