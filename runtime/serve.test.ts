/**
 * The runtime's request path (serve.ts) and its log (log.ts), with the bundle run as a plain node
 * process over unix sockets: what a client of the function socket sees, what the host reads on
 * the runtime's stdout and stderr, and that the runtime outlives whatever a client or the
 * function does to one request.
 */
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import path from 'node:path';
import t from 'tap';
import { Pool } from 'undici';
import { listening } from '../test/runtime-harness.js';
import { LOG_TRUNCATED, MAX_LOG_TEXT_BYTES, REQUEST_ID_HEADER, SOCKET_NAME } from './index.js';

const FN = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const p = url.pathname;
    if (p === '/throw') { ctx.passThroughOnException(); throw new Error('boom from the function'); }
    if (p === '/reject') { await sleep(5); throw new Error('rejected by the function'); }
    if (p === '/number') return 42;
    if (p === '/error') return Response.error();
    if (p === '/used') { const r = Response.json({ a: 1 }); await r.text(); return r; }
    if (p === '/locked') { const body = new ReadableStream(); body.getReader(); return new Response(body); }
    if (p === '/after') {
      ctx.waitUntil(sleep(150).then(() => console.error('signal after the response: ' + request.signal.aborted)));
      return new Response('ok');
    }
    if (p === '/wait') {
      ctx.waitUntil(sleep(400).then(() => console.log('the waitUntil work is done')));
      ctx.waitUntil(sleep(10).then(() => { throw new Error('a failed background task'); }));
      return new Response('answered');
    }
    if (p === '/crash') { setTimeout(() => { throw new Error('thrown in a timer'); }, 10); return new Response('crashing'); }
    if (p === '/dropped') { Promise.reject(new Error('nobody awaits this')); return new Response('dropped'); }
    if (p === '/hang') {
      request.signal.addEventListener('abort', () => console.error('the client went away'));
      return new Promise(() => {});
    }
    if (p === '/slow') { await sleep(300); return new Response('slow done'); }
    if (p === '/stream') {
      let i = 0;
      return new Response(new ReadableStream({ pull(c) { if (i++ < 3) c.enqueue(enc.encode('chunk' + i + ';')); else c.close(); } }));
    }
    if (p === '/drip') {
      let i = 0;
      return new Response(new ReadableStream({ async pull(c) {
        if (i++ === 0) { c.enqueue(enc.encode('first;')); return; }
        await sleep(Number(url.searchParams.get('ms') ?? 100));
        if (i > 20) c.close(); else c.enqueue(enc.encode('drip' + i + ';'));
      } }));
    }
    if (p === '/count') {
      // reads the upload as it comes: what it holds at most is what the runtime buffers ahead
      let bytes = 0;
      for await (const chunk of request.body) {
        if (bytes === 0 && url.searchParams.has('stall')) await sleep(600);
        bytes += chunk.length;
        if (url.searchParams.has('slow')) await sleep(1);
      }
      return Response.json({ bytes });
    }
    if (p === '/echo-stream') return new Response(request.body);
    if (p === '/text') return new Response(String((await request.text()).length));
    if (p === '/log') {
      const n = url.searchParams.get('n');
      console.log('a %s', n);
      await sleep(Math.random() * 30);
      console.warn('b ' + n);
      setTimeout(() => console.info('c ' + n), Math.random() * 30);
      ctx.waitUntil(sleep(Math.random() * 30).then(() => console.debug('d ' + n)));
      let sent = false;
      return new Response(new ReadableStream({ async pull(c) {
        if (sent) { c.close(); return; }
        await sleep(Math.random() * 10);
        console.error('e ' + n);
        sent = true;
        c.enqueue(enc.encode(n));
      } }));
    }
    if (p === '/big-log') { console.log('x'.repeat(100000)); console.log({ nested: { a: [1, 2] } }, 'and %d', 7); console.log('x=%d y=%j', 1, [2]); return new Response('logged'); }
    const headers = new Headers({ 'x-method': request.method, 'x-in': request.headers.get('x-in') ?? '' });
    headers.append('set-cookie', 'a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
    headers.append('set-cookie', 'b=2');
    const body = request.body ? await request.text() : '';
    return new Response(JSON.stringify({ path: p, query: url.search, body, env }), { status: 201, headers });
  },
};
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw connection to the function socket: what a client that goes away mid-body does. */
async function rawConnect(dir: string): Promise<net.Socket> {
  const socket = net.connect(path.join(dir, SOCKET_NAME));
  await once(socket, 'connect');
  socket.on('error', () => {});
  return socket;
}

