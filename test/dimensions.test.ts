/**
 * The reference dimension rules (src/model/dimensions.ts), case by case, plus the scenarios the
 * per-warehouse tests asserted (so the reference is known to say what the warehouses do).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { COLUMN_INDEX, LOADED_COLUMNS, type LoadedColumn, type ReportRow } from '../src/model/schema.js';
import {
  compareBytes, DimensionState, mergeDimension, referenceDimensions, rowDay, windowDimensions, type DimensionEvent, type DimensionRecord,
} from '../src/model/dimensions.js';
import { Rng } from '../src/simulator/prng.js';
import { addDays } from '../src/util/days.js';

function row(v: Partial<Record<LoadedColumn, string | null>>): ReportRow {
  const r: ReportRow = new Array<string | null>(LOADED_COLUMNS.length).fill(null);
  for (const [k, val] of Object.entries(v)) r[COLUMN_INDEX[k as LoadedColumn]] = val ?? null;
  return r;
}

/** A publisher row on `_date` (transaction date = _date unless given). */
function pub(date: string, id: string | null, name: string | null, extra: Partial<Record<LoadedColumn, string | null>> = {}): ReportRow {
  return row({ _date: date, transaction_date: date, publisher_id: id, publisher_name: name, ...extra });
}

const win = (connector: string, start: string, end: string, rows: ReportRow[]): DimensionEvent => ({ kind: 'window', connector, start, end, rows });

function publishers(events: DimensionEvent[], connector?: string): DimensionRecord[] {
  return referenceDimensions(events, connector).rakuten_publishers!;
}

const P = (id: string, name: string | null, url: string | null, first: string, last: string, connector = 'c'): DimensionRecord => ({
  _connector: connector, id, name, url, first_seen: first, last_seen: last,
});

describe('one window', () => {
  test('name and url: the non-NULL value of the latest day, each on its own; first/last over every row', () => {
    const w = win('c', '2024-06-01', '2024-06-03', [
      pub('2024-06-01', '1', 'first', { publisher_url: 'u1' }),
      pub('2024-06-02', '1', 'second', { publisher_url: null }),
      pub('2024-06-03', '1', null, { publisher_url: null }),
    ]);
    assert.deepEqual(publishers([w]), [P('1', 'second', 'u1', '2024-06-01', '2024-06-03')]);
  });

  test('day = coalesce(transaction_date, _date); rows of a day outside the window feed nothing', () => {
    const w = win('c', '2024-06-05', '2024-06-05', [
      pub('2024-06-05', '1', 'late conversion', { transaction_date: '2024-05-20' }),
      pub('2024-06-05', '1', 'no tx date', { transaction_date: null }),
      pub('2024-06-06', '1', 'outside the window', { transaction_date: '2024-06-09' }),
      pub('2024-06-04', '2', 'outside too'),
    ]);
    assert.deepEqual(publishers([w]), [P('1', 'no tx date', null, '2024-05-20', '2024-06-05')]);
    assert.equal(rowDay(pub('2024-06-05', '1', 'x', { transaction_date: null })), '2024-06-05');
    assert.equal(rowDay(pub('2024-06-05', '1', 'x', { transaction_date: '2024-06-01' })), '2024-06-01');
  });

  test('NULL ids are skipped; an empty string is NULL (id, name, url, transaction date)', () => {
    const w = win('c', '2024-06-01', '2024-06-02', [
      pub('2024-06-01', null, 'nobody'),
      pub('2024-06-01', '', 'empty id'),
      pub('2024-06-01', '1', 'kept', { publisher_url: 'u' }),
      pub('2024-06-02', '1', '', { publisher_url: '' }),
      pub('2024-06-02', '2', 'two', { transaction_date: '' }),
    ]);
    assert.deepEqual(publishers([w]), [P('1', 'kept', 'u', '2024-06-01', '2024-06-02'), P('2', 'two', null, '2024-06-02', '2024-06-02')]);
  });

  test('an id whose names are all NULL has a NULL name (and still its days)', () => {
    assert.deepEqual(publishers([win('c', '2024-06-01', '2024-06-01', [pub('2024-06-01', '9', null)])]), [P('9', null, null, '2024-06-01', '2024-06-01')]);
  });

  test('ties on the latest day: the smallest value in UTF-8 byte order', () => {
    const w = win('c', '2024-06-07', '2024-06-07', [
      pub('2024-06-07', '2', 'Beta'),
      pub('2024-06-07', '2', 'Alpha'),
      pub('2024-06-07', '2', 'Zulu', { transaction_date: '2024-06-06' }),
      pub('2024-06-07', 't', 'b'),
      pub('2024-06-07', 't', 'B'),
      pub('2024-06-07', 't', null),
      // U+FFFF is 3 bytes in UTF-8, 😀 is 4: byte order puts 😀 last, UTF-16 order would not.
      pub('2024-06-07', 'u', '😀'),
      pub('2024-06-07', 'u', '\uffff'),
    ]);
    assert.deepEqual(publishers([w]).map((p) => [p.id, p.name]), [['2', 'Alpha'], ['t', 'B'], ['u', '\uffff']]);
  });

  test('offers and links follow the same rules, without url; ids of each dimension are independent', () => {
    const r = row({ _date: '2024-06-01', transaction_date: '2024-06-01', offer_id: 'o', offer_name: 'Offer', link_id: 'l', link_name: null });
    const t = referenceDimensions([win('c', '2024-06-01', '2024-06-01', [r])]);
    assert.deepEqual(t.rakuten_publishers, []);
    assert.deepEqual(t.rakuten_offers, [{ _connector: 'c', id: 'o', name: 'Offer', first_seen: '2024-06-01', last_seen: '2024-06-01' }]);
    assert.deepEqual(t.rakuten_links, [{ _connector: 'c', id: 'l', name: null, first_seen: '2024-06-01', last_seen: '2024-06-01' }]);
  });

  test('an empty window (or one without ids) changes nothing', () => {
    const first = win('c', '2024-06-01', '2024-06-01', [pub('2024-06-01', '1', 'one')]);
    const want = publishers([first]);
    assert.deepEqual(publishers([first, win('c', '2024-06-01', '2024-06-09', [])]), want);
    assert.deepEqual(publishers([first, win('c', '2024-06-09', '2024-06-09', [pub('2024-06-09', null, 'x')])]), want);
  });
});

