/** The web app's static files (src/server/public) and the server-rendered login page. */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Every file of src/server/public the server hands out (`GET /assets/<name>`; index.html is also
 * the page at `/`): flat names, no folders. Anything else there (format.d.ts, types.js,
 * tsconfig.json: the front-end's type check) is not served. A new front-end module goes here.
 */
export const PUBLIC_FILES: readonly string[] = [
  'index.html',
  'app.css',
  'app.js', // the entry module: router
  'api.js',
  'charts.js',
  'csv.js',
  'dom.js',
  'format.js',
  'live.js',
  'parts.js',
  'view-alerts.js',
  'view-connector.js',
  'view-dashboard.js',
  'view-form.js',
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

let files: Map<string, { body: string; type: string }> | undefined;

function load(): Map<string, { body: string; type: string }> {
  const m = new Map<string, { body: string; type: string }>();
  for (const name of PUBLIC_FILES) {
    const type = TYPES[extname(name)];
    if (!type) throw new Error(`pages: no Content-Type for ${name}`);
    m.set(name, { body: readFileSync(DIR + name, 'utf8'), type });
  }
  return m;
}

/**
 * A file of the allow-list by its bare name; undefined for anything else (no paths: nothing
 * outside the list, let alone outside the public folder, can be read).
 */
export function staticFile(name: string): { body: string; type: string } | undefined {
  files ??= load();
  return /^[a-z0-9][a-z0-9._-]*$/i.test(name) ? files.get(name) : undefined;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Rakuten Connector</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body class="login-body">
<main class="login card">
  <h1><span class="logo" aria-hidden="true"></span> Rakuten Connector</h1>
  <p class="muted">This server asks for its admin token: the value of <code>RAKUTEN_CONNECTOR_ADMIN_TOKEN</code> it was started with.</p>
  <form method="post" action="/login">
    <input type="text" name="username" autocomplete="username" value="admin" hidden>
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus${error ? ' aria-invalid="true" aria-describedby="login-error"' : ''}>
    ${error ? `<p class="field-error" id="login-error" role="alert">${esc(error)}</p>` : ''}
    <button class="btn primary" type="submit">Sign in</button>
  </form>
</main>
</body>
</html>`;
}
