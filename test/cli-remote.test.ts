/**
 * Issue 11, item 2: the CLI works while `serve` runs on the same (DuckDB) home. A real `serve`
 * process holds the warehouse; the real CLI finds it through <home>/serve.json and runs list,
 * status, add, test, edit, pause, resume, remove, remove-data and sync through its API, printing
 * exactly what the same command prints locally (compared with a twin home without a server) with
 * the same exit codes. A stale serve.json (dead pid, closed port, another credential) is ignored;
 * the file is mode 0600 and its credential never appears in any output.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from '../src/app/app.js';
import { ACME_TOKEN, GLOBEX_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { type CliResult, runCli, startCli, transcript } from './helpers/cli.js';
import { waitFor } from './helpers/browser.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const yesterday = addDays(today, -1);
const WRONG_TOKEN = 'tok_wrong_0000000000000000000099';

/** What differs between two runs of any command: the time of a --json log line. */
const stamp = (s: string) => s.replace(/"time":"[^"]+"/g, '"time":"T"');
/** What differs between two runs of the same sync, too: durations, rates, run ids, retry delays. */
const norm = (s: string) => stamp(s)
  .replace(/[\d,]+ rows\/s/g, 'N rows/s')
  .replace(/ in \d+\.\ds/g, ' in Ts')
  .replace(/run \d{8,}-[0-9a-f]+/g, 'run ID')
  .replace(/retry (\d+) in [\d.]+s/g, 'retry $1 in Ts')
  .split('\n').map(windowLine).reduce(sortWindowRuns, [] as string[][]).flat().join('\n');
/**
 * Windows run several at once, so the order they commit in (and the running counts of a progress
 * line) differ between two runs of the same sync; each window's own line (its day, its rows) does
 * not. Window lines lose their running counts, and each run of consecutive ones is sorted.
 */
function windowLine(l: string): string {
  return l.replace(/^(\[[^\]]+\]) \d+\/(\d+) windows · [\d,]+ rows · /, '$1 ?/$2 windows · ? rows · ');
}
function sortWindowRuns(blocks: string[][], l: string): string[][] {
  const isWindow = / \?\/\d+ windows · /.test(l);
  const last = blocks.at(-1);
  if (isWindow && last && / \?\/\d+ windows · /.test(last[0]!)) {
    last.push(l);
    last.sort();
  } else blocks.push([l]);
  return blocks;
}
const same = (a: CliResult, b: CliResult, what: string, n: (s: string) => string = stamp) => {
  assert.equal(a.code, b.code, `${what}: exit code\n${a.stderr}\n---\n${b.stderr}`);
  assert.equal(n(a.stdout), n(b.stdout), `${what}: stdout`);
  assert.equal(n(a.stderr), n(b.stderr), `${what}: stderr`);
};