describe('across windows', () => {
  test('an older window does not rename but moves first_seen back', () => {
    const events = [
      win('c', '2024-06-05', '2024-06-05', [pub('2024-06-05', '1', 'mid', { publisher_url: 'u-mid' })]),
      win('c', '2024-06-01', '2024-06-01', [pub('2024-06-01', '1', 'old', { publisher_url: 'u-old' })]),
    ];
    assert.deepEqual(publishers(events), [P('1', 'mid', 'u-mid', '2024-06-01', '2024-06-05')]);
  });

  test('a later load of the same last day wins; a later day whose names are all NULL clears the name', () => {
    const events = [
      win('c', '2024-07-01', '2024-07-03', [pub('2024-07-01', 'p', 'Old', { publisher_url: 'u1' }), pub('2024-07-03', 'p', 'Newer', { publisher_url: 'u3' })]),
      win('c', '2024-07-03', '2024-07-03', [pub('2024-07-03', 'p', 'Same day, later load', { publisher_url: 'u3b' })]),
    ];
    assert.deepEqual(publishers(events), [P('p', 'Same day, later load', 'u3b', '2024-07-01', '2024-07-03')]);
    events.push(win('c', '2024-07-06', '2024-07-06', [pub('2024-07-06', 'p', null)]));
    assert.deepEqual(publishers(events), [P('p', null, null, '2024-07-01', '2024-07-06')]);
  });

  test('a window whose latest day has only NULL names takes its latest non-NULL name', () => {
    const events = [
      win('c', '2024-07-01', '2024-07-01', [pub('2024-07-01', 'p', 'One')]),
      win('c', '2024-07-04', '2024-07-05', [pub('2024-07-04', 'p', 'Four'), pub('2024-07-05', 'p', null)]),
    ];
    assert.deepEqual(publishers(events), [P('p', 'Four', null, '2024-07-01', '2024-07-05')]);
  });

  test('replacing a window never takes anything back: ids, first/last seen and names stay', () => {
    const events = [
      win('c', '2024-08-01', '2024-08-02', [pub('2024-08-01', 'a', 'A1'), pub('2024-08-02', 'b', 'B2'), pub('2024-08-02', 'a', 'A2')]),
      // The same window again, now without b and with a only on its first day.
      win('c', '2024-08-01', '2024-08-02', [pub('2024-08-01', 'a', 'A1 again')]),
    ];
    assert.deepEqual(publishers(events), [P('a', 'A2', null, '2024-08-01', '2024-08-02'), P('b', 'B2', null, '2024-08-02', '2024-08-02')]);
    // Emptying the window: still nothing taken back.
    events.push(win('c', '2024-08-01', '2024-08-02', []));
    assert.equal(publishers(events).length, 2);
  });

  test('deleteConnectorData removes only that connector; loads after it start afresh', () => {
    const events: DimensionEvent[] = [
      win('a', '2024-06-01', '2024-06-09', [pub('2024-06-01', '1', 'a-early'), pub('2024-06-09', '1', 'a-late')]),
      win('b', '2024-06-01', '2024-06-01', [pub('2024-06-01', '1', 'b')]),
      { kind: 'delete', connector: 'a' },
    ];
    assert.deepEqual(publishers(events), [P('1', 'b', null, '2024-06-01', '2024-06-01', 'b')]);
    events.push(win('a', '2024-06-03', '2024-06-03', [pub('2024-06-03', '1', 'a-again')]));
    assert.deepEqual(publishers(events, 'a'), [P('1', 'a-again', null, '2024-06-03', '2024-06-03', 'a')]);
  });

  test('connectors are isolated: the same id under two connectors is two rows', () => {
    const events = [
      win('a', '2024-06-02', '2024-06-02', [pub('2024-06-02', '1', 'A')]),
      win('b', '2024-06-01', '2024-06-01', [pub('2024-06-01', '1', 'B')]),
    ];
    assert.deepEqual(publishers(events), [P('1', 'A', null, '2024-06-02', '2024-06-02', 'a'), P('1', 'B', null, '2024-06-01', '2024-06-01', 'b')]);
  });

  test('mergeDimension: greatest last_seen wins the name; ties go to the incoming row', () => {
    const s = P('1', 'stored', 'su', '2024-01-05', '2024-01-10');
    assert.deepEqual(mergeDimension(undefined, s), s);
    assert.deepEqual(mergeDimension(s, P('1', 'in', 'iu', '2024-01-01', '2024-01-09')), P('1', 'stored', 'su', '2024-01-01', '2024-01-10'));
    assert.deepEqual(mergeDimension(s, P('1', 'in', null, '2024-01-07', '2024-01-10')), P('1', 'in', null, '2024-01-05', '2024-01-10'));
    assert.deepEqual(mergeDimension(s, P('1', null, 'iu', '2024-01-11', '2024-01-11')), P('1', null, 'iu', '2024-01-05', '2024-01-11'));
  });
});

