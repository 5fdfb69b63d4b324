/**
 * Logs through pino (issue 13): `serve` (its stderr not a terminal) and `--json` write one JSON
 * line per event, with `level`, an ISO `time`, `msg` and the event's fields, through the same
 * redactor as everything else; without --json the same records read as plain lines. A secret
 * with characters JSON escapes is masked too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Output } from '../src/app/output.js';
import { registerSecret } from '../src/util/secrets.js';
import { ACME_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { runCli, startCli } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';

interface LogLine { level: string; time: string; msg: string; event?: string; connector?: string; [k: string]: unknown }

function capture(): { stream: NodeJS.WriteStream; text(): string } {
  let text = '';
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/** Every line parsed as JSON (a line that is not fails the test, naming it). */
function jsonLines(text: string): LogLine[] {
  return text.trim().split('\n').filter(Boolean).map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
}

describe('logging', () => {
  it('--json: one pino JSON line per event, level as a word, ISO time, fields kept; plain lines otherwise; secrets masked in both', () => {
    const secret = 'pa"ss\\word-4x7q-secret';
    registerSecret(secret);
    const json = capture();
    const o = new Output(true, json.stream, json.stream);
    o.log('info', 'hello', { event: 'greeting', connector: 'acme', rows: 3 });
    o.log('warn', `the password is ${secret}`, { detail: `again ${secret}` });
    const lines = jsonLines(json.text());
    assert.equal(lines.length, 2);
    assert.deepEqual({ ...lines[0], time: undefined }, { level: 'info', time: undefined, msg: 'hello', event: 'greeting', connector: 'acme', rows: 3 });
    assert.match(lines[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(lines[1]!.level, 'warn');
    assert.ok(!json.text().includes('4x7q') && !lines[1]!.msg.includes('4x7q') && !String(lines[1]!.detail).includes('4x7q'), json.text());
    // A secret ending in a quote: its mask would end in one too, and must not break the line.
    const quoted = 'ends-in-a-quote-8k2m"';
    registerSecret(quoted);
    const j2 = capture();
    new Output(true, j2.stream, j2.stream).log('error', `login ${quoted} refused`, { url: `smtp://u:${quoted}@h` });
    const [l2] = jsonLines(j2.text());
    assert.ok(!j2.text().includes('8k2m"') && !l2!.msg.includes('8k2m'), j2.text());
    // A field may not overwrite the record's own keys.
    const j3 = capture();
    new Output(true, j3.stream, j3.stream).log('info', 'real', { level: 'fake', msg: 'fake', time: 'fake' });
    assert.deepEqual(jsonLines(j3.text()).map((l) => [l.level, l.msg]), [['info', 'real']]);

    const plain = capture();
    const p = new Output(false, plain.stream, plain.stream);
    p.log('info', 'hello', { event: 'greeting' });
    p.log('warn', `careful with ${secret}`);
    p.log('error', 'it broke');
    const text = plain.text();
    assert.equal(text.split('\n')[0], 'hello');
    assert.match(text.split('\n')[1]!, /^warn: careful with \S+$/);
    assert.equal(text.split('\n')[2], 'error: it broke');
    assert.ok(!text.includes('4x7q'), text);
  });

  describe('serve and the CLI, end to end', () => {
    let sim: Simulator;
    const today = todayIn('GMT');
    before(async () => {
      sim = await startSimulator({ port: 0, rowsPerDay: 3, today });
    });
    after(async () => {
      await sim?.close();
    });

    it('serve under a supervisor (stderr not a terminal): every log line is a JSON event, none carries the token', async () => {
      const home = tempHome('rc-logging-');
      const env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host, RAKUTEN_CONNECTOR_ADMIN_TOKEN: '' };
      const s = startCli(['serve', '--port', '0'], { home, env });
      try {
        let base = '';
        const deadline = Date.now() + 20_000;
        while (!(base = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(s.stderrSoFar())?.[1] ?? '')) {
          if (Date.now() > deadline) throw new Error(`serve did not listen: ${s.stderrSoFar()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const u = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&network=1&token=${ACME_TOKEN}`;
        const res = await fetch(`${base}/api/connectors`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'acme', url: u, startDate: addDays(today, -2) }) });
        assert.equal(res.status, 201, await res.text());
        while (!s.stderrSoFar().includes('"event":"sync-done"')) {
          if (Date.now() > deadline + 20_000) throw new Error(`no sync-done: ${s.stderrSoFar()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        s.child.kill('SIGTERM');
        const done = await s.done;
        assert.equal(done.code, 0, done.stderr);
        const lines = jsonLines(done.stderr);
        assert.ok(lines.every((l) => ['info', 'warn', 'error'].includes(l.level) && !Number.isNaN(Date.parse(l.time)) && typeof l.msg === 'string'), done.stderr);
        const events = lines.map((l) => l.event).filter(Boolean);
        for (const e of ['listening', 'saved', 'sync-start', 'sync-done', 'shutdown', 'stopped']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
        assert.deepEqual(lines.filter((l) => l.event === 'sync-done').map((l) => l.connector), ['acme']);
        assert.ok(!done.stderr.includes(ACME_TOKEN) && !done.stdout.includes(ACME_TOKEN));
      } finally {
        if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }
    });

    it('--json sync: its log lines are JSON events too (and its result a JSON line on stdout)', async () => {
      const home = tempHome('rc-logging-');
      const env = { RAKUTEN_ALLOWED_HOSTS: new URL(sim.url).host };
      const u = `${sim.url}/en/reports/affiliate-report/filters?tz=GMT&date_type=transaction&network=1&token=${ACME_TOKEN}`;
      assert.equal((await runCli(['add', '--name', 'acme', '--url', u, '--start-date', addDays(today, -1), '--lookback-days', '0'], { home, env })).code, 0);
      const r = await runCli(['--json', 'sync', 'acme'], { home, env });
      assert.equal(r.code, 0, r.stderr);
      const logs = jsonLines(r.stderr);
      assert.ok(logs.some((l) => l.event === 'start' && l.connector === 'acme'), r.stderr);
      assert.ok(logs.some((l) => l.event === 'window'), r.stderr);
      assert.ok(jsonLines(r.stdout).some((l) => (l as { event?: string }).event === 'summary'));
      assert.ok(!(r.stderr + r.stdout).includes(ACME_TOKEN));
    });
  });
});
