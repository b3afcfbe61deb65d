import t from 'tap';
import { detectCgroups, parseMounts } from './detect.js';
import { fakeKernel } from './fake-kernel.test.js';

// /proc/self/mounts of the development machine: v1 hierarchies, one per controller, plus a cgroup2
// at unified with only hugetlb. v1 detection reads no files, so these run on the real text.
const HYBRID = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;

// Debian/Ubuntu before cgroup v2: cpu and cpuacct co-mounted in one hierarchy.
const COMOUNTED = `tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,nodev,noexec,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
cgroup /sys/fs/cgroup/net_cls,net_prio cgroup rw,nosuid,nodev,noexec,relatime,net_cls,net_prio 0 0
`;

const R = '/sys/fs/cgroup';

t.test('v1 layouts: one dir per distinct hierarchy, memory first', async (t) => {
  const cases = [
    { name: 'hybrid, this machine', mounts: HYBRID, dirs: ['memory', 'cpu', 'cpuacct', 'pids'] },
    { name: 'cpu,cpuacct co-mounted', mounts: COMOUNTED, dirs: ['memory', 'cpu,cpuacct', 'pids'] },
    {
      name: 'mount paths with escaped spaces',
      mounts: HYBRID.replaceAll('/sys/fs/cgroup/', '/srv/my\\040cg/').replace('tmpfs /sys/fs/cgroup', 'tmpfs /srv/my\\040cg'),
      root: '/srv/my cg',
      dirs: ['memory', 'cpu', 'cpuacct', 'pids'],
    },
  ];
  for (const c of cases) {
    const root = c.root ?? R;
    const driver = detectCgroups({ root, mounts: c.mounts, parent: 'warren' });
    t.equal(driver.version, 1, c.name);
    t.same(driver.open('sb').dirs, c.dirs.map((d) => `${root}/${d}/warren/sb`), c.name);
  }
});

t.test('v1 on a fake tree of this machine', async (t) => {
  const k = fakeKernel(t, { version: 1 });
  const driver = detectCgroups({ root: k.root, mounts: k.mounts, parent: 'warren' });
  t.equal(driver.version, 1);
  t.equal(driver.open('sb').dirs.length, 4);
});

t.test('v2 when cgroup2 is mounted at the root itself', async (t) => {
  const k = fakeKernel(t, { version: 2 });
  const driver = detectCgroups({ root: `${k.root}/`, mounts: k.mounts, parent: 'warren' });
  t.equal(driver.version, 2);
  t.same(driver.open('sb').dirs, [`${k.root}/warren/sb`]);
});

t.test('unsupported layouts name what is missing', async (t) => {
  const v2NoPids = fakeKernel(t, { version: 2, rootControllers: 'cpuset cpu io memory' });
  const cases: { name: string; root?: string; mounts: string; match: RegExp }[] = [
    { name: 'no cgroups at all', mounts: 'proc /proc proc rw 0 0\n', match: /no cgroup2 mounted at '\/sys\/fs\/cgroup' and no cgroup v1 hierarchies/ },
    { name: 'empty mount table', mounts: '', match: /no cgroup v1 hierarchies/ },
    { name: 'v1 without pids (old kernel)', mounts: HYBRID.replace(/^.*pids.*\n/m, ''), match: /no cgroup v1 hierarchy for pids/ },
    { name: 'only the hybrid cgroup2, not at the root', mounts: `cgroup2 ${R}/unified cgroup2 rw 0 0\n`, match: /no cgroup v1 hierarchies/ },
    { name: 'v1 mounted outside the root', mounts: HYBRID, root: '/elsewhere', match: /no cgroup2 mounted at '\/elsewhere'/ },
    { name: 'v2 without pids', root: v2NoPids.root, mounts: v2NoPids.mounts, match: /cgroup v2 at '.*' lacks controller\(s\) pids/ },
  ];
  for (const c of cases) {
    t.throws(() => detectCgroups({ root: c.root ?? R, mounts: c.mounts, parent: 'warren' }), { code: 'WARREN_CGROUP_UNSUPPORTED', message: c.match }, c.name);
  }
});

t.test('v2 with an unreadable cgroup.controllers is unsupported, not a crash', async (t) => {
  t.throws(() => detectCgroups({ root: '/nonexistent-warren-root', mounts: 'cgroup2 /nonexistent-warren-root cgroup2 rw 0 0\n', parent: 'w' }), {
    code: 'WARREN_CGROUP_UNSUPPORTED',
  });
});

t.test('the parent must be a relative path of names', async (t) => {
  for (const parent of ['', '/abs', '..', 'a/../b', 'a//b', 'cgroup.procs']) {
    t.throws(() => detectCgroups({ root: R, mounts: HYBRID, parent }), { code: 'WARREN_CGROUP_NAME' }, JSON.stringify(parent));
  }
  t.equal(detectCgroups({ root: R, mounts: HYBRID, parent: 'warren.slice/pool' }).open('x').dirs[0], `${R}/memory/warren.slice/pool/x`);
});

t.test('parseMounts', async (t) => {
  t.same(parseMounts('cgroup /a\\040b cgroup rw,cpu,cpuacct 0 0\n\n  \nshort line\n'), [{ source: 'cgroup', target: '/a b', fstype: 'cgroup', options: ['rw', 'cpu', 'cpuacct'] }]);
  // 'cpuset' is not 'cpu': options are matched whole.
  t.throws(() => detectCgroups({ root: R, mounts: HYBRID.replace(/^.*,cpu 0 0\n/m, ''), parent: 'w' }), { message: /hierarchy for cpu\b/ });
});
