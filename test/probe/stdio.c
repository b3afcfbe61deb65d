/* `stdio`: what the sandbox's fd 0-2 are, and whether it can rewind or cut what they name. Under a
 * host that hands the sandbox its own stdout (`>> host.log`), the truncate and seek here would
 * act on the host's file: tests run it against a file of their own. */
#define _GNU_SOURCE
#include "probe.h"

#include <fcntl.h>
#include <unistd.h>

int cmd_stdio(char **args, struct perr *err) {
  (void)args;
  (void)err;
  json_begin_object(NULL);
  json_begin_array("fds");
  for (int fd = 0; fd < 3; fd++) {
    char path[32], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    int link_errno = n < 0 ? errno : 0;
    int tty = isatty(fd);
    int flags = fcntl(fd, F_GETFL);
    /* the output is written only after these: a seek or truncate that worked shows in the file */
    int seek_errno = lseek(fd, 0, SEEK_SET) < 0 ? errno : 0;
    int truncate_errno = ftruncate(fd, 0) < 0 ? errno : 0;
    json_begin_object(NULL);
    json_int("fd", fd);
    if (n < 0) json_null("target");
    else json_string_n("target", target, (size_t)n);
    json_int("link_errno", link_errno);
    json_bool("tty", tty == 1);
    json_bool("nonblock", flags >= 0 && (flags & O_NONBLOCK));
    json_int("seek_errno", seek_errno);
    json_int("truncate_errno", truncate_errno);
    json_end_object();
  }
  json_end_array();
  json_end_object();
  json_end_line();
  return 0;
}
