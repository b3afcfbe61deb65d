#include "userns.h"

#include "nsholder.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAX 512

static struct {
  uint32_t base, count;
  int fd;
  uint64_t used;
} cache[CACHE_MAX];
static size_t ncache;
static uint64_t clock_;

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
  size_t oldest = 0;
  for (size_t i = 0; i < ncache; i++) {
    if (cache[i].base == base && cache[i].count == count) {
      cache[i].used = ++clock_;
      return cache[i].fd;
    }
    if (cache[i].used < cache[oldest].used) oldest = i;
  }
  int fd = userns_make(base, count, err);
  if (fd < 0) return -1;
  size_t slot = ncache < CACHE_MAX ? ncache++ : oldest;
  if (slot == oldest && ncache == CACHE_MAX && cache[slot].fd > 0) close(cache[slot].fd);
  cache[slot].base = base;
  cache[slot].count = count;
  cache[slot].fd = fd;
  cache[slot].used = ++clock_;
  return fd;
}
