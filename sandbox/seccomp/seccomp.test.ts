import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { isWarrenError, type ErrorCode } from '../../lib/errors.js';
import { NEWER_LIMIT, compileSeccomp } from './compile.js';
import { loadLibseccomp, resolveSyscall } from './libseccomp.js';
import { ABSENT_ON_X86_64, DENIED_SYSCALLS, defaultPolicy, type SeccompPolicy } from './policy.js';
import { NEWER_SYSCALLS_X86_64, syscallNumber } from './syscalls.js';

/** The libseccomp stamp compileSeccomp keeps in its cache dir. */
const STAMP = 'libseccomp.json';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-seccomp-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

let dirs = 0;
/** A fresh cache dir per test, so no test sees another's files. */
function cacheDir(): string {
  return path.join(tmp, `cache-${++dirs}`);
}

function small(errno: number): SeccompPolicy {
  return {
    defaultAction: { kind: 'errno', errno },
    rules: [{ names: ['read', 'write', 'exit_group'], action: { kind: 'allow' } }],
  };
}

const notX64 = process.arch !== 'x64' && `names are checked on x64, this is ${process.arch}`;
t.test('every name of the default policy resolves on x86_64', { skip: notX64 }, async (t) => {
  const names = [...defaultPolicy().rules.flatMap((r) => r.names), ...DENIED_SYSCALLS];
  const unresolved = names.filter((n) => syscallNumber(n) < 0);
  t.same(unresolved.sort(), [...ABSENT_ON_X86_64].sort(), 'only the documented names are absent');
});

t.test('the fallback numbers agree with libseccomp wherever it knows the name', { skip: notX64 }, async (t) => {
  for (const [name, nr] of Object.entries(NEWER_SYSCALLS_X86_64)) {
    const known = resolveSyscall(name);
    if (known >= 0) t.equal(known, nr, `${name} is ${known} to libseccomp`);
    t.equal(syscallNumber(name), nr, `${name} resolves to ${nr}`);
  }
  const numbers = Object.values(NEWER_SYSCALLS_X86_64);
  t.equal(new Set(numbers).size, numbers.length, 'no number twice');
});

/** The highest syscall number the default policy names: newer ones get newerAction. */
function highestNamed(policy: SeccompPolicy): number {
  return Math.max(...policy.rules.flatMap((r) => r.names).map(syscallNumber));
}

/** What the default policy does with a syscall: the first rule naming it, else the default. */
function outcome(name: string): string {
  const rules = defaultPolicy().rules.filter((r) => r.names.includes(name));
  const [rule] = rules;
  if (rule === undefined) return DENIED_SYSCALLS.includes(name) ? 'denied' : 'unnamed';
  if (rule.args?.length) return `${rule.action.kind} with args`;
  return rule.action.kind === 'errno' ? `errno ${rule.action.errno}` : rule.action.kind;
}

t.test('syscalls newer than libseccomp 2.5.4: allowed as in Docker, or denied', async (t) => {
  const cases: [string, string][] = [
    ['cachestat', 'allow'],
    ['fchmodat2', 'allow'], // glibc >= 2.39 fchmodat with flags
    ['map_shadow_stack', 'allow'], // CET shadow stacks of new threads
    ['futex_wake', 'allow'],
    ['futex_wait', 'allow'],
    ['futex_requeue', 'allow'],
    ['statmount', 'allow'],
    ['listmount', 'allow'],
    ['mseal', 'allow'], // glibc seals its own mappings
    ['setxattrat', 'allow'],
    ['getxattrat', 'allow'],
    ['listxattrat', 'allow'],
    ['removexattrat', 'allow'],
    ['uretprobe', 'allow'],
    // Docker allows these with CAP_SYS_ADMIN only.
    ['lsm_get_self_attr', 'denied'],
    ['lsm_set_self_attr', 'denied'],
    ['lsm_list_modules', 'denied'],
    // Unchanged by the new ones: clone3 still says ENOSYS so glibc falls back to clone.
    ['clone3', 'errno 38'],
    ['clone', 'allow with args'],
  ];
  for (const [name, want] of cases) t.equal(outcome(name), want, `${name}: ${want}`);
  t.same(defaultPolicy().newerAction, { kind: 'errno', errno: 38 }, 'newer syscalls: ENOSYS');
});

