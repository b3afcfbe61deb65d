import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { anonExecutableBytes, cgroupPids, processMemory, totalMemory } from './process-memory.js';

function fakeProc(t: Test): string {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'wrnbench-mem-'));
  t.teardown(() => fs.rmSync(proc, { recursive: true, force: true }));
  return proc;
}

const ROLLUP = (pss: number, anon: number) => `55d0c0000000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]
Rss:               ${pss * 2} kB
Pss:               ${pss} kB
Pss_Dirty:         ${anon} kB
Pss_Anon:          ${anon} kB
Pss_File:          ${pss - anon} kB
Pss_Shmem:             0 kB
Shared_Clean:      ${pss} kB
Shared_Dirty:          0 kB
Private_Clean:        10 kB
Private_Dirty:     ${anon} kB
Referenced:        ${pss * 2} kB
Anonymous:         ${anon} kB
`;

t.test('a process\'s memory from its smaps_rollup, and a sandbox\'s processes added up', async (t) => {
  const proc = fakeProc(t);
  for (const [pid, pss, anon] of [[1, 200, 100], [2, 24000, 10000]] as const) {
    fs.mkdirSync(path.join(proc, String(pid)));
    fs.writeFileSync(path.join(proc, String(pid), 'smaps_rollup'), ROLLUP(pss, anon));
  }
  t.same(processMemory(2, proc), { pss: 24000 * 1024, pssAnon: 10000 * 1024, pssFile: 14000 * 1024, rss: 48000 * 1024, private: 10010 * 1024 });
  t.equal(processMemory(3, proc), undefined, 'gone');
  t.same(totalMemory([1, 2, 3], proc), { pss: 24200 * 1024, pssAnon: 10100 * 1024, pssFile: 14100 * 1024, rss: 48400 * 1024, private: 10120 * 1024 }, 'the gone one counts 0');
  const self = processMemory(process.pid);
  t.ok(self && self.pss > 0 && self.pssAnon + self.pssFile <= self.pss + 1024, 'this process, on the real /proc');
});

t.test('anonymous executable memory: mappings without a file only', async (t) => {
  const proc = fakeProc(t);
  fs.mkdirSync(path.join(proc, '9'));
  fs.writeFileSync(path.join(proc, '9', 'smaps'), `00400000-00b6f000 r-xp 00000000 00:2a 15343880                           /usr/local/bin/node
Size:               7612 kB
Anonymous:            12 kB
7f0000000000-7f0000192000 r-xp 00000000 00:00 0 
Size:               1608 kB
Anonymous:          1608 kB
7f0000200000-7f0000240000 rwxp 00000000 00:00 0 
Size:                256 kB
Anonymous:           100 kB
7f0000300000-7f0000400000 rw-p 00000000 00:00 0 
Size:               1024 kB
Anonymous:          1024 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
`);
  t.equal(anonExecutableBytes(9, proc), (1608 + 100) * 1024, 'the copy and the JIT page; not the file\'s COW pages, not data');
  t.equal(anonExecutableBytes(10, proc), undefined);
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
