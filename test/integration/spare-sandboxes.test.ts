/**
 * Spare sandboxes (sandbox/spare-sandboxes.ts, the spawner's prep): a SandboxHost keeps some
 * after its first create, hands one to the next create with the same limits, sees exactly what a
 * fresh sandbox sees from inside, and leaves nothing when it closes. Needs root.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';

const dirs = testDirs('wrntest-spares');
/** Sandbox cgroups under the test's parent (not the emptied ones a v1 driver keeps for reuse). */
const sandboxCgroups = async () => (await detectCgroups({ parent: dirs.cgroupParent }).list()).filter((n) => n.startsWith('w'));

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function spec(out: string, extra: Partial<SandboxOptions> = {}): SandboxOptions {
  return {
    argv: ['/probe/probe', 'identity'],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    hostname: 'same',
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', { path: out }, 'inherit'],
    ...extra,
  };
}

/** What a sandbox's probe reports that must not depend on how the sandbox was made. */
function comparable(report: Record<string, unknown>): unknown {
  const { pid, ppid, uid, gid, init_comm, init_cmdline, pids, hostname, status, fds, cwd, env, mounts, rlimits } = report as Record<string, unknown>;
  // the uid map's host side is the sandbox's own range: its size is what must be the same
  const map = (report.uid_map as string).trim().split(/\s+/);
  return { pid, ppid, uid, gid, init_comm, init_cmdline, pids, hostname, status, fds, cwd, env, mounts, rlimits, uid_map: [map[0], map[2]] };
}

t.test('a spare sandbox is handed to the next create and sees what a fresh one sees', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-spares-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const run = async (host: SandboxHost, name: string, extra?: Partial<SandboxOptions>) => {
    const out = path.join(tmp, name);
    fs.writeFileSync(out, '');
    const sandbox = await host.create(spec(out, extra));
    const exit = await sandbox.exited;
    t.equal(exit.code, 0, `${name}: the probe ran`);
    return { id: sandbox.id, report: JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, unknown> };
  };

  const host = await SandboxHost.open({ dirs, spare: 2 });
  let closed = false;
  t.teardown(() => (closed ? undefined : host.close()));
  const fresh = await run(host, 'fresh');
  // the first create made two more of its kind ahead: their cgroups exist, with nobody's run dir
  await until('two spare sandboxes', async () => (await sandboxCgroups()).length === 2);
  const spares = await sandboxCgroups();
  t.notOk(spares.includes(fresh.id), 'the first sandbox is gone');
  for (const id of spares) t.notOk(fs.existsSync(path.join(dirs.run, 'sandboxes', id)), `${id} has no run dir yet`);

  const handed = await run(host, 'handed');
  t.ok(spares.includes(handed.id), 'the next create got one of the spare sandboxes');
  t.same(comparable(handed.report), comparable(fresh.report), 'from inside, it is the same as a fresh sandbox');

  const other = await run(host, 'other-limits', { limits: { memoryBytes: 64 << 20 } });
  t.notOk(spares.includes(other.id), 'other limits: not a spare');

  await host.close();
  closed = true;
  t.same(await detectCgroups({ parent: dirs.cgroupParent }).list(), [], 'close killed the spare sandboxes and removed their cgroups');
  t.same(fs.readdirSync(path.join(dirs.run, 'uids')), [], 'and released their uid leases');
});

t.test('only the most recently used sets of limits keep spare sandboxes', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-spares-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const host = await SandboxHost.open({ dirs, spare: 1 });
  let closed = false;
  t.teardown(() => (closed ? undefined : host.close()));
  // five functions with limits of their own, one sandbox each
  for (let i = 0; i < 5; i++) {
    const out = path.join(tmp, `f${i}`);
    fs.writeFileSync(out, '');
    const sandbox = await host.create(spec(out, { limits: { memoryBytes: (64 + i) << 20 } }));
    t.equal((await sandbox.exited).code, 0, `function ${i} ran`);
  }
  await until('the spare sandboxes of the last four sets of limits', async () => (await sandboxCgroups()).length === 4);
  const v1 = detectCgroups({ parent: dirs.cgroupParent }).version === 1;
  const limitFile = (id: string) =>
    v1 ? `/sys/fs/cgroup/memory/${dirs.cgroupParent}/${id}/memory.limit_in_bytes` : `/sys/fs/cgroup/${dirs.cgroupParent}/${id}/memory.max`;
  const limits = (await sandboxCgroups()).map((id) => Number(fs.readFileSync(limitFile(id), 'utf8')) >> 20);
  t.same(limits.sort(), [65, 66, 67, 68], "the first function's set lost its spare sandbox");
  await host.close();
  closed = true;
  t.same(await sandboxCgroups(), [], 'close leaves none');
});
