#include "bpf.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BPF_CACHE_MAX 32
#define BPF_INSN 8 /* sizeof(struct sock_filter) */

static struct {
  char *path;
  struct seccomp_bpf prog;
} cache[BPF_CACHE_MAX];
static size_t ncache;

static int read_file(const char *path, struct seccomp_bpf *prog, struct werr *err) {
  int fd cleanup_close = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) return werr_set(err, "seccomp", errno, "open '%s'", path);
  if (st.st_size == 0 || st.st_size % BPF_INSN || st.st_size / BPF_INSN > 4096)
    return werr_set(err, "seccomp", EINVAL, "'%s' is not a BPF program (%lld bytes)", path, (long long)st.st_size);
  char *buf = malloc((size_t)st.st_size);
  if (!buf) return werr_set(err, "seccomp", ENOMEM, "read '%s'", path);
  ssize_t n = read(fd, buf, (size_t)st.st_size);
  if (n != st.st_size) {
    free(buf);
    return werr_set(err, "seccomp", n < 0 ? errno : EIO, "read '%s'", path);
  }
  prog->filter = buf;
  prog->len = (unsigned short)(st.st_size / BPF_INSN);
  return 0;
}

const struct seccomp_bpf *bpf_get(const char *path, struct werr *err) {
  for (size_t i = 0; i < ncache; i++)
    if (!strcmp(cache[i].path, path)) return &cache[i].prog;
  size_t slot = ncache < BPF_CACHE_MAX ? ncache++ : 0; /* rare: a new policy each time */
  struct seccomp_bpf prog;
  if (read_file(path, &prog, err) < 0) return NULL;
  if (slot < ncache - 1 || ncache == BPF_CACHE_MAX) {
    free(cache[slot].path);
    free(cache[slot].prog.filter);
  }
  cache[slot].path = strdup(path);
  cache[slot].prog = prog;
  return &cache[slot].prog;
}
