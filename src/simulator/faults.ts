// Fault injection: an ordered queue of explicit faults plus optional seeded
// random faults. Only valid report requests consume faults (see server.ts).
import { Rng } from './prng.js';

/** Faults a client gets past by retrying; random faults draw from these (all but 'hang') by default. */
export const FAULT_KINDS = ['429', '500', '502', '503', 'hang', 'truncate', 'html', 'slow', 'reset'] as const;
/**
 * Faults that test a client's limits and decoding: a body trickling a byte at a time, a huge body,
 * a corrupt gzip body. Queued explicitly (or listed in random kinds); never drawn by default.
 */
export const LIMIT_FAULT_KINDS = ['trickle', 'huge', 'badgzip'] as const;
export const ALL_FAULT_KINDS = [...FAULT_KINDS, ...LIMIT_FAULT_KINDS] as const;
export type FaultKind = (typeof ALL_FAULT_KINDS)[number];

/** 'huge' default size: above the connector's default limit per request (1 GiB), still finite. */
export const HUGE_DEFAULT_BYTES = 2 * 1024 ** 3;
/** 'trickle' default: one byte per 100 ms. */
export const TRICKLE_DEFAULT_MS = 100;

export interface FaultSpec {
  kind: FaultKind;
  /** how many matching requests this fault applies to; default 1 */
  times?: number;
  /** 429 only; default 1 */
  retryAfterSec?: number;
  /** slow: delay before answering, default 1500; trickle: ms between two bytes, default 100 */
  delayMs?: number;
  /** huge only: body size in bytes (before compression), default 2 GiB */
  sizeBytes?: number;
  match?: { token?: string; report?: string; startDate?: string };
}

export interface RandomFaults {
  rate: number;
  seed: number;
  kinds?: FaultKind[];
}

/** What a request looks like to the fault matcher. */
export interface FaultTarget {
  token: string;
  report: string;
  startDate: string;
}

export function isFaultKind(s: unknown): s is FaultKind {
  return typeof s === 'string' && (ALL_FAULT_KINDS as readonly string[]).includes(s);
}

/** Throws on malformed specs (admin API input). */
export function validateFaultSpec(f: unknown): FaultSpec {
  if (typeof f !== 'object' || f === null) throw new Error('fault must be an object');
  const o = f as { kind?: unknown; match?: unknown; [k: string]: unknown };
  if (!isFaultKind(o.kind)) throw new Error(`unknown fault kind (expected one of ${ALL_FAULT_KINDS.join(', ')})`);
  for (const k of ['times', 'retryAfterSec', 'delayMs', 'sizeBytes'] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw new Error(`${k} must be a non-negative number`);
  }
  if (o.match !== undefined) {
    if (typeof o.match !== 'object' || o.match === null) throw new Error('match must be an object');
    for (const [k, v] of Object.entries(o.match)) {
      if (!['token', 'report', 'startDate'].includes(k) || typeof v !== 'string') throw new Error(`bad match field ${k}`);
    }
  }
  return o as unknown as FaultSpec;
}

interface Queued {
  spec: FaultSpec;
  left: number;
}

export class FaultInjector {
  private queue: Queued[] = [];
  private readonly counts: Record<string, number> = Object.fromEntries(ALL_FAULT_KINDS.map((k) => [k, 0]));
  private readonly random?: { rate: number; rng: Rng; kinds: FaultKind[] };

  constructor(random?: RandomFaults) {
    if (random && random.rate > 0) {
      const kinds = random.kinds?.length ? random.kinds : FAULT_KINDS.filter((k) => k !== 'hang');
      this.random = { rate: random.rate, rng: new Rng(random.seed), kinds };
    }
  }

  add(faults: FaultSpec[]): void {
    for (const spec of faults) this.queue.push({ spec, left: spec.times ?? 1 });
  }

  clear(): void {
    this.queue = [];
  }

  /**
   * Fault for this request, if any: the first queued fault whose match fits wins;
   * otherwise a random one. The random PRNG is drawn on every request (even when a
   * queued fault fires) so its sequence depends only on the number of requests.
   */
  take(t: FaultTarget): FaultSpec | undefined {
    let chosen: FaultSpec | undefined;
    const rnd = this.random ? this.drawRandom() : undefined;
    const idx = this.queue.findIndex((q) => q.left > 0 && matches(q.spec, t));
    if (idx >= 0) {
      const q = this.queue[idx] as Queued;
      q.left--;
      if (q.left <= 0) this.queue.splice(idx, 1);
      chosen = q.spec;
    } else {
      chosen = rnd;
    }
    if (chosen) this.counts[chosen.kind] = (this.counts[chosen.kind] ?? 0) + 1;
    return chosen;
  }

  countsByKind(): Record<string, number> {
    return { ...this.counts };
  }

  private drawRandom(): FaultSpec | undefined {
    const r = this.random;
    if (!r) return undefined;
    const hit = r.rng.next() < r.rate;
    const kind = r.kinds[r.rng.int(r.kinds.length)] as FaultKind;
    const delay = 50 + r.rng.int(251); // random 'slow' stays ≤ 300ms
    return hit ? { kind, delayMs: delay, retryAfterSec: 1 } : undefined;
  }
}

function matches(spec: FaultSpec, t: FaultTarget): boolean {
  const m = spec.match;
  if (!m) return true;
  return (
    (m.token === undefined || m.token === t.token) &&
    (m.report === undefined || m.report === t.report) &&
    (m.startDate === undefined || m.startDate === t.startDate)
  );
}

export const MAINTENANCE_HTML =
  '<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>' +
  '<h1>Scheduled maintenance</h1><p>Rakuten Advertising reporting is undergoing scheduled maintenance. ' +
  'Please try again later.</p></body></html>';

/** What the real API sometimes returns with HTTP 200 instead of CSV. */
export const LOGIN_HTML =
  '<!DOCTYPE html><html><head><title>Rakuten Advertising - Sign In</title></head><body>' +
  '<form method="post" action="/login"><h1>Sign in</h1><label>Username <input name="username"></label>' +
  '<label>Password <input type="password" name="password"></label><button>Sign In</button></form>' +
  '<p>Your session has expired or the service is temporarily unavailable.</p></body></html>';
