/* What the spawner tells its runner of each sandbox's life (reports.c). */
#ifndef WARREN_REPORTS_H
#define WARREN_REPORTS_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "table.h"

/* CLOCK_MONOTONIC in microseconds. */
uint64_t now_us(void);
/* `error`: a spawn (or a netns change) named by `id` failed at err's stage. */
void send_error(const char *id, const struct werr *err);
/* The child's report on its sync socket: READY (`spawned`), ERROR, or EOF when it died before
 * saying; the socket is closed after it. */
void report_sync(struct sandbox *sb);
/* Reaps every child that ended and says each sandbox's exit (kept for the next runner while none
 * is attached); its pooled netns is checked first, so it may serve again as soon as it is said. */
void reap(struct table *sandboxes);
/* A runner attached on `conn` (pid `pid`): it becomes fd 3 and is told what is held. */
void say_held(struct table *sandboxes, int conn, pid_t pid);

#endif
