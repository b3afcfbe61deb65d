/* Memory only the spawner itself uses, never copied into a child (MADV_DONTFORK).
 *
 * Why: every clone write-protects the spawner's writable pages that the new child now shares
 * (copy-on-write), and a sandbox's init never execs, so it shares them for its whole life. Each
 * page the spawner writes after a clone then faults, is copied, and its TLB entry is flushed on
 * every CPU: ~20 faults per spawn cycle, ~40 us each on this 2-core VM (perf: a quarter of the
 * spawner's CPU). The spawner's own bookkeeping (the sandbox table, the poll set, parsed
 * requests, the user namespace cache, the netns slots) lives here instead: no child ever sees
 * it, and the spawner writes it without a fault. Nothing a child runs may touch this memory (it
 * is not mapped there); what a child needs (the spec, the request's bytes) stays in ordinary
 * memory. */
#ifndef WARREN_NOFORK_H
#define WARREN_NOFORK_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* size bytes of zeroed memory that no child gets; NULL (err set) on failure. */
void *nofork_alloc(size_t size, const char *what, struct werr *err);

/* Runs serve() on a stack that no child gets, and returns when serve() does; -1 (err set) if that
 * stack cannot be made. */
int nofork_serve(void (*serve)(void), struct werr *err);

/* clone(2) with `flags` (the exit signal included), the child running fn(arg) on a stack of its
 * own (see above): arg must point to ordinary memory, or be a plain value. The child exits with
 * fn's return value. The parent gets the child's pid, or -1 with errno. */
pid_t nofork_clone(int flags, int (*fn)(void *), void *arg);

#endif
