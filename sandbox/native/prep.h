/* How every sandbox's child is made (protocol.h): cloned, it joins its cgroups at once and waits
 * until its request is handed to it. Made ahead (prep, then spawn with prepped), the cgroup join
 * (on cgroup v1 it can wait ~10 ms for an RCU grace period) and the clone are off the request
 * path; a spawn without prepped makes its child the same way, and hands it the request at once. */
#ifndef WARREN_PREP_H
#define WARREN_PREP_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Clones a child (child_main) with every namespace but net and user; *sync_fd is the
 * spawner's end of its sync socket, sized for the largest request. Returns its pid, or -1. */
pid_t prep_clone(const char *id, const char *const *cgroups, size_t ncgroups, char *name_area, size_t name_len,
                 int *sync_fd, struct werr *err);

/* Sends a child its spawn request in one packet: the frame's payload as it came, the user
 * namespace's fd and, unless netns_fd is -1, the pooled network namespace's (SCM_RIGHTS). */
int prep_hand_over(int sync_fd, const char *id, const char *payload, size_t len, int userns_fd, int netns_fd,
                   struct werr *err);

#endif
