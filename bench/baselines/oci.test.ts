import t from 'tap';
import type { SeccompPolicy } from '../../sandbox/seccomp/index.js';
import { ociConfig, ociSeccomp } from './oci.js';

const input = {
  args: ['/pause', '--until-eof'],
  rootfs: '/x/rootfs',
  hostname: 'bench',
  cgroupsPath: '/p/c0',
  uid: { host: 1_500_000_000, count: 65536 },
  limits: { memoryBytes: 256 << 20, cpus: 0.5, pids: 64 },
  rlimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
  maskedPaths: ['/proc/kcore'],
  readonlyPaths: ['/proc/sys'],
};

t.test('a bundle that isolates like a sandbox', async (t) => {
  const c = ociConfig(input) as any;
  t.same(c.linux.namespaces.map((n: { type: string }) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
  t.same(c.linux.uidMappings, [{ containerID: 0, hostID: 1_500_000_000, size: 65536 }]);
  t.same(c.linux.resources, { memory: { limit: 256 << 20, swap: 256 << 20 }, cpu: { quota: 50_000, period: 100_000 }, pids: { limit: 64 } });
  t.same(c.process.capabilities, { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] }, 'no capability');
  t.equal(c.process.noNewPrivileges, true);
  t.same(c.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]);
  t.same(c.process.args, ['/pause', '--until-eof']);
  t.same(c.mounts.map((m: { destination: string }) => m.destination), ['/proc', '/dev', '/dev/shm', '/sys']);
  t.equal(c.linux.cgroupsPath, '/p/c0');
  t.notOk('seccomp' in c.linux, 'no policy given, none written');
  t.throws(() => ociConfig({ ...input, rlimits: [{ name: 'core', soft: 'unlimited', hard: 'unlimited' }] }), /unlimited/);
});

t.test("warren's seccomp policy in OCI terms", async (t) => {
  const policy: SeccompPolicy = {
    defaultAction: { kind: 'errno', errno: 1 },
    rules: [
      { names: ['read', 'write'], action: { kind: 'allow' } },
      { names: ['socket'], action: { kind: 'allow' }, args: [{ arg: 0, op: 'ne', value: 40 }] },
      { names: ['clone'], action: { kind: 'allow' }, args: [{ arg: 0, op: 'masked-eq', mask: 0x7e020000, value: 0 }] },
      { names: ['clone3'], action: { kind: 'errno', errno: 38 } },
      { names: ['reboot'], action: { kind: 'kill-process' } },
    ],
  };
  t.same(ociSeccomp(policy), {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
      // OCI puts the mask first: value = mask, valueTwo = the expected value
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' },
    ],
  });
  const huge: SeccompPolicy = { defaultAction: { kind: 'allow' }, rules: [{ names: ['x'], action: { kind: 'allow' }, args: [{ arg: 0, op: 'eq', value: 2n ** 60n }] }] };
  t.throws(() => ociSeccomp(huge), /does not fit a JSON number/);
});
