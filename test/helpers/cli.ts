/**
 * Runs the real CLI (bin/rakuten-connector) as a child process, the way a user does, and keeps
 * every byte it printed so tests can check that no token ever appears.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'rakuten-connector');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Everything every CLI run printed, for the token grep. */
export const transcript: string[] = [];

export interface CliEnv {
  home: string;
  warehouse?: string;
  env?: Record<string, string>;
}

export function cliEnv(o: CliEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RAKUTEN_CONNECTOR_HOME: o.home,
    ...(o.warehouse ? { RAKUTEN_WAREHOUSE: o.warehouse } : {}),
    // fast retries in tests; the policy itself is unit-tested
    RAKUTEN_RETRY_BASE_MS: '50',
    RAKUTEN_RETRY_MAX_MS: '400',
    ...o.env,
  };
}

export function startCli(args: string[], o: CliEnv): { child: ChildProcess; done: Promise<CliResult>; stderrSoFar(): string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(o), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      transcript.push(`${stdout}\n${stderr}`); // output only: the args hold the token the test typed
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

export function runCli(args: string[], o: CliEnv): Promise<CliResult> {
  return startCli(args, o).done;
}
