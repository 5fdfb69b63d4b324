/**
 * The sealing key: created atomically (a full disk leaves no empty key, concurrent first runs
 * agree), refused when it is not full-strength (empty, blank, short, corrupt file; short
 * RAKUTEN_CONNECTOR_KEY), a warning when the file is readable by others, and tokens sealed by
 * earlier versions still open.
 *
 * The full-disk case uses a real 64 KiB tmpfs, filled up, when this process may mount (root);
 * otherwise it injects ENOSPC into node:fs in-process.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConnectorError, describeError } from '../src/util/errors.js';
// A namespace import, so that a missing export fails only the test that needs it.
import * as vaultModule from '../src/util/vault.js';

const { Vault } = vaultModule;
const made: string[] = [];
const home = (): string => {
  const h = mkdtempSync(join(tmpdir(), 'rc-vault-'));
  made.push(h);
  return h;
};
after(() => {
  for (const h of made) rmSync(h, { recursive: true, force: true });
});
const fileKey = (h: string): string => join(h, 'secret.key');

/** AES-256-GCM v1 sealing/opening with a given sha256-derived key, as the code always did. */
function sealV1(material: string, plain: string): string {
  const key = createHash('sha256').update(material).digest();
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}
function opensWithV1Key(material: string, sealed: string): boolean {
  try {
    const raw = Buffer.from(sealed.replace(/^v\d:/, ''), 'base64');
    const d = createDecipheriv('aes-256-gcm', createHash('sha256').update(material).digest(), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    Buffer.concat([d.update(raw.subarray(28)), d.final()]);
    return true;
  } catch {
    return false;
  }
}

/** Runs fn, expecting a ConnectorError('config') whose message names `file`; returns what the user sees. */
function refused(fn: () => unknown, file: string, what: RegExp): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${err === undefined ? 'no error' : String(err)}`);
  assert.equal(err.kind, 'config');
  assert.ok(err.message.includes(file), `message names ${file}: ${err.message}`);
  assert.match(err.message, what);
  return describeError(err);
}

test('first run creates a full-strength key file, mode 0600, and leaves no temporary file', () => {
  const h = home();
  const v = Vault.forHome(h, {});
  const text = readFileSync(fileKey(h), 'utf8');
  assert.match(text, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(Buffer.from(text.trim(), 'base64').length, 32);
  assert.equal(statSync(fileKey(h)).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(h), ['secret.key']);
  assert.equal(Vault.forHome(h, {}).open(v.seal('tok_abc')), 'tok_abc');
  rmSync(h, { recursive: true });
});

/** A really full file system (tmpfs) when we may mount one, else ENOSPC injected into node:fs. */
function fullDisk(): { dir: string; free(): void; close(): void; how: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rc-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir], { stdio: 'ignore' });
    const filler = join(dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(1024 * 1024, 1));
      assert.fail('a 64 KiB tmpfs took 1 MiB');
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    mkdirSync(join(dir, 'home'));
    return {
      dir: join(dir, 'home'), how: 'tmpfs',
      free: () => unlinkSync(filler),
      close: () => {
        execFileSync('umount', [dir]);
        rmSync(dir, { recursive: true });
      },
    };
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    // Not allowed to mount: every write through node:fs fails with ENOSPC until free().
    const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
    const saved = { writeSync: fs.writeSync, writeFileSync: fs.writeFileSync };
    const enospc = (): never => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    };
    // The real calls create the (empty) file first, as a full disk does; then the write fails.
    fs.writeSync = enospc as typeof fs.writeSync;
    fs.writeFileSync = ((p: Parameters<typeof fs.writeFileSync>[0], _d: unknown, o?: { flag?: string; mode?: number }) => {
      saved.writeFileSync(p, '', o as never);
      enospc();
    }) as typeof fs.writeFileSync;
    syncBuiltinESMExports();
    const restore = () => {
      Object.assign(fs, saved);
      syncBuiltinESMExports();
    };
    return { dir, how: 'injected ENOSPC', free: restore, close: () => { restore(); rmSync(dir, { recursive: true }); } };
  }
}

test('a full disk on the first run leaves no usable empty key; the next run refuses or makes a real key, never the empty-string key', () => {
  const disk = fullDisk();
  const file = fileKey(disk.dir);
  try {
    let first: unknown;
    try {
      Vault.forHome(disk.dir, {});
    } catch (e) {
      first = e;
    }
    assert.ok(first, `${disk.how}: the first run fails`);
    assert.ok(!existsSync(file) || readFileSync(file, 'utf8').trim() !== '', `${disk.how}: no empty key file is left behind`);
    assert.deepEqual(readdirSync(disk.dir).filter((f) => f !== 'secret.key'), [], 'no temporary file is left behind');

    // Still full: refused again, or (if a key file was somehow left) it must be a real key.
    let v: vaultModule.Vault | undefined;
    try {
      v = Vault.forHome(disk.dir, {});
    } catch (e) {
      assert.ok(e instanceof ConnectorError && e.kind === 'config', `refused with a clear error: ${String(e)}`);
    }
    if (v) assert.equal(opensWithV1Key('', v.seal('tok_secret')), false, 'the second run does not use the empty-string key');

    const seen = refused(() => { throw first; }, file, /cannot create the sealing key .* no space left on device \(ENOSPC\)/);
    assert.match(seen, /free some disk space/);

    disk.free();
    const real = Vault.forHome(disk.dir, {});
    const sealed = real.seal('tok_secret');
    assert.equal(opensWithV1Key('', sealed), false, 'the key is not the hash of the empty string');
    assert.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32);
    assert.equal(Vault.forHome(disk.dir, {}).open(sealed), 'tok_secret');
  } finally {
    disk.close();
  }
});

test('an empty, blank, short or corrupt secret.key is refused with a message naming the file, and left as it was', () => {
  const real = randomBytes(32).toString('base64');
  const cases: [string, string, RegExp][] = [
    ['empty', '', /is empty/],
    ['blank', ' \n\t \n', /blank/],
    ['short (16 bytes)', `${randomBytes(16).toString('base64')}\n`, /too short: 16 bytes/],
    ['truncated base64', real.slice(0, 20), /corrupt|too short/],
    ['not base64', 'this is not a key!\n', /corrupt/],
    ['NUL bytes', '\0'.repeat(45), /corrupt/],
    ['32 zero bytes', `${Buffer.alloc(32).toString('base64')}\n`, /not random/],
  ];
  for (const [name, content, what] of cases) {
    const h = home();
    writeFileSync(fileKey(h), content, { mode: 0o600 });
    const seen = refused(() => Vault.forHome(h, {}), fileKey(h), what);
    assert.match(seen, /delete \S*secret\.key and run again/, name);
    assert.match(seen, /never replaced automatically/, name);
    assert.equal(readFileSync(fileKey(h), 'utf8'), content, `${name}: the file is left as it was`);
    rmSync(h, { recursive: true });
  }
});

test('a short or trivial RAKUTEN_CONNECTOR_KEY is refused, read from the environment or given as an option', () => {
  const h = home();
  const saved = process.env.RAKUTEN_CONNECTOR_KEY;
  process.env.RAKUTEN_CONNECTOR_KEY = 'x';
  try {
    assert.throws(() => Vault.forHome(h, { key: process.env.RAKUTEN_CONNECTOR_KEY }), (e: unknown) => e instanceof ConnectorError && e.kind === 'config' && /RAKUTEN_CONNECTOR_KEY is too short \(1 character\)/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.RAKUTEN_CONNECTOR_KEY;
    else process.env.RAKUTEN_CONNECTOR_KEY = saved;
  }
  assert.ok(!existsSync(fileKey(h)), 'no key file was created instead');

  const { validateConnectorKey, MIN_CONNECTOR_KEY_LENGTH } = vaultModule;
  assert.equal(typeof validateConnectorKey, 'function', 'validateConnectorKey is exported for the config module');
  assert.ok(MIN_CONNECTOR_KEY_LENGTH >= 16);
  for (const bad of ['x', 'short-key', ' '.repeat(40), 'a'.repeat(64), 'x'.repeat(MIN_CONNECTOR_KEY_LENGTH - 1)]) {
    const problem = validateConnectorKey(bad);
    assert.ok(problem, `refused: ${JSON.stringify(bad)}`);
    assert.match(problem, /RAKUTEN_CONNECTOR_KEY/);
    if (bad.trim().length > 3) assert.ok(!problem.includes(bad.trim()), 'the message does not quote the key');
    assert.throws(() => Vault.forHome(h, { key: bad }), (e: unknown) => e instanceof ConnectorError && e.kind === 'config' && /RAKUTEN_CONNECTOR_KEY/.test(e.message));
  }
  assert.equal(validateConnectorKey(undefined), null);
  assert.equal(validateConnectorKey(''), null, 'empty = unset: the key file is used');
  assert.equal(validateConnectorKey('shared-key-for-all-workers'), null);
  assert.equal(validateConnectorKey(randomBytes(32).toString('base64')), null);
  rmSync(h, { recursive: true });
});

test('concurrent first runs agree on the key (4 threads released at once, 600 fresh homes)', async () => {
  const tsx = import.meta.resolve('tsx/esm/api');
  const vaultUrl = new URL('../src/util/vault.ts', import.meta.url).href;
  // On the old code (open 'wx', then write) about one round in 15 had a thread read the key file
  // between its creation and its write, and seal with the empty-string key.
  const threads = 4;
  const rounds = 600;
  const homes = Array.from({ length: rounds }, home);
  // flag[0]: the round released (1-based), flag[1]: threads ready. Each thread loads the vault
  // once, then per round waits at the barrier, opens that round's fresh home and seals.
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(vaultUrl)}); }).then((m) => {
      const flag = new Int32Array(workerData.barrier);
      Atomics.add(flag, 1, 1);
      for (let r = 0; r < workerData.homes.length; r++) {
        Atomics.wait(flag, 0, r);
        try {
          parentPort.postMessage({ round: r, sealed: m.Vault.forHome(workerData.homes[r], {}).seal('probe') });
        } catch (e) {
          parentPort.postMessage({ round: r, error: String((e && e.message) || e) });
        }
      }
    });`;
  const barrier = new SharedArrayBuffer(8);
  const flag = new Int32Array(barrier);
  const byRound: { sealed?: string; error?: string }[][] = homes.map(() => []);
  let wake: (() => void) | undefined;
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(code, { eval: true, workerData: { homes, barrier } });
    w.on('message', (m: { round: number; sealed?: string; error?: string }) => {
      byRound[m.round]!.push(m);
      wake?.();
    });
    w.on('error', (e) => byRound.forEach((r) => r.push({ error: String(e) })));
    return w;
  });
  try {
    for (let i = 0; i < 2000 && Atomics.load(flag, 1) < threads; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(Atomics.load(flag, 1), threads, 'every thread reached the barrier');
    for (let r = 0; r < rounds; r++) {
      Atomics.store(flag, 0, r + 1);
      Atomics.notify(flag, 0);
      for (let i = 0; i < 2000 && byRound[r]!.length < threads; i++) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      assert.equal(byRound[r]!.length, threads, `round ${r}: every thread answered`);
      const v = Vault.forHome(homes[r]!, {});
      for (const [i, res] of byRound[r]!.entries()) {
        assert.equal(res.error, undefined, `round ${r} thread ${i}: ${res.error}`);
        assert.equal(v.open(res.sealed!), 'probe', `round ${r} thread ${i} sealed with the key on disk`);
      }
      assert.deepEqual(readdirSync(homes[r]!), ['secret.key'], 'no temporary files left');
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});

test('a key file readable by group or others produces a warning; mode 0600 none', { skip: process.platform === 'win32' ? 'no POSIX modes' : false }, () => {
  const h = home();
  Vault.forHome(h, {});
  assert.deepEqual(Vault.forHome(h, {}).warnings, []);
  chmodSync(fileKey(h), 0o644);
  const w = Vault.forHome(h, {}).warnings;
  assert.equal(w?.length, 1, 'one warning');
  assert.ok(w[0]!.includes(fileKey(h)));
  assert.match(w[0]!, /group and others \(mode 0644\).*chmod 600/);
  chmodSync(fileKey(h), 0o640);
  assert.match(Vault.forHome(h, {}).warnings[0]!, /by group \(mode 0640\)/);
  rmSync(h, { recursive: true });
});

test('tokens sealed by earlier versions still open (sha256 of RAKUTEN_CONNECTOR_KEY, sha256 of the key file)', () => {
  const envKey = 'shared-key-for-all-workers';
  assert.equal(Vault.forHome(home(), { key: envKey }).open(sealV1(envKey, 'tok_old_env')), 'tok_old_env');
  assert.equal(Vault.forHome(home(), { key: envKey }).open(sealV1(envKey, 'tok_old_env').slice(3)), 'tok_old_env', 'unprefixed');
  const h = home();
  const text = `${randomBytes(32).toString('base64')}\n`;
  writeFileSync(fileKey(h), text, { mode: 0o600 });
  assert.equal(Vault.forHome(h, {}).open(sealV1(text.trim(), 'tok_old_file')), 'tok_old_file');
  rmSync(h, { recursive: true });
});

test('RAKUTEN_CONNECTOR_KEY seals with scrypt (v2): the same key elsewhere opens it, another key cannot', () => {
  const key = 'Zm9vYmFyYmF6cXV4LXdvcmtlcnMtc2hhcmVkLWtleQ';
  const sealed = Vault.forHome(home(), { key }).seal('tok_new');
  assert.match(sealed, /^v2:/);
  assert.equal(opensWithV1Key(key, sealed), false, 'not the bare sha256 of the key');
  assert.equal(Vault.forHome(home(), { key }).open(sealed), 'tok_new');
  assert.equal(Vault.forHome(home(), { key: `${key}\n` }).open(sealed), 'tok_new', 'a trailing newline does not change the v2 key');
  assert.throws(() => Vault.forHome(home(), { key: `${key}-other` }).open(sealed), /cannot decrypt the stored token/);
  const h = home();
  Vault.forHome(h, { key });
  assert.ok(!existsSync(fileKey(h)), 'with RAKUTEN_CONNECTOR_KEY no key file is created');
});

test('on a file system without hard links the key is still created exclusively', () => {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const linkSync = fs.linkSync;
  fs.linkSync = (() => {
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  }) as typeof fs.linkSync;
  syncBuiltinESMExports();
  const h = home();
  try {
    const v = Vault.forHome(h, {});
    assert.equal(Buffer.from(readFileSync(fileKey(h), 'utf8').trim(), 'base64').length, 32);
    assert.equal(statSync(fileKey(h)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(h), ['secret.key']);
    assert.equal(Vault.forHome(h, {}).open(v.seal('t')), 't');
  } finally {
    fs.linkSync = linkSync;
    syncBuiltinESMExports();
    rmSync(h, { recursive: true });
  }
});
