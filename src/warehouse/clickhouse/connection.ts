/**
 * ClickHouse plumbing: the warehouse URL, one HTTP client per server, SQL literal quoting, error
 * mapping and the cluster's shard list. Kept to what ClickHouse 18.16 understands: no query
 * parameters (19.x), no settings the server may not know (each optional setting is checked in
 * system.settings first), values inlined as escaped literals.
 */
import type { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ConnectorError } from '../../util/errors.js';
import { registerSecret } from '../../util/secrets.js';

export interface ClickHouseTarget {
  /** http or https, for the HTTP interface. */
  scheme: 'http' | 'https';
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** remote_servers cluster name: shard the tables over it. */
  cluster: string | null;
  /** Explicit HTTP endpoints (host:port) of the cluster's shards, in shard_num order. */
  shards: string[] | null;
  /** A state store URL (postgres://…) instead of <home>/state.duckdb. */
  state: string | null;
}

const HINT = 'use clickhouse://user:password@host:8123/database[?cluster=NAME] (clickhouses:// for HTTPS)';

export function parseClickHouseUrl(spec: string): ClickHouseTarget {
  let u: URL;
  try {
    u = new URL(spec.trim());
  } catch {
    // Never echo the spec: it may hold the password.
    throw new ConnectorError('config', 'the ClickHouse URL is not a valid URL', { hint: HINT });
  }
  const scheme = u.protocol === 'clickhouses:' ? 'https' : u.protocol === 'clickhouse:' ? 'http' : null;
  if (!scheme || !u.hostname) throw new ConnectorError('config', 'the ClickHouse URL must look like clickhouse://host:8123/database', { hint: HINT });
  const dec = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const password = dec(u.password);
  registerSecret(password);
  const database = dec(u.pathname.replace(/^\/+/, '').replace(/\/+$/, '')) || 'default';
  const known = new Set(['cluster', 'shards', 'state']);
  for (const k of u.searchParams.keys()) {
    if (!known.has(k)) throw new ConnectorError('config', `unknown ClickHouse URL option "${k}"`, { hint: 'options: cluster, shards, state' });
  }
  const shards = u.searchParams.get('shards');
  return {
    scheme,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : scheme === 'https' ? 8443 : 8123,
    user: dec(u.username) || 'default',
    password,
    database,
    cluster: u.searchParams.get('cluster') || null,
    shards: shards ? shards.split(',').map((s) => s.trim()).filter(Boolean) : null,
    state: u.searchParams.get('state') || null,
  };
}

