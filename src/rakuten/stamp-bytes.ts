/**
 * The bytes the report reader adds to each line of a stamped canonical CSV (see CsvStamp in
 * src/model/report-body.ts): the NULL cell, and the line's end `,<_date>,<tail>,<row number>`.
 * Built once per window, so writing a line's end is one copy and a few digits.
 */
import type { CsvStamp } from '../model/report-body.js';

export interface StampBytes {
  nullCell: Buffer;
  /** First byte of nullCell: a text cell starting with it is quoted. */
  nullFirst: number;
  /** `,<_date>,<tail>,` when the window's day is every row's `_date`, else `,<tail>,`. */
  end: Buffer;
  /** The end includes the day (a one-day window). */
  withDay: boolean;
  range: CsvStamp['dateRange'];
}

export function stampBytes(stamp: CsvStamp, day: string | null): StampBytes {
  const nullCell = Buffer.from(stamp.nullCell);
  const end = Buffer.from(day === null ? `,${stamp.tail},` : `,${day},${stamp.tail},`, 'utf8');
  return { nullCell, nullFirst: nullCell[0] ?? -1, end, withDay: day !== null, range: stamp.dateRange };
}

const COMMA = 44;

/** Writes a line's end for row number n (and its `day`, unless the stamp holds it) at o; returns the new offset. */
export function writeStampEnd(out: Buffer, o: number, stamp: StampBytes, day: string, n: number): number {
  if (!stamp.withDay) {
    out[o++] = COMMA;
    o += out.write(day, o, 'latin1');
  }
  o += stamp.end.copy(out, o);
  let digits = 1;
  for (let t = 10; n >= t; t *= 10) digits++;
  for (let p = o + digits - 1; p >= o; p--) {
    out[p] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return o + digits;
}
