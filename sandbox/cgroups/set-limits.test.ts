/**
 * Limits changed on a live cgroup (Cgroup.setLimits), on the fake tree of both versions: which
 * files change and in what order, what stays, what a refused write leaves behind, and that a v1
 * cgroup kept for reuse goes to the pool of the limits it holds now.
 */
import * as fs from 'node:fs';
import t from 'tap';
import { fakeKernel } from './fake-kernel.test.js';
import { v1Writes, v2Writes } from './limit-writes.js';

const MiB = 1 << 20;

t.test('v1 write order: memsw never below memory after any single write', async (t) => {
  const rows: Array<[string, Parameters<typeof v1Writes>, string[]]> = [
    ['new cgroup (unlimited before)', [{ memoryBytes: 64 * MiB }, { memsw: true, memoryRaising: false }], ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']],
    ['lowering', [{ memoryBytes: 64 * MiB }, { memsw: true, memoryRaising: false }], ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']],
    ['raising', [{ memoryBytes: 512 * MiB }, { memsw: true, memoryRaising: true }], ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']],
    ['no swap accounting', [{ memoryBytes: 64 * MiB }, { memsw: false, memoryRaising: true }], ['memory.limit_in_bytes']],
    ['cpu: period before quota', [{ cpus: 0.25 }, { memsw: true, memoryRaising: false }], ['cpu.cfs_period_us', 'cpu.cfs_quota_us']],
    ['pids alone', [{ pids: 16 }, { memsw: true, memoryRaising: false }], ['pids.max']],
    ['nothing', [{}, { memsw: true, memoryRaising: false }], []],
  ];
  for (const [name, args, files] of rows) t.same(v1Writes(...args).map((w) => w.file), files, name);
  t.same(v1Writes({ cpus: 0.25 }, { memsw: true, memoryRaising: false }).map((w) => w.value), ['100000', '25000']);
});

t.test('v2 writes: quota and period together, swap off with memory', async (t) => {
  t.same(v2Writes({ memoryBytes: 64 * MiB, cpus: 1.5, pids: 9 }, { swap: true }), [
    { ctrl: 'memory', file: 'memory.max', value: String(64 * MiB) },
    { ctrl: 'memory', file: 'memory.swap.max', value: '0' },
    { ctrl: 'cpu', file: 'cpu.max', value: '150000 100000' },
    { ctrl: 'pids', file: 'pids.max', value: '9' },
  ]);
  t.same(v2Writes({ pids: 9 }, { swap: true }).map((w) => w.file), ['pids.max']);
});

/** The limit files of cgroup `name` on a fake tree, by what they mean. */
function limitsOf(k: ReturnType<typeof fakeKernel>, name: string): Record<string, string> {
  if (k.opts.version === 2) {
    const d = `${k.root}/warren/${name}`;
    return { memory: k.read(`${d}/memory.max`), swap: k.read(`${d}/memory.swap.max`), cpu: k.read(`${d}/cpu.max`), pids: k.read(`${d}/pids.max`) };
  }
  return {
    memory: k.read(`${k.root}/memory/warren/${name}/memory.limit_in_bytes`),
    swap: k.read(`${k.root}/memory/warren/${name}/memory.memsw.limit_in_bytes`),
    cpu: k.read(`${k.root}/cpu/warren/${name}/cpu.cfs_quota_us`),
    pids: k.read(`${k.root}/pids/warren/${name}/pids.max`),
  };
}

for (const version of [1, 2] as const) {
  t.test(`v${version}: partial limits change only what they name`, async (t) => {
    const k = fakeKernel(t, { version });
    const cg = await k.driver().create('sb', { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 });
    const before = limitsOf(k, 'sb');
    await cg.setLimits({ memoryBytes: 256 * MiB });
    const raised = limitsOf(k, 'sb');
    t.equal(raised.memory, String(256 * MiB), 'memory raised');
    t.equal(raised.swap, version === 1 ? String(256 * MiB) : '0', version === 1 ? 'memsw follows memory' : 'still no swap');
    t.same({ cpu: raised.cpu, pids: raised.pids }, { cpu: before.cpu, pids: before.pids }, 'cpu and pids untouched');
    await cg.setLimits({ cpus: 2, pids: 8 });
    t.same(limitsOf(k, 'sb'), { ...raised, cpu: version === 1 ? '200000' : '200000 100000', pids: '8' });
  });

  t.test(`v${version}: bad limits are refused before any write`, async (t) => {
    const k = fakeKernel(t, { version });
    const cg = await k.driver().create('sb', { memoryBytes: 64 * MiB, pids: 32 });
    const before = limitsOf(k, 'sb');
    await t.rejects(cg.setLimits({ memoryBytes: 128 * MiB, pids: 0 }), { code: 'WARREN_CGROUP_LIMITS', message: 'invalid cgroup limit pids 0: want a positive integer' });
    await t.rejects(cg.setLimits({ cpus: 0.001 }), { code: 'WARREN_CGROUP_LIMITS' });
    t.same(limitsOf(k, 'sb'), before);
  });

  t.test(`v${version}: a refused write puts back the ones before it and names its file`, async (t) => {
    const k = fakeKernel(t, { version });
    const cg = await k.driver().create('sb', { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 });
    const before = limitsOf(k, 'sb');
    // the kernel refusing pids.max: a file that reads but cannot be written
    const pidsMax = version === 1 ? `${k.root}/pids/warren/sb/pids.max` : `${k.root}/warren/sb/pids.max`;
    fs.rmSync(pidsMax);
    fs.symlinkSync('/proc/version', pidsMax);
    await t.rejects(cg.setLimits({ memoryBytes: 128 * MiB, cpus: 1, pids: 16 }), {
      code: 'WARREN_CGROUP_SET_LIMITS',
      message: new RegExp(`^set limits of cgroup 'sb': write '16' to '${pidsMax}': E[A-Z]+; the old limits stay$`),
      outcome: 'unchanged',
    });
    const after = limitsOf(k, 'sb');
    t.same({ memory: after.memory, swap: after.swap, cpu: after.cpu }, { memory: before.memory, swap: before.swap, cpu: before.cpu }, 'memory and cpu back to the old values');
  });

  t.test(`v${version}: a removed cgroup: an error naming the file`, async (t) => {
    const k = fakeKernel(t, { version });
    const cg = await k.driver().create('sb', { memoryBytes: 64 * MiB });
    await cg.destroy();
    await t.rejects(cg.setLimits({ pids: 4 }), { code: 'WARREN_CGROUP_SET_LIMITS', message: /^set limits of cgroup 'sb': read '.*\/pids\.max': ENOENT$/ });
  });
}

t.test('v1 reuse: a cgroup goes back to the pool of the limits it holds when it ends', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const driver = k.driver();
  const small = { memoryBytes: 64 * MiB, cpus: 0.5, pids: 32 };
  const big = { memoryBytes: 256 * MiB, cpus: 1, pids: 32 };
  const idle = () => fs.readdirSync(`${k.root}/memory/warren`).filter((e) => e.startsWith('i'));
  const a = await driver.create('a', small);
  await a.setLimits({ memoryBytes: big.memoryBytes, cpus: big.cpus });
  await a[Symbol.asyncDispose]();
  t.equal(idle().length, 1, 'kept');

  const b = await driver.create('b', small);
  t.equal(idle().length, 1, 'not handed to a sandbox of its old limits');
  t.same(limitsOf(k, 'b'), { memory: String(64 * MiB), swap: String(64 * MiB), cpu: '50000', pids: '32' }, 'which gets a cgroup with its own');
  const c = await driver.create('c', big);
  t.same(idle(), [], 'handed to a sandbox of the limits it holds now');
  t.same(limitsOf(k, 'c'), { memory: String(256 * MiB), swap: String(256 * MiB), cpu: '100000', pids: '32' });
  await b[Symbol.asyncDispose]();
  await c[Symbol.asyncDispose]();
  await driver.close?.();
});