t.test('every denied syscall is older than the policy, so it gets EPERM, not ENOSYS', { skip: notX64 }, async (t) => {
  const highest = highestNamed(defaultPolicy());
  t.equal(highest, NEWER_SYSCALLS_X86_64.removexattrat, 'the newest syscall the policy names');
  const newer = DENIED_SYSCALLS.filter((n) => syscallNumber(n) > highest);
  t.same(newer, [], 'no denied syscall falls into the ENOSYS range');
});

t.test('newerAction is a 6-instruction prefix, and part of the cache key', async (t) => {
  const dir = cacheDir();
  const { newerAction: _, ...without } = defaultPolicy();
  const withFile = compileSeccomp(defaultPolicy(), dir);
  const withoutFile = compileSeccomp(without, dir);
  t.not(withFile, withoutFile);
  const count = (f: string): number => fs.statSync(f).size / 8;
  t.equal(count(withFile), count(withoutFile) + 6, `${count(withoutFile)} + 6 instructions`);
  // The same as the default action: nothing to add.
  const same = compileSeccomp({ ...without, newerAction: without.defaultAction }, dir);
  t.equal(count(same), count(withoutFile));
  t.throws(() => compileSeccomp({ ...without, newerAction: { kind: 'errno', errno: -1 } }, dir), {
    code: 'WARREN_SECCOMP_POLICY',
    message: /newer action: errno -1/,
  });
});

t.test('no allow rule of the default policy names a denied syscall', async (t) => {
  const allowed = new Set(
    defaultPolicy().rules.filter((r) => r.action.kind === 'allow').flatMap((r) => r.names),
  );
  t.same(DENIED_SYSCALLS.filter((n) => allowed.has(n)), []);
  t.equal(new Set(DENIED_SYSCALLS).size, DENIED_SYSCALLS.length, 'no name is denied twice');
});

t.test('the default policy compiles to a loadable program', async (t) => {
  const dir = cacheDir();
  const file = compileSeccomp(defaultPolicy(), dir);
  t.ok(path.isAbsolute(file), 'path is absolute');
  t.equal(path.dirname(file), dir);
  t.match(path.basename(file), /^[0-9a-f]{64}\.bpf$/);
  const { size } = fs.statSync(file);
  t.ok(size > 0, 'not empty');
  t.equal(size % 8, 0, 'whole sock_filter instructions');
  t.ok(size / 8 <= 4096, `${size / 8} instructions fit BPF_MAXINSNS`);
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'cache dir is private');
  // besides the program: the stamp of the libseccomp it was built with (version-stamp.ts)
  t.same(fs.readdirSync(dir).filter((f) => f !== STAMP), [path.basename(file)], 'no temp file left behind');
});

t.test('the cache returns the same file without rewriting it', async (t) => {
  const dir = cacheDir();
  const first = compileSeccomp(defaultPolicy(), dir);
  const before = fs.statSync(first, { bigint: true });
  const second = compileSeccomp(defaultPolicy(), dir);
  const after = fs.statSync(second, { bigint: true });
  t.equal(second, first);
  t.equal(after.ino, before.ino, 'same inode: not replaced');
  t.equal(after.mtimeNs, before.mtimeNs, 'same mtime: not rewritten');
});

t.test('the key follows the policy, not how its numbers are written', async (t) => {
  const dir = cacheDir();
  t.not(compileSeccomp(small(1), dir), compileSeccomp(small(13), dir), 'another errno');

  const withArg = (value: bigint | number): SeccompPolicy => ({
    defaultAction: { kind: 'errno', errno: 1 },
    rules: [
      { names: ['personality'], action: { kind: 'allow' }, args: [{ arg: 0, op: 'eq', value }] },
    ],
  });
  t.equal(compileSeccomp(withArg(8), dir), compileSeccomp(withArg(8n), dir), '8 and 8n alike');
  t.not(compileSeccomp(withArg(8), dir), compileSeccomp(withArg(0), dir));
});

