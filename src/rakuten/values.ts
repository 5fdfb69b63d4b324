/**
 * Cell parsers: Rakuten's text → canonical text the warehouses load (ISO dates, plain
 * decimals). Money never becomes a float: it stays a decimal string end to end.
 * Each parser returns null for an empty cell and throws ValueError for anything it cannot read.
 */
import { MONEY_PRECISION, MONEY_SCALE } from '../model/schema.js';

export class ValueError extends Error {}

type DateParser = (s: string) => string;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function iso(y: number, m: number, d: number, raw: string): string {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (!(m >= 1 && m <= 12) || !(d >= 1 && d <= (m === 2 && !leap ? 28 : DAYS_IN_MONTH[m - 1]!))) {
    throw new ValueError(`"${raw}" is not a valid date`);
  }
  return `${y}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

const ISO_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;

/** A date parser for a Rakuten `date_format` (m/d/yy by default). ISO dates are always accepted. */
export function dateParser(format: string): DateParser {
  const f = format.toLowerCase();
  const sep = f.includes('/') ? '/' : '-';
  const parts = f.split(sep);
  const re = new RegExp(`^(\\d{1,4})\\${sep}(\\d{1,2})\\${sep}(\\d{1,4})$`);
  const dayFirst = parts[0] === 'd';
  const yearFirst = parts[0]?.startsWith('y') ?? false;
  const cache = new Map<string, string>(); // a report has few distinct dates: parse each once
  return (raw: string) => {
    const hit = cache.get(raw);
    if (hit !== undefined) return hit;
    const s = raw.trim();
    let out: string;
    const isoM = ISO_RE.exec(s);
    if (isoM) {
      out = iso(+isoM[1]!, +isoM[2]!, +isoM[3]!, raw);
    } else {
      const m = re.exec(s);
      if (!m || yearFirst) throw new ValueError(`"${raw}" is not a date in the format ${format}`);
      const a = +m[1]!, b = +m[2]!, yRaw = m[3]!;
      if (yRaw.length !== 2 && yRaw.length !== 4) throw new ValueError(`"${raw}" is not a date in the format ${format}`);
      const y = yRaw.length === 2 ? 2000 + +yRaw : +yRaw;
      out = dayFirst ? iso(y, b, a, raw) : iso(y, a, b, raw);
    }
    if (cache.size < 10_000) cache.set(raw, out);
    return out;
  };
}

const PLAIN_DECIMAL = /^-?\d+(?:\.\d+)?$/;
const MAX_INT_DIGITS = MONEY_PRECISION - MONEY_SCALE;

/**
 * "1,234.56", "$1,234.56", "-$45.10", "($45.10)", "USD 12.00", "12.5 €" → "1234.56", "-45.10", …
 * More than MONEY_SCALE decimals would lose cents silently, so they are an error, not a rounding.
 */
export function parseMoney(raw: string): string | null {
  if (raw === '') return null;
  let s = raw;
  if (!PLAIN_DECIMAL.test(s)) {
    s = s.trim();
    if (s === '') return null;
    let neg = false;
    if (s.startsWith('(') && s.endsWith(')')) {
      neg = true;
      s = s.slice(1, -1).trim();
    }
    if (s.startsWith('-')) {
      neg = !neg;
      s = s.slice(1).trim();
    }
    // Currency: a symbol or ISO code before or after the amount.
    s = s.replace(/^(?:[$€£¥₹]|[A-Z]{3}\s?|[A-Z]{1,2}\$)\s*/, '').replace(/\s*(?:[$€£¥₹]|[A-Z]{3})$/, '');
    if (s.startsWith('-')) {
      neg = !neg;
      s = s.slice(1);
    }
    if (!/^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$/.test(s)) throw new ValueError(`"${raw}" is not an amount`);
    s = s.replace(/,/g, '');
    if (neg) s = `-${s}`;
  }
  const dot = s.indexOf('.');
  const intDigits = (dot < 0 ? s.length : dot) - (s.startsWith('-') ? 1 : 0);
  if (dot >= 0 && s.length - dot - 1 > MONEY_SCALE) {
    const frac = s.slice(dot + 1 + MONEY_SCALE);
    if (!/^0+$/.test(frac)) throw new ValueError(`"${raw}" has more than ${MONEY_SCALE} decimal places`);
    s = s.slice(0, dot + 1 + MONEY_SCALE);
  }
  if (intDigits > MAX_INT_DIGITS) throw new ValueError(`"${raw}" is too large`);
  return s;
}

const PLAIN_INT = /^-?\d{1,18}$/;

/** "1,234" → "1234". A whole number only ("12.00" is accepted as 12; "12.5" is not). */
export function parseCount(raw: string): string | null {
  if (raw === '') return null;
  if (PLAIN_INT.test(raw)) return raw;
  const s = raw.trim();
  if (s === '') return null;
  const m = /^(-?)((?:\d{1,3}(?:,\d{3})+|\d+))(?:\.0+)?$/.exec(s);
  if (!m) throw new ValueError(`"${raw}" is not a whole number`);
  const digits = m[2]!.replace(/,/g, '');
  if (digits.length > 18) throw new ValueError(`"${raw}" is too large`);
  return m[1] + digits;
}

/** Text cells: empty → null, otherwise as given (trimmed of surrounding spaces). */
export function parseText(raw: string): string | null {
  if (raw === '') return null;
  const t = raw.trim();
  return t === '' ? null : t;
}

/*
 * Byte-level fast paths for the report reader. Each takes a cell's UTF-8 bytes src[s..e), writes
 * the canonical text to dst at o and returns the new offset (nothing written = NULL), or -1 when
 * the cell is not in the common form: the caller then uses the string parser above, which gives
 * the exact answer or the exact error. A fast path only accepts cells for which the string parser
 * returns the very same text.
 */
const D0 = 48, D9 = 57, MINUS = 45, COMMA_B = 44, DOT_B = 46, DOLLAR_B = 36;

/** `123`, `-123`, `1,234` (strict groups of three) → digits; ≤ 18 digits. */
export function countBytes(src: Uint8Array, s: number, e: number, dst: Uint8Array, o: number): number {
  if (s === e) return o;
  let i = s;
  if (src[i] === MINUS) {
    dst[o++] = MINUS;
    i++;
  }
  let digits = 0;
  let lead = 0; // digits before the first comma
  let group = -1; // digits since the last comma; -1 before any comma
  for (; i < e; i++) {
    const c = src[i]!;
    if (c >= D0 && c <= D9) {
      dst[o++] = c;
      digits++;
      if (group < 0) lead++;
      else group++;
    } else if (c === COMMA_B) {
      if (group < 0 ? lead < 1 || lead > 3 : group !== 3) return -1;
      group = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || digits > 18 || (group >= 0 && group !== 3)) return -1;
  return o;
}

/** `12.50`, `-45.10`, `$9.99`, `-$1,045.10`, `1,234.5` → plain decimal; ≤ 14 integer digits, ≤ 4 decimals (extra zeros dropped). */
export function moneyBytes(src: Uint8Array, s: number, e: number, dst: Uint8Array, o: number): number {
  if (s === e) return o;
  let i = s;
  if (src[i] === MINUS) {
    dst[o++] = MINUS;
    i++;
  }
  if (i < e && src[i] === DOLLAR_B) i++;
  let digits = 0;
  let lead = 0;
  let group = -1;
  let c = 0;
  for (; i < e; i++) {
    c = src[i]!;
    if (c >= D0 && c <= D9) {
      dst[o++] = c;
      digits++;
      if (group < 0) lead++;
      else group++;
    } else if (c === COMMA_B) {
      if (group < 0 ? lead < 1 || lead > 3 : group !== 3) return -1;
      group = 0;
    } else if (c === DOT_B) {
      break;
    } else {
      return -1;
    }
  }
  if (digits === 0 || digits > MAX_INT_DIGITS || (group >= 0 && group !== 3)) return -1;
  if (i < e) {
    dst[o++] = DOT_B;
    i++;
    let frac = 0;
    for (; i < e; i++) {
      c = src[i]!;
      if (c < D0 || c > D9) return -1;
      if (frac < MONEY_SCALE) dst[o++] = c;
      else if (c !== D0) return -1; // more than MONEY_SCALE decimals: the string parser says why
      frac++;
    }
    if (frac === 0) return -1;
  }
  return o;
}

/**
 * Would String.prototype.trim() remove the character starting at src[p]? True also for the few
 * doubtful cases (control characters, U+180E): the caller then takes the exact string path.
 */
function trimmableAt(src: Uint8Array, p: number): boolean {
  const b = src[p]!;
  if (b <= 0x20) return true;
  if (b < 0x80) return false;
  switch (b) {
    case 0xc2: return src[p + 1] === 0xa0; // U+00A0
    case 0xe1: return (src[p + 1] === 0x9a && src[p + 2] === 0x80) || (src[p + 1] === 0xa0 && src[p + 2] === 0x8e); // U+1680, U+180E
    case 0xe2: {
      const b1 = src[p + 1], b2 = src[p + 2]!;
      // U+2000–U+200A, U+2028, U+2029, U+202F, U+205F
      return (b1 === 0x80 && ((b2 >= 0x80 && b2 <= 0x8a) || b2 === 0xa8 || b2 === 0xa9 || b2 === 0xaf)) || (b1 === 0x81 && b2 === 0x9f);
    }
    case 0xe3: return src[p + 1] === 0x80 && src[p + 2] === 0x80; // U+3000
    case 0xef: return src[p + 1] === 0xbb && src[p + 2] === 0xbf; // U+FEFF
    default: return false;
  }
}

/** Does the non-empty text src[s..e) start or end with a character trim() removes? */
export function needsTrim(src: Uint8Array, s: number, e: number): boolean {
  if (trimmableAt(src, s)) return true;
  let p = e - 1;
  while (p > s && (src[p]! & 0xc0) === 0x80) p--;
  return trimmableAt(src, p);
}
