/**
 * Hostile functions against a real `warren serve` (needs root): each case is a deployed function
 * that attacks a resource from inside (processes, memory, disk, inodes, /dev/shm, the log, the
 * CPU, sockets), as a user's code could, while a neighbour function must keep answering and the
 * host must not notice. Each attack is bounded in count and time. What each case attacks is its
 * name. The same attacks against `warren run` are in test/integration/limits.test.ts; serve.test.ts
 * has the heap memory bomb and a spawn loop as part of its tour. The fork bomb is the probe's
 * (test/probe/), carried in the function's module as a user's code may carry a binary.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, hostUnharmed, NEIGHBOUR, removeServerLeftovers, probeModule, serverRss, withNeighbour } from './hostile-helpers.js';
import { api, deploy, invoke, ports, sandboxCgroups, serveDirs, startServe } from './serve-helpers.js';

const dirs = serveDirs('wrntest-fn-resources');
const MiB = 1024 * 1024;
/** The per-function pids limit of `warren serve` (cli/serve.ts FUNCTION_PIDS). */
const PIDS = 128;
/** The scratch tmpfs behind the writable root and /tmp, and /dev/shm (sandbox/defaults.ts, rootfs.c). */
const SCRATCH = 64 * MiB;
const SHM = 64 * MiB;
/** The inode cap of both (the scratch tmpfs's, test/regress/shm-inode-cap.test.ts). */
const INODES = 16384;

/** One module, an attack per path; each returns what it managed and the error that stopped it. */
const HOSTILE = `
import fs from 'node:fs';
import net from 'node:net';

function fill(file) {
  let bytes = 0, code = null;
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20, 1);
  try { while (bytes < 1 << 30) bytes += fs.writeSync(fd, chunk); } catch (e) { code = e.code; } finally { fs.closeSync(fd); }
  return { bytes, code };
}
function inodes(dir, max) {
  fs.mkdirSync(dir, { recursive: true });
  let files = 0, code = null;
  try { for (; files < max; files++) fs.closeSync(fs.openSync(dir + '/' + files, 'w')); } catch (e) { code = e.code; }
  return { files, code };
}
async function sockets(n) {
  const server = net.createServer(() => {}).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const held = [];
  let opened = 0, code = null;
  for (let i = 0; i < n && code === null; i++) {
    await new Promise((resolve) => {
      const c = net.connect(server.address().port, '127.0.0.1');
      c.once('connect', () => { opened++; held.push(c); resolve(); });
      c.once('error', (e) => { code = e.code; resolve(); });
    });
  }
  for (const c of held) c.destroy();
  server.close();
  return { opened, code };
}
async function flood(ms) {
  const end = Date.now() + ms;
  const line = 'x'.repeat(64 * 1024);
  let lines = 0;
  // one line with no end: the host must cut it, not hold it
  process.stdout.write('y'.repeat(8 << 20) + '\\n');
  while (Date.now() < end) {
    for (let i = 0; i < 64; i++, lines++) console.log(line);
    await new Promise((r) => setImmediate(r));
  }
  return { lines };
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const arg = (k, d) => url.searchParams.get(k) ?? d;
    switch (url.pathname) {
      case '/fill': { const r = fill(arg('path')); if (!arg('keep')) fs.rmSync(arg('path'), { force: true }); return Response.json(r); }
      case '/inodes': { const r = inodes(arg('dir'), Number(arg('max', 100000))); if (!arg('keep')) fs.rmSync(arg('dir'), { recursive: true, force: true }); return Response.json(r); }
      case '/rm': fs.rmSync(arg('path'), { recursive: true, force: true }); return new Response('removed');
      case '/sockets': return Response.json(await sockets(Number(arg('n'))));
      case '/oom': { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); }
      case '/await': return (async () => { for (;;) await null; })();
      case '/microtasks': { const spin = () => queueMicrotask(spin); spin(); return new Promise(() => {}); }
      case '/ticks': { const spin = () => process.nextTick(spin); spin(); return new Promise(() => {}); }
      case '/log': return Response.json(await flood(Number(arg('ms', 3000))));
      default: return new Response('ok');
    }
  },
};`;

