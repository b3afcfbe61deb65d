import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import { REQUEST_ID_HEADER } from '../runtime/protocol.js';
import { FakeControl, fakeFunction, FakeInvoker, QueueFull, type FakeFnOptions, type Handler } from '../test/router/fakes.js';
import { firstStatusLine, nextChunk, open, pump, readAll, request, sleep } from '../test/router/http.js';
import { refusedWhileSending } from '../test/router/refused-uploads.js';
import { startRouter, type DataLimits } from './index.js';

const LOCAL = { host: '127.0.0.1', port: 0 };

async function setup(t: Test, fns: Record<string, Handler | [Handler, FakeFnOptions]>, opts: { domain?: string; limits?: Partial<DataLimits> } = {}) {
  const invoker = new FakeInvoker();
  for (const [name, value] of Object.entries(fns)) {
    const [handler, fnOpts] = Array.isArray(value) ? value : [value, {}];
    const fn = await fakeFunction(handler);
    t.teardown(() => fn.close());
    invoker.add(name, fn, fnOpts);
  }
  const router = await startRouter({ invoker, control: new FakeControl(), token: 'x'.repeat(32), dataListen: LOCAL, controlListen: LOCAL, ...opts });
  t.teardown(() => router.destroy());
  return { invoker, router, url: router.dataUrl };
}

const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
  });
};

/** The server still answers: nothing an earlier client did broke it. */
async function stillServes(t: Test, url: string) {
  const a = await request(`${url}/echo/alive`);
  t.equal(a.status, 200, 'the router still serves');
}

t.test('path routing strips the function prefix; host routing keeps the URL', async (t) => {
  const { url } = await setup(t, { hello: echo, v1: echo }, { domain: 'fn.test' });
  const cases: Array<[path: string, host: string | undefined, seen: string]> = [
    ['/hello/a/b?x=1', undefined, '/a/b?x=1'],
    ['/hello', undefined, '/'],
    ['/hello?x=1', undefined, '/?x=1'],
    ['/hello/__warren/health', undefined, '/__warren/health'],
    ['/v1/functions', undefined, '/functions'],
    ['/a/b?x=1', 'hello.fn.test', '/a/b?x=1'],
    ['/__warren/load', 'hello.fn.test:8080', '/__warren/load'],
  ];
  for (const [path, host, seen] of cases) {
    const a = await request(url + path, { headers: host ? { host } : {} });
    t.equal(a.status, 200, `${host ?? ''}${path}`);
    t.equal(JSON.parse(a.body).url, seen, `${host ?? ''}${path} reaches the function as ${seen}`);
  }
});

t.test('the control API is not on the data plane, and an unknown function is a 404 naming it', async (t) => {
  const { url, invoker } = await setup(t, {});
  for (const path of ['/v1/functions', '/healthz', '/metrics', '/nope/x']) {
    const a = await request(url + path);
    const name = path.split('/')[1];
    t.equal(a.status, 404, path);
    t.equal(a.headers['x-warren-fault'], 'function');
    const body = JSON.parse(a.body);
    t.match(body, { error: `no function '${name}'`, code: 'WARREN_FN_NOT_FOUND', fault: 'function', requestId: a.headers['x-request-id'] });
  }
  const root = await request(url + '/');
  t.equal(root.status, 404);
  t.match(JSON.parse(root.body).error, /no function named/);
  t.equal(invoker.releases.length, 0);
});

