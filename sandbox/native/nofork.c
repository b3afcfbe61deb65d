/* nofork.h says what and why. */
#include "nofork.h"

#include <sched.h>
#include <sys/mman.h>
#include <ucontext.h>

#define GUARD 4096
/* the spawner's loop: as much as the main thread would have by default */
#define SERVE_STACK (8u << 20)
/* a child's: its setup's deepest frames are tens of KiB (rootfs.c), and init lives on it */
#define CHILD_STACK (2u << 20)

void *nofork_alloc(size_t size, const char *what, struct werr *err) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return werr_set(err, "setup", errno, "map %zu bytes for %s", size, what), NULL;
  if (madvise(p, size, MADV_DONTFORK) < 0) {
    int e = errno;
    munmap(p, size);
    return werr_set(err, "setup", e, "keep %s out of children (MADV_DONTFORK)", what), NULL;
  }
  return p;
}

/* A stack with a guard page below it (stacks grow down): an overflow faults, never writes over
 * other memory. */
static char *map_stack(size_t size, int nofork, const char *what, struct werr *err) {
  char *p = nofork ? nofork_alloc(GUARD + size, what, err) : mmap(NULL, GUARD + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!nofork && p == MAP_FAILED) return werr_set(err, "setup", errno, "map %s", what), NULL;
  if (p && mprotect(p, GUARD, PROT_NONE) < 0) {
    int e = errno;
    munmap(p, GUARD + size);
    return werr_set(err, "setup", e, "guard page of %s", what), NULL;
  }
  return p;
}

int nofork_serve(void (*serve)(void), struct werr *err) {
  static ucontext_t back, loop;
  char *stack = map_stack(SERVE_STACK, 1, "the spawner's stack", err);
  if (!stack) return -1;
  if (getcontext(&loop) < 0) return werr_set(err, "setup", errno, "getcontext");
  loop.uc_stack.ss_sp = stack + GUARD;
  loop.uc_stack.ss_size = SERVE_STACK;
  loop.uc_link = &back;
  makecontext(&loop, serve, 0);
  if (swapcontext(&back, &loop) < 0) return werr_set(err, "setup", errno, "swapcontext");
  return 0;
}

pid_t nofork_clone(int flags, int (*fn)(void *), void *arg) {
  static char *top;
  if (!top) {
    struct werr err = {0};
    char *stack = map_stack(CHILD_STACK, 0, "the children's stack", &err);
    if (!stack) return errno = err.errnum, -1;
    top = stack + GUARD + CHILD_STACK;
  }
  return clone(fn, top, flags, arg);
}