t.test("a module's fetch gets the request with its env and its Response comes back whole", async (t) => {
  const { conn, client } = await listening(t, null);
  const env = { GREETING: 'hello', LIMITS: { n: 3 } };
  await conn.load({ source: FN, env });
  const res = await client.request({ method: 'POST', path: '/a/b?c=1', headers: { 'x-in': 'hello' }, body: 'the body' });
  t.equal(res.statusCode, 201);
  t.equal(res.headers['x-method'], 'POST');
  t.equal(res.headers['x-in'], 'hello');
  t.same(res.headers['set-cookie'], ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2'], 'each Set-Cookie on its own line');
  t.same(await res.body.json(), { path: '/a/b', query: '?c=1', body: 'the body', env });
  const streamed = await client.request({ method: 'GET', path: '/stream' });
  t.equal(await streamed.body.text(), 'chunk1;chunk2;chunk3;', 'a streamed body arrives in order');
  const own = await client.request({ method: 'GET', path: '/__warren/health' });
  t.equal(own.statusCode, 201, "a /__warren/ path on the function's socket is the function's");
  t.match(await own.body.json(), { path: '/__warren/health', env });
});

t.test('a throw, a rejection or a value that is not a Response is a 500 for that request only', async (t) => {
  const r = await listening(t, FN);
  const cases: Array<[string, RegExp]> = [
    ['/throw', /^the function threw: Error: boom from the function\n {4}at /],
    ['/reject', /^the function threw: Error: rejected by the function\n {4}at /],
    ['/number', /^the function's fetch\(\) returned number, not a Response$/],
    ['/error', /^the function's fetch\(\) returned a Response with status 0$/],
    ['/used', /^the function's fetch\(\) returned a Response whose body was read already$/],
    ['/locked', /^the function's fetch\(\) returned a Response whose body is locked$/],
  ];
  for (const [p, logged] of cases) {
    const res = await r.client.request({ method: 'GET', path: p, headers: { [REQUEST_ID_HEADER]: `id${p}` } });
    t.equal(res.statusCode, 500, p);
    t.notMatch(await res.body.text(), /boom|rejected|number|status|read|locked/, 'what went wrong is not shown to the client');
    t.match(await r.until(logged), { s: 'warren', rid: `id${p}` }, 'the log says why, with the request id');
    const again = await r.client.request({ method: 'GET', path: '/ok' });
    t.equal(again.statusCode, 201, 'the next request is served');
    await again.body.dump();
  }
  const dropped = await r.client.request({ method: 'GET', path: '/dropped' });
  t.equal(await dropped.body.text(), 'dropped');
  t.match(await r.until(/nobody awaits this/), { s: 'warren', m: /^an unhandled promise rejection: Error: nobody awaits this/ });
  t.equal(r.child.exitCode, null, 'a promise nobody awaits does not end the runtime');
});

t.test("a throw outside the request's promise ends the runtime, with a record that says so", async (t) => {
  const r = await listening(t, FN);
  const exited = once(r.child, 'exit');
  const res = await r.client.request({ method: 'GET', path: '/crash', headers: { [REQUEST_ID_HEADER]: 'c1' } });
  t.equal(await res.body.text(), 'crashing');
  const [code] = (await exited) as [number | null];
  t.equal(code, 1);
  t.match(await r.until(/thrown in a timer/), { s: 'warren', rid: 'c1', m: /^an uncaught exception ends the runtime: Error: thrown in a timer\n/ });
});

t.test("a client that goes away aborts the request's signal; a finished response does not", async (t) => {
  const r = await listening(t, FN);
  const gone = new AbortController();
  const hanging = r.client.request({ method: 'GET', path: '/hang', signal: gone.signal });
  await sleep(100);
  gone.abort();
  await t.rejects(hanging);
  t.ok(await r.until(/the client went away/));
  // a response sent whole is not an abort, even when the connection closes afterwards
  const done = await r.client.request({ method: 'GET', path: '/after', headers: { connection: 'close' } });
  t.equal(await done.body.text(), 'ok');
  t.ok(await r.until(/signal after the response: false/));
});

t.test('SIGTERM lets a request in flight and waitUntil work finish, then exits 0', async (t) => {
  const r = await listening(t, FN);
  const slow = r.client.request({ method: 'GET', path: '/slow' });
  const wait = await r.client.request({ method: 'GET', path: '/wait', headers: { [REQUEST_ID_HEADER]: 'w1' } });
  t.equal(await wait.body.text(), 'answered');
  r.child.kill('SIGTERM');
  const res = await slow;
  t.equal(await res.body.text(), 'slow done');
  const [code] = (await once(r.child, 'exit')) as [number | null];
  t.equal(code, 0);
  const records = r.records();
  t.match(records.find((x) => x.s === 'warren'), { rid: 'w1', fd: 'stderr', m: /^a waitUntil promise rejected: Error: a failed background task/ });
  t.match(records.find((x) => x.s === 'stdout'), { rid: 'w1', fd: 'stdout', m: 'the waitUntil work is done' }, 'the waitUntil work finished before the exit');
});

t.test('console output carries the id of the request that wrote it, with 20 requests in flight', async (t) => {
  const r = await listening(t, FN);
  const pool = new Pool('http://warren', { socketPath: path.join(r.dir, SOCKET_NAME), connections: 20 });
  t.teardown(() => pool.destroy());
  const answers = await Promise.all(
    Array.from({ length: 20 }, async (_, n) => {
      const res = await pool.request({ method: 'GET', path: `/log?n=${n}`, headers: { [REQUEST_ID_HEADER]: `req-${n}` } });
      return res.body.text();
    }),
  );
  t.same(answers, Array.from({ length: 20 }, (_, n) => String(n)));
  // each of the five comes on its own (a timer, a waitUntil, the response stream's end): wait for
  // every one, not only the last kinds, before counting (97 of 100 seen once under load)
  for (let n = 0; n < 20; n++) for (const what of 'abcde') await r.until(new RegExp(`^${what} ${n}$`));
  const expected = { a: ['stdout', 'stdout'], b: ['stderr', 'stderr'], c: ['stdout', 'stdout'], d: ['stdout', 'stdout'], e: ['stderr', 'stderr'] } as const;
  let checked = 0;
  for (const rec of r.records()) {
    const m = /^([a-e]) (\d+)$/.exec(rec.m);
    if (!m) continue;
    const [, what, n] = m as unknown as [string, keyof typeof expected, string];
    t.equal(rec.rid, `req-${n}`, `'${rec.m}' carries its request's id`);
    t.same([rec.s, rec.fd], expected[what], `'${rec.m}' is on its stream`);
    checked++;
  }
  t.equal(checked, 100, 'five records for each request: the handler, a timer, a waitUntil and its response stream');
});

t.test("a record's text is console's formatting, cut at the cap with a marker", async (t) => {
  const r = await listening(t, FN);
  const res = await r.client.request({ method: 'GET', path: '/big-log' });
  t.equal(await res.body.text(), 'logged');
  const big = await r.until(/^x+/);
  t.ok(Buffer.byteLength(big.m) <= MAX_LOG_TEXT_BYTES, 'at most the cap');
  t.match(big.m.slice(-40), /… \[truncated \d+ bytes]$/, 'says it was cut, and by how much');
  t.ok(big.m.includes(LOG_TRUNCATED));
  t.match(await r.until(/nested/), { m: "{ nested: { a: [ 1, 2 ] } } and %d 7", rid: null }, 'as util.format makes it');
  t.match(await r.until(/^x=/), { m: 'x=1 y=[2]' });
});

t.test('request and response bodies stream: an upload is not held whole, a slow answer comes in chunks', async (t) => {
  const r = await listening(t, FN);
  const size = 64 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let sent = 0;
  async function* upload() {
    for (; sent < size; sent += chunk.length) yield chunk;
  }
  const res = r.client.request({ method: 'POST', path: '/count?stall', body: Readable.from(upload()) });
  // the function reads its first chunk, then nothing for 600 ms: what the client got rid of
  // meanwhile is what the sockets and the runtime hold
  await sleep(400);
  const whileStalled = sent;
  const { bytes } = (await (await res).body.json()) as { bytes: number };
  t.equal(bytes, size, 'every byte reached the function');
  t.ok(whileStalled < 8 * 1024 * 1024, `while the function read nothing the client could send only ${whileStalled / 1048576} MiB of 64`);
  const drip = await r.client.request({ method: 'GET', path: '/drip?ms=150' });
  const began = Date.now();
  const times: number[] = [];
  for await (const piece of drip.body) {
    times.push(Date.now() - began);
    if (String(piece).includes('drip3')) break;
  }
  drip.body.destroy();
  t.ok(times.length >= 3, 'the chunks came one by one');
  t.ok((times[0] as number) < 100, `the first chunk came before the rest were made (${times[0]} ms)`);
});

t.test('a client that disconnects mid-body, either way, leaves the runtime serving', async (t) => {
  const r = await listening(t, FN);
  for (const p of ['/count', '/echo-stream', '/text', '/count?slow']) {
    const s = await rawConnect(r.dir);
    s.write(`POST ${p} HTTP/1.1\r\nHost: warren\r\nContent-Length: ${32 * 1024 * 1024}\r\n\r\n`);
    for (let i = 0; i < 8; i++) s.write(Buffer.alloc(128 * 1024, 1));
    await sleep(50);
    s.destroy();
  }
  for (const p of ['/drip?ms=20', '/echo-stream']) {
    const s = await rawConnect(r.dir);
    if (p === '/echo-stream') s.write(`POST ${p} HTTP/1.1\r\nHost: warren\r\nTransfer-Encoding: chunked\r\n\r\n`);
    else s.write(`GET ${p} HTTP/1.1\r\nHost: warren\r\n\r\n`);
    if (p === '/echo-stream') s.write(`100000\r\n${'y'.repeat(0x100000)}\r\n`);
    await once(s, 'data'); // the head and a first piece of the body
    s.destroy();
  }
  await sleep(300);
  t.equal(r.child.exitCode, null, 'the runtime still runs');
  const res = await r.client.request({ method: 'POST', path: '/x', body: 'after' });
  t.match(await res.body.json(), { body: 'after' }, 'and serves the next request');
  t.notMatch(r.stderr(), /Controller is already closed|uncaught/i);
  t.match(r.records().find((x) => x.s === 'warren'), { m: /^the client went away mid-request, then the function threw: .*aborted/ }, 'a body read that fails so is told apart');
});
