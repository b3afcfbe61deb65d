import * as fs from 'node:fs';
import t from 'tap';
import { fakeKernel } from './fake-kernel.test.js';
import type { CgroupLimits } from './types.js';

const UNLIMITED = '9223372036854771712';
const MiB = 1 << 20;

// limits -> file contents, relative to the hierarchy root (memory/, cpu/ or cpu,cpuacct/, pids/).
const LIMITS: { name: string; limits: CgroupLimits; swap?: boolean; files: Record<string, string> }[] = [
  {
    name: 'all three',
    limits: { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 },
    files: {
      'memory/memory.limit_in_bytes': '67108864',
      'memory/memory.memsw.limit_in_bytes': '67108864',
      'cpu/cpu.cfs_period_us': '100000',
      'cpu/cpu.cfs_quota_us': '50000',
      'pids/pids.max': '32',
    },
  },
  {
    name: 'no swap accounting: memsw absent, not an error',
    limits: { memoryBytes: 64 * MiB },
    swap: false,
    files: { 'memory/memory.limit_in_bytes': '67108864', 'cpu/cpu.cfs_quota_us': '-1', 'pids/pids.max': 'max' },
  },
  {
    name: 'more than one core, quota rounded',
    limits: { cpus: 1.333333 },
    files: { 'cpu/cpu.cfs_quota_us': '133333', 'memory/memory.limit_in_bytes': UNLIMITED, 'memory/memory.memsw.limit_in_bytes': UNLIMITED },
  },
  {
    name: 'nothing: kernel defaults stay',
    limits: {},
    files: { 'memory/memory.limit_in_bytes': UNLIMITED, 'cpu/cpu.cfs_quota_us': '-1', 'pids/pids.max': 'max' },
  },
];

for (const coMount of [false, true]) {
  t.test(`limits -> files${coMount ? ', cpu,cpuacct co-mounted' : ''}`, async (t) => {
    for (const c of LIMITS) {
      const k = fakeKernel(t, { version: 1, coMount, swap: c.swap ?? true });
      await k.driver().create('sb', c.limits);
      for (const [rel, want] of Object.entries(c.files)) {
        const [h, file] = rel.split('/') as [string, string];
        const hier = coMount && h === 'cpu' ? 'cpu,cpuacct' : h;
        t.equal(k.read(`${k.root}/${hier}/warren/sb/${file}`), want, `${c.name}: ${rel}`);
      }
      if (c.swap === false) t.notOk(fs.existsSync(`${k.root}/memory/warren/sb/memory.memsw.limit_in_bytes`));
    }
  });
}

t.test('a cgroup left in one hierarchy by a crash: create fails, keeps it, removes its own', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const driver = k.driver();
  fs.mkdirSync(`${k.root}/pids/warren/sb`, { recursive: true });
  await t.rejects(driver.create('sb', {}), { code: 'WARREN_CGROUP_CREATE', message: `create cgroup 'sb': mkdir '${k.root}/pids/warren/sb': EEXIST` });
  for (const h of ['memory', 'cpu', 'cpuacct']) t.notOk(fs.existsSync(`${k.root}/${h}/warren/sb`), h);
  t.ok(fs.existsSync(`${k.root}/pids/warren/sb`));
  t.same(await driver.list(), ['sb'], 'gc sees it: list is the union over hierarchies');
});

t.test('a rejected memory limit names memory.limit_in_bytes', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  k.broken.add('memory.limit_in_bytes');
  await t.rejects(k.driver().create('sb', { memoryBytes: MiB }), { message: /write '1048576' to '.*\/memory\/warren\/sb\/memory\.limit_in_bytes': EISDIR$/ });
});

t.test('stats from the v1 files', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const cg = await k.driver().create('sb', {});
  const m = `${k.root}/memory/warren/sb`;
  k.put(`${k.root}/cpuacct/warren/sb/cpuacct.usage`, '1234567891\n');
  k.put(`${m}/memory.max_usage_in_bytes`, '52428800\n');
  k.put(`${m}/memory.usage_in_bytes`, '41943040\n');
  k.put(`${m}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
  k.put(`${k.root}/pids/warren/sb/pids.current`, '7\n');
  t.same(cg.stats(), { cpuUsageUsec: 1234567, memoryPeakBytes: 52428800, memoryCurrentBytes: 41943040, oomKills: 3, pidsCurrent: 7 });

  // Before 4.13 there is no oom_kill line; past 2^53 ns (BigInt) the usage still converts.
  k.put(`${m}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\n');
  k.put(`${k.root}/cpuacct/warren/sb/cpuacct.usage`, '90071992547409930000\n');
  fs.rmSync(`${k.root}/pids/warren/sb/pids.current`);
  fs.rmSync(`${m}/memory.max_usage_in_bytes`);
  fs.rmSync(`${m}/memory.usage_in_bytes`);
  t.same(cg.stats(), { cpuUsageUsec: 90071992547409930, memoryPeakBytes: null, memoryCurrentBytes: null, oomKills: 0, pidsCurrent: null });

  fs.rmSync(`${m}/memory.oom_control`);
  t.equal(cg.stats().oomKills, 0, 'no oom_control at all');

  fs.rmSync(`${k.root}/cpuacct/warren/sb/cpuacct.usage`);
  t.throws(() => cg.stats(), { code: 'WARREN_CGROUP_STATS', message: `stats of cgroup 'sb': read '${k.root}/cpuacct/warren/sb/cpuacct.usage': ENOENT` });
});

