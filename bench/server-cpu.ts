/**
 * The CPU a local database server spends for one benchmark run, read from /proc (Linux): the
 * ClickHouse rows of docs/BENCHMARKS.md compare the connector with a limit whose work is split
 * differently between the client and the server, so the client's CPU alone does not say where the
 * time goes. The server is found by the TCP port it listens on (its HTTP port in the URL), and a
 * run's share includes the background merges it caused: after the run, the count goes on until the
 * server has been idle for half a second (30 s at most).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

/** Inodes of the sockets listening on these TCP ports (IPv4 and IPv6). */
function listeningInodes(ports: number[]): Set<string> {
  const want = new Set(ports);
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length < 10 || p[3] !== '0A') continue; // 0A = LISTEN
      const port = parseInt(p[1]!.split(':')[1]!, 16);
      if (want.has(port)) inodes.add(p[9]!);
    }
  }
  return inodes;
}

/** Processes holding a socket that listens on one of these ports (we must be allowed to read their fds). */
export function pidsListening(ports: number[]): number[] {
  const inodes = listeningInodes(ports);
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      for (const fd of readdirSync(`/proc/${d}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) {
          pids.push(Number(d));
          break;
        }
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** User + system CPU seconds of a process so far (NaN when it cannot be read). */
export function processCpuS(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, utime 14 and stime 15 (1-based) → 11 and 12 here.
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return NaN;
  }
}

const total = (pids: number[]): number => pids.reduce((a, p) => a + processCpuS(p), 0);

/** Counts the servers' CPU from start() until the run's work (merges included) has died down. */
export class ServerCpu {
  private readonly pids: number[];
  private begin = 0;

  constructor(urls: string[]) {
    this.pids = pidsListening(urls.map((u) => Number(new URL(u).port)));
  }

  /** Whether the servers were found (they run on this machine and their /proc is readable). */
  get found(): boolean {
    return this.pids.length > 0;
  }

  start(): void {
    this.begin = total(this.pids);
  }

  /** Seconds of CPU since start(), once half a second passes with under 0.02 s spent (30 s at most). */
  async stop(): Promise<number> {
    if (!this.found) return NaN;
    let last = total(this.pids);
    for (let waited = 0; waited < 30_000; waited += 500) {
      await sleep(500);
      const now = total(this.pids);
      if (now - last < 0.02) return last - this.begin;
      last = now;
    }
    return last - this.begin;
  }
}