t.test('the request id is the router\'s, sent to the function and echoed; the start is labelled', async (t) => {
  const { url, invoker } = await setup(t, {
    echo: [echo, { start: { label: 'prewarm', ms: 2.5, phases: [['take', 0.12], ['specialize', 2.3]] } }],
  });
  const a = await request(`${url}/echo/`, { headers: { [REQUEST_ID_HEADER]: 'forged', 'x-request-id': 'forged2', connection: 'keep-alive, x-hop', 'x-hop': '1' } });
  const seen = JSON.parse(a.body).headers;
  t.match(a.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(seen[REQUEST_ID_HEADER], a.headers['x-request-id'], 'the function sees the id the client gets back');
  t.not(seen[REQUEST_ID_HEADER], 'forged');
  t.notOk(seen['x-hop'], 'a header the Connection header names is dropped');
  t.equal(a.headers['x-warren-start'], 'prewarm');
  t.equal(a.headers['server-timing'], 'start;desc=prewarm;dur=2.5, take;dur=0.12, specialize;dur=2.3');
  t.same(await invoker.released(1), [{ fn: 'echo', outcome: 'ok' }]);
});

t.test('the function\'s answer passes as it is: status, repeated headers, HEAD, 204', async (t) => {
  const { url } = await setup(t, {
    shape: (req, res) => {
      if (req.url === '/empty') return void res.writeHead(204).end();
      res.writeHead(201, 'Made', { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain', 'content-length': '5', 'keep-alive': 'timeout=1' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    },
  });
  const a = await request(`${url}/shape/`);
  t.equal(a.status, 201);
  t.same(a.headers['set-cookie'], ['a=1', 'b=2']);
  t.equal(a.headers['content-length'], '5');
  t.notOk(a.headers['keep-alive'] === 'timeout=1', "the function's hop-by-hop headers stay behind");
  t.equal(a.body, 'hello');
  const head = await request(`${url}/shape/`, { method: 'HEAD' });
  t.equal(head.status, 201);
  t.equal(head.body, '');
  const empty = await request(`${url}/shape/empty`);
  t.equal(empty.status, 204);
  t.equal(empty.body, '');
});

t.test('bodies stream both ways: chunks arrive before either side ends', async (t) => {
  const { url, invoker } = await setup(t, {
    duplex: (req, res) => {
      // answer each request chunk as it comes, while the request is still open
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.on('data', (c: Buffer) => res.write(`got ${c.toString()};`));
      req.on('end', () => res.end('end'));
    },
  });
  const { req, response } = open(`${url}/duplex/`, { headers: { 'transfer-encoding': 'chunked' } });
  req.write('one');
  const res = await response;
  t.equal(await nextChunk(res), 'got one;', 'the first chunk came back before the upload ended');
  req.write('two');
  t.equal(await nextChunk(res), 'got two;');
  req.end();
  t.equal(await readAll(res), 'end');
  t.same(await invoker.released(1), [{ fn: 'duplex', outcome: 'ok' }]);
});

t.test('a slow client holds the function back (backpressure), and gets every byte', async (t) => {
  const total = 64 * 1024 * 1024;
  let written = () => 0;
  const { url } = await setup(t, {
    big: (_req, res) => {
      written = pump(res, total).sent;
    },
  });
  const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${url}/big/`, { agent: false }, resolve));
  res.pause();
  await sleep(300);
  t.ok(written() < total / 2, `the function wrote ${written()} bytes of ${total} while the client read none`);
  let got = 0;
  res.on('data', (c: Buffer) => (got += c.length));
  res.resume();
  await new Promise((resolve) => res.on('end', resolve));
  t.equal(got, total);
});

t.test('an upload waits for a function that reads slowly (backpressure)', async (t) => {
  let reading!: () => void;
  const { url } = await setup(t, {
    slow: (req, res) => {
      req.pause();
      reading = () => {
        let got = 0;
        req.on('data', (c: Buffer) => (got += c.length));
        req.on('end', () => res.end(String(got)));
        req.resume();
      };
    },
  });
  const total = 64 * 1024 * 1024; // under the default body limit
  const { req, response } = open(`${url}/slow/`, { method: 'PUT', headers: { 'content-length': String(total) } });
  const { sent } = pump(req, total, 256 * 1024);
  await sleep(400);
  t.ok(sent() < total / 2, `the client could send ${sent()} bytes of ${total} while the function read none`);
  reading();
  const res = await response;
  t.equal(await readAll(res), String(total), 'then every byte arrives');
});

t.test('a function that answers before the upload ended: the client gets the answer', async (t) => {
  const { url, invoker } = await setup(t, { early: (_req, res) => res.end('early') , echo });
  const { req, response } = open(`${url}/early/`, { headers: { 'transfer-encoding': 'chunked' } });
  req.on('error', () => {});
  req.write(Buffer.alloc(64 * 1024));
  const res = await response;
  t.equal(res.statusCode, 200);
  t.equal(await readAll(res), 'early');
  req.end(Buffer.alloc(1024));
  t.same(await invoker.released(1), [{ fn: 'early', outcome: 'ok' }]);
  await stillServes(t, url);
});

t.test('bodies over the limit are 413, by length up front and by counting a chunked one', async (t) => {
  const { url, invoker } = await setup(t, { echo }, { limits: { maxBodyBytes: 1024 } });
  const up = await request(`${url}/echo/`, { method: 'POST', body: Buffer.alloc(2048) });
  t.equal(up.status, 413);
  t.match(JSON.parse(up.body), { code: 'WARREN_FN_BODY_TOO_LARGE', fault: 'function' });
  t.equal(invoker.acquired, 0, 'no instance was taken for it');

  const ok = await request(`${url}/echo/`, { method: 'POST', body: Buffer.alloc(1024, 'a') });
  t.equal(JSON.parse(ok.body).body.length, 1024, 'a body at the limit passes');

  const { req, response } = open(`${url}/echo/`, { headers: { 'transfer-encoding': 'chunked' } });
  req.on('error', () => {}); // the router may close before the last chunk is written
  req.write(Buffer.alloc(600));
  await sleep(20);
  req.write(Buffer.alloc(600));
  const res = await response;
  t.equal(res.statusCode, 413);
  t.match(JSON.parse(await readAll(res)), { code: 'WARREN_FN_BODY_TOO_LARGE' });
  t.same((await invoker.released(2)).map((r) => r.outcome), ['ok', 'ok']);
  await stillServes(t, url);
});

t.test('a client still sending a body past the limit reads its 413; the connection ends soon after', async (t) => {
  const { url, invoker } = await setup(t, { echo }, { limits: { maxBodyBytes: 1024 } });
  const port = Number(new URL(url).port);
  const head = (framing: string) => `PUT /echo/ HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n`;
  // node closed such a connection as soon as its answer was written: the unread body made that
  // a RST, and 29 of 30 such clients lost the 413 (linger.ts)
  await refusedWhileSending(t, port, head, { clients: 8, total: 32 * 1024 * 1024, answeredBy: () => 8 * 1024 * 1024 });
  t.equal(invoker.acquired, 9, 'only the chunked ones took an instance (their length was not known up front)');
  await stillServes(t, url);
});

t.test('Expect: 100-continue: go on once an instance takes the request; anything else is answered before the body is sent', async (t) => {
  const { url, invoker } = await setup(t, { echo, busy: echo }, { limits: { maxBodyBytes: 1024 } });
  invoker.refuse = (fn) => (fn === 'busy' ? new QueueFull(fn, 1) : undefined);
  const port = Number(new URL(url).port);
  // what the server sends before any byte of the body: the first answer's status line
  const firstLine = (path: string, length: number) =>
    firstStatusLine(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`);
  t.equal(await firstLine('/echo/', 1024 * 1024 * 1024), 'HTTP/1.1 413 Payload Too Large', 'a declared 1 GiB: 413, not 100 Continue');
  t.equal(await firstLine('/nope/', 10), 'HTTP/1.1 404 Not Found', 'no such function: 404');
  t.equal(await firstLine('/busy/', 10), 'HTTP/1.1 429 Too Many Requests', 'a full queue: 429');
  t.equal(await firstLine('/echo/', 10), 'HTTP/1.1 100 Continue', 'a body that fits: go on');
  const sent = await request(`${url}/echo/`, { method: 'POST', headers: { expect: '100-continue' }, body: 'x'.repeat(1000) });
  t.equal(sent.status, 200, 'and a client that waits for it is served');
  t.equal(JSON.parse(sent.body).body.length, 1000, 'with its whole body');
  t.equal(JSON.parse(sent.body).headers.expect, undefined, 'the function never sees the Expect');
  await stillServes(t, url);
});

t.test('a full queue is 429 with Retry-After; a failed start is 503 on the platform', async (t) => {
  const { url, invoker } = await setup(t, { echo });
  invoker.refuse = (fn) => new QueueFull(fn, 1.2);
  const a = await request(`${url}/echo/`);
  t.equal(a.status, 429);
  t.equal(a.headers['retry-after'], '2');
  t.match(JSON.parse(a.body), { code: 'WARREN_FN_QUEUE_FULL', fault: 'function' });
  const { WarrenError } = await import('../lib/errors.js');
  invoker.refuse = () => new WarrenError('WARREN_FN_START', 'no sandbox could start: spawner gone');
  const b = await request(`${url}/echo/`);
  t.equal(b.status, 503);
  t.equal(b.headers['x-warren-fault'], 'platform');
  t.match(JSON.parse(b.body), { error: 'no sandbox could start: spawner gone', fault: 'platform' });
});

t.test('past the timeout: 504 and release("timeout"); after the headers, a cut connection', async (t) => {
  const { url, invoker } = await setup(t, {
    hang: [() => {}, { timeoutMs: 150 }],
    half: [(_req, res) => res.writeHead(200).write('partial'), { timeoutMs: 150 }],
  });
  const start = Date.now();
  const a = await request(`${url}/hang/`);
  t.equal(a.status, 504);
  t.ok(Date.now() - start >= 140, 'after the timeout');
  t.match(JSON.parse(a.body), { code: 'WARREN_FN_TIMEOUT', fault: 'function', error: "function 'hang' did not answer within 150 ms" });
  t.same(await invoker.released(1), [{ fn: 'hang', outcome: 'timeout' }]);
  await t.rejects(request(`${url}/half/`), { code: 'ECONNRESET' }, 'a started answer is cut');
  t.same((await invoker.released(2))[1], { fn: 'half', outcome: 'timeout' });
});

t.test('the instance dies: 502 with the reason, or a cut connection once headers went out', async (t) => {
  const { url, invoker } = await setup(t, {
    oom: [(req) => req.socket.destroy(), { brokenReason: 'out of memory' }],
    midway: [(req, res) => {
      res.writeHead(200).write('partial');
      setTimeout(() => req.socket.destroy(), 30);
    }, { brokenReason: 'out of memory' }],
    throws: (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error'),
    echo,
  });
  const a = await request(`${url}/oom/`);
  t.equal(a.status, 502);
  t.equal(a.headers['x-warren-fault'], 'function');
  t.match(JSON.parse(a.body), { error: 'out of memory', code: 'WARREN_FN_CRASHED', fault: 'function' });
  t.same(await invoker.released(1), [{ fn: 'oom', outcome: 'broken' }]);
  await t.rejects(request(`${url}/midway/`), { code: 'ECONNRESET' });
  t.same((await invoker.released(2))[1], { fn: 'midway', outcome: 'broken' });
  const own = await request(`${url}/throws/`);
  t.equal(own.status, 500, "the function's own 500 passes through");
  t.equal(own.body, 'Internal Server Error');
  t.notOk(own.headers['x-warren-fault']);
  t.same((await invoker.released(3))[2], { fn: 'throws', outcome: 'ok' });
});

t.test('a client that goes away releases once, with "ok", and the router lives on', async (t) => {
  let upstreamClosed = 0;
  const { url, invoker } = await setup(t, {
    echo,
    drip: (req, res) => {
      res.writeHead(200);
      const tick = setInterval(() => res.write('tick\n'), 10);
      res.on('close', () => {
        clearInterval(tick);
        upstreamClosed++;
      });
    },
  });

  await t.test('mid request body', async (t) => {
    const { req } = open(`${url}/echo/`, { headers: { 'content-length': '100000' } });
    req.on('error', () => {});
    req.write(Buffer.alloc(1000));
    await sleep(50);
    req.destroy();
    t.same((await invoker.released(1)).slice(-1), [{ fn: 'echo', outcome: 'ok' }]);
  });

  await t.test('mid chunked request body', async (t) => {
    const { req } = open(`${url}/echo/`, { headers: { 'transfer-encoding': 'chunked' } });
    req.on('error', () => {});
    req.write('abc');
    await sleep(50);
    req.destroy();
    t.same((await invoker.released(2)).slice(-1), [{ fn: 'echo', outcome: 'ok' }]);
  });

  await t.test('mid response', async (t) => {
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${url}/drip/`, { agent: false }, resolve));
    await nextChunk(res);
    res.destroy();
    t.same((await invoker.released(3)).slice(-1), [{ fn: 'drip', outcome: 'ok' }]);
    for (let i = 0; i < 40 && upstreamClosed === 0; i++) await sleep(25);
    t.equal(upstreamClosed, 1, 'the upstream exchange was aborted');
  });

  await t.test('while waiting for an instance', async (t) => {
    let letGo!: () => void;
    invoker.hold = new Promise((resolve) => (letGo = resolve));
    const req = http.get(`${url}/echo/`, { agent: false });
    req.on('error', () => {});
    await sleep(50);
    req.destroy();
    await sleep(50);
    invoker.hold = undefined;
    letGo();
    t.equal(invoker.releases.length, 3, 'nothing was taken, nothing released');
  });

  await stillServes(t, url);
  t.equal(invoker.releases.length, 4, 'each invocation released exactly once');
});

t.test('close() drains: no new connections, the one in flight finishes', async (t) => {
  let answer!: () => void;
  const { url, router } = await setup(t, {
    slow: (_req, res) => {
      answer = () => res.end('done');
    },
  });
  const inflight = request(`${url}/slow/`);
  await sleep(50);
  const closed = router.close();
  t.equal(router.close(), closed, 'close() is idempotent');
  await t.rejects(request(`${url}/slow/`), { code: 'ECONNREFUSED' });
  answer();
  t.equal((await inflight).body, 'done');
  await closed;
});

t.test('a client slow with its headers gets 408; connections past the cap are dropped', async (t) => {
  const { url } = await setup(t, { echo }, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 2 } });
  const { port } = new URL(url);
  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1', () => resolve(s)).on('error', reject);
    });
  const read = (s: net.Socket) =>
    new Promise<string>((resolve) => {
      let text = '';
      s.on('data', (c: Buffer) => (text += c.toString()));
      s.on('error', () => {});
      s.on('close', () => resolve(text));
    });
  const slow = await connect();
  const slowAnswer = read(slow);
  slow.write('GET /echo/ HTTP/1.1\r\nHost: x\r\n');
  const other = await connect();
  const third = await connect();
  const thirdAnswer = read(third);
  third.write('GET /echo/ HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(await thirdAnswer, '', 'the third connection is closed unanswered');
  t.match(await slowAnswer, /^HTTP\/1.1 408 /, 'headers not done in time: 408');
  other.destroy();
  await t.rejects(startRouter({
    invoker: new FakeInvoker(), control: new FakeControl(), token: 'x'.repeat(32), dataListen: LOCAL, controlListen: LOCAL,
    limits: { headersTimeoutMs: 2000, requestTimeoutMs: 1000 },
  }), { code: 'WARREN_ARG_INVALID' });
});
