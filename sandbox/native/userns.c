#include "userns.h"

#include "nofork.h"
#include "nsholder.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAX 512

/* in memory no child gets (nofork.h): every spawn marks its entry used */
static struct userns_cache {
  struct {
    uint32_t base, count;
    int fd;
    uint64_t used;
  } entries[CACHE_MAX];
  size_t n;
  uint64_t clock;
} *lru;

static int write_map(pid_t pid, const char *file, uint32_t base, uint32_t count, struct werr *err) {
  char path[64], map[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  int n = snprintf(map, sizeof map, "0 %u %u\n", base, count);
  int fd cleanup_close = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, map, (size_t)n) != n) return werr_set(err, "userns", errno, "write '%s'", path);
  return 0;
}

/* The maps are written by us, the host's root, so they may name any range and setgroups stays
 * allowed. */
static int userns_make(uint32_t base, uint32_t count, struct werr *err) {
  struct ns_holder h;
  if (ns_holder_start(CLONE_NEWUSER, &h, err) < 0) return -1;
  int fd = -1;
  if (write_map(h.pid, "uid_map", base, count, err) == 0 && write_map(h.pid, "gid_map", base, count, err) == 0)
    fd = ns_holder_open(&h, "user", err);
  ns_holder_end(&h);
  return fd;
}

int userns_get(uint32_t base, uint32_t count, struct werr *err) {
  if (!lru && !(lru = nofork_alloc(sizeof *lru, "the user namespace cache", err))) return -1;
  size_t oldest = 0;
  for (size_t i = 0; i < lru->n; i++) {
    if (lru->entries[i].base == base && lru->entries[i].count == count) {
      lru->entries[i].used = ++lru->clock;
      return lru->entries[i].fd;
    }
    if (lru->entries[i].used < lru->entries[oldest].used) oldest = i;
  }
  int fd = userns_make(base, count, err);
  if (fd < 0) return -1;
  size_t slot = lru->n < CACHE_MAX ? lru->n++ : oldest;
  if (slot == oldest && lru->n == CACHE_MAX && lru->entries[slot].fd > 0) close(lru->entries[slot].fd);
  lru->entries[slot].base = base;
  lru->entries[slot].count = count;
  lru->entries[slot].fd = fd;
  lru->entries[slot].used = ++lru->clock;
  return fd;
}
