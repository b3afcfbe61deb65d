/**
 * The seccomp filter as the command meets it: each syscall the issue names is denied with EPERM,
 * namespace-creating clone is denied, clone3 says ENOSYS (so glibc falls back to clone, which the
 * filter can inspect), and ordinary calls still work. Syscalls newer than libseccomp 2.5.4 that
 * Docker allows reach the kernel, and a number past every syscall the policy names says ENOSYS,
 * so a new libc falls back to the older call instead of failing with EPERM.
 */
import t from 'tap';
import { NEEDS_ROOT, probe } from './helpers.js';

const DENIED = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'mount', 'umount2', 'pivot_root', 'unshare', 'setns',
  'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup',
  'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module',
  'open_by_handle_at', 'clone_newns', 'lsm_set_self_attr',
];
const ALLOWED = ['getpid', 'getppid', 'uname', 'clock_gettime', 'openat'];
const EPERM = 1;
const ENOSYS = 38;
const ENOENT = 2;
const EAGAIN = 11;

t.test('denied syscalls return EPERM, allowed ones work', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ results: Record<string, number> }>([], ['syscalls']);
  for (const name of DENIED) t.equal(r.results[name], EPERM, `${name} -> EPERM`);
  for (const name of ALLOWED) t.equal(r.results[name], 0, `${name} allowed`);
  t.equal(r.results.clone3, ENOSYS, 'clone3 -> ENOSYS, so libc falls back to a filtered clone');
});

t.test('syscalls newer than the policy say ENOSYS; new ones it allows work', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ results: Record<string, number> }>([], ['syscalls']);
  // What the kernel answers once the filter lets the call through; ENOSYS from a kernel older
  // than the syscall (fchmodat2: 6.6, futex2: 6.7, mseal: 6.10), never EPERM from the filter.
  const kernel: [string, number][] = [
    ['fchmodat2', ENOENT], // a missing path
    ['futex_wake', 0], // nobody to wake
    ['futex_wait', EAGAIN], // the word does not hold the expected value
    ['mseal', 0], // an empty range
  ];
  for (const [name, errno] of kernel) {
    t.ok([errno, ENOSYS].includes(r.results[name] ?? -1), `${name} -> ${r.results[name]}, want ${errno} (or ENOSYS)`);
  }
  t.equal(r.results.nr_1000, ENOSYS, 'syscall 1000 -> ENOSYS from the filter, not EPERM');
});

t.test('threads still work under the filter (clone without namespace flags)', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ threads: number; cpu_seconds: number }>([], ['cpuburn', '0.2', '2']);
  t.equal(r.$.code, 0, r.$.stderr);
  t.equal(r.threads, 2);
});

t.test('node itself runs under the filter', { skip: NEEDS_ROOT }, async (t) => {
  const { warren } = await import('./helpers.js');
  const r = await warren(['run', '--', 'node', '-e', 'require("fs").writeFileSync("/tmp/x", "1"); console.log(require("fs").readFileSync("/tmp/x", "utf8"), require("os").cpus().length > 0)']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), '1 true');
});
