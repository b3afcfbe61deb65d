#include "child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf.h"
#include "init.h"
#include "netlink.h"
#include "protocol.h"
#include "rootfs.h"
#include "trace.h"

extern char **environ;

/* Into its cgroups before anything else runs, so that everything it does counts against its
 * limits ("0" is the writer itself). */
static int join_cgroups(const char *const *cgroups, size_t n, struct werr *err) {
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroups[i]);
    int fd cleanup_close = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) return werr_set(err, "cgroup", errno, "join '%s'", cgroups[i]);
  }
  return 0;
}

/* Reports a failed step to the spawner as a message: stage, errno, text. */
static void report_error(int sync_fd, const struct werr *err) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%c%s%c%d%c%s", SYNC_ERROR, err->stage ? err->stage : "setup", 0, err->errnum, 0,
                   err->msg);
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  if (send(sync_fd, buf, (size_t)n + 1, MSG_NOSIGNAL) < 0) { /* the spawner is gone: nobody to tell */ }
}

__attribute__((noreturn)) static void fail(int sync_fd, const struct werr *err, int code) {
  report_error(sync_fd, err);
  _exit(code);
}

pid_t runner_pid;

/* Every one of fd 0-2 is replaced, whatever the request says: nothing of the spawner's own stdio
 * (the runner's terminal or log file) may reach a sandbox. A pipe end is opened anew through the
 * runner's /proc entry (the host's /proc: this comes before the root changes) and must be a pipe,
 * so that a request can never hand the sandbox a host file. */
static int open_stdio(const struct spec *s, struct werr *err) {
  int null = -1; /* one /dev/null for every fd that gets it */
  for (int fd = 0; fd < 3; fd++) {
    const struct stdio_spec *io = &s->stdio[fd];
    char path[64] = "/dev/null";
    if (io->kind == STDIO_PIPE) snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)runner_pid, io->runner_fd);
    else if (null >= 0) {
      if (dup2(null, fd) < 0) return werr_set(err, "stdio", errno, "dup2 '%s' to fd %d", path, fd);
      continue;
    }
    /* an anonymous pipe's open never waits for its other side (unlike a named FIFO's): a reader
     * the host closed already cannot hang the setup; the sandbox's writes get EPIPE. /dev/null is
     * opened for reading and writing, as it may serve fd 0 and fd 1-2 alike */
    int flags = io->kind == STDIO_NULL ? O_RDWR : fd == 0 ? O_RDONLY : O_WRONLY;
    int f = open(path, flags | O_NOCTTY | O_CLOEXEC);
    if (f < 0) return werr_set(err, "stdio", errno, "open '%s' for fd %d", path, fd);
    struct stat st;
    if (io->kind == STDIO_PIPE && (fstat(f, &st) < 0 || !S_ISFIFO(st.st_mode))) {
      close(f);
      return werr_set(err, "stdio", EINVAL, "'%s' for fd %d is not a pipe", path, fd);
    }
    /* dup2 clears close-on-exec on the copy; f == fd (a fd 0-2 the spawner had closed) is the copy */
    if (f == fd ? fcntl(f, F_SETFD, 0) < 0 : dup2(f, fd) < 0) return werr_set(err, "stdio", errno, "dup2 '%s' to fd %d", path, fd);
    if (io->kind == STDIO_NULL) null = f;
    else if (f != fd) close(f);
  }
  if (null > 2) close(null); /* not when it is one of 0-2 itself */
  return 0;
}

/* The spawner's other descriptors (the control socket, other sandboxes' sync sockets, cached
 * user namespaces) must not survive in the sandbox: close all but stdio and the two we need. */
static void close_except(int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  syscall(SYS_close_range, 3, lo - 1, 0);
  if (hi > lo + 1) syscall(SYS_close_range, lo + 1, hi - 1, 0);
  if (trace_enabled && trace_fd > hi) {
    syscall(SYS_close_range, hi + 1, trace_fd - 1, 0);
    syscall(SYS_close_range, trace_fd + 1, ~0U, 0);
  } else {
    syscall(SYS_close_range, hi + 1, ~0U, 0);
  }
}

/* Joins the sandbox's user namespace and becomes its root (an unprivileged uid on the host).
 * This comes after every mount: the mount, pid and net namespaces stay owned by the host's user
 * namespace, so even a capability regained inside would give no power over them. */
