/**
 * The seccomp policy of a sandbox, as plain data. compile.ts turns it into BPF;
 * nothing here touches libseccomp or the kernel, so the policy can be read,
 * diffed and tested as a table.
 *
 * The default policy is Docker's default profile (moby profiles/seccomp/default.json)
 * for amd64, made stricter: anything not allowed fails with EPERM, and a few
 * syscalls Docker allows are taken out (see DENIED_GROUPS for what and why).
 * Syscalls newer than the policy fail with ENOSYS instead, as under runc and crun,
 * so that a libc falls back to the older call it replaces.
 */

export type SeccompAction =
  | { kind: 'allow' }
  | { kind: 'errno'; errno: number }
  | { kind: 'kill-process' }
  | { kind: 'log' };

/**
 * One comparison on a syscall argument. For 'masked-eq' the test is
 * `(arg & mask) == value`; every other op compares the whole 64-bit argument.
 */
export interface ArgCmp {
  arg: number;
  op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked-eq';
  value: bigint | number;
  mask?: bigint | number;
}

/**
 * `action` applies to each syscall in `names` when all of `args` hold. Several
 * rules for one syscall are alternatives (any may match). Names this
 * architecture does not have are skipped: such a syscall cannot be called.
 */
export interface SeccompRule {
  names: readonly string[];
  action: SeccompAction;
  args?: readonly ArgCmp[];
}

