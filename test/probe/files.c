/* Commands that touch files: read, write, append, unlink, ls, fill and stdin. A failed file operation
 * is what the test wants to see, so it is printed as "errno" (0 on success), never treated as the
 * probe's own failure. */
#define _GNU_SOURCE
#include "probe.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_MAX (64 * 1024)
#define TEXT_MAX 200
#define FILL_CHUNK (1024 * 1024)

int read_all(const char *path, char **out, size_t *len, struct perr *err) {
  int fd cleanup_close = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return perr_set(err, errno, "open '%s'", path);
  char *buf cleanup_free = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (cap - n < 4096) {
      cap = cap ? cap * 2 : 8192;
      char *grown = realloc(buf, cap);
      if (!grown) return perr_set(err, ENOMEM, "read '%s'", path);
      buf = grown;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return perr_set(err, errno, "read '%s'", path);
    if (r == 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *out = buf;
  buf = NULL;
  *len = n;
  return 0;
}

/* Reads up to `max` bytes from fd into buf; returns the count and leaves errno in *errnum (0 at EOF). */
static size_t read_upto(int fd, char *buf, size_t max, int *errnum) {
  size_t n = 0;
  *errnum = 0;
  while (n < max) {
    ssize_t r = read(fd, buf + n, max - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) *errnum = errno;
    if (r <= 0) break;
    n += (size_t)r;
  }
  return n;
}

int cmd_read(char **args, struct perr *err) {
  (void)err;
  static char buf[READ_MAX];
  const char *path = args[0];
  size_t n = 0;
  int errnum;
  int fd cleanup_close = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) errnum = errno;
  else n = read_upto(fd, buf, sizeof buf, &errnum);
  json_begin_object(NULL);
  json_string("path", path);
  json_bool("ok", errnum == 0);
  json_int("errno", errnum);
  json_int("bytes", (long long)n);
  json_string_n("text", buf, n < TEXT_MAX ? n : TEXT_MAX);
  json_end_object();
  json_end_line();
  return 0;
}

static void print_result(int errnum) {
  json_begin_object(NULL);
  json_bool("ok", errnum == 0);
  json_int("errno", errnum);
  json_end_object();
  json_end_line();
}

/* Writes all of text; returns 0 or the errno of the first failing step. A file-size limit must show as
 * EFBIG, not kill the probe with SIGXFSZ, so the signal is ignored first. */
static int write_text(const char *path, const char *text, int flags) {
  signal(SIGXFSZ, SIG_IGN);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) return errno;
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int saved = errno;
      close(fd);
      return saved;
    }
    off += (size_t)w;
  }
  /* a quota or a full device may only show at close */
  return close(fd) < 0 ? errno : 0;
}

int cmd_write(char **args, struct perr *err) {
  (void)err;
  print_result(write_text(args[0], args[1], O_TRUNC));
  return 0;
}

int cmd_append(char **args, struct perr *err) {
  (void)err;
  print_result(write_text(args[0], args[1], O_APPEND));
  return 0;
}

int cmd_unlink(char **args, struct perr *err) {
  (void)err;
  print_result(unlink(args[0]) < 0 ? errno : 0);
  return 0;
}

static int not_dots(const struct dirent *de) { return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0; }

int cmd_ls(char **args, struct perr *err) {
  (void)err;
  struct dirent **list = NULL;
  int n = scandir(args[0], &list, not_dots, alphasort);
  int errnum = n < 0 ? errno : 0;
  json_begin_object(NULL);
  json_bool("ok", n >= 0);
  json_int("errno", errnum);
  if (n < 0) {
    json_null("entries");
  } else {
    json_begin_array("entries");
    for (int i = 0; i < n; i++) {
      json_string(NULL, list[i]->d_name);
      free(list[i]);
    }
    json_end_array();
  }
  free(list);
  json_end_object();
  json_end_line();
  return 0;
}

/* Writes 1 MiB chunks until the file system, a quota or RLIMIT_FSIZE says no, then removes the file
 * so a test that only checks the limit does not leave the disk full. */
int cmd_fill(char **args, struct perr *err) {
  const char *path = args[0];
  char *chunk cleanup_free = malloc(FILL_CHUNK);
  if (!chunk) return perr_set(err, ENOMEM, "allocate %d bytes", FILL_CHUNK);
  memset(chunk, 0x5a, FILL_CHUNK);
  signal(SIGXFSZ, SIG_IGN);
  long long total = 0;
  int errnum = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) errnum = errno;
  while (fd >= 0) {
    ssize_t w = write(fd, chunk, FILL_CHUNK);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) errnum = errno;
    if (w <= 0) break; /* a zero-length write would loop forever */
    total += w;
  }
  if (fd >= 0 && close(fd) < 0 && !errnum) errnum = errno;
  int unlink_errnum = unlink(path) < 0 ? errno : 0;
  json_begin_object(NULL);
  json_int("bytes", total);
  json_int("errno", errnum);
  json_int("unlink_errno", unlink_errnum);
  json_end_object();
  json_end_line();
  return 0;
}

int cmd_stdin(char **args, struct perr *err) {
  (void)args;
  (void)err;
  char text[TEXT_MAX], buf[65536];
  long long total = 0;
  size_t kept = 0;
  int errnum = 0;
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) errnum = errno;
    if (r <= 0) break;
    size_t take = (size_t)r < sizeof text - kept ? (size_t)r : sizeof text - kept;
    memcpy(text + kept, buf, take);
    kept += take;
    total += r;
  }
  json_begin_object(NULL);
  json_int("bytes", total);
  json_string_n("text", text, kept);
  json_int("errno", errnum);
  json_end_object();
  json_end_line();
  return 0;
}
