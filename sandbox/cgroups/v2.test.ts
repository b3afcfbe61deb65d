import * as fs from 'node:fs';
import t from 'tap';
import { fakeKernel } from './fake-kernel.test.js';
import type { CgroupLimits } from './types.js';

const MiB = 1 << 20;

const LIMITS: { name: string; limits: CgroupLimits; swap?: boolean; files: Record<string, string> }[] = [
  {
    name: 'all three',
    limits: { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 },
    files: { 'memory.max': '67108864', 'memory.swap.max': '0', 'cpu.max': '50000 100000', 'pids.max': '32' },
  },
  {
    name: 'no swap accounting: memory.swap.max absent, not an error',
    limits: { memoryBytes: 64 * MiB },
    swap: false,
    files: { 'memory.max': '67108864', 'cpu.max': 'max 100000', 'pids.max': 'max' },
  },
  { name: 'two and a half cores', limits: { cpus: 2.5 }, files: { 'cpu.max': '250000 100000', 'memory.max': 'max', 'memory.swap.max': 'max' } },
  { name: 'smallest quota', limits: { cpus: 0.01 }, files: { 'cpu.max': '1000 100000' } },
  { name: 'nothing: kernel defaults stay', limits: {}, files: { 'memory.max': 'max', 'cpu.max': 'max 100000', 'pids.max': 'max' } },
];

t.test('limits -> files', async (t) => {
  for (const c of LIMITS) {
    const k = fakeKernel(t, { version: 2, swap: c.swap ?? true });
    const cg = await k.driver().create('sb', c.limits);
    t.same(cg.dirs, [`${k.root}/warren/sb`]);
    for (const [file, want] of Object.entries(c.files)) t.equal(k.read(`${k.root}/warren/sb/${file}`), want, `${c.name}: ${file}`);
    if (c.swap === false) t.notOk(fs.existsSync(`${k.root}/warren/sb/memory.swap.max`));
  }
});

t.test('controllers are enabled at every level above the cgroup, as far as available', async (t) => {
  const cases = [
    { name: 'fresh host', rootSubtree: '', rootControllers: undefined, parent: 'warren', want: 'cpu memory pids' },
    { name: 'partly enabled by systemd', rootSubtree: 'memory pids', rootControllers: undefined, parent: 'warren', want: 'cpu memory pids' },
    { name: 'nested parent', rootSubtree: '', rootControllers: undefined, parent: 'warren.slice/pool', want: 'cpu memory pids' },
    { name: 'io and others left alone', rootSubtree: 'io', rootControllers: undefined, parent: 'warren', want: 'cpu io memory pids' },
  ];
  for (const c of cases) {
    const k = fakeKernel(t, { version: 2, rootSubtree: c.rootSubtree });
    const cg = await k.driver(c.parent).create('sb', { memoryBytes: MiB, cpus: 1, pids: 4 });
    t.equal(k.read(`${k.root}/cgroup.subtree_control`), c.want, `${c.name}: root`);
    const levels = c.parent.split('/').map((_, i, a) => a.slice(0, i + 1).join('/'));
    for (const l of levels) t.equal(k.read(`${k.root}/${l}/cgroup.subtree_control`), 'cpu memory pids', `${c.name}: ${l}`);
    t.equal(k.read(`${cg.dirs[0]}/cgroup.subtree_control`), '', `${c.name}: nothing in the cgroup itself`);
  }
});

t.test('nothing is written to subtree_control when all is enabled already', async (t) => {
  // Matters in a cgroup that holds tasks (a container's root): any enabling write is EBUSY there.
  const k = fakeKernel(t, { version: 2, rootSubtree: 'cpu memory pids' });
  const driver = k.driver();
  await driver.create('first', {});
  const files = [`${k.root}/cgroup.subtree_control`, `${k.root}/warren/cgroup.subtree_control`];
  for (const f of files) fs.utimesSync(f, 0, 0);
  await driver.create('sb', { pids: 4 });
  for (const f of files) t.equal(fs.statSync(f).mtimeMs, 0, f);
});

