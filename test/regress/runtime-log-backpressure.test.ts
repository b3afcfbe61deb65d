/**
 * Regression: a function that logged faster than the host read grew the runtime's memory until
 * its OOM kill. runtime/log.ts wrote each console.* record with process.stdout.write, trusting
 * node to write pipes synchronously on Linux; it does not: libuv writes a pipe without blocking
 * and queues what the pipe does not take at once in the process's memory. A function logging 64
 * KiB lines in a loop under `warren serve` had 62 MB waiting after three seconds, and its instance
 * was OOM-killed with every request in it (found by test/e2e/hostile-function-resources.test.ts).
 * The runtime now makes its stdout and stderr pipes blocking: a host that reads slowly, or not at
 * all, stalls the function, never grows its memory. This test runs the runtime bundle (no
 * sandbox, no root) with its stdout unread while a request logs 48 MiB, checks its memory, then
 * reads again and the request completes with every line delivered.
 */
import fs from 'node:fs';
import t from 'tap';
import { listening } from '../runtime-harness.js';

const LOUD = `
export default {
  async fetch() {
    const line = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 768; i++) console.log(line);
    return new Response('logged');
  },
};`;

function rssMiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

t.test('a function logging faster than the host reads waits for it, and its memory stays flat', async (t) => {
  const r = await listening(t, null);
  t.match(await r.conn.load({ source: LOUD, name: 'loud.mjs', env: {} }), { ok: true });
  const pid = r.child.pid as number;
  let newlines = 0;
  r.child.stdout?.on('data', (d: Buffer) => {
    for (let at = d.indexOf(10); at !== -1; at = d.indexOf(10, at + 1)) newlines++;
  });
  const before = rssMiB(pid);
  r.child.stdout?.pause(); // the host stops reading
  const answer = r.client.request({ method: 'GET', path: '/' }).then((res) => res.body.text());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stalled = rssMiB(pid);
  t.ok(stalled - before < 8, `with nobody reading, its memory grew by ${(stalled - before).toFixed(1)} MiB, not by what it logged (48 MiB)`);
  r.child.stdout?.resume();
  t.equal(await answer, 'logged', 'once read again, the request completes');
  for (let end = Date.now() + 10_000; newlines < 768 && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(newlines, 768, 'with every line delivered');
});
