import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cgroupPids, processMemory, totalMemory } from './memory.js';

const ROLLUP = (pss: number, clean: number, dirty: number) =>
  `55d0c0000000-7ffd2b3fe000 ---p 00000000 00:00 0                          [rollup]\nRss:               40000 kB\nPss:               ${pss} kB\nPss_Anon:           6000 kB\nShared_Clean:      20000 kB\nPrivate_Clean:      ${clean} kB\nPrivate_Dirty:      ${dirty} kB\n`;

t.test("a process's PSS and USS from smaps_rollup; processes gone count nothing", async (t) => {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-proc-'));
  t.teardown(() => fs.rmSync(proc, { recursive: true, force: true }));
  for (const [pid, text] of [[10, ROLLUP(9000, 100, 6000)], [11, ROLLUP(1000, 0, 500)]] as const) {
    fs.mkdirSync(path.join(proc, String(pid)));
    fs.writeFileSync(path.join(proc, String(pid), 'smaps_rollup'), text);
  }
  t.same(processMemory(10, proc), { pssKib: 9000, ussKib: 6100 });
  t.equal(processMemory(12, proc), undefined, 'gone');
  t.same(totalMemory([10, 11, 12], proc), { pssKib: 10000, ussKib: 6600 });
});

t.test("a cgroup's pids, one dir per v1 controller, each once", async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-cg-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const c of ['memory', 'pids']) {
    fs.mkdirSync(path.join(root, c));
    fs.writeFileSync(path.join(root, c, 'cgroup.procs'), '7\n8\n');
  }
  t.same(cgroupPids([path.join(root, 'memory'), path.join(root, 'pids'), path.join(root, 'absent')]).sort(), [7, 8]);
});
