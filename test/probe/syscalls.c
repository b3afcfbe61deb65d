/* `syscalls`: tries each syscall of a table and reports 0 or its errno, so a test can check the
 * sandbox's seccomp filter from inside. The arguments are chosen so that, without a filter, a call
 * would mostly succeed or fail with something other than EPERM, and so that a call that does succeed
 * changes nothing that outlives its child: pivot_root, kexec_load and acct get arguments that fail
 * after the permission check, where the obvious ones could pivot the root, unload a kexec image or
 * stop process accounting.
 *
 * Every attempt runs in a forked child that sends its errno back through a pipe: calls that change
 * the caller (unshare, ptrace) stay out of the probe, and a filter that kills (SECCOMP_RET_KILL, an
 * unhandled SIGSYS) costs one entry, reported as minus the signal number, not the whole report. */
#define _GNU_SOURCE
#include "probe.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A call that blocks longer than this is reported as -SIGALRM. */
#define ATTEMPT_TIMEOUT_SECONDS 10

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_PROCESS_KEYRING (-2)
#define KEY_SPEC_SESSION_KEYRING (-3)
#define BPF_MAP_CREATE 0
#define BPF_ATTR_SIZE 72
#define UFFD_USER_MODE_ONLY 1
#define KEXEC_SEGMENT_MAX 16
#define REBOOT_MAGIC1 0xfee1deadUL
#define REBOOT_MAGIC2 672274793UL
#define REBOOT_CMD_INVALID 0x12345678UL
#define CLOCK_INVALID 12345
#define CLONE_ARGS_SIZE_VER2 88

/* Newer than the build host's headers (glibc 2.36 stops at 450). The numbers are the same on every
 * architecture that numbers from asm-generic, x86_64 included. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#endif
#ifndef SYS_futex_wait
#define SYS_futex_wait 455
#endif
#ifndef SYS_lsm_set_self_attr
#define SYS_lsm_set_self_attr 460
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128
#define FUTEX_BITSET_MATCH_ANY 0xffffffffUL
#define LSM_ATTR_CURRENT 100
/* Far past any syscall the filter's policy names, and past the kernel's own table. */
#define SYS_NEWER_THAN_POLICY 1000

static int result(long r) { return r < 0 ? errno : 0; }

/* For calls that return an fd on success. */
static int result_fd(long r) {
  if (r < 0) return errno;
  close((int)r);
  return 0;
}

static void wait_child(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

static int try_ptrace(void) { return result(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0)); }

static char vm_source = 'p', vm_target;

static int try_process_vm_readv(void) {
  char local;
  struct iovec l = {&local, 1}, r = {&vm_source, 1};
  return result(syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0));
}

static int try_process_vm_writev(void) {
  struct iovec l = {&vm_source, 1}, r = {&vm_target, 1};
  return result(syscall(SYS_process_vm_writev, getpid(), &l, 1, &r, 1, 0));
}

/* Without /tmp the answer is ENOENT: the kernel resolves the target before checking permission. */
static int try_mount(void) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/probe-mnt-%d", (int)getpid());
  mkdir(dir, 0700);
  long r = syscall(SYS_mount, "none", dir, "tmpfs", 0, NULL);
  int e = result(r);
  if (r == 0) umount2(dir, MNT_DETACH);
  rmdir(dir);
  return e;
}

static int try_umount2(void) { return result(syscall(SYS_umount2, "/proc/does-not-exist", 0)); }

/* pivot_root("/tmp", "/tmp") would pivot a sandbox whose /tmp is a mount point; missing paths fail with
 * ENOENT after the permission check instead. */
static int try_pivot_root(void) {
  return result(syscall(SYS_pivot_root, "/nonexistent-probe-new-root", "/nonexistent-probe-put-old"));
}

static int try_unshare(void) { return result(syscall(SYS_unshare, CLONE_NEWUSER)); }
static int try_setns(void) { return result(syscall(SYS_setns, -1, 0)); }

