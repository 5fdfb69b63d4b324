/**
 * `sync --all` syncs connectors in parallel within a bound (--parallel) and ends with a tally
 * (synced, failed, skipped), in text and in --json. Real CLI processes against the simulator; the
 * simulator answers slowly so that runs which overlap are seen to overlap. Plus the two small
 * helpers the parallel paths are built on (eachLimited, Batcher).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACME_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { eachLimited } from '../src/util/pool.js';
import { Batcher } from '../src/util/batcher.js';
import { runCli } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const KEY_A = 'key-a-0123456789abcdef0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef0123456789abcdef';

interface Run { connector: string; startedAt: string; finishedAt: string }

/** The JSON lines of a `--json` command's stdout. */
const jsonLines = (stdout: string): Record<string, unknown>[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('sync --all', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const url = () => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${ACME_TOKEN}`;

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_CONNECTOR_KEY: KEY_B };
  });
  after(async () => {
    await sim?.close();
  });

  async function homeWith(names: string[]): Promise<string> {
    const home = tempHome('rc-syncall-');
    for (const n of names) {
      const add = await runCli(['add', '--name', n, '--url', url(), '--start-date', today, '--schedule', ''], { home, env });
      assert.equal(add.code, 0, add.stdout + add.stderr);
    }
    return home;
  }

  /** Every report request answers after 600 ms from now on (until cleared). */
  const slowReports = () => {
    sim.clearFaults();
    sim.addFaults([{ kind: 'slow', delayMs: 600, times: 1000 }]);
  };

  it('--parallel 3 runs three connectors at once; --parallel 1 one after another; the tally counts them', async () => {
    const home = await homeWith(['p1', 'p2', 'p3']);
    try {
      slowReports();
      const par = await runCli(['--json', 'sync', '--all', '--parallel', '3'], { home, env });
      assert.equal(par.code, 0, par.stderr);
      const lines = jsonLines(par.stdout);
      const runs = lines.filter((l) => l.event === 'summary').map((l) => l.run as Run);
      assert.deepEqual(runs.map((r) => r.connector).sort(), ['p1', 'p2', 'p3']);
      const lastStart = Math.max(...runs.map((r) => Date.parse(r.startedAt)));
      const firstEnd = Math.min(...runs.map((r) => Date.parse(r.finishedAt)));
      assert.ok(lastStart < firstEnd, `the three runs overlap: ${JSON.stringify(runs)}`);
      assert.deepEqual(lines.at(-1), { event: 'tally', synced: 3, failed: 0, skipped: 0, failedConnectors: [], skippedConnectors: [] });

      const seq = await runCli(['--json', 'sync', '--all', '--parallel', '1'], { home, env });
      assert.equal(seq.code, 0, seq.stderr);
      const one = jsonLines(seq.stdout).filter((l) => l.event === 'summary').map((l) => l.run as Run);
      assert.equal(one.length, 3);
      for (let i = 1; i < one.length; i++) {
        assert.ok(Date.parse(one[i]!.startedAt) >= Date.parse(one[i - 1]!.finishedAt), `one after another: ${JSON.stringify(one)}`);
      }
    } finally {
      sim.clearFaults();
    }
  });

  it('ends with a tally naming what failed, and exits 1; --parallel is refused without --all (exit 2)', async () => {
    const home = await homeWith(['good-1', 'good-2']);
    // A connector whose token was sealed with another key fails at once.
    const old = await runCli(['add', '--name', 'sealed-elsewhere', '--url', url(), '--start-date', addDays(today, -1), '--schedule', ''], { home, env: { ...env, RAKUTEN_CONNECTOR_KEY: KEY_A } });
    assert.equal(old.code, 0, old.stderr);
    const all = await runCli(['sync', '--all'], { home, env });
    assert.equal(all.code, 1, all.stdout + all.stderr);
    assert.match(all.stderr, /\[sealed-elsewhere\] sync failed: cannot decrypt the stored token/);
    assert.match(all.stdout, /^sync --all: 2 synced, 1 failed \(sealed-elsewhere\), 0 skipped \(synced by another worker\)$/m);
    const json = await runCli(['--json', 'sync', '--all'], { home, env });
    assert.equal(json.code, 1);
    assert.deepEqual(jsonLines(json.stdout).at(-1), { event: 'tally', synced: 2, failed: 1, skipped: 0, failedConnectors: ['sealed-elsewhere'], skippedConnectors: [] });

    const misuse = await runCli(['sync', 'good-1', '--parallel', '2'], { home, env });
    assert.equal(misuse.code, 2, misuse.stderr);
    assert.match(misuse.stderr, /--parallel goes with --all/);
    const zero = await runCli(['sync', '--all', '--parallel', '0'], { home, env });
    assert.equal(zero.code, 2, zero.stderr);
  });
});

describe('eachLimited', () => {
  it('never runs more than the limit at once, runs every item, and rethrows a failure after the rest', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const work = async (i: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5 + (i % 3) * 5));
      running--;
      if (i === 4) throw new Error('item 4');
      done.push(i);
    };
    await assert.rejects(eachLimited([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3, work), /item 4/);
    assert.equal(peak, 3);
    assert.deepEqual(done.sort((a, b) => a - b), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
  });

  it('starts nothing once stopped', async () => {
    const seen: number[] = [];
    let stop = false;
    await eachLimited([1, 2, 3, 4], 1, async (i) => {
      seen.push(i);
      if (i === 2) stop = true;
    }, () => stop);
    assert.deepEqual(seen, [1, 2]);
  });
});

describe('Batcher', () => {
  it('sends the first item alone, then what arrived meanwhile together (at most max), and fails a whole batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher<number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await gate;
      if (items.includes(13)) throw new Error('batch with 13');
    }, 3);
    const first = b.add(1);
    const rest = [10, 11, 12, 13].map((i) => b.add(i).then(() => 'ok', (e: Error) => e.message));
    release();
    await first;
    assert.deepEqual(await Promise.all(rest), ['ok', 'ok', 'ok', 'batch with 13']);
    assert.deepEqual(batches, [[1], [10, 11, 12], [13]]);
  });
});

describe('Batcher with overlap', () => {
  it('starts a second lane only for waiting work that qualifies, up to `lanes`', async () => {
    const started: number[][] = [];
    const gates: (() => void)[] = [];
    const b = new Batcher<number>(async (items) => {
      started.push(items);
      await new Promise<void>((r) => gates.push(r));
    }, Number.POSITIVE_INFINITY, { lanes: 2, when: (waiting) => waiting.some((n) => n >= 100) });
    const p1 = b.add(1);
    const p2 = b.add(2); // small: waits for the first batch
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [[1]]);
    const p3 = b.add(100); // big: a second lane takes what waits (2 and 100)
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [[1], [2, 100]]);
    const p4 = b.add(200); // both lanes busy: waits
    await new Promise((r) => setImmediate(r));
    assert.equal(started.length, 2);
    gates[0]!();
    await p1;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [[1], [2, 100], [200]]);
    gates[1]!();
    gates[2]!();
    await Promise.all([p2, p3, p4]);
  });
});
