/**
 * How the application reports: everything the CLI prints and every log line of `serve` goes
 * through here, so it is redacted (no token can reach a terminal or a log file). Progress is a
 * live line on a terminal, plain lines otherwise, JSON lines with --json.
 * Log messages go through one pino logger: one JSON line per event (`level`, `time`, `msg` and
 * the event's fields), redacted as a whole line on its way out; without --json the same record is
 * rendered as a plain line. `serve` logs JSON lines unless a person is watching its terminal.
 * In app/ (not cli/) because the CLI and the server both report through it, and neither may
 * import the other.
 */
import { pino, stdTimeFunctions, type Logger } from 'pino';
import { redact } from '../util/secrets.js';
import type { SyncEvent } from '../sync/engine.js';

export class Output {
  private liveLine = false;
  private readonly logger: Logger;
  constructor(readonly json: boolean, private readonly out: NodeJS.WriteStream = process.stdout, private readonly err: NodeJS.WriteStream = process.stderr) {
    // Synchronous writes to our own stream (stderr), in order with the result lines on stdout.
    const write = (line: string) => this.err.write(this.json ? line : plainLine(line));
    this.logger = pino(
      {
        base: null,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        hooks: { streamWrite: (line) => redact(line) },
      },
      { write },
    );
  }

  /** A result line (stdout). */
  line(text = ''): void {
    this.clearLive();
    this.out.write(redact(text) + '\n');
  }

  /** A machine-readable result (stdout). */
  data(obj: unknown): void {
    this.clearLive();
    this.out.write(redact(JSON.stringify(obj)) + '\n');
  }

  /** A log message (stderr). */
  log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    this.clearLive();
    // The record's own keys are not a field's to set.
    const { level: _l, time: _t, msg: _m, ...rest } = fields;
    this.logger[level](rest, msg);
  }

  /** A progress update: redrawn in place on a terminal, one line per update otherwise. */
  progress(text: string, fields: Record<string, unknown>): void {
    if (this.json) return this.log('info', text, fields);
    if (this.err.isTTY) {
      this.err.write(`\r\x1b[2K${redact(text)}`);
      this.liveLine = true;
    } else {
      this.err.write(redact(text) + '\n');
    }
  }

  private clearLive(): void {
    if (this.liveLine) {
      this.err.write('\r\x1b[2K');
      this.liveLine = false;
    }
  }

  /** Turn sync engine events into progress and log lines. */
  syncListener(connector: string): (e: SyncEvent) => void {
    return (e) => {
      switch (e.type) {
        case 'start':
          this.log('info', `[${connector}] syncing ${e.run.rangeStart}..${e.run.rangeEnd}: ${e.run.windowsTotal} window(s)`, { connector, event: 'start', run: e.run.id });
          break;
        case 'window': {
          const rate = e.elapsedMs > 0 ? Math.round((e.totalRows * 1000) / e.elapsedMs) : 0;
          this.progress(
            `[${connector}] ${e.windowsDone}/${e.windowsTotal} windows · ${fmtInt(e.totalRows)} rows · ${fmtInt(rate)} rows/s · ${e.window.start}${e.window.end !== e.window.start ? `..${e.window.end}` : ''}: ${fmtInt(e.rows)} rows`,
            { connector, event: 'window', start: e.window.start, end: e.window.end, rows: e.rows, windowsDone: e.windowsDone, windowsTotal: e.windowsTotal, totalRows: e.totalRows, rowsPerSec: rate },
          );
          break;
        }
        case 'retry':
          this.log('warn', `[${connector}] ${e.window.start}: ${e.error}; retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)}s`, { connector, event: 'retry', attempt: e.attempt });
          break;
        case 'warning':
          this.log('warn', `[${connector}] ${e.message}`, { connector, event: 'warning' });
          break;
        case 'end':
          break;
      }
    };
  }
}

export function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A pino JSON line (already redacted) as a person reads it: the message, `warn: ` / `error: ` before it. */
function plainLine(line: string): string {
  try {
    const r = JSON.parse(line) as { level?: string; msg?: string; stack?: unknown };
    const stack = typeof r.stack === 'string' ? `\n${r.stack}` : '';
    return `${r.level === 'info' ? '' : `${r.level}: `}${r.msg ?? ''}${stack}\n`;
  } catch {
    return line;
  }
}