static int become_sandbox_root(int userns_fd, struct werr *err) {
  if (setns(userns_fd, CLONE_NEWUSER) < 0) return werr_set(err, "userns", errno, "join the user namespace");
  close(userns_fd);
  if (setresgid(0, 0, 0) < 0) return werr_set(err, "userns", errno, "setresgid 0");
  if (setgroups(0, NULL) < 0) return werr_set(err, "userns", errno, "setgroups");
  if (setresuid(0, 0, 0) < 0) return werr_set(err, "userns", errno, "setresuid 0");
  /* cleared by the credential change above, so set here: the spawner's death kills the sandbox */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return werr_set(err, "userns", errno, "set the parent-death signal");
  return 0;
}

/* Every capability goes: bounding set (so an exec as root gains none), ambient, then the sets. */
static int drop_capabilities(struct werr *err) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return werr_set(err, "caps", errno, "set no_new_privs");
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      return werr_set(err, "caps", errno, "drop capability %d from the bounding set", cap);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return werr_set(err, "caps", errno, "clear the ambient set");
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {{0}};
  if (syscall(SYS_capset, &hdr, data) < 0) return werr_set(err, "caps", errno, "clear the capability sets");
  return 0;
}

static int load_seccomp(const struct seccomp_bpf *bpf, struct werr *err) {
  struct sock_fprog prog = {.len = bpf->len, .filter = bpf->filter};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) return werr_set(err, "seccomp", errno, "load the filter");
  return 0;
}

/* Everything after the cgroups, up to the seccomp filter. */
static int setup(const struct spec *s, int sync_fd, int userns_fd, int netns_fd, const struct seccomp_bpf *bpf,
                 struct werr *err) {
  /* a pooled netns comes configured (netpool.c); joined while we are still the host's root */
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) return werr_set(err, "netns", errno, "join the pooled netns");
  /* stdio comes through the host's /proc: before the root changes */
  if (open_stdio(s, err) < 0) return -1;
  close_except(sync_fd, userns_fd);
  /* own session: the caller's terminal signals reach the runner, which forwards them, not us */
  if (setsid() < 0) return werr_set(err, "setsid", errno, "setsid");
  /* after joining our cgroups, so that they are this namespace's root */
  if (unshare(CLONE_NEWCGROUP) < 0) return werr_set(err, "cgroupns", errno, "unshare the cgroup namespace");
  trace_mark("cgroupns");
  if (rootfs_setup(s, userns_fd, err) < 0) return -1;
  trace_mark("rootfs");
  if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
    return werr_set(err, "hostname", errno, "sethostname '%s'", s->hostname);
  /* a fresh netns (no pool) needs its lo up, while we are still the host's root */
  if (netns_fd < 0 && nl_loopback_up(err) < 0) return -1;
  trace_mark("hostname+net");
  if (become_sandbox_root(userns_fd, err) < 0) return -1;
  trace_mark("userns");
  for (size_t i = 0; i < s->nrlimits; i++)
    if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].lim) < 0)
      return werr_set(err, "rlimit", errno, "setrlimit %d", s->rlimits[i].resource);
  if (drop_capabilities(err) < 0) return -1;
  trace_mark("caps");
  /* last: from here on every syscall of init and the command is filtered */
  int r = load_seccomp(bpf, err);
  trace_mark("seccomp");
  return r;
}

__attribute__((noreturn)) static void exec_command(const struct spec *s, int report_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* {step, errno}: step 0 is the chdir (a workdir such as /proc/self/fd/N, CVE-2024-21626, is
   * named as the workdir that failed, not as a failed exec), 1 the exec */
  int e[2] = {0, 0};
  if (chdir(s->cwd) < 0) e[1] = errno;
  if (!e[1]) {
    environ = (char **)s->envp; /* execvpe searches the PATH of the sandbox's environment */
    execvpe(s->argv[0], (char *const *)s->argv, (char *const *)s->envp);
    e[0] = 1;
    e[1] = errno;
  }
  if (write(report_fd, e, sizeof e) < 0) { /* init sees EOF and reports a generic failure */ }
  _exit(e[1] == ENOENT ? 127 : 126);
}

