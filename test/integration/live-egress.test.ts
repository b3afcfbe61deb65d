/**
 * Egress changed on a running sandbox (Sandbox.setEgress), seen from inside: a node agent in the
 * sandbox connects to a server in a test namespace made here, before and after each change. All
 * traffic stays on this machine: the namespace holds 16 addresses of TEST-NET-3 (203.0.113.0/24,
 * a /28 per WRNTEST_SLOT), and the test checks first that no route of the host covers them.
 * Needs root.
 */
import { execFileSync, spawn } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SandboxHost, type Egress } from '../../sandbox/index.js';
import { checkSubnetFree, readRoutes } from '../../sandbox/network/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';
import { startAgent } from './live-agent.js';

const dirs = testDirs('wrntest-live-egress');
const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const RANGE = `203.0.113.${slot * 16}/28`;
const HOST_SIDE = `203.0.113.${slot * 16 + 1}`;
const SERVER = `203.0.113.${slot * 16 + 2}`;
const NS = `wrntest-live-s${slot}`;
const VETH = `wrnts${slot}live0`;

/** The test network: a namespace with a TCP server on SERVER:8080 that greets and answers pings. */
async function testNetwork(t: { teardown(fn: () => void): void }): Promise<void> {
  checkSubnetFree(RANGE, await readRoutes()); // throws, naming the route, if the host uses the range
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', NS);
  t.teardown(() => {
    try { ip('netns', 'del', NS); } catch { /* gone */ }
    try { ip('link', 'del', VETH); } catch { /* went with the netns */ }
  });
  ip('link', 'add', VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS);
  ip('addr', 'add', `${HOST_SIDE}/28`, 'dev', VETH);
  ip('link', 'set', VETH, 'up');
  ip('-n', NS, 'addr', 'add', `${SERVER}/28`, 'dev', 'eth0');
  ip('-n', NS, 'link', 'set', 'eth0', 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  const server = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e',
    `require('net').createServer((s) => { s.write('test net'); s.on('data', () => s.write('pong')); s.on('error', () => {}); })
       .listen(8080, () => console.log('up')); setTimeout(() => process.exit(0), 120000)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill('SIGKILL'));
  await new Promise((r) => server.stdout.once('data', r));
}

/** The elements of an nft set of the test's table, as JSON text. */
function setElements(name: string): string {
  const doc = JSON.parse(execFileSync('nft', ['-j', 'list', 'set', 'inet', dirs.net.table, name], { encoding: 'utf8' })) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return JSON.stringify(doc.nftables.find((x) => x.set)?.set?.elem ?? []);
}

t.test('egress changed on a live sandbox: blocked, reachable, blocked again, established flows cut', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await testNetwork(t);
  const changes: unknown[] = [];
  const onEgress = (e: unknown) => changes.push(e);
  diagnostics_channel.subscribe('warren:sandbox:egress', onEgress);
  t.teardown(() => diagnostics_channel.unsubscribe('warren:sandbox:egress', onEgress));
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const a = await startAgent(host, dirs.state, { net: { egress: 'none' } });
  const sb = a.sandbox;
  const connect = () => a.step(`connect ${SERVER} 8080 1000`);

  t.not(await connect(), 'data:test net', 'egress none: blocked');
  await sb.setEgress({ allow: [RANGE] });
  t.equal(await connect(), 'data:test net', 'allowlisted: reachable');
  await sb.setEgress({ allow: ['198.51.100.0/24'] });
  t.not(await connect(), 'data:test net', 'an allowlist of another network: blocked');
  await sb.setEgress('public');
  t.equal(await connect(), 'data:test net', 'public: reachable');

  t.equal(await a.step(`hold ${SERVER} 8080`), 'data:test net', 'a connection opened under public');
  t.equal(await a.step('held 1000'), 'data:pong', 'carries data');
  await sb.setEgress('none');
  t.not(await a.step('held 1500'), 'data:pong', 'after egress none, the established connection carries nothing');
  t.not(await connect(), 'data:test net', 'and a new one is blocked');
  t.equal(setElements('egress_public'), '[]', 'no egress_public element left');
  t.equal(setElements('egress_allow'), '[]', 'no egress_allow element left');

  await Promise.all([sb.setEgress('public'), sb.setEgress({ allow: [RANGE] }), sb.setEgress('none')]);
  t.not(await connect(), 'data:test net', 'changes asked at once apply in order: the last one holds');
  await t.rejects(sb.setEgress({ allow: ['10.0.0.0/8'] }), { code: 'WARREN_NET_EGRESS_BLOCKED' });
  await sb.setEgress({ allow: [RANGE] });
  t.equal(await connect(), 'data:test net', 'a refused change left the egress as it was, and the next applies');
  t.equal(changes.length, 8, 'one egress event per change applied');
  t.match(changes.at(-1), { id: sb.id, egress: { allow: [RANGE] } });

  await sb.destroy();
  t.equal(setElements('egress_allow'), '[]', 'its elements went with it');
  t.same(fs.readdirSync(path.join(dirs.run, 'nft')), [], 'and its undo file');
  await t.rejects(sb.setEgress('public'), { code: 'WARREN_SANDBOX_EXITED' });
});

t.test('a change racing the end of its sandbox leaves no element behind', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  for (let i = 0; i < 5; i++) {
    const a = await startAgent(host, dirs.state, { net: { egress: 'none' } });
    // changes queued (each one nft run, and conntrack for the narrower ones) when the sandbox is
    // killed: its release must wait for them, or its undo runs before the last adds its elements
    const egresses: Egress[] = ['public', 'none', { allow: [RANGE] }, 'none', 'public', { allow: [RANGE] }, 'none', 'public'];
    const changes = egresses.slice(i % 2).map((e) => a.sandbox.setEgress(e));
    const exit = a.sandbox.destroy();
    await Promise.all(changes);
    await exit;
    t.equal(setElements('egress_public') + setElements('egress_allow'), '[][]', `round ${i}: no element left`);
  }
  t.same(fs.readdirSync(path.join(dirs.run, 'nft')), [], 'no undo file left');
});

t.test('an undo file that no longer matches the table (warren died amid a change): the elements still go', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const a = await startAgent(host, dirs.state, { net: { egress: 'public', publish: [{ proto: 'tcp', hostPort: 30000 + slot, port: 8080 }] } });
  const ip = a.sandbox.ip as string;
  t.match(setElements('egress_public'), ip);
  // what a crash between writing the undo of a change and applying it leaves: an exact delete
  // of elements the table does not hold, which nft refuses as a whole
  fs.writeFileSync(path.join(dirs.run, 'nft', ip), `delete element inet ${dirs.net.table} egress_allow { ${ip} . ${RANGE} }\n`);
  await a.sandbox.destroy();
  t.equal(setElements('egress_public'), '[]', 'its egress_public element is gone');
  const map = execFileSync('nft', ['-j', 'list', 'map', 'inet', dirs.net.table, 'publish'], { encoding: 'utf8' });
  t.notMatch(map, ip, 'and its published port');
});

t.test('a sandbox without a veth has no egress to change', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const a = await startAgent(host, dirs.state);
  const egress: Egress = 'public';
  await t.rejects(a.sandbox.setEgress(egress), {
    code: 'WARREN_SANDBOX_NO_VETH',
    message: `set egress of sandbox '${a.sandbox.id}': it has no veth (created without net): egress applies to sandboxes on the bridge`,
  });
  await a.sandbox.destroy();
});
