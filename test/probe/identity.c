/* `identity`: who and where the probe is, as the kernel tells it from inside the sandbox. Each item is
 * read on its own; one that cannot be read prints null and adds "item": "strerror text" to the
 * "errors" object printed last, so a single masked file never hides the rest. */
#define _GNU_SOURCE
#include "probe.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

#define MAX_ERRORS 32

static struct {
  const char *item;
  int errnum;
} errors[MAX_ERRORS];
static size_t nerrors;

static void item_failed(const char *key, const char *item, int errnum) {
  if (key) json_null(key);
  if (nerrors < MAX_ERRORS) {
    errors[nerrors].item = item;
    errors[nerrors].errnum = errnum;
    nerrors++;
  }
}

/* A /proc text file as one string: comm ends in a newline, cmdline separates arguments by NULs. */
static void emit_text(const char *key, const char *path, bool is_cmdline) {
  char *buf cleanup_free = NULL;
  size_t len;
  struct perr err = {0};
  if (read_all(path, &buf, &len, &err) < 0) {
    item_failed(key, key, err.errnum);
    return;
  }
  if (is_cmdline) {
    if (len && buf[len - 1] == '\0') len--;
    for (size_t i = 0; i < len; i++)
      if (buf[i] == '\0') buf[i] = ' ';
  } else {
    while (len && isspace((unsigned char)buf[len - 1])) len--;
  }
  json_string_n(key, buf, len);
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* The numeric entries of a directory, sorted; /proc/self/fd lists the fd reading it, which is left out. */
static int numeric_entries(const char *path, bool skip_own_fd, long **out, size_t *n, struct perr *err) {
  DIR *d cleanup_dir = opendir(path);
  if (!d) return perr_set(err, errno, "opendir '%s'", path);
  long *v = NULL;
  size_t cap = 0;
  *n = 0;
  struct dirent *de;
  for (errno = 0; (de = readdir(d)); errno = 0) {
    char *end;
    long x = strtol(de->d_name, &end, 10);
    if (!isdigit((unsigned char)de->d_name[0]) || *end) continue;
    if (skip_own_fd && x == dirfd(d)) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      long *grown = realloc(v, cap * sizeof *v);
      if (!grown) {
        free(v);
        return perr_set(err, ENOMEM, "list '%s'", path);
      }
      v = grown;
    }
    v[(*n)++] = x;
  }
  if (errno) {
    int saved = errno;
    free(v);
    return perr_set(err, saved, "readdir '%s'", path);
  }
  qsort(v, *n, sizeof *v, cmp_long);
  *out = v;
  return 0;
}

static void emit_numbers(const char *key, const char *path, bool skip_own_fd) {
  long *v cleanup_free = NULL;
  size_t n = 0;
  struct perr err = {0};
  if (numeric_entries(path, skip_own_fd, &v, &n, &err) < 0) {
    item_failed(key, key, err.errnum);
    return;
  }
  json_begin_array(key);
  for (size_t i = 0; i < n; i++) json_int(NULL, v[i]);
  json_end_array();
}

/* A copy of the value of "Field:\tvalue" in /proc/self/status, or NULL when the line is missing. */
static char *status_field(const char *status, const char *field) {
  size_t flen = strlen(field);
  for (const char *line = status; *line;) {
    const char *eol = strchrnul(line, '\n');
    if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
      const char *v = line + flen + 1;
      while (*v == ' ' || *v == '\t') v++;
      return strndup(v, (size_t)(eol - v));
    }
    line = *eol ? eol + 1 : eol;
  }
  return NULL;
}

