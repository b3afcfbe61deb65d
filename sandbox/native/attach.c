/* attach.h says what and why. */
#include "attach.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol.h"

/* Written only as a runner goes or comes: rare writes to pages the children share (nofork.h). */
static const char *attach_path;
static uint64_t grace_us;
static int listen_fd = -1; /* >= 0 while detached */
static uint64_t deadline_us;

void attach_init(const char *path, const char *grace_ms) {
  attach_path = path;
  grace_us = (grace_ms ? strtoull(grace_ms, NULL, 10) : 0) * 1000u;
}

int attach_enabled(void) { return attach_path != NULL; }
int attach_detached(void) { return listen_fd >= 0; }
int attach_fd(void) { return listen_fd; }

int attach_timeout_ms(uint64_t now_us) {
  if (listen_fd < 0) return -1;
  return now_us >= deadline_us ? 0 : (int)((deadline_us - now_us + 999) / 1000);
}

static int listen_at(const char *path, struct werr *err) {
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

int attach_detach(uint64_t now_us, struct werr *err) {
  /* nothing said while detached reaches whatever might reuse fd 3 */
  int null cleanup_close = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, WARREN_CTRL_FD) < 0) return werr_set(err, "attach", errno, "put /dev/null on fd %d", WARREN_CTRL_FD);
  fcntl(WARREN_CTRL_FD, F_SETFD, FD_CLOEXEC);
  listen_fd = listen_at(attach_path, err);
  if (listen_fd < 0) return -1;
  /* the dead runner's stdio may be a pipe that someone reads to its end (a supervisor, a test):
   * holding it for the grace window, or for an adopter's whole life, would keep that reader waiting */
  for (int fd = 0; fd <= 2; fd++) dup2(null, fd);
  deadline_us = now_us + grace_us;
  return 0;
}

int attach_accept(pid_t *pid, struct werr *err) {
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

void attach_attached(void) {
  close(listen_fd);
  listen_fd = -1;
  unlink(attach_path);
}

void attach_end(void) {
  if (listen_fd >= 0) attach_attached();
}

/* Opened anew, as the child opens its own ends (child.c): a reader more on the same pipe, so that
 * while no runner is attached the sandbox's writes neither fail with EPIPE nor are lost (up to
 * what the pipe holds); the next runner opens these through our /proc entry (its `held` frame). */
int attach_open_held(const int hold[3], pid_t runner, int held[3], struct werr *err) {
  for (int fd = 1; fd < 3; fd++) {
    if (hold[fd] < 0) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)runner, hold[fd]);
    struct stat st;
    held[fd] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (held[fd] < 0 || fstat(held[fd], &st) < 0 || !S_ISFIFO(st.st_mode)) {
      werr_set(err, "stdio", held[fd] < 0 ? errno : EINVAL, "hold '%s' (the runner's end of fd %d)", path, fd);
      for (int i = 1; i <= fd; i++)
        if (held[i] >= 0) close(held[i]), held[i] = -1;
      return -1;
    }
  }
  return 0;
}
