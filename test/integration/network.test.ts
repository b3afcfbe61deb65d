/**
 * Networking as a sandbox sees it (node scripts inside report) and as the host sees it. All
 * traffic stays on this machine: sandboxes, the test bridge, and a test namespace made here
 * holding an address of TEST-NET-2 (198.51.100.0/24) for the egress allowlist; the test checks
 * first that no route of the host covers that range (this VM's own uplink is 192.0.2.0/24).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SandboxHost } from '../../sandbox/index.js';
import { checkSubnetFree, readRoutes } from '../../sandbox/network/index.js';
import { imageLayerPaths } from '../../snapshots/index.js';
import { keptDir } from '../../snapshots/kept.js';
import { NEEDS_ROOT, testDirs, testEnv, warren, WARREN } from './helpers.js';

const dirs = testDirs('wrntest-net');
const env = testEnv(dirs);
const SUBNET_BASE = dirs.net.subnet.split('.').slice(0, 2).join('.'); // '10.x'
// the subnet's own address and length ('10.x.0.0', 16; under WRNTEST_SLOT '10.x.64.0', 20); the bridge has its first host
const [SUBNET_ADDR, SUBNET_BITS] = dirs.net.subnet.split('/') as [string, string];
const GATEWAY = SUBNET_ADDR.replace(/\.0$/, '.1');
/** An address as /proc/net/route prints it: little-endian hex. */
const routeHex = (ip: string) => ip.split('.').reverse().map((n) => Number(n).toString(16).padStart(2, '0')).join('').toUpperCase();

/** node -e: connect to ip:port, print connected/<errno>/timeout */
const CONNECT = `const [ip, port, ms] = process.argv.slice(1);
const s = require('net').connect(Number(port), ip);
s.on('data', (d) => { console.log('data:' + d); process.exit(0); });
s.on('connect', () => { console.log('connected'); setTimeout(() => process.exit(0), 300); });
s.on('error', (e) => { console.log(e.code); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(2); }, Number(ms));`;

/** node -e: TCP server on 8080 answering "hello from <ip>", UDP on 8081 that prints what it gets */
const SERVE = `const ip = require('os').networkInterfaces().eth0[0].address;
require('dgram').createSocket('udp4').on('message', (m) => console.log('udp:' + m)).bind(8081);
require('net').createServer((s) => s.end('hello from ' + ip)).listen(8080, () => console.log('ip:' + ip));
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.argv[1] || 8000));`;

/** node -e: send one UDP datagram */
const UDP_SEND = `const [ip, port] = process.argv.slice(1);
require('dgram').createSocket('udp4').send('ping', Number(port), ip, () => setTimeout(() => process.exit(0), 200));`;

