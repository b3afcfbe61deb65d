/* Commands that replay the first step of known container escapes (test/regress/cve-*): each tries
 * the step and reports the errno, and none changes anything even when it succeeds on a host:
 * openw opens for writing without O_TRUNC and writes nothing; cgroups opens release_agent and
 * friends the same way and unmounts what it mounted; setcap tags only a file it made itself and
 * removes it; connect sends nothing but a SYN. */
#define _GNU_SOURCE
#include "probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 2000
#define WALK_DEPTH 4

/* PATH opened for writing three ways: directly, and as CVE-2019-5736's variant did, through an
 * O_PATH fd reopened by its /proc/self/fd link. Nothing is written; each fd is closed at once. */
int cmd_openw(char **args, struct perr *err) {
  (void)err;
  const char *path = args[0];
  char link[4096];
  ssize_t n = readlink(path, link, sizeof link - 1);
  int link_errno = n < 0 ? errno : 0;
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  int direct = fd < 0 ? errno : 0;
  if (fd >= 0) close(fd);
  int opath_errno = 0, reopen_errno = -1;
  int p = open(path, O_PATH | O_CLOEXEC);
  if (p < 0) {
    opath_errno = errno;
  } else {
    char via[64];
    snprintf(via, sizeof via, "/proc/self/fd/%d", p);
    int w = open(via, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    reopen_errno = w < 0 ? errno : 0;
    if (w >= 0) close(w);
    close(p);
  }
  json_begin_object(NULL);
  json_string("path", path);
  if (n >= 0) json_string_n("link", link, (size_t)n); else json_null("link");
  json_int("link_errno", link_errno);
  json_int("errno", direct);
  json_int("opath_errno", opath_errno);
  json_int("reopen_errno", reopen_errno); /* -1: not tried, the O_PATH open failed */
  json_end_object();
  json_end_line();
  return 0;
}

/* The mounts CVE-2022-0492 needed, tried in a child (they must not outlive it): the cgroup
 * hierarchies straight away, then again after unsharing user, mount and cgroup namespaces. Each
 * mount that works is unmounted at once. Results go back through a shared page. */
static const char *const hierarchies[][2] = {{"rdma", "cgroup"}, {"memory", "cgroup"}, {"", "cgroup2"}};
#define NH (sizeof hierarchies / sizeof hierarchies[0])

struct cg_result {
  int unshare_errno;
  int before[NH];
  int after[NH];
};

static int try_mount(const char *dir, size_t i) {
  const char *opts = hierarchies[i][0][0] ? hierarchies[i][0] : NULL;
  if (mount(hierarchies[i][1], dir, hierarchies[i][1], MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) return errno;
  umount2(dir, MNT_DETACH);
  return 0;
}

static void cg_child(struct cg_result *r) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/probe-cg-%d", (int)getpid());
  int made = mkdir(dir, 0700) == 0;
  for (size_t i = 0; i < NH; i++) r->before[i] = made ? try_mount(dir, i) : errno;
  r->unshare_errno = unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0 ? errno : 0;
  for (size_t i = 0; i < NH; i++) r->after[i] = r->unshare_errno ? -1 : (made ? try_mount(dir, i) : ENOENT);
  if (made) rmdir(dir);
  _exit(0);
}

static bool cg_target(const char *name) {
  return !strcmp(name, "release_agent") || !strcmp(name, "notify_on_release") || !strcmp(name, "cgroup.procs") ||
         !strcmp(name, "tasks") || !strcmp(name, "cgroup.subtree_control");
}

/* Every release_agent, notify_on_release, cgroup.procs, tasks and cgroup.subtree_control under
 * DIR (a few levels deep): the ones that open for writing go into the array. */
static void walk_writable(const char *dir, int depth, int *checked) {
  if (depth > WALK_DEPTH) return;
  DIR *d cleanup_dir = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_type == DT_DIR) {
      walk_writable(path, depth + 1, checked);
    } else if (cg_target(e->d_name)) {
      (*checked)++;
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        close(fd);
        json_string(NULL, path);
      }
    }
  }
}

