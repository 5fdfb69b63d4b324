/**
 * Server-side login state, kept in memory (one process; a restart signs everyone out):
 * - SessionStore: random session ids (256 bits from the CSPRNG) for the login cookie. The cookie
 *   never holds the admin token or anything derived from it; a session ends after 12 h without
 *   use, 7 days after login, or at logout (revoked here, so an old cookie stops working).
 * - FailureThrottle: wrong admin tokens per client (login form and Bearer header alike). After 5
 *   wrong tries within a minute the client waits (429 + Retry-After) until the oldest of them is a
 *   minute old. Both maps are bounded, so no client can grow them without limit.
 */
import { createHash, randomBytes } from 'node:crypto';

export const SESSION_IDLE_MS = 12 * 3_600_000;
export const SESSION_MAX_AGE_MS = 7 * 86_400_000;
const MAX_SESSIONS = 1_000;

const hash = (id: string) => createHash('sha256').update(id, 'utf8').digest('base64url');

export class SessionStore {
  /** By the id's hash: a look at memory does not reveal a usable cookie. Insertion order = age. */
  private readonly sessions = new Map<string, { created: number; seen: number }>();

  constructor(
    private readonly now: () => number,
    private readonly limits = { idleMs: SESSION_IDLE_MS, maxAgeMs: SESSION_MAX_AGE_MS, max: MAX_SESSIONS },
  ) {}

  /** A new session; its id goes into the cookie. */
  create(): string {
    const t = this.now();
    for (const [k, s] of this.sessions) if (this.expired(s, t)) this.sessions.delete(k);
    while (this.sessions.size >= this.limits.max) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(hash(id), { created: t, seen: t });
    return id;
  }

  /** Whether the cookie's id is a live session; a use counts as activity. */
  check(id: string | undefined): boolean {
    if (!id || id.length > 128) return false;
    const k = hash(id);
    const s = this.sessions.get(k);
    if (!s) return false;
    const t = this.now();
    if (this.expired(s, t)) {
      this.sessions.delete(k);
      return false;
    }
    s.seen = t;
    return true;
  }

  revoke(id: string | undefined): void {
    if (id) this.sessions.delete(hash(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Seconds a cookie should live in the browser (the absolute limit). */
  get maxAgeSeconds(): number {
    return Math.floor(this.limits.maxAgeMs / 1000);
  }

  private expired(s: { created: number; seen: number }, t: number): boolean {
    return t - s.seen > this.limits.idleMs || t - s.created > this.limits.maxAgeMs;
  }
}

export class FailureThrottle {
  /** Times of each client's recent failures (at most `max`), least recently failed first. */
  private readonly clients = new Map<string, number[]>();

  constructor(
    private readonly now: () => number,
    readonly limits = { max: 5, windowMs: 60_000, maxClients: 10_000 },
  ) {}

  /** Seconds this client must wait before its next try, or 0 when it may try now. */
  retryAfter(client: string): number {
    const recent = this.recent(client);
    if (recent.length < this.limits.max) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.limits.windowMs - this.now()) / 1000));
  }

  failed(client: string): void {
    const recent = [...this.recent(client), this.now()].slice(-this.limits.max);
    this.clients.delete(client);
    this.clients.set(client, recent);
    while (this.clients.size > this.limits.maxClients) this.clients.delete(this.clients.keys().next().value!);
  }

  succeeded(client: string): void {
    this.clients.delete(client);
  }

  get size(): number {
    return this.clients.size;
  }

  private recent(client: string): number[] {
    const list = this.clients.get(client);
    if (!list) return [];
    const since = this.now() - this.limits.windowMs;
    const recent = list.filter((t) => t > since);
    if (recent.length === 0) this.clients.delete(client);
    else if (recent.length !== list.length) this.clients.set(client, recent);
    return recent;
  }
}