t.test('a cached file that is not a whole program is rebuilt', async (t) => {
  const dir = cacheDir();
  const file = compileSeccomp(small(1), dir);
  fs.truncateSync(file, 0); // as a power loss between rename and writeback could leave it
  t.equal(compileSeccomp(small(1), dir), file);
  t.ok(fs.statSync(file).size > 0, 'rewritten');
});

t.test('invalid policies fail with a WarrenError naming the rule', async (t) => {
  const dir = cacheDir();
  const withCmp = (cmp: object): SeccompPolicy => ({
    defaultAction: { kind: 'errno', errno: 1 },
    rules: [
      { names: ['read'], action: { kind: 'allow' } },
      { names: ['write'], action: { kind: 'allow' }, args: [cmp as never] },
    ],
  });
  const cases: [string, SeccompPolicy, ErrorCode, RegExp][] = [
    ['unknown op', withCmp({ arg: 0, op: 'bogus', value: 1 }), 'WARREN_SECCOMP_POLICY',
      /rule 1 arg comparison 0: unknown op 'bogus'/],
    ['masked-eq without mask', withCmp({ arg: 0, op: 'masked-eq', value: 0 }),
      'WARREN_SECCOMP_POLICY', /masked-eq needs a mask/],
    ['negative value', withCmp({ arg: 0, op: 'eq', value: -1 }), 'WARREN_SECCOMP_POLICY',
      /outside 0\.\.2\^64-1/],
    ['errno out of range', small(70000), 'WARREN_SECCOMP_POLICY', /errno 70000/],
    // Resolves fine, but syscalls have six arguments: libseccomp says EINVAL.
    ['argument 6', withCmp({ arg: 6, op: 'eq', value: 1 }), 'WARREN_SECCOMP_COMPILE',
      /seccomp_rule_add_array 'write' \(rule 1\): EINVAL \(errno 22\)/],
  ];
  for (const [name, policy, code, message] of cases) {
    const err = (() => {
      try {
        compileSeccomp(policy, dir);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isWarrenError(err, code), `${name}: ${code}`);
    t.match((err as Error | undefined)?.message, message, `${name}: message`);
  }
  const left = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f !== STAMP) : [];
  t.same(left, [], 'failed compiles leave no files');
});

t.test('a rule repeating the default action is skipped, not an error', async (t) => {
  const policy = small(1);
  const spelled: SeccompPolicy = {
    ...policy,
    rules: [...policy.rules, { names: ['mount'], action: { kind: 'errno', errno: 1 } }],
  };
  t.ok(fs.statSync(compileSeccomp(spelled, cacheDir())).size > 0);
});

t.test('a missing library is named in the error', async (t) => {
  t.throws(() => loadLibseccomp('libseccomp-missing.so.9'), {
    code: 'WARREN_SECCOMP_LIBRARY',
    message: /load 'libseccomp-missing\.so\.9'/,
  });
});

// The program as the kernel runs it: a probe loads it and reports each call's errno.
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

/* errno is read before printf can change it: arguments are evaluated first. */
static void report(const char *name, long rc) { printf("%s %d\n", name, rc < 0 ? errno : 0); }

/* getpid through the i386 ABI: another architecture for the filter. */
static void *other_abi(void *arg) {
  long r;
  (void)arg;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  return NULL;
}

/* argv[1]: the program; argv[2..]: "name:nr", syscalls to call with all-zero arguments. */
int main(int argc, char **argv) {
  static struct sock_filter filter[4096];
  int fd = open(argv[1], O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, filter, sizeof filter);
  if (n <= 0 || n % sizeof filter[0]) { fprintf(stderr, "read %s failed\n", argv[1]); return 2; }
  close(fd);
  struct sock_fprog prog = { .len = n / sizeof filter[0], .filter = filter };
  /* before the filter: does this kernel run int 0x80 at all? (a PVM guest or ia32_emulation=0 faults it) */
  long base = fork();
  if (base == 0) { other_abi(NULL); _exit(0); }
  int bst = 0;
  if (base > 0) waitpid(base, &bst, 0);
  printf("badarch-baseline %d\n", WIFSIGNALED(bst) ? WTERMSIG(bst) : 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); return 2; }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); return 2; }

  report("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
  report("ptrace", syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
  report("getpid", syscall(SYS_getpid));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  report("personality-query", syscall(SYS_personality, 0xffffffffUL));
  report("personality-no-aslr", syscall(SYS_personality, 0x0040000UL));
  report("socket-unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  report("socket-vsock", syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0));
  long pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, NULL, 0);
  report("fork", pid);
  pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, NULL, 0);
  report("clone-newns", pid);
  /* a thread makes a call of another ABI: is the whole process killed, or only the thread? */
  pid = fork();
  if (pid == 0) {
    pthread_t th;
    pthread_create(&th, NULL, other_abi, NULL);
    sleep(1);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  printf("badarch-signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  for (int i = 2; i < argc; i++) {
    char *colon = strchr(argv[i], ':');
    *colon = 0;
    report(argv[i], syscall(strtol(colon + 1, NULL, 10), 0, 0, 0, 0, 0, 0));
  }
  return 0;
}
`;

/**
 * Denied syscalls the probe leaves out of its all-zero sweep, because if the
 * filter were broken they would act on the host: acct(NULL) stops process
 * accounting, kexec_load with no segments unloads the kexec image,
 * kexec_file_load and finit_module read fd 0, vhangup hangs up the terminal.
 */
const UNSAFE_TO_SWEEP = new Set([
  'acct', 'kexec_load', 'kexec_file_load', 'finit_module', 'vhangup',
]);

/** An errno no syscall returns by itself: seeing it proves the filter answered, not the kernel. */
const MARK = 1000;
const NEWER_MARK = 1001;

/** Why the behaviour test cannot run here, or false. */
function noProbe(): string | false {
  if (process.platform !== 'linux') return 'seccomp is Linux only';
  if (spawnSync('gcc', ['--version']).error) return 'gcc is not installed';
  return false;
}

t.test('the kernel enforces the default policy', { skip: noProbe() }, async (t) => {
  const src = path.join(tmp, 'probe.c');
  const probe = path.join(tmp, 'probe');
  fs.writeFileSync(src, PROBE_C);
  const cc = spawnSync('gcc', ['-O0', '-Wall', '-pthread', '-o', probe, src], { encoding: 'utf8' });
  t.equal(cc.status, 0, `gcc: ${cc.stderr}`);

  const run = (policy: SeccompPolicy, sweep: string[]): Map<string, number> => {
    const res = spawnSync(probe, [compileSeccomp(policy, cacheDir()), ...sweep], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // Were ptrace wrongly allowed, PTRACE_TRACEME would stop the probe at its first signal.
      timeout: 10_000,
    });
    t.equal(res.status, 0, `probe: ${res.error?.message ?? res.stderr}`);
    return new Map(
      res.stdout.trim().split('\n').map((line) => {
        const [name = '', errno = ''] = line.split(' ');
        return [name, Number(errno)] as const;
      }),
    );
  };

  const EPERM = 1;
  const ENOSYS = 38;
  const errnos = run(defaultPolicy(), ['fchmodat2:452', 'nr-1000:1000']);
  t.equal(errnos.get('unshare'), EPERM, 'unshare(CLONE_NEWUSER)');
  t.equal(errnos.get('ptrace'), EPERM, 'ptrace(PTRACE_TRACEME)');
  t.equal(errnos.get('getpid'), 0, 'getpid works');
  t.equal(errnos.get('clone3'), ENOSYS, 'clone3 says ENOSYS, so libc falls back to clone');
  if (errnos.get('badarch-baseline') === 0) {
    t.equal(errnos.get('badarch-signal'), 31, "a thread's call through another ABI kills the whole process (SIGSYS)");
  } else {
    // the kernel faults int 0x80 before any filter sees it: no other ABI to defend here
    t.equal(errnos.get('badarch-signal'), errnos.get('badarch-baseline'), 'int 0x80 faults as it does without the filter (this kernel runs no other ABI)');
  }
  t.equal(errnos.get('personality-query'), 0, 'personality(0xffffffff) works');
  t.equal(errnos.get('personality-no-aslr'), EPERM, 'personality(ADDR_NO_RANDOMIZE)');
  t.equal(errnos.get('socket-unix'), 0, 'socket(AF_UNIX) works');
  t.equal(errnos.get('socket-vsock'), EPERM, 'socket(AF_VSOCK)');
  t.equal(errnos.get('fork'), 0, 'fork works');
  t.equal(errnos.get('clone-newns'), EPERM, 'clone(CLONE_NEWNS)');
  // fchmodat2(0, NULL, 0, 0): EFAULT from a 6.6+ kernel, ENOSYS from an older one.
  t.not(errnos.get('fchmodat2'), EPERM, 'fchmodat2 is allowed');
  t.equal(errnos.get('nr-1000'), ENOSYS, 'syscall 1000, newer than the policy: ENOSYS');

  // Every denied syscall, with the default errno swapped for MARK: as root
  // some of them would fail with EPERM on their own, which would prove nothing.
  const sweep = DENIED_SYSCALLS.filter((n) => !UNSAFE_TO_SWEEP.has(n))
    .map((n) => [n, syscallNumber(n)] as const)
    .filter(([, nr]) => nr >= 0);
  const marked = run(
    { ...defaultPolicy(), defaultAction: { kind: 'errno', errno: MARK } },
    sweep.map(([n, nr]) => `${n}:${nr}`),
  );
  for (const [name] of sweep) t.equal(marked.get(name), MARK, `${name} is denied by the filter`);

  // The newer range, with its ENOSYS swapped for NEWER_MARK, and the syscalls new to the policy
  // (all but uretprobe, which kills a caller that is not the kernel's uretprobe trampoline).
  const first = highestNamed(defaultPolicy()) + 1;
  const allowedNew = Object.entries(NEWER_SYSCALLS_X86_64)
    .filter(([n]) => outcome(n) === 'allow' && n !== 'uretprobe');
  const edges = run(
    {
      ...defaultPolicy(),
      defaultAction: { kind: 'errno', errno: MARK },
      newerAction: { kind: 'errno', errno: NEWER_MARK },
    },
    [
      `highest:${first - 1}`, `first-newer:${first}`, `last-newer:${NEWER_LIMIT - 1}`,
      `past-limit:${NEWER_LIMIT}`, 'unnamed-gap:400', 'getpid-again:39',
      ...allowedNew.map(([n, nr]) => `${n}:${nr}`),
    ],
  );
  t.not(edges.get('highest'), NEWER_MARK, `${first - 1}, the newest named syscall, is the policy's`);
  t.equal(edges.get('first-newer'), NEWER_MARK, `${first} is newer than the policy`);
  t.equal(edges.get('last-newer'), NEWER_MARK, `${NEWER_LIMIT - 1} is newer than the policy`);
  t.equal(edges.get('past-limit'), MARK, `${NEWER_LIMIT} gets the default action`);
  t.equal(edges.get('unnamed-gap'), MARK, '400, below the newest named, gets the default action');
  t.equal(edges.get('getpid-again'), 0, 'allowed syscalls still pass the prefix');
  for (const [name] of allowedNew) {
    t.ok(![MARK, NEWER_MARK].includes(edges.get(name) ?? MARK), `${name} reaches the kernel`);
  }
});
