/**
 * The runtime bundle as a plain node process (no sandbox, no root): what the host sees on its
 * control socket, and the function socket before and after a load (serve.test.ts: the request
 * path itself). test/integration/runtime.test.ts runs the same bundle inside a sandbox.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { listening, start } from '../test/runtime-harness.js';
import { COLD_FLAG, CONTROL_NAME, EXIT_BAD_MODULE, EXIT_BAD_USAGE, RuntimeConnection, SOCKET_NAME } from './index.js';

const ECHO = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = request.body ? await request.text() : '';
    return new Response(JSON.stringify({ path: url.pathname, query: url.search, body, env }), { status: 201 });
  },
};
`;

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

t.test("a generic runtime keeps the host's connection to its function socket open until its load; then node's default", async (t) => {
  const { conn, client } = await listening(t, null);
  const before = await client.request({ method: 'GET', path: '/' });
  await before.body.dump();
  // undici keeps an idle connection as long as the answer's Keep-Alive says (less a second)
  t.equal(before.headers['keep-alive'], 'timeout=86400', 'while generic: a day');
  await conn.load({ source: ECHO, name: 'echo.mjs' });
  const after = await client.request({ method: 'GET', path: '/' });
  await after.body.dump();
  t.equal(after.headers['keep-alive'], 'timeout=5', 'once a module serves: 5 s');
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

t.test('a module sent as source is named by its name in stack traces, and no file is written for it', async (t) => {
  const { conn, client, records, until } = await listening(t, null);
  const tmpBefore = fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith('warren-fn-'));
  t.same(await conn.load({ source: 'export default {\n  fetch() { throw new Error("boom"); },\n};', name: 'boom.mjs' }), { ok: true, module: 'boom.mjs' });
  const res = await client.request({ method: 'GET', path: '/' });
  t.equal(res.statusCode, 500);
  await res.body.dump();
  // the report goes out on the runtime's stderr, which may reach this process after the answer
  await until(/Error: boom/);
  t.match(records(), [{ s: 'warren', m: /Error: boom\n\s+at Object\.fetch \(boom\.mjs:2:\d+\)/ }], "the function's own line, by its name");
  t.same(fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith('warren-fn-')), tmpBefore, 'nothing in tmp');
});

t.test('a module sent as source is an ES module: built-ins by either name, top-level await, import.meta.url, import()', async (t) => {
  const { conn, client, records, stderr } = await listening(t, null);
  const source = [
    "import { Buffer } from 'node:buffer';",
    "import path, { basename } from 'path';",
    'const late = await Promise.resolve(7);',
    'export default {',
    '  async fetch() {',
    "    const fs = await import('node:fs');",
    "    let relative = 'resolved';",
    "    try { await import('./other.mjs'); } catch (err) { relative = err.message; }",
    '    const strict = (function () { return this; })() === undefined;',
    "    return Response.json({ b: Buffer.from('hi').toString('hex'), base: basename('/a/b.txt'), join: path.join('a', 'b'), late, url: import.meta.url.slice(0, 28), fs: typeof fs.readFileSync, relative, strict });",
    '  },',
    '};',
  ].join('\n');
  t.same(await conn.load({ source, name: 'esm.mjs' }), { ok: true, module: 'esm.mjs' });
  const res = await client.request({ method: 'GET', path: '/' });
  t.same(await res.body.json(), {
    b: '6869',
    base: 'b.txt',
    join: 'a/b',
    late: 7,
    url: 'data:text/javascript;base64,',
    fs: 'function',
    relative: 'Failed to resolve module specifier "./other.mjs" from "esm.mjs": a module loaded from its source imports only node\'s built-in modules and absolute URLs',
    strict: true,
  });
  t.same(records(), [], 'nothing logged');
  t.equal(stderr(), '', "no line outside a record (node's warning that vm modules are experimental)");
});

t.test('a module importing a relative or bare name does not load, and says which', async (t) => {
  for (const spec of ['./lib.mjs', 'left-pad']) {
    const { conn, child } = await listening(t, null);
    const exited = once(child, 'exit');
    await t.rejects(conn.load({ source: `import x from '${spec}';\nexport default { fetch() { return new Response(x); } };`, name: 'imp.mjs' }), {
      code: 'WARREN_RUNTIME_LOAD_FAILED',
      message: new RegExp(`422: cannot load module 'imp.mjs': Failed to resolve module specifier "${spec.replace('.', '\\.')}"`),
    });
    t.equal(((await exited) as [number | null])[0], EXIT_BAD_MODULE);
  }
});

t.test('a request sent right behind a load waits for the module; behind a load that fails it gets a 503', async (t) => {
  const { conn, client } = await listening(t, null);
  // as the pool boots one: its function connection open (a 503 before any load), then warmed
  await (await client.request({ method: 'GET', path: '/' })).body.dump();
  await conn.warm();
  let behind: Promise<{ status: number; body: string }> | undefined;
  const ask = () => client.request({ method: 'GET', path: '/first' }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  // a module whose import takes a while: the request arrives well before it serves
  const slow = 'const until = Date.now() + 150; while (Date.now() < until);\nexport default { fetch(r) { return new Response("served " + new URL(r.url).pathname); } };';
  await conn.load({ source: slow }, () => (behind = ask()));
  t.same(await behind, { status: 200, body: 'served /first' }, 'served by the module, not refused by the generic runtime');

  const failing = await listening(t, null);
  await failing.conn.warm(); // the control connection open: only there does a load go out first
  let refused: Promise<{ status: number; body: string }> | undefined;
  await t.rejects(failing.conn.load({ source: 'throw new Error("no")' }, () => (refused = failing.client.request({ method: 'GET', path: '/' }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), () => ({ status: 0, body: 'cut' })))), { code: 'WARREN_RUNTIME_LOAD_FAILED' });
  t.match(await refused, { status: /^(503|0)$/ }, 'a 503 (or the connection cut as the runtime exits), never an answer of a module');
});

t.test('a cold runtime holds a request that comes before its load, and its module serves it', async (t) => {
  const r = await start(t, null, [COLD_FLAG]);
  const conn = await RuntimeConnection.open(r.dir, AbortSignal.timeout(20_000), { cold: true });
  t.teardown(() => conn.destroy());
  const ask = (p: string) => conn.http.request({ method: 'GET', path: p }).then(async (res) => ({ status: res.statusCode, body: await res.body.text() }));
  // sent before the load, on a connection of its own: a generic runtime would answer it 503
  const early = ask('/early');
  await new Promise((resolve) => setTimeout(resolve, 100));
  let behind: ReturnType<typeof ask> | undefined;
  // the control connection is new: the load still goes out first, with the request right behind
  await conn.load({ source: 'export default { fetch(r) { return new Response("served " + new URL(r.url).pathname); } };' }, () => (behind = ask('/behind')));
  t.ok(behind, 'the first request went out before the load was answered');
  t.same(await early, { status: 200, body: 'served /early' }, 'the early one waited for the module');
  t.same(await behind, { status: 200, body: 'served /behind' });
});

t.test("the host can wait for the warm-up, whose request never reaches the function", async (t) => {
  const { conn, client } = await listening(t, null);
  t.same(await conn.warm(), { ok: true, module: null }, 'the warm-up answered once it ran');
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
    const { conn, child, records } = await listening(t, null);
    const exited = once(child, 'exit');
    await t.rejects(conn.load({ source: text }), { code: 'WARREN_RUNTIME_LOAD_FAILED', message: /422: .*module '.*worker\.mjs'/ }, text);
    const [code] = (await exited) as [number | null];
    t.equal(code, EXIT_BAD_MODULE);
    t.match(records(), [{ s: 'warren', rid: null, m: /module '.*worker\.mjs'/, fd: 'stderr' }], 'a report of the runtime on stderr says why');
  }
});

t.test('a module without a fetch handler, or one that does not load, exits 65 naming it', async (t) => {
  for (const text of ['export default {}', 'export default { fetch: 1 }', 'this is not javascript (']) {
    const r = await start(t, text);
    const [code] = (await once(r.child, 'exit')) as [number | null];
    t.equal(code, EXIT_BAD_MODULE, text);
    t.match(r.records(), [{ s: 'warren', m: /module '.*fn\.mjs'/ }]);
    t.same(fs.readdirSync(r.dir), ['fn.mjs'], 'it never listened');
  }
});

t.test('an unknown argument exits 64 with the usage', async (t) => {
  const r = await start(t, null, ['--bogus']);
  const [code] = (await once(r.child, 'exit')) as [number | null];
  t.equal(code, EXIT_BAD_USAGE);
  t.match(r.records(), [{ s: 'warren', m: /unknown argument '--bogus'/ }]);
});
