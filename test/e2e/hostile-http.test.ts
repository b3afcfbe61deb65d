/**
 * Hostile HTTP against a real `warren serve` (needs root): each case attacks the data plane as a
 * client could, and a neighbour function must keep answering throughout. Raw sockets to
 * 127.0.0.1 only, each attack bounded in count and time. What each case attacks is its name.
 */
import fs from 'node:fs';
import net from 'node:net';
import zlib from 'node:zlib';
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, NEIGHBOUR, withNeighbour } from './hostile-helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe } from './serve-helpers.js';

const dirs = serveDirs('wrntest-hostile');
/** The 10,000, unless this process may not open that many sockets. */
const IDLE_CONNECTIONS = Math.min(10_000, openFilesLimit() - 500);

function openFilesLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 1024);
}

/** Counts what reaches it (the smuggling cases check nothing unexpected did) and echoes sizes. */
const TARGET = `
let hits = 0;
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/hits') return Response.json({ hits });
    hits++;
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array();
    return Response.json({ path: url.pathname, raw: request.url, bytes: body.length, encoding: request.headers.get('content-encoding') });
  },
};`;

interface Raw {
  /** Everything the server sent until it closed or `ms` passed. */
  text: string;
  closed: boolean;
}

/** Writes `parts` (with `gapMs` between) on a raw connection and collects the answer. */
function raw(port: number, parts: ReadonlyArray<string | Buffer>, opts: { gapMs?: number; ms?: number } = {}): Promise<Raw> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      done();
    });
    timer = setTimeout(done, opts.ms ?? 10_000);
    (async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    })();
  });
}

const status = (r: Raw) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1] ?? 0);

