/**
 * Who a worker is, in leases and run history: `host:pid:bootid:pidns:nonce`.
 *
 * - host and pid come first (the CLI shows `owner.split(':').slice(0, 2)`);
 * - bootid is /proc/sys/kernel/random/boot_id (one per kernel boot, the same in every container on
 *   that kernel), pidns the inode of /proc/self/ns/pid (`pid:[4026531836]` → `4026531836`);
 *   together they say in which PID namespace of which running kernel the pid means something;
 * - nonce tells apart two ids of the same process.
 *
 * A pid can only be checked from the PID namespace it was issued in: two containers with the same
 * fixed hostname each have their own pid 1, 2, 3… So a lease holder is declared dead before its
 * lease expires only when host, boot id and PID namespace are ours and its pid does not exist.
 * Anything else (another machine or container, another boot, an unknown field, an id written by a
 * version without these fields) is left alone until its lease expires. Plain text: stored as is in
 * PostgreSQL `text` and DuckDB `VARCHAR` columns.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

export interface WorkerIdentity {
  host: string;
  /** '' when unknown (no /proc): then no pid can be proven dead. */
  bootId: string;
  pidNs: string;
}

export interface ParsedWorkerId extends WorkerIdentity {
  pid: number;
  nonce: string;
}

const BOOT_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The host name as written in worker ids (':' would shift the fields). */
function hostField(h: string): string {
  return h.replace(/:/g, '_') || 'unknown-host';
}

function readBootId(): string {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().toLowerCase();
    return BOOT_ID_RE.test(id) ? id : '';
  } catch {
    return '';
  }
}

function readPidNs(): string {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '';
  } catch {
    return '';
  }
}

let cached: WorkerIdentity | undefined;

/** This process's machine, boot and PID namespace (read once). */
export function localIdentity(): WorkerIdentity {
  cached ??= { host: hostField(hostname()), bootId: readBootId(), pidNs: readPidNs() };
  return cached;
}

export function makeWorkerId(opts: { pid?: number; identity?: WorkerIdentity; nonce?: string } = {}): string {
  const id = opts.identity ?? localIdentity();
  return [hostField(id.host), opts.pid ?? process.pid, id.bootId, id.pidNs, opts.nonce ?? randomUUID().slice(0, 8)].join(':');
}

/** The fields of a worker id in the current format, or undefined (old `host:pid:nonce` ids included). */
export function parseWorkerId(owner: string): ParsedWorkerId | undefined {
  const f = owner.split(':');
  if (f.length !== 5) return undefined;
  const [host, pid, bootId, pidNs, nonce] = f as [string, string, string, string, string];
  if (!host || !/^[1-9]\d{0,9}$/.test(pid)) return undefined;
  if (!BOOT_ID_RE.test(bootId) || !/^\d+$/.test(pidNs)) return undefined;
  return { host, pid: Number(pid), bootId, pidNs, nonce };
}

/**
 * True only when the owner is provably a process of this machine, boot and PID namespace that no
 * longer exists. Unknown, foreign or old-format owners: false (wait for the lease to expire).
 */
export function isDeadLocalWorker(owner: string, self: WorkerIdentity = localIdentity()): boolean {
  const p = parseWorkerId(owner);
  if (!p || !self.bootId || !self.pidNs) return false;
  if (p.host !== hostField(self.host) || p.bootId !== self.bootId || p.pidNs !== self.pidNs) return false;
  if (p.pid === process.pid) return false; // this very process (another worker id of ours): alive
  try {
    process.kill(p.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: exists, owned by someone else
  }
}
