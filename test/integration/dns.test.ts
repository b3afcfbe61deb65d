/**
 * Name lookups and fetch() from sandboxes on the bridge, through the host's DNS forwarder
 * (sandbox/network/dns-forwarder.ts), on a host whose resolver is at a private address (as this
 * VM's) or on loopback (as systemd-resolved's 127.0.0.53). Needs root.
 *
 * All traffic stays on this machine. A test namespace made here plays the outside world: on its
 * one veth it holds a web server at a public-looking address (198.18.S.2, the benchmarking range
 * of RFC 2544; S is WRNTEST_SLOT), "the host's resolver" at a private one (172.31.200+S.53) and a
 * stand-in for the cloud metadata server (169.254.169.254), each routed from the host to the
 * namespace; the resolver answers `web.warren-test` with the web server's address. The loopback
 * case runs the same resolver on the host at 127.53.0.S+1. The forwarder is always handed the
 * test's own resolv.conf, never this machine's.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ensureNodeImage } from '../../cli/wiring.js';
import { SandboxHost } from '../../sandbox/index.js';
import { checkSubnetFree, readRoutes, SandboxNetwork } from '../../sandbox/network/index.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';
import { startAgent } from './live-agent.js';
import { testNamespace } from './test-namespace.js';

const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const base = testDirs('wrntest-dns');
const GATEWAY = base.net.subnet.replace(/\.0\/\d+$/, '.1');
const NS = `wrntest-dns-s${slot}`;
const VETH = `wrnts${slot}dns0`;
const HOST_SIDE = `198.18.${slot}.1`;
const WEB = `198.18.${slot}.2`;
const RESOLVER = `172.31.${200 + slot}.53`;
const METADATA = '169.254.169.254';
const LOOPBACK_RESOLVER = `127.53.0.${slot + 1}`;
const HOST_PORT = 31_000 + slot;

/**
 * node -e, argv: where to answer DNS, the web server's address, whether to serve HTTP on :80.
 * A for web.warren-test: WEB; any other type for it: no records; any other name: NXDOMAIN.
 */
const WORLD = `const [bind, web, http] = process.argv.slice(1);
function answer(q) {
  let at = 12; const labels = [];
  while (q[at]) { labels.push(q.toString('latin1', at + 1, at + 1 + q[at])); at += 1 + q[at]; }
  const end = at + 5, qtype = q.readUInt16BE(at + 1), hit = labels.join('.').toLowerCase() === 'web.warren-test';
  const a = Buffer.from(q.subarray(0, end));
  a[2] = 0x84 | (q[2] & 1); a[3] = hit ? 0x80 : 0x83;
  a.writeUInt16BE(1, 4); a.writeUInt16BE(hit && qtype === 1 ? 1 : 0, 6); a.writeUInt32BE(0, 8);
  if (!hit || qtype !== 1) return a;
  return Buffer.concat([a, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...web.split('.').map(Number)])]);
}
const udp = require('dgram').createSocket('udp4');
udp.on('message', (q, r) => { console.log('query from ' + r.address); udp.send(answer(q), r.port, r.address); });
udp.bind(53, bind, () => {
  if (http !== '1') return console.log('up');
  require('http').createServer((req, res) => res.end('hello from the test web')).listen(80, '0.0.0.0', () => console.log('up'));
});
setTimeout(() => process.exit(0), 180000);`;

/** node -e: one query for web.warren-test to argv[1]:53; prints `answer` or `none` after 1 s. */
const ASK = `const s = require('dgram').createSocket('udp4');
s.on('message', () => { console.log('answer'); process.exit(0); });
s.send(Buffer.from('abcd01000001000000000000037765620b77617272656e2d746573740000010001', 'hex'), 53, process.argv[1]);
setTimeout(() => { console.log('none'); process.exit(0); }, 1000);`;

