/**
 * Integration: the detected driver on the real /sys/fs/cgroup. Needs root; skips otherwise.
 * Everything lives under the parent `wrntest-cg-<pid>` and is removed at the end, also on failure.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import t from 'tap';
import { detectCgroups } from './index.js';

const parent = `wrntest-cg-${process.pid}`;
const MiB = 1 << 20;
const skip = process.getuid?.() !== 0 ? 'needs root to write /sys/fs/cgroup' : false;

t.test('create, limit, move a process in, stats, killAll, destroy, removeParent', { skip }, async (t) => {
  const driver = detectCgroups({ parent });
  t.comment(`cgroup v${driver.version}`);
  const cg = await driver.create('sb', { memoryBytes: 64 * MiB, cpus: 0.5, pids: 16 });
  const parents = cg.dirs.map((d) => d.slice(0, d.lastIndexOf('/')));
  t.teardown(async () => {
    await cg.killAll().catch(() => {});
    await cg.destroy().catch(() => {});
    await driver.removeParent().catch(() => {});
  });

  const read = (dir: string | undefined, file: string): string => fs.readFileSync(`${dir}/${file}`, 'utf8').trim();
  const has = (dir: string | undefined, file: string): boolean => fs.existsSync(`${dir}/${file}`);
  if (driver.version === 1) {
    const at = (file: string): string | undefined => cg.dirs.find((d) => has(d, file));
    t.equal(read(at('memory.limit_in_bytes'), 'memory.limit_in_bytes'), String(64 * MiB));
    if (at('memory.memsw.limit_in_bytes')) t.equal(read(at('memory.memsw.limit_in_bytes'), 'memory.memsw.limit_in_bytes'), String(64 * MiB));
    t.equal(read(at('cpu.cfs_period_us'), 'cpu.cfs_period_us'), '100000');
    t.equal(read(at('cpu.cfs_quota_us'), 'cpu.cfs_quota_us'), '50000');
    t.equal(read(at('pids.max'), 'pids.max'), '16');
    t.ok(at('cpuacct.usage'), 'a cpuacct dir is among the dirs');
  } else {
    const [d] = cg.dirs;
    t.equal(read(d, 'memory.max'), String(64 * MiB));
    if (has(d, 'memory.swap.max')) t.equal(read(d, 'memory.swap.max'), '0');
    t.equal(read(d, 'cpu.max'), '50000 100000');
    t.equal(read(d, 'pids.max'), '16');
  }
  t.same(await driver.list(), ['sb']);

  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  t.teardown(() => child.kill('SIGKILL'));
  for (const d of cg.dirs) fs.writeFileSync(`${d}/cgroup.procs`, String(child.pid));
  const stats = cg.stats();
  t.ok((stats.pidsCurrent ?? 0) >= 1, `pidsCurrent ${stats.pidsCurrent}`);
  t.ok(stats.cpuUsageUsec >= 0 && stats.oomKills === 0);

  await cg.killAll();
  t.same(await exited, [null, 'SIGKILL'], 'killAll killed it');
  t.equal(fs.readFileSync(`${cg.dirs[0]}/cgroup.procs`, 'utf8'), '', 'empty after killAll');

  await cg.destroy();
  t.ok(cg.dirs.every((d) => !fs.existsSync(d)), 'dirs gone');
  await cg.destroy();
  t.same(await driver.list(), []);
  await driver.removeParent();
  t.ok(parents.every((p) => !fs.existsSync(p)), 'parents gone');
});

t.test('a rejected limit leaves nothing behind', { skip }, async (t) => {
  const driver = detectCgroups({ parent });
  t.teardown(() => driver.removeParent().catch(() => {}));
  // 1 byte is accepted by v1 and v2 alike; a quota over the kernel's maximum (about 2^44 us) is not.
  await t.rejects(driver.create('bad', { cpus: 1e12 }), { code: 'WARREN_CGROUP_CREATE', message: /cpu/ });
  t.ok(driver.open('bad').dirs.every((d) => !fs.existsSync(d)));
  await driver.removeParent();
  t.ok(driver.open('bad').dirs.every((d) => !fs.existsSync(d.slice(0, d.lastIndexOf('/')))));
});
