/**
 * Lease takeover on a shared PostgreSQL warehouse. Two workers with the same hostname in different
 * PID namespaces (containers with a fixed hostname) cannot check each other's pids: a worker must
 * take over a lease before it expires only when the holder is provably on this machine, in this
 * boot and this PID namespace, and its pid is gone.
 *
 * The second worker is a real process running the sync engine (runSync) against a real database:
 * in a new PID namespace with the same hostname (`unshare --pid --fork --mount-proc`, root), or in
 * ours against lease rows whose owner carries another boot id / namespace, or the old
 * `host:pid:nonce` format, with a pid that does not exist here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveLeaseHolder, WORKER_ID } from '../src/sync/engine.js';
import { openWarehouse, type Opened } from '../src/warehouse/index.js';
import type { RunRecord, StateStore } from '../src/warehouse/types.js';
import { createTestPostgresUrl, postgresAvailable } from './helpers/postgres.js';

const available = await postgresAvailable();
const skip = !available && !process.env.CI ? 'PostgreSQL is not reachable (set RAKUTEN_TEST_PG)' : false;
const unshareWorks = process.platform === 'linux'
  && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const PID_NS = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;
const HOUR_MS = 3_600_000;

let db: { url: string; drop(): Promise<void> };
let wh: Opened;
const dir = mkdtempSync(join(tmpdir(), 'rc-lease-'));
const child = join(dir, 'second-worker.mts');

/** The second worker: runSync on a connector with nothing to fetch; prints whether it got the lease. */
function writeChild(): void {
  const src = (p: string) => JSON.stringify(new URL(`../src/${p}`, import.meta.url).href);
  writeFileSync(child, `
    import { readlinkSync } from 'node:fs';
    import { runSync, WORKER_ID } from ${src('sync/engine.ts')};
    import { openWarehouse } from ${src('warehouse/index.ts')};
    const [url, name, home] = process.argv.slice(2);
    const me = { pid: process.pid, pidNs: readlinkSync('/proc/self/ns/pid'), worker: WORKER_ID };
    const db = await openWarehouse(url, home);
    const connector = {
      name, url: 'https://ran-reporting.rakutenmarketing.com/en/reports/r/filters?tz=GMT', tokenSealed: 'unused',
      settings: { startDate: '2020-01-01', lookbackDays: 0, windowDays: 1, schedule: '', paused: false },
      createdAt: '2020-01-01T00:00:00.000Z', updatedAt: '2020-01-01T00:00:00.000Z',
    };
    // Nothing to fetch: a backfill of a day after today plans no windows (no network needed).
    const source = { origin: 'http://127.0.0.1:9', lang: 'en', reportKey: 'r', token: 'unused', tz: 'GMT',
      dateType: 'transaction', dateFormat: 'm/d/yy', includeSummary: false, extraParams: [] };
    let out;
    try {
      const run = await runSync({ warehouse: db.warehouse, state: db.state }, connector, source,
        { range: { from: '2999-01-01', to: '2999-01-01' }, leaseTtlMs: 600000 });
      out = { took: true, status: run.status, ...me };
    } catch (e) {
      out = { took: false, kind: e.kind, message: e.message, ...me };
    }
    await db.close();
    process.stdout.write(JSON.stringify(out) + '\\n');
  `);
}

interface SecondWorker {
  took: boolean;
  kind?: string;
  message?: string;
  status?: string;
  pid: number;
  pidNs: string;
  worker: string;
}