/** The most pids any sandbox cgroup of this server held at one look. */
function maxPids(parent: string): number {
  return Math.max(0, ...sandboxCgroups(parent).filter((d) => d.startsWith('/sys/fs/cgroup/pids/')).map((d) => {
    try {
      return Number(fs.readFileSync(path.join(d, 'pids.current'), 'utf8'));
    } catch {
      return 0; // gone meanwhile
    }
  }));
}

/** Free bytes of the filesystem holding `p`. */
function free(p: string): number {
  const st = fs.statfsSync(p);
  return st.bavail * st.bsize;
}

t.test('hostile functions: resources', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const s = await startServe(dirs, ports(21680), ['--no-demo', '--pool', '1', '--keep-alive', '30s']);
  t.teardown(async () => {
    await s.stop();
    await removeServerLeftovers(dirs);
  });
  t.equal((await deploy(s, 'neighbour', NEIGHBOUR)).status, 201);
  t.equal((await deploy(s, 'hog', HOSTILE, { limits: { memory: '256m', timeout_ms: 30_000 } })).status, 201);
  t.equal((await invoke(s, '/hog/')).text, 'ok');
  const json = async (p: string) => {
    const a = await invoke(s, p);
    if (a.status !== 200) throw new Error(`${p}: ${a.status} ${a.text}`);
    return a.json();
  };

  await t.test('fork bomb: fork() fails with EAGAIN at the pids limit, in its sandbox only', async (t) => {
    // the probe's fork loop, carried in the function: node's own children are too large to reach
    // the pids limit before the memory limit
    t.equal((await deploy(s, 'bomber', probeModule())).status, 201);
    let most = 0;
    let hostForks = 0;
    const { result, statuses } = await withNeighbour(s, async () => {
      const bomb = invoke(s, '/bomber/?args=forkbomb');
      let done = false;
      void bomb.finally(() => (done = true));
      while (!done) {
        most = Math.max(most, maxPids(dirs.cgroupParent));
        // the host can still make a process while the bomb runs
        if (spawnSync('true').status === 0) hostForks++;
        await new Promise((r) => setTimeout(r, 20));
      }
      return bomb;
    });
    t.equal(result.status, 200, result.text);
    const { forked, errno } = result.json<{ forked: number; errno: number }>();
    t.equal(errno, 11, 'fork failed with EAGAIN');
    t.ok(forked > 50 && forked < PIDS, `after ${forked} forks, below the limit of ${PIDS} with the runtime's own`);
    t.ok(most <= PIDS, `its cgroup held at most ${most} pids`);
    t.ok(hostForks > 0, `the host made a process at each of ${hostForks} looks`);
    t.ok(allOk(statuses), `the neighbour answered throughout (${statuses.length} requests)`);
    t.equal((await invoke(s, '/bomber/?args=sleep 0')).status, 200, 'the function serves again');
  });

  await t.test('memory bomb: out of memory in its own cgroup, a 502 that says so', async (t) => {
    const rss = serverRss(s);
    const { result, statuses } = await withNeighbour(s, () => invoke(s, '/hog/oom'));
    t.equal(result.status, 502, result.text);
    t.match(result.text, /out of memory/);
    t.equal(result.headers['x-warren-fault'], 'function');
    t.ok(serverRss(s) - rss < 64 * MiB, 'the server\'s memory did not take it');
    t.ok(allOk(statuses), `the neighbour answered throughout (${statuses.length} requests)`);
    t.equal((await invoke(s, '/hog/')).text, 'ok', 'the next request gets a fresh instance');
  });

  await t.test('filling the writable root: ENOSPC at its cap, the host\'s disks untouched, and it still serves while full', async (t) => {
    const before = { run: free(dirs.run), state: free(dirs.state) };
    const { result, statuses } = await withNeighbour(s, () => json('/hog/fill?path=/big&keep=1'));
    t.equal(result.code, 'ENOSPC');
    t.ok(result.bytes <= SCRATCH, `wrote ${result.bytes} bytes, at most the scratch cap`);
    t.ok(before.run - free(dirs.run) < 8 * MiB, 'the host\'s run dir did not fill');
    t.ok(before.state - free(dirs.state) < 8 * MiB, 'nor its state dir');
    t.equal((await invoke(s, '/hog/')).text, 'ok', 'a full root still serves');
    t.equal((await invoke(s, '/hog/rm?path=/big')).text, 'removed');
    t.ok(allOk(statuses), 'the neighbour answered throughout');
  });

  // /tmp lies on the writable root's scratch tmpfs; /dev/shm is a tmpfs of its own
  for (const [place, size] of [['/tmp', SCRATCH], ['/dev/shm', SHM]] as const) {
    await t.test(`filling ${place}: ENOSPC at its size`, async (t) => {
      const { result, statuses } = await withNeighbour(s, () => json(`/hog/fill?path=${place}/big`));
      t.equal(result.code, 'ENOSPC');
      t.ok(result.bytes <= size, `wrote ${result.bytes} bytes, at most ${size}`);
      t.ok(allOk(statuses), 'the neighbour answered throughout');
    });

    await t.test(`using up the inodes of ${place}: ENOSPC at the inode cap`, async (t) => {
      const { result, statuses } = await withNeighbour(s, () => json(`/hog/inodes?dir=${place}/many&max=100000`));
      t.equal(result.code, 'ENOSPC', `stopped after ${result.files} files`);
      t.ok(result.files <= INODES, `${result.files} files, at most ${INODES}`);
      t.ok(allOk(statuses), 'the neighbour answered throughout');
      t.equal((await invoke(s, '/hog/')).text, 'ok', 'and it serves');
    });
  }

  await t.test('endless logging: bounded on disk per function and in the server\'s memory', async (t) => {
    const rss = serverRss(s);
    const { result, statuses } = await withNeighbour(s, () => invoke(s, '/hog/log?ms=5000'));
    t.equal(result.status, 200, `the function lived through it (it waits for the host): ${result.text.slice(0, 200)}`);
    const logs = await api(s, 'GET', '/v1/functions/hog/logs');
    t.match(logs.text, /lines \(\d+ bytes\) dropped: the function logged more than \d+ bytes in a second/, 'what passed the rate was dropped, and the log says so');
    const files = fs.readdirSync(path.join(dirs.state, 'logs')).filter((f) => f.startsWith('hog.'));
    const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dirs.state, 'logs', f)).size, 0);
    t.ok(bytes <= 2 * 4 * MiB + MiB, `its log files hold ${bytes} bytes (${files.join(', ')}), at most two of 4 MiB`);
    t.ok(serverRss(s) - rss < 64 * MiB, `the server's memory grew by ${((serverRss(s) - rss) / MiB).toFixed(1)} MiB`);
    t.ok(allOk(statuses), 'the neighbour answered throughout');
  });

  await t.test('CPU burn in a microtask loop: 504 at the timeout, and the next request served', async (t) => {
    t.equal((await deploy(s, 'burn', HOSTILE, { limits: { timeout_ms: 2000 } })).status, 201);
    for (const kind of ['await', 'microtasks', 'ticks']) {
      const started = Date.now();
      const { result, statuses } = await withNeighbour(s, () => invoke(s, `/burn/${kind}`));
      t.equal(result.status, 504, `${kind}: ${result.text}`);
      t.equal(result.headers['x-warren-fault'], 'function');
      t.ok(Date.now() - started < 15_000, `${kind}: answered in ${Date.now() - started} ms`);
      t.ok(allOk(statuses), `${kind}: the neighbour answered throughout`);
      t.equal((await invoke(s, '/burn/')).text, 'ok', `${kind}: the next request is served`);
    }
  });

  await t.test('holding thousands of sockets open: stopped at its open-files limit, inside its sandbox', async (t) => {
    const { result, statuses } = await withNeighbour(s, () => json('/hog/sockets?n=5000'));
    t.equal(result.code, 'EMFILE', `stopped after ${result.opened} connections`);
    t.ok(result.opened > 500 && result.opened < 4096, `${result.opened} connections held (each two fds)`);
    t.ok(allOk(statuses), 'the neighbour answered throughout');
    t.equal((await invoke(s, '/hog/')).text, 'ok', 'and it serves again');
  });

  await t.test('after every attack the host did not notice', (t) => hostUnharmed(t, s));
});
