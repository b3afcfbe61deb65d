/* nofork.h says what and why. */
#include "nofork.h"

#include <sys/mman.h>

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
