/**
 * Hostile functions on the network, against a real `warren serve` (needs root): a deployed function
 * tries to reach the host, the other sandboxes, the control API, the metadata address and private
 * ranges, and to get there through DNS (a name that resolves to a private address, and one that
 * answers a public address first and a private one next: rebinding). A neighbour answers
 * throughout. What each case attacks is its name.
 *
 * All traffic stays on this machine. A test namespace made here plays the outside world, as in
 * test/integration/dns.test.ts (which checks the same paths from `warren run`'s sandboxes): on its
 * one veth it holds a public-looking web server (198.19.S.2, the benchmarking range of RFC 2544; S
 * is WRNTEST_SLOT), a stand-in for a private host (172.30.200+S.2) and for the metadata server
 * (169.254.169.254), and the resolver warren's forwarder asks (172.30.200+S.53), each routed from
 * the host to the namespace. The server gets the test's own resolv.conf, never this machine's.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { checkSubnetFree, readRoutes } from '../../sandbox/network/index.js';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { testNamespace } from '../integration/test-namespace.js';
import { allOk, hostUnharmed, NEIGHBOUR, removeServerLeftovers, withNeighbour } from './hostile-helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe, type Server } from './serve-helpers.js';

const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const base = serveDirs('wrntest-fn-network');
const GATEWAY = base.net.subnet.replace(/\.0\/\d+$/, '.1');
const NS = `wrntest-fnnet-s${slot}`;
const VETH = `wrnts${slot}fnn0`;
const HOST_SIDE = `198.19.${slot}.1`;
const WEB = `198.19.${slot}.2`;
const PRIVATE = `172.30.${200 + slot}.2`;
const RESOLVER = `172.30.${200 + slot}.53`;
const METADATA = '169.254.169.254';
/** This file's ports: ports(21680) + 2 and 3 (hostile-function-resources has + 0 and 1). */
const PORT = { data: ports(21680).data + 2, control: ports(21680).control + 2 };
/** A service of the host's own on every address: what a function must not reach. */
const HOST_PORT = ports(21680).data + 6;

/**
 * node -e, argv: where to answer DNS, then a JSON map of names to an address or a list of them
 * (the first query gets the first, the next the second and so on, the last one sticks; TTL 0: the
 * rebinding resolver); every address serves HTTP :80 with a body that names it. Any other name:
 * NXDOMAIN.
 */
const WORLD = `const [bind, names] = [process.argv[1], JSON.parse(process.argv[2])];
const asked = {};
function answer(q) {
  let at = 12; const labels = [];
  while (q[at]) { labels.push(q.toString('latin1', at + 1, at + 1 + q[at])); at += 1 + q[at]; }
  const end = at + 5, qtype = q.readUInt16BE(at + 1), name = labels.join('.').toLowerCase(), known = name in names;
  const a = Buffer.from(q.subarray(0, end));
  a[2] = 0x84 | (q[2] & 1); a[3] = known ? 0x80 : 0x83;
  a.writeUInt16BE(1, 4); a.writeUInt16BE(known && qtype === 1 ? 1 : 0, 6); a.writeUInt32BE(0, 8);
  if (!known || qtype !== 1) return a;
  const list = [].concat(names[name]), addr = list[Math.min((asked[name] = (asked[name] ?? -1) + 1), list.length - 1)];
  return Buffer.concat([a, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...addr.split('.').map(Number)])]);
}
const udp = require('dgram').createSocket('udp4');
udp.on('message', (q, r) => udp.send(answer(q), r.port, r.address));
udp.bind(53, bind, () => {
  require('http').createServer((req, res) => res.end('reached ' + req.socket.localAddress)).listen(80, '0.0.0.0', () => console.log('up'));
});
setTimeout(() => process.exit(0), 300000);`;

/** What a function on the network tries; each answer is one word or `data:<body>`. */
const PROBE_NET = `
import fs from 'node:fs';
import net from 'node:net';
import dns from 'node:dns/promises';
import os from 'node:os';
let server;
function connect(host, port, ms) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, ms);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve('connected'); });
    s.once('error', (e) => { clearTimeout(timer); resolve(e.code); });
  });
}
async function hold(host, port, n, ms) {
  const held = [];
  let opened = 0, code = null;
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect({ host, port });
    held.push(s);
    s.once('connect', () => { opened++; resolve(); });
    s.once('error', (e) => { code ??= e.code; resolve(); });
    s.setTimeout(ms, () => resolve());
  })));
  await new Promise((r) => setTimeout(r, ms));
  const open = held.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const s of held) s.destroy();
  return { opened, open, code };
}
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const q = (k, d) => url.searchParams.get(k) ?? d;
    switch (url.pathname) {
      case '/tcpdns': {
        // one query for web.warren-test over TCP to the nameserver of its resolv.conf
        const ns = /nameserver\\s+(\\S+)/.exec(fs.readFileSync('/etc/resolv.conf', 'utf8'))[1];
        const query = Buffer.from('abcd01000001000000000000037765620b77617272656e2d746573740000010001', 'hex');
        return new Response(await new Promise((resolve) => {
          const s = net.connect({ host: ns, port: 53 }, () => s.write(Buffer.concat([Buffer.from([0, query.length]), query])));
          s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
          s.once('data', () => { s.destroy(); resolve('answer'); });
          s.once('error', (e) => resolve(e.code));
          s.once('close', () => resolve('closed'));
        }));
      }
      case '/hold': return Response.json(await hold(q('host'), Number(q('port')), Number(q('n')), Number(q('ms', 3000))));
      case '/connect': return new Response(await connect(q('host'), q('port'), Number(q('ms', 1500))));
      case '/fetch':
        try { return new Response('data:' + await (await fetch(q('url'), { signal: AbortSignal.timeout(Number(q('ms', 3000))) })).text()); }
        catch (e) { return new Response(String(e.cause?.code ?? e.name)); }
      case '/lookup':
        try { return new Response('addr:' + (await dns.lookup(q('name'))).address); } catch (e) { return new Response(String(e.code)); }
      case '/listen':
        if (!server) { server = net.createServer((c) => c.end('listener')).listen(8080, '0.0.0.0'); await new Promise((r) => server.once('listening', r)); }
        return Response.json(Object.values(os.networkInterfaces()).flat().filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address));
      default: return new Response('ok');
    }
  },
};`;