describe('the scenarios the per-warehouse tests asserted', () => {
  test("PostgreSQL's 'dimensions: latest non-NULL name/url, first/last seen across windows' (apart from its tie)", () => {
    const c = 'dims';
    const events: DimensionEvent[] = [
      win(c, '2024-06-05', '2024-06-05', [
        row({ _date: '2024-06-05', transaction_date: '2024-06-05', publisher_id: '1', publisher_name: 'mid', publisher_url: 'u-mid' }),
        row({ _date: '2024-06-05', transaction_date: null, publisher_id: '1', publisher_name: null, publisher_url: 'u-null-name' }),
      ]),
      win(c, '2024-06-01', '2024-06-01', [row({ _date: '2024-06-01', transaction_date: '2024-06-01', publisher_id: '1', publisher_name: 'old', publisher_url: 'u-old' })]),
    ];
    const one = () => publishers(events).find((p) => p.id === '1')!;
    // PostgreSQL keeps the byte-wise greatest url of the tie ('u-null-name'); the reference the smallest.
    assert.deepEqual(one(), P('1', 'mid', 'u-mid', '2024-06-01', '2024-06-05', c));
    events.push(win(c, '2024-06-09', '2024-06-09', [row({ _date: '2024-06-09', transaction_date: '2024-06-09', publisher_id: '1', publisher_name: 'new', publisher_url: null })]));
    assert.deepEqual(one(), P('1', 'new', null, '2024-06-01', '2024-06-09', c));
  });

  test("ClickHouse's 'dimensions keep DuckDB semantics: latest name by day, newest load wins ties, history kept'", () => {
    const c = 'dims';
    const d = (date: string, id: string, name: string | null, url: string | null = null) => pub(date, id, name, { publisher_url: url });
    const events = [
      win(c, '2026-07-01', '2026-07-03', [d('2026-07-01', 'p', 'Old', 'u1'), d('2026-07-03', 'p', 'Newer', 'u3'), d('2026-07-02', 'gone', 'Gone')]),
      win(c, '2026-07-02', '2026-07-02', [d('2026-07-02', 'p', 'Earlier day')]),
      win(c, '2026-07-03', '2026-07-03', [d('2026-07-03', 'p', 'Same day, later load', 'u3b')]),
    ];
    assert.deepEqual(publishers(events), [
      P('gone', 'Gone', null, '2026-07-02', '2026-07-02', c),
      P('p', 'Same day, later load', 'u3b', '2026-07-01', '2026-07-03', c),
    ]);
    events.push(win(c, '2026-07-04', '2026-07-05', [d('2026-07-04', 'p', 'Four'), d('2026-07-05', 'p', null)]));
    events.push(win(c, '2026-07-06', '2026-07-06', [d('2026-07-06', 'gone', null)]));
    assert.deepEqual(publishers(events).map((p) => [p.id, p.name]), [['gone', null], ['p', 'Four']]);
  });
});

