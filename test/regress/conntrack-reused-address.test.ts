/**
 * Regression: the forward chain accepts "established" traffic, and pooled network namespaces keep
 * their address from sandbox to sandbox. A sandbox with an egress allowlist left a UDP flow in
 * the kernel's connection tracking (alive ~2 minutes after its last packet); the next sandbox in
 * that namespace, with egress none, sent from the same port to the same server and got through,
 * as the old flow's "established" traffic. The address's conntrack entries are now deleted when
 * its sandbox's nftables elements are. Here a UDP server in a test namespace (TEST-NET-3) logs
 * what reaches it: A's datagram, never B's.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SandboxHost } from '../../sandbox/index.js';
import { checkSubnetFree, readRoutes } from '../../sandbox/network/index.js';
import { imageLayerPaths } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs, warren, testEnv } from '../integration/helpers.js';

const dirs = testDirs('wrntest-ct');
const ns = 'wrntest-ct';

const SEND = (text: string) => `const s = require('dgram').createSocket('udp4');
  s.bind(5555, () => s.send('${text}', 9999, '203.0.113.2'));
  s.on('message', () => {});
  setTimeout(() => { console.log(require('fs').readlinkSync('/proc/self/ns/net')); process.exit(0); }, 800);`;

t.test('a reused address cannot ride the previous sandbox\'s flows', { skip: NEEDS_ROOT }, async (t) => {
  checkSubnetFree('203.0.113.0/24', await readRoutes());
  await warren(['run', '--', 'node', '-e', '0'], { env: testEnv(dirs) }); // the node image
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-ct-'));
  ip('netns', 'add', ns);
  t.teardown(() => {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', 'wrntest-ct0'); } catch { /* went with the netns */ }
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  ip('link', 'add', 'wrntest-ct0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', '203.0.113.1/24', 'dev', 'wrntest-ct0');
  ip('link', 'set', 'wrntest-ct0', 'up');
  ip('-n', ns, 'addr', 'add', '203.0.113.2/24', 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e',
    "const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => { console.log('got:' + m); s.send('ok', r.port, r.address); }); s.bind(9999, () => console.log('up')); setTimeout(() => process.exit(0), 20000)"],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill('SIGKILL'));
  let log = '';
  server.stdout.on('data', (d: Buffer) => (log += d));
  while (!log.includes('up')) await new Promise((r) => setTimeout(r, 20));

  const host = await SandboxHost.open({ dirs });
  t.teardown(() => host.close());
  const layers = imageLayerPaths(dirs.state, 'node');
  const run = async (name: string, net: { egress: 'none' | { allow: string[] } }) => {
    const out = path.join(tmp, name);
    fs.writeFileSync(out, '');
    // one tenant: a netns used by another tenant is never reused, so this is where reuse remains
    const s = await host.create({ argv: ['node', '-e', SEND(name)], layers, net, tenant: 'f', stdio: ['null', { path: out }, 'inherit'] });
    await s.ready();
    await s.exited;
    return { ns: fs.readFileSync(out, 'utf8').trim(), ip: s.ip };
  };
  const a = await run('A', { egress: { allow: ['203.0.113.0/24'] } });
  const b = await run('B', { egress: 'none' });
  t.equal(b.ns, a.ns, 'B ran in the network namespace A had');
  t.equal(b.ip, a.ip, 'at the same address');
  await new Promise((r) => setTimeout(r, 300));
  t.match(log, /got:A/, "A's datagram reached the server (its egress allows it)");
  t.notMatch(log, /got:B/, "B's did not: egress none, and A's flow was forgotten");
});
