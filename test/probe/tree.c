/* Commands that attack a tree the host walks: swap (a dir and a symlink traded back and forth with
 * renameat2 RENAME_EXCHANGE, as a sandbox would race host root walking its kept upper by path) and
 * inodes (files made until the file system says no: an inode cap). */
#define _GNU_SOURCE
#include "probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define INODES_MAX 1000000

static double monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* DIR/a is a dir with a file, DIR/b a symlink to TARGET; then they trade places until SECONDS
 * pass. Prints {"ready":true} once both exist, and {swaps, errno} at the end. */
int cmd_swap(char **args, struct perr *err) {
  const char *dir = args[0], *target = args[1];
  double seconds;
  if (parse_seconds(args[2], &seconds, err) < 0) return -1;
  char a[4096], b[4096], file[4200];
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  snprintf(file, sizeof file, "%s/file", a);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return perr_set(err, errno, "mkdir '%s'", dir);
  if (mkdir(a, 0755) < 0) return perr_set(err, errno, "mkdir '%s'", a);
  int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return perr_set(err, errno, "create '%s'", file);
  close(fd);
  if (symlink(target, b) < 0) return perr_set(err, errno, "symlink '%s'", b);
  json_begin_object(NULL);
  json_bool("ready", true);
  json_end_object();
  json_end_line();
  fflush(stdout);
  long long swaps = 0;
  int errnum = 0;
  double end = monotonic() + seconds;
  while (!errnum && monotonic() < end) {
    if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) errnum = errno;
    else swaps++;
  }
  json_begin_object(NULL);
  json_int("swaps", swaps);
  json_int("errno", errnum);
  json_end_object();
  json_end_line();
  return 0;
}

/* Makes empty files DIR/0, DIR/1, ... until one fails, then removes them. */
int cmd_inodes(char **args, struct perr *err) {
  const char *dir = args[0];
  char path[4200];
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return perr_set(err, errno, "mkdir '%s'", dir);
  long made = 0;
  int errnum = 0;
  while (made < INODES_MAX) {
    snprintf(path, sizeof path, "%s/%ld", dir, made);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      errnum = errno;
      break;
    }
    close(fd);
    made++;
  }
  int unlink_errnum = 0;
  for (long i = 0; i < made; i++) {
    snprintf(path, sizeof path, "%s/%ld", dir, i);
    if (unlink(path) < 0 && !unlink_errnum) unlink_errnum = errno;
  }
  json_begin_object(NULL);
  json_int("files", made);
  json_int("errno", errnum);
  json_int("unlink_errno", unlink_errnum);
  json_end_object();
  json_end_line();
  return 0;
}