/** The URL as shown in messages: everything but the password (and the state URL's secrets). */
export function describeTarget(t: ClickHouseTarget): string {
  const user = t.user === 'default' && !t.password ? '' : `${encodeURIComponent(t.user)}@`;
  const opts = [t.cluster ? `cluster=${t.cluster}` : '', t.shards ? `shards=${t.shards.join(',')}` : '', t.state ? 'state=postgres' : '']
    .filter(Boolean)
    .join('&');
  return `clickhouse${t.scheme === 'https' ? 's' : ''}://${user}${hostPort(t.host, t.port)}/${t.database}${opts ? `?${opts}` : ''}`;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A string literal: ClickHouse unescapes backslash sequences inside quotes. */
export function str(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A quoted identifier. */
export function ident(s: string): string {
  return `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** A Date literal from an ISO day (validated: it is inlined into SQL). */
export function day(s: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) throw new ConnectorError('bad_request', `"${s.slice(0, 40)}" is not a day (YYYY-MM-DD)`);
  return `toDate('${s}')`;
}

/** Map a client/server failure to the sync engine's error kinds, without credentials. */
export function chError(err: unknown, where: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = err as { message?: string; code?: string };
  const msg = String(e?.message ?? err);
  const sysCode = typeof e?.code === 'string' && /^E[A-Z]+/.test(e.code) ? e.code : '';
  if (sysCode === 'ECONNREFUSED' || sysCode === 'ENOTFOUND' || sysCode === 'EAI_AGAIN' || sysCode === 'ECONNRESET' || sysCode === 'EPIPE' || sysCode === 'EHOSTUNREACH') {
    return new ConnectorError('network', `cannot reach ClickHouse at ${where} (${sysCode})`, { hint: 'is the server running and the host/port right?' });
  }
  if (/timeout/i.test(msg) && !/Code: \d+/.test(msg)) return new ConnectorError('timeout', `ClickHouse at ${where} did not answer in time`);
  const code = Number(/Code: (\d+)/.exec(msg)?.[1] ?? NaN);
  // 516 (20.x+) and 192/193 (older): unknown user / wrong password.
  if (code === 516 || code === 192 || code === 193 || code === 194) {
    return new ConnectorError('config', `ClickHouse at ${where} rejected the user or password`, { hint: 'check the user and password in the warehouse URL' });
  }
  if (code === 81) return new ConnectorError('config', `ClickHouse at ${where}: ${shortMessage(msg)}`, { hint: 'create the database first or fix its name in the URL' });
  // Server busy / too many parts / network between servers: worth a retry.
  const retryable = new Set([159, 202, 203, 209, 210, 252, 241, 279, 285, 319, 999]);
  return new ConnectorError(retryable.has(code) ? 'server' : 'internal', `ClickHouse at ${where}: ${shortMessage(msg)}`);
}

/** "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = …" → the useful part. */
function shortMessage(msg: string): string {
  const m = /(Code: \d+)[.,]\s*(?:e\.displayText\(\) = )?(?:DB::Exception: )?([\s\S]*?)(?:, e\.what\(\) = [\s\S]*)?$/.exec(msg.trim());
  const text = m ? `${m[1]}: ${m[2]}` : msg;
  return text.replace(/\s*\(version [^)]*\)\s*$/, '').replace(/\s+/g, ' ').slice(0, 600);
}

/** One ClickHouse server's HTTP interface. */
export class ChServer {
  private readonly client: ClickHouseClient;
  readonly label: string;

  constructor(t: ClickHouseTarget, host: string, port: number) {
    this.label = hostPort(host, port);
    this.client = createClient({
      url: `${t.scheme}://${hostPort(host, port)}`,
      username: t.user,
      password: t.password,
      // 18.16 knows neither the newer defaults nor compression negotiation: keep requests plain.
      compression: { request: false, response: false },
      // An idle-socket timeout, not a deadline: an insert streams as fast as the report downloads.
      request_timeout: 300_000,
      max_open_connections: 8,
      application: 'rakuten-connector',
      // Its only warning would be about progress headers, which we leave off on purpose: a long
      // query would collect enough of them to overflow Node's header limit. Errors reach us as exceptions.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async rows<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    try {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return (await rs.json()) as T[];
    } catch (e) {
      throw chError(e, this.label);
    }
  }

  async run(sql: string, settings: Record<string, number> = {}): Promise<void> {
    try {
      await this.client.command({ query: sql, clickhouse_settings: settings });
    } catch (e) {
      throw chError(e, this.label);
    }
  }

  /** Stream text of a format (TabSeparated, CSV) into a table. */
  async insertStream(table: string, columns: string[], body: Readable, format: 'TabSeparated' | 'CSV', settings: Record<string, number> = {}): Promise<void> {
    try {
      await this.client.insert({
        table,
        values: body,
        format,
        columns: columns as [string, ...string[]],
        clickhouse_settings: settings,
      });
    } catch (e) {
      throw chError(e, this.label);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export interface Shard {
  num: number;
  weight: number;
  server: ChServer;
}

/**
 * The cluster's shards from system.clusters on the server of the URL. system.clusters gives native
 * (TCP) ports; the HTTP port of each shard is taken from `?shards=` or, by default, shifted like
 * the TCP ports: http = urlPort + (shardTcp − tcp of the server we talk to). That is the URL's
 * port when all servers use the same ports (separate hosts), and it fits several servers on one
 * host with parallel port ranges (scripts/clickhouse.sh).
 */
export async function discoverShards(t: ClickHouseTarget, main: ChServer): Promise<{ shards: Shard[]; mainIsShard: boolean }> {
  if (!t.cluster) throw new Error('discoverShards needs a cluster');
  const rows = await main.rows<{ shard_num: number; shard_weight: number; replica_num: number; host_name: string; port: number; is_local: number }>(
    `SELECT shard_num, shard_weight, replica_num, host_name, port, is_local FROM system.clusters WHERE cluster = ${str(t.cluster)} ORDER BY shard_num, replica_num`,
  );
  if (rows.length === 0) {
    throw new ConnectorError('config', `ClickHouse at ${main.label} has no cluster "${t.cluster}" in its remote_servers`, {
      hint: 'see SELECT DISTINCT cluster FROM system.clusters',
    });
  }
  const byShard = new Map<number, typeof rows>();
  for (const r of rows) byShard.set(Number(r.shard_num), [...(byShard.get(Number(r.shard_num)) ?? []), r]);
  for (const [num, reps] of byShard) {
    if (reps.length > 1) {
      throw new ConnectorError('config', `cluster "${t.cluster}" shard ${num} has ${reps.length} replicas; rakuten-connector supports one replica per shard`, {
        hint: 'replicas need ReplicatedMergeTree and ZooKeeper; list each server as its own shard, or use a cluster with one replica per shard',
      });
    }
  }
  if (t.shards && t.shards.length !== byShard.size) {
    throw new ConnectorError('config', `?shards= lists ${t.shards.length} endpoints but cluster "${t.cluster}" has ${byShard.size} shards`);
  }
  const self = rows.find((r) => Number(r.is_local) === 1);
  const shards: Shard[] = [];
  let i = 0;
  let mainIsShard = false;
  for (const [num, [r]] of byShard) {
    let host = r!.host_name;
    let port: number;
    if (t.shards) {
      const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(t.shards[i]!);
      if (!m) throw new ConnectorError('config', `?shards= entry "${t.shards[i]}" is not host:port`);
      host = m[1]!;
      port = Number(m[2]);
    } else {
      port = self ? t.port + (Number(r!.port) - Number(self.port)) : t.port;
    }
    const isMain = Number(r!.is_local) === 1 || (host === t.host && port === t.port);
    if (isMain) mainIsShard = true;
    shards.push({ num, weight: Number(r!.shard_weight), server: isMain ? main : new ChServer(t, host, port) });
    i++;
  }
  return { shards, mainIsShard };
}
