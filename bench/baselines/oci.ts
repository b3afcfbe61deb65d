/**
 * An OCI runtime config (config.json) that isolates like a warren sandbox, for the crun baseline:
 * the same namespaces and a uid range of its own, the same cgroup limits, rlimits, masked and
 * read-only paths, /proc, /dev, /dev/shm and /sys, no capabilities, no_new_privs, and warren's
 * seccomp policy translated to the OCI form. Pure: plain data in, plain data out.
 *
 * One difference is on purpose and in crun's favour: the root is a plain directory shared by every
 * container (crun does not build overlays), where warren mounts an overlay on a tmpfs per sandbox.
 */
import type { ArgCmp, SeccompAction, SeccompPolicy } from '../../sandbox/seccomp/index.js';

export interface OciInput {
  args: readonly string[];
  rootfs: string;
  hostname: string;
  cgroupsPath: string;
  uid: { host: number; count: number };
  limits: { memoryBytes: number; cpus: number; pids: number };
  rlimits: ReadonlyArray<{ name: string; soft: number | 'unlimited'; hard: number | 'unlimited' }>;
  maskedPaths: readonly string[];
  readonlyPaths: readonly string[];
  seccomp?: SeccompPolicy;
}

const CPU_PERIOD_US = 100_000;
const NO_CAPS = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };

const OPS: Record<ArgCmp['op'], string> = {
  eq: 'SCMP_CMP_EQ',
  ne: 'SCMP_CMP_NE',
  lt: 'SCMP_CMP_LT',
  le: 'SCMP_CMP_LE',
  gt: 'SCMP_CMP_GT',
  ge: 'SCMP_CMP_GE',
  'masked-eq': 'SCMP_CMP_MASKED_EQ',
};

function num(v: bigint | number): number {
  const n = Number(v);
  // JSON numbers above 2^53 would be rounded on the way to crun: refuse rather than change the policy
  if (!Number.isSafeInteger(n)) throw new RangeError(`seccomp argument ${v} does not fit a JSON number`);
  return n;
}

function action(a: SeccompAction): { action: string; errnoRet?: number } {
  switch (a.kind) {
    case 'allow': return { action: 'SCMP_ACT_ALLOW' };
    case 'errno': return { action: 'SCMP_ACT_ERRNO', errnoRet: a.errno };
    case 'kill-process': return { action: 'SCMP_ACT_KILL_PROCESS' };
    case 'log': return { action: 'SCMP_ACT_LOG' };
  }
}

/** The OCI `linux.seccomp` object for a warren policy (x86_64 only, as warren's filter). */
export function ociSeccomp(policy: SeccompPolicy): object {
  const def = action(policy.defaultAction);
  return {
    defaultAction: def.action,
    ...(def.errnoRet === undefined ? {} : { defaultErrnoRet: def.errnoRet }),
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: policy.rules.map((r) => ({
      names: [...r.names],
      ...action(r.action),
      ...(r.args?.length
        ? {
            // OCI's masked-eq takes the mask as `value` and the expected value as `valueTwo`
            args: r.args.map((c) =>
              c.op === 'masked-eq'
                ? { index: c.arg, value: num(c.mask ?? 0), valueTwo: num(c.value), op: OPS[c.op] }
                : { index: c.arg, value: num(c.value), op: OPS[c.op] },
            ),
          }
        : {}),
    })),
  };
}

function rlimit(v: number | 'unlimited'): number {
  // RLIM_INFINITY is 2^64-1, which a JSON number cannot hold exactly: say so instead of rounding
  if (v === 'unlimited') throw new RangeError('an unlimited rlimit cannot be written to config.json here');
  return v;
}

export function ociConfig(c: OciInput): object {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...c.args],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${c.hostname}`, 'HOME=/root'],
      cwd: '/',
      capabilities: NO_CAPS,
      rlimits: c.rlimits.map((l) => ({ type: `RLIMIT_${l.name.toUpperCase()}`, soft: rlimit(l.soft), hard: rlimit(l.hard) })),
      noNewPrivileges: true,
    },
    root: { path: c.rootfs, readonly: false },
    hostname: c.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'mode=755', 'size=64k', 'nr_inodes=64'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      uidMappings: [{ containerID: 0, hostID: c.uid.host, size: c.uid.count }],
      gidMappings: [{ containerID: 0, hostID: c.uid.host, size: c.uid.count }],
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) => ({ type })),
      cgroupsPath: c.cgroupsPath,
      resources: {
        // swap = the memory limit: memory and swap together are capped, as warren caps them
        memory: { limit: c.limits.memoryBytes, swap: c.limits.memoryBytes },
        cpu: { quota: Math.round(c.limits.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US },
        pids: { limit: c.limits.pids },
      },
      maskedPaths: [...c.maskedPaths],
      readonlyPaths: [...c.readonlyPaths],
      ...(c.seccomp ? { seccomp: ociSeccomp(c.seccomp) } : {}),
    },
  };
}