describe('the CLI through a running serve (DuckDB home)', () => {
  let sim: Simulator;
  let env: Record<string, string>;
  const home = tempHome('rc-remote-'); // serve runs here
  const twin = tempHome('rc-remote-twin-'); // the same commands, locally
  const serveLogs: string[] = [];
  const credentials: string[] = [];
  const url = (token: string) => `${sim.url}/en/reports/affiliate-report/filters?include_summary=N&tz=GMT&date_type=transaction&date_format=m/d/yy&token=${token}`;
  const cli = (h: string, ...args: string[]) => runCli(args, { home: h, env });
  const READS = [['list'], ['--json', 'list'], ['status', 'acme'], ['--json', 'status', 'acme'], ['status', 'acme', '--runs', '1'], ['status', 'nope'], ['--json', 'status', 'nope']];
  const local = new Map<string, CliResult>();
  let serve: ReturnType<typeof startCli> | undefined;

  async function startServe(more: Record<string, string> = {}): Promise<{ url: string; pid: number }> {
    serve = startCli(['serve', '--port', '0'], { home, env: { ...env, ...more } });
    const s = serve;
    s.done.then((r) => serveLogs.push(r.stderr));
    const base = await waitFor(() => /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(s.stderrSoFar())?.[1], 'serve to listen', 20_000);
    await waitFor(() => existsSync(join(home, 'serve.json')), 'serve.json');
    credentials.push((JSON.parse(readFileSync(join(home, 'serve.json'), 'utf8')) as { credential: string }).credential);
    return { url: base, pid: s.child.pid! };
  }

  before(async () => {
    sim = await startSimulator({ port: 0, rowsPerDay: 5, today });
    env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_MAX_ATTEMPTS: '2', RAKUTEN_CONNECTOR_ADMIN_TOKEN: '' };
    for (const h of [home, twin]) {
      const add = await cli(h, 'add', '--name', 'acme', '--url', url(ACME_TOKEN), '--start-date', yesterday);
      assert.equal(add.code, 0, add.stderr);
      const sync = await cli(h, 'sync', 'acme');
      assert.equal(sync.code, 0, sync.stderr);
    }
    for (const args of READS) local.set(args.join(' '), await cli(home, ...args));
  });

  after(async () => {
    if (serve && serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      await serve.done;
    }
    await sim?.close();
    const all = [...transcript, ...serveLogs].join('\n');
    for (const t of [ACME_TOKEN, GLOBEX_TOKEN, WRONG_TOKEN, ...credentials]) assert.ok(!all.includes(t), 'no token or credential in any output');
    rmSync(home, { recursive: true, force: true });
    rmSync(twin, { recursive: true, force: true });
  });

  it('serve writes <home>/serve.json, mode 0600, with its URL and pid', async () => {
    const s = await startServe();
    const path = join(home, 'serve.json');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const f = JSON.parse(readFileSync(path, 'utf8')) as { url: string; pid: number; credential: string };
    assert.equal(f.url, s.url);
    assert.equal(f.pid, s.pid);
    assert.ok(f.credential.length >= 40);
    // The CLI's routes want the credential; the handshake does not give it away.
    assert.equal((await fetch(`${s.url}/api/cli/call`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"method":"statuses"}' })).status, 401);
    assert.equal((await fetch(`${s.url}/api/cli/call`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer nope-nope-nope-nope-nope-nope-nope-nope' }, body: '{"method":"statuses"}' })).status, 401);
    const hello = await (await fetch(`${s.url}/api/cli/hello?nonce=abc`)).text();
    assert.ok(!hello.includes(f.credential));
  });

  it('list and status print what they print locally, with the same exit codes', async () => {
    for (const args of READS) same(await cli(home, ...args), local.get(args.join(' '))!, args.join(' '));
    assert.equal(local.get('status nope')!.code, 1);
  });

  it('add, test, edit, pause, resume, remove, remove-data: the same output and exit codes as locally', async () => {
    const steps: string[][] = [
      ['add', '--name', 'g1', '--url', url(GLOBEX_TOKEN), '--start-date', yesterday],
      ['add', '--name', 'g1', '--url', url(GLOBEX_TOKEN), '--start-date', yesterday],
      ['add', '--name', 'bad', '--url', url(WRONG_TOKEN)],
      ['test', 'g1'],
      ['test', 'nope'],
      ['--json', 'test', 'g1'],
      ['edit', 'g1', '--lookback-days', '7', '--schedule', ''],
      ['edit', 'g1', '--url', url(WRONG_TOKEN)],
      ['edit', 'nope', '--lookback-days', '3'],
      ['pause', 'g1'],
      ['--json', 'pause', 'g1'],
      ['resume', 'g1'],
      ['pause', 'nope'],
      ['list'],
      ['status', 'g1'],
      ['remove', 'g1'],
      ['remove', 'g1'],
      ['remove-data', 'g1'],
      ['--json', 'remove', 'nope'],
      ['list'],
    ];
    for (const args of steps) {
      const [remote, mine] = [await cli(home, ...args), await cli(twin, ...args)];
      same(remote, mine, args.join(' '));
    }
  });

  it('sync NAME, sync --all and a backfill run through the server, printing the local lines', async () => {
    for (const args of [['sync', 'acme'], ['sync', '--all'], ['sync', 'acme', '--from', yesterday, '--to', today], ['--json', 'sync', 'nope']]) {
      const [remote, mine] = [await cli(home, ...args), await cli(twin, ...args)];
      same(remote, mine, args.join(' '), norm);
    }
    const r = await cli(home, 'sync', 'acme');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^synced acme: 2 windows, 10 rows in \d+\.\ds \(.+\), run \S+\n$/);
    assert.match(r.stderr, /\[acme\] syncing .+: 2 window\(s\)/);
    const all = await cli(home, 'sync', '--all');
    assert.match(all.stdout, /sync --all: 1 synced, 0 failed, 0 skipped \(synced by another worker\)\n$/);
    // A failing sync fails the same way (exit 1, the same error).
    const failing = async (h: string) => {
      sim.addFaults([{ kind: '500', times: 50, match: { token: ACME_TOKEN } }]);
      try {
        return await cli(h, 'sync', 'acme', '--concurrency', '1');
      } finally {
        sim.clearFaults();
      }
    };
    const [remote, mine] = [await failing(home), await failing(twin)];
    assert.equal(remote.code, 1, remote.stderr);
    assert.equal(mine.code, 1);
    const last = (s: string) => s.trim().split('\n').at(-1);
    assert.equal(last(remote.stderr), last(mine.stderr));
    assert.match(remote.stderr, /--concurrency does not apply: the running server syncs with its own settings/);
  });

  it('a sync the server runs already: `sync NAME` is refused, `sync --all` waits for it and counts it as skipped', async () => {
    sim.addFaults([{ kind: 'slow', delayMs: 6000, times: 4, match: { token: ACME_TOKEN } }]);
    const first = startCli(['sync', 'acme'], { home, env });
    try {
      await waitFor(() => /\[acme\] syncing/.test(first.stderrSoFar()), 'the first sync to start');
      const again = await cli(home, 'sync', 'acme');
      assert.equal(again.code, 1);
      assert.equal(again.stderr, 'error: [acme] sync failed: connector "acme" is syncing right now (wait for it to finish; `rakuten-connector status` shows its progress)\n');
      const all = await cli(home, 'sync', '--all');
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stderr, /^\[acme\] being synced by worker \S+ pid \d+; will check again\n\[acme\] synced by another worker\n$/);
      assert.equal(all.stdout, 'sync --all: 0 synced, 0 failed, 1 skipped (synced by another worker)\n');
      const r = await first.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^synced acme: 2 windows, 10 rows/);
    } finally {
      sim.clearFaults();
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
  });

  it('a serve.json with another credential is not believed: the command is refused as before', async () => {
    const path = join(home, 'serve.json');
    const real = readFileSync(path, 'utf8');
    const forged = JSON.stringify({ ...JSON.parse(real), credential: 'x'.repeat(43) });
    writeFileSync(path, forged, { mode: 0o600 });
    try {
      const r = await cli(home, 'list');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: the warehouse file .* is in use by another rakuten-connector process/);
      assert.equal(r.stdout, '');
    } finally {
      writeFileSync(path, real, { mode: 0o600 });
    }
    assert.equal((await cli(home, 'list')).code, 0);
  });

  it('serve removes serve.json when it stops; a file left by a killed serve is ignored', async () => {
    serve!.child.kill('SIGTERM');
    assert.equal((await serve!.done).code, 0);
    assert.ok(!existsSync(join(home, 'serve.json')), 'removed at shutdown');

    await startServe();
    serve!.child.kill('SIGKILL');
    await serve!.done;
    assert.ok(existsSync(join(home, 'serve.json')), 'a killed serve leaves its file');
    const list = await cli(home, 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stderr, '');

    // A live pid but nothing listening, while the warehouse is held (here by this process): refused as before.
    writeFileSync(join(home, 'serve.json'), JSON.stringify({ version: 1, url: 'http://127.0.0.1:9', pid: process.pid, credential: 'y'.repeat(43) }), { mode: 0o600 });
    const app = await App.open({ home });
    try {
      const r = await cli(home, 'status', 'acme');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: the warehouse file .* is in use by another rakuten-connector process/);
    } finally {
      await app.close();
    }
    same(await cli(home, 'list'), list, 'stale file, warehouse free: local');
  });

  it('with RAKUTEN_CONNECTOR_ADMIN_TOKEN set, the credential of serve.json is the CLI\'s login', async () => {
    const before = await cli(home, 'status', 'acme');
    const s = await startServe({ RAKUTEN_CONNECTOR_ADMIN_TOKEN: 'admin-token-for-the-test-0123456789' });
    assert.equal((await fetch(`${s.url}/api/connectors`)).status, 401);
    same(await cli(home, 'status', 'acme'), before, 'status through a server with an admin token');
    serve!.child.kill('SIGTERM');
    assert.equal((await serve!.done).code, 0);
    assert.ok(!existsSync(join(home, 'serve.json')));
  });
});
