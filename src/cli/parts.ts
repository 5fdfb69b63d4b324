/**
 * What the CLI is built with from outside cli/: the server's `serve`, handed in by src/main.ts
 * (cli/ and server/ may not import each other). Its own module so demo.ts and main.ts share the
 * type without importing each other.
 */
import type { Output } from '../app/output.js';

/** What `serve` (and the end of `demo`) is given: runs the web app until a signal, then returns. */
export type ServeCommand = (o: {
  home: string; warehouse?: string; out: Output; host: string; port: number;
  /** --trust-proxy: a TLS reverse proxy in front. */
  trustProxy?: boolean;
  /** Called when serving ends, however it ends. */
  onClose?: () => Promise<void> | void;
}) => Promise<void>;

/** What the CLI is built with: the parts of the program that live outside cli/. */
export interface CliParts {
  serve: ServeCommand;
}
