/**
 * Tokens at rest are sealed with AES-256-GCM, so the warehouse (which analysts can read) never
 * holds a usable token. The key material comes from RAKUTEN_CONNECTOR_KEY (set the same value on
 * every worker sharing a warehouse) or from <home>/secret.key (32 random bytes, base64).
 *
 * The key file is created atomically: a temporary file in the same directory (mode 0600) is
 * written and fsynced, then hard-linked into place, which fails if a key already exists — so a
 * full disk never leaves a short key behind, and two processes starting together end up with the
 * same key (the loser of the link reads the winner's). On load, anything but full-strength key
 * material (empty, whitespace, truncated, not base64) is refused with a message naming the file:
 * the key is never regenerated behind the user's back, since the stored tokens would become
 * unreadable.
 *
 * Sealed formats (the prefix says how the AES key was derived from the key material):
 * - `v1:` key = sha256(material). The key file's material is 32 random bytes, so nothing slower is
 *   needed; tokens sealed before v2 existed (by either source) are v1 and stay readable.
 * - `v2:` key = scrypt(trimmed material, fixed salt, N=2^15, r=8, p=1). Used for RAKUTEN_CONNECTOR_KEY,
 *   which a person chooses: an offline guess against a stolen rakuten_connectors table costs an
 *   scrypt instead of a sha256.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import {
  closeSync, constants as fsConstants, copyFileSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync,
  unlinkSync, writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { ConnectorError } from './errors.js';
import { registerSecret } from './secrets.js';

/** Shortest RAKUTEN_CONNECTOR_KEY accepted (after trimming). */
export const MIN_CONNECTOR_KEY_LENGTH = 16;
/** Bytes of random key material in <home>/secret.key (written as base64). */
export const KEY_FILE_BYTES = 32;
export const KEY_FILE_NAME = 'secret.key';

const SCRYPT_SALT = 'rakuten-connector/RAKUTEN_CONNECTOR_KEY/v2';
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const GENERATE_HINT = 'generate one with `openssl rand -base64 32` and set the same value on every worker sharing the warehouse';

/**
 * The problem with a RAKUTEN_CONNECTOR_KEY value, or null when it is fine (or unset: undefined or
 * empty means "use <home>/secret.key"). Never quotes the key.
 */
export function validateConnectorKey(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  const v = value.trim();
  if (v.length < MIN_CONNECTOR_KEY_LENGTH) {
    return `RAKUTEN_CONNECTOR_KEY is too short (${v.length} character${v.length === 1 ? '' : 's'}${v.length !== value.length ? ' without surrounding spaces' : ''}): use at least ${MIN_CONNECTOR_KEY_LENGTH} characters; ${GENERATE_HINT}`;
  }
  if (new Set(v).size < 4) {
    return `RAKUTEN_CONNECTOR_KEY is a repetition of ${new Set(v).size === 1 ? 'one character' : 'a few characters'}: ${GENERATE_HINT}`;
  }
  return null;
}

export interface VaultOptions {
  /**
   * Key material (the value of RAKUTEN_CONNECTOR_KEY). Undefined or empty: use <home>/secret.key,
   * creating it on first use.
   */
  key?: string;
}

type Version = 'v1' | 'v2';

export class Vault {
  private readonly keys = new Map<Version, Buffer>();

  private constructor(
    private readonly material: string,
    private readonly sealAs: Version,
    /** Problems worth telling the user about that do not stop the connector (print them). */
    readonly warnings: readonly string[] = [],
  ) {}

  /**
   * The vault of a home: `opts.key` (the configured RAKUTEN_CONNECTOR_KEY, read by
   * src/util/config.ts) or else <home>/secret.key.
   * Throws ConnectorError('config') for a weak RAKUTEN_CONNECTOR_KEY or an unusable key file.
   */
  static forHome(home: string, opts: VaultOptions): Vault {
    const key = opts.key;
    if (key !== undefined && key !== '') return Vault.fromEnvKey(key);
    return Vault.fromKeyFile(join(home, KEY_FILE_NAME));
  }

  /** A vault sealing with RAKUTEN_CONNECTOR_KEY's value (validated; throws ConnectorError('config')). */
  static fromEnvKey(text: string): Vault {
    const problem = validateConnectorKey(text) ?? (text === '' ? 'RAKUTEN_CONNECTOR_KEY is empty' : null);
    if (problem) throw new ConnectorError('config', problem);
    // Derived from the value exactly as given: v1 tokens were sealed with sha256 of the raw value.
    return new Vault(text, 'v2');
  }