static void emit_status(void) {
  static const char *const fields[] = {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb",
                                       "NoNewPrivs", "Seccomp", "Seccomp_filters"};
  static const char *const items[] = {"status.CapEff", "status.CapPrm", "status.CapBnd", "status.CapInh",
                                      "status.CapAmb", "status.NoNewPrivs", "status.Seccomp",
                                      "status.Seccomp_filters"};
  char *buf cleanup_free = NULL;
  size_t len;
  struct perr err = {0};
  if (read_all("/proc/self/status", &buf, &len, &err) < 0) {
    item_failed("status", "status", err.errnum);
    return;
  }
  json_begin_object("status");
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    char *v cleanup_free = status_field(buf, fields[i]);
    /* an older kernel lacks the line (Seccomp_filters came in 5.9) */
    if (v) json_string(fields[i], v);
    else item_failed(fields[i], items[i], ENODATA);
  }
  json_end_object();
}

/* mountinfo escapes space, tab, newline and backslash in paths as \ooo. */
static size_t unescape_octal(char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      s[o++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      s[o++] = s[i];
    }
  }
  return o;
}

/* The fifth field of each mountinfo line is the mount point. */
static void emit_mounts(void) {
  char *buf cleanup_free = NULL;
  size_t len;
  struct perr err = {0};
  if (read_all("/proc/self/mountinfo", &buf, &len, &err) < 0) {
    item_failed("mounts", "mounts", err.errnum);
    return;
  }
  json_begin_array("mounts");
  for (char *line = buf, *next; line < buf + len && *line; line = next) {
    char *eol = strchr(line, '\n');
    next = eol ? eol + 1 : buf + len;
    if (eol) *eol = '\0';
    char *field = line;
    for (int i = 0; i < 4 && field; i++) {
      field = strchr(field, ' ');
      if (field) field++;
    }
    if (!field) continue;
    char *end = strchr(field, ' ');
    size_t n = end ? (size_t)(end - field) : strlen(field);
    json_string_n(NULL, field, unescape_octal(field, n));
  }
  json_end_array();
}

/* RLIM_INFINITY prints as -1: the real value (2^64 - 1) does not survive a JavaScript number. */
static void emit_rlimits(void) {
  static const struct {
    const char *name, *item;
    int resource;
  } limits[] = {{"nofile", "rlimits.nofile", RLIMIT_NOFILE},
                {"nproc", "rlimits.nproc", RLIMIT_NPROC},
                {"core", "rlimits.core", RLIMIT_CORE}};
  json_begin_object("rlimits");
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    struct rlimit rl;
    if (getrlimit(limits[i].resource, &rl) < 0) {
      item_failed(limits[i].name, limits[i].item, errno);
      continue;
    }
    json_begin_array(limits[i].name);
    json_int(NULL, rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
    json_int(NULL, rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
    json_end_array();
  }
  json_end_object();
}

int cmd_identity(char **args, struct perr *err) {
  (void)args;
  (void)err;
  json_begin_object(NULL);
  json_int("pid", getpid());
  json_int("ppid", getppid());
  json_int("uid", getuid());
  json_int("gid", getgid());
  emit_text("init_comm", "/proc/1/comm", false);
  emit_text("init_cmdline", "/proc/1/cmdline", true);
  emit_numbers("pids", "/proc", false);
  struct utsname u;
  if (uname(&u) == 0) json_string("hostname", u.nodename);
  else item_failed("hostname", "hostname", errno);
  emit_text("uid_map", "/proc/self/uid_map", false);
  emit_text("gid_map", "/proc/self/gid_map", false);
  emit_status();
  emit_numbers("fds", "/proc/self/fd", true);
  char *cwd cleanup_free = getcwd(NULL, 0);
  /* glibc fails with ENOENT when the cwd lies outside the root, where the kernel says "(unreachable)" */
  if (cwd) json_string("cwd", cwd);
  else item_failed("cwd", "cwd", errno);
  json_begin_array("env");
  for (char **e = environ; e && *e; e++) json_string(NULL, *e);
  json_end_array();
  emit_mounts();
  emit_rlimits();
  json_begin_object("errors");
  for (size_t i = 0; i < nerrors; i++) json_string(errors[i].item, strerror(errors[i].errnum));
  json_end_object();
  json_end_object();
  json_end_line();
  return 0;
}
