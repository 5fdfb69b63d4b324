// `node --import ./test/helpers/module-log.mjs …` appends the URL of every module the process loads
// (ES modules, and CommonJS packages entered through import) to the file named by MODULE_LOG, one
// a line: test/cli-compiled.test.ts uses it to see what the CLI loads at start-up. Plain JS, as
// the CLI under test runs without a TypeScript loader. The same file is the hooks module
// (module.register runs it again off the main thread, where it only logs).
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function load(url, context, next) {
  if (process.env.MODULE_LOG) appendFileSync(process.env.MODULE_LOG, `${url}\n`);
  return next(url, context);
}
