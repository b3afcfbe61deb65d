/**
 * Regression: the host connected, as root, to whatever `http.sock` the sandbox put in its io dir.
 * runtime/client.ts waited for the name with existsSync (which follows symlinks) and handed the
 * path to undici, so a sandbox that made `http.sock` a symlink to a root-only unix listener on the
 * host had host root's health check, and later any request, sent to that listener. The host now
 * opens the name once with O_PATH|O_NOFOLLOW, refuses anything that is not a socket, and connects
 * only through /proc/self/fd/<fd>. This test puts a listener under a root-only host dir, has a
 * sandbox point its `http.sock` (and, since the runtime has one, its `control.sock`) at it, and
 * checks the listener sees no connection and the host gets a clear WarrenError.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { CONTROL_NAME, IO_DIR, RuntimeConnection, SOCKET_NAME } from '../../runtime/index.js';
import { SandboxHost } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from '../integration/helpers.js';

const dirs = testDirs('wrntest-regress-sock');

/** A host listener under a root-only dir, and how many connections reached it. */
async function hostListener(t: Test): Promise<{ path: string; connections: () => number }> {
  const secret = path.join(dirs.run, `secret-${process.pid}`);
  fs.mkdirSync(secret, { recursive: true, mode: 0o700 });
  t.teardown(() => fs.rmSync(secret, { recursive: true, force: true }));
  const listenerPath = path.join(secret, 'listener.sock');
  let connections = 0;
  const listener = net.createServer((c) => {
    connections++;
    c.end('HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\n{"ok":true,"module":"evil"}');
  });
  await new Promise<void>((resolve) => listener.listen(listenerPath, resolve));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  return { path: listenerPath, connections: () => connections };
}

/** A sandbox that runs `script` (node) with its io dir at IO_DIR, and waits. */
async function evilSandbox(t: Test, script: string) {
  await ensureNodeImage(dirs.state);
  const host = await SandboxHost.open({ dirs, spare: 0 });
  t.teardown(() => host.close());
  return host.create({
    argv: ['/usr/local/bin/node', '-e', `${script}; setInterval(() => {}, 1000)`],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    stdio: ['null', 'null', 'null'],
    io: { dst: IO_DIR },
  });
}

for (const name of [CONTROL_NAME, SOCKET_NAME]) {
  t.test(`the host never connects through a symlink named ${name} in a sandbox's io dir`, { skip: NEEDS_ROOT }, async (t) => {
    const listener = await hostListener(t);
    const link = JSON.stringify(path.join(IO_DIR, name));
    // for http.sock: a real control socket beside it, so the host goes on to open http.sock
    const control = `const s = require('net').createServer().listen(${JSON.stringify(path.join(IO_DIR, CONTROL_NAME))})`;
    const script = `require('fs').symlinkSync(${JSON.stringify(listener.path)}, ${link})` + (name === SOCKET_NAME ? `; ${control}` : '');
    await using sandbox = await evilSandbox(t, script);
    const ioDir = sandbox.ioDir as string;
    const err = await RuntimeConnection.open(ioDir, AbortSignal.timeout(30_000)).then(
      (conn) => conn.destroy().then(() => 'connected'),
      (e: unknown) => e,
    );
    t.ok(fs.lstatSync(path.join(ioDir, name)).isSymbolicLink(), 'the sandbox did put a symlink there');
    t.match(err, { name: 'WarrenError', code: 'WARREN_RUNTIME_NOT_SOCKET', message: new RegExp(`${name.replace('.', '\\.')}' is a symlink`) });
    // a connection the host made would have been accepted by now; give a late one time to show
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.equal(listener.connections(), 0, 'the host listener saw no connection');
  });
}
