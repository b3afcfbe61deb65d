/**
 * The control socket's hand-written HTTP/1.1, both sides (control-wire.ts in the runtime,
 * control-client.ts on the host), on unix sockets of a temporary dir: what the host sends arrives
 * whole however the bytes are split, answers come back on kept connections, and what neither side
 * should accept (a chunked body, an oversized one, a broken answer) is refused with a reason.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { ControlClient, MAX_ANSWER_BYTES } from './control-client.js';
import { WireServer, type WireHandler, type WireRequest } from './control-wire.js';

async function serving(t: Test, handler: Partial<WireHandler> = {}): Promise<{ file: string; seen: WireRequest[]; server: WireServer }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-wire-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seen: WireRequest[] = [];
  const server = new WireServer({
    maxBody: () => 1024,
    tooLarge: (_m, _p, reply) => reply(413, { ok: false, error: 'too large' }),
    request: (req, reply) => {
      seen.push(req);
      reply(200, { ok: true, got: `${req.method} ${req.path} ${req.body.toString()}` });
    },
    ...handler,
  });
  const file = path.join(dir, 'control.sock');
  await new Promise<void>((resolve) => server.listen(file, resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { file, seen, server };
}

/** Writes `parts` one by one (a turn of the event loop apart) on a new connection; everything
 * the server sent back until it closed or `until` matched. */
async function raw(file: string, parts: string[], until?: RegExp): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(file);
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  let closed = false;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (d) => {
      text += d.toString();
      if (until?.test(text)) resolve();
    });
    socket.on('close', () => {
      closed = true;
      resolve();
    });
  });
  for (const p of parts) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
  socket.destroy();
  return { text, closed };
}

t.test('a request split anywhere arrives whole; two on one connection are answered in order', async (t) => {
  const { file, seen } = await serving(t);
  const one = 'POST /load HTTP/1.1\r\nHost: warren\r\nContent-Length: 5\r\n\r\nhello';
  const two = 'GET /health HTTP/1.1\r\nHost: warren\r\n\r\n';
  const { text } = await raw(file, [one.slice(0, 7), one.slice(7, 40), one.slice(40) + two.slice(0, 3), two.slice(3)], /GET \/health[^]*$/);
  t.same(
    seen.map((r) => [r.method, r.path, r.body.toString()]),
    [
      ['POST', '/load', 'hello'],
      ['GET', '/health', ''],
    ],
  );
  const answers = text.split('HTTP/1.1 ').filter(Boolean);
  t.equal(answers.length, 2);
  t.match(answers[0], /^200 OK\r\ncontent-type: application\/json\r\ncontent-length: \d+\r\n\r\n\{"ok":true,"got":"POST \/load hello"\}$/);
});