export interface SeccompPolicy {
  defaultAction: SeccompAction;
  /**
   * For syscall numbers above the highest one the rules name (up to compile.ts's NEWER_LIMIT):
   * syscalls added to the kernel after the policy was written. Without it they meet
   * defaultAction like any other syscall the rules leave out.
   */
  newerAction?: SeccompAction;
  rules: readonly SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/**
 * Docker's unconditional allowlist, restricted to the names x86_64 has. Docker's
 * list also names ~60 syscalls of the 32-bit ABIs (chown32, _llseek, socketcall,
 * *_time64...): the filter covers only the native ABI, and a call through
 * another ABI hits the bad-arch action (kill), so those names would be dead.
 * Taken out of Docker's list: clock_adjtime, io_uring_*, name_to_handle_at
 * (see DENIED_GROUPS). Kept alphabetical, as upstream, so the two diff easily.
 * Names newer than libseccomp 2.5.4 need a number in syscalls.ts's fallback table.
 */
const DOCKER_ALLOW = [
  'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'cachestat', 'capget',
  'capset', 'chdir', 'chmod', 'chown', 'clock_getres', 'clock_gettime', 'clock_nanosleep', 'close',
  'close_range', 'connect', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create',
  'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'epoll_wait_old', 'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat',
  'faccessat2', 'fadvise64', 'fallocate', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat',
  'fchmodat2', 'fchown', 'fchownat', 'fcntl', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock',
  'fork', 'fremovexattr', 'fsetxattr', 'fstat', 'fstatfs', 'fsync', 'ftruncate', 'futex',
  'futex_requeue', 'futex_wait', 'futex_waitv', 'futex_wake', 'futimesat', 'getcpu', 'getcwd',
  'getdents', 'getdents64', 'getegid', 'geteuid', 'getgid', 'getgroups', 'getitimer',
  'getpeername', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom',
  'getresgid', 'getresuid', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'getsockname',
  'getsockopt', 'get_thread_area', 'gettid', 'gettimeofday', 'getuid', 'getxattr', 'getxattrat',
  'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl',
  'io_destroy', 'io_getevents', 'io_pgetevents', 'ioprio_get', 'ioprio_set', 'io_setup',
  'io_submit', 'kill', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
  'lchown', 'lgetxattr', 'link', 'linkat', 'listen', 'listmount', 'listxattr', 'listxattrat',
  'llistxattr', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat', 'madvise', 'map_shadow_stack',
  'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mkdir', 'mkdirat', 'mknod', 'mknodat',
  'mlock', 'mlock2', 'mlockall', 'mmap', 'mprotect', 'mq_getsetattr', 'mq_notify', 'mq_open',
  'mq_timedreceive', 'mq_timedsend', 'mq_unlink', 'mremap', 'mseal', 'msgctl', 'msgget', 'msgrcv',
  'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap', 'nanosleep', 'newfstatat', 'open',
  'openat', 'openat2', 'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pkey_alloc',
  'pkey_free', 'pkey_mprotect', 'poll', 'ppoll', 'prctl', 'pread64', 'preadv', 'preadv2',
  'prlimit64', 'process_mrelease', 'pselect6', 'pwrite64', 'pwritev', 'pwritev2', 'read',
  'readahead', 'readlink', 'readlinkat', 'readv', 'recvfrom', 'recvmmsg', 'recvmsg',
  'remap_file_pages', 'removexattr', 'removexattrat', 'rename', 'renameat', 'renameat2',
  'restart_syscall', 'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask',
  'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo',
  'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max',
  'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval', 'sched_setaffinity',
  'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp', 'select',
  'semctl', 'semget', 'semop', 'semtimedop', 'sendfile', 'sendmmsg', 'sendmsg', 'sendto',
  'setfsgid', 'setfsuid', 'setgid', 'setgroups', 'setitimer', 'setpgid', 'setpriority', 'setregid',
  'setresgid', 'setresuid', 'setreuid', 'setrlimit', 'set_robust_list', 'setsid', 'setsockopt',
  'set_thread_area', 'set_tid_address', 'setuid', 'setxattr', 'setxattrat', 'shmat', 'shmctl',
  'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'socketpair', 'splice',
  'stat', 'statfs', 'statmount', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range',
  'syncfs', 'sysinfo', 'tee', 'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun',
  'timer_gettime', 'timer_settime', 'timerfd_create', 'timerfd_gettime', 'timerfd_settime',
  'times', 'tkill', 'truncate', 'umask', 'uname', 'unlink', 'unlinkat', 'uretprobe', 'utime',
  'utimensat', 'utimes', 'vfork', 'vmsplice', 'wait4', 'waitid', 'write', 'writev',
] as const;

/** Docker allows these on amd64 only: TLS setup (arch_prctl), LDT entries (Wine, old runtimes). */
const X86_ALLOW = ['arch_prctl', 'modify_ldt'] as const;

/**
 * Syscalls that must fail with EPERM. None of them is in an allow rule, so the
 * default action answers; the list exists so that tests and probes can check it.
 */
const DENIED_GROUPS: readonly { why: string; names: readonly string[] }[] = [
  {
    why: 'reading or writing another process (a tracer can also rewrite an allowed syscall)',
    names: ['ptrace', 'process_vm_readv', 'process_vm_writev'],
  },
  {
    why: 'the spawner sets up mounts, root and namespaces before the filter loads; changing them ' +
      'afterwards is how escapes begin, and a new user namespace unlocks kernel code as "root"',
    names: [
      'mount', 'umount2', 'umount', 'pivot_root', 'chroot', 'unshare', 'setns', 'fsopen',
      'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr',
    ],
  },
  {
    why: 'keyrings are not namespaced: one sandbox could read or exhaust keys of another',
    names: ['keyctl', 'add_key', 'request_key'],
  },
  {
    why: 'large, often exploited kernel interfaces; userfaultfd makes kernel races easy to win, ' +
      'and io_uring performs file and network operations without a syscall the filter could see',
    names: [
      'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter',
      'io_uring_register',
    ],
  },
  {
    why: 'loading code into the kernel',
    names: [
      'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
      'create_module', 'get_kernel_syms', 'query_module',
    ],
  },
  {
    why: 'open_by_handle_at opens any file of a filesystem by handle, around the mount view ' +
      '(the "shocker" escape); name_to_handle_at only produces such handles',
    names: ['open_by_handle_at', 'name_to_handle_at'],
  },
  {
    why: 'LSM attributes: Docker allows these only with CAP_SYS_ADMIN, and lsm_set_self_attr ' +
      'changes the AppArmor or SELinux context the host confines this process with',
    names: ['lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules'],
  },
  {
    why: 'the clock is host-wide. clock_adjtime is denied even for reading; adjtimex stays ' +
      'allowed as in Docker (it can change nothing without CAP_SYS_TIME)',
    names: ['settimeofday', 'clock_settime', 'clock_adjtime'],
  },
  {
    why: 'host administration, raw I/O ports, or obsolete interfaces; none has a use in a function',
    names: [
      'acct', 'swapon', 'swapoff', 'reboot', 'syslog', 'quotactl', 'lookup_dcookie', 'vhangup',
      'iopl', 'ioperm', 'uselib', 'ustat', 'sysfs', '_sysctl', 'nfsservctl',
    ],
  },
];

export const DENIED_SYSCALLS: readonly string[] = DENIED_GROUPS.flatMap((g) => g.names);

/**
 * Names of the default policy and of DENIED_SYSCALLS that x86_64 does not have,
 * so libseccomp cannot resolve them here. Any other name that fails to resolve
 * is a typo; the unit test holds this list to that.
 */
export const ABSENT_ON_X86_64: readonly string[] = [
  'umount', // x86_64 only has umount2
];

/** Docker's personas: PER_LINUX, PER_LINUX32, each also with UNAME26, and 0xffffffff (a query). */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

/** CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: clone may not create namespaces. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const AF_VSOCK = 40;

export function defaultPolicy(): SeccompPolicy {
  const allow: SeccompAction = { kind: 'allow' };
  return {
    defaultAction: { kind: 'errno', errno: EPERM },
    // A libc tries a new syscall first and falls back to the old one only on ENOSYS (glibc >= 2.39
    // does so for fchmodat2); EPERM would fail the call. runc and crun answer ENOSYS past their
    // profile's syscalls too. A number below the highest named one that no rule names (a syscall
    // left out on purpose, x86_64's unused range below 424) still gets EPERM.
    newerAction: { kind: 'errno', errno: ENOSYS },
    rules: [
      { names: [...DOCKER_ALLOW], action: allow },
      { names: [...X86_ALLOW], action: allow },
      // As Docker: AF_VSOCK reaches the hypervisor's host side when warren
      // itself runs in a VM (e.g. under Firecracker), every other family is fine.
      { names: ['socket'], action: allow, args: [{ arg: 0, op: 'ne', value: AF_VSOCK }] },
      // Other personas turn off ASLR (ADDR_NO_RANDOMIZE) or make readable memory executable.
      ...PERSONALITIES.map((p): SeccompRule => ({
        names: ['personality'],
        action: allow,
        args: [{ arg: 0, op: 'eq', value: p }],
      })),
      // clone without namespace flags is fork and pthread_create; with them it is
      // unshare under another name. (On s390 the flags are arg1; not an arch we run on.)
      {
        names: ['clone'],
        action: allow,
        args: [{ arg: 0, op: 'masked-eq', mask: CLONE_NAMESPACE_FLAGS, value: 0 }],
      },
      // clone3 passes its flags in memory, where a filter cannot look. ENOSYS,
      // not EPERM, makes glibc fall back to clone, which the rule above checks.
      { names: ['clone3'], action: { kind: 'errno', errno: ENOSYS } },
    ],
  };
}
