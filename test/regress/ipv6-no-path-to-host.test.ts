/**
 * IPv6 is off inside sandboxes (issue 13, a known gap). warren's firewall rules (sandbox/network/
 * nftables.ts) and its blocked ranges are written for IPv4: a sandbox that could speak IPv6 would
 * bypass them, as happened to container runtimes that filtered IPv4 only while the kernel gave each
 * veth a link-local IPv6 address and accepted router advertisements (CVE-2020-13401, CVE-2020-14370
 * class bugs: a container that sends a router advertisement, or reaches a host service on fe80::,
 * past rules that never looked at IPv6). Each pooled network namespace is made with
 * net.ipv6.conf.all.disable_ipv6=1 before its veth is up (sandbox/native/netpool.c), so eth0 never
 * has an IPv6 address; and the table's input chain drops whatever comes from the bridge, IPv6
 * included.
 *
 * This test, from a bridged sandbox, tries the IPv6 paths to the host: the host's ::1, the
 * bridge's link-local address, and a test namespace of its own on the bridge with a ULA and a
 * link-local address (a stand-in for another host or sandbox on the link), each with a listener
 * that counts connections (each checked first from its own side). The sandbox reaches none of
 * them and cannot turn IPv6 back on; and the test namespace, which has IPv6 on, does not reach the
 * host's listener on the bridge either: the second wall, should a sandbox ever get an address.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { NEEDS_ROOT, probe, testDirs, testEnv } from '../integration/helpers.js';
import type { ProbeConnect, ProbeRead, ProbeResult } from '../probe/probe.js';

const dirs = testDirs('wrntest-ipv6');
const env = testEnv(dirs);
const bridge = dirs.net.bridge;
const ns = `wrntest-v6-${process.pid}`;
const hostVeth = `wrntv6h${process.pid}`.slice(0, 15);
const nsVeth = 'v6peer';
const ULA = 'fd7e:57::1';
const NS_LINK_LOCAL = 'fe80::57';
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

/** A TCP listener that counts the connections it accepts. */
async function listener(host: string): Promise<{ port: number; count: () => number; close: () => void }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ host, port: 0 }, resolve));
  return { port: (server.address() as net.AddressInfo).port, count: () => n, close: () => server.close() };
}

/** The same, in the test namespace: a child node that prints `ready PORT`, then `conn` per connection. */
async function nsListener(): Promise<{ port: number; count: () => number; close: () => void }> {
  const script = `const s=require('net').createServer(c=>{process.stdout.write('conn\\n');c.destroy()});s.listen({host:'::',port:0},()=>process.stdout.write('ready '+s.address().port+'\\n'));setTimeout(()=>process.exit(0),120000)`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('close', () => reject(new Error(`the test namespace's listener ended: ${out}`)));
  });
  return { port, count: () => out.split('\n').filter((l) => l === 'conn').length, close: () => child.kill() };
}

/** Whether a TCP connect from the host (or namespace `from`) to [host]:port is answered within 2 s. */
async function reaches(from: string | undefined, host: string, port: number): Promise<boolean> {
  const script = `const s=require('net').connect({host:${JSON.stringify(host)},port:${port},timeout:2000},()=>{process.stdout.write('yes');s.destroy()});s.on('error',()=>{});s.on('timeout',()=>s.destroy())`;
  const argv = from ? ['ip', 'netns', 'exec', from, process.execPath, '-e', script] : [process.execPath, '-e', script];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  await new Promise((resolve) => child.on('close', resolve));
  return out === 'yes';
}

function bridgeLinkLocal(): string | undefined {
  const addrs = JSON.parse(ip('-j', '-6', 'addr', 'show', 'dev', bridge)) as Array<{ addr_info: Array<{ local: string; scope: string }> }>;
  return addrs[0]?.addr_info.find((a) => a.scope === 'link')?.local;
}

t.test('a bridged sandbox has no IPv6 path to the host or its link', { skip: NEEDS_ROOT }, async (t) => {
  // the bridge exists once a bridged sandbox has run
  const inside = await probe<ProbeRead>(['--net', 'bridge'], ['read', '/proc/sys/net/ipv6/conf/all/disable_ipv6'], env);
  t.equal(inside.text.trim(), '1', 'IPv6 is disabled in the sandbox\'s netns');
  const addrs = await probe<ProbeRead>(['--net', 'bridge'], ['read', '/proc/net/if_inet6'], env);
  t.equal(addrs.text, '', 'no interface of the sandbox has an IPv6 address');
  const enable = await probe<ProbeResult>(['--net', 'bridge'], ['write', '/proc/sys/net/ipv6/conf/all/disable_ipv6', '0'], env);
  t.notOk(enable.ok, `the sandbox cannot turn IPv6 on (errno ${enable.errno})`);

  t.teardown(() => {
    try { ip('netns', 'del', ns); } catch { /* not made */ }
    try { ip('link', 'del', hostVeth); } catch { /* gone with the netns */ }
  });
  ip('netns', 'add', ns);
  ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth, 'netns', ns);
  ip('link', 'set', hostVeth, 'master', bridge, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'addr', 'add', `${ULA}/64`, 'dev', nsVeth, 'nodad');
  ip('-n', ns, 'addr', 'add', `${NS_LINK_LOCAL}/64`, 'dev', nsVeth, 'nodad');
  ip('-n', ns, 'link', 'set', nsVeth, 'up');
  const bridgeLL = bridgeLinkLocal();

  const loopback = await listener('::1');
  const onBridge = bridgeLL ? await listener(`${bridgeLL}%${bridge}`) : undefined;
  const peer = await nsListener();
  t.teardown(() => [loopback, onBridge, peer].forEach((l) => l?.close()));

  // the controls: every listener counts what reaches it
  t.ok(await reaches(undefined, '::1', loopback.port), 'the host reaches its ::1 listener');
  if (onBridge && bridgeLL) t.ok(await reaches(undefined, `${bridgeLL}%${bridge}`, onBridge.port), 'and the one on the bridge\'s link-local address');
  t.ok(await reaches(ns, ULA, peer.port), 'the test namespace reaches its own listener');
  const before = { loopback: loopback.count(), onBridge: onBridge?.count(), peer: peer.count() };

  // the second wall: a namespace on the bridge with IPv6 on still cannot reach the host
  if (onBridge && bridgeLL) t.notOk(await reaches(ns, `${bridgeLL}%${nsVeth}`, onBridge.port), 'a namespace with IPv6 on the bridge does not reach the host either: the table drops it');

  const targets: Array<[string, number]> = [
    ['::1', loopback.port],
    [`${ULA}`, peer.port],
    [`${NS_LINK_LOCAL}%eth0`, peer.port],
    ...(bridgeLL && onBridge ? [[`${bridgeLL}%eth0`, onBridge.port] as [string, number]] : []),
  ];
  const results = await Promise.all(targets.map(([addr, port]) => probe<ProbeConnect>(['--net', 'bridge'], ['connect', addr, String(port)], env)));
  for (const r of results) t.not(r.errno, 0, `connect [${r.addr}] fails inside (errno ${r.errno})`);
  t.same({ loopback: loopback.count(), onBridge: onBridge?.count(), peer: peer.count() }, before, 'no listener saw a connection from a sandbox');
  if (!onBridge) t.comment('the bridge has no link-local address on this host');
  t.ok(fs.existsSync(`/run/netns/${ns}`), 'the test namespace was there throughout');
});
