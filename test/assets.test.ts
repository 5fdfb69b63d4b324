/**
 * The web app's files: `/assets/<name>` serves exactly the allow-list of src/server/pages.ts with
 * its Content-Type; no path, no unlisted file (the front-end's type declarations and tsconfig
 * included) and no unknown name is served. Every module the browser imports is on the list, and
 * every front-end module is type-checked (`// @ts-check`, run by `tsc -p src/server/public`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { PUBLIC_FILES, staticFile } from '../src/server/pages.js';
import { type Stack, startStack } from './helpers/browser.js';

const DIR = new URL('../src/server/public/', import.meta.url);
const NOT_SERVED = ['../pages.ts', '..', '.', '', '/etc/passwd', 'format.d.ts', 'types.js', 'tsconfig.json', 'nope.js', 'App.js', 'app.js.map', '.app.js', 'views/dashboard.js', 'app.js/', 'app.js%00'];

/** GET with the path exactly as written (fetch would normalise `..`). */
function rawGet(base: string, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web app files', () => {
  it('serves the listed files with their Content-Type, and nothing else', () => {
    for (const name of PUBLIC_FILES) {
      const f = staticFile(name);
      assert.ok(f, name);
      assert.equal(f.body, readFileSync(new URL(name, DIR), 'utf8'));
      assert.equal(f.type, name.endsWith('.js') ? 'text/javascript; charset=utf-8' : name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/html; charset=utf-8');
    }
    for (const name of NOT_SERVED) assert.equal(staticFile(name), undefined, name);
  });

  it('lists every module the browser imports, and every front-end module is type-checked', () => {
    const js = readdirSync(DIR).filter((n) => n.endsWith('.js'));
    for (const name of js) {
      const text = readFileSync(new URL(name, DIR), 'utf8');
      assert.match(text, /^\/\/ @ts-check\n\/\/ \S/, `${name} starts with // @ts-check and a comment saying what it is for`);
      assert.ok(text.split('\n').length <= 500, `${name} has more than 500 lines`);
    }
    // From the entry module, follow every static import: each must be served (types.js is only
    // named in JSDoc comments, never imported).
    const html = staticFile('index.html')!.body;
    assert.match(html, /<script type="module" src="\/assets\/app\.js"><\/script>/);
    const seen = new Set<string>();
    const todo = ['app.js'];
    while (todo.length) {
      const name = todo.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const f = staticFile(name);
      assert.ok(f, `${name} is imported but not served: add it to PUBLIC_FILES`);
      for (const m of f.body.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm)) {
        assert.match(m[1]!, /^\.\/[a-z0-9-]+\.js$/, `${name} imports ${m[1]}: use flat relative names like './dom.js'`);
        todo.push(m[1]!.slice(2));
      }
    }
    assert.deepEqual([...seen].sort(), PUBLIC_FILES.filter((n) => n.endsWith('.js')).sort(), 'every listed module is reached from app.js');
  });

  describe('over HTTP', () => {
    let s: Stack;
    before(async () => {
      s = await startStack();
    });
    after(async () => {
      await s?.close();
    });

    it('answers 200 with text/javascript for a module, 404 for paths and unknown names', async () => {
      for (const name of ['app.js', 'view-form.js', 'format.js']) {
        const r = await rawGet(s.url, `/assets/${name}`);
        assert.equal(r.status, 200, name);
        assert.equal(r.type, 'text/javascript; charset=utf-8', name);
      }
      for (const path of ['/assets/../x', '/assets/../pages.ts', '/assets/..%2fpages.ts', '/assets/%2e%2e%2fpages.ts', '/assets/..%5cpages.ts', '/assets/views/dashboard.js',
        '/assets/nope.js', '/assets/format.d.ts', '/assets/types.js', '/assets/tsconfig.json', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/assets/']) {
        const r = await rawGet(s.url, path);
        assert.equal(r.status, 404, path);
        assert.ok(!r.body.includes('staticFile') && !r.body.includes('@ts-check'), `${path} leaked a file`);
      }
    });
  });
});
