/**
 * The compiled CLI (issue "speed"): bin/rakuten-connector runs dist/ (built from src/ by
 * `npm run build`, which `npm ci` and `npm test` run) on plain node, without the tsx loader, and
 * `--help` loads none of the heavy modules (warehouse drivers, web stack, HTTP client) while
 * `list` loads only the warehouse it uses. What a process loads is read through a module hook
 * (helpers/module-log.mjs); how fast it starts is the benchmark's (docs/BENCHMARKS.md), not a test's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

/** Run the CLI (`node [--import module-log] bin/rakuten-connector …`); `loaded` is every module URL it loaded. */
function run(args: string[], o: { log?: boolean; bin?: string } = {}): { code: number | null; stdout: string; stderr: string; loaded: string[] } {
  const home = tempHome('rc-compiled-');
  const logFile = join(home, 'modules.log');
  const hook = o.log ? ['--import', new URL('./helpers/module-log.mjs', import.meta.url).href] : [];
  const r = spawnSync(process.execPath, [...hook, o.bin ?? BIN, '--home', join(home, 'h'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MODULE_LOG: logFile, RAKUTEN_CONNECTOR_HOME: '', RAKUTEN_WAREHOUSE: '' },
  });
  let loaded: string[] = [];
  try {
    loaded = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    // nothing was logged (no hook)
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, loaded };
}

/** The loaded modules under node_modules/<pkg>/ or ROOT/<dir>/. */
const under = (loaded: string[], path: string) => loaded.filter((u) => u.includes(`/${path}/`));
const HEAVY = ['node_modules/@duckdb', 'node_modules/pg', 'node_modules/@clickhouse', 'node_modules/hono', 'node_modules/@hono', 'node_modules/undici', 'node_modules/playwright-core'];
const DEV_ONLY = ['node_modules/tsx', 'node_modules/typescript', 'node_modules/playwright-core'];

describe('the compiled CLI', () => {
  it('bin/rakuten-connector runs dist/main.js, not the sources through tsx', () => {
    const bin = readFileSync(BIN, 'utf8');
    assert.match(bin, /\.\.\/dist\/main\.js/);
    assert.doesNotMatch(bin, /tsx|\.\.\/src\//);
  });

  it('--help and --version work and load no TypeScript loader, no source and no heavy module', () => {
    const help = run(['--help'], { log: true });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: rakuten-connector /);
    assert.ok(help.loaded.some((u) => u.endsWith('/dist/main.js')), 'it ran dist/main.js');
    assert.deepEqual(under(help.loaded, 'src'), [], 'no module from src/ (the compiled code only)');
    for (const p of [...DEV_ONLY, ...HEAVY]) assert.deepEqual(under(help.loaded, p), [], `--help loads nothing of ${p}`);

    const version = run(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);
  });

  it('list on a fresh home loads the embedded warehouse only: no other driver, no web stack, no dev tool', () => {
    const list = run(['list'], { log: true });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /no connectors yet/);
    assert.notDeepEqual(under(list.loaded, 'node_modules/@duckdb'), []);
    for (const p of [...DEV_ONLY, 'node_modules/pg', 'node_modules/@clickhouse', 'node_modules/hono', 'node_modules/@hono']) {
      assert.deepEqual(under(list.loaded, p), [], `list loads nothing of ${p}`);
    }
  });

  it('without dist/ it says to run npm run build (exit 1)', () => {
    const dir = join(tempHome('rc-nodist-'), 'bin');
    mkdirSync(dir);
    copyFileSync(BIN, join(dir, 'rakuten-connector'));
    const r = run(['--help'], { bin: join(dir, 'rakuten-connector') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dist\/main\.js\) is missing: run `npm run build`/);
  });

  it('dist/ is not older than the sources (else: npm run build; npm test builds first)', () => {
    const built = statSync(join(ROOT, 'dist', 'main.js')).mtimeMs;
    const newer = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .map((f) => join('src', f))
      .filter((f) => { const st = statSync(join(ROOT, f)); return st.isFile() && st.mtimeMs > built; });
    assert.deepEqual(newer, [], 'changed since the last build: run `npm run build`');
  });

  it('keeps the TypeScript tooling and the test browser out of the run-time dependencies; npm ci builds', () => {
    for (const p of ['tsx', 'typescript', 'playwright-core']) {
      assert.equal(pkg.dependencies[p], undefined, `${p} is not a run-time dependency`);
      assert.ok(pkg.devDependencies[p], `${p} is a devDependency`);
    }
    assert.equal(pkg.scripts.prepare, 'npm run build');
    assert.match(pkg.scripts.test, /^npm run build && /);
  });
});