int cmd_cgroups(char **args, struct perr *err) {
  (void)args;
  struct cg_result *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return perr_set(err, errno, "mmap");
  memset(r, 0xff, sizeof *r);
  pid_t pid = fork();
  if (pid < 0) return perr_set(err, errno, "fork");
  if (pid == 0) cg_child(r);
  int status;
  if (waitpid(pid, &status, 0) < 0) return perr_set(err, errno, "waitpid");
  json_begin_object(NULL);
  json_int("child_status", WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status));
  json_int("unshare_errno", r->unshare_errno);
  const char *phase[] = {"mount", "mount_after_unshare"};
  for (int ph = 0; ph < 2; ph++) {
    json_begin_object(phase[ph]);
    for (size_t i = 0; i < NH; i++)
      json_int(hierarchies[i][0][0] ? hierarchies[i][0] : hierarchies[i][1], ph ? r->after[i] : r->before[i]);
    json_end_object();
  }
  int checked = 0;
  json_begin_array("writable");
  walk_writable("/sys/fs/cgroup", 0, &checked);
  json_end_array();
  json_int("checked", checked);
  json_end_object();
  json_end_line();
  munmap(r, sizeof *r);
  return 0;
}

/* Every process's capability sets from /proc/N/status. */
int cmd_procs(char **args, struct perr *err) {
  (void)args;
  DIR *d cleanup_dir = opendir("/proc");
  if (!d) return perr_set(err, errno, "opendir '/proc'");
  static const char *const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
  json_begin_object(NULL);
  json_begin_array("procs");
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || end == e->d_name) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f cleanup_file = fopen(path, "re");
    if (!f) continue;
    json_begin_object(NULL);
    json_int("pid", pid);
    char line[256];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = '\0';
      char *colon = strchr(line, ':');
      if (!colon) continue;
      *colon = '\0';
      char *v = colon + 1 + strspn(colon + 1, " \t");
      if (!strcmp(line, "Name")) json_string("name", v);
      for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (!strcmp(line, keys[k])) json_string(keys[k], v);
    }
    json_end_object();
  }
  json_end_array();
  json_end_object();
  json_end_line();
  return 0;
}

/* A file of its own in DIR, tagged as setcap cap_sys_admin+ep would (VFS_CAP_REVISION_2), then
 * removed: whether this sandbox may give a file capabilities at all. */
int cmd_setcap(char **args, struct perr *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/probe-cap-%d", args[0], (int)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (fd < 0) return perr_set(err, errno, "create '%s'", path);
  close(fd);
  uint32_t cap[5] = {0x02000001 /* revision 2, effective */, 1u << 21 /* CAP_SYS_ADMIN */, 0, 0, 0};
  int e = setxattr(path, "security.capability", cap, sizeof cap, 0) < 0 ? errno : 0;
  int unlink_errno = unlink(path) < 0 ? errno : 0;
  json_begin_object(NULL);
  json_int("errno", e);
  json_int("unlink_errno", unlink_errno);
  json_end_object();
  json_end_line();
  return 0;
}

/* A TCP connect to ADDR (IPv4, or IPv6 with an optional %ifname scope) and PORT, bounded by a
 * timeout (ETIMEDOUT); nothing is sent past the handshake. */
int cmd_connect(char **args, struct perr *err) {
  long port;
  if (parse_long(args[1], 1, 65535, &port, err) < 0) return -1;
  char addr[128];
  snprintf(addr, sizeof addr, "%s", args[0]);
  struct sockaddr_storage ss = {0};
  socklen_t len;
  char *pct = strchr(addr, '%');
  unsigned scope = 0;
  if (pct) {
    *pct = '\0';
    scope = if_nametoindex(pct + 1);
  }
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof *in4;
  } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    in6->sin6_scope_id = scope;
    len = sizeof *in6;
  } else {
    return perr_usage(err, "'%s' is not an IPv4 or IPv6 address", args[0]);
  }
  int e = 0;
  int fd cleanup_close = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    e = errno;
  } else if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
    e = errno;
    if (e == EINPROGRESS) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int n = poll(&p, 1, CONNECT_TIMEOUT_MS);
      socklen_t elen = sizeof e;
      if (n == 0) e = ETIMEDOUT;
      else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0) e = errno;
    }
  }
  json_begin_object(NULL);
  json_string("addr", args[0]);
  json_int("scope", scope);
  json_int("errno", e);
  json_end_object();
  json_end_line();
  return 0;
}
