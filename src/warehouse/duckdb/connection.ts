/**
 * One DuckDB instance per file per process, shared by the warehouse and the state store. DuckDB
 * lets one process write a file: a second process gets a clear 'busy' error, not a lock dump.
 */
import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConnectorError } from '../../util/errors.js';
import { Mutex } from '../../util/mutex.js';

const instances = new Map<string, { instance: DuckDBInstance; refs: number }>();

export async function openDuckDb(path: string): Promise<DuckDBInstance> {
  const hit = instances.get(path);
  if (hit) {
    hit.refs++;
    return hit.instance;
  }
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const pid = /PID (\d+)/.exec(msg)?.[1];
    if (/lock/i.test(msg)) {
      throw new ConnectorError('busy', `the warehouse file ${path} is in use by another rakuten-connector process${pid ? ` (pid ${pid})` : ''}`, {
        hint: 'a sync or `serve` is running on this home: wait for it to finish, or use the running server (rakuten-connector serve) to start syncs',
      });
    }
    throw e;
  }
  instances.set(path, { instance, refs: 1 });
  return instance;
}

export function releaseDuckDb(path: string): void {
  const hit = instances.get(path);
  if (!hit) return;
  if (--hit.refs <= 0) {
    instances.delete(path);
    hit.instance.closeSync();
  }
}

/** A connection whose statements run one at a time, in order. */
export class SerialConnection {
  private readonly mutex = new Mutex();
  private constructor(private readonly conn: DuckDBConnection) {}

  static async open(instance: DuckDBInstance): Promise<SerialConnection> {
    return new SerialConnection(await instance.connect());
  }

  /** Run fn with exclusive use of the connection (for multi-statement transactions). */
  exclusive<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.mutex.run(() => fn(this.conn));
  }

  run(sql: string, values?: DuckDBValue[]): Promise<void> {
    return this.exclusive(async (c) => {
      await c.run(sql, values);
    });
  }

  rows(sql: string, values?: DuckDBValue[]): Promise<Record<string, unknown>[]> {
    return this.exclusive(async (c) => (await c.runAndReadAll(sql, values)).getRowObjectsJson() as Record<string, unknown>[]);
  }

  close(): void {
    this.conn.closeSync();
  }
}

/** Run fn inside BEGIN/COMMIT, rolling back on any error. */
export async function inTransaction<T>(c: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  await c.run('BEGIN TRANSACTION');
  try {
    const out = await fn();
    await c.run('COMMIT');
    return out;
  } catch (e) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
