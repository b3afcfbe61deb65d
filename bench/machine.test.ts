import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cgroupLayout, hybridUnifiedMount, machineInfo, parseMountinfo } from './machine.js';

const line = (id: number, mp: string, fs: string) => `${id} 1 0:${id} / ${mp} rw,relatime shared:${id} - ${fs} ${fs} rw`;
const HYBRID = [line(20, '/', 'ext4'), line(21, '/sys/fs/cgroup', 'tmpfs'), line(22, '/sys/fs/cgroup/memory', 'cgroup'), line(23, '/sys/fs/cgroup/unified', 'cgroup2')].join('\n');
const V2 = [line(20, '/', 'ext4'), line(21, '/sys/fs/cgroup', 'cgroup2')].join('\n');
const V1 = [line(21, '/sys/fs/cgroup', 'tmpfs'), line(22, '/sys/fs/cgroup/pids', 'cgroup')].join('\n');

t.test('cgroup layouts from mountinfo', async (t) => {
  const cases: Array<[string, string, string, string | undefined]> = [
    ['hybrid (Debian 12 here)', HYBRID, 'hybrid', '/sys/fs/cgroup/unified'],
    ['unified', V2, 'v2', undefined],
    ['legacy', V1, 'v1', undefined],
    ['none', line(20, '/', 'ext4'), 'none', undefined],
  ];
  for (const [name, text, layout, unified] of cases) {
    t.equal(cgroupLayout(text), layout, name);
    t.equal(hybridUnifiedMount(text), unified, `${name}: what crun must not see`);
  }
  t.same(parseMountinfo(`${line(1, '/a\\040b', 'tmpfs')}\n\n`), [{ mountPoint: '/a b', fsType: 'tmpfs' }]);
});

t.test('machine details, from a proc root given', async (t) => {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-proc-'));
  t.teardown(() => fs.rmSync(proc, { recursive: true, force: true }));
  fs.mkdirSync(path.join(proc, 'self'));
  fs.writeFileSync(path.join(proc, 'self', 'mountinfo'), V2);
  const m = machineInfo(proc, new Date(0));
  t.equal(m.cgroup, 'v2');
  t.equal(m.date, '1970-01-01T00:00:00.000Z');
  t.equal(m.node, process.version);
  t.ok(m.cores >= 1);
});
