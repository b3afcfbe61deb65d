/**
 * The sandbox probe, seen from the tests: ensureProbe() builds test/probe/build/probe when a source
 * is newer than the binary and returns the directory that holds it. Tests bind-mount that directory
 * into the sandbox at PROBE_DIR_IN_SANDBOX and run `/probe/probe <command>`, which prints one JSON
 * line; the types below describe those lines. README.md lists the commands.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = dirname(fileURLToPath(import.meta.url));
const buildDir = join(sourceDir, 'build');
const binary = join(buildDir, 'probe');

/** Where tests mount the directory ensureProbe() returns, and the probe's path inside the sandbox. */
export const PROBE_DIR_IN_SANDBOX = '/probe';
export const PROBE_IN_SANDBOX = '/probe/probe';

let built = false;

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(): boolean {
  const binaryTime = mtimeMs(binary);
  if (binaryTime === undefined) return true;
  const sources = readdirSync(sourceDir).filter((f) => /\.[ch]$/.test(f) || f === 'Makefile');
  return sources.some((f) => (mtimeMs(join(sourceDir, f)) ?? 0) > binaryTime);
}

/**
 * Builds the probe at most once per process and returns the absolute path of the directory holding
 * it. The Makefile renames a finished binary into place, so test files building at once are safe.
 */
