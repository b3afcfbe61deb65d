/**
 * A sandbox's stdio as pipes the host reads and writes (sandbox/stdio.ts), as the pool will use
 * them to capture a function's logs: what the sandbox prints reaches the host whole, a sandbox
 * made ahead gets its pipes too, output that nobody reads stays bounded (the sandbox waits), and
 * a file the host relays to holds everything once `exited` settles. Needs root.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t from 'tap';
import { SandboxHost, SpawnError, type SandboxOptions } from '../../sandbox/index.js';
import type { SpawnRequest } from '../../sandbox/spawn-request.js';
import { Spawner } from '../../sandbox/spawner.js';
import { SandboxStdio } from '../../sandbox/stdio.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { bareSpawnRequest, NEEDS_ROOT, testDirs, testEnv, WARREN } from './helpers.js';

const dirs = testDirs('wrntest-stdio');
const MiB = 1 << 20;

function node(script: string, extra: Partial<SandboxOptions> = {}): SandboxOptions {
  return { argv: ['node', '-e', script], layers: imageLayerPaths(dirs.state, NODE_IMAGE), stdio: ['pipe', 'pipe', 'pipe'], ...extra };
}

async function collect(stream: Readable | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.before(() => ensureNodeImage(dirs.state));

t.test('stdin, stdout and stderr are the host\'s to write and read, made ahead or not', { skip: NEEDS_ROOT }, async (t) => {
  // spare 1: the second create is handed a sandbox made ahead (its request comes over the sync socket)
  await using host = await SandboxHost.open({ dirs, spare: 1 });
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  const echo = "let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => { process.stdout.write(s.toUpperCase()); process.stderr.write('to stderr'); process.exitCode = 3; })";
  for (const name of ['fresh', 'made ahead']) {
    const sandbox = await host.create(node(echo));
    const out = collect(sandbox.stdout);
    const err = collect(sandbox.stderr);
    sandbox.stdin?.end('hello from the host');
    t.equal((await out).toString(), 'HELLO FROM THE HOST', `${name}: stdout carries what it wrote`);
    t.equal((await err).toString(), 'to stderr', `${name}: stderr is its own stream`);
    t.equal((await sandbox.exited).code, 3, `${name}: its exit code`);
  }
  await sleep(50); // a stream closes its fd on the tick after its end
  t.equal(fds(), before, 'the host keeps no end of their pipes');
});

t.test('output that nobody reads is bounded: the sandbox waits, nothing is lost', { skip: NEEDS_ROOT }, async (t) => {
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const size = 16 * MiB;
  const sandbox = await host.create(node(`process.stdout.write(Buffer.alloc(${size}, 120)); process.stderr.write('wrote it all')`, { stdio: ['null', 'pipe', 'pipe'] }));
  const stderr = collect(sandbox.stderr);
  let exited = false;
  void sandbox.exited.then(() => (exited = true));
  await sleep(1500);
  const stdout = sandbox.stdout as Readable;
  // libuv reads up to 64 KiB at a time: the stream stops reading once one read passes its mark
  const bound = stdout.readableHighWaterMark + 64 * 1024;
  t.ok(stdout.readableLength <= bound, `the host holds ${stdout.readableLength} bytes, no more than the stream's mark and one read (${bound})`);
  t.notOk(exited, 'the sandbox waits in write while nobody reads');
  const out = await collect(stdout);
  t.equal(out.length, size, 'read at last, all of it arrives');
  t.equal((await stderr).toString(), 'wrote it all');
  t.equal((await sandbox.exited).code, 0);
});

t.test('a sandbox blocked on its output is destroyed at once, and its stream ends', { skip: NEEDS_ROOT }, async (t) => {
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const sandbox = await host.create(node(`for (;;) process.stdout.write('x'.repeat(65536))`, { stdio: ['null', 'pipe', 'null'] }));
  await sandbox.ready();
  await sleep(500);
  const ended = new Promise<void>((resolve) => sandbox.stdout?.on('close', resolve).resume());
  const exit = await sandbox.destroy();
  t.equal(exit.signal, 9, 'killed');
  await ended;
  t.pass('its stdout ends once nothing in the sandbox holds it');
});

t.test('a file the host relays to holds all of the output once exited settles', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-stdio-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const out = path.join(tmp, 'out');
  const input = path.join(tmp, 'in');
  fs.writeFileSync(input, 'y'.repeat(3 * MiB));
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const copy = 'process.stdin.pipe(process.stdout)';
  const sandbox = await host.create(node(copy, { stdio: [{ path: input }, { path: out }, 'null'] }));
  t.equal((await sandbox.exited).code, 0);
  t.equal(fs.statSync(out).size, 3 * MiB, 'the file has every byte, read from the input file');
  const missing = await host.create(node(copy, { stdio: ['null', { path: path.join(tmp, 'no', 'such') }, 'null'] })).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(missing, { code: 'WARREN_SANDBOX_STDIO' }, 'a file the host cannot open fails the create with a WarrenError');
});

t.test('`warren run ... | head -1`: when the reader goes, the sandbox\'s write fails as on a pipe of its own', { skip: NEEDS_ROOT }, async (t) => {
  const script = 'process.stdout.on("error", (e) => { process.stderr.write("got " + e.code); process.exit(5) }); setInterval(() => process.stdout.write("y\\n"), 1)';
  const child = spawn(process.execPath, [WARREN, 'run', '--', 'node', '-e', script], { env: testEnv(dirs), stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  // the first line read, the reader goes away
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  t.equal(stderr, 'got EPIPE', 'the sandbox saw EPIPE; warren itself did not fail');
  t.equal(code, 5, 'and warren exits with its code');
});

t.test('the spawner hands a sandbox nothing but a pipe, and never waits on one', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-stdio-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  await using spawner = await Spawner.start();
  const failure = async (id: string, stdio: SpawnRequest['stdio']) => {
    const spawning = spawner.spawn(bareSpawnRequest(tmp, id, { stdio }));
    const err = await spawning.ready.then(() => undefined, (e: unknown) => e);
    await spawning.exited;
    return err;
  };

  const log = path.join(tmp, 'log');
  fs.writeFileSync(log, 'kept\n');
  const file = fs.openSync(log, 'a');
  const notPipe = await failure('wstdiofile01', ['null', { runnerFd: file }, 'null']);
  fs.closeSync(file);
  t.ok(notPipe instanceof SpawnError && notPipe.stage === 'stdio', `a file is refused at stdio (${String(notPipe)})`);
  t.match(String(notPipe), /is not a pipe/);
  t.equal(fs.readFileSync(log, 'utf8'), 'kept\n');

  // a pipe whose reader is gone: its open does not wait for one (the setup goes on to the exec,
  // which fails here: the layer is empty)
  const stdio = SandboxStdio.open(['null', 'pipe', 'null']);
  await new Promise((resolve) => stdio.stdout?.on('close', resolve).destroy());
  const noReader = await failure('wstdionoread', stdio.child);
  stdio.destroy();
  t.ok(noReader instanceof SpawnError && noReader.stage === 'exec', `no reader: the setup went past its stdio (${String(noReader)})`);
});
