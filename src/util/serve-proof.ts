/**
 * What the CLI and a running `serve` share, so both sides have one definition: the file `serve`
 * announces itself in, the proof that the server named there holds its credential without sending
 * it — HMAC-SHA256(credential, context + nonce), base64url, computed by the server (GET
 * /api/cli/hello) and checked by the CLI before it sends the credential (src/cli/remote.ts) — and
 * the shape of an error on the wire.
 */
import { createHmac } from 'node:crypto';

/** `<home>/serve.json`: where a running `serve` announces itself (src/server/local-credential.ts). */
export const SERVE_FILE = 'serve.json';

/** A ConnectorError as the CLI API sends it (src/server/cli-api.ts) and the CLI rebuilds it. */
export interface WireError { kind: string | null; message: string; hint?: string; field?: string }

export function serveProof(credential: string, nonce: string): string {
  return createHmac('sha256', credential).update(`rakuten-connector serve proof:${nonce}`).digest('base64url');
}
