#include "spec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Decimal digits only. Not strtoull: it needs errno cleared first, and errno lives on the
 * spawner's TLS page, one more copy-on-write fault per spawn (nofork.h); it also takes a sign
 * and blanks, which no request has reason to send. */
static int parse_u64(const char *v, uint64_t *out) {
  uint64_t n = 0;
  if (!*v) return -1;
  for (; *v; v++) {
    unsigned d = (unsigned)(*v - '0');
    if (d > 9 || n > (UINT64_MAX - d) / 10) return -1;
    n = n * 10 + d;
  }
  *out = n;
  return 0;
}

static const struct {
  const char *name;
  int resource;
} rlimit_names[] = {
    {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},     {"core", RLIMIT_CORE},
    {"stack", RLIMIT_STACK},   {"memlock", RLIMIT_MEMLOCK}, {"fsize", RLIMIT_FSIZE},
    {"cpu", RLIMIT_CPU},       {"as", RLIMIT_AS},           {"msgqueue", RLIMIT_MSGQUEUE},
};

static uint64_t rlim_value(const char *v) {
  uint64_t n;
  if (strcmp(v, "unlimited") == 0 || parse_u64(v, &n) < 0) return RLIM_INFINITY;
  return n;
}

/* "nofile:1024:4096" */
static int parse_rlimit(char *v, struct rlimit_spec *r, struct werr *err) {
  char *soft = strchr(v, ':');
  char *hard = soft ? strchr(soft + 1, ':') : NULL;
  if (!hard) return werr_set(err, "request", EINVAL, "rlimit '%s': expected name:soft:hard", v);
  *soft++ = '\0';
  *hard++ = '\0';
  for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++) {
    if (strcmp(rlimit_names[i].name, v) == 0) {
      r->resource = rlimit_names[i].resource;
      r->lim.rlim_cur = rlim_value(soft);
      r->lim.rlim_max = rlim_value(hard);
      return 0;
    }
  }
  return werr_set(err, "request", EINVAL, "unknown rlimit '%s'", v);
}

/* "src:dst:ro|rw" or "src:dst:ro|rw:idmap" */
static int parse_bind(char *v, struct bind_spec *b, struct werr *err) {
  char *dst = strchr(v, ':');
  char *mode = dst ? strchr(dst + 1, ':') : NULL;
  if (!mode || v[0] != '/' || dst[1] != '/')
    return werr_set(err, "request", EINVAL, "bind '%s': expected /src:/dst:ro|rw[:idmap]", v);
  *dst++ = '\0';
  *mode++ = '\0';
  char *flag = strchr(mode, ':');
  if (flag) *flag++ = '\0';
  if ((strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0) || (flag && strcmp(flag, "idmap") != 0))
    return werr_set(err, "request", EINVAL, "bind '%s': mode '%s%s%s', expected ro|rw[:idmap]", v, mode, flag ? ":" : "", flag ? flag : "");
  b->src = v;
  b->dst = dst;
  b->readonly = strcmp(mode, "rw") != 0;
  b->idmap = flag != NULL;
  return 0;
}

static int parse_stdio(const char *v, struct stdio_spec *s, struct werr *err) {
  uint64_t fd;
  if (strcmp(v, "null") == 0) s->kind = STDIO_NULL;
  else if (strncmp(v, "pipe:", 5) == 0 && parse_u64(v + 5, &fd) == 0 && fd > 2 && fd < 1u << 20) {
    s->kind = STDIO_PIPE;
    s->runner_fd = (int)fd;
  } else
    return werr_set(err, "request", EINVAL, "stdio '%s': expected null or pipe:FD", v);
  return 0;
}

#define PUSH(arr, n, max, val, what)                                                   \
  do {                                                                                 \
    if ((n) >= (max)) return werr_set(err, "request", E2BIG, "too many %s", what);     \
    (arr)[(n)++] = (val);                                                              \
  } while (0)