static int try_keyctl(void) {
  return result(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static int try_add_key(void) {
  return result(syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
}

static int try_request_key(void) { return result(syscall(SYS_request_key, "user", "probe-none", NULL, 0)); }

static int try_bpf(void) {
  union {
    char bytes[BPF_ATTR_SIZE];
    uint64_t align;
  } attr;
  memset(&attr, 0, sizeof attr);
  return result_fd(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, BPF_ATTR_SIZE));
}

static int try_perf_event_open(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  return result_fd(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}

static int try_userfaultfd(void) { return result_fd(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY)); }

static int try_io_uring_setup(void) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  return result_fd(syscall(SYS_io_uring_setup, 1, &params));
}

static int try_io_uring_enter(void) { return result(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0)); }
static int try_io_uring_register(void) { return result(syscall(SYS_io_uring_register, -1, 0, NULL, 0)); }

/* Zero segments would unload the loaded kexec image; one more than the maximum fails with EINVAL. */
static int try_kexec_load(void) { return result(syscall(SYS_kexec_load, 0, KEXEC_SEGMENT_MAX + 1, NULL, 0)); }

static int try_kexec_file_load(void) { return result(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0)); }
static int try_init_module(void) { return result(syscall(SYS_init_module, NULL, 0, "")); }
static int try_finit_module(void) { return result(syscall(SYS_finit_module, -1, "", 0)); }
static int try_delete_module(void) { return result(syscall(SYS_delete_module, "probe-none", 0)); }

static int try_open_by_handle_at(void) {
  union {
    struct file_handle fh;
    char bytes[sizeof(struct file_handle) + 8];
  } handle;
  memset(&handle, 0, sizeof handle);
  return result_fd(syscall(SYS_open_by_handle_at, AT_FDCWD, &handle.fh, O_RDONLY));
}

static int try_chroot(void) { return result(syscall(SYS_chroot, "/")); }

/* An invalid command: this call can never reboot, halt or kexec, whatever it is allowed. */
static int try_reboot(void) {
  return result(syscall(SYS_reboot, REBOOT_MAGIC1, REBOOT_MAGIC2, REBOOT_CMD_INVALID, NULL));
}

static int try_swapon(void) { return result(syscall(SYS_swapon, "/nonexistent", 0)); }

/* An invalid clock: this call can never set the time. */
static int try_clock_settime(void) { return result(syscall(SYS_clock_settime, CLOCK_INVALID, NULL)); }

/* acct(NULL) would stop the host's process accounting when run as root there. */
static int try_acct(void) { return result(syscall(SYS_acct, "/nonexistent-probe-acct")); }

static int try_clone_newns(void) {
  long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid < 0) return errno;
  wait_child((pid_t)pid);
  return 0;
}

/* struct clone_args as of Linux 5.7: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
 * stack_size, tls, set_tid, set_tid_size, cgroup. Spelled out to stay independent of the headers. */
static int try_clone3(void) {
  uint64_t args[11];
  _Static_assert(sizeof args == CLONE_ARGS_SIZE_VER2, "clone_args v2 is 88 bytes");
  memset(args, 0, sizeof args);
  args[4] = SIGCHLD;
  long pid = syscall(SYS_clone3, args, sizeof args);
  if (pid == 0) _exit(0);
  if (pid < 0) return errno;
  wait_child((pid_t)pid);
  return 0;
}

/* Syscalls newer than libseccomp 2.5.4, allowed as in Docker. A missing path: ENOENT, as only a kernel
 * that looked it up can say (ENOSYS before 6.6). */
static int try_fchmodat2(void) {
  return result(syscall(SYS_fchmodat2, AT_FDCWD, "/nonexistent-probe-fchmodat2", 0644, 0));
}

/* No waiter on a private word: wakes 0, returns 0. */
static int try_futex_wake(void) {
  uint32_t word = 0;
  return result(syscall(SYS_futex_wake, &word, FUTEX_BITSET_MATCH_ANY, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE));
}

/* The word is not the expected value, so the call returns EAGAIN at once instead of sleeping. */
static int try_futex_wait(void) {
  uint32_t word = 0;
  return result(syscall(SYS_futex_wait, &word, 1, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
                        NULL, CLOCK_MONOTONIC));
}

/* An empty range: seals nothing, returns 0. */
static int try_mseal(void) { return result(syscall(SYS_mseal, 0, 0, 0)); }

/* A context too short to hold a label: EINVAL from a kernel that gets to see it. */
static int try_lsm_set_self_attr(void) {
  return result(syscall(SYS_lsm_set_self_attr, LSM_ATTR_CURRENT, NULL, 0, 0));
}

