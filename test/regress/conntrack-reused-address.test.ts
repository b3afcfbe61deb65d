/**
 * Regression: the forward chain accepts "established" traffic, and pooled network namespaces keep
 * their address from sandbox to sandbox. A sandbox with an egress allowlist left a UDP flow in
 * the kernel's connection tracking (alive ~2 minutes after its last packet); the next sandbox in
 * that namespace, with egress none, sent from the same port to the same server and got through,
 * as the old flow's "established" traffic. The address's conntrack entries are now deleted when
 * its sandbox's nftables elements are. Here a UDP server in a test namespace (TEST-NET-3) logs
 * what reaches it: A's datagram, never B's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SandboxHost } from '../../sandbox/index.js';
import { imageLayerPaths } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs, warren, testEnv } from '../integration/helpers.js';
import { startPeer } from '../integration/peer.js';

const dirs = testDirs('wrntest-ct');
const ns = 'wrntest-ct';

const SEND = (text: string) => `const s = require('dgram').createSocket('udp4');
  s.bind(5555, () => s.send('${text}', 9999, '203.0.113.2'));
  s.on('message', () => {});
  setTimeout(() => { console.log(require('fs').readlinkSync('/proc/self/ns/net')); process.exit(0); }, 800);`;

t.test('a reused address cannot ride the previous sandbox\'s flows', { skip: NEEDS_ROOT }, async (t) => {
  await warren(['run', '--', 'node', '-e', '0'], { env: testEnv(dirs) }); // the node image
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-ct-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const server = await startPeer(t, {
    ns,
    hostIf: 'wrntest-ct0',
    prefix: '203.0.113',
    script: "const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => { console.log('got:' + m); s.send('ok', r.port, r.address); }); s.bind(9999, () => console.log('up')); setTimeout(() => process.exit(0), 20000)",
  });

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
  t.match(server.output(), /got:A/, "A's datagram reached the server (its egress allows it)");
  t.notMatch(server.output(), /got:B/, "B's did not: egress none, and A's flow was forgotten");
});
