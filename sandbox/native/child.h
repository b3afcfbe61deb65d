/* The cloned child: turns itself into the sandbox and becomes its init (PID 1). */
#ifndef WARREN_CHILD_H
#define WARREN_CHILD_H

#include <sys/types.h>

#include "spec.h"

struct seccomp_bpf {
  void *filter; /* struct sock_filter[len] */
  unsigned short len;
};

/* The runner's pid (the spawner's parent, set at start): `pipe:N` stdio is its fd N. */
extern pid_t runner_pid;

/* Never returns. sync_fd: the child's end of the sync socketpair; userns_fd: the sandbox's user
 * namespace; netns_fd: a pooled network namespace to join, ready (or -1: a fresh one, lo only); the process name area (argv[0] of the spawner) is reused for "warren:[init]". */
__attribute__((noreturn)) void child_main(const struct spec *s, int sync_fd, int userns_fd, int netns_fd,
                                          const struct seccomp_bpf *bpf, char *name_area, size_t name_len);

/* Never returns. A child made ahead by prep: it joins `cgroups` at once (the slow step on cgroup
 * v1, off the request path), then waits on sync_fd for its spawn request (the frame's payload,
 * with the user namespace and, for a pooled one, the network namespace as SCM_RIGHTS fds) and goes
 * on as child_main does after its cgroups. */
__attribute__((noreturn)) void child_parked(const char *const *cgroups, size_t ncgroups, int sync_fd, char *name_area,
                                            size_t name_len);

#endif