/* A syscall newer than the filter's policy: the filter should say ENOSYS, so a libc falls back. */
static int try_newer_than_policy(void) { return result(syscall(SYS_NEWER_THAN_POLICY, 0, 0, 0, 0, 0, 0)); }

/* Controls: a filter that blocks these is broken, not strict. */
static int try_getpid(void) { return result(syscall(SYS_getpid)); }
static int try_getppid(void) { return result(syscall(SYS_getppid)); }

static int try_uname(void) {
  struct utsname u;
  return result(syscall(SYS_uname, &u));
}

static int try_clock_gettime(void) {
  struct timespec ts;
  return result(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
}

static int try_openat(void) { return result_fd(syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY)); }

static const struct attempt {
  const char *name;
  int (*run)(void);
} attempts[] = {
    {"ptrace", try_ptrace},
    {"process_vm_readv", try_process_vm_readv},
    {"process_vm_writev", try_process_vm_writev},
    {"mount", try_mount},
    {"umount2", try_umount2},
    {"pivot_root", try_pivot_root},
    {"unshare", try_unshare},
    {"setns", try_setns},
    {"keyctl", try_keyctl},
    {"add_key", try_add_key},
    {"request_key", try_request_key},
    {"bpf", try_bpf},
    {"perf_event_open", try_perf_event_open},
    {"userfaultfd", try_userfaultfd},
    {"io_uring_setup", try_io_uring_setup},
    {"io_uring_enter", try_io_uring_enter},
    {"io_uring_register", try_io_uring_register},
    {"kexec_load", try_kexec_load},
    {"kexec_file_load", try_kexec_file_load},
    {"init_module", try_init_module},
    {"finit_module", try_finit_module},
    {"delete_module", try_delete_module},
    {"open_by_handle_at", try_open_by_handle_at},
    {"chroot", try_chroot},
    {"reboot", try_reboot},
    {"swapon", try_swapon},
    {"clock_settime", try_clock_settime},
    {"acct", try_acct},
    {"clone_newns", try_clone_newns},
    {"clone3", try_clone3},
    {"fchmodat2", try_fchmodat2},
    {"futex_wake", try_futex_wake},
    {"futex_wait", try_futex_wait},
    {"mseal", try_mseal},
    {"lsm_set_self_attr", try_lsm_set_self_attr},
    {"nr_1000", try_newer_than_policy},
    {"getpid", try_getpid},
    {"getppid", try_getppid},
    {"uname", try_uname},
    {"clock_gettime", try_clock_gettime},
    {"openat", try_openat},
};

/* Runs one attempt in a child: *out is 0, an errno, or -signal when the child was killed. */
static int run_attempt(const struct attempt *a, int *out, struct perr *err) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return perr_set(err, errno, "pipe for '%s'", a->name);
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(fds[0]);
    close(fds[1]);
    return perr_set(err, saved, "fork for '%s'", a->name);
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(ATTEMPT_TIMEOUT_SECONDS);
    int r = a->run();
    _exit(write(fds[1], &r, sizeof r) == sizeof r ? 0 : 1);
  }
  close(fds[1]);
  int r;
  ssize_t n;
  do n = read(fds[0], &r, sizeof r);
  while (n < 0 && errno == EINTR);
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return perr_set(err, errno, "waitpid for '%s'", a->name);
  if (n == sizeof r) *out = r;
  else if (WIFSIGNALED(status)) *out = -WTERMSIG(status);
  else return perr_set(err, 0, "the child for '%s' exited with %d without a result", a->name, WEXITSTATUS(status));
  return 0;
}

int cmd_syscalls(char **args, struct perr *err) {
  (void)args;
  size_t n = sizeof attempts / sizeof attempts[0];
  int results[sizeof attempts / sizeof attempts[0]];
  /* nothing may sit in stdio's buffer when a child is forked: a child that flushes would print it twice */
  fflush(NULL);
  for (size_t i = 0; i < n; i++)
    if (run_attempt(&attempts[i], &results[i], err) < 0) return -1;
  json_begin_object(NULL);
  json_begin_object("results");
  for (size_t i = 0; i < n; i++) json_int(attempts[i].name, results[i]);
  json_end_object();
  json_end_object();
  json_end_line();
  return 0;
}
