/* What the spawner tells its runner of each sandbox's life (protocol.h): spawned or an error (the
 * child's report on its sync socket), its exit once reaped, and, to a runner that attaches (live
 * restore), every sandbox held and the exits said while none was attached. */
#include "reports.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "child.h"
#include "frame.h"
#include "netpool.h"
#include "protocol.h"

void send_error(const char *id, const struct werr *err) {
  struct out o;
  out_begin(&o, "error");
  out_add(&o, "id", "%s", id);
  out_add(&o, "stage", "%s", err->stage ? err->stage : "setup");
  out_add(&o, "errno", "%d", err->errnum);
  out_add(&o, "msg", "%s", err->msg);
  out_send(&o, WARREN_CTRL_FD);
}

uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The child's report on its sync socket: READY, ERROR, or EOF when it died before saying. */
void report_sync(struct sandbox *sb) {
  char buf[1100];
  ssize_t n = recv(sb->sync_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  struct werr err = {0};
  if (n > 0 && buf[0] == SYNC_READY) {
    struct out o;
    out_begin(&o, "spawned");
    out_add(&o, "id", "%s", sb->id);
    out_add(&o, "pid", "%d", sb->pid);
    out_add(&o, "us", "%llu", (unsigned long long)(now_us() - sb->t0));
    out_send(&o, WARREN_CTRL_FD);
  } else if (n > 0 && buf[0] == SYNC_ERROR) {
    buf[n] = '\0';
    const char *stage = buf + 1;
    const char *num = stage + strlen(stage) + 1;
    const char *text = (num < buf + n) ? num + strlen(num) + 1 : "";
    err.stage = stage;
    err.errnum = (num < buf + n) ? atoi(num) : 0;
    snprintf(err.msg, sizeof err.msg, "%s", text < buf + n ? text : "");
    if (!sb->reported) send_error(sb->id, &err);
  } else if (!sb->reported) {
    werr_set(&err, "setup", 0, "sandbox '%s' ended during setup", sb->id);
    send_error(sb->id, &err);
  }
  sb->reported = 1;
  close(sb->sync_fd);
  sb->sync_fd = -1;
}

struct exit_report {
  struct sandbox *sb;
  pid_t pid;
  int status;
  int has_netns;
};

static void send_exit(int reused, void *arg) {
  struct exit_report *r = arg;
  if (attach_detached()) { /* no runner: said at the next attach (say_held) */
    r->sb->exited = 1;
    r->sb->status = r->status;
    r->sb->verdict = r->has_netns ? (reused ? 1 : 2) : 0;
    return;
  }
  struct out o;
  out_begin(&o, "exit");
  if (r->has_netns) out_add(&o, "netns", "%s", reused ? "reused" : "discarded");
  out_add(&o, "id", "%s", r->sb->id);
  out_add(&o, "pid", "%d", r->pid);
  out_add(&o, "code", "%d", WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1);
  out_add(&o, "signal", "%d", WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0);
  out_send(&o, WARREN_CTRL_FD);
}

void reap(struct table *sandboxes) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    struct sandbox *sb = table_find_pid(sandboxes, pid);
    if (!sb) continue; /* a user-namespace holder */
    if (sb->sync_fd >= 0) report_sync(sb); /* its last word comes before its exit */
    /* all its processes are gone (init reaped them): its netns is checked before we say it
     * ended, so that the runner may hand the netns out again as soon as it reads the exit */
    struct netslot *slot = sb->netns[0] ? netpool_find(sb->netns) : NULL;
    struct exit_report r = {sb, pid, status, slot != NULL};
    if (!slot) {
      send_exit(0, &r);
    } else if (netpool_release(slot, send_exit, &r) == 1) {
      if (sb->exited) { /* not said yet: say it as it is now */
        sb->verdict = 2;
        continue;
      }
      struct out o;
      out_begin(&o, "netns_gone");
      out_add(&o, "id", "%s", sb->netns);
      out_send(&o, WARREN_CTRL_FD);
    }
    if (!sb->exited) table_remove(sandboxes, sb);
  }
}

/* A runner attached: it is the runner from now on. It is told every sandbox held (`held`, the
 * fds it opens through our /proc entry), and right after its `held`, the exit of each that ended
 * meanwhile, which is then forgotten here. */
void say_held(struct table *sandboxes, int conn, pid_t pid) {
  int moved = dup2(conn, WARREN_CTRL_FD);
  close(conn);
  if (moved < 0) { /* still detached: the next runner may try again */
    fprintf(stderr, "warren-spawner: move the runner's connection to fd %d: %s\n", WARREN_CTRL_FD, strerror(errno));
    return;
  }
  fcntl(WARREN_CTRL_FD, F_SETFD, FD_CLOEXEC); /* dup2's copy is not */
  attach_attached();
  runner_pid = pid; /* whose fds the `pipe:N` of later spawns name (child.c) */
  struct out o;
  out_begin(&o, "hello");
  out_add(&o, "version", "%d", WARREN_PROTOCOL_VERSION);
  out_add(&o, "pid", "%d", getpid());
  out_add(&o, "held", "%zu", sandboxes->n);
  out_send(&o, WARREN_CTRL_FD);
  for (size_t i = sandboxes->n; i-- > 0;) {
    struct sandbox *sb = &sandboxes->items[i];
    out_begin(&o, "held");
    out_add(&o, "id", "%s", sb->id);
    out_add(&o, "pid", "%d", sb->pid);
    if (sb->netns[0]) out_add(&o, "netns", "%s", sb->netns);
    if (sb->held[1] >= 0) out_add(&o, "stdout", "%d", sb->held[1]);
    if (sb->held[2] >= 0) out_add(&o, "stderr", "%d", sb->held[2]);
    out_send(&o, WARREN_CTRL_FD);
    if (!sb->exited) continue;
    struct exit_report r = {sb, sb->pid, sb->status, sb->verdict != 0};
    sb->exited = 0; /* said now, not kept */
    send_exit(sb->verdict == 1, &r);
    table_remove(sandboxes, sb); /* the last moves here: i counts down, so it was said already */
  }
}