/** The namespace, its veth and routes, and the world in it; all removed on teardown. */
async function testWorld(t: Test): Promise<void> {
  const routes = await readRoutes();
  checkSubnetFree(`198.19.${slot}.0/24`, routes); // throws, naming the route, if the host uses the range
  checkSubnetFree(`172.30.${200 + slot}.0/24`, routes);
  testNamespace(t, NS, VETH, `${HOST_SIDE}/24`, [`${WEB}/24`, `${PRIVATE}/32`, `${RESOLVER}/32`, `${METADATA}/32`]);
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  for (const addr of [PRIVATE, RESOLVER]) ip('route', 'add', `${addr}/32`, 'via', WEB, 'dev', VETH);
  // a metric of its own: dns.test.ts, in another worktree or job, may hold the same /32 at once
  ip('route', 'add', `${METADATA}/32`, 'via', WEB, 'dev', VETH, 'metric', String(200 + slot));
  const names = { 'web.warren-test': WEB, 'private.warren-test': PRIVATE, 'meta.warren-test': METADATA, 'flip.warren-test': [WEB, PRIVATE] };
  const world = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', WORLD, RESOLVER, JSON.stringify(names)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => world.kill('SIGKILL'));
  await new Promise((resolve, reject) => {
    world.stdout.once('data', resolve);
    world.once('exit', (code) => reject(new Error(`the test world ended (${code})`)));
  });
}

