/* Live restore (protocol.h): with WARREN_ATTACH set, the spawner outlives its runner. When the
 * runner goes without `close`, fd 3 becomes /dev/null and the spawner listens on the attach
 * socket in the run dir for the grace window; the next runner that connects is its runner. Only
 * root may connect: the socket is mode 0600, in a root-owned dir, and a peer whose uid is not 0 is
 * refused all the same. What the spawner holds meanwhile (its table, the held stdio ends) is
 * spawner.c's; this is the socket, the window, and the opening of held ends. */
#ifndef WARREN_ATTACH_H
#define WARREN_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* From the environment at start: the socket's path (NULL: live restore off) and the window (ms). */
void attach_init(const char *path, const char *grace_ms);
int attach_enabled(void);
/* Whether the runner is gone and the spawner waits for the next. */
int attach_detached(void);
/* The listening socket, while detached. */
int attach_fd(void);
/* poll's timeout: -1 while a runner is attached; else the ms left of the window, 0 once over. */
int attach_timeout_ms(uint64_t now_us);
/* The runner went away: /dev/null on fd 3, listen, start the window. -1 (err set) on failure. */
int attach_detach(uint64_t now_us, struct werr *err);
/* Accepts one runner: its connection (close-on-exec) and *pid, or -1 (a refused peer included). */
int attach_accept(pid_t *pid, struct werr *err);
/* A runner attached: the socket goes (closed and unlinked). */
void attach_attached(void);
/* The spawner ends: a socket still listening is unlinked. */
void attach_end(void);
/* Opens the runner's read ends hold[1], hold[2] (its fds; -1: none) through /proc/<runner>/fd/N
 * into held[1], held[2]; on failure none stays open. */
int attach_open_held(const int hold[3], pid_t runner, int held[3], struct werr *err);

#endif
