/**
 * A runtime whose host went away without a word (a SIGKILL of `warren serve`) and came back (serve
 * --live-restore adopts it): its connections from the old host close, and the new host talks to
 * it on new ones as if nothing happened: health names what it loaded, a generic one still waits
 * for its load, and a handoff channel can be opened again. The runtime as a plain node process
 * (no sandbox, no root).
 */
import t from 'tap';
import type { Test } from 'tap';
import { HandoffChannel } from '../runner/handoff.js';
import { listening } from '../test/runtime-harness.js';
import { RuntimeConnection } from './index.js';

const HELLO = 'export default { fetch: (req) => new Response("hello " + new URL(req.url).pathname) };';

async function reconnect(t: Test, dir: string): Promise<RuntimeConnection> {
  const conn = await RuntimeConnection.open(dir, AbortSignal.timeout(5000));
  t.teardown(() => conn.destroy());
  return conn;
}

t.test('a loaded runtime serves the next host: health names its module, requests reach it', async (t) => {
  const { conn, dir, child } = await listening(t, null);
  await conn.warm();
  await conn.load({ source: HELLO, name: 'hello.mjs' });
  const before = await conn.http.request({ method: 'GET', path: '/a' });
  t.equal(await before.body.text(), 'hello /a');
  // the host is killed: every connection it had closes at once
  await conn.destroy();
  const next = await reconnect(t, dir);
  t.same(await next.health(), { ok: true, module: 'hello.mjs' }, 'health says which module it serves');
  const after = await next.http.request({ method: 'GET', path: '/b' });
  t.equal(await after.body.text(), 'hello /b', 'the function answers the new host');
  t.equal(child.exitCode, null, 'the runtime lives on');
});

t.test('a generic runtime the next host adopts is warm at once and takes its load, with a request right behind it', async (t) => {
  const { conn, dir } = await listening(t, null);
  await conn.warm();
  await conn.destroy();
  const next = await reconnect(t, dir);
  t.same(await next.warm(), { ok: true, module: null }, 'warm, and nothing loaded');
  // sent before the load: it waits in the runtime for the load (as after a boot), not a 503
  const early = next.http.request({ method: 'GET', path: '/first' });
  await new Promise((r) => setTimeout(r, 50));
  await next.load({ source: HELLO, name: 'hello.mjs' });
  const res = await early;
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'hello /first', 'the request sent before the load is the function\'s');
});

t.test('a handoff channel opens again once the host that had one went away', async (t) => {
  const { conn, dir } = await listening(t, null);
  await conn.warm();
  await conn.load({ source: HELLO, name: 'hello.mjs' });
  const config = { timeoutMs: 5000, keepAliveMs: 5000, host: 'hello.fn.test' };
  const first = await HandoffChannel.open(dir, conn, config, () => {});
  first.destroy();
  await conn.destroy();
  const next = await reconnect(t, dir);
  const again = await HandoffChannel.open(dir, next, config, () => {});
  t.ok(again, 'the runtime connected to the new host\'s handoff socket');
  again.destroy();
});
