/**
 * The seccomp filter as the command meets it: each syscall the issue names is denied with EPERM,
 * namespace-creating clone is denied, clone3 says ENOSYS (so glibc falls back to clone, which the
 * filter can inspect), and ordinary calls still work.
 */
import t from 'tap';
import { NEEDS_ROOT, probe } from './helpers.js';

const DENIED = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'mount', 'umount2', 'pivot_root', 'unshare', 'setns',
  'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup',
  'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module',
  'open_by_handle_at', 'clone_newns',
];
const ALLOWED = ['getpid', 'getppid', 'uname', 'clock_gettime', 'openat'];
const EPERM = 1;
const ENOSYS = 38;

t.test('denied syscalls return EPERM, allowed ones work', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ results: Record<string, number> }>([], ['syscalls']);
  for (const name of DENIED) t.equal(r.results[name], EPERM, `${name} -> EPERM`);
  for (const name of ALLOWED) t.equal(r.results[name], 0, `${name} allowed`);
  t.equal(r.results.clone3, ENOSYS, 'clone3 -> ENOSYS, so libc falls back to a filtered clone');
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