export function ensureProbe(): string {
  if (!built && isStale()) {
    try {
      execFileSync('make', ['-s', '-C', sourceDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
      throw new Error(`build the probe in '${sourceDir}': ${stderr || String(err)}`, { cause: err });
    }
  }
  built = true;
  return buildDir;
}

/** `identity`. An item that could not be read is null and named in `errors` with its strerror text. */
export interface ProbeIdentity {
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  /** /proc/1/comm without its newline. */
  init_comm: string | null;
  /** /proc/1/cmdline with the NULs between arguments as spaces. */
  init_cmdline: string | null;
  /** The numeric entries of /proc, ascending. */
  pids: number[] | null;
  hostname: string | null;
  /** /proc/self/uid_map without its last newline. */
  uid_map: string | null;
  gid_map: string | null;
  /** From /proc/self/status; a missing line is null and "status.<Field>" in errors. */
  status: ProbeStatus | null;
  /** Open fds from /proc/self/fd, ascending, without the fd used to read it. */
  fds: number[] | null;
  /** null with ENOENT when the cwd lies outside the root. */
  cwd: string | null;
  env: string[];
  /** The mount point of each /proc/self/mountinfo line, unescaped, in that file's order. */
  mounts: string[] | null;
  /** [soft, hard]; -1 means unlimited. */
  rlimits: Record<'nofile' | 'nproc' | 'core', [number, number] | null>;
  errors: Record<string, string>;
}

export interface ProbeStatus {
  CapEff: string | null;
  CapPrm: string | null;
  CapBnd: string | null;
  CapInh: string | null;
  CapAmb: string | null;
  NoNewPrivs: string | null;
  Seccomp: string | null;
  Seccomp_filters: string | null;
}

/** The calls `syscalls` tries, in its order; the last five are controls a sane filter allows. */
export const PROBE_SYSCALLS = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'mount', 'umount2', 'pivot_root', 'unshare', 'setns',
  'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup',
  'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module',
  'delete_module', 'open_by_handle_at', 'chroot', 'reboot', 'swapon', 'clock_settime', 'acct', 'clone_newns',
  'clone3', 'getpid', 'getppid', 'uname', 'clock_gettime', 'openat',
] as const;
export type ProbeSyscall = (typeof PROBE_SYSCALLS)[number];

/** `syscalls`: 0 on success, else the errno; -N when the call's child died of signal N (31: SIGSYS). */
export interface ProbeSyscalls {
  results: Record<ProbeSyscall, number>;
}

/** `read PATH`: up to 64 KiB read; `text` is the first 200 bytes. */
export interface ProbeRead {
  path: string;
  ok: boolean;
  errno: number;
  bytes: number;
  text: string;
}

/** `write`, `append`, `unlink`. */
export interface ProbeResult {
  ok: boolean;
  errno: number;
}

export interface ProbeLs extends ProbeResult {
  entries: string[] | null;
}

export interface ProbeFill {
  bytes: number;
  errno: number;
  unlink_errno: number;
}

export interface ProbeStdin {
  bytes: number;
  text: string;
  errno: number;
}

/** `forkbomb`: printed after every child was killed and reaped. */
export interface ProbeForkbomb {
  forked: number;
  errno: number;
}

export interface ProbeCpuburn {
  seconds: number;
  threads: number;
  cpu_seconds: number;
  wall_seconds: number;
}

/** `membomb` prints this only when malloc fails (exit 1); being OOM-killed prints nothing. */
export interface ProbeMembombRefused {
  allocated_mib: number;
  errno: number;
}

/** `signals` prints `{"ready":true}` first, then this line; `got` is null after 30 s (exit 1). */
export interface ProbeSignals {
  got: 'SIGTERM' | 'SIGINT' | 'SIGHUP' | null;
}

/** `stdio`: fd 0-2 as the sandbox sees them; a seek or truncate that worked has errno 0. */
export interface ProbeStdio {
  fds: Array<{ fd: number; target: string | null; link_errno: number; tty: boolean; nonblock: boolean; seek_errno: number; truncate_errno: number }>;
}

/** `swap` prints `{"ready":true}` first, then this line. */
export interface ProbeSwap {
  swaps: number;
  errno: number;
}

/** `inodes DIR`: files made before one failed (errno), all removed again. */
export interface ProbeInodes {
  files: number;
  errno: number;
  unlink_errno: number;
}

/** `net`: what the sandbox's network namespace shows of its traffic; each part is null when unreadable. */
export interface ProbeNet {
  /** /proc/self/ns/net's link text, `net:[inode]`: which netns the probe ran in. */
  netns: string | null;
  /** The peer addresses of the netns's tcp_metrics entries. */
  tcp_metrics: string[];
  tcp_metrics_errno: number;
  dev: Record<string, { rx_bytes: number; rx_packets: number; tx_bytes: number; tx_packets: number }> | null;
  tcp: { ActiveOpens: number; PassiveOpens: number; InSegs: number; OutSegs: number } | null;
}

/** `openw PATH`: PATH opened for writing (nothing written), directly and through an O_PATH fd's
 * /proc/self/fd link; `reopen_errno` is -1 when the O_PATH open failed. `link` is readlink's text. */
export interface ProbeOpenw {
  path: string;
  link: string | null;
  link_errno: number;
  errno: number;
  opath_errno: number;
  reopen_errno: number;
}

/** `cgroups`: CVE-2022-0492's steps; a mount errno is -1 when it was not tried (the unshare failed). */
export interface ProbeCgroups {
  child_status: number;
  unshare_errno: number;
  mount: { rdma: number; memory: number; cgroup2: number };
  mount_after_unshare: { rdma: number; memory: number; cgroup2: number };
  /** release_agent, notify_on_release, cgroup.procs, tasks, cgroup.subtree_control that opened for writing */
  writable: string[];
  checked: number;
}

/** `procs`: every process's capability sets (hex, as /proc/N/status shows them). */
export interface ProbeProcs {
  procs: Array<{ pid: number; name: string; CapInh: string; CapPrm: string; CapEff: string; CapBnd: string; CapAmb: string }>;
}

/** `setcap DIR`: setxattr security.capability on a file of its own in DIR (then removed). */
export interface ProbeSetcap {
  errno: number;
  unlink_errno: number;
}

/** `connect ADDR[%IFNAME] PORT`: a TCP connect, 0 when it was answered; ETIMEDOUT after 2 s. */
export interface ProbeConnect {
  addr: string;
  scope: number;
  errno: number;
}