/** Runs the second worker (optionally in a new PID namespace, same hostname) and returns what it printed. */
function secondWorker(name: string, opts: { newPidNamespace?: boolean } = {}): Promise<SecondWorker> {
  const node = [process.execPath, '--import', 'tsx', child, db.url, name, join(dir, 'home')];
  const [cmd, ...args] = opts.newPidNamespace ? ['unshare', '--pid', '--fork', '--mount-proc', ...node] : node;
  return new Promise((resolve, reject) => {
    execFile(cmd!, args, { timeout: 120_000, cwd: new URL('..', import.meta.url).pathname }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`second worker failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as SecondWorker);
      } catch {
        reject(new Error(`second worker printed no result:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** A pid that existed a moment ago and exists no more. */
async function deadPid(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const pid = await new Promise<number>((resolve, reject) => {
      const c = execFile(process.execPath, ['-e', ''], (err) => (err ? reject(err) : resolve(c.pid!)));
    });
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no dead pid found in 20 tries');
}

/** A lease held by `owner` for an hour, and its sync run still 'running'. */
async function holdLease(name: string, owner: string, state: StateStore = wh.state): Promise<RunRecord> {
  assert.equal(await state.acquireLease(name, owner, HOUR_MS), true);
  const run: RunRecord = {
    id: `held-${randomUUID().slice(0, 8)}`, connector: name, startedAt: new Date().toISOString(), finishedAt: null, status: 'running',
    rangeStart: '2026-01-01', rangeEnd: '2026-01-31', windowsTotal: 31, windowsDone: 3, rows: 300, error: null, worker: owner,
  };
  await state.startRun(run);
  return run;
}

async function runStatus(name: string, id: string): Promise<string | undefined> {
  return (await wh.state.listRuns(name, 50)).find((r) => r.id === id)?.status;
}

before(async () => {
  if (skip) return;
  db = await createTestPostgresUrl();
  wh = await openWarehouse(db.url, join(dir, 'home'));
  writeChild();
});
after(async () => {
  await wh?.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('PostgreSQL is reachable when CI is set', { skip: !process.env.CI }, () => {
  assert.ok(available, 'PostgreSQL is unreachable: under CI the lease tests must run, not skip');
});

test('a worker in another PID namespace with the same hostname does not take over a live lease', {
  skip: skip || (!unshareWorks && 'unshare --pid --fork --mount-proc is not permitted here (needs root)'),
}, async () => {
  const name = 'shop-container';
  const held = await holdLease(name, WORKER_ID); // this test process: alive, outside the new namespace
  const second = await secondWorker(name, { newPidNamespace: true });
  assert.notEqual(second.pidNs, `pid:[${PID_NS}]`, 'the second worker ran in another PID namespace');
  assert.ok(second.pid < 10, `…where pids restart (it is pid ${second.pid})`);
  assert.equal(second.worker.split(':')[0], hostname().replace(/:/g, '_'), '…with the same hostname');
  assert.equal(second.took, false, `the second worker must not take the lease: ${JSON.stringify(second)}`);
  assert.equal(second.kind, 'busy');
  assert.match(second.message!, new RegExp(`already running \\(worker ${hostname()} pid ${process.pid}\\)`));
  assert.equal((await wh.state.leaseHolder(name))?.owner, WORKER_ID, 'the lease is still ours');
  assert.equal(await runStatus(name, held.id), 'running', 'our run was not marked interrupted');
  await wh.state.releaseLease(name, WORKER_ID);
});

test('a holder with another boot id, another PID namespace or an old-format id is left alone until its lease expires', { skip }, async () => {
  const pid = await deadPid(); // does not exist here: proves nothing about a pid elsewhere
  const owners: [string, string][] = [
    ['other-boot', `${hostname()}:${pid}:${randomUUID()}:${PID_NS}:a1b2c3d4`],
    ['other-pidns', `${hostname()}:${pid}:${BOOT_ID}:${Number(PID_NS) + 1}:a1b2c3d4`],
    ['old-format', `${hostname()}:${pid}:a1b2c3d4`],
    ['unknown-fields', `${hostname()}:${pid}::${PID_NS}:a1b2c3d4`],
  ];
  for (const [name, owner] of owners) {
    const held = await holdLease(name, owner);
    assert.equal((await liveLeaseHolder(wh.state, name))?.owner, owner, `${name}: liveLeaseHolder reports it`);
    const second = await secondWorker(name);
    assert.equal(second.took, false, `${name}: the lease must not be taken over: ${JSON.stringify(second)}`);
    assert.equal(second.kind, 'busy', name);
    assert.match(second.message!, new RegExp(`already running \\(worker ${hostname()} pid ${pid}\\)`), name);
    assert.equal((await wh.state.leaseHolder(name))?.owner, owner, `${name}: still its lease`);
    assert.equal(await runStatus(name, held.id), 'running', `${name}: its run was not marked interrupted`);
  }
});

test('a genuinely dead holder on this machine, boot and PID namespace is taken over at once', { skip }, async () => {
  const name = 'shop-crashed';
  const pid = await deadPid();
  const owner = `${hostname().replace(/:/g, '_')}:${pid}:${BOOT_ID}:${PID_NS}:deadbeef`;
  const held = await holdLease(name, owner);
  assert.equal(await liveLeaseHolder(wh.state, name), undefined, 'liveLeaseHolder ignores it');
  const second = await secondWorker(name);
  assert.equal(second.took, true, `taken over without waiting an hour for the lease: ${JSON.stringify(second)}`);
  assert.equal(second.status, 'success');
  assert.equal(await runStatus(name, held.id), 'interrupted', 'the dead worker\'s run is marked interrupted');
  assert.equal(await wh.state.leaseHolder(name), undefined, 'released after the sync');
});

test('the worker id carries host, pid, boot id and PID namespace, and comes back unchanged from PostgreSQL and DuckDB', { skip }, async () => {
  const [host, pid, boot, ns, nonce, ...rest] = WORKER_ID.split(':');
  assert.equal(host, hostname().replace(/:/g, '_'));
  assert.equal(pid, String(process.pid));
  assert.equal(boot, BOOT_ID);
  assert.equal(ns, PID_NS);
  assert.match(nonce ?? '', /^[0-9a-f]{8}$/);
  assert.deepEqual(rest, []);
  assert.deepEqual(WORKER_ID.split(':').slice(0, 2), [hostname(), String(process.pid)], 'the CLI shows host and pid');

  const duck = await openWarehouse(`duckdb:${join(dir, 'state.duckdb')}`, join(dir, 'home'));
  try {
    for (const store of [wh.state, duck.state]) {
      const name = `shop-roundtrip-${store.kind}`;
      const held = await holdLease(name, WORKER_ID, store);
      assert.equal((await store.leaseHolder(name))?.owner, WORKER_ID, `${store.kind}: lease owner unchanged`);
      assert.equal(await store.acquireLease(name, WORKER_ID, HOUR_MS), true, `${store.kind}: renewal by the same id`);
      assert.equal((await liveLeaseHolder(store, name))?.owner, WORKER_ID, `${store.kind}: a live holder (ourselves)`);
      assert.equal((await store.listRuns(name, 5)).find((r) => r.id === held.id)?.worker, WORKER_ID, `${store.kind}: run worker unchanged`);
      await store.releaseLease(name, WORKER_ID);
      assert.equal(await store.leaseHolder(name), undefined, `${store.kind}: released`);
    }
  } finally {
    await duck.close();
  }
});