t.test('what the host never sends is refused with 400 and the connection closed', async (t) => {
  const { file, seen } = await serving(t);
  for (const [what, request] of [
    ['a chunked body', 'POST /load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['a length that is no number', 'POST /load HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello'],
    ['a malformed request line', 'POST  /load\r\n\r\n'],
    ['a head without end past 16 KiB', `GET /health HTTP/1.1\r\nX: ${'a'.repeat(17 * 1024)}`],
  ]) {
    const { text, closed } = await raw(file, [request as string]);
    t.match(text, /^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\n\{"ok":false,"error":"a bad control request: /, what as string);
    t.ok(closed, `${what}: closed`);
  }
  t.equal(seen.length, 0, 'no handler saw any of them');
});

t.test('a body over the limit is answered 413 without being read, then the connection closes', async (t) => {
  let asked = '';
  const { file, seen } = await serving(t, { maxBody: (_m, p) => (p === '/load' ? 10 : 0), tooLarge: (m, p, reply) => ((asked = `${m} ${p}`), reply(413, { ok: false })) });
  const { text, closed } = await raw(file, ['POST /load HTTP/1.1\r\nContent-Length: 11\r\n\r\n', 'hello world']);
  t.match(text, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  t.equal(asked, 'POST /load');
  t.ok(closed);
  t.equal(seen.length, 0);
});

t.test('Connection: close is honoured after the answer', async (t) => {
  const { file } = await serving(t);
  const { text, closed } = await raw(file, ['GET /health HTTP/1.1\r\nConnection: close\r\n\r\n']);
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n/);
  t.ok(closed);
});

t.test('the client: answers on one kept connection, sent() once written, several at once on several', async (t) => {
  let connections = 0;
  const { file, server, seen } = await serving(t);
  server.on('connection', () => connections++);
  const client = new ControlClient(file, 4);
  t.teardown(() => client.destroy());
  let sent = 0;
  const a = await client.request('POST', '/load', '{"x":1}', { sent: () => sent++ });
  t.same(a, { status: 200, text: '{"ok":true,"got":"POST /load {\\"x\\":1}"}' });
  t.equal(sent, 1);
  await client.request('GET', '/health', undefined);
  t.equal(connections, 1, 'one connection for requests one after another');
  t.equal(client.idle, 1);
  t.equal(client.busy, 0);
  // a slow answer holds its connection: others go on new ones, up to the cap
  const held: Array<() => void> = [];
  server.removeAllListeners('connection');
  server.on('connection', () => connections++);
  const slow = await serving(t, { request: (req, reply) => held.push(() => reply(200, { ok: true, got: req.path })) });
  const c2 = new ControlClient(slow.file, 2);
  t.teardown(() => c2.destroy());
  const answers = [c2.request('GET', '/1', undefined), c2.request('GET', '/2', undefined), c2.request('GET', '/3', undefined)];
  await new Promise((r) => setTimeout(r, 100));
  t.equal(held.length, 2, 'two connections at most: the third waits');
  t.equal(c2.busy, 3);
  held.splice(0).forEach((f) => f());
  await new Promise((r) => setTimeout(r, 100));
  t.equal(held.length, 1, 'the third went out on a connection freed');
  held.splice(0).forEach((f) => f());
  t.same((await Promise.all(answers)).map((r) => JSON.parse(r.text).got), ['/1', '/2', '/3']);
  t.equal(seen.length, 2);
});

t.test('the client refuses a broken runtime: closed mid-answer, oversized, malformed, nobody there', async (t) => {
  const cases: Array<[string, (s: net.Socket) => void, RegExp]> = [
    ['closed before its answer', (s) => s.destroy(), /WARREN_RUNTIME_UNHEALTHY|closed its control connection/],
    ['an answer over the cap', (s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${MAX_ANSWER_BYTES + 1}\r\n\r\n`), /exceeds/],
    ['a chunked answer', (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'), /Transfer-Encoding/],
    ['no status line', (s) => s.write('hello\r\n\r\n'), /no status line/],
    ['more than its length', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}{}'), /longer than its Content-Length/],
  ];
  for (const [what, answer, expect] of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-wire-'));
    const file = path.join(dir, 'c.sock');
    const server = net.createServer((s) => s.once('data', () => answer(s)));
    await new Promise<void>((resolve) => server.listen(file, resolve));
    const client = new ControlClient(file, 1);
    await t.rejects(client.request('GET', '/health', undefined), { message: expect }, what);
    client.destroy();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const none = new ControlClient('/nonexistent/wrntest/control.sock', 1);
  await t.rejects(none.request('GET', '/health', undefined), { code: 'WARREN_RUNTIME_UNHEALTHY' }, 'nobody listening');
});

t.test('the client: an abort fails its request; close() waits for what is in flight; destroy() fails it', async (t) => {
  const held: Array<() => void> = [];
  const { file } = await serving(t, { request: (req, reply) => held.push(() => reply(200, { ok: true, got: req.path })) });
  const client = new ControlClient(file, 4);
  const abort = new AbortController();
  const aborted = client.request('POST', '/scheduled', '{}', { signal: abort.signal });
  await new Promise((r) => setTimeout(r, 50));
  abort.abort(new Error('timed out'));
  await t.rejects(aborted, { message: 'timed out' });
  const inFlight = client.request('GET', '/health', undefined);
  await new Promise((r) => setTimeout(r, 50));
  let closed = false;
  const closing = client.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(closed, 'close waits for the request in flight');
  held.at(-1)?.();
  t.equal((await inFlight).status, 200);
  await closing;
  await t.rejects(client.request('GET', '/health', undefined), { code: 'WARREN_RUNTIME_UNHEALTHY' }, 'no request after close');
  const c2 = new ControlClient(file, 1);
  const lost = c2.request('GET', '/health', undefined);
  await new Promise((r) => setTimeout(r, 50));
  c2.destroy(new Error('the sandbox ended'));
  await t.rejects(lost, { message: 'the sandbox ended' });
});

t.test('the client: a request aborted while it waits for a connection never goes out', async (t) => {
  const held: Array<() => void> = [];
  const { file, seen } = await serving(t, {
    request: (req, reply) => {
      seen.push(req);
      held.push(() => reply(200, { ok: true, got: req.path }));
    },
  });
  const client = new ControlClient(file, 1);
  t.teardown(() => client.destroy());
  const first = client.request('GET', '/1', undefined);
  const abort = new AbortController();
  const waiting = client.request('POST', '/2', '{}', { signal: abort.signal });
  const third = client.request('GET', '/3', undefined);
  await new Promise((r) => setTimeout(r, 50));
  abort.abort(new Error('its timeout'));
  held.shift()?.();
  await first;
  await t.rejects(waiting, { message: 'its timeout' });
  await new Promise((r) => setTimeout(r, 50));
  held.shift()?.();
  t.equal(JSON.parse((await third).text).got, '/3', 'the connection went on to the next');
  t.same(
    seen.map((r) => r.path),
    ['/1', '/3'],
    'the aborted one never reached the runtime',
  );
});

t.test('a load of 8 MiB arrives whole, in whatever reads the kernel splits it into', async (t) => {
  const { file } = await serving(t, {
    maxBody: () => 16 * 1024 * 1024,
    request: (req, reply) => reply(200, { ok: true, length: req.body.length, sha: createHash('sha256').update(req.body).digest('hex') }),
  });
  const client = new ControlClient(file, 1);
  t.teardown(() => client.destroy());
  const source = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh').toString();
  const answer = await client.request('POST', '/load', source);
  t.equal(answer.status, 200);
  t.same(JSON.parse(answer.text), { ok: true, length: source.length, sha: createHash('sha256').update(source).digest('hex') });
});
