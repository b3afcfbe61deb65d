/* Live restore (protocol.h): the unix socket in the run dir on which a spawner whose runner went
 * away waits for the next one. Only root may connect: the socket is mode 0600, in a root-owned
 * dir, and a peer whose uid is not 0 is refused all the same. */
#ifndef WARREN_ATTACH_H
#define WARREN_ATTACH_H

#include <sys/types.h>

#include "error.h"

/* Listens on path (a stale socket file there is replaced); the fd, or -1. */
int attach_listen(const char *path, struct werr *err);
/* Accepts one runner: its connection (close-on-exec) and *pid, or -1 (a refused peer included). */
int attach_accept(int listen_fd, pid_t *pid, struct werr *err);

#endif
