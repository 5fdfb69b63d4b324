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
    // Work until this process has used 0.3 s of CPU by its own count (not by the clock: tests share the cores).
    const before = process.cpuUsage();
    cpu.start();
    let x = 0;
    const used = (): number => {
      const u = process.cpuUsage(before);
      return (u.user + u.system) / 1e6;
    };
    while (used() < 0.3) for (let i = 0; i < 1e5; i++) x += Math.sqrt(x + 1);
    const spent = await cpu.stop();
    const own = used();
    assert.ok(x > 0);
    assert.ok(Math.abs(spent - own) < 0.1, `/proc says ${spent} s, the process ${own} s`);
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
