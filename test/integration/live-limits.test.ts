/**
 * Limits changed on a running sandbox (Sandbox.setLimits), seen from inside: a raised memory
 * limit lets a node process hold more than the old one; a lowered one OOM-kills it when it
 * allocates past the new cap; a limit below what it uses is refused on v1 and the sandbox runs
 * on; a lowered pids limit stops forks. Needs root.
 */
import t from 'tap';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { SandboxHost } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';
import { startAgent } from './live-agent.js';

const dirs = testDirs('wrntest-live-limits');
const MiB = 1 << 20;

t.test('memory raised then lowered on a live sandbox: it can hold more, then gets OOM-killed past the new cap', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const v1 = host.cgroups.version === 1;

  const a = await startAgent(host, dirs.state, { limits: { memoryBytes: 96 * MiB } });
  await a.sandbox.setLimits({ memoryBytes: 512 * MiB });
  t.equal(a.sandbox.memoryBytes, 512 * MiB);
  t.equal(await a.step('alloc 192'), 'allocated 192', 'holds 192 MiB where the limit at create was 96 MiB');
  if (v1) {
    // v1: the kernel cannot reclaim anonymous memory that may not go to swap, and refuses
    await t.rejects(a.sandbox.setLimits({ memoryBytes: 64 * MiB }), {
      code: 'WARREN_CGROUP_MEMORY_BUSY',
      message: `set memory limit of cgroup '${a.sandbox.id}' to ${64 * MiB} bytes: it uses more and the kernel could not reclaim enough (EBUSY); the old limits stay`,
    });
    t.equal(a.sandbox.memoryBytes, 512 * MiB, 'its limit did not change');
    t.equal(await a.step('alloc 64'), 'allocated 64', 'it runs on, under the old limit');
  }
  await a.sandbox.destroy();

  const b = await startAgent(host, dirs.state, { limits: { memoryBytes: 512 * MiB } });
  t.equal(await b.step('alloc 64'), 'allocated 64', 'under the limit at create');
  await b.sandbox.setLimits({ memoryBytes: 160 * MiB });
  t.equal(await b.step('alloc 192'), 'exited', 'allocating past the new cap ends it');
  const exit = await b.sandbox.exited;
  t.equal(exit.code, 137);
  t.ok(exit.oomKilled, 'reported as OOM');
  await t.rejects(b.sandbox.setLimits({ memoryBytes: 512 * MiB }), { code: 'WARREN_SANDBOX_EXITED', message: `set limits of sandbox '${b.sandbox.id}': it has exited` });
});

t.test('pids lowered on a live sandbox stops forks below the new cap', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const a = await startAgent(host, dirs.state, { limits: { pids: 200 } });
  const before = JSON.parse(await a.step('fork')) as { forked: number; errno: number };
  t.ok(before.forked > 100 && before.forked < 200, `under pids 200 it forked ${before.forked}`);
  await a.sandbox.setLimits({ pids: 40, cpus: 0.5 });
  const after = JSON.parse(await a.step('fork')) as { forked: number; errno: number };
  t.equal(after.errno, 11, 'fork fails with EAGAIN');
  t.ok(after.forked < 40, `under pids 40 it forked ${after.forked}`);
  await a.sandbox.destroy();
});

t.test('a v1 cgroup whose limits changed is reused only for its new limits', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const idle = async () => (await detectCgroups({ parent: dirs.cgroupParent }).list()).filter((n) => n.startsWith('i'));
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  if (host.cgroups.version !== 1) return t.pass('v2 keeps no cgroup for reuse');
  const a = await startAgent(host, dirs.state, { limits: { memoryBytes: 100 * MiB, pids: 64 } });
  await a.sandbox.setLimits({ memoryBytes: 200 * MiB });
  await a.sandbox.destroy();
  const kept = await idle();
  t.equal(kept.length, 1, 'kept for reuse');
  const old = await startAgent(host, dirs.state, { limits: { memoryBytes: 100 * MiB, pids: 64 } });
  t.same(await idle(), kept, 'not by a sandbox of its old limits');
  t.equal(await old.step('alloc 128'), 'exited', 'which gets its own cgroup, with 100 MiB');
  const same = await startAgent(host, dirs.state, { limits: { memoryBytes: 200 * MiB, pids: 64 } });
  t.notOk((await idle()).includes(kept[0] as string), 'taken by a sandbox of its new limits');
  t.equal(await same.step('alloc 128'), 'allocated 128', 'which holds 128 MiB under its 200 MiB');
  await same.sandbox.destroy();
});
