/**
 * End to end with other report shapes: process-date reports, the setup guide's misspelled
 * headers with summary lines, extra columns, and malformed CSV from a hand-written server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ACME_TOKEN, startSimulator, type Simulator } from '../src/simulator/index.js';
import { openWarehouse } from '../src/warehouse/index.js';
import { addDays, todayIn } from '../src/util/days.js';
import { toUnits } from '../src/util/decimal.js';
import { runCli, transcript, type CliEnv } from './helpers/cli.js';
import { tempHome } from './helpers/targets.js';

const today = todayIn('GMT');
const start = addDays(today, -4);
let sim: Simulator;
let bad: Server;
let badUrl: string;
let env: CliEnv;
const HEADER = 'Transaction Date,# of Impressions,# of Clicks,# of Orders,Gross Commissions,Total Commission,Sales,Order ID,Sub-Publisher ID,Sub-Publisher Name,Sub-Publisher URL,Publisher Group ID,Publisher Group Name,Publisher ID,Publisher Name,Publisher URL,Offer ID,Offer Name,Link ID,Link Name';
const BAD_TOKEN_VALUE = 'tok_badcsv_11112222333344445505';
/** What the hand-written server answers per day; `broken` days hold a malformed row. */
const broken = new Set<string>();

function rowFor(day: string, sales: string): string {
  const [y, m, d] = day.split('-');
  return `${+m!}/${+d!}/${y!.slice(2)},100,10,1,1.00,1.10,${sales},O-${day},,,,1,G,42,Pub,https://p,7,Offer,9,Link`;
}

before(async () => {
  sim = await startSimulator({ port: 0, rowsPerDay: 50, today });
  bad = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const day = u.searchParams.get('start_date')!;
    res.writeHead(200, { 'content-type': 'text/csv' });
    res.end(`\uFEFF${HEADER}\r\n${rowFor(day, '10.00')}\r\n${rowFor(day, broken.has(day) ? '"12,34.5"' : '20.00')}\r\n`);
  });
  await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
  badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
  const home = tempHome();
  env = { home, env: { RAKUTEN_ALLOWED_HOSTS: `${new URL(sim.url).host},${new URL(badUrl).host}` } };
});
after(async () => {
  await sim.close();
  bad.close();
});

async function totals(connector: string, from: string, to: string) {
  const db = await openWarehouse(`duckdb:${join(env.home, 'warehouse.duckdb')}`, env.home);
  try {
    return await db.warehouse.dayTotals(connector, from, to);
  } finally {
    await db.close();
  }
}

for (const [name, report, dateType, summary] of [
  ['process', 'affiliate-report', 'process', 'N'],
  ['guide', 'guide-report', 'transaction', 'Y'],
  ['extra', 'extra-cols', 'transaction', 'N'],
] as const) {
  test(`${name}: ${report} with date_type=${dateType}, include_summary=${summary} syncs to exact totals`, async () => {
    const url = `${sim.url}/en/reports/${report}/filters?date_range=this-month&include_summary=${summary}&tz=GMT&date_type=${dateType}&network=1&token=${ACME_TOKEN}`;
    const add = await runCli(['add', '--name', name, '--url', url, '--start-date', start, ...(dateType === 'transaction' ? ['--window-days', '2'] : [])], env);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    if (report === 'extra-cols') assert.match(add.stdout, /extra columns will be kept as JSON in _extra: Currency, Product Name/);
    const sync = await runCli(['sync', name], env);
    assert.equal(sync.code, 0, sync.stderr);
    const want = sim.totals({ token: ACME_TOKEN, report, from: start, to: today, dateType }).filter((d) => d.rows > 0);
    const got = await totals(name, start, today);
    assert.deepEqual(got.map((d) => [d.day, d.rows]), want.map((d) => [d.day, d.rows]));
    for (let i = 0; i < want.length; i++) {
      for (const f of ['impressions', 'clicks', 'orders', 'sales', 'gross_commissions', 'total_commissions'] as const) {
        assert.equal(toUnits(got[i]![f]), toUnits(want[i]![f]), `${want[i]!.day} ${f}`);
      }
    }
  });
}

test('a malformed row fails its window with row and column named; nothing of it is committed', async () => {
  const url = `${badUrl}/en/reports/r/filters?tz=GMT&date_type=transaction&token=${BAD_TOKEN_VALUE}`;
  assert.equal((await runCli(['add', '--name', 'badcsv', '--url', url, '--start-date', start], env)).code, 0);
  assert.equal((await runCli(['sync', 'badcsv'], env)).code, 0);
  const day = addDays(today, -2);
  const before = await totals('badcsv', start, today);
  assert.equal(before.length, 5);
  broken.add(day);
  const r = await runCli(['sync', 'badcsv', '--from', day, '--to', day], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /row 2 \(line 3\), column "Sales": "12,34\.5" is not an amount/);
  assert.deepEqual(await totals('badcsv', start, today), before, 'the old rows of the window stay');
  const st = JSON.parse((await runCli(['--json', 'status', 'badcsv'], env)).stdout);
  assert.equal(st.runs[0].status, 'failed');
  assert.match(st.runs[0].error, /column "Sales"/);
  for (const t of [ACME_TOKEN, BAD_TOKEN_VALUE]) assert.ok(!transcript.join('\n').includes(t));
});