t.test('stats read cpu time from cpu,cpuacct when co-mounted', async (t) => {
  const k = fakeKernel(t, { version: 1, coMount: true });
  const cg = await k.driver().create('sb', {});
  t.equal(cg.dirs.length, 3);
  k.put(`${k.root}/cpu,cpuacct/warren/sb/cpuacct.usage`, '5000\n');
  t.equal(cg.stats().cpuUsageUsec, 5);
});

t.test('an emptied cgroup is kept and handed to the next sandbox with the same limits, counters reset', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const driver = k.driver();
  const limits = { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 };
  const a = await driver.create('a', limits);
  const m = (name: string) => `${k.root}/memory/warren/${name}`;
  k.put(`${m('a')}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  k.put(`${k.root}/cpuacct/warren/a/cpuacct.usage`, '5000000\n');
  await a[Symbol.asyncDispose]();
  const idle = (h: string) => fs.readdirSync(`${k.root}/${h}/warren`).filter((e) => e.startsWith('i'));
  for (const h of ['memory', 'cpu', 'cpuacct', 'pids']) {
    t.notOk(fs.existsSync(`${k.root}/${h}/warren/a`), `${h}: 'a' is gone`);
    t.same(idle(h), [`i${process.pid}.0`], `${h}: kept under a spare name of this process`);
  }

  const other = await driver.create('other', { pids: 8 });
  t.equal(k.read(`${k.root}/pids/warren/other/pids.max`), '8', 'other limits: a cgroup of its own');
  t.same(idle('pids'), [`i${process.pid}.0`], 'the spare one stays for its own limits');

  const b = await driver.create('b', limits);
  t.same(idle('memory'), [], 'same limits: the spare cgroup is taken');
  t.equal(k.read(`${k.root}/pids/warren/b/pids.max`), '32', 'with its limits');
  t.equal(k.read(`${k.root}/cpuacct/warren/b/cpuacct.usage`), '0', 'cpu time starts over');
  t.equal(b.stats().oomKills, 0, "the previous sandbox's OOM kills are not counted");
  k.put(`${m('b')}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
  t.equal(b.stats().oomKills, 1, 'its own are');
  // what a restore record keeps: a new serve that adopts the sandbox counts from the same base
  t.equal(b.oomBase, 2, 'its base is the count it was handed with');
  t.equal(k.driver().open('b', b.oomBase).stats().oomKills, 1, 'adopted with its base: still only its own');
  t.equal(k.driver().open('b').stats().oomKills, 3, 'opened without one: every kill the counter holds');

  await b[Symbol.asyncDispose]();
  await other[Symbol.asyncDispose]();
  t.equal(idle('memory').length, 2, 'both kept');
  await driver.close?.();
  const cgroups = fs.readdirSync(`${k.root}/memory/warren`, { withFileTypes: true }).filter((e) => e.isDirectory());
  t.same(cgroups, [], 'close removes every spare cgroup');
});

t.test('only the sets of limits created most recently keep spare cgroups', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const driver = k.driver();
  const spares = () => fs.readdirSync(`${k.root}/pids/warren`).filter((e) => e.startsWith('i'));
  const first = await driver.create('first', { pids: 1 });
  await first[Symbol.asyncDispose]();
  t.equal(spares().length, 1, 'kept for its limits');
  // sixteen other sets of limits, each used once: the first set is the least recently used
  for (let i = 2; i <= 17; i++) {
    const cg = await driver.create(`c${i}`, { pids: i });
    await cg[Symbol.asyncDispose]();
  }
  await new Promise((r) => setImmediate(r)); // the evicted spare is removed off the create path
  t.equal(spares().length, 16, "the first set's spare was removed, the other sixteen kept");
  t.notOk(spares().includes(`i${process.pid}.0`), 'the one removed is the first');
  await driver.close?.();
  t.same(spares(), []);
});