function background(args: string[]): { child: ChildProcess; out: () => string; waitFor: (re: RegExp) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [WARREN, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
    waiters.splice(0).forEach((w) => w());
  });
  const waitFor = (re: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in ${JSON.stringify(out)}`)), 20_000);
      const check = () => {
        const m = out.match(re);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else waiters.push(check);
      };
      check();
    });
  return { child, out: () => out, waitFor };
}

function ended(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.on('close', r));
}

function hostConnect(host: string, port: number, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.setTimeout(ms, () => {
      s.destroy();
      resolve('timeout');
    });
  });
}

t.test('inside: eth0 is up with an address in the subnet, the default route points at the bridge', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['run', '--net', 'bridge', '--', 'node', '-e',
    `const i = require('os').networkInterfaces().eth0.find((a) => a.family === 'IPv4');
     const route = require('fs').readFileSync('/proc/net/route', 'utf8').split('\\n').find((l) => l.split('\\t')[1] === '00000000');
     const gw = route.split('\\t')[2].match(/../g).reverse().map((h) => parseInt(h, 16)).join('.');
     console.log(JSON.stringify({ cidr: i.cidr, gw, hosts: require('fs').readFileSync('/etc/hosts', 'utf8') }));`], { env });
  t.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { cidr: string; gw: string; hosts: string };
  t.match(seen.cidr, new RegExp(`^${SUBNET_BASE.replace('.', '\\.')}\\.\\d+\\.\\d+/${SUBNET_BITS}$`));
  t.equal(seen.gw, GATEWAY);
  t.match(seen.hosts, new RegExp(`^${seen.cidr.split('/')[0]?.replace(/\./g, '\\.')}\\t`, 'm'), '/etc/hosts names the sandbox');
});

t.test('two sandboxes cannot reach each other, by TCP or UDP', { skip: NEEDS_ROOT }, async (t) => {
  const a = background(['--net', 'bridge', '--', 'node', '-e', SERVE, '6000']);
  const [, ip] = await a.waitFor(/ip:(\S+)/);
  const tcp = await warren(['run', '--net', 'bridge', '--', 'node', '-e', CONNECT, ip as string, '8080', '1000'], { env });
  t.not(tcp.stdout.trim(), 'connected', `TCP from a neighbour: ${tcp.stdout.trim()}`);
  t.notMatch(tcp.stdout, /hello/);
  await warren(['run', '--net', 'bridge', '--', 'node', '-e', UDP_SEND, ip as string, '8081'], { env });
  // a control: the same datagram from inside A itself arrives, so the listener works
  a.child.kill('SIGTERM');
  await ended(a.child);
  t.notMatch(a.out(), /udp:ping/, 'no UDP datagram crossed');
});

t.test('a host server on 0.0.0.0 is out of reach from a sandbox, reachable from the host', { skip: NEEDS_ROOT }, async (t) => {
  const server = net.createServer((s) => s.end('host secret'));
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  t.equal(await hostConnect('127.0.0.1', port), 'host secret', 'the host reaches it');
  for (const target of [GATEWAY, '127.0.0.1']) {
    const r = await warren(['run', '--net', 'bridge', '--egress', 'public', '--', 'node', '-e', CONNECT, target, String(port), '1000'], { env });
    t.notMatch(r.stdout, /connected|data:/, `${target}:${port} from the sandbox: ${r.stdout.trim()}`);
  }
});

t.test('-p publishes a sandbox port on the host loopback and the bridge address', { skip: NEEDS_ROOT }, async (t) => {
  const a = background(['--net', 'bridge', '-p', '18080:8080', '--', 'node', '-e', SERVE, '8000']);
  await a.waitFor(/ip:(\S+)/);
  t.match(await hostConnect('127.0.0.1', 18080), new RegExp(`^hello from ${SUBNET_BASE.replace('.', '\\.')}\\.`), 'via 127.0.0.1:18080');
  t.match(await hostConnect(GATEWAY, 18080), new RegExp(`^hello from ${SUBNET_BASE.replace('.', '\\.')}\\.`), `via ${GATEWAY}:18080`);
  a.child.kill('SIGTERM');
  t.equal(await ended(a.child), 0);
  t.equal(await hostConnect('127.0.0.1', 18080, 500), 'ECONNREFUSED', 'unpublished when the sandbox ends');
});

/** What a sandbox holds on the host while it runs: a test that starts none must change none of it. */
function holdings(): Record<string, unknown> {
  const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
  const cgroupRoots = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup'] : ls('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`);
  let map: { nftables: Array<{ map?: { elem?: unknown[] } }> } = { nftables: [] };
  try {
    map = JSON.parse(execFileSync('nft', ['-j', 'list', 'map', 'inet', dirs.net.table, 'publish'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {} // no table yet: the first bridged sandbox of this file makes it
  return {
    addressLeases: ls(path.join(dirs.run, 'ips')),
    undoScripts: ls(path.join(dirs.run, 'nft')),
    sandboxRunDirs: ls(path.join(dirs.run, 'sandboxes')),
    cgroups: cgroupRoots.flatMap((root) => ls(path.join(root, dirs.cgroupParent)).filter((e) => fs.statSync(path.join(root, dirs.cgroupParent, e)).isDirectory())),
    publishElements: map.nftables.find((x) => x.map)?.map?.elem ?? [],
  };
}

t.test('-p of a host port another sandbox publishes fails with 125, takes nothing, and leaves it working', { skip: NEEDS_ROOT }, async (t) => {
  // the bug: the nft batch failed with a raw "File exists"; docker says "port is already allocated"
  const a = background(['--net', 'bridge', '-p', '38080:8080', '--', 'node', '-e', SERVE, '20000']);
  t.teardown(() => a.child.kill('SIGKILL'));
  await a.waitFor(/ip:(\S+)/);
  t.match(await hostConnect('127.0.0.1', 38080), /^hello from /, 'A answers on 38080');
  const before = holdings();
  t.match(JSON.stringify(before.publishElements), /\{"concat":\["tcp",38080\]\}/, "A's element is in the map");

  const name = 'wrntest-port-in-use';
  t.teardown(() => fs.rmSync(keptDir(dirs.state, name), { recursive: true, force: true }));
  const b = await warren(['run', '--net', 'bridge', '-p', '38081:8081', '-p', '38080:9090', '--name', name, '--keep', '--', 'node', '-e', 'console.log("B ran")'], { env, timeoutMs: 20_000 });
  t.equal(b.code, 125, 'exit 125: warren failed, not the command');
  t.match(b.stderr, /^warren: host port tcp\/38080 is already published by another sandbox(: [\s\S]*)?\n$/, 'the message, and its cause');
  t.equal(b.stdout, '', 'B never ran');
  t.same(holdings(), before, 'no address lease, undo script, run dir, cgroup or nft element of B left, none of A lost');
  t.notOk(fs.existsSync(keptDir(dirs.state, name)) || fs.existsSync(`${keptDir(dirs.state, name)}.json`), 'the --name of a sandbox that never started stays free');
  t.equal(await hostConnect('127.0.0.1', 38081, 500), 'ECONNREFUSED', "B's other port was not published");
  t.match(await hostConnect('127.0.0.1', 38080), /^hello from /, 'A still answers on 38080');

  a.child.kill('SIGTERM');
  t.equal(await ended(a.child), 0);
});

t.test('-p of a port a host process serves fails with 125: DNAT would take its traffic', { skip: NEEDS_ROOT }, async (t) => {
  const tcp = net.createServer((s) => s.end('host server'));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r)); // one address, not 0.0.0.0: still shadowed
  t.teardown(() => tcp.close());
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.teardown(() => udp.close());
  const before = holdings();
  const cases: Array<[string, string]> = [
    [`${(tcp.address() as net.AddressInfo).port}:80`, `tcp/${(tcp.address() as net.AddressInfo).port}`],
    [`${udp.address().port}:53/udp`, `udp/${udp.address().port}`],
  ];
  for (const [publish, named] of cases) {
    const r = await warren(['run', '--net', 'bridge', '-p', publish, '--', 'node', '-e', 'console.log("ran")'], { env, timeoutMs: 20_000 });
    t.equal(r.code, 125, `-p ${publish}: exit 125`);
    t.match(r.stderr, new RegExp(`^warren: host port ${named} is in use on the host(: [\\s\\S]*)?\\n$`), 'the message, and its cause');
    t.equal(r.stdout, '', 'never ran');
  }
  t.same(holdings(), before, 'nothing left');
  t.equal(await hostConnect('127.0.0.1', (tcp.address() as net.AddressInfo).port), 'host server', 'the host server still gets its connections');
});

t.test('egress: an allowlisted test network is reachable, with egress none it is not', { skip: NEEDS_ROOT }, async (t) => {
  const ns = 'wrntest-egress';
  checkSubnetFree('198.51.100.0/24', await readRoutes()); // throws, naming the route, if the host uses it
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  t.teardown(() => {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', 'wrntest-eg0'); } catch { /* went with the netns */ }
  });
  ip('link', 'add', 'wrntest-eg0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', '198.51.100.1/24', 'dev', 'wrntest-eg0');
  ip('link', 'set', 'wrntest-eg0', 'up');
  ip('-n', ns, 'addr', 'add', '198.51.100.2/24', 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e',
    "require('net').createServer((s) => s.end('test net')).listen(8080, () => console.log('up')); setTimeout(() => process.exit(0), 20000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill('SIGKILL'));
  await new Promise((r) => server.stdout.once('data', r));
  const allowed = await warren(['run', '--net', 'bridge', '--egress', '198.51.100.0/24', '--', 'node', '-e', CONNECT, '198.51.100.2', '8080', '2000'], { env });
  t.match(allowed.stdout, /^data:test net$/m, 'reachable through the allowlist');
  const none = await warren(['run', '--net', 'bridge', '--', 'node', '-e', CONNECT, '198.51.100.2', '8080', '1000'], { env });
  t.notMatch(none.stdout, /data|connected/, `with egress none: ${none.stdout.trim()}`);
  const other = await warren(['run', '--net', 'bridge', '--egress', '203.0.113.0/24', '--', 'node', '-e', CONNECT, '198.51.100.2', '8080', '1000'], { env });
  t.notMatch(other.stdout, /data|connected/, 'an allowlist of another network does not open this one');
  t.match((await warren(['run', '--net', 'bridge', '--egress', '10.0.0.0/8', '--', 'true'], { env })).stderr, /overlaps blocked range/);
});

t.test('100 sandboxes in parallel bursts: no duplicate address, nothing left after', { skip: NEEDS_ROOT }, async (t) => {
  const host = await SandboxHost.open({ dirs });
  const layers = imageLayerPaths(dirs.state, 'node');
  const seen = new Set<string>();
  for (let burst = 0; burst < 4; burst++) {
    const batch = await Promise.all(Array.from({ length: 25 }, (_, i) =>
      host.create({ argv: ['node', '-e', 'setTimeout(() => {}, 30000)'], layers, net: { egress: i % 2 ? 'public' : 'none' } })));
    await Promise.all(batch.map((s) => s.ready()));
    for (const s of batch) {
      t.notOk(seen.has(s.ip as string), `${s.ip} handed out once`);
      seen.add(s.ip as string);
    }
    await Promise.all(batch.map((s) => s.destroy()));
    for (const s of batch) seen.delete(s.ip as string); // freed addresses may come again
  }
  await host.close(); // the pooled namespaces go with it; the kernel removes their veths soon after
  // this test's bridge only: other test runs (WRNTEST_SLOT) have veths of their own
  const veths = () => execFileSync('ip', ['-o', 'link', 'show', 'master', dirs.net.bridge], { encoding: 'utf8' }).split('\n').filter((l) => /: wrn[0-9a-f]{12}[@:]/.test(l));
  // bounded: the kernel frees namespaces in batches, slower under load (seen: 10-20 s in a busy CI run)
  for (let i = 0; i < 600 && veths().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(veths(), [], 'no veth left');
  t.same(fs.readdirSync(path.join(dirs.run, 'ips')), [], 'no address lease left');
  const sets = JSON.parse(execFileSync('nft', ['-j', 'list', 'set', 'inet', dirs.net.table, 'egress_public'], { encoding: 'utf8' })) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  t.same(sets.nftables.find((x) => x.set)?.set?.elem ?? [], [], 'no nftables element left');
});

t.test('a reused network namespace carries nothing of its previous sandbox', { skip: NEEDS_ROOT }, async (t) => {
  // A leaves what it can: a listening socket, a neighbour entry (its SYN to the gateway needs
  // ARP), a UDP socket. B reports what it sees. One host and one tenant (as two sandboxes of one
  // function), so namespaces are reused last-in first-out: B gets A's, which its address shows
  // (the netns keeps it).
  const A = `const net = require('net');
    net.createServer().listen(8080);
    require('dgram').createSocket('udp4').bind(8081);
    const c = net.connect(9, '${GATEWAY}'); c.on('error', () => {});
    setTimeout(() => { console.log(require('fs').readFileSync('/proc/net/arp', 'utf8').trim().split('\\n').length); process.exit(0); }, 700);`;
  const B = `const fs = require('fs');
    const lines = (f) => fs.readFileSync(f, 'utf8').trim().split('\\n').slice(1).filter(Boolean);
    console.log(JSON.stringify({ tcp: lines('/proc/net/tcp'), udp: lines('/proc/net/udp'),
      arp: lines('/proc/net/arp'), routes: lines('/proc/net/route').map((l) => l.split('\\t').slice(0, 3).join(' ')),
      addrs: Object.entries(require('os').networkInterfaces()).flatMap(([i, a]) => a.filter((x) => x.family === 'IPv4').map((x) => i + ' ' + x.cidr)) }));`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-reuse-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  await using host = await SandboxHost.open({ dirs });
  const layers = imageLayerPaths(dirs.state, 'node');
  const run = async (name: string, script: string) => {
    const out = path.join(tmp, name);
    fs.writeFileSync(out, '');
    const s = await host.create({ argv: ['node', '-e', script], layers, net: { egress: 'none' }, tenant: 'f', stdio: ['null', { path: out }, 'inherit'] });
    await s.ready();
    const exit = await s.exited;
    t.equal(exit.code, 0, `${name} ran`);
    return { out: fs.readFileSync(out, 'utf8').trim(), ip: s.ip };
  };
  const a = await run('A', A);
  t.ok(Number(a.out) >= 2, 'A made a neighbour entry');
  const b = await run('B', B);
  t.equal(b.ip, a.ip, "B runs in the namespace A had: it has A's address");
  const seen = JSON.parse(b.out) as { tcp: string[]; udp: string[]; arp: string[]; routes: string[]; addrs: string[] };
  t.same(seen.tcp, [], 'no TCP socket of A');
  t.same(seen.udp, [], 'no UDP socket of A');
  t.same(seen.arp, [], 'no neighbour entry of A');
  t.same(seen.addrs.sort(), ['eth0 ' + a.ip + '/' + SUBNET_BITS, 'lo 127.0.0.1/8'], 'lo and its one eth0 address');
  t.same(seen.routes.sort(), [`eth0 00000000 ${routeHex(GATEWAY)}`, `eth0 ${routeHex(SUBNET_ADDR)} 00000000`], 'the default route and the subnet, nothing else');
});
