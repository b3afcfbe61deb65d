/**
 * User networks (`warren network create`, `warren run --network NAME`), as a user drives them:
 * every sandbox is its own `warren run` process (daemonless), and what reaches what is checked
 * from inside the sandboxes, with node's own TCP client and resolver. Needs root.
 *
 * All traffic stays on this machine: the networks' subnets are 10.12S.x.0/24 (S: WRNTEST_SLOT),
 * and "the outside" that an --internal network must not reach is a test namespace at
 * 198.18.(64+S).2 (RFC 2544's benchmarking range), routed from the host.
 */
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import { NEEDS_ROOT, testDirs, testEnv, warren, WARREN as WARREN_BIN } from './helpers.js';
import { startPeer } from './peer.js';

const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const dirs = testDirs('wrntest-networks');
const SUB = `10.${120 + slot}`;
const OUTSIDE = `198.18.${64 + slot}`;
const env = { ...testEnv(dirs), WARREN_NETWORK_POOL: `${SUB}.16.0/20` };
const PORT = 7000;
const HOST_PORT = 20480 + 10;
const A = 'wrntest-a';
const B = 'wrntest-b';
const I = 'wrntest-int';

/** node -e: a TCP server on PORT answering `hello from <argv[1]>`; prints `up <its address>`. */
const SERVER = `const os = require('os');
const ip = Object.values(os.networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal).address;
require('net').createServer((s) => s.end('hello from ' + process.argv[1])).listen(${PORT}, '0.0.0.0', () => console.log('up ' + ip));
setTimeout(() => process.exit(0), 240000);`;

/** node -e: for each argv target (a name or an address), at once, a TCP connect to PORT: what
 * it read, or the error's code; one JSON line, each attempt bounded by 2 s. */
const CLIENT = `const net = require('net');
const one = (host) => new Promise((done) => {
  const s = net.connect({ host, port: ${PORT} });
  let got = '';
  s.setTimeout(2000, () => { s.destroy(); done('timeout'); });
  s.on('data', (d) => (got += d));
  s.on('end', () => done(got));
  s.on('error', (e) => done(e.code));
});
Promise.all(process.argv.slice(1).map(async (h) => [h, await one(h)])).then((r) => console.log(JSON.stringify(Object.fromEntries(r))));`;

interface Server {
  ip: string;
  stop(): Promise<void>;
}

/** A server sandbox, running until stop(): `warren run ARGS -- node -e SERVER label`. */
async function server(t: { teardown(fn: () => unknown): void }, args: string[], label: string): Promise<Server> {
  const child = spawn(process.execPath, [WARREN_BIN, 'run', ...args, '--', 'node', '-e', SERVER, label], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  t.teardown(stop);
  for (const end = Date.now() + 180_000; !/up \S+\n/.test(out); await sleep(50)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`server ${label} not up: ${out} ${err}`);
  }
  return { ip: (/up (\S+)/.exec(out) as RegExpExecArray)[1] as string, stop };
}

