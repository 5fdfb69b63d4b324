/**
 * Incremental UTF-8 validation for the report reader: a multi-byte character may straddle two
 * network chunks, so an unfinished one is held back for the next chunk; the byte order mark at the
 * start is dropped (as TextDecoder does).
 */
import { isUtf8 } from 'node:buffer';

/**
 * Incremental UTF-8 check: hands on whole characters only, keeps an unfinished one for the next
 * chunk, drops a byte order mark at the start (as TextDecoder does).
 */
export class Utf8Stream {
  private pending: Uint8Array | null = null;
  private started = false;

  /** The valid, complete-character prefix of pending + chunk, or null when it is not UTF-8. */
  take(chunk: Uint8Array): Uint8Array | null {
    let data = chunk;
    if (data.length === 0) return data;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let from = 0;
    if (!this.started) {
      // Byte order mark: EF BB BF, possibly split over chunks.
      const m = Math.min(3, data.length);
      let prefix = true;
      for (let k = 0; k < m; k++) if (data[k] !== BOM[k]) prefix = false;
      if (prefix && m < 3) {
        this.pending = Uint8Array.from(data);
        return data.subarray(0, 0);
      }
      this.started = true;
      if (prefix) from = 3;
    }
    const cut = completeLength(data);
    if (cut < data.length) this.pending = Uint8Array.from(data.subarray(cut));
    const out = data.subarray(from, cut);
    return isUtf8(out) ? out : null;
  }

  /** No unfinished character is left. */
  atEnd(): boolean {
    return this.pending === null;
  }
}

const BOM = [0xef, 0xbb, 0xbf];

/**
 * Length of data without an unfinished character at its end. Only a valid prefix of a character
 * is held back (as a streaming TextDecoder would): anything else is left in, to fail the check now.
 */
function completeLength(data: Uint8Array): number {
  const n = data.length;
  for (let k = n - 1, seen = 0; k >= 0 && seen < 3; k--, seen++) {
    const b = data[k]!;
    if ((b & 0xc0) === 0x80) continue;
    if (b < 0xc2 || b > 0xf4) return n;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    if (k + need <= n) return n;
    if (k + 1 < n) {
      const b1 = data[k + 1]!;
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi) return n;
    }
    return k;
  }
  return n;
}

