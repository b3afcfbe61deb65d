/**
 * warren's node runtime inside a real sandbox (needs root): it listens on the sockets in its io
 * dir, the host reaches it there, a function module (given at start, or loaded with its env over
 * the control socket) is served with the sandbox's isolation around it, a bad module ends the
 * sandbox with 65 and a message, and the io dir is gone afterwards (also after a crash: `warren gc`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Readable } from 'node:stream';
import { IO_DIR, REQUEST_ID_HEADER, EXIT_BAD_MODULE, RuntimeConnection, runtimeArgv, runtimeBinds } from '../../runtime/index.js';
import type { LogLine } from '../../router/control.js';
import { LogStore } from '../../runner/logs.js';
import { SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { makeIoDir } from '../../sandbox/io-dir.js';
import { NEEDS_ROOT, testDirs, testEnv, warren } from './helpers.js';
import { anonExecutableBytes } from '../../bench/process-memory.js';

const dirs = testDirs('wrntest-runtime');

const FN = `
import os from 'node:os';
import fs from 'node:fs';
export default {
  async fetch(request) {
    return Response.json({
      method: request.method,
      body: await request.text(),
      pid: process.pid,
      uid: process.getuid(),
      hostname: os.hostname(),
      // the host's run dir must not be visible from inside
      seesHostRun: fs.existsSync(${JSON.stringify(dirs.run)}),
    });
  },
};
`;

async function withHost(t: Test) {
  await ensureNodeImage(dirs.state);
  const host = await SandboxHost.open({ dirs });
  t.teardown(() => host.close());
  const fnDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-runtime-fn-'));
  fs.chmodSync(fnDir, 0o755);
  t.teardown(() => fs.rmSync(fnDir, { recursive: true, force: true }));
  const spec = (moduleText: string | null, stderr?: string): SandboxOptions => {
    if (moduleText !== null) fs.writeFileSync(path.join(fnDir, 'fn.mjs'), moduleText, { mode: 0o644 });
    return {
      argv: runtimeArgv(...(moduleText === null ? [] : ['--module', '/fn/fn.mjs'])),
      layers: imageLayerPaths(dirs.state, NODE_IMAGE),
      hostname: 'fnbox',
      stdio: ['null', 'null', stderr ? { path: stderr } : 'null'],
      io: { dst: IO_DIR },
      binds: [...runtimeBinds(), { src: fnDir, dst: '/fn', readonly: true }],
    };
  };
  return { host, spec, fnDir };
}

t.test('the runtime serves a function from inside a sandbox over its io socket', { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec } = await withHost(t);
  const sandbox = await host.create(spec(FN));
  const ioDir = sandbox.ioDir as string;
  t.ok(ioDir.startsWith(dirs.run), 'the io dir is under the run dir');
  const conn = await RuntimeConnection.open(ioDir, AbortSignal.timeout(30_000));
  const client = conn.http;
  t.match(await conn.health(), { ok: true, module: '/fn/fn.mjs' });
  const res = await client.request({ method: 'POST', path: '/x', body: 'ping' });
  t.equal(res.statusCode, 200);
  const seen = (await res.body.json()) as Record<string, unknown>;
  t.match(seen, { method: 'POST', body: 'ping', uid: 0, hostname: 'fnbox', seesHostRun: false });
  t.not(seen.pid, 1, 'the runtime is not pid 1: init is');
  t.ok((seen.pid as number) < 10, `it runs in its own pid namespace (pid ${String(seen.pid)})`);
  await conn.close();
  await sandbox.destroy();
  t.notOk(fs.existsSync(ioDir), 'the io dir is gone with the sandbox');
});

t.test('a generic runtime boots with no module, loads one with env over its control socket, and every path is the function\'s', { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec } = await withHost(t);
  await using sandbox = await host.create(spec(null));
  await using conn = await RuntimeConnection.open(sandbox.ioDir as string, AbortSignal.timeout(30_000));
  t.same(await conn.health(), { ok: true, module: null });
  const before = await conn.http.request({ method: 'GET', path: '/__warren/health' });
  t.equal(before.statusCode, 503, 'before a load, even the old health path is the (absent) function\'s');
  await before.body.dump();
  const source = `export default { async fetch(request, env) {
    return Response.json({ path: new URL(request.url).pathname, env, uid: process.getuid() });
  } };`;
  const loaded = await conn.load({ source, name: 'fn.mjs', env: { GREETING: 'hello from the host' } });
  t.same(loaded, { ok: true, module: 'fn.mjs' }, 'imported from memory, named by the name it was given');
  for (const p of ['/', '/__warren/health', '/health']) {
    const res = await conn.http.request({ method: 'GET', path: p });
    t.equal(res.statusCode, 200);
    t.same(await res.body.json(), { path: p, env: { GREETING: 'hello from the host' }, uid: 0 }, `${p} reaches the function with its env`);
  }
  t.same(fs.readdirSync(sandbox.ioDir as string).sort(), ['control.sock', 'http.sock'], 'the io dir holds the two sockets');
});

t.test("console output leaves the sandbox on its stdio pipes as records with the request's id, into the host's log store", { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec, fnDir } = await withHost(t);
  await using sandbox = await host.create({ ...spec(null), stdio: ['null', 'pipe', 'pipe'] });
  const logs = new LogStore({ dir: path.join(fnDir, 'logs') });
  t.teardown(() => logs.close());
  const meta = { fn: 'hello', version: 1, instance: sandbox.id };
  logs.attach(sandbox.stdout as Readable, 'stdout', meta);
  logs.attach(sandbox.stderr as Readable, 'stderr', meta);
  await using conn = await RuntimeConnection.open(sandbox.ioDir as string, AbortSignal.timeout(30_000));
  await conn.load({
    source: `export default { async fetch(request, env) {
      console.log('hello %s', env.WHO);
      await new Promise((r) => setTimeout(r, 5));
      console.error('and on stderr');
      if (new URL(request.url).pathname === '/throw') throw new Error('thrown inside');
      return new Response('ok');
    } };`,
    env: { WHO: 'world' },
  });
  for (const [p, rid] of [['/', 'rid-ok'], ['/throw', 'rid-throw']] as const) {
    const res = await conn.http.request({ method: 'GET', path: p, headers: { [REQUEST_ID_HEADER]: rid } });
    await res.body.dump();
  }
  // two pipes: their lines reach the host in each pipe's order, not in one order between them
  const expected = [
    { requestId: 'rid-ok', stream: 'stdout', text: /^hello world$/ },
    { requestId: 'rid-ok', stream: 'stderr', text: /^and on stderr$/ },
    { requestId: 'rid-throw', stream: 'stdout', text: /^hello world$/ },
    { requestId: 'rid-throw', stream: 'stderr', text: /^and on stderr$/ },
    { requestId: 'rid-throw', stream: 'warren', text: /^the function threw: Error: thrown inside\n {4}at / },
  ];
  const found = (lines: LogLine[]) => expected.map((e) => lines.find((l) => l.requestId === e.requestId && l.stream === e.stream && e.text.test(l.text)));
  const lines: LogLine[] = [];
  const signal = AbortSignal.timeout(10_000);
  for await (const line of logs.read('hello', { follow: true, signal })) {
    lines.push(line);
    if (found(lines).every(Boolean)) break;
  }
  t.ok(found(lines).every(Boolean), 'every line is there with its request id and stream');
  t.ok(lines.every((l) => l.fn === 'hello' && l.instance === sandbox.id), 'each names its function and instance');
});

t.test("an idle runtime keeps no private copy of node's code: the builtins stay in the binary's shared pages", { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec } = await withHost(t);
  await using sandbox = await host.create(spec(FN));
  await sandbox.ready();
  await using conn = await RuntimeConnection.open(sandbox.ioDir as string, AbortSignal.timeout(30_000));
  const res = await conn.http.request({ method: 'POST', path: '/', body: 'x' });
  await res.body.dump();
  const [node] = fs.readFileSync(`/proc/${sandbox.pid}/task/${sandbox.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const copied = anonExecutableBytes(node as number);
  // V8 copies its 1.6 MB of builtins here when it fails to map them from node's file (from the
  // overlay: runtime/index.ts runtimeBinds); what is left is its JIT code, a few hundred kB
  t.ok(copied !== undefined && copied < 1024 * 1024, `executable anonymous memory of the runtime: ${copied} bytes`);
});

t.test('a load that fails is answered, then the sandbox ends with 65', { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec } = await withHost(t);
  const sandbox = await host.create(spec(null));
  const conn = await RuntimeConnection.open(sandbox.ioDir as string, AbortSignal.timeout(30_000));
  await t.rejects(conn.load({ source: 'export const notDefault = 1;' }), { code: 'WARREN_RUNTIME_LOAD_FAILED', message: /has no default export with a fetch\(\) or scheduled\(\) method/ });
  t.equal((await sandbox.exited).code, EXIT_BAD_MODULE);
  await conn.destroy();
});

t.test('a module with neither fetch nor scheduled ends the sandbox with 65 and says why', { skip: NEEDS_ROOT }, async (t) => {
  const { host, spec, fnDir } = await withHost(t);
  const stderr = path.join(fnDir, 'stderr');
  fs.writeFileSync(stderr, ''); // stdio paths are opened, not created
  const sandbox = await host.create(spec('export const notDefault = 1;', stderr));
  const exit = await sandbox.exited;
  t.equal(exit.code, EXIT_BAD_MODULE);
  t.match(fs.readFileSync(stderr, 'utf8'), /module '\/fn\/fn\.mjs' has no default export with a fetch\(\) or scheduled\(\) method/);
  t.notOk(fs.existsSync(sandbox.ioDir as string), 'its io dir is gone');
});

t.test('warren gc unmounts and removes the io dir of a sandbox whose warren died', { skip: NEEDS_ROOT }, async (t) => {
  // as a crashed warren leaves it: a tmpfs on a dir under <run>/io with a socket in it, and no live lease
  const stale = makeIoDir(dirs.run, 'wdeadbeef0001', 0);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(stale, 'http.sock'), resolve));
  server.close();
  fs.writeFileSync(path.join(stale, 'http.sock.keep'), '');
  const r = await warren(['gc'], { env: testEnv(dirs) });
  t.equal(r.code, 0, r.stderr);
  t.notOk(fs.existsSync(stale), 'the stale io dir is removed');
  t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(stale), 'and its tmpfs unmounted');
});
