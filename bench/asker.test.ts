import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Asker, takeRecords } from './asker.js';
import { ensureBenchNative } from './native.js';

t.test("ask's records, whole ones off the front", async (t) => {
  const head = 'HTTP/1.1 200 OK\r\nA: 1';
  const cases: Array<[string, string, ReturnType<typeof takeRecords>]> = [
    ['nothing', '', { records: [], rest: '' }],
    ['a line cut short', 'ok 12', { records: [], rest: 'ok 12' }],
    ['a head cut short', `ok 12 ${head.length}\n${head.slice(0, 5)}`, { records: [], rest: `ok 12 ${head.length}\n${head.slice(0, 5)}` }],
    ['one whole', `ok 12 ${head.length}\n${head}`, { records: [{ kind: 'ok', us: 12, head }], rest: '' }],
    [
      'a failure, then one whole and the start of another',
      `fail 7 connect failed\nok 3 ${head.length}\n${head}ok 4`,
      { records: [{ kind: 'fail', us: 7, why: 'connect failed' }, { kind: 'ok', us: 3, head }], rest: 'ok 4' },
    ],
    ['a line it never writes', 'garbage\n', { records: [{ kind: 'fail', us: 0, why: "ask wrote 'garbage'" }], rest: '' }],
  ];
  for (const [name, text, want] of cases) t.same(takeRecords(text), want, name);
});

t.test('ask times a request to its last byte, before the server closes', async (t) => {
  const native = ensureBenchNative();
  const held: import('node:net').Socket[] = [];
  const server = http.createServer((req, res) => {
    held.push(req.socket);
    req.socket.destroySoon = () => {}; // node's close after a Connection: close answer, held
    if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 150);
      return;
    }
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'x-warren-start': 'prewarm', 'set-cookie': ['a=1', 'b=2'] });
    res.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const asker = new Asker(native.ask, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  t.teardown(async () => {
    await asker.close();
    for (const s of held) s.destroy();
    server.close();
  });
  const ok = await asker.ask('/x', AbortSignal.timeout(5000));
  t.equal(ok.status, 200);
  t.equal(ok.headers['x-warren-start'], 'prewarm', 'its headers come back');
  t.ok(ok.ms > 0 && ok.ms < 5000, `timed: ${ok.ms} ms`);
  t.equal((await asker.ask('/missing', AbortSignal.timeout(5000))).status, 404, 'a second request on the same client');
  const slow = await asker.ask('/slow', AbortSignal.timeout(5000));
  t.ok(slow.ms >= 140, `a slow answer is timed whole: ${slow.ms} ms`);
  await t.rejects(asker.ask('/a b', AbortSignal.timeout(5000)), /a path with a space/);
});

t.test('a refused connection is a failure, and the client goes on', async (t) => {
  const native = ensureBenchNative();
  // a port just freed: nothing listens there
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const asker = new Asker(native.ask, { host: '127.0.0.1', port });
  t.teardown(() => asker.close());
  await t.rejects(asker.ask('/', AbortSignal.timeout(5000)), /connect failed/);
  await t.rejects(asker.ask('/', AbortSignal.timeout(5000)), /connect failed/, 'still answering');
});

t.test('an abort ends the client and rejects', async (t) => {
  const native = ensureBenchNative();
  const server = http.createServer(() => {}); // never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const asker = new Asker(native.ask, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  t.teardown(async () => {
    await asker.close();
    server.closeAllConnections();
    server.close();
  });
  await t.rejects(asker.ask('/', AbortSignal.timeout(200)));
  await t.rejects(asker.ask('/', AbortSignal.timeout(200)), /ended/, 'ended for good');
});
