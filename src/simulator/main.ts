// CLI: node --import tsx src/simulator/main.ts [--port 8787] [--host 127.0.0.1] [--seed 42]
//   [--rows-per-day 40] [--today YYYY-MM-DD] [--fault-rate 0.1 --fault-seed 1 [--fault-kinds 429,500,slow]] [--gzip]
// The first stdout line is always "simulator listening on <url>" (tests/demo parse it).
import { parseArgs } from 'node:util';
import { ALL_FAULT_KINDS, type FaultKind } from './faults.js';
import { DEFAULT_ACCOUNTS, maskToken } from './fixtures.js';
import { startSimulator, type SimulatorOptions } from './index.js';

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    process.stderr.write(`--${name} must be a number\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    host: { type: 'string', default: '127.0.0.1' },
    seed: { type: 'string' },
    'rows-per-day': { type: 'string' },
    today: { type: 'string' },
    'fault-rate': { type: 'string' },
    'fault-seed': { type: 'string' },
    'fault-kinds': { type: 'string' },
    gzip: { type: 'boolean' },
  },
  strict: true,
});

const opts: SimulatorOptions = { port: num('port', values.port) ?? 8787, host: values.host ?? '127.0.0.1' };
const seed = num('seed', values.seed);
if (seed !== undefined) opts.seed = seed;
const rows = num('rows-per-day', values['rows-per-day']);
if (rows !== undefined) opts.rowsPerDay = rows;
if (values.today !== undefined) opts.today = values.today;
if (values.gzip) opts.gzip = true;
const rate = num('fault-rate', values['fault-rate']);
if (rate !== undefined && rate > 0) {
  const kinds = values['fault-kinds']?.split(',').map((k) => k.trim()).filter(Boolean);
  const bad = kinds?.filter((k) => !(ALL_FAULT_KINDS as readonly string[]).includes(k));
  if (bad?.length) {
    process.stderr.write(`unknown fault kind(s): ${bad.join(', ')}\n`);
    process.exit(2);
  }
  opts.randomFaults = { rate, seed: num('fault-seed', values['fault-seed']) ?? 1 };
  if (kinds?.length) opts.randomFaults.kinds = kinds as FaultKind[];
}

const sim = await startSimulator(opts).catch((e: unknown) => {
  process.stderr.write(`simulator failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
// Handlers go in before the "listening" line so a supervisor that signals right after reading it is honoured.
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void sim.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Pipes are synchronous on Linux, but wait for the write callback anyway so the line is out before anything else.
await new Promise<void>((resolve) => process.stdout.write(`simulator listening on ${sim.url}\n`, () => resolve()));
for (const a of DEFAULT_ACCOUNTS) {
  process.stdout.write(`  account ${a.name}  token ${maskToken(a.token)}  reports: ${Object.keys(a.reports).join(', ')}\n`);
}
if (opts.gzip) process.stdout.write('  gzip: on for clients that accept it\n');
if (opts.randomFaults) process.stdout.write(`  random faults: rate ${opts.randomFaults.rate}, seed ${opts.randomFaults.seed}\n`);