  /** A vault using a key file, created (atomically) if it does not exist. */
  static fromKeyFile(file: string): Vault {
    let text = readKeyFile(file);
    if (text === undefined) {
      createKeyFile(file);
      text = readKeyFile(file);
      if (text === undefined) throw new ConnectorError('config', `the sealing key ${file} vanished right after it was created`);
    }
    checkKeyFileText(file, text);
    return new Vault(text.trim(), 'v1', keyFileWarnings(file));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.keyFor(this.sealAs), iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `${this.sealAs}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    try {
      // No prefix: written before versions existed, i.e. v1.
      const m = /^(v[12]):/.exec(sealed);
      const version: Version = (m?.[1] as Version | undefined) ?? 'v1';
      const raw = Buffer.from(m ? sealed.slice(m[0].length) : sealed, 'base64');
      const d = createDecipheriv('aes-256-gcm', this.keyFor(version), raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      const plain = Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      registerSecret(plain);
      return plain;
    } catch {
      throw new ConnectorError('config', 'cannot decrypt the stored token', {
        hint: 'RAKUTEN_CONNECTOR_KEY (or <home>/secret.key) differs from the one the connector was saved with; set it back or add the connector again',
      });
    }
  }

  private keyFor(version: Version): Buffer {
    let k = this.keys.get(version);
    if (!k) {
      // v1 hashes the material exactly as given (how it always was); v2 ignores surrounding
      // whitespace, so a value read with or without its trailing newline gives the same key.
      k = version === 'v1'
        ? createHash('sha256').update(this.material).digest()
        : scryptSync(this.material.trim(), SCRYPT_SALT, 32, SCRYPT);
      this.keys.set(version, k);
    }
    return k;
  }
}

/** The key file's text, or undefined when there is none. */
function readKeyFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConnectorError('config', `cannot read the sealing key ${file}: ${errText(e)}`, {
      hint: 'run the connector as the user that owns the file, or fix its permissions (chmod 600)',
    });
  }
}

/** Refuses anything but what createKeyFile writes (at least 32 bytes, canonical base64). */
function checkKeyFileText(file: string, text: string): void {
  const hint = `if no connector has been saved with this home yet, delete ${file} and run again to create a new key; `
    + 'otherwise restore it from a backup, or set RAKUTEN_CONNECTOR_KEY to the key the connectors were saved with; '
    + 'a key is never replaced automatically, since the tokens sealed with it would become unreadable';
  const t = text.trim();
  if (t === '') {
    throw new ConnectorError('config', `the sealing key ${file} is ${text === '' ? 'empty' : 'blank (only whitespace)'}: probably left by a run that could not write it (disk full?)`, { hint });
  }
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  if (!bytes || bytes.toString('base64') !== t) {
    throw new ConnectorError('config', `the sealing key ${file} is corrupt: it is not the base64 text of a key written by rakuten-connector`, { hint });
  }
  if (bytes.length < KEY_FILE_BYTES) {
    throw new ConnectorError('config', `the sealing key ${file} is too short: ${bytes.length} bytes of key, a key written by rakuten-connector has ${KEY_FILE_BYTES} (truncated?)`, { hint });
  }
  if (new Set(bytes).size < 8) {
    throw new ConnectorError('config', `the sealing key ${file} is corrupt: its ${bytes.length} bytes are not random (almost all the same value)`, { hint });
  }
}

function keyFileWarnings(file: string): string[] {
  if (process.platform === 'win32') return [];
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return [];
  const who = [(mode & 0o070) && 'group', (mode & 0o007) && 'others'].filter(Boolean).join(' and ');
  return [`the sealing key ${file} is accessible by ${who} (mode ${mode.toString(8).padStart(4, '0')}): anyone who can read it and the warehouse can unseal the stored tokens; run chmod 600 ${file}`];
}

/**
 * Creates the key file, or leaves the one another process created first. Never overwrites, never
 * leaves a partial key at the final name.
 */
function createKeyFile(file: string): void {
  const dir = dirname(file);
  const fail = (e: unknown): never => {
    throw new ConnectorError('config', `cannot create the sealing key ${file}: ${errText(e)}`, {
      hint: (e as NodeJS.ErrnoException).code === 'ENOSPC' || (e as NodeJS.ErrnoException).code === 'EDQUOT'
        ? 'free some disk space and run again; nothing was left behind'
        : `make ${dir} writable for this user, or set RAKUTEN_CONNECTOR_KEY`,
    });
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    fail(e);
  }
  const tmp = join(dir, `.${KEY_FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeSynced(tmp, Buffer.from(`${randomBytes(KEY_FILE_BYTES).toString('base64')}\n`));
    let linked = false;
    try {
      linkSync(tmp, file); // atomic, and fails with EEXIST when a key is already there: the first one wins
      linked = true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    }
    if (!linked) copyExclusive(tmp, file);
    fsyncDir(dir);
  } catch (e) {
    fail(e);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone (or never created)
    }
  }
}

/** A file system without hard links: copy into a new file (O_EXCL); a failed copy is removed. */
function copyExclusive(tmp: string, file: string): void {
  try {
    copyFileSync(tmp, file, fsConstants.COPYFILE_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    try {
      unlinkSync(file);
    } catch {
      // not created
    }
    throw e;
  }
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(file);
    throw e;
  }
  closeSync(fd);
}

function writeSynced(path: string, data: Buffer): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    // Directories cannot be opened or fsynced on some platforms (Windows): nothing more to do there.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF' && code !== 'EACCES') throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function errText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EROFS: 'read-only file system',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  return e instanceof Error ? e.message : String(e);
}
