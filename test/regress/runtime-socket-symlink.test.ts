/**
 * Regression: the host connected, as root, to whatever `http.sock` the sandbox put in its io dir.
 * runtime/client.ts waited for the name with existsSync (which follows symlinks) and handed the
 * path to undici, so a sandbox that made `http.sock` a symlink to a root-only unix listener on the
 * host had host root's health check, and later any request, sent to that listener. The host now
 * opens the name once with O_PATH|O_NOFOLLOW, refuses anything that is not a socket, and connects
 * only through /proc/self/fd/<fd>. This test puts a listener under a root-only host dir, has a
 * sandbox point its `http.sock` at it, and checks the listener sees no connection and the host gets
 * a clear WarrenError.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { IO_DIR, RuntimeConnection, SOCKET_NAME } from '../../runtime/index.js';
import { SandboxHost } from '../../sandbox/index.js';
import { ensureNodeImage, imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from '../integration/helpers.js';

const dirs = testDirs('wrntest-regress-sock');

t.test("the host never connects through a symlink in a sandbox's io dir", { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
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

  const host = await SandboxHost.open({ dirs, spare: 0 });
  t.teardown(() => host.close());
  const link = path.join(IO_DIR, SOCKET_NAME);
  await using sandbox = await host.create({
    argv: ['/usr/local/bin/node', '-e', `require('fs').symlinkSync(${JSON.stringify(listenerPath)}, ${JSON.stringify(link)}); setInterval(() => {}, 1000)`],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    stdio: ['null', 'null', 'null'],
    io: { dst: IO_DIR },
  });
  const ioDir = sandbox.ioDir as string;
  const err = await RuntimeConnection.open(ioDir, AbortSignal.timeout(30_000)).then(
    (conn) => conn.destroy().then(() => 'connected'),
    (e: unknown) => e,
  );
  t.ok(fs.lstatSync(path.join(ioDir, SOCKET_NAME)).isSymbolicLink(), 'the sandbox did put a symlink there');
  t.match(err, { name: 'WarrenError', code: 'WARREN_RUNTIME_NOT_SOCKET', message: /http\.sock' is a symlink/ });
  // a connection the host made would have been accepted by now; give a late one time to show
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(connections, 0, 'the host listener saw no connection');
});
