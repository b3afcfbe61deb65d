#include "nsholder.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nofork.h"

/* the holder's pipe, where the child reads it: not the spawner's stack (nofork.h) */
static int hold_pipe[2];

static int hold_until_released(void *unused) {
  (void)unused;
  char c;
  close(hold_pipe[1]);
  if (read(hold_pipe[0], &c, 1) < 0) _exit(1); /* EOF: released */
  _exit(0);
}

int ns_holder_start(int clone_flags, struct ns_holder *h, struct werr *err) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) < 0) return werr_set(err, "namespace", errno, "pipe");
  /* on a stack of its own: the spawner's is not mapped in a child (nofork.h) */
  hold_pipe[0] = hold[0];
  hold_pipe[1] = hold[1];
  pid_t pid = nofork_clone(clone_flags | SIGCHLD, hold_until_released, NULL);
  close(hold[0]);
  if (pid < 0) {
    close(hold[1]);
    return werr_set(err, "namespace", errno, "clone a holder (flags 0x%x)", clone_flags);
  }
  h->pid = pid;
  h->release_fd = hold[1];
  return 0;
}

int ns_holder_open(const struct ns_holder *h, const char *ns, struct werr *err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", h->pid, ns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? werr_set(err, "namespace", errno, "open '%s'", path) : fd;
}

void ns_holder_end(struct ns_holder *h) {
  close(h->release_fd);
  waitpid(h->pid, NULL, 0);
}
