/** Exact decimal strings ↔ scaled BigInt units, for sums and comparisons without floats. */

export function toUnits(s: string, scale = 4): bigint {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s.trim());
  if (!m) throw new Error(`not a decimal: ${s}`);
  const frac = (m[3] ?? '').padEnd(scale, '0');
  if (frac.length > scale && !/^0*$/.test(frac.slice(scale))) throw new Error(`more than ${scale} decimals: ${s}`);
  const v = BigInt((m[2] || '0') + frac.slice(0, scale));
  return m[1] ? -v : v;
}

export function fromUnits(v: bigint, scale = 4, keep = scale): string {
  const neg = v < 0n;
  const a = (neg ? -v : v).toString().padStart(scale + 1, '0');
  const int = a.slice(0, a.length - scale);
  const frac = a.slice(a.length - scale, a.length - scale + keep);
  return `${neg ? '-' : ''}${int}${keep > 0 ? `.${frac}` : ''}`;
}

/** Same value? "12.5" equals "12.5000". */
export function sameDecimal(a: string, b: string): boolean {
  return toUnits(a) === toUnits(b);
}

/** 1234567.891 → "1,234,567.89" for display. */
export function formatMoney(s: string): string {
  const [i, f = ''] = fromUnits(toUnits(s), 4, 2).split('.');
  return `${i!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`;
}
