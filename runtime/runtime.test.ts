/**
 * The runtime bundle as a plain node process (no sandbox, no root): what a client of its function
 * socket sees, and what the host sees on its control socket. test/integration/runtime.test.ts runs
 * the same bundle inside a sandbox.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { CONTROL_NAME, EXIT_BAD_MODULE, EXIT_BAD_USAGE, SOCKET_NAME, RuntimeConnection, runtimeBundle } from './index.js';

const ECHO = `
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === '/throw') throw new Error('boom from the function');
    if (url.pathname === '/after') {
      ctx.waitUntil(new Promise((r) => setTimeout(r, 150)).then(() => console.error('signal after the response: ' + request.signal.aborted)));
      return new Response('ok');
    }
    if (url.pathname === '/hang') {
      request.signal.addEventListener('abort', () => console.error('the client went away'));
      return new Promise(() => {});
    }
    if (url.pathname === '/slow') { await new Promise((r) => setTimeout(r, 300)); return new Response('slow done'); }
    if (url.pathname === '/stream') {
      let i = 0;
      const body = new ReadableStream({ pull(c) { if (i++ < 3) c.enqueue(new TextEncoder().encode('chunk' + i + ';')); else c.close(); } });
      return new Response(body);
    }
    const headers = new Headers({ 'x-method': request.method, 'x-in': request.headers.get('x-in') ?? '' });
    headers.append('set-cookie', 'a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
    headers.append('set-cookie', 'b=2');
    const body = request.body ? await request.text() : '';
    return new Response(JSON.stringify({ path: url.pathname, query: url.search, body, env }), { status: 201, headers });
  },
};
`;

interface Running {
  child: ChildProcess;
  dir: string;
  stderr: () => string;
}

async function start(t: Test, moduleText: string | null, extra: string[] = []): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-rt-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = [runtimeBundle(), '--listen', path.join(dir, SOCKET_NAME), ...extra];
  if (moduleText !== null) {
    fs.writeFileSync(path.join(dir, 'fn.mjs'), moduleText);
    args.push('--module', path.join(dir, 'fn.mjs'));
  }
  // TMPDIR: where a loaded module's source is written, removed with the test's dir
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: dir } });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return { child, dir, stderr: () => err };
}

async function listening(t: Test, moduleText: string | null) {
  const r = await start(t, moduleText);
  const conn = await RuntimeConnection.open(r.dir, AbortSignal.timeout(20_000));
  t.teardown(() => conn.destroy());
  return { ...r, conn, client: conn.http };
}

t.test('a generic runtime answers health on its control socket and 503 on its function socket', async (t) => {
  const { conn, client, dir } = await listening(t, null);
  t.same(await conn.health(), { ok: true, module: null });
  for (const p of ['/anything', '/__warren/health', '/health', '/load']) {
    const res = await client.request({ method: 'GET', path: p });
    t.equal(res.statusCode, 503, `${p} on the function socket is the (absent) function's`);
    t.match(await res.body.text(), /no function/);
  }
  t.same(fs.readdirSync(dir).sort(), [CONTROL_NAME, SOCKET_NAME], 'both sockets are there, and no temporary name');
});

t.test('a module loaded over the control socket serves every path with its env', async (t) => {
  const { conn, client } = await listening(t, null);
  const env = { GREETING: 'hello', LIMITS: { n: 3 } };
  const loaded = await conn.load({ source: ECHO, name: 'echo.mjs', env });
  t.match(loaded, { ok: true, module: /echo\.mjs$/ });
  t.same(await conn.health(), loaded, 'health names the module');
  for (const p of ['/x', '/__warren/health', '/health', '/load']) {
    const res = await client.request({ method: 'GET', path: p });
    t.equal(res.statusCode, 201, `${p} reaches the function`);
    t.match(await res.body.json(), { path: p, env });
  }
  await t.rejects(conn.load({ source: 'export default { fetch() { return new Response("b") } }' }), {
    code: 'WARREN_RUNTIME_LOAD_FAILED',
    message: /409: a module is loaded already/,
  }, 'a runtime never serves a second function');
  const still = await client.request({ method: 'GET', path: '/y' });
  t.match(await still.body.json(), { path: '/y' }, 'the first one still serves');
});

t.test("the runtime's own warm-up request never reaches the function", async (t) => {
  const { conn, client } = await listening(t, null);
  await conn.health(); // the warm-up starts after the first control answer
  await new Promise((resolve) => setTimeout(resolve, 300));
  await conn.load({ source: 'let n = 0; export default { fetch() { n++; return new Response(String(n)); } };' });
  const res = await client.request({ method: 'POST', path: '/warm', body: 'up' });
  t.equal(await res.body.text(), '1', 'the first request the function sees is the first one sent to it');
});

t.test('a module can be loaded by its path inside the sandbox', async (t) => {
  const { conn, client, dir } = await listening(t, null);
  fs.writeFileSync(path.join(dir, 'fn.mjs'), ECHO);
  t.match(await conn.load({ path: path.join(dir, 'fn.mjs') }), { module: path.join(dir, 'fn.mjs') });
  const res = await client.request({ method: 'GET', path: '/p' });
  t.match(await res.body.json(), { path: '/p', env: {} });
});

t.test('a malformed load request is refused and the runtime stays usable', async (t) => {
  const { conn, child } = await listening(t, null);
  const bad: Array<[object, RegExp]> = [
    [{}, /exactly one of 'source' and 'path'/],
    [{ source: ECHO, path: '/x.mjs' }, /exactly one/],
    [{ path: 'relative.mjs' }, /absolute path/],
    [{ source: ECHO, name: '../escape.mjs' }, /plain file name/],
    [{ source: ECHO, env: ['a'] }, /'env' is not a JSON object/],
  ];
  for (const [req, why] of bad) await t.rejects(conn.load(req), { code: 'WARREN_RUNTIME_LOAD_FAILED', message: why }, JSON.stringify(req));
  t.equal(child.exitCode, null, 'it still runs');
  t.match(await conn.load({ source: ECHO }), { ok: true });
});

t.test('a load that fails answers why, then the runtime exits 65', async (t) => {
  for (const text of ['export default {}', 'this is not javascript (']) {
    const { conn, child, stderr } = await listening(t, null);
    const exited = once(child, 'exit');
    await t.rejects(conn.load({ source: text }), { code: 'WARREN_RUNTIME_LOAD_FAILED', message: /422: .*module '.*worker\.mjs'/ }, text);
    const [code] = (await exited) as [number | null];
    t.equal(code, EXIT_BAD_MODULE);
    t.match(stderr(), /warren runtime: .*module '.*worker\.mjs'/);
  }
});

t.test("a module's fetch gets the request and its Response comes back whole", async (t) => {
  const { conn, client } = await listening(t, ECHO);
  const res = await client.request({ method: 'POST', path: '/a/b?c=1', headers: { 'x-in': 'hello' }, body: 'the body' });
  t.equal(res.statusCode, 201);
  t.equal(res.headers['x-method'], 'POST');
  t.equal(res.headers['x-in'], 'hello');
  t.same(res.headers['set-cookie'], ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2'], 'each Set-Cookie on its own line');
  t.same(await res.body.json(), { path: '/a/b', query: '?c=1', body: 'the body', env: {} });
  const streamed = await client.request({ method: 'GET', path: '/stream' });
  t.equal(await streamed.body.text(), 'chunk1;chunk2;chunk3;', 'a streamed body arrives in order');
  t.equal((await conn.health()).module?.endsWith('fn.mjs'), true, 'health names the module');
});

t.test('a function that throws gets a 500, and the runtime goes on serving', async (t) => {
  const r = await listening(t, ECHO);
  const res = await r.client.request({ method: 'GET', path: '/throw' });
  t.equal(res.statusCode, 500);
  t.notMatch(await res.body.text(), /boom/, 'the exception is not shown to the client');
  t.match(r.stderr(), /boom from the function/, 'it is logged on stderr');
  const again = await r.client.request({ method: 'GET', path: '/ok' });
  t.equal(again.statusCode, 201);
  await again.body.dump();
});

t.test("a client that goes away aborts the request's signal; a finished response does not", async (t) => {
  const r = await listening(t, ECHO);
  const gone = new AbortController();
  const hanging = r.client.request({ method: 'GET', path: '/hang', signal: gone.signal });
  await new Promise((res) => setTimeout(res, 100));
  gone.abort();
  await t.rejects(hanging);
  const end = Date.now() + 5000;
  while (!r.stderr().includes('the client went away') && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  t.match(r.stderr(), /the client went away/);
  // a response sent whole is not an abort, even when the connection closes afterwards
  const done = await r.client.request({ method: 'GET', path: '/after', headers: { connection: 'close' } });
  t.equal(await done.body.text(), 'ok');
  while (!r.stderr().includes('signal after the response') && Date.now() < end + 5000) await new Promise((res) => setTimeout(res, 20));
  t.match(r.stderr(), /signal after the response: false/);
});

t.test('SIGTERM lets a request in flight finish, then exits 0', async (t) => {
  const r = await listening(t, ECHO);
  const slow = r.client.request({ method: 'GET', path: '/slow' });
  await new Promise((res) => setTimeout(res, 50));
  r.child.kill('SIGTERM');
  const res = await slow;
  t.equal(await res.body.text(), 'slow done');
  const [code] = (await once(r.child, 'exit')) as [number | null];
  t.equal(code, 0);
});

t.test('a module without a fetch handler, or one that does not load, exits 65 naming it', async (t) => {
  for (const text of ['export default {}', 'export default { fetch: 1 }', 'this is not javascript (']) {
    const r = await start(t, text);
    const [code] = (await once(r.child, 'exit')) as [number | null];
    t.equal(code, EXIT_BAD_MODULE, text);
    t.match(r.stderr(), /warren runtime: .*module '.*fn\.mjs'/);
    t.same(fs.readdirSync(r.dir), ['fn.mjs'], 'it never listened');
  }
});

t.test('an unknown argument exits 64 with the usage', async (t) => {
  const r = await start(t, null, ['--bogus']);
  const [code] = (await once(r.child, 'exit')) as [number | null];
  t.equal(code, EXIT_BAD_USAGE);
  t.match(r.stderr(), /unknown argument '--bogus'/);
});
