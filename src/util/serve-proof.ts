/**
 * The proof that the server named in `<home>/serve.json` holds its credential, without sending it:
 * HMAC-SHA256(credential, context + nonce), base64url. Computed by the server (GET /api/cli/hello)
 * and checked by the CLI before it sends the credential (src/cli/remote.ts); one formula for both.
 */
import { createHmac } from 'node:crypto';

export function serveProof(credential: string, nonce: string): string {
  return createHmac('sha256', credential).update(`rakuten-connector serve proof:${nonce}`).digest('base64url');
}
