/**
 * Secrets the CLI is given without putting them on its command line, where every `ps` on the
 * machine would show them: `--url -` / `--token -` read standard input (piped: its first line; a
 * terminal: a prompt that does not echo what is typed or pasted).
 */
import { createInterface } from 'node:readline';

const MAX_BYTES = 64 * 1024;

export async function readSecret(prompt: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  return input.isTTY ? promptHidden(prompt, input, output) : firstLine(input);
}

/** The first line of a pipe (bounded: a URL is never 64 KiB). */
async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const nl = text.search(/\r?\n/);
    if (nl >= 0) return text.slice(0, nl).trim();
    if (text.length > MAX_BYTES) break;
  }
  return text.trim();
}

/** A prompt on the terminal; what is typed is not echoed. */
function promptHidden(prompt: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    // The terminal goes raw (no echo by the line discipline) before the prompt invites typing.
    const rl = createInterface({ input, output, terminal: true });
    // Swallow readline's own echo: it writes typed characters through _writeToOutput.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
    output.write(prompt);
    rl.once('line', (line) => {
      rl.close();
      output.write('\n');
      resolve(line.trim());
    });
    rl.once('SIGINT', () => {
      rl.close();
      output.write('\n');
      reject(new Error('cancelled'));
    });
  });
}
