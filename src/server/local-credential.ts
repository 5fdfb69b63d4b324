/**
 * How the CLI finds the `serve` of its home: `<home>/serve.json` = { version, url, pid, credential },
 * mode 0600 (the home itself is 0700), written atomically (a temporary file, then rename) once the
 * server answers, removed when it stops (or its process exits). The credential — 256 random bits,
 * new at every start — is a login for the CLI of the user who can read the file: access.ts accepts
 * it as `Authorization: Bearer …`, compared in constant time, and registers it with the redactor so
 * no log line or answer can show it. A file left by a server that died is stale: the CLI checks
 * the pid, then asks the server to prove it holds the credential (GET /api/cli/hello) before it
 * sends it anything (src/cli/remote.ts).
 */
import { randomBytes } from 'node:crypto';
import { SERVE_FILE, serveProof } from '../util/serve-proof.js';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerSecret } from '../util/secrets.js';
import { sameSecret } from './auth.js';

export class LocalCredential {
  readonly value = randomBytes(32).toString('base64url');

  constructor() {
    registerSecret(this.value);
  }

  check(candidate: string | undefined): boolean {
    return candidate !== undefined && sameSecret(candidate, this.value);
  }

  proof(nonce: string): string {
    return serveProof(this.value, nonce.slice(0, 200));
  }
}

/** The URL a CLI on this machine reaches a server bound to host:port at (a wildcard bind: loopback). */
export function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' || host === '[::]' ? '::1' : host.replace(/^\[|\]$/g, '');
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** Write `<home>/serve.json`; returns the function that removes it (only while it is still ours). */
export function announce(home: string, url: string, credential: LocalCredential): () => void {
  const path = join(home, SERVE_FILE);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const text = `${JSON.stringify({ version: 1, url, pid: process.pid, credential: credential.value })}\n`;
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch { /* never written */ }
    throw e;
  }
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    try {
      // Another `serve` of this home (a shared warehouse) may have written its own since.
      if ((JSON.parse(readFileSync(path, 'utf8')) as { credential?: unknown }).credential === credential.value) unlinkSync(path);
    } catch { /* gone already */ }
  };
  process.on('exit', remove); // also when a second signal exits at once
  return remove;
}
