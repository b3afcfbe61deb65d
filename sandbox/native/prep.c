#include "prep.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "nofork.h"
#include "protocol.h"

/* What the child starts from, in ordinary memory (the request the cgroup dirs came in, and the
 * spawner's stack, are memory no child gets: nofork.h). One page, so that a clone costs the
 * spawner one copy-on-write fault for it. */
static struct {
  int sync_fd, spawner_end;
  size_t ncgroups;
  char *name_area;
  size_t name_len;
  const char *dirs[16];
  char bytes[4096 - 16 * sizeof(char *) - 4 * sizeof(size_t)];
} __attribute__((aligned(4096))) cgroup_copy;

static int copy_cgroups(const char *id, const char *const *cgroups, size_t n, struct werr *err) {
  if (n > 16) return werr_set(err, "request", E2BIG, "sandbox '%s': %zu cgroups, 16 at most", id, n);
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(cgroups[i]) + 1;
    if (len > sizeof cgroup_copy.bytes - used)
      return werr_set(err, "request", E2BIG, "sandbox '%s': cgroup paths longer than %zu bytes", id, sizeof cgroup_copy.bytes);
    cgroup_copy.dirs[i] = memcpy(cgroup_copy.bytes + used, cgroups[i], len);
    used += len;
  }
  return 0;
}

static int start_child(void *unused) {
  (void)unused;
  /* the spawner's end: its close must reach us as EOF (a spare it drops) */
  close(cgroup_copy.spawner_end);
  child_main(cgroup_copy.dirs, cgroup_copy.ncgroups, cgroup_copy.sync_fd, cgroup_copy.name_area, cgroup_copy.name_len);
}

pid_t prep_clone(const char *id, const char *const *cgroups, size_t ncgroups, char *name_area, size_t name_len,
                 int *sync_fd, struct werr *err) {
  if (copy_cgroups(id, cgroups, ncgroups, err) < 0) return -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return werr_set(err, "sync", errno, "socketpair for '%s'", id);
  /* a request is one packet: room for the largest frame (root may exceed the sysctl limits) */
  int size = WARREN_FRAME_MAX + 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  /* the network namespace is not a clone flag: a pooled one is joined, or a fresh one unshared,
   * once the request says which; the user namespace is joined last, as for any sandbox */
  int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  cgroup_copy.sync_fd = sv[1];
  cgroup_copy.spawner_end = sv[0];
  cgroup_copy.ncgroups = ncgroups;
  cgroup_copy.name_area = name_area;
  cgroup_copy.name_len = name_len;
  pid_t pid = nofork_clone(flags | SIGCHLD, start_child, NULL);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return werr_set(err, "clone", errno, "clone sandbox '%s'", id);
  }
  *sync_fd = sv[0];
  return pid;
}

int prep_hand_over(int sync_fd, const char *id, const char *payload, size_t len, int userns_fd, int netns_fd,
                   struct werr *err) {
  int fds[2] = {userns_fd, netns_fd};
  size_t nfds = netns_fd >= 0 ? 2 : 1;
  char control[CMSG_SPACE(sizeof fds)];
  memset(control, 0, sizeof control);
  struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  if (sendmsg(sync_fd, &mh, MSG_NOSIGNAL) != (ssize_t)len) return werr_set(err, "sync", errno, "hand sandbox '%s' its request", id);
  return 0;
}
