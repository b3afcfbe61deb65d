/* A throwaway child in new namespaces, parked until released: the caller configures it (writes
 * uid maps, say), opens /proc/<pid>/ns/<name>, and the namespace lives on through that fd. Used
 * for the per-range user namespaces (userns.c) and the pooled network namespaces (netpool.c). */
#ifndef WARREN_NSHOLDER_H
#define WARREN_NSHOLDER_H

#include <sys/types.h>

#include "error.h"

struct ns_holder {
  pid_t pid;
  int release_fd;
};

int ns_holder_start(int clone_flags, struct ns_holder *h, struct werr *err);
/* An O_CLOEXEC fd of its namespace `ns` ("user", "net"). */
int ns_holder_open(const struct ns_holder *h, const char *ns, struct werr *err);
/* Lets it exit and reaps it. */
void ns_holder_end(struct ns_holder *h);

#endif