function run(t: { teardown(fn: () => unknown): void }, argv: string[]): Promise<{ log: () => string }> {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d));
  return new Promise((resolve, reject) => {
    const end = Date.now() + 10_000;
    const poll = () => {
      if (log.includes('up')) return resolve({ log: () => log });
      if (Date.now() > end || child.exitCode !== null) return reject(new Error(`${argv.join(' ').slice(0, 80)}: not up: ${log}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

/** The namespace, its veth and routes, and what runs in it; all removed on teardown. */
async function testWorld(t: { teardown(fn: () => unknown): void }): Promise<{ log: () => string }> {
  const routes = await readRoutes();
  checkSubnetFree(`198.18.${slot}.0/24`, routes);
  checkSubnetFree(`${RESOLVER}/32`, routes);
  testNamespace(t, NS, VETH, `${HOST_SIDE}/24`, [`${WEB}/24`, `${RESOLVER}/32`, `${METADATA}/32`]);
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('route', 'add', `${RESOLVER}/32`, 'via', WEB, 'dev', VETH);
  // a metric of its own: another worktree's test may hold the same /32 at once
  ip('route', 'add', `${METADATA}/32`, 'via', WEB, 'dev', VETH, 'metric', String(100 + slot));
  // bound to the resolver's address: an answer must come from where the query went
  return run(t, ['ip', 'netns', 'exec', NS, process.execPath, '-e', WORLD, RESOLVER, WEB, '1']);
}

/** A host whose resolv.conf names `nameserver`, and the test's own dirs. */
async function openHost(t: { teardown(fn: () => unknown): void }, nameserver: string, dirs = base): Promise<SandboxHost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-dns-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const resolvConf = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolvConf, `nameserver ${nameserver}\nsearch warren-test.invalid\noptions timeout:2\n`);
  const host = await SandboxHost.open({ dirs: { ...dirs, net: { ...dirs.net, resolvConf } }, spare: 0 });
  t.teardown(async () => {
    await host.close();
    await SandboxNetwork.collect({ ...dirs.net, runDir: dirs.run }); // no sandbox left: its table and bridge go
  });
  return host;
}

t.test('a private resolver: lookups and fetch from public sandboxes, nothing else of the host or private ranges', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(base.state);
  const world = await testWorld(t);
  const hostServer = net.createServer((s) => s.end('the host')).listen(HOST_PORT, '0.0.0.0');
  t.teardown(() => hostServer.close());
  const host = await openHost(t, RESOLVER);

  const pub = await startAgent(host, base.state, { net: { egress: 'public' } });
  t.equal(await pub.step('read /etc/resolv.conf'), `nameserver ${GATEWAY}\nsearch warren-test.invalid\noptions timeout:2\n`, 'the gateway is its nameserver');
  t.equal(await pub.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'dns.lookup');
  t.equal(await pub.step('fetch http://web.warren-test/ 5000'), 'data:hello from the test web', 'fetch by name');
  t.match(await pub.step('lookup nothing.warren-test 5000'), /^ENOTFOUND$/, 'NXDOMAIN comes through as such');
  t.match(world.log(), `query from ${HOST_SIDE}`, 'the resolver was asked by the host, not by the sandbox');
  t.notMatch(world.log(), `query from ${pub.sandbox.ip}`);

  t.equal(await pub.step(`open ${GATEWAY} 53 2000`), 'connected', 'the forwarder on the gateway, tcp 53');
  for (const [what, addr, port] of [
    ['the gateway, another port', GATEWAY, HOST_PORT],
    ['the host\'s address on the test veth', HOST_SIDE, HOST_PORT],
    ['the private resolver itself', RESOLVER, 53],
    ['a private peer', RESOLVER, 80],
    ['the metadata address', METADATA, 80],
  ] as const) {
    t.equal(await pub.step(`open ${addr} ${port} 1500`), 'timeout', `${what} (${addr}:${port}): unreachable`);
  }
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    const v4 = addrs?.find((a) => a.family === 'IPv4' && !a.internal && a.address !== GATEWAY && a.address !== HOST_SIDE);
    if (v4) t.equal(await pub.step(`open ${v4.address} ${HOST_PORT} 1500`), 'timeout', `the host's ${name} address: unreachable`);
  }

  const none = await startAgent(host, base.state, { net: { egress: 'none' } });
  t.equal(await none.step('read /etc/resolv.conf'), `nameserver ${GATEWAY}\nsearch warren-test.invalid\noptions timeout:2\n`, 'egress none: the same file (egress may change)');
  const started = Date.now();
  t.notMatch(await none.step('lookup web.warren-test 10000'), /^addr:|timeout/, 'egress none: the lookup fails');
  t.ok(Date.now() - started < 3000, `and fails fast (${Date.now() - started} ms): refused, not dropped`);
  t.equal(await none.step(`open ${GATEWAY} 53 2000`), 'ECONNREFUSED', 'tcp 53 refused too');

  const relayed = world.log().split('query from').length;
  const outside = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '-e', ASK, GATEWAY], { encoding: 'utf8' }).trim();
  t.equal(outside, 'none', 'a query from outside the subnet (the test namespace) gets no answer');
  t.equal(world.log().split('query from').length, relayed, 'and was not relayed');
  await Promise.all([pub.sandbox.destroy(), none.sandbox.destroy()]);
});

