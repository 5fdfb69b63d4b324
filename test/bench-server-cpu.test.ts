// The benchmark's server CPU (bench/server-cpu.ts): it must find a listening process by its port
// and read its CPU, or the ClickHouse tables of docs/BENCHMARKS.md would show nothing (or someone else's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { pidsListening, processCpuS, ServerCpu } from '../bench/server-cpu.js';

test('the process listening on a port is found, and its CPU counted while it works', { skip: process.platform !== 'linux' }, async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const port = (srv.address() as AddressInfo).port;
    assert.deepEqual(pidsListening([port]), [process.pid]);
    const cpu = new ServerCpu([`http://127.0.0.1:${port}`]);
    assert.equal(cpu.found, true);
    cpu.start();
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    const spent = await cpu.stop();
    assert.ok(x > 0);
    assert.ok(spent >= 0.2 && spent < 5, `spent ${spent} s`);
  } finally {
    srv.close();
  }
  assert.ok(processCpuS(process.pid) > 0);
  assert.ok(Number.isNaN(processCpuS(2 ** 30)));
  // A port nobody listens on: nothing found, and nothing measured.
  const none = new ServerCpu(['http://127.0.0.1:1']);
  assert.equal(none.found, false);
  assert.ok(Number.isNaN(await none.stop()));
});