int spec_parse(struct msg *m, struct spec *s, struct werr *err) {
  size_t nargs = 0, nenv = 0;
  memset(s, 0, offsetof(struct spec, argv));
  s->cwd = "/";
  s->uid_count = 65536; /* stdio: all /dev/null (STDIO_NULL is 0) */
  s->hold[0] = s->hold[1] = s->hold[2] = -1;
  for (size_t i = 0; i < m->nfields; i++) {
    const char *k = m->fields[i].key;
    char *v = (char *)m->fields[i].value;
    uint64_t n;
    if (!strcmp(k, "id")) s->id = v;
    else if (!strcmp(k, "arg")) PUSH(s->argv, nargs, SPEC_MAX, v, "args");
    else if (!strcmp(k, "env")) PUSH(s->envp, nenv, SPEC_MAX, v, "env entries");
    else if (!strcmp(k, "cwd")) s->cwd = v;
    else if (!strcmp(k, "hostname")) s->hostname = v;
    else if (!strcmp(k, "rundir")) s->rundir = v;
    else if (!strcmp(k, "layer")) PUSH(s->layers, s->nlayers, SPEC_MAX, v, "layers");
    else if (!strcmp(k, "cgroup")) PUSH(s->cgroups, s->ncgroups, 16, v, "cgroups");
    else if (!strcmp(k, "seccomp")) s->seccomp = v;
    else if (!strcmp(k, "mask")) PUSH(s->masks, s->nmasks, 64, v, "masked paths");
    else if (!strcmp(k, "readonly")) PUSH(s->readonly, s->nreadonly, 64, v, "read-only paths");
    else if (!strcmp(k, "netns")) s->netns = v;
    else if (!strcmp(k, "keep")) s->keep = v;
    else if (!strcmp(k, "prepped")) continue; /* for the spawner: a parked child takes this request */
    else if (!strcmp(k, "file")) {
      if (s->nfiles == 8) return werr_set(err, "request", E2BIG, "too many files");
      if (v[0] != '/') return werr_set(err, "request", EINVAL, "file '%s' is not absolute", v);
      s->files[s->nfiles].path = v;
      s->files[s->nfiles++].content = "";
    } else if (!strcmp(k, "content")) {
      if (s->nfiles == 0) return werr_set(err, "request", EINVAL, "content without a file");
      s->files[s->nfiles - 1].content = v;
    }
    else if (!strcmp(k, "rlimit")) {
      if (s->nrlimits == 16) return werr_set(err, "request", E2BIG, "too many rlimits");
      if (parse_rlimit(v, &s->rlimits[s->nrlimits++], err) < 0) return -1;
    } else if (!strcmp(k, "bind")) {
      if (s->nbinds == 32) return werr_set(err, "request", E2BIG, "too many binds");
      if (parse_bind(v, &s->binds[s->nbinds++], err) < 0) return -1;
    } else if (!strcmp(k, "stdin") || !strcmp(k, "stdout") || !strcmp(k, "stderr")) {
      int fd = k[3] == 'i' ? 0 : k[3] == 'o' ? 1 : 2;
      if (parse_stdio(v, &s->stdio[fd], err) < 0) return -1;
    } else if (!strcmp(k, "hold_stdout") || !strcmp(k, "hold_stderr")) {
      if (parse_u64(v, &n) < 0 || n < 3 || n >= 1u << 20) return werr_set(err, "request", EINVAL, "%s '%s' is not a fd", k, v);
      s->hold[k[8] == 'o' ? 1 : 2] = (int)n;
    } else if (!strcmp(k, "tmpfs_size") || !strcmp(k, "tmpfs_inodes") || !strcmp(k, "uid_base") ||
               !strcmp(k, "uid_count")) {
      if (parse_u64(v, &n) < 0) return werr_set(err, "request", EINVAL, "%s '%s' is not a number", k, v);
      if (!strcmp(k, "tmpfs_size")) s->tmpfs_size = n;
      else if (!strcmp(k, "tmpfs_inodes")) s->tmpfs_inodes = n;
      else if (!strcmp(k, "uid_base")) s->uid_base = (uint32_t)n;
      else s->uid_count = (uint32_t)n;
    } else
      return werr_set(err, "request", EINVAL, "unknown field '%s'", k);
  }
  s->argv[nargs] = NULL;
  s->envp[nenv] = NULL;
  if (!s->id) return werr_set(err, "request", EINVAL, "spawn without id");
  if (nargs == 0) return werr_set(err, "request", EINVAL, "spawn '%s' without arg", s->id);
  if (!s->rundir || s->rundir[0] != '/') return werr_set(err, "request", EINVAL, "spawn '%s' without an absolute rundir", s->id);
  if (s->nlayers == 0) return werr_set(err, "request", EINVAL, "spawn '%s' without layer", s->id);
  if (s->uid_base == 0) return werr_set(err, "request", EINVAL, "spawn '%s': uid_base must be an unprivileged uid", s->id);
  if (!s->seccomp) return werr_set(err, "request", EINVAL, "spawn '%s' without seccomp", s->id);
  if (s->tmpfs_size == 0) s->tmpfs_size = 64ull << 20;
  if (s->tmpfs_inodes == 0) s->tmpfs_inodes = 16384;
  return 0;
}