t.test('egress none then public then none on a live sandbox (the pool): lookups follow', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(base.state);
  await testWorld(t);
  const host = await openHost(t, RESOLVER);
  const a = await startAgent(host, base.state, { net: { egress: 'none' } });
  t.notMatch(await a.step('lookup web.warren-test 10000'), /^addr:/, 'made with egress none: no lookup');
  await a.sandbox.setEgress('public');
  t.equal(await a.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'given public: the lookup works');
  t.equal(await a.step('fetch http://web.warren-test/ 5000'), 'data:hello from the test web', 'and fetch');
  await a.sandbox.setEgress({ allow: [`198.18.${slot}.0/24`] });
  t.equal(await a.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'an allowlist: lookups still work');
  await a.sandbox.setEgress('none');
  const started = Date.now();
  t.notMatch(await a.step('lookup web.warren-test 10000'), /^addr:|timeout/, 'back to none: the lookup fails again');
  t.ok(Date.now() - started < 3000, 'fast');
  await a.sandbox.destroy();
});

t.test('a loopback resolver (as systemd-resolved\'s): the forwarder, on the host, reaches it', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(base.state);
  await testWorld(t);
  const resolver = await run(t, [process.execPath, '-e', WORLD, LOOPBACK_RESOLVER, WEB, '0']);
  const host = await openHost(t, LOOPBACK_RESOLVER);
  const a = await startAgent(host, base.state, { net: { egress: 'public' } });
  t.equal(await a.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'dns.lookup');
  t.equal(await a.step('fetch http://web.warren-test/ 5000'), 'data:hello from the test web', 'fetch');
  t.match(resolver.log(), 'query from 127.', 'asked on loopback');
  t.equal(await a.step(`open ${LOOPBACK_RESOLVER} 53 1500`), 'ECONNREFUSED', 'the sandbox\'s own 127/8 is its own loopback, not the host\'s');

  // a second host beside it, with its own bridge and subnet: its own forwarder on its own gateway
  const other = testDirs('wrntest-dns-other');
  const host2 = await openHost(t, LOOPBACK_RESOLVER, other);
  const b = await startAgent(host2, base.state, { net: { egress: 'public' } });
  const gateway2 = other.net.subnet.replace(/\.0\/\d+$/, '.1');
  t.not(gateway2, GATEWAY);
  t.match(await b.step('read /etc/resolv.conf'), `nameserver ${gateway2}\n`, 'the second host\'s sandbox asks its own gateway');
  t.equal(await b.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'and gets its answer');
  t.equal(await a.step('lookup web.warren-test 5000'), `addr:${WEB}`, 'the first still gets its own');
  await Promise.all([a.sandbox.destroy(), b.sandbox.destroy()]);
});
