import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { localUrl, reachableUrl, resolveConnection, writeServerInfo } from './connection.js';

t.test('flags win over the environment, the environment over the state dir', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-client-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeServerInfo(dir, { controlUrl: 'http://0.0.0.0:9788', dataUrl: 'http://0.0.0.0:9080', pid: 1 });
  fs.writeFileSync(path.join(dir, 'token'), 'from-file\n', { mode: 0o600 });

  t.same(resolveConnection({ stateDir: dir }, {}), { url: 'http://127.0.0.1:9788', token: 'from-file', dataUrl: 'http://127.0.0.1:9080' });
  const env = { WARREN_URL: 'http://10.0.0.1:1', WARREN_TOKEN: 'from-env' };
  t.same(resolveConnection({ stateDir: dir }, env), { url: 'http://10.0.0.1:1', token: 'from-env' });
  t.same(resolveConnection({ stateDir: dir, server: 'http://127.0.0.2:5', token: 'flag' }, env), { url: 'http://127.0.0.2:5', token: 'flag' });
});

t.test('no server anywhere is unreachable; no token, or a bad URL, is a clear user error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-client-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.throws(() => resolveConnection({ stateDir: dir }, {}), { code: 'WARREN_CLIENT_UNREACHABLE', message: /warren serve/ }, 'no server here: as if it did not answer');
  t.throws(() => resolveConnection({ stateDir: dir, server: 'http://127.0.0.1:1' }, {}), { code: 'WARREN_CLIENT_CONFIG', message: /token/ });
  t.throws(() => resolveConnection({ stateDir: dir, server: 'not a url', token: 'x' }, {}), { code: 'WARREN_CLIENT_CONFIG', message: /not a server URL/ });
});

t.test('a listen address of any host is reached on loopback', async (t) => {
  t.equal(localUrl('http://0.0.0.0:8080'), 'http://127.0.0.1:8080');
  t.equal(localUrl('http://127.0.0.1:8788/'), 'http://127.0.0.1:8788');
});

t.test('a function on a data plane that listens on any address is reached on the control API\'s host', async (t) => {
  t.equal(reachableUrl('http://0.0.0.0:8080/hello/', 'http://127.0.0.1:8788'), 'http://127.0.0.1:8080/hello/');
  t.equal(reachableUrl('http://0.0.0.0:8080/hello/', 'http://10.1.2.3:8788'), 'http://10.1.2.3:8080/hello/');
  t.equal(reachableUrl('http://[::]:8080/hello/', 'http://[::1]:8788'), 'http://[::1]:8080/hello/');
  t.equal(reachableUrl('http://fn.example:8080/hello/', 'http://127.0.0.1:8788'), 'http://fn.example:8080/hello/', 'a named host stays');
});
