/**
 * The host's side of a sandbox's stdio (stdio.ts), without a sandbox: the test opens the child's
 * ends through /proc/self/fd as the spawner's child does through the runner's, so it needs no root.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t from 'tap';
import { SandboxStdio, type ChildStdio } from './stdio.js';

const openFds = () => fs.readdirSync('/proc/self/fd').length;

/** Where the sandbox's child opens its end of `s`: anew, through /proc (the runner's, here ours). */
function childPath(s: ChildStdio | undefined): string {
  if (!s || s === 'null') throw new Error('expected a pipe');
  return `/proc/self/fd/${s.runnerFd}`;
}

function childEnd(s: ChildStdio | undefined, flags: 'r' | 'w'): number {
  return fs.openSync(childPath(s), flags);
}

async function collect(stream: Readable | null): Promise<string> {
  let text = '';
  for await (const chunk of stream ?? []) text += chunk;
  return text;
}

t.test('all null: no pipe, nothing for the child but /dev/null', async (t) => {
  const stdio = SandboxStdio.open();
  t.same(stdio.child, ['null', 'null', 'null']);
  t.equal(stdio.stdout, null);
  await stdio.finish();
});

t.test("'pipe': the caller writes stdin and reads stdout and stderr; EOF when the child's ends close", async (t) => {
  const before = openFds();
  const stdio = SandboxStdio.open(['pipe', 'pipe', 'pipe']);
  const [i, o, e] = [childEnd(stdio.child[0], 'r'), childEnd(stdio.child[1], 'w'), childEnd(stdio.child[2], 'w')];
  stdio.childHasEnds();
  const out = collect(stdio.stdout);
  const err = collect(stdio.stderr);
  stdio.stdin?.end('input');
  await new Promise((resolve) => stdio.stdin?.on('close', resolve));
  const buf = Buffer.alloc(64);
  t.equal(buf.toString('utf8', 0, fs.readSync(i, buf)), 'input', 'the child reads what the caller wrote');
  t.equal(fs.readSync(i, buf), 0, 'then EOF: the host holds no other writer');
  fs.writeSync(o, 'out');
  fs.writeSync(e, 'err');
  for (const fd of [i, o, e]) fs.closeSync(fd);
  t.equal(await out, 'out');
  t.equal(await err, 'err');
  await stdio.finish();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(openFds(), before, 'every end is closed');
});

t.test('{path}: the host appends what the child writes, and reads a file into its stdin', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-stdio-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const log = path.join(tmp, 'log');
  const input = path.join(tmp, 'in');
  fs.writeFileSync(log, 'before\n');
  fs.writeFileSync(input, 'from a file');
  const stdio = SandboxStdio.open([{ path: input }, { path: log }, 'null']);
  // async, through the thread pool: the relays run on this thread
  const [i, o] = [await fs.promises.open(childPath(stdio.child[0]), 'r'), await fs.promises.open(childPath(stdio.child[1]), 'w')];
  stdio.childHasEnds();
  const written = o.writeFile('x'.repeat(1 << 20)).finally(() => o.close());
  const got = await i.readFile('utf8').finally(() => i.close());
  await written;
  t.equal(got, 'from a file', 'the child reads the file, then EOF');
  await stdio.finish();
  t.equal(fs.statSync(log).size, 'before\n'.length + (1 << 20), 'once finish() resolves the file has it all, appended');
});

t.test('a file the host cannot open is a WarrenError, and no pipe is left open', async (t) => {
  const before = openFds();
  t.throws(() => SandboxStdio.open(['pipe', { path: '/nonexistent/dir/log' }, 'pipe']), { code: 'WARREN_SANDBOX_STDIO' });
  t.equal(openFds(), before);
});
