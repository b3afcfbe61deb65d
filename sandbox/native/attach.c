/* attach.h says what and why. */
#include "attach.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int attach_listen(const char *path, struct werr *err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return werr_set(err, "attach", ENAMETOOLONG, "attach socket '%s'", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return werr_set(err, "attach", errno, "socket for '%s'", path);
  unlink(path); /* a dead spawner's */
  /* made 0600 as it is bound: there is no moment when another user could connect */
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  if (r < 0 || listen(fd, 4) < 0) {
    werr_set(err, "attach", errno, "listen on '%s'", path);
    close(fd);
    unlink(path);
    return -1;
  }
  return fd;
}

int attach_accept(int listen_fd, pid_t *pid, struct werr *err) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return werr_set(err, "attach", errno, "accept a runner");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
    werr_set(err, "attach", EPERM, "refused a runner that is not root");
    close(fd);
    return -1;
  }
  *pid = cred.pid;
  return fd;
}
