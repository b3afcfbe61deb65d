import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cgroupCpuMs, processCpuMs } from './process-cpu.js';

t.test('a process\'s CPU from its stat, whatever its name holds', async (t) => {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'wrnbench-proc-'));
  t.teardown(() => fs.rmSync(proc, { recursive: true, force: true }));
  fs.mkdirSync(path.join(proc, '42'));
  // fields 14 and 15 (utime, stime) are 150 and 50 ticks: 2 s
  fs.writeFileSync(path.join(proc, '42', 'stat'), '42 (node ) (x)) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 11 0 100 1000 200\n');
  t.equal(processCpuMs(42, proc), 2000);
  t.equal(processCpuMs(43, proc), undefined, 'gone');
  t.ok((processCpuMs(process.pid) ?? -1) >= 0, 'this process, on the real /proc');
});

t.test('a cgroup\'s CPU, v1 cpuacct or v2 cpu.stat', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrnbench-cg-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'cpu,cpuacct', 'v1'), { recursive: true });
  fs.writeFileSync(path.join(root, 'cpu,cpuacct', 'v1', 'cpuacct.usage'), '2500000\n');
  fs.mkdirSync(path.join(root, 'v2'));
  fs.writeFileSync(path.join(root, 'v2', 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
  t.equal(cgroupCpuMs('v1', root), 2.5);
  t.equal(cgroupCpuMs('v2', root), 1.5);
  t.equal(cgroupCpuMs('none', root), undefined);
  // v1 with no cpuacct under the parent: the processes in its cpu cgroups now, summed
  const proc = path.join(root, 'proc');
  for (const [pid, ticks] of [[7, 10], [8, 20]] as const) {
    fs.mkdirSync(path.join(proc, String(pid)), { recursive: true });
    fs.writeFileSync(path.join(proc, String(pid), 'stat'), `${pid} (node) S 1 1 1 0 -1 0 0 0 0 0 ${ticks} 0 0 0 20 0 1 0 1 1 1\n`);
  }
  fs.mkdirSync(path.join(root, 'cpu', 'only', 'sandbox1'), { recursive: true });
  fs.writeFileSync(path.join(root, 'cpu', 'only', 'cgroup.procs'), '');
  fs.writeFileSync(path.join(root, 'cpu', 'only', 'sandbox1', 'cgroup.procs'), '7\n8\n');
  t.equal(cgroupCpuMs('only', root, proc), 300, 'both processes of the sandbox below the parent');
});