t.test('a failed subtree_control access is named; the parent stays', async (t) => {
  const k = fakeKernel(t, { version: 2 });
  const driver = k.driver();
  await (await driver.create('first', {})).destroy();
  fs.rmSync(`${k.root}/warren/cgroup.subtree_control`);
  fs.mkdirSync(`${k.root}/warren/cgroup.subtree_control`);
  await t.rejects(driver.create('sb', {}), {
    code: 'WARREN_CGROUP_CREATE',
    message: `create cgroup 'sb': read '${k.root}/warren/cgroup.subtree_control': EISDIR`,
  });
  t.ok(fs.existsSync(`${k.root}/warren`));
  t.notOk(fs.existsSync(`${k.root}/warren/sb`));
});

t.test('a controller missing above the parent fails on the first write of its file', async (t) => {
  // A delegated subtree 'a' that was given cpu and memory but not pids: the cgroup gets no pids.max.
  const k = fakeKernel(t, { version: 2 });
  k.mkdir(`${k.root}/a`);
  fs.writeFileSync(`${k.root}/a/cgroup.controllers`, 'cpu memory\n');
  const driver = k.driver('a/warren');
  await t.rejects(driver.create('sb', { memoryBytes: MiB, pids: 4 }), { message: `create cgroup 'sb': write '4' to '${k.root}/a/warren/sb/pids.max': ENOENT` });
  t.equal(k.read(`${k.root}/a/warren/cgroup.subtree_control`), 'cpu memory', 'enabled what there was');
  t.notOk(fs.existsSync(`${k.root}/a/warren/sb`));
});

t.test('stats from the v2 files', async (t) => {
  const k = fakeKernel(t, { version: 2 });
  const cg = await k.driver().create('sb', {});
  const d = cg.dirs[0]!;
  k.put(`${d}/cpu.stat`, 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 3\n');
  k.put(`${d}/memory.peak`, '52428800\n');
  k.put(`${d}/memory.current`, '41943040\n');
  k.put(`${d}/memory.events`, 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n');
  k.put(`${d}/pids.current`, '7\n');
  t.same(cg.stats(), { cpuUsageUsec: 1234567, memoryPeakBytes: 52428800, memoryCurrentBytes: 41943040, oomKills: 2, pidsCurrent: 7 });

  for (const f of ['memory.peak', 'memory.current', 'memory.events', 'pids.current']) fs.rmSync(`${d}/${f}`);
  t.same(cg.stats(), { cpuUsageUsec: 1234567, memoryPeakBytes: null, memoryCurrentBytes: null, oomKills: 0, pidsCurrent: null }, 'optional files absent');

  k.put(`${d}/cpu.stat`, 'user_usec 1\n');
  t.throws(() => cg.stats(), { code: 'WARREN_CGROUP_STATS', message: `stats of cgroup 'sb': read '${d}/cpu.stat': no usage_usec line` });
  fs.rmSync(`${d}/cpu.stat`);
  t.throws(() => cg.stats(), { code: 'WARREN_CGROUP_STATS', message: /cpu\.stat': ENOENT$/ });
});

t.test('killAll writes cgroup.kill and waits until the cgroup is empty', async (t) => {
  const k = fakeKernel(t, { version: 2 });
  const cg = await k.driver().create('sb', {});
  const d = cg.dirs[0]!;
  k.put(`${d}/cgroup.events`, 'populated 1\nfrozen 0\n');
  let emptied = false;
  setTimeout(() => {
    emptied = true;
    k.put(`${d}/cgroup.events`, 'populated 0\nfrozen 0\n');
  }, 50);
  await cg.killAll();
  t.equal(k.read(`${d}/cgroup.kill`), '1');
  t.ok(emptied, 'returned only once populated 0');
  await cg.destroy();
  await cg.killAll(); // gone: nothing to kill
});