static void become_init(char *name_area, size_t name_len) {
  prctl(PR_SET_NAME, "warren:[init]", 0, 0, 0);
  memset(name_area, 0, name_len);
  strncpy(name_area, "warren:[init]", name_len - 1);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The sandbox is set up: start the command, say READY (or why not), and be its init. */
__attribute__((noreturn)) static void run(const struct spec *s, int sync_fd) {
  struct werr err = {0};
  sigset_t set;
  init_block_signals(&set);
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) fail(sync_fd, &(struct werr){"exec", errno, "pipe"}, 125);
  /* vfork: no copy of init's page tables for a child that only execs (exec_command touches
   * nothing of ours but environ, which init never reads) */
  pid_t cmd = vfork();
  if (cmd < 0) fail(sync_fd, &(struct werr){"exec", errno, "fork the command"}, 125);
  if (cmd == 0) exec_command(s, report[1]);
  close(report[1]);
  int e[2] = {1, 0};
  ssize_t n = read(report[0], e, sizeof e); /* EOF: the exec succeeded (the pipe is close-on-exec) */
  close(report[0]);
  trace_mark("exec");
  if (n > 0) {
    if (e[0] == 0) werr_set(&err, "exec", e[1], "chdir to the workdir '%s'", s->cwd);
    else werr_set(&err, "exec", e[1], "exec '%s'", s->argv[0]);
    report_error(sync_fd, &err);
  } else {
    char r = SYNC_READY;
    send(sync_fd, &r, 1, MSG_NOSIGNAL);
  }
  close(sync_fd);
  init_loop(cmd, &set);
}

/* The spawn request of a parked child: the frame's payload in one packet, and with it the user
 * namespace's fd and, for a pooled network namespace, its fd (SCM_RIGHTS, in that order). */
static ssize_t recv_request(int sync_fd, char *buf, size_t cap, int *userns_fd, int *netns_fd) {
  char control[CMSG_SPACE(2 * sizeof(int))];
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n = recvmsg(sync_fd, &mh, MSG_CMSG_CLOEXEC);
  if (n <= 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return n < 0 ? -1 : (n == 0 ? 0 : -1);
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int fds[2] = {-1, -1};
    memcpy(fds, CMSG_DATA(c), (nfds > 2 ? 2 : nfds) * sizeof(int));
    *userns_fd = fds[0];
    *netns_fd = fds[1];
  }
  return n;
}

void child_main(const char *const *cgroups, size_t ncgroups, int sync_fd, char *name_area, size_t name_len) {
  /* static: the spawner never writes these (no copy-on-write for it), the child's copies are its own */
  static struct msg m;
  static struct spec s;
  static char payload[WARREN_FRAME_MAX];
  struct werr err = {0};
  become_init(name_area, name_len);
  if (join_cgroups(cgroups, ncgroups, &err) < 0) fail(sync_fd, &err, 125);
  trace_mark("cgroups");
  int userns_fd = -1, netns_fd = -1;
  ssize_t n = recv_request(sync_fd, payload, sizeof payload, &userns_fd, &netns_fd);
  if (n == 0) _exit(0); /* never used: the spawner closed our socket (its runner dropped us) */
  if (n < 0 || userns_fd < 0) { werr_set(&err, "sync", errno, "expected a spawn request and its fds"); fail(sync_fd, &err, 125); }
  trace_mark("go");
  if (msg_parse(payload, (size_t)n, &m) < 0) { werr_set(&err, "request", EINVAL, "malformed spawn request"); fail(sync_fd, &err, 125); }
  if (spec_parse(&m, &s, &err) < 0) fail(sync_fd, &err, 125);
  const struct seccomp_bpf *bpf = bpf_get(s.seccomp, &err);
  if (!bpf) fail(sync_fd, &err, 125);
  /* no pooled netns: a fresh one, as the clone flag would have made it */
  if (netns_fd < 0 && unshare(CLONE_NEWNET) < 0) { werr_set(&err, "netns", errno, "unshare the network namespace"); fail(sync_fd, &err, 125); }
  if (setup(&s, sync_fd, userns_fd, netns_fd, bpf, &err) < 0) fail(sync_fd, &err, 125);
  run(&s, sync_fd);
}
