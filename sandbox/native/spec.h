/* A spawn request, parsed from its frame (see protocol.h). The strings point into the frame's
 * buffer, which the child inherits as a copy when it is cloned. */
#ifndef WARREN_SPEC_H
#define WARREN_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "error.h"
#include "frame.h"

#define SPEC_MAX 4096 /* SPEC_LIST_MAX in sandbox/validate.ts: argv, env, layers */

struct rlimit_spec {
  int resource;
  struct rlimit lim;
};

struct bind_spec {
  const char *src;
  const char *dst;
  int readonly;
  /* files owned by host uid n appear owned by uid n inside (storage warren owns: a volume) */
  int idmap;
};

/* A sandbox never holds a host file: its fd 0-2 are /dev/null or an end of a pipe that the
 * runner made and relays (`pipe:N`: the runner's fd N, opened through /proc/<runner>/fd/N). */
struct stdio_spec {
  enum { STDIO_NULL, STDIO_PIPE } kind;
  int runner_fd;
};

struct file_spec {
  const char *path; /* absolute, inside the sandbox */
  const char *content;
};

struct spec {
  const char *id;
  const char *cwd;
  const char *hostname;
  const char *rundir;
  uint64_t tmpfs_size;
  uint64_t tmpfs_inodes;
  size_t nlayers;
  uint32_t uid_base, uid_count;
  const char *cgroups[16];
  size_t ncgroups;
  const char *seccomp;
  struct rlimit_spec rlimits[16];
  size_t nrlimits;
  struct stdio_spec stdio[3];
  struct bind_spec binds[32];
  size_t nbinds;
  const char *masks[64];
  size_t nmasks;
  const char *readonly[64];
  size_t nreadonly;
  struct file_spec files[8]; /* bound over the image's after pivot_root (/etc/hosts...) */
  size_t nfiles;
  /* a pooled network namespace to join (netpool.h), made ready by netns_add; NULL: a fresh one */
  const char *netns;
  /* a dir on disk holding upper/ and work/ (made if missing): the sandbox's changes are kept */
  const char *keep;
  /* live restore: the runner's read ends of stdout and stderr (index 1, 2; -1: none), which the
   * spawner holds while no runner is attached (protocol.h) */
  int hold[3];
  /* the big lists last: spec_parse clears only what comes before them (4096 entries each would
   * make every spawn clear ~100 KB twice, in the spawner and in the child: measured ~5% of a
   * cycle); argv and envp are NULL-terminated after parsing, layers counted by nlayers */
  const char *argv[SPEC_MAX + 1];
  const char *envp[SPEC_MAX + 1];
  const char *layers[SPEC_MAX];
};

/* Fills s from a parsed spawn message; bind strings are split in place. */
int spec_parse(struct msg *m, struct spec *s, struct werr *err);

#endif
