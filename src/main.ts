/**
 * The program's entry (bin/rakuten-connector loads it). It composes the two front ends, which
 * may not import each other: the CLI (src/cli/) is handed the server's `serve` (src/server/),
 * loaded only when a command serves, so other commands start without the web stack.
 */
import { runCli } from './cli/main.js';

await runCli({
  serve: async (o) => {
    const { serveCommand } = await import('./server/command.js');
    await serveCommand(o);
  },
});