/** A server whose forwarder asks the world's resolver. */
async function startWithResolver(t: Test): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-fnnet-'));
  const resolvConf = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolvConf, `nameserver ${RESOLVER}\noptions timeout:2\n`);
  const s = await startServe({ ...base, net: { ...base.net, resolvConf } }, PORT, ['--no-demo', '--pool', '1']);
  t.teardown(async () => {
    await s.stop();
    await removeServerLeftovers(base);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return s;
}

t.test('hostile functions: the network', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  await testWorld(t);
  const hostService = net.createServer((c) => c.end('the host')).listen(HOST_PORT, '0.0.0.0');
  t.teardown(() => hostService.close());
  const s = await startWithResolver(t);
  t.equal((await deploy(s, 'neighbour', NEIGHBOUR)).status, 201);
  t.equal((await deploy(s, 'pub', PROBE_NET, { egress: 'public' })).status, 201);
  t.equal((await deploy(s, 'closed', PROBE_NET)).status, 201, 'egress none, the default');
  t.equal((await deploy(s, 'listener', PROBE_NET, { egress: 'public' })).status, 201);
  const step = async (fn: string, p: string) => (await invoke(s, `/${fn}${p}`)).text;
  const connect = (fn: string, host: string, port: number) => step(fn, `/connect?host=${host}&port=${port}`);

  await t.test('controls: a public function reaches the public stand-in, by address and by name', async (t) => {
    t.equal(await connect('pub', WEB, 80), 'connected');
    t.equal(await step('pub', '/fetch?url=http://web.warren-test/'), `data:reached ${WEB}`);
    t.equal(await connect('closed', WEB, 80), 'timeout', 'egress none: not even the public one');
  });

  await t.test('reaching the host: its gateway address, its other addresses, its loopback', async (t) => {
    const { result, statuses } = await withNeighbour(s, async () => {
      const targets: Array<[string, string]> = [[`the gateway (${GATEWAY})`, GATEWAY], [`the host's end of the test veth (${HOST_SIDE})`, HOST_SIDE]];
      for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
        for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal && a.address !== GATEWAY && a.address !== HOST_SIDE) targets.push([`the host's ${name} (${a.address})`, a.address]);
      }
      return Promise.all(targets.map(async ([what, addr]) => [what, await connect('pub', addr, HOST_PORT)] as const));
    });
    for (const [what, got] of result) t.equal(got, 'timeout', `${what}:${HOST_PORT}: unreachable`);
    t.equal(await connect('pub', '127.0.0.1', HOST_PORT), 'ECONNREFUSED', '127.0.0.1 is the sandbox\'s own loopback');
    t.ok(allOk(statuses), 'the neighbour answered throughout');
  });

  await t.test('reaching the control API and the data plane from inside', async (t) => {
    for (const port of [PORT.control, PORT.data]) {
      t.equal(await connect('pub', '127.0.0.1', port), 'ECONNREFUSED', `127.0.0.1:${port} is not the host's`);
      t.equal(await connect('pub', GATEWAY, port), 'timeout', `the gateway's ${port}: unreachable`);
    }
    t.equal((await api(s, 'GET', '/v1/functions')).status, 200, 'the control API serves its own callers');
  });

  await t.test('reaching the other sandboxes: a function listening on TCP is not reachable from its neighbour', async (t) => {
    const addrs = (await invoke(s, '/listener/listen')).json<string[]>();
    t.equal(addrs.length, 1, `the listener's address: ${addrs.join(', ')}`);
    const [addr] = addrs as [string];
    t.equal(await connect('listener', addr, 8080), 'connected', 'control: it reaches itself');
    t.equal(await connect('pub', addr, 8080), 'timeout', 'a public neighbour: unreachable');
    t.equal(await connect('closed', addr, 8080), 'timeout', 'a closed one: unreachable');
  });

  await t.test('reaching the metadata address', async (t) => {
    t.equal(await connect('pub', METADATA, 80), 'timeout', `${METADATA}:80 unreachable`);
    t.notMatch(await step('pub', '/fetch?url=http://meta.warren-test/latest/meta-data/'), /^data:/, 'nor by a name for it');
  });

  await t.test('reaching private ranges: a private host and the host\'s resolver itself', async (t) => {
    t.equal(await connect('pub', PRIVATE, 80), 'timeout', `${PRIVATE}:80 unreachable`);
    t.equal(await connect('pub', RESOLVER, 53), 'timeout', `the resolver ${RESOLVER}:53 unreachable (only through the forwarder)`);
  });

  await t.test('DNS rebinding: a name that resolves to a private address never reaches it', async (t) => {
    t.equal(await step('pub', '/lookup?name=private.warren-test'), `addr:${PRIVATE}`, 'the answer comes through as the resolver gave it');
    t.notMatch(await step('pub', '/fetch?url=http://private.warren-test/'), /^data:/, 'but the address is not reached');
    // one name, public at its first query and private at every one after (TTL 0): checked once, used later
    t.equal(await step('pub', '/lookup?name=flip.warren-test'), `addr:${WEB}`, 'first: the public address');
    t.equal(await step('pub', '/lookup?name=flip.warren-test'), `addr:${PRIVATE}`, 'then the private one');
    t.equal(await step('pub', '/connect?host=flip.warren-test&port=80'), 'timeout', 'a connection by the rebound name is not made');
    t.notMatch(await step('pub', '/fetch?url=http://flip.warren-test/'), /^data:/, 'nor a fetch');
  });

  await t.test('holding thousands of sockets to the host\'s DNS forwarder: one function gets a share of its connections, the server\'s fds do not follow', async (t) => {
    const fds = () => fs.readdirSync(`/proc/${s.child.pid}/fd`).length;
    const before = fds();
    let most = before;
    let holding = true;
    const watch = (async () => {
      while (holding) {
        most = Math.max(most, fds());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const { result, statuses } = await withNeighbour(s, async () => {
      const held = invoke(s, `/pub/hold?host=${GATEWAY}&port=53&n=2000&ms=4000`);
      await new Promise((r) => setTimeout(r, 1500));
      const other = await step('listener', '/tcpdns');
      return { held: await held, other };
    });
    holding = false;
    await watch;
    t.equal(result.held.status, 200, result.held.text);
    t.equal(result.other, 'answer', 'meanwhile another function gets its DNS answer over TCP');
    // what the function sees as open includes connections still in the listen backlog: the server's fds tell
    t.ok(most - before < 40, `the server held ${most - before} more fds at most (${result.held.text})`);
    t.ok(allOk(statuses), 'the neighbour answered throughout');
    t.equal(await step('pub', '/lookup?name=web.warren-test'), `addr:${WEB}`, 'and lookups work after');
  });

  await t.test('an allowlist naming the metadata address or a private range is refused', async (t) => {
    for (const cidr of [`${METADATA}/32`, '172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/32']) {
      const r = await deploy(s, 'sneaky', PROBE_NET, { egress: [cidr] });
      if (r.status === 201) {
        t.not((await connect('sneaky', cidr === '172.16.0.0/12' ? PRIVATE : METADATA, 80)), 'connected', `${cidr}: deployed, but nothing reached`);
        t.fail(`${cidr}: deployed (${r.text})`);
      } else t.equal(r.status, 400, `${cidr}: ${r.text}`);
    }
  });

  await t.test('after every attempt the host did not notice', (t) => hostUnharmed(t, s));
});
