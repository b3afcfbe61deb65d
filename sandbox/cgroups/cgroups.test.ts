/**
 * The contract every driver keeps, run on fake trees of each layout: v1 as on this machine, v1
 * with cpu,cpuacct co-mounted, and v2 (without cgroup.kill, so killAll takes the sweep path).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { once } from 'node:events';
import t from 'tap';
import { fakeKernel, type FakeOptions } from './fake-kernel.test.js';

const LAYOUTS: [string, FakeOptions][] = [
  ['v1', { version: 1 }],
  ['v1 cpu,cpuacct', { version: 1, coMount: true }],
  ['v2', { version: 2, cgroupKill: false }],
];

for (const [layout, opts] of LAYOUTS) {
  t.test(layout, async (t) => {
    t.test('create makes the dirs; list names them; destroy removes them', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      t.same(await driver.list(), [], 'no parent yet');
      const b = await driver.create('b', { pids: 8 });
      const a = await driver.create('a', {});
      t.equal(a.name, 'a');
      t.ok(a.dirs.length > 0 && a.dirs.every((d) => fs.existsSync(d) && d.endsWith('/warren/a')));
      t.same(await driver.list(), ['a', 'b']);
      await a.destroy();
      t.ok(a.dirs.every((d) => !fs.existsSync(d)));
      t.same(await driver.list(), ['b']);
      await b.destroy();
    });

    t.test('destroy, killAll and removeParent are idempotent', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      const cg = await driver.create('x', {});
      await cg.killAll();
      await cg.destroy();
      await cg.destroy();
      await cg.killAll();
      await driver.open('never-made').destroy();
      await driver.removeParent();
      await driver.removeParent();
      t.same(await driver.list(), []);
    });

    t.test('open gives a handle on an existing cgroup', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      const made = await driver.create('x', {});
      const opened = driver.open('x');
      t.same(opened.dirs, made.dirs);
      await opened.destroy();
      t.ok(made.dirs.every((d) => !fs.existsSync(d)));
    });

    t.test('removeParent leaves a parent that still holds cgroups', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      const cg = await driver.create('x', {});
      await driver.removeParent();
      t.same(await driver.list(), ['x']);
      await cg.destroy();
      await driver.removeParent();
      t.ok(cg.dirs.every((d) => !fs.existsSync(`${d}/..`)), 'parents gone');
    });

    t.test('a failed write removes the cgroup and names the file', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      await (await driver.create('first', {})).destroy(); // the parent exists, unbroken
      k.broken.add('pids.max');
      await t.rejects(driver.create('x', { memoryBytes: 1 << 20, cpus: 1, pids: 4 }), {
        code: 'WARREN_CGROUP_CREATE',
        message: /^create cgroup 'x': write '4' to '.*\/warren\/x\/pids\.max': EISDIR$/,
      });
      t.same(await driver.list(), []);
      t.ok(driver.open('x').dirs.every((d) => !fs.existsSync(d)));
    });

    t.test('create of an existing name fails and leaves the existing cgroup alone', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      const cg = await driver.create('x', { pids: 4 });
      await t.rejects(driver.create('x', {}), { code: 'WARREN_CGROUP_CREATE', message: /mkdir '.*\/warren\/x': EEXIST/ });
      t.ok(cg.dirs.every((d) => fs.existsSync(d)));
    });

    t.test('destroy retries while tasks are exiting, then gives up naming the dir', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      const cg = await driver.create('x', {});
      const procs = `${cg.dirs[0]}/cgroup.procs`;
      k.put(procs, '4242\n');
      setTimeout(() => k.put(procs, ''), 50);
      await cg.destroy();
      t.ok(cg.dirs.every((d) => !fs.existsSync(d)));

      const stuck = await driver.create('y', {});
      k.put(`${stuck.dirs[0]}/cgroup.procs`, '4242\n');
      await t.rejects(stuck.destroy(), { code: 'WARREN_CGROUP_DESTROY', message: `destroy cgroup 'y': rmdir '${stuck.dirs[0]}': EBUSY` });
      t.ok(stuck.dirs.slice(1).every((d) => !fs.existsSync(d)), 'the other dirs are removed anyway');
    });

    t.test('killAll SIGKILLs every listed process', async (t) => {
      const k = fakeKernel(t, opts);
      const cg = await k.driver().create('x', {});
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      t.teardown(() => child.kill('SIGKILL'));
      const exited = once(child, 'exit');
      // Listed in the last dir only: on v1 every hierarchy's cgroup.procs is swept.
      k.put(`${cg.dirs[cg.dirs.length - 1]}/cgroup.procs`, `${child.pid}\n`);
      await cg.killAll();
      const [code, signal] = await exited;
      t.same([code, signal], [null, 'SIGKILL']);
    });

    t.test('await using kills and destroys', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      let dirs: readonly string[] = [];
      {
        await using cg = await driver.create('x', { cpus: 0.25 });
        dirs = cg.dirs;
        t.ok(fs.existsSync(dirs[0]!));
      }
      t.ok(dirs.every((d) => !fs.existsSync(d)));
    });

    t.test('bad names and limits fail before anything is made', async (t) => {
      const k = fakeKernel(t, opts);
      const driver = k.driver();
      for (const name of ['', '.', '..', 'a/b', '../x', '.hidden', 'cgroup.procs', 'memory.max', 'x'.repeat(256)]) {
        await t.rejects(driver.create(name, {}), { code: 'WARREN_CGROUP_NAME' }, `create ${JSON.stringify(name)}`);
        t.throws(() => driver.open(name), { code: 'WARREN_CGROUP_NAME' }, `open ${JSON.stringify(name)}`);
      }
      const limits = [{ memoryBytes: 0 }, { memoryBytes: 1.5 }, { memoryBytes: -1 }, { cpus: 0 }, { cpus: NaN }, { cpus: Infinity }, { cpus: 0.004 }, { pids: 0 }, { pids: 2.5 }];
      for (const l of limits) {
        await t.rejects(driver.create('x', l), { code: 'WARREN_CGROUP_LIMITS' }, JSON.stringify(l));
      }
      t.same(await driver.list(), []);
      t.ok(driver.open('x').dirs.every((d) => !fs.existsSync(`${d}/..`)), 'not even the parent');
    });
  });
}