/** One client sandbox: what each target answered. */
async function reach(args: string[], targets: string[]): Promise<Record<string, string>> {
  // generous: on a busy machine (tests of other worktrees beside it) a start can take long
  const r = await warren(['run', ...args, '--', 'node', '-e', CLIENT, ...targets], { env, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`client ${args.join(' ')}: exit ${r.code} ${r.signal ?? ''} ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const links = () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
const tables = () => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });

// a dozen sandboxes, each its own warren process, on a machine that may be busy
t.setTimeout(600_000);

t.test('user networks', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  t.teardown(async () => {
    for (const n of [A, B, I, 'wrntest-auto']) await warren(['network', 'rm', n], { env });
  });
  const outside = await startPeer(t, {
    ns: `wrntest-netw-s${slot}`,
    hostIf: `wrnts${slot}netw0`,
    prefix: OUTSIDE,
    script: `require('net').createServer((s) => s.end('hello from outside')).listen(${PORT}, '0.0.0.0', () => console.log('up'));`,
  });

  await t.test('create, refuse overlaps, pick a free subnet, ls', async (t) => {
    const made = await Promise.all(([[A, `${SUB}.1.0/24`, []], [B, `${SUB}.2.0/24`, []], [I, `${SUB}.3.0/24`, ['--internal']]] as const).map(
      ([name, subnet, more]) => warren(['network', 'create', name, '--subnet', subnet, ...more], { env }),
    ));
    for (const r of made) t.equal(r.code, 0, r.stderr);
    const [overlap, route, dflt, again, auto] = await Promise.all([
      warren(['network', 'create', 'wrntest-x', '--subnet', `${SUB}.1.128/25`], { env }),
      warren(['network', 'create', 'wrntest-x', '--subnet', `${OUTSIDE}.0/24`], { env }),
      warren(['network', 'create', 'wrntest-x', '--subnet', dirs.net.subnet], { env }),
      warren(['network', 'create', A], { env }),
      warren(['network', 'create', 'wrntest-auto'], { env }),
    ]);
    t.equal(overlap?.code, 125);
    t.match(overlap?.stderr, new RegExp(`subnet ${SUB}.1.128/25 of network 'wrntest-x' overlaps network '${A}'`));
    t.match(route?.stderr, /overlaps route/, 'a host route (the outside namespace) is refused too');
    t.match(dflt?.stderr, /overlaps the default bridge's subnet/);
    t.match(again?.stderr, /network 'wrntest-a' exists/);
    t.equal(auto?.stdout, `wrntest-auto ${SUB}.16.0/24\n`, 'the first free /24 of the pool');
    const ls = JSON.parse((await warren(['network', 'ls', '--json'], { env })).stdout) as Array<{ name: string; subnet: string; internal: boolean; bridge: string; sandboxes: number }>;
    t.same(ls.map((n) => [n.name, n.subnet, n.internal, n.sandboxes]), [
      [A, `${SUB}.1.0/24`, false, 0], [B, `${SUB}.2.0/24`, false, 0], ['wrntest-auto', `${SUB}.16.0/24`, false, 0], [I, `${SUB}.3.0/24`, true, 0],
    ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))));
    t.ok(ls.every((n) => n.bridge.startsWith(`${dirs.net.bridge}n`) && n.bridge.length <= 15), 'bridges named after the configured one');
    t.equal((await warren(['network', 'rm', 'wrntest-auto'], { env })).code, 0);
  });

  const [db, other, lone, inner] = await Promise.all([
    server(t, ['--network', A, '--name', 'db', '--network-alias', 'database', '-p', `${HOST_PORT}:${PORT}`], 'db'),
    server(t, ['--network', B, '--name', 'other'], 'other'),
    server(t, ['--net', 'bridge'], 'lone'),
    server(t, ['--network', I, '--name', 'inner'], 'inner'),
  ]);
  t.match(db.ip, new RegExp(`^${SUB.replace('.', '\\.')}\\.1\\.`), 'an address of its network');
  const gateway = `${SUB}.1.1`;
  const host = net.createServer((s) => s.end('hello from the host')).listen(PORT, gateway);
  await new Promise((r) => host.once('listening', r));
  t.teardown(() => host.close());
  // every client at once: most of their time is waiting out what must not answer
  const [fromA, fromAPublic, fromB, fromDefault, fromI] = await Promise.all([
    reach(['--network', A, '--name', 'app'], ['db', 'database', db.ip, 'other', other.ip, outside.ip, gateway]),
    reach(['--network', A, '--egress', 'public'], [lone.ip, outside.ip, inner.ip]),
    reach(['--network', B, '--egress', 'public'], ['db', db.ip, outside.ip]),
    reach(['--net', 'bridge', '--egress', 'public'], [db.ip, lone.ip, outside.ip]),
    reach(['--network', I, '--egress', 'public'], ['inner', outside.ip, db.ip]),
  ]);

  t.test('two sandboxes on one network talk by name, alias and address', async (t) => {
    t.same([fromA.db, fromA.database, fromA[db.ip]], ['hello from db', 'hello from db', 'hello from db']);
  });

  t.test('another network reaches neither, and neither reaches it', async (t) => {
    // with egress, a name its network does not know goes upstream: the tests' has no server (SERVFAIL)
    t.match(fromB.db, /^(ENOTFOUND|EAI_AGAIN)$/, 'names of other networks never resolve');
    t.not(fromB[db.ip], 'hello from db');
    t.equal(fromB[outside.ip], 'hello from outside', 'while its own egress works: the check can fail');
    t.equal(fromA.other, 'ENOTFOUND');
    t.not(fromA[other.ip], 'hello from other');
    t.not(fromI[db.ip], 'hello from db', 'nor from an internal network');
    t.not(fromAPublic[inner.ip], 'hello from inner', 'nor into one');
  });

  t.test("the default bridge's isolation is unchanged", async (t) => {
    t.equal(fromDefault[outside.ip], 'hello from outside', 'its egress works as before');
    t.not(fromDefault[db.ip], 'hello from db', 'the default bridge does not reach a network');
    t.not(fromDefault[lone.ip], 'hello from lone', 'nor, as ever, its own sandboxes');
    t.not(fromAPublic[lone.ip], 'hello from lone', 'a network does not reach the default bridge');
  });

  await t.test('not the host, but published ports and egress as on the default bridge', async (t) => {
    t.equal(fromAPublic[outside.ip], 'hello from outside', 'egress public reaches the outside');
    t.not(fromA[outside.ip], 'hello from outside', 'egress none does not');
    t.not(fromA[gateway], 'hello from the host', 'the host on its gateway address is not reachable');
    const published = await new Promise<string>((resolve) => {
      let data = '';
      net.connect(HOST_PORT, '127.0.0.1').on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', (e) => resolve(String(e)));
    });
    t.equal(published, 'hello from db', '-p publishes a network sandbox on the host');
  });

  t.test('--internal: peers and names, no egress at all', async (t) => {
    t.equal(fromI.inner, 'hello from inner');
    t.not(fromI[outside.ip], 'hello from outside', 'egress public on an internal network reaches nothing outside');
    const published = await warren(['run', '--network', I, '-p', '18080:80', '--', 'true'], { env });
    t.equal(published.code, 125, '-p on an internal network is refused');
    t.match(published.stderr, /network 'wrntest-int' is internal: nothing on it can be published \(-p 18080:80\)/);
  });

  await t.test('rm is refused while a sandbox uses the network; so is a second sandbox by one name', async (t) => {
    const r = await warren(['network', 'rm', A], { env });
    t.equal(r.code, 125);
    t.match(r.stderr, /network 'wrntest-a' is in use by 1 sandbox/);
    const twin = await warren(['run', '--network', A, '--name', 'db', '--', 'true'], { env });
    t.equal(twin.code, 125);
    t.match(twin.stderr, /name 'db' is taken on network 'wrntest-a' by a running sandbox/);
  });

  await t.test('three runs started at once with one name: one runs, the others are refused', async (t) => {
    const runs = [1, 2, 3].map(() => {
      const child = spawn(process.execPath, [WARREN_BIN, 'run', '--network', B, '--name', 'twin', '--', 'node', '-e', SERVER, 'twin'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = { out: '', err: '', code: null as number | null, closed: new Promise<void>((resolve) => child.on('close', (code) => ((r.code = code), resolve()))), child };
      child.stdout.on('data', (d: Buffer) => (r.out += d));
      child.stderr.on('data', (d: Buffer) => (r.err += d));
      t.teardown(async () => {
        child.kill('SIGTERM');
        await r.closed;
      });
      return r;
    });
    for (const end = Date.now() + 180_000; Date.now() < end && runs.filter((r) => r.code !== null).length < 2; ) await sleep(50);
    const refused = runs.filter((r) => r.code !== null);
    t.equal(refused.length, 2, 'two ended');
    t.ok(refused.every((r) => r.code === 125 && /name 'twin' is taken on network 'wrntest-b'/.test(r.err)), `refused for the name: ${refused.map((r) => r.err.trim()).join(' | ')}`);
    const running = runs.find((r) => r.code === null);
    for (const end = Date.now() + 180_000; running && Date.now() < end && !/up \S+\n/.test(running.out); ) await sleep(50);
    t.match(running?.out, /up \S+\n/, 'the one that got the name runs');
    running?.child.kill('SIGTERM');
    await running?.closed;
    const again = await warren(['run', '--network', B, '--name', 'twin', '--', 'node', '-e', '0'], { env });
    t.equal(again.code, 0, `the name is free once it ended: ${again.stderr}`);
  });

  await t.test('a name disappears when its sandbox ends', async (t) => {
    await db.stop();
    const got = await reach(['--network', A], ['db', 'database']);
    t.same(got, { db: 'ENOTFOUND', database: 'ENOTFOUND' });
    await Promise.all([other.stop(), lone.stop(), inner.stop()]);
  });

  await t.test('rm removes the bridge and table; gc only what no record claims', async (t) => {
    const bridgeOf = (name: string) => (JSON.parse((execFileSync(process.execPath, [WARREN_BIN, 'network', 'ls', '--json'], { env, encoding: 'utf8' }))) as Array<{ name: string; bridge: string; table?: string }>).find((n) => n.name === name)?.bridge as string;
    const bridgeA = bridgeOf(A);
    const bridgeB = bridgeOf(B);
    t.match(links(), new RegExp(`: ${bridgeA}:`), 'its bridge exists while the record does');
    // a bridge and table of this installation's networks that no record claims (a crash midway)
    const orphan = `${dirs.net.bridge}n9`;
    execFileSync('ip', ['link', 'add', orphan, 'type', 'bridge']);
    execFileSync('nft', ['add', 'table', 'inet', `${dirs.net.table}n9`]);
    t.teardown(() => {
      try { execFileSync('ip', ['link', 'del', orphan], { stdio: 'ignore' }); } catch { /* gone */ }
    });
    const gc = await warren(['gc'], { env });
    t.equal(gc.code, 0, gc.stderr);
    t.match(gc.stdout, new RegExp(`bridge ${orphan}`));
    t.notMatch(links(), new RegExp(`: ${orphan}:`), 'the orphan bridge is gone');
    t.notMatch(tables(), new RegExp(`table inet ${dirs.net.table}n9\\n`), 'and its table');
    t.match(links(), new RegExp(`: ${bridgeB}:`), "a network's bridge stays while its record does");
    for (const n of [A, B, I]) t.equal((await warren(['network', 'rm', n], { env })).code, 0, `rm ${n}`);
    t.notMatch(links(), new RegExp(`: (${bridgeA}|${bridgeB}):`), 'bridges gone');
    t.notMatch(tables(), new RegExp(`${dirs.net.table}n\\d`), 'tables gone');
    t.equal((await warren(['network', 'ls'], { env })).stdout.trim().split('\n').length, 1, 'ls: the header alone');
  });
});