describe('properties (seeded)', () => {
  test('name/url come from the latest load among those with the greatest last_seen; first/last are min/max over all loads', () => {
    const rng = new Rng(20240601);
    for (let round = 0; round < 200; round++) {
      const loads: { start: string; rows: ReportRow[] }[] = [];
      const n = rng.range(1, 6);
      for (let i = 0; i < n; i++) {
        const start = addDays('2024-01-01', rng.int(10));
        const rows: ReportRow[] = [];
        for (let k = rng.int(4); k >= 0; k--) {
          const tx = rng.chance(0.2) ? null : addDays(start, -rng.int(3));
          rows.push(pub(start, 'x', rng.chance(0.3) ? null : `n${i}`, { transaction_date: tx }));
        }
        loads.push({ start, rows });
      }
      const got = publishers(loads.map((l) => win('c', l.start, l.start, l.rows)))[0]!;
      const per = loads.map((l, i) => ({ i, ...windowDimensions({ connector: 'c', start: l.start, end: l.start, rows: l.rows }).get('rakuten_publishers')!.get('x')! }));
      const maxLast = per.reduce((m, p) => (p.last_seen > m ? p.last_seen : m), '');
      const winner = per.filter((p) => p.last_seen === maxLast).at(-1)!;
      assert.equal(got.name, winner.name, `round ${round}`);
      assert.equal(got.last_seen, maxLast);
      assert.equal(got.first_seen, per.reduce((m, p) => (p.first_seen < m ? p.first_seen : m), '9999-12-31'));
    }
  });

  test('compareBytes is UTF-8 byte order', () => {
    const rng = new Rng(7);
    const alphabet = ['a', 'B', 'z', 'é', '\u00ff', '\u0100', '\ue000', '\uffff', '😀', '𝄞', '', '0', ' '];
    const words = Array.from({ length: 300 }, () => Array.from({ length: rng.int(4) }, () => rng.pick(alphabet)).join(''));
    const ours = [...words].sort(compareBytes);
    const bytes = [...words].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(ours, bytes);
    assert.equal(compareBytes('abc', 'abc'), 0);
  });

  test('the fold is pure: inputs are not changed, results are copies', () => {
    const rows = [pub('2024-06-01', '1', 'one')];
    const snapshot = JSON.stringify(rows);
    const s = new DimensionState().applyWindow({ connector: 'c', start: '2024-06-01', end: '2024-06-01', rows });
    s.rows('rakuten_publishers')[0]!.name = 'changed';
    assert.equal(s.rows('rakuten_publishers')[0]!.name, 'one');
    assert.equal(JSON.stringify(rows), snapshot);
    assert.throws(() => s.rows('rakuten_nope'), /unknown dimension table/);
  });
});
