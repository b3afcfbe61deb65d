#include "userns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* A throwaway child holds the new namespace while the maps are written and the fd is opened;
 * the namespace lives on through the fd. The maps are written by us, the host's root, so they
 * may name any range and setgroups stays allowed. */
static int userns_make(uint32_t base, uint32_t count, struct werr *err) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) < 0) return werr_set(err, "userns", errno, "pipe");
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    char c;
    close(hold[1]);
    if (read(hold[0], &c, 1) < 0) _exit(1);
    _exit(0);
  }
  close(hold[0]);
  int fd = -1;
  if (pid < 0) werr_set(err, "userns", errno, "clone a user namespace");
  else if (write_map(pid, "uid_map", base, count, err) == 0 && write_map(pid, "gid_map", base, count, err) == 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) werr_set(err, "userns", errno, "open '%s'", path);
  }
  close(hold[1]);
  if (pid > 0) waitpid(pid, NULL, 0);
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
