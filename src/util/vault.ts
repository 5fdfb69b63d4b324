/**
 * Tokens at rest are sealed with AES-256-GCM, so the warehouse (which analysts can read) never
 * holds a usable token. The key comes from RAKUTEN_CONNECTOR_KEY (set the same value on every
 * worker sharing a warehouse) or from <home>/secret.key, created with mode 0600.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectorError } from './errors.js';
import { registerSecret } from './secrets.js';

export class Vault {
  private constructor(private readonly key: Buffer) {}

  static forHome(home: string, env: NodeJS.ProcessEnv = process.env): Vault {
    const fromEnv = env.RAKUTEN_CONNECTOR_KEY;
    if (fromEnv) return new Vault(createHash('sha256').update(fromEnv).digest());
    const file = join(home, 'secret.key');
    if (!existsSync(file)) {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      try {
        writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return new Vault(createHash('sha256').update(readFileSync(file, 'utf8').trim()).digest());
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `v1:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    try {
      const raw = Buffer.from(sealed.replace(/^v1:/, ''), 'base64');
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
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
}
