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

/* Never returns. Every sandbox's child (prep.c clones it, ahead of its request or on it): it joins
 * `cgroups` at once (the slow step on cgroup v1), then waits on sync_fd for its spawn request (the
 * frame's payload, with the user namespace and, for a pooled one, the network namespace as
 * SCM_RIGHTS fds), parses it, sets the sandbox up and becomes its init. Besides `cgroups`, it
 * reads nothing the spawner parsed: that lives in memory it does not get (nofork.h). */
__attribute__((noreturn)) void child_main(const char *const *cgroups, size_t ncgroups, int sync_fd, char *name_area,
                                            size_t name_len);

#endif