t.test('hostile HTTP: each attack is refused or contained, and the neighbour answers throughout', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const port = ports(19280);
  const s = await startServe(dirs, port, ['--no-demo', '--pool', '1', '--max-body', '1m', '--header-timeout', '2s', '--request-timeout', '4s', '--max-connections', '2000']);
  t.teardown(async () => {
    await s.stop();
  });
  t.equal((await deploy(s, 'target', TARGET)).status, 201);
  t.equal((await deploy(s, 'neighbour', NEIGHBOUR)).status, 201);
  const hits = async () => (await invoke(s, '/target/hits')).json<{ hits: number }>().hits;

  t.test('slowloris: headers dripped a byte a second are cut at the header timeout', async (t) => {
    const head = 'GET /target/ HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(30);
    const { result, statuses } = await withNeighbour(s, () => Promise.all(Array.from({ length: 20 }, () => raw(port.data, [...head], { gapMs: 250, ms: 12_000 }))));
    t.ok(result.every((r) => r.closed && r.text.length < 200), `every dripping connection was closed (${result.map(status).join(',')})`);
    t.ok(allOk(statuses), `the neighbour answered throughout (${statuses.length} requests)`);
  });

  t.test('slow body: a body dripped after its headers is cut at the request timeout', async (t) => {
    const head = 'POST /target/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n';
    const { result, statuses } = await withNeighbour(s, () => raw(port.data, [head, ...'b'.repeat(40)], { gapMs: 250, ms: 12_000 }));
    t.ok(result.closed, 'closed before the body ended');
    t.ok(status(result) === 0 || status(result) >= 400, `no success (${status(result)})`);
    t.ok(allOk(statuses), 'the neighbour answered throughout');
  });

  t.test(`${IDLE_CONNECTIONS} idle connections: the connection cap (2000) holds and the neighbour answers`, async (t) => {
    const sockets: net.Socket[] = [];
    const { statuses } = await withNeighbour(s, async () => {
      for (let i = 0; i < IDLE_CONNECTIONS; i++) {
        const c = net.connect(port.data, '127.0.0.1');
        c.on('error', () => {});
        sockets.push(c);
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1000));
    });
    for (const c of sockets) c.destroy();
    t.ok(statuses.filter((c) => c === 200).length >= statuses.length - 2, `the neighbour answered (${statuses.join(',')})`);
    t.equal((await invoke(s, '/neighbour/')).status, 200, 'and answers after');
  });

  t.test('header floods: an oversized header and too many headers are 431, never forwarded', async (t) => {
    const before = await hits();
    const big = await raw(port.data, [`GET /target/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`]);
    t.equal(status(big), 431, 'one 64 KiB header');
    const many = await raw(port.data, [`GET /target/ HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 4000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`]);
    t.equal(status(many), 431, '4000 headers');
    t.equal(await hits(), before, 'the function saw none of them');
  });

  t.test('request smuggling: ambiguous framing is refused, never forwarded', async (t) => {
    const before = await hits();
    const cases: Record<string, string> = {
      'Content-Length with Transfer-Encoding': 'POST /target/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /target/smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
      'two Content-Lengths': 'POST /target/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
      'Transfer-Encoding not chunked last': 'POST /target/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
      'obfuscated Transfer-Encoding': 'POST /target/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd',
      'a bare LF in a chunk size': 'POST /target/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      const r = await raw(port.data, [text], { ms: 5000 });
      t.equal(status(r), 400, `${name}: 400`);
      t.notMatch(r.text, /smuggled/, `${name}: nothing behind it answered`);
    }
    t.equal(await hits(), before, 'the function saw none of them');
  });

  t.test('an oversized body is 413 before it is read: the answer comes while it is still being sent', async (t) => {
    const head = `POST /target/ HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024 * 1024}\r\n\r\n`;
    const r = await raw(port.data, [head, Buffer.alloc(64 * 1024, 1)], { ms: 5000 });
    t.equal(status(r), 413, '413 for a 1 GiB body, after 64 KiB were sent');
    const chunked = await raw(port.data, ['POST /target/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', ...Array.from({ length: 40 }, () => `10000\r\n${'c'.repeat(0x10000)}\r\n`)], { ms: 10_000 });
    t.ok([413, 0].includes(status(chunked)) && chunked.closed, `a chunked body past the limit is cut (${status(chunked)})`);
  });

  t.test('a compressed body reaches the function as sent: warren never inflates it', async (t) => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros, ~64 KiB on the wire
    const a = await invoke(s, '/target/zip', { method: 'POST', headers: { 'content-encoding': 'gzip', 'content-type': 'application/octet-stream' }, body: bomb });
    t.equal(a.status, 200);
    t.match(a.json(), { bytes: bomb.length, encoding: 'gzip' }, `the function got the ${bomb.length} compressed bytes, not 64 MiB`);
  });

  t.test('odd paths: dot segments, encoded slashes and NUL reach the function or are refused, never the control API', async (t) => {
    const cases: Array<[string, (st: number, body: string) => boolean]> = [
      ['/target/../neighbour/', (st, b) => st === 200 && (b.includes('"path"') || b === 'neighbour ok')],
      ['/target/%2e%2e/%2e%2e/v1/functions', (st, b) => st === 200 && b.includes('"path"')],
      ['/target/a%2Fb', (st, b) => st === 200 && b.includes('a%2Fb')],
      ['/target/%00', (st, b) => st === 200 && b.includes('%00')],
      ['/%2e%2e/v1/functions', (st) => st === 404 || st === 400],
      ['/v1/functions', (st) => st === 404],
      ['/metrics', (st) => st === 404],
    ];
    for (const [p, ok] of cases) {
      const r = await raw(port.data, [`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
      t.ok(ok(status(r), body), `${p}: ${status(r)} ${body.slice(0, 120)}`);
      t.notMatch(body, /"functions"\s*:\s*\[/, `${p}: no control API answer`);
    }
    const nul = await raw(port.data, ['GET /target/\0x HTTP/1.1\r\nHost: x\r\n\r\n']);
    t.equal(status(nul), 400, 'a raw NUL in the request line: 400');
  });

  t.test('after every attack: the server lives, the neighbour answers, the control API works', async (t) => {
    t.equal(s.child.exitCode, null, 'warren serve is running');
    t.equal((await invoke(s, '/neighbour/')).text, 'neighbour ok');
    t.equal((await api(s, 'GET', '/v1/functions')).status, 200);
  });
});
