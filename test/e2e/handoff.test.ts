/**
 * `warren serve --handoff` end to end (needs root): after a host-routed connection's first answer
 * the router hands the connection itself to the function's instance, which serves the rest of it.
 * What a client and an operator must still see then: the function's answers, a request id on
 * each (in the logs too), the function's timeout, another host refused, the connection holding a
 * slot of its instance until it closes (then scale to zero), a deploy moving the connection's
 * traffic to the new version, a request that blocks the instance's event loop ending the
 * instance, serve's SIGTERM letting a request in flight finish, and path-routed connections
 * never handed over.
 */
import fs from 'node:fs';
import net from 'node:net';
import t, { type Test } from 'tap';
import { Client } from 'undici';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { api, deploy, ports, serveDirs, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-handoff');

const app = (v: string) => `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/log') console.log('handed log', url.searchParams.get('n'));
    if (url.pathname === '/slow') await new Promise((r) => setTimeout(r, 3000));
    if (url.pathname === '/wait') await new Promise((r) => setTimeout(r, 700));
    if (url.pathname === '/loop') for (;;);
    return new Response('${v} ' + url.pathname + ' ' + (request.headers.get('x-warren-request-id') ?? '-'));
  },
};`;

interface Got {
  status: number;
  text: string;
  id: string | undefined;
  /** x-warren-start: set by the router only. */
  start: string | undefined;
}

async function get(c: Client, p: string, headers: Record<string, string> = {}): Promise<Got> {
  const res = await c.request({ method: 'GET', path: p, headers: { host: 'app.fn.test', ...headers } });
  const text = await res.body.text();
  const h = res.headers;
  return { status: res.statusCode, text, id: h['x-request-id'] as string | undefined, start: h['x-warren-start'] as string | undefined };
}

/** Requests on `c` until one is answered by the instance itself (the channel opens in the
 * background on the first try): bounded. */
async function handed(c: Client, p = '/'): Promise<Got> {
  for (let i = 0; i < 100; i++) {
    const got = await get(c, p);
    if (got.start === undefined) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no request was served on a handed-over connection');
}

/** A bare TCP connection to the data plane, and what came back on it so far. */
function rawClient(t: Test, s: Server): { sock: net.Socket; got: string } {
  const sock = net.connect(Number(new URL(s.data).port), '127.0.0.1');
  t.teardown(() => sock.destroy());
  const raw = { sock, got: '' };
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => (raw.got += d));
  return raw;
}

type Sandboxes = { sandboxes: Array<{ id: string; fn: string | null; version: number | null; busy: number }> };

t.test('warren serve --handoff', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const s: Server = await startServe(dirs, ports(20480), ['--domain', 'fn.test', '--handoff', '--pool', '1', '--keep-alive', '2s', '--no-demo']);
  t.teardown(async () => {
    await s.stop();
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });
  const first = await deploy(s, 'app', app('v1'), { limits: { timeout_ms: 1000, concurrency: 4 } });
  t.equal(first.status, 201, `deployed: ${first.text}`);

  await t.test('a connection serves through the router first, then on the instance', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    const a = await get(c, '/a');
    t.equal(a.status, 200);
    t.match(a.start, /^(warm|prewarm|cold)$/, 'the first answer is the router\'s');
    const b = await handed(c, '/b');
    t.equal(b.status, 200);
    t.match(b.text, /^v1 \/b /, 'the function answers');
    t.match(b.id, /^[0-9a-f-]{36}$/, 'with a request id');
    t.equal(b.text.split(' ')[2], b.id, 'the one the function saw');
    const spoofed = await get(c, '/c', { 'x-warren-request-id': 'mine' });
    t.equal(spoofed.start, undefined, 'still on the instance');
    t.not(spoofed.text.split(' ')[2], 'mine', "a client's own request id is replaced");
    const ids = new Set([b.id, spoofed.id]);
    t.equal(ids.size, 2, 'ids differ');
    const sb = (await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.filter((x) => x.fn === 'app');
    t.equal(sb.reduce((n, x) => n + x.busy, 0), 1, 'the open connection holds one slot');
  });

  await t.test('logs carry the instance\'s request ids', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    await handed(c);
    const logged = await get(c, '/log?n=7');
    t.equal(logged.start, undefined, 'on the instance');
    await until('the log line', async () => {
      const lines = (await api(s, 'GET', '/v1/functions/app/logs')).text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      return lines.some((l) => l.requestId === logged.id && /handed log 7/.test(l.text));
    });
    t.pass(`a line with request id ${logged.id}`);
  });

  await t.test("the function's timeout holds on the instance", async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    await handed(c);
    const slow = await get(c, '/slow');
    t.equal(slow.status, 504, 'past timeout_ms');
  });

  await t.test('another host on a handed-over connection is refused, and the connection closed', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    await handed(c);
    const other = await get(c, '/', { host: 'other.fn.test' });
    t.equal(other.status, 421);
  });

  await t.test('path-routed connections stay with the router', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    for (let i = 0; i < 10; i++) {
      const res = await c.request({ method: 'GET', path: '/app/p' });
      await res.body.text();
      if (res.headers['x-warren-start'] === undefined) t.fail(`request ${i} was not the router's`);
    }
    t.pass('every answer the router\'s');
  });

  await t.test('a pipelined request is never lost to a handoff', async (t) => {
    const raw = rawClient(t, s);
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: app.fn.test\r\n\r\n`;
    raw.sock.write(req('/p1') + req('/p2') + req('/p3'));
    await until('three answers', () => (raw.got.match(/HTTP\/1\.1 200/g) ?? []).length === 3, 20_000);
    t.match(raw.got, /v1 \/p1[\s\S]*v1 \/p2[\s\S]*v1 \/p3/, 'in order');
  });

  await t.test('a deploy moves a handed-over connection to the new version', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.close());
    t.match((await handed(c)).text, /^v1 /);
    t.equal((await deploy(s, 'app', app('v2'), { limits: { timeout_ms: 1000, concurrency: 4 } })).status, 201);
    await until('v2 on the same client', async () => /^v2 /.test((await get(c, '/').catch(() => ({ text: '' }))).text), 20_000);
    t.pass('v2 answers');
    await until('no v1 instance left', async () => !(await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.some((x) => x.fn === 'app' && x.version === 1), 20_000);
    t.pass('the old instance ended');
  });

  await t.test('a request that blocks the event loop ends its instance, as a timeout does', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.destroy());
    await handed(c);
    const before = (await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.filter((x) => x.fn === 'app').map((x) => x.id);
    const looped = await get(c, '/loop').catch((err: Error) => err);
    t.ok(looped instanceof Error, `the connection was cut (${String(looped)})`);
    const after = (await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.map((x) => x.id);
    t.same(before.filter((id) => after.includes(id)), [], 'the instance is gone');
    const c2 = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c2.close());
    t.equal((await get(c2, '/')).status, 200, 'the function serves again');
  });

  await t.test('an idle handed-over connection is closed by the server after the keep-alive, and frees its slot', async (t) => {
    // a raw socket: undici would close an idle connection itself, before the server's clock
    const raw = rawClient(t, s);
    const closed = new Promise<void>((resolve) => raw.sock.once('close', () => resolve()));
    for (let i = 0; i < 100; i++) {
      raw.got = '';
      raw.sock.write('GET / HTTP/1.1\r\nHost: app.fn.test\r\n\r\n');
      await until('an answer', () => /\r\n\r\nv2 \/ /.test(raw.got), 10_000);
      if (!/x-warren-start/i.test(raw.got)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    t.notMatch(raw.got, /x-warren-start/i, 'handed over');
    const busy = async () => (await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.filter((x) => x.fn === 'app').reduce((n, x) => n + x.busy, 0);
    t.equal(await busy(), 1, 'held while open');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed within 15 s')), 15_000))]);
    t.pass('the server closed it');
    await until('its slot free', async () => (await busy()) === 0, 5_000);
    t.pass('freed');
  });

  await t.test('a closed connection frees its slot: idle instances end (scale to zero)', async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    await handed(c);
    await c.close();
    await until('no instance of app', async () => !(await api(s, 'GET', '/v1/sandboxes')).json<Sandboxes>().sandboxes.some((x) => x.fn === 'app'), 30_000);
    t.pass('none left');
  });

  await t.test("serve's SIGTERM lets a request in flight on a handed-over connection finish", async (t) => {
    const c = new Client(s.data, { pipelining: 1 });
    t.teardown(() => c.destroy());
    await handed(c);
    const inFlight = get(c, '/wait');
    await new Promise((r) => setTimeout(r, 200));
    const stopped = s.stop();
    const got = await inFlight;
    t.equal(got.status, 200, 'answered');
    t.match(got.text, /^v2 \/wait /);
    t.equal(await stopped, 0, 'serve exits 0');
  });
});
